// Before a remove moves anything: can the other devices hold what the device holds? A remove
// refused up front leaves the layout exactly as it was; one that fails half-way has moved
// blocks (harmless) and, worse, may have rewritten groups narrower (more parity overhead) for
// nothing, and leaves the array fuller than before.
//
// The check (sufficient in the usual case, not a proof — placement can still meet
// fragmentation, and a remove that then cannot finish reports it and leaves the device
// draining):
//  - at least m + 1 placeable devices remain, or no group can exist on them;
//  - the space the move needs fits the others' free space, less a margin: a block of a group
//    that still fits on the devices left moves as it is (its extent length); a group wider than
//    the devices left is rewritten narrower, which needs its new size less what its old blocks
//    on the remaining devices give back;
//  - the margin is the largest single group rewrite (its new blocks exist before the old ones
//    are freed) plus 1% of the remaining devices' data area (fragmentation).
import { LB_BYTES } from '../constants.js';
import type { MetaStore } from '../meta/meta_store.js';
import { groupShape } from './layout.js';
import type { PlacementCandidate } from './placement.js';

/** Share of the remaining data area held back for fragmentation. */
const FRAGMENTATION_MARGIN = 0.01;
const MIB = 1024 * 1024;

export interface RemovalNeeds {
  /** LB the remaining devices must take (net of the blocks narrowed groups give back). */
  neededLb: number;
  /** LB held back: the largest rewrite plus the fragmentation share. */
  marginLb: number;
  /** LB free on the remaining placeable devices. */
  freeLb: number;
  /** Groups that must be rewritten narrower because fewer devices than their width remain. */
  narrowedGroups: number;
}

/** Why `deviceId` cannot be removed now, or undefined when the others can take its blocks. */
export function removalProblem(store: MetaStore, candidates: readonly PlacementCandidate[], deviceId: number, parityCount: number): string | undefined {
  const remaining = candidates.filter((candidate) => candidate.deviceId !== deviceId);
  if (remaining.length < parityCount + 1) {
    return `device ${deviceId} cannot be removed: ${remaining.length} other placeable device(s) would be left, and groups with parity ${parityCount} need at least ${parityCount + 1}`;
  }
  const needs = removalNeeds(store, remaining, deviceId, parityCount);
  if (needs.neededLb + needs.marginLb <= needs.freeLb) return undefined;
  const narrowed = needs.narrowedGroups > 0 ? ` (${needs.narrowedGroups} groups wider than the ${remaining.length} devices left must be rewritten narrower)` : '';
  return (
    `device ${deviceId} cannot be removed: its blocks need about ${mib(needs.neededLb)} on the other devices${narrowed}, ` +
    `which have ${mib(needs.freeLb)} free, less a margin of ${mib(needs.marginLb)}; delete files or add a device first`
  );
}

export function removalNeeds(store: MetaStore, remaining: readonly PlacementCandidate[], deviceId: number, parityCount: number): RemovalNeeds {
  const width = remaining.length;
  let neededLb = 0;
  let largestRewriteLb = 0;
  let narrowedGroups = 0;
  for (const groupId of store.groupIdsOnDevices([deviceId])) {
    const group = store.group(groupId);
    if (!group) continue;
    const onDevice = group.extents.filter((extent) => extent.deviceId === deviceId).length;
    if (group.dataCount + group.parityCount <= width) {
      neededLb += onDevice * group.extentLb;
      continue;
    }
    // Rewritten as wide as the devices left allow, as the job does (restripeGroup).
    const shape = groupShape(group.lengthBytes, Math.max(1, width - parityCount), Number.MAX_SAFE_INTEGER);
    const rewriteLb = (shape.dataCount + parityCount) * shape.extentLb;
    const givenBackLb = (group.extents.length - onDevice) * group.extentLb;
    neededLb += Math.max(0, rewriteLb - givenBackLb);
    largestRewriteLb = Math.max(largestRewriteLb, rewriteLb);
    narrowedGroups++;
  }
  const areaLb = remaining.reduce((sum, candidate) => sum + candidate.dataAreaLb, 0);
  const freeLb = remaining.reduce((sum, candidate) => sum + candidate.dataAreaLb - candidate.usedLb, 0);
  return { neededLb, marginLb: largestRewriteLb + Math.ceil(areaLb * FRAGMENTATION_MARGIN), freeLb, narrowedGroups };
}

function mib(lb: number): string {
  return `${((lb * LB_BYTES) / MIB).toFixed(1)} MiB`;
}
