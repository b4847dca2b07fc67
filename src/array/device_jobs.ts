// Jobs that move committed blocks between devices, all built on relocateBlocks:
//   rebuild   — every block on a failed or missing device is reconstructed from its group and
//               written to a surviving device not yet in the group (distributed: each block goes
//               to the least-used such device, so the writes spread over all survivors); where
//               no such device exists, the group is rewritten narrower (restripeGroup);
//   evacuate  — every block of a healthy device is copied off it (remove / shrink);
//   rebalance — blocks move from over-full to under-full devices until used fractions are
//               within REBALANCE_TOLERANCE of each other.
//
// Every job paces itself to `rateBytesPerSec` when given (Throttle), so it leaves the devices
// to foreground puts and gets.
//
// States of a job: scanning → moving (one group at a time, each move committed on its own) →
// done | aborted | failed. Resumable by construction: progress is the metadata itself (a moved
// block's extent row points at its new place once committed), so after a crash or an abort the
// same job simply finds what is left. A group whose file changes meanwhile is looked up again.
import { LB_BYTES } from '../constants.js';
import { AbortedError, ElastripeError } from '../errors.js';
import type { GroupWithExtents } from '../meta/rows.js';
import { blockIndex } from './read_path.js';
import { relocateBlocks, type BlockMove } from './relocate.js';
import { Throttle } from './throttle.js';
import { widestPlaceableShape } from './placement.js';
import { restripeGroup, type RestripeContext } from './restripe_group.js';
import type { Progress } from './types.js';

/** Rebalance stops once every device's used fraction is within this of the mean. */
export const REBALANCE_TOLERANCE = 0.02;
/** A rebalance moves at most this much more than the ideal minimum (a guard against churn). */
const REBALANCE_MOVE_SLACK = 1.1;
/** Groups a rebuild or evacuation moves at once. */
const JOB_GROUPS_IN_FLIGHT = 4;
/** How often a group whose file changed under a move is looked up again before it is skipped. */
const STALE_RETRIES_MAX = 3;

export interface JobOptions {
  onProgress?: (progress: Progress) => void;
  signal?: AbortSignal;
  /** Upper bound on the bytes the job moves (or checks) per second; default unlimited. */
  rateBytesPerSec?: number;
}

export interface JobReport {
  /** Blocks taken off their devices: relocated, or in a group rewritten narrower. */
  movedBlocks: number;
  movedBytes: number;
  /** Groups rewritten narrower because no device outside them could take a lost block. */
  restripedGroups: number;
  /** Blocks written to each target device (a rebuild spreads them over all survivors). */
  blocksByTargetDevice: Record<number, number>;
  /** Groups the job could not finish, with why (e.g. no device outside the group has room). */
  problems: string[];
}

/** What a job needs: reading, relocating and restriping, and the devices blocks may go to. */
export type JobContext = RestripeContext;

/**
 * How a move treats a group no device outside it can take a block of. `narrowWhenFull`: rewrite
 * it narrower also when enough devices are left but they are full (a rebuild restores
 * redundancy at any cost in overhead); otherwise (a remove) only when fewer devices than its
 * width are left, and report it when they are merely full, so a remove that cannot finish
 * leaves no group narrower than it needed to be.
 */
export interface MovePolicy {
  narrowWhenFull: boolean;
}

/** Moves every block that lies on one of `sourceDeviceIds` to other devices. */
export async function moveBlocksOff(context: JobContext, sourceDeviceIds: number[], options: JobOptions, policy: MovePolicy = { narrowWhenFull: true }): Promise<JobReport> {
  const report = emptyReport();
  const throttle = new Throttle(options.rateBytesPerSec);
  const groupIds = context.store.groupIdsOnDevices(sourceDeviceIds);
  const totalBytes = groupIds.reduce((sum, groupId) => sum + blocksOn(context, groupId, sourceDeviceIds), 0);
  const step = { context, sourceDeviceIds, report, totalBytes, throttle, options, policy };
  // Several groups move at once: each move waits on reads, writes, a flush and a commit, so one
  // at a time would leave the survivors mostly idle. On the first failure the other lanes stop
  // taking groups, and all of them settle before the job returns.
  let next = 0;
  let failure: unknown;
  const lane = async () => {
    while (failure === undefined && next < groupIds.length) {
      const groupId = groupIds[next++]!;
      try {
        throwIfAborted(options.signal);
        await moveGroupOff(step, groupId);
      } catch (error) {
        // A group that cannot be moved now (unreadable with more devices down than parity
        // covers, or no room left) is reported and the job carries on with the others.
        if (isGroupProblem(error)) report.problems.push(`group ${groupId}: ${(error as Error).message}`);
        else failure ??= error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(JOB_GROUPS_IN_FLIGHT, groupIds.length) }, lane));
  if (failure !== undefined) throw failure;
  return report;
}

interface MoveStep {
  context: JobContext;
  sourceDeviceIds: number[];
  report: JobReport;
  totalBytes: number;
  throttle: Throttle;
  options: JobOptions;
  policy: MovePolicy;
}

/** Moves one group's blocks off the source devices (relocating them, or re-cutting the group narrower). */
async function moveGroupOff(step: MoveStep, groupId: number): Promise<void> {
  const { context, sourceDeviceIds, report, totalBytes, throttle, options } = step;
  for (let attempt = 1; ; attempt++) {
    const group = context.store.group(groupId);
    if (!group) return; // the file was deleted: nothing left to move
    const indices = group.extents.filter((extent) => sourceDeviceIds.includes(extent.deviceId)).map((extent) => blockIndex(group, extent));
    if (indices.length === 0) return;
    const moves = chooseTargets(context, group, indices, sourceDeviceIds);
    let outcome: MoveOutcome;
    try {
      outcome = await moveOnce(step, group, indices, moves);
    } catch (error) {
      // A device that died under the move (a target, or a source read) is marked failed by
      // now: the next attempt chooses among the devices left.
      if (!isDeviceTrouble(error) || attempt >= STALE_RETRIES_MAX) throw error;
      continue;
    }
    if (outcome === 'unplaceable') return;
    if (outcome === 'moved') {
      options.onProgress?.({ doneBytes: report.movedBytes, totalBytes });
      await throttle.pace(indices.length * group.extentLb * LB_BYTES, options.signal);
      return;
    }
    if (attempt >= STALE_RETRIES_MAX) {
      report.problems.push(`group ${groupId}: its file kept changing during the move`);
      return;
    }
  }
}

/** moved; stale (its file changed meanwhile: look again); unplaceable (reported in problems). */
type MoveOutcome = 'moved' | 'stale' | 'unplaceable';

/** One try at moving a group's blocks: relocate them, or re-cut the group narrower. */
async function moveOnce(step: MoveStep, group: GroupWithExtents, indices: number[], moves: BlockMove[] | string): Promise<MoveOutcome> {
  const { context, report } = step;
  const devicesLeft = context.candidates().filter((device) => !step.sourceDeviceIds.includes(device.deviceId)).length;
  if (typeof moves === 'string' && !step.policy.narrowWhenFull && devicesLeft >= group.dataCount + group.parityCount) {
    report.problems.push(`group ${group.groupId} (file ${group.fileId} #${group.sequence}): ${moves.replace(/ \(a narrower restripe would be needed\)$/, '')}`);
    return 'unplaceable';
  }
  if (typeof moves === 'string') {
    // No device outside the group can take a block: rewrite the group narrower over the
    // devices that are left (fewer data blocks, longer extents, new parity).
    const shape = widestPlaceableShape(context.candidates(), group.lengthBytes, group.dataCount, context.parityCount);
    if (!shape) {
      report.problems.push(`group ${group.groupId} (file ${group.fileId} #${group.sequence}): ${moves}, and no narrower group fits either`);
      return 'unplaceable';
    }
    if (!(await restripeGroup(context, group, shape))) return 'stale';
    report.restripedGroups++;
    report.movedBlocks += indices.length;
    report.movedBytes += indices.length * group.extentLb * LB_BYTES;
    return 'moved';
  }
  if (!(await relocateBlocks(context, group, moves))) return 'stale';
  for (const move of moves) count(report, move.targetDeviceId, group.extentLb);
  return 'moved';
}

/** Errors that concern one group (reported, the job goes on), not the job. */
function isGroupProblem(error: unknown): boolean {
  return error instanceof ElastripeError && ['TOO_MANY_ERASURES', 'CORRUPT_BLOCK', 'NO_SPACE', 'DEVICE_IO', 'DEVICE_FAILED'].includes(error.code);
}

/** A device failed or ran out of room while a move was placed: worth another try on the devices left. */
function isDeviceTrouble(error: unknown): boolean {
  return error instanceof ElastripeError && ['NO_SPACE', 'DEVICE_IO', 'DEVICE_FAILED'].includes(error.code);
}

/** For each block, the least-used online device outside the group with room; or why there is none. */
function chooseTargets(context: JobContext, group: GroupWithExtents, indices: number[], excluded: number[]): BlockMove[] | string {
  const taken = new Set(group.extents.map((extent) => extent.deviceId));
  const moves: BlockMove[] = [];
  for (const index of indices) {
    const target = context
      .candidates()
      .filter((device) => !taken.has(device.deviceId) && !excluded.includes(device.deviceId) && device.largestFreeLb >= group.extentLb)
      .sort((a, b) => a.usedLb / a.dataAreaLb - b.usedLb / b.dataAreaLb || a.deviceId - b.deviceId)[0];
    if (!target) {
      return `no device outside the group has ${group.extentLb} LB free for block ${index} (a narrower restripe would be needed)`;
    }
    taken.add(target.deviceId);
    moves.push({ index, targetDeviceId: target.deviceId });
  }
  return moves;
}

/**
 * Moves blocks from the fullest device to the emptiest eligible one until used fractions are
 * within REBALANCE_TOLERANCE, or nothing more can move, or the ideal amount (+10%) has moved.
 */
export async function rebalance(context: JobContext, options: JobOptions): Promise<JobReport> {
  const report = emptyReport();
  const throttle = new Throttle(options.rateBytesPerSec);
  const idealBytes = idealMoveBytes(context);
  const tried = new Set<number>();
  while (report.movedBytes < idealBytes * REBALANCE_MOVE_SLACK) {
    throwIfAborted(options.signal);
    const devices = context.candidates().sort((a, b) => b.usedLb / b.dataAreaLb - a.usedLb / a.dataAreaLb);
    const fullest = devices[0];
    const emptiest = devices.at(-1);
    if (!fullest || !emptiest || fullest === emptiest) break;
    const spread = fullest.usedLb / fullest.dataAreaLb - emptiest.usedLb / emptiest.dataAreaLb;
    if (spread <= REBALANCE_TOLERANCE) break;
    const candidate = context.store
      .extentsOnDevice(fullest.deviceId)
      .find((extent) => !tried.has(extent.extentId) && improves(fullest, emptiest, extent.lengthLb) && groupAvoids(context, extent.groupId, emptiest.deviceId));
    if (!candidate) break;
    tried.add(candidate.extentId);
    const group = context.store.group(candidate.groupId);
    const extent = group?.extents.find((row) => row.extentId === candidate.extentId);
    if (!group || !extent || emptiest.largestFreeLb < group.extentLb) continue;
    if (await relocateBlocks(context, group, [{ index: blockIndex(group, extent), targetDeviceId: emptiest.deviceId }])) {
      count(report, emptiest.deviceId, group.extentLb);
      options.onProgress?.({ doneBytes: report.movedBytes, totalBytes: Math.ceil(idealBytes) });
      await throttle.pace(group.extentLb * LB_BYTES, options.signal);
    }
  }
  return report;
}

/** Bytes that must leave over-full devices for every device to sit at the mean used fraction. */
function idealMoveBytes(context: JobContext): number {
  const devices = context.candidates();
  const usedLb = devices.reduce((sum, device) => sum + device.usedLb, 0);
  const areaLb = devices.reduce((sum, device) => sum + device.dataAreaLb, 0);
  const mean = areaLb > 0 ? usedLb / areaLb : 0;
  return devices.reduce((sum, device) => sum + Math.max(0, device.usedLb - mean * device.dataAreaLb), 0) * LB_BYTES;
}

/** Moving lengthLb from `from` to `to` must not leave `to` fuller than `from` was. */
function improves(from: { usedLb: number; dataAreaLb: number }, to: { usedLb: number; dataAreaLb: number }, lengthLb: number): boolean {
  return (to.usedLb + lengthLb) / to.dataAreaLb < from.usedLb / from.dataAreaLb;
}

function groupAvoids(context: JobContext, groupId: number, deviceId: number): boolean {
  return !(context.store.group(groupId)?.extents.some((extent) => extent.deviceId === deviceId) ?? true);
}

function blocksOn(context: JobContext, groupId: number, deviceIds: number[]): number {
  const group = context.store.group(groupId);
  if (!group) return 0;
  return group.extents.filter((extent) => deviceIds.includes(extent.deviceId)).length * group.extentLb * LB_BYTES;
}

function emptyReport(): JobReport {
  return { movedBlocks: 0, movedBytes: 0, restripedGroups: 0, blocksByTargetDevice: {}, problems: [] };
}

function count(report: JobReport, targetDeviceId: number, extentLb: number): void {
  report.movedBlocks++;
  report.movedBytes += extentLb * LB_BYTES;
  report.blocksByTargetDevice[targetDeviceId] = (report.blocksByTargetDevice[targetDeviceId] ?? 0) + 1;
}

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new AbortedError('the job was aborted; run it again to continue where it stopped');
}

