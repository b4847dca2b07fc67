// Jobs that move committed blocks between devices, all built on relocateBatch (move_batch.ts):
//   rebuild   — every block on a failed or missing device is reconstructed from its group and
//               written to a surviving device not yet in the group (distributed: each block goes
//               to the least-used such device, counting the blocks already planned, so the
//               writes spread over all survivors); with m > 1 a group has more survivors than
//               the k a reconstruction reads, and the k least loaded by the job's reads so far
//               are read (chooseReads), so the reads spread too; where no device outside the
//               group exists, the group is rewritten narrower over every survivor (the batch's
//               narrowing rewrites share one restripeBatch: one flush per device, one commit);
//   evacuate  — every block of a healthy device is copied off it (remove / shrink);
//   rebalance — rebalance_job.ts.
//
// Speed: the groups to move are listed once and sorted by the offset of their blocks on the
// source devices, then cut into batches (BATCH_GROUPS_MAX groups, at most an eighth of the
// arena); each batch reads in device-offset order, writes once per target device, flushes each
// target once and commits once (one SQLite transaction, one journal change set). JOB_LANES
// batches are in flight while the foreground is idle; while puts or gets run, the job backs
// off by itself (ForegroundBackoff: one batch at a time, then a rest), and `rateBytesPerSec`
// caps it on top (Throttle).
//
// States of a job: scanning → moving (one batch at a time per lane, each committed on its own)
// → done | aborted | failed. Resumable by construction: progress is the metadata itself (a
// moved block's extent row points at its new place once committed), so after a crash or an
// abort the same job simply finds what is left. A group whose file changes meanwhile, or whose
// batch hit a device failure, is looked up again and moved on its own.
import { LB_BYTES } from '../constants.js';
import { ElastripeError } from '../errors.js';
import type { GroupWithExtents } from '../meta/rows.js';
import type { ForegroundBackoff } from './foreground_backoff.js';
import { relocateBatch, type BatchCounters, type GroupMoveRequest } from './move_batch.js';
import { blockIndex, extentsByBlock } from './read_path.js';
import { relocateBlocks, type BlockMove } from './relocate.js';
import { Throttle } from './throttle.js';
import { widestPlaceableShape, type PlacementCandidate } from './placement.js';
import { restripeBatch, restripeGroup, type RestripeContext } from './restripe_group.js';
import type { GroupShape } from './layout.js';
import { batchArenaBytesMax, count, emptyReport, throwIfAborted, type JobOptions, type JobReport } from './job_report.js';

/** Batches of a job in flight at once while the foreground is idle. */
export const JOB_LANES = 3;
/** Groups in one batch (one flush per target device and one commit for all of them). */
export const BATCH_GROUPS_MAX = 32;
/** How often a group whose file changed under a move is looked up again before it is skipped. */
const STALE_RETRIES_MAX = 3;

export type { JobOptions, JobReport } from './job_report.js';

/** What a job needs: reading, relocating and restriping, the devices blocks may go to, and the foreground to back off for. */
export type JobContext = RestripeContext & {
  backoff?: ForegroundBackoff;
  /**
   * Registers a reader of these groups with the reader epochs (call it in the tick of their
   * lookup): extents freed meanwhile (a put replacing the file) are not reused while the job
   * still reads them. Returns the function that ends the read.
   */
  enterReader?: (groupIds: readonly number[]) => () => void;
};

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
export async function moveBlocksOff(outer: JobContext, sourceDeviceIds: number[], options: JobOptions, policy: MovePolicy = { narrowWhenFull: true }): Promise<JobReport> {
  const report = emptyReport();
  const throttle = new Throttle(options.rateBytesPerSec, options.clock);
  const { batches, totalBytes } = planBatches(outer, sourceDeviceIds, throttle.batchBytesMax);
  // Every extent the job reads is counted per device (the report shows where the reads went).
  const context: JobContext = {
    ...outer,
    onBlockRead: (deviceId) => {
      report.blocksReadByDevice[deviceId] = (report.blocksReadByDevice[deviceId] ?? 0) + 1;
      outer.onBlockRead?.(deviceId);
    },
  };
  const step: MoveStep = { context, sourceDeviceIds, report, totalBytes, throttle, options, policy, readLoad: new Map() };
  const yieldsBefore = context.backoff?.yields ?? 0;
  // Several batches move at once: each waits on reads, writes, a flush and a commit, so one at
  // a time would leave the survivors idle part of the time. On the first failure the other
  // lanes stop taking batches, and all of them settle before the job returns.
  let next = 0;
  let failure: unknown;
  const lane = async () => {
    while (failure === undefined && next < batches.length) {
      const batch = batches[next++]!;
      try {
        throwIfAborted(options.signal);
        await throttle.admit(batch.bytes, options.signal);
        throwIfAborted(options.signal);
        const done = await context.backoff?.admit(options.signal);
        try {
          await moveBatchOff(step, batch);
        } finally {
          done?.();
        }
        options.onProgress?.({ doneBytes: report.movedBytes, totalBytes });
      } catch (error) {
        failure ??= error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(JOB_LANES, batches.length) }, lane));
  report.foregroundYields = (context.backoff?.yields ?? 0) - yieldsBefore;
  if (failure !== undefined) throw failure;
  // An abort asked for while the last batches were in flight still ends the job as aborted
  // (the caller asked it to stop; running it again finds what, if anything, is left).
  throwIfAborted(options.signal);
  return report;
}

interface MoveBatchPlan {
  groupIds: number[];
  bytes: number;
}

/**
 * Lists the groups with blocks on the source devices once, sorted by the offset of their first
 * such block (reads then sweep the source devices in order), cut into batches.
 */
function planBatches(context: JobContext, sourceDeviceIds: number[], batchBytesMax: number): { batches: MoveBatchPlan[]; totalBytes: number } {
  const arenaBytesMax = batchArenaBytesMax(context.arena.capacityBytes);
  const listed: { groupId: number; key: number; bytes: number; arenaBytes: number }[] = [];
  let totalBytes = 0;
  for (const groupId of context.store.groupIdsOnDevices(sourceDeviceIds)) {
    const group = context.store.group(groupId);
    if (!group) continue;
    const onSource = group.extents.filter((extent) => sourceDeviceIds.includes(extent.deviceId));
    if (onSource.length === 0) continue;
    const bytes = onSource.length * group.extentLb * LB_BYTES;
    totalBytes += bytes;
    const key = Math.min(...onSource.map((extent) => extent.startLb));
    listed.push({ groupId, key, bytes, arenaBytes: (group.dataCount + group.parityCount) * group.extentLb * LB_BYTES });
  }
  listed.sort((a, b) => a.key - b.key || a.groupId - b.groupId);
  const batches: MoveBatchPlan[] = [];
  let current: MoveBatchPlan = { groupIds: [], bytes: 0 };
  let arenaBytes = 0;
  for (const entry of listed) {
    const full = current.groupIds.length >= BATCH_GROUPS_MAX || arenaBytes + entry.arenaBytes > arenaBytesMax || current.bytes + entry.bytes > batchBytesMax;
    if (current.groupIds.length > 0 && full) {
      batches.push(current);
      current = { groupIds: [], bytes: 0 };
      arenaBytes = 0;
    }
    current.groupIds.push(entry.groupId);
    current.bytes += entry.bytes;
    arenaBytes += entry.arenaBytes;
  }
  if (current.groupIds.length > 0) batches.push(current);
  return { batches, totalBytes };
}

/**
 * Moves one batch: every group whose blocks can go to devices outside it is relocated in one
 * relocateBatch; the rest (groups to rewrite narrower, to report, or that a device failure or a
 * change of their file kept out of the batch) are moved one by one (moveGroupOff).
 */
async function moveBatchOff(step: MoveStep, batch: MoveBatchPlan): Promise<void> {
  const { context, sourceDeviceIds, report } = step;
  // Targets are chosen against a model of the devices that counts the blocks already planned
  // in this batch, so the batch's writes spread over the survivors instead of all going to the
  // one that was least used when the batch began.
  const model = context.candidates().filter((device) => !sourceDeviceIds.includes(device.deviceId));
  const requests: GroupMoveRequest[] = [];
  const narrow: NarrowRequest[] = [];
  const alone: number[] = [];
  const devicesLeft = context.candidates().filter((device) => !sourceDeviceIds.includes(device.deviceId)).length;
  for (const groupId of batch.groupIds) {
    const group = context.store.group(groupId);
    if (!group) continue; // the file was deleted: nothing left to move
    const indices = group.extents.filter((extent) => sourceDeviceIds.includes(extent.deviceId)).map((extent) => blockIndex(group, extent));
    if (indices.length === 0) continue;
    const moves = chooseTargetsIn(model, group, indices, sourceDeviceIds);
    if (typeof moves !== 'string') {
      requests.push({ group, moves, spareReads: chooseReads(context, group, indices, step.readLoad) });
      continue;
    }
    // No device outside the group can take a block: rewritten narrower in this batch where the
    // policy allows it and a narrower shape fits; otherwise moveGroupOff reports it.
    const narrowing = step.policy.narrowWhenFull || devicesLeft < group.dataCount + group.parityCount;
    const shape = narrowing ? widestPlaceableShape(context.candidates(), group.lengthBytes, group.dataCount, context.parityCount) : undefined;
    if (shape) narrow.push({ group, shape, indices });
    else alone.push(groupId);
  }
  if (requests.length > 0 || narrow.length > 0) {
    // Same tick as the lookups above: what they found stays readable until the batch is done
    // (the groups rewritten narrower too, although they are written after the relocations).
    const leave = context.enterReader?.([...requests, ...narrow].map((request) => request.group.groupId));
    try {
      await relocateAndNarrow(step, requests, narrow, alone);
    } finally {
      leave?.();
    }
  }
  for (const groupId of alone) {
    try {
      throwIfAborted(step.options.signal);
      await moveGroupOff(step, groupId);
    } catch (error) {
      // A group that cannot be moved now (unreadable with more devices down than parity
      // covers, or no room left) is reported and the job carries on with the others.
      if (isGroupProblem(error)) report.problems.push(`group ${groupId}: ${(error as Error).message}`);
      else throw error;
    }
  }
}

/**
 * Relocates the batch's blocks in one relocateBatch, then rewrites the groups that need it
 * narrower in one restripeBatch; a group either left out (stale, failed) goes to `alone`.
 */
async function relocateAndNarrow(step: MoveStep, requests: GroupMoveRequest[], narrow: NarrowRequest[], alone: number[]): Promise<void> {
  const { context, report } = step;
  if (requests.length > 0) {
    const counters: BatchCounters = { batches: 0, flushes: 0, commits: 0 };
    const outcomes = await relocateBatch(context, requests, counters);
    report.batches += counters.batches;
    report.flushes += counters.flushes;
    report.commits += counters.commits;
    outcomes.forEach((outcome, i) => {
      const request = requests[i]!;
      if (outcome.kind === 'moved') for (const move of request.moves) count(report, move.targetDeviceId, request.group.extentLb);
      else alone.push(request.group.groupId);
    });
  }
  if (narrow.length > 0) {
    // Rewritten narrower together: one flush per device written and one commit for the batch.
    const outcomes = await restripeBatch(context, narrow, report);
    outcomes.forEach((outcome, i) => {
      const { group, indices } = narrow[i]!;
      if (outcome.kind !== 'restriped') return void alone.push(group.groupId); // looked up again, alone
      report.restripedGroups++;
      report.movedBlocks += indices.length;
      report.movedBytes += indices.length * group.extentLb * LB_BYTES;
    });
  }
}

/** A group to rewrite narrower, and its blocks on the source devices. */
interface NarrowRequest {
  group: GroupWithExtents;
  shape: GroupShape;
  indices: number[];
}

interface MoveStep {
  context: JobContext;
  sourceDeviceIds: number[];
  report: JobReport;
  totalBytes: number;
  throttle: Throttle;
  options: JobOptions;
  policy: MovePolicy;
  /** Extents the job has planned to read from each device, so reconstructions read the least loaded survivors. */
  readLoad: Map<number, number>;
}

/** Moves one group's blocks off the source devices (relocating them, or re-cutting the group narrower). */
async function moveGroupOff(step: MoveStep, groupId: number): Promise<void> {
  const { context, sourceDeviceIds, report } = step;
  for (let attempt = 1; ; attempt++) {
    const group = context.store.group(groupId);
    if (!group) return; // the file was deleted: nothing left to move
    const indices = group.extents.filter((extent) => sourceDeviceIds.includes(extent.deviceId)).map((extent) => blockIndex(group, extent));
    if (indices.length === 0) return;
    const moves = chooseTargets(context, group, indices, sourceDeviceIds);
    let outcome: MoveOutcome;
    const leave = context.enterReader?.([groupId]);
    try {
      outcome = await moveOnce(step, group, indices, moves);
    } catch (error) {
      // A device that died under the move (a target, or a source read) is marked failed by
      // now: the next attempt chooses among the devices left.
      if (!isDeviceTrouble(error) || attempt >= STALE_RETRIES_MAX) throw error;
      continue;
    } finally {
      leave?.();
    }
    if (outcome === 'unplaceable' || outcome === 'moved') return;
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

/**
 * Which blocks a reconstruction of `group` may leave unread. Rebuilding a lost block takes any
 * k of the group's readable blocks; with m > 1 there are more survivors than that, and reading
 * always the same ones (the data blocks, then P) loads some devices more than others. So the
 * k least loaded survivors (by the job's planned reads, `readLoad`, ties by device id) are
 * read and the rest spared; moved blocks that are readable are read anyway. Undefined when
 * nothing is to be reconstructed or nothing can be spared. Updates `readLoad`.
 */
function chooseReads(context: JobContext, group: GroupWithExtents, indices: readonly number[], readLoad: Map<number, number>): number[] | undefined {
  const byBlock = extentsByBlock(group);
  const readable = byBlock.map((_, index) => index).filter((index) => context.devices.usable(byBlock[index]!.deviceId) !== undefined);
  const readAnyway = indices.filter((index) => readable.includes(index));
  const reconstructs = readAnyway.length < indices.length;
  const load = (index: number) => readLoad.get(byBlock[index]!.deviceId) ?? 0;
  const others = readable.filter((index) => !readAnyway.includes(index)).sort((a, b) => load(a) - load(b) || byBlock[a]!.deviceId - byBlock[b]!.deviceId);
  const taken = reconstructs ? others.slice(0, Math.max(0, group.dataCount - readAnyway.length)) : [];
  for (const index of [...readAnyway, ...taken]) readLoad.set(byBlock[index]!.deviceId, load(index) + 1);
  const spared = reconstructs ? others.slice(taken.length) : [];
  return spared.length > 0 ? spared : undefined;
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
  return chooseTargetsIn(context.candidates(), group, indices, excluded);
}

/**
 * chooseTargets over a model of the devices, which it updates with the blocks it places
 * (used grows, the largest free run shrinks), so the next group's choice counts them.
 */
function chooseTargetsIn(model: PlacementCandidate[], group: GroupWithExtents, indices: number[], excluded: number[]): BlockMove[] | string {
  const taken = new Set(group.extents.map((extent) => extent.deviceId));
  const chosen: PlacementCandidate[] = [];
  for (const index of indices) {
    let target: PlacementCandidate | undefined;
    for (const device of model) {
      if (taken.has(device.deviceId) || excluded.includes(device.deviceId) || device.largestFreeLb < group.extentLb) continue;
      if (!target || fraction(device) < fraction(target) || (fraction(device) === fraction(target) && device.deviceId < target.deviceId)) target = device;
    }
    if (!target) {
      return `no device outside the group has ${group.extentLb} LB free for block ${index} (a narrower restripe would be needed)`;
    }
    taken.add(target.deviceId);
    chosen.push(target);
  }
  for (const device of chosen) {
    device.usedLb += group.extentLb;
    device.largestFreeLb -= group.extentLb;
  }
  return indices.map((index, i) => ({ index, targetDeviceId: chosen[i]!.deviceId }));
}

function fraction(device: { usedLb: number; dataAreaLb: number }): number {
  return device.usedLb / device.dataAreaLb;
}

export { rebalance, REBALANCE_TOLERANCE } from './rebalance_job.js';
