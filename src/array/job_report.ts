// What every mover shares: its options (progress, abort, rate), its report, and the bounds of
// one batch of moves.
import { LB_BYTES } from '../constants.js';
import { AbortedError } from '../errors.js';
import type { JobClock } from './job_clock.js';
import type { Progress } from './types.js';

/** A batch holds at most this share of the arena (each group's blocks are read into it). */
const BATCH_ARENA_SHARE = 1 / 8;
/** Upper bound on a batch's arena bytes, however large the arena. */
const BATCH_ARENA_BYTES_MAX = 64 * 1024 * 1024;

export interface JobOptions {
  onProgress?: (progress: Progress) => void;
  signal?: AbortSignal;
  /** Upper bound on the bytes the job moves (or checks) per second; default unlimited. */
  rateBytesPerSec?: number;
  /**
   * The clock the rate is kept by (job_clock.ts). The array sets it to RuntimeOptions.jobClock
   * (the real clock unless the embedder gave another), whatever the caller passed.
   */
  clock?: JobClock;
}

export interface JobReport {
  /** Blocks taken off their devices: relocated, or in a group rewritten narrower. */
  movedBlocks: number;
  movedBytes: number;
  /** Groups rewritten narrower because no device outside them could take a lost block. */
  restripedGroups: number;
  /** Blocks written to each target device (a rebuild spreads them over all survivors). */
  blocksByTargetDevice: Record<number, number>;
  /** Extents read from each device to move blocks (a rebuild reads k survivors per lost block). */
  blocksReadByDevice: Record<number, number>;
  /** Groups the job could not finish, with why (e.g. no device outside the group has room). */
  problems: string[];
  /** Batches committed, device flushes and metadata commits they cost (per batch, not per block). */
  batches: number;
  flushes: number;
  commits: number;
  /** Times the job waited for foreground puts and gets (automatic backoff). */
  foregroundYields: number;
  /** Extents a rebalance looked at to choose its moves (each at most once: no rescans). */
  examinedExtents: number;
}

/** Arena bytes one batch may hold, for an arena of `capacityBytes`. */
export function batchArenaBytesMax(capacityBytes: number): number {
  return Math.min(BATCH_ARENA_BYTES_MAX, capacityBytes * BATCH_ARENA_SHARE);
}

export function emptyReport(): JobReport {
  return { movedBlocks: 0, movedBytes: 0, restripedGroups: 0, blocksByTargetDevice: {}, blocksReadByDevice: {}, problems: [], batches: 0, flushes: 0, commits: 0, foregroundYields: 0, examinedExtents: 0 };
}

/** Counts one block moved to `targetDeviceId`. */
export function count(report: JobReport, targetDeviceId: number, extentLb: number): void {
  report.movedBlocks++;
  report.movedBytes += extentLb * LB_BYTES;
  report.blocksByTargetDevice[targetDeviceId] = (report.blocksByTargetDevice[targetDeviceId] ?? 0) + 1;
}

export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new AbortedError('the job was aborted; run it again to continue where it stopped');
}
