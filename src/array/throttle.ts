// Keeps a background job's I/O under a rate, so rebuild, rebalance, restripe and scrub leave
// the devices to the puts and gets of the array's users. A job calls pace(bytes) after each
// step; the throttle sleeps just long enough that bytes / elapsed stays at or under the rate.
//
// A timer cannot sleep longer than 2^31-1 ms (about 24.8 days): Node fires a longer one after
// 1 ms with a TimeoutOverflowWarning, which is how `--rate 1` once ran unthrottled. Long waits
// are therefore slept in pieces of at most SLEEP_MS_MAX until the bytes are due (or the
// signal aborts), however small the rate.
import { LB_BYTES } from '../constants.js';
import { InvalidArgumentError } from '../errors.js';
import { REAL_CLOCK, type JobClock } from './job_clock.js';

/** The longest single sleep: one hour, far below setTimeout's 2^31-1 ms limit. */
const SLEEP_MS_MAX = 60 * 60 * 1000;
/** Waits shorter than this are not worth a timer. */
const SLEEP_MS_MIN = 1;
/** Under a rate, batches carry at most this fraction of a second of it. */
const BATCHES_PER_SECOND_AT_RATE = 4;

export class Throttle {
  private readonly startMs: number;
  private doneBytes = 0;

  /** `rateBytesPerSec` undefined (or Infinity) means no limit; time is `clock`'s (job_clock.ts). */
  constructor(
    private readonly rateBytesPerSec: number | undefined,
    private readonly clock: JobClock = REAL_CLOCK,
  ) {
    this.startMs = clock.nowMs();
    if (rateBytesPerSec !== undefined && !(rateBytesPerSec > 0)) {
      throw new InvalidArgumentError(`a job rate must be a positive number of bytes per second, not ${rateBytesPerSec}`);
    }
  }

  /** Counts `bytes` as done and waits until they are due at the rate (or `signal` aborts). */
  async pace(bytes: number, signal?: AbortSignal): Promise<void> {
    this.doneBytes += bytes;
    await this.untilDue(this.doneBytes, signal);
  }

  /**
   * For jobs whose lanes run batches side by side: waits until the bytes admitted before are due,
   * then counts `bytes` as started. pace() after each batch would let every lane's first batch,
   * and a job that fits in a few batches, run at full speed; admitting before each batch keeps
   * batch starts at the rate.
   */
  async admit(bytes: number, signal?: AbortSignal): Promise<void> {
    const before = this.doneBytes;
    this.doneBytes += bytes;
    await this.untilDue(before, signal);
  }

  /** The most bytes one batch should carry, so that a rate is kept at a fine grain (a quarter second of it). */
  get batchBytesMax(): number {
    return this.limited ? Math.max(LB_BYTES, this.rateBytesPerSec! / BATCHES_PER_SECOND_AT_RATE) : Infinity;
  }

  private get limited(): boolean {
    return this.rateBytesPerSec !== undefined && Number.isFinite(this.rateBytesPerSec);
  }

  private async untilDue(bytes: number, signal?: AbortSignal): Promise<void> {
    if (!this.limited) return;
    const dueMs = (bytes / this.rateBytesPerSec!) * 1000;
    for (;;) {
      if (signal?.aborted) return;
      const aheadMs = dueMs - (this.clock.nowMs() - this.startMs);
      if (!(aheadMs > SLEEP_MS_MIN)) return;
      // An abort ends the sleep early; the loop's first line then returns (the job notices the signal itself).
      await this.clock.sleep(Math.min(aheadMs, SLEEP_MS_MAX), signal);
    }
  }
}
