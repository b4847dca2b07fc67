// Group sizing: how many data blocks a group gets and how long its extents are.
//
// A full group holds dataCount * extentLbMax logical blocks of file data. The tail of a file
// gets a narrower, shorter group: as few data blocks as its bytes need (up to dataCount), with
// extents just long enough, so a 1-byte file costs 1 + m blocks of one LB and parity overhead
// stays m/k plus at most one short tail group per file.
import { LB_BYTES } from '../constants.js';

/** Default longest extent: 256 LB = 1 MiB, so a full 8+m group carries 8 MiB of data and
 *  each device sees 1 MiB sequential writes. */
export const EXTENT_LB_MAX_DEFAULT = 256;
/** Upper bound for the configurable extent length (16 MiB). */
export const EXTENT_LB_MAX_LIMIT = 4096;
export const MAX_DATA_WIDTH_DEFAULT = 8;

/** LB 0 holds the superblock and the last LB its copy; data starts after a 1 MiB reserve. */
export const DATA_START_LB = 256;
export const TRAILING_RESERVED_LB = 1;
/** The smallest device worth adding: the reserve plus 16 MiB of data area. */
export const DEVICE_MIN_BYTES = (DATA_START_LB + TRAILING_RESERVED_LB) * LB_BYTES + 16 * 1024 * 1024;

export interface GroupShape {
  dataCount: number;
  extentLb: number;
}

/** The shape of a group holding `lengthBytes` (> 0) of file data. */
export function groupShape(lengthBytes: number, dataCountMax: number, extentLbMax: number): GroupShape {
  if (!(lengthBytes > 0)) throw new Error(`layout: group of ${lengthBytes} bytes`);
  const neededLb = Math.ceil(lengthBytes / LB_BYTES);
  const dataCount = Math.min(dataCountMax, neededLb);
  const extentLb = Math.ceil(neededLb / dataCount);
  if (extentLb > extentLbMax) throw new Error(`layout: ${lengthBytes} bytes exceed one group`);
  return { dataCount, extentLb };
}

/** Bytes of file data a full group of this shape holds. */
export function groupCapacityBytes(shape: GroupShape): number {
  return shape.dataCount * shape.extentLb * LB_BYTES;
}
