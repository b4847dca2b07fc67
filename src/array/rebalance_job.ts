// Rebalance: moves blocks from over-full to under-full devices until every device's used
// fraction is within REBALANCE_TOLERANCE of the others, or nothing more can move, or the ideal
// amount (+10%) has moved.
//
// Choosing moves costs O(log n) each, not a rescan: every device's extents are listed once,
// largest first (the moves that narrow the spread fastest), and each device keeps a cursor
// into its list. The next move takes the fullest device (by a model of the used space that
// counts the moves planned so far) and walks its cursor to the first extent that some emptier
// device can take (room, not in the extent's group, and not left fuller than the source was);
// an extent no device can take now is passed for good, since the spread only narrows. So every
// extent is looked at most once over the whole job (`examinedExtents` counts them).
//
// Moves are planned BATCH_GROUPS_MAX at a time (one group at most once in flight) and committed
// through relocateBatch: one flush per target device and one metadata commit per batch. Two
// batches are in flight while the foreground is idle (planning is synchronous, so they never
// plan the same extent); the foreground backoff admits each batch.
import { LB_BYTES } from '../constants.js';
import { batchArenaBytesMax, count, emptyReport, throwIfAborted, type JobOptions, type JobReport } from './job_report.js';
import type { JobContext } from './device_jobs.js';
import { relocateBatch, type BatchCounters, type GroupMoveRequest } from './move_batch.js';
import type { PlacementCandidate } from './placement.js';
import { blockIndex } from './read_path.js';
import { Throttle } from './throttle.js';

/** Rebalance stops once every device's used fraction is within this of the mean. */
export const REBALANCE_TOLERANCE = 0.02;
/** A rebalance moves at most this much more than the ideal minimum (a guard against churn). */
const REBALANCE_MOVE_SLACK = 1.1;
/** Groups moved per batch. */
const REBALANCE_BATCH_MOVES = 32;
/** Batches in flight at once. */
const REBALANCE_LANES = 2;

interface DeviceQueue {
  extents: { extentId: number; groupId: number; lengthLb: number }[];
  cursor: number;
  /** Extents passed over because their group was in flight: looked at again after the rest. */
  deferred: { extentId: number; groupId: number; lengthLb: number }[];
}

interface PlannedMove {
  request: GroupMoveRequest;
  /** Ends the move's registration as a reader of its group. */
  leave: () => void;
  from: PlacementCandidate;
  to: PlacementCandidate;
  lengthLb: number;
}

export async function rebalance(context: JobContext, options: JobOptions): Promise<JobReport> {
  const report = emptyReport();
  const throttle = new Throttle(options.rateBytesPerSec, options.clock);
  const idealBytes = idealMoveBytes(context);
  const budgetBytes = idealBytes * REBALANCE_MOVE_SLACK;
  const model = context.candidates().map((device) => ({ ...device }));
  const meanFraction = model.reduce((sum, device) => sum + device.usedLb, 0) / Math.max(1, model.reduce((sum, device) => sum + device.dataAreaLb, 0));
  const queues = new Map<number, DeviceQueue>();
  const groupsInFlight = new Set<number>();
  const arenaBytesMax = batchArenaBytesMax(context.arena.capacityBytes);
  const yieldsBefore = context.backoff?.yields ?? 0;
  let plannedBytes = 0;
  let finished = false;

  const queueOf = (deviceId: number): DeviceQueue => {
    let queue = queues.get(deviceId);
    if (!queue) {
      queue = { extents: context.store.extentsOnDevice(deviceId), cursor: 0, deferred: [] };
      queues.set(deviceId, queue);
    }
    return queue;
  };

  /**
   * The next move: from the fullest device whose list is not used up, to the emptiest device
   * that can take it. 'blocked' when all that is left of the fullest device's list belongs to
   * groups in flight (the lane waits for their batch); undefined when nothing more can move.
   */
  const nextMove = (): PlannedMove | 'blocked' | undefined => {
    const exhausted = new Set<number>();
    for (;;) {
      const byFraction = [...model].sort((a, b) => fraction(b) - fraction(a) || a.deviceId - b.deviceId);
      const from = byFraction.find((device) => !exhausted.has(device.deviceId));
      const emptiest = byFraction.at(-1);
      if (!from || !emptiest || from === emptiest || fraction(from) - fraction(emptiest) <= REBALANCE_TOLERANCE) return undefined;
      // Only from over-full to under-full devices: anything else is churn the ideal amount
      // does not pay for.
      if (fraction(from) <= meanFraction) return undefined;
      const queue = queueOf(from.deviceId);
      for (;;) {
        if (queue.cursor >= queue.extents.length) {
          // Extents passed over while their group was in flight come back once it is not.
          if (queue.deferred.length === 0) break;
          if (queue.deferred.every((extent) => groupsInFlight.has(extent.groupId))) return 'blocked';
          queue.extents = queue.deferred;
          queue.deferred = [];
          queue.cursor = 0;
        }
        const candidate = queue.extents[queue.cursor++]!;
        if (groupsInFlight.has(candidate.groupId)) {
          queue.deferred.push(candidate);
          continue;
        }
        report.examinedExtents++;
        const group = context.store.group(candidate.groupId);
        const extent = group?.extents.find((row) => row.extentId === candidate.extentId);
        if (!group || !extent || extent.deviceId !== from.deviceId) continue; // moved or gone meanwhile
        const inGroup = new Set(group.extents.map((row) => row.deviceId));
        // Emptiest first: the first device that can take it is the best one.
        for (let i = byFraction.length - 1; i >= 0; i--) {
          const to = byFraction[i]!;
          if (fraction(to) >= meanFraction) break;
          if (inGroup.has(to.deviceId) || to.largestFreeLb < group.extentLb || !improves(from, to, group.extentLb)) continue;
          // Registered as a reader in the tick of the lookup: a put replacing the file meanwhile
          // cannot hand its extents to another put while this move still reads them.
          const leave = context.enterReader?.([group.groupId]) ?? (() => undefined);
          return { request: { group, moves: [{ index: blockIndex(group, extent), targetDeviceId: to.deviceId }] }, from, to, lengthLb: group.extentLb, leave };
        }
      }
      exhausted.add(from.deviceId);
    }
  };

  /** Settles when a batch in flight is done (a lane whose next moves wait for one). */
  let batchDone: Promise<void> = Promise.resolve();
  let markBatchDone: () => void = () => undefined;
  let batchesInFlight = 0;

  /** Plans a batch against the model (synchronously: two lanes never plan the same extent). */
  const planBatch = (): PlannedMove[] | 'blocked' => {
    const batch: PlannedMove[] = [];
    let arenaBytes = 0;
    while (!finished && batch.length < REBALANCE_BATCH_MOVES && plannedBytes < budgetBytes) {
      const move = nextMove();
      if (move === 'blocked') return batch.length > 0 ? batch : 'blocked';
      if (!move) {
        finished = true;
        break;
      }
      const groupArena = (move.request.group.dataCount + move.request.group.parityCount) * move.lengthLb * LB_BYTES;
      batch.push(move);
      arenaBytes += groupArena;
      groupsInFlight.add(move.request.group.groupId);
      apply(move, +1);
      plannedBytes += move.lengthLb * LB_BYTES;
      if (arenaBytes >= arenaBytesMax || batchBytes(batch) >= throttle.batchBytesMax) break;
    }
    return batch;
  };

  let failure: unknown;
  const lane = async () => {
    while (failure === undefined) {
      throwIfAborted(options.signal);
      const batch = planBatch();
      if (batch === 'blocked') {
        // Its next moves belong to groups the other lane is moving: wait for that batch.
        if (batchesInFlight === 0) return;
        await batchDone;
        continue;
      }
      if (batch.length === 0) return;
      if (batchesInFlight++ === 0) batchDone = new Promise((resolve) => (markBatchDone = resolve));
      await throttle.admit(batchBytes(batch), options.signal);
      const done = await context.backoff?.admit(options.signal);
      const counters: BatchCounters = { batches: 0, flushes: 0, commits: 0 };
      try {
        const outcomes = await relocateBatch(
          context,
          batch.map((move) => move.request),
          counters,
        );
        outcomes.forEach((outcome, i) => {
          const move = batch[i]!;
          if (outcome.kind === 'moved') return count(report, move.to.deviceId, move.lengthLb);
          // Not moved: the model forgets the move. A file that changed meanwhile is simply
          // passed over; a failure (a device, no room) ends the job once the batch is settled.
          apply(move, -1);
          plannedBytes -= move.lengthLb * LB_BYTES;
          if (outcome.kind === 'failed') failure ??= outcome.error;
        });
      } finally {
        done?.();
        for (const move of batch) {
          move.leave();
          groupsInFlight.delete(move.request.group.groupId);
        }
        if (--batchesInFlight === 0) markBatchDone();
        report.batches += counters.batches;
        report.flushes += counters.flushes;
        report.commits += counters.commits;
      }
      options.onProgress?.({ doneBytes: report.movedBytes, totalBytes: Math.ceil(idealBytes) });
    }
  };

  const apply = (move: PlannedMove, sign: 1 | -1) => {
    move.from.usedLb -= sign * move.lengthLb;
    move.to.usedLb += sign * move.lengthLb;
    move.to.largestFreeLb -= sign * move.lengthLb;
  };

  // Every lane settles before the job reports; the first failure is the job's.
  const settled = await Promise.allSettled(Array.from({ length: REBALANCE_LANES }, async () => {
    try {
      await lane();
    } catch (error) {
      failure ??= error;
    }
  }));
  void settled;
  report.foregroundYields = (context.backoff?.yields ?? 0) - yieldsBefore;
  if (failure !== undefined) throw failure;
  throwIfAborted(options.signal);
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

function fraction(device: { usedLb: number; dataAreaLb: number }): number {
  return device.usedLb / device.dataAreaLb;
}

function batchBytes(batch: readonly PlannedMove[]): number {
  return batch.reduce((sum, move) => sum + move.lengthLb * LB_BYTES, 0);
}
