// The clock background jobs pace themselves by: ForegroundBackoff's quiet window and rests,
// Throttle's rate. By default it is the real one (performance.now and a timer). An embedder or
// a test may hand another through RuntimeOptions.jobClock: the deterministic simulator
// (test/sim/sim_clock.ts) supplies a virtual clock its own scheduling advances, so a seed
// replays the same interleaving with the backoff on — wall-clock rests would make it vary
// with the machine's load.
import { setTimeout as timer } from 'node:timers/promises';

export interface JobClock {
  /** Milliseconds from an arbitrary origin; never decreases. */
  nowMs(): number;
  /**
   * Resolves once `ms` of this clock have passed, or as soon as `signal` aborts (it never
   * rejects: the caller looks at the signal itself).
   */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** performance.now and setTimeout. */
export const REAL_CLOCK: JobClock = {
  nowMs: () => performance.now(),
  async sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return;
    try {
      await timer(ms, undefined, signal ? { signal } : undefined);
    } catch {
      // aborted: the caller notices the signal
    }
  },
};
