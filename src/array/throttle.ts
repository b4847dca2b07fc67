// Keeps a background job's I/O under a rate, so rebuild, rebalance, restripe and scrub leave
// the devices to the puts and gets of the array's users. A job calls pace(bytes) after each
// step; the throttle sleeps just long enough that bytes / elapsed stays at or under the rate.
import { setTimeout as sleep } from 'node:timers/promises';
import { InvalidArgumentError } from '../errors.js';

export class Throttle {
  private readonly startMs = performance.now();
  private doneBytes = 0;

  /** `rateBytesPerSec` undefined (or Infinity) means no limit. */
  constructor(private readonly rateBytesPerSec: number | undefined) {
    if (rateBytesPerSec !== undefined && !(rateBytesPerSec > 0)) {
      throw new InvalidArgumentError(`a job rate must be a positive number of bytes per second, not ${rateBytesPerSec}`);
    }
  }

  async pace(bytes: number, signal?: AbortSignal): Promise<void> {
    this.doneBytes += bytes;
    if (this.rateBytesPerSec === undefined || !Number.isFinite(this.rateBytesPerSec)) return;
    const dueMs = (this.doneBytes / this.rateBytesPerSec) * 1000;
    const aheadMs = dueMs - (performance.now() - this.startMs);
    if (aheadMs > 1) await sleep(aheadMs, undefined, { signal }).catch(() => undefined);
  }
}
