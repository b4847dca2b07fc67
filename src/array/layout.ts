// Group sizing: how many data blocks a group gets and how long its extents are.
//
// A full group holds dataCount * extentLbMax logical blocks of file data. The tail of a file
// gets a narrower, shorter group: as few data blocks as its bytes need (up to dataCount), with
// extents just long enough, so a 1-byte file costs 1 + m blocks of one LB and parity overhead
// stays m/k plus at most one short tail group per file.
import { LB_BYTES } from '../constants.js';
import type { MetadataLayout } from '../meta/journal_format.js';

/** Default longest extent: 256 LB = 1 MiB, so a full 8+m group carries 8 MiB of data and
 *  each device sees 1 MiB sequential writes. */
export const EXTENT_LB_MAX_DEFAULT = 256;
/** Upper bound for the configurable extent length (16 MiB). */
export const EXTENT_LB_MAX_LIMIT = 4096;
export const MAX_DATA_WIDTH_DEFAULT = 8;

/** LB 0 holds the superblock and the last LB its copy; the metadata region starts at LB 1. */
export const METADATA_REGION_START_LB = 1;
export const TRAILING_RESERVED_LB = 1;
/** The metadata region every device carries: 1/32 of the smallest device of the array at
 *  create, a power of two between these bounds (2 MiB holds a snapshot of ~10,000 small files,
 *  64 MiB — a 2 GiB device's — several 100,000). */
export const METADATA_REGION_BYTES_MIN = 2 * 1024 * 1024;
export const METADATA_REGION_BYTES_MAX = 256 * 1024 * 1024;
const METADATA_REGION_FRACTION = 32;
/** Data area every device must have beyond its reserve. */
const DATA_AREA_BYTES_MIN = 16 * 1024 * 1024;
/** The smallest device an array can be created on: the smallest reserve plus 16 MiB of data area. */
export const DEVICE_MIN_BYTES = (METADATA_REGION_START_LB + METADATA_REGION_BYTES_MIN / LB_BYTES + TRAILING_RESERVED_LB) * LB_BYTES + DATA_AREA_BYTES_MIN;

/** The metadata region for an array whose smallest device has this many bytes (or as asked). */
export function metadataLayoutFor(smallestDeviceBytes: number, requestedBytes?: number): MetadataLayout {
  let regionBytes = requestedBytes ?? METADATA_REGION_BYTES_MIN;
  if (requestedBytes === undefined) {
    while (regionBytes * 2 <= Math.min(METADATA_REGION_BYTES_MAX, smallestDeviceBytes / METADATA_REGION_FRACTION)) regionBytes *= 2;
  }
  const regionLb = Math.floor(regionBytes / LB_BYTES);
  // Half for the ring (a checkpoint is taken when half of it is used, so the larger the ring
  // the rarer the checkpoints), the rest for the two checkpoint slots (one is always intact
  // while the other is written).
  const ringLb = Math.floor(regionLb / 2);
  const slotLb = Math.floor((regionLb - ringLb) / 2);
  return { regionStartLb: METADATA_REGION_START_LB, regionLb, ringLb, slotLb };
}

/** First data LB of every device of an array with this metadata layout. */
export function dataStartLb(layout: MetadataLayout): number {
  return layout.regionStartLb + layout.regionLb;
}

/** The smallest device that can join an array with this metadata layout. */
export function deviceMinBytes(layout: MetadataLayout): number {
  return (dataStartLb(layout) + TRAILING_RESERVED_LB) * LB_BYTES + DATA_AREA_BYTES_MIN;
}

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
