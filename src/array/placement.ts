// Placement: which devices a new group's blocks go to.
//
// Balance. A group goes to devices with the lowest used fraction (capacity weighted, so a
// larger device takes proportionally more and mixed sizes fill evenly) among those with a free
// run long enough for the extent. The k+m least used set a level L (the used fraction of the
// (k+m)-th of them); any device at most PLACEMENT_SLACK_EXTENTS extents above L is as good a
// choice for balance, and the least used device is always taken, so no device falls behind by
// more than the slack plus one extent, and the mixed-size fill still reaches its bound (a
// device's slack is counted in its own extents, so a small device gets no more room to run
// ahead than a big one).
//
// Declustering. Within that band the choice is free, and it decides how a rebuild runs: the
// survivors a lost device's rebuild reads are the partners of its groups. "Least used, ties by
// device id" made fixed neighbourhoods on equal devices (every 1+1 group of a device mirrored
// onto the same partner). So the band is filled greedily with the devices sharing the fewest
// groups with those already chosen (PartnerCounts), ties by the lower used fraction, then by a
// hash of the group's rotation and the device id (deterministic, different from group to
// group). Each device's groups then partner all the others about evenly, and a survivor reads
// about k/(n−1) of a lost device's bytes.
//
// Parity positions rotate from group to group so that no device holds only parity.
import { NoSpaceError } from '../errors.js';
import { EXTENT_LB_MAX_LIMIT, groupShape, type GroupShape } from './layout.js';
import type { PartnerCounts } from './partner_counts.js';

/** How many of its own extents a device may be above the balance level and still be chosen. */
export const PLACEMENT_SLACK_EXTENTS = 1;

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
 * `rotation` (e.g. a running group counter) decides which positions hold parity and breaks
 * the last ties; `partners`, when given, is what spreads the groups' partners (and is updated
 * with the group placed).
 */
export function placeGroup(
  candidates: readonly PlacementCandidate[],
  dataCount: number,
  parityCount: number,
  extentLb: number,
  rotation: number,
  partners?: PartnerCounts,
): Placement {
  const width = dataCount + parityCount;
  const usable = candidates
    .filter((candidate) => candidate.largestFreeLb >= extentLb)
    .sort((a, b) => fraction(a) - fraction(b) || a.deviceId - b.deviceId);
  if (usable.length < width) {
    throw new NoSpaceError(
      `a group of ${dataCount}+${parityCount} extents of ${extentLb} LB needs ${width} devices with space; ${usable.length} have it`,
    );
  }
  const level = fraction(usable[width - 1]!);
  const band = usable.filter((candidate) => candidate.usedLb - PLACEMENT_SLACK_EXTENTS * extentLb <= level * candidate.dataAreaLb);
  // The least used device always takes a block (among equally used ones, the rotation picks).
  const lowest = fraction(usable[0]!);
  const first = usable.filter((candidate) => fraction(candidate) === lowest).sort((a, b) => tieHash(rotation, a.deviceId) - tieHash(rotation, b.deviceId))[0]!;
  const chosenIds = [first.deviceId];
  while (chosenIds.length < width) {
    let best: { candidate: PlacementCandidate; shared: number; hash: number } | undefined;
    for (const candidate of band) {
      if (chosenIds.includes(candidate.deviceId)) continue;
      const shared = partners?.shared(candidate.deviceId, chosenIds) ?? 0;
      const hash = tieHash(rotation, candidate.deviceId);
      if (!best || shared < best.shared || (shared === best.shared && (fraction(candidate) < fraction(best.candidate) || (fraction(candidate) === fraction(best.candidate) && hash < best.hash)))) {
        best = { candidate, shared, hash };
      }
    }
    // The band holds at least `width` devices (every one of the `width` least used is in it).
    chosenIds.push(best!.candidate.deviceId);
  }
  const chosen = chosenIds.sort((a, b) => a - b);
  const shift = rotation % width;
  const rotated = [...chosen.slice(shift), ...chosen.slice(0, shift)];
  const placement = { dataDeviceIds: rotated.slice(0, dataCount), parityDeviceIds: rotated.slice(dataCount) };
  assertDistinct(placement);
  partners?.addGroup(chosen);
  return placement;
}

function fraction(candidate: { usedLb: number; dataAreaLb: number }): number {
  return candidate.usedLb / candidate.dataAreaLb;
}

/** A 32-bit mix of the group's rotation and a device id: the last tie-break, varying by group. */
function tieHash(rotation: number, deviceId: number): number {
  let h = Math.imul(rotation ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(deviceId + 0x632be5ab, 0xc2b2ae35);
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  h ^= h >>> 15;
  h = Math.imul(h, 0x846ca68b);
  h ^= h >>> 16;
  return h >>> 0;
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
