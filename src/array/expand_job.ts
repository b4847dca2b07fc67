// Expand: the one job that follows a device add. It first combines narrow groups in place into
// groups of today's width (combine_groups.ts), then rebalances what is still uneven
// (device_jobs.ts rebalance), so that devices end with capacity-weighted usage within
// REBALANCE_TOLERANCE (2%) of each other — or, where the device mix makes that impossible (a
// device bigger than the others can match: each group puts at most one block on it), with
// every group as wide as the devices allow, which is the layout with the most data capacity
// (capacity_bound.ts).
//
// Why combine first: the blocks a combine must copy (two blocks of a new group on one device)
// go to the emptiest device outside the group — the new one — so they are moves a rebalance
// would have made anyway, and with equal devices the combined groups span every device, so a
// combine alone leaves usage even. Rebalancing first would move blocks a combine then leaves
// where they are or has to move again; combining first moves the fewest bytes.
//
// States (its row in `jobs`, kind 'expand'): combining (one unit of groups per commit) →
// rebalancing (one block per commit) → done | incomplete (groups not combined or moved, see
// problems) | aborted | failed; a crash leaves it 'running' and the next open marks it
// 'interrupted'. Resumable by construction: combined units are no longer narrow and moved
// blocks are where they went, so running expand again does what is left.
import type { CombineContext, CombineReport } from './combine_groups.js';
import { combineGroups } from './combine_groups.js';
import { REBALANCE_TOLERANCE, type JobOptions, type JobReport } from './device_jobs.js';

export interface ExpandContext extends CombineContext {
  /** Data blocks of a full group a put would write now. */
  targetDataCount: () => number;
  /** Runs the rebalance step (device_jobs.ts rebalance over this array). */
  rebalance: (options: JobOptions) => Promise<JobReport>;
}

export interface ExpandReport {
  combine: Omit<CombineReport, 'problems'>;
  rebalance: Omit<JobReport, 'problems'>;
  /** Bytes read and written by both steps (a rebalance reads and writes each block it moves). */
  readBytes: number;
  writtenBytes: number;
  /** Largest minus smallest capacity-weighted used fraction of the devices taking blocks, at the end. */
  usageSpread: number;
  /** Whether the spread is within the 2% goal (it cannot be where the device mix forbids it). */
  balanced: boolean;
  problems: string[];
}

export async function expand(context: ExpandContext, options: JobOptions): Promise<ExpandReport> {
  let combineTotal = 0;
  let combineDone = 0;
  const combine = await combineGroups(context, context.targetDataCount(), {
    ...options,
    onProgress: (progress) => {
      combineDone = progress.doneBytes;
      combineTotal = progress.totalBytes ?? combineTotal;
      options.onProgress?.({ doneBytes: combineDone, totalBytes: combineTotal, phase: 'combine' });
    },
  });
  const rebalance = await context.rebalance({
    ...options,
    onProgress: (progress) =>
      options.onProgress?.({ doneBytes: combineDone + progress.doneBytes, totalBytes: combineDone + (progress.totalBytes ?? progress.doneBytes), phase: 'rebalance' }),
  });
  // The rebalance's total is an estimate (the ideal amount; it stops once within 2%): the last
  // report says what was done, so a finished expand reads 100%.
  const doneBytes = combine.storedBytes + rebalance.movedBytes;
  options.onProgress?.({ doneBytes, totalBytes: doneBytes, phase: 'done' });
  const usageSpread = spreadOf(context);
  const { problems: combineProblems, ...combineCounts } = combine;
  const { problems: rebalanceProblems, ...rebalanceCounts } = rebalance;
  return {
    combine: combineCounts,
    rebalance: rebalanceCounts,
    readBytes: combine.readBytes + rebalance.movedBytes,
    writtenBytes: combine.writtenBytes + rebalance.movedBytes,
    usageSpread,
    balanced: usageSpread <= REBALANCE_TOLERANCE,
    problems: [...combineProblems, ...rebalanceProblems],
  };
}

function spreadOf(context: ExpandContext): number {
  const fractions = context.candidates().map((device) => device.usedLb / device.dataAreaLb);
  if (fractions.length === 0) return 0;
  return Math.max(...fractions) - Math.min(...fractions);
}
