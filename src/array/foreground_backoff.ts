// Automatic backoff of background jobs in favour of foreground puts and gets. The array counts
// the puts and gets in flight (begin/end); a job asks `admit()` before each batch of moves.
// While the foreground is idle every lane of the job runs at once. While a put or get is in
// flight (or one ended less than QUIET_MS ago), the job runs one batch at a time and, after
// each, rests twice as long as that batch took: the job then holds the devices at most a third
// of the time, so foreground throughput stays well above half of what it is idle, whatever the
// device speed — no rate needs to be configured (`--rate` still caps a job on top of this).
//
// Time comes from a JobClock (job_clock.ts): the real one by default, a virtual one in the
// deterministic simulator, so its replays hold with the backoff on.
//
// States: idle (no foreground call for QUIET_MS) ⇄ busy; while busy, a batch is admitted only
// when no other batch of a job is in flight and the last one's rest is over.
// Invariants (assertInvariants):
//  1. activeCalls ≥ 0 and batchesInFlight ≥ 0.
import { REAL_CLOCK, type JobClock } from './job_clock.js';

/** A foreground call that ended less than this ago still counts as foreground activity. */
export const QUIET_MS = 20;
/** While the foreground is busy, a job rests this many times as long as its last batch took. */
export const REST_FACTOR = 2;
/** Longest single wait before the job looks again (foreground may have gone quiet). */
const POLL_MS = 5;

export class ForegroundBackoff {
  private activeCalls = 0;
  private lastEndMs = -Infinity;
  private batchesInFlight = 0;
  /** A batch may not start before this while the foreground is busy (the previous batch's rest). */
  private restUntilMs = 0;
  /** Times a job waited for the foreground (observable by tests and status). */
  yields = 0;

  constructor(private readonly clock: JobClock = REAL_CLOCK) {}

  /** Registers a foreground call (a put or get); returns the idempotent function that ends it. */
  begin(): () => void {
    this.activeCalls++;
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      this.activeCalls--;
      this.lastEndMs = this.clock.nowMs();
    };
  }

  /** Whether a put or get is in flight or ended within QUIET_MS. */
  get busy(): boolean {
    return this.activeCalls > 0 || this.clock.nowMs() - this.lastEndMs < QUIET_MS;
  }

  /**
   * Waits until a batch of a job may start and returns the function to call when it is done.
   * Returns at once while the foreground is idle. An aborted signal ends the wait (the job then
   * notices the signal itself).
   */
  async admit(signal?: AbortSignal): Promise<() => void> {
    let waited = false;
    while (this.busy && !signal?.aborted) {
      const now = this.clock.nowMs();
      if (this.batchesInFlight === 0 && now >= this.restUntilMs) break;
      waited = true;
      const waitMs = this.batchesInFlight === 0 ? Math.min(POLL_MS, this.restUntilMs - now) : POLL_MS;
      await this.clock.sleep(Math.max(1, waitMs));
    }
    if (waited) this.yields++;
    this.batchesInFlight++;
    const startMs = this.clock.nowMs();
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.batchesInFlight--;
      const endMs = this.clock.nowMs();
      this.restUntilMs = endMs + REST_FACTOR * (endMs - startMs);
    };
  }

  assertInvariants(): void {
    if (this.activeCalls < 0) throw new Error(`foreground backoff: ${this.activeCalls} foreground calls in flight`);
    if (this.batchesInFlight < 0) throw new Error(`foreground backoff: ${this.batchesInFlight} job batches in flight`);
  }
}
