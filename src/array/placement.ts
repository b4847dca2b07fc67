// Placement: which devices a new group's blocks go to.
//
// A group takes the k+m distinct devices with the lowest used fraction (capacity weighted, so
// a larger device takes proportionally more and mixed sizes fill evenly) among those with a
// free run long enough for the extent. Parity positions rotate from group to group so that no
// device holds only parity.
import { NoSpaceError } from '../errors.js';
import { EXTENT_LB_MAX_LIMIT, groupShape, type GroupShape } from './layout.js';

export interface PlacementCandidate {
  deviceId: number;
  usedLb: number;
  dataAreaLb: number;
  largestFreeLb: number;
}

export interface Placement {
  /** deviceIds for data blocks 0..k-1. */
  dataDeviceIds: number[];
  /** deviceIds for parity rows 0..m-1. */
  parityDeviceIds: number[];
}

/**
 * Chooses devices for a group of dataCount + parityCount extents of extentLb each.
 * `rotation` (e.g. a running group counter) decides which positions hold parity.
 */
export function placeGroup(
  candidates: readonly PlacementCandidate[],
  dataCount: number,
  parityCount: number,
  extentLb: number,
  rotation: number,
): Placement {
  const width = dataCount + parityCount;
  const usable = candidates
    .filter((candidate) => candidate.largestFreeLb >= extentLb)
    .sort((a, b) => a.usedLb / a.dataAreaLb - b.usedLb / b.dataAreaLb || a.deviceId - b.deviceId);
  if (usable.length < width) {
    throw new NoSpaceError(
      `a group of ${dataCount}+${parityCount} extents of ${extentLb} LB needs ${width} devices with space; ${usable.length} have it`,
    );
  }
  const chosen = usable.slice(0, width).map((candidate) => candidate.deviceId).sort((a, b) => a - b);
  const shift = rotation % width;
  const rotated = [...chosen.slice(shift), ...chosen.slice(0, shift)];
  const placement = { dataDeviceIds: rotated.slice(0, dataCount), parityDeviceIds: rotated.slice(dataCount) };
  assertDistinct(placement);
  return placement;
}

export function assertDistinct(placement: Placement): void {
  const all = [...placement.dataDeviceIds, ...placement.parityDeviceIds];
  if (new Set(all).size !== all.length) throw new Error(`placement: devices repeat within a group: ${all.join(',')}`);
}

/**
 * The widest shape (k <= maxDataCount, extents up to EXTENT_LB_MAX_LIMIT) that can hold
 * lengthBytes on these candidates, for re-cutting a group when devices went away; undefined
 * when not even k = 1 fits.
 */
export function widestPlaceableShape(
  candidates: readonly PlacementCandidate[],
  lengthBytes: number,
  maxDataCount: number,
  parityCount: number,
): GroupShape | undefined {
  for (let dataCount = maxDataCount; dataCount >= 1; dataCount--) {
    const shape = groupShape(lengthBytes, dataCount, EXTENT_LB_MAX_LIMIT);
    const roomy = candidates.filter((candidate) => candidate.largestFreeLb >= shape.extentLb);
    if (roomy.length >= dataCount + parityCount) return shape;
  }
  return undefined;
}
