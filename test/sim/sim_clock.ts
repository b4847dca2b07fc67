// The simulator's virtual clock for job pacing (RuntimeOptions.jobClock, src/array/job_clock.ts):
// the foreground backoff's quiet window and rests, and a job's rate, read this clock instead of
// the wall clock, so a seed replays the same interleaving with the backoff on.
//
// Time moves only with the simulation's own scheduling, never with the machine's:
//  - every simulated request completion (SimStorage.ioEvent) adds requestUs, so a batch of
//    moves "takes" time in proportion to the requests it makes (and the backoff's rest after
//    it, twice that, lets that many foreground requests through);
//  - while someone sleeps, a ticker adds hopUs per event-loop turn (one setImmediate hop, the
//    unit the simulated disks' latency is counted in), so a sleeper wakes even when no request
//    is in flight, after a number of turns fixed by the seed.
// The two rates come from the seed (sim_config.ts), around REQUEST_US and HOP_US, so seeds
// differ in how many requests and turns a rest lets by. Time is kept in whole microseconds, so no rounding differs between runs or machines. Both
// are deterministic for a seed: the requests' completion order is (sim_device.ts), and so
// is the order of setImmediate callbacks. Sleepers wake in order of due time, then of arrival.
//
// Invariants (assertInvariants):
//  1. sleepers are sorted by (dueUs, arrival); none is due (every due one was woken).
//  2. the ticker runs exactly while a sleeper waits.
import type { JobClock } from '../../src/array/job_clock.js';

/** Virtual time one simulated request completion takes by default (a fast disk's request). */
export const REQUEST_US = 100;
/** Virtual time one event-loop turn takes by default while a sleeper waits. */
export const HOP_US = 100;

interface Sleeper {
  dueUs: number;
  arrival: number;
  wake: () => void;
}

export class SimClock implements JobClock {
  private nowUs = 0;
  private arrivals = 0;
  private readonly sleepers: Sleeper[] = [];
  private ticking = false;
  /** Sleeps taken and virtual time asked for (the report says the backoff did rest). */
  sleeps = 0;
  sleptMs = 0;

  constructor(
    readonly requestUs = REQUEST_US,
    readonly hopUs = HOP_US,
  ) {
    if (!(Number.isInteger(requestUs) && requestUs >= 0 && Number.isInteger(hopUs) && hopUs > 0)) throw new Error(`sim clock: bad rates ${requestUs}/${hopUs} µs`);
  }

  nowMs(): number {
    return this.nowUs / 1000;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.resolve();
    this.sleeps++;
    this.sleptMs += Math.max(0, ms);
    return new Promise<void>((resolve) => {
      const sleeper: Sleeper = { dueUs: this.nowUs + Math.ceil(Math.max(0, ms) * 1000), arrival: this.arrivals++, wake: () => undefined };
      const onAbort = () => {
        this.remove(sleeper);
        resolve();
      };
      sleeper.wake = () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.insert(sleeper);
      this.wakeDue();
      this.startTicker();
    });
  }

  /** A simulated request completed (SimStorage.ioEvent). */
  requestCompleted(): void {
    this.advance(this.requestUs);
  }

  /** Moves time on by `us` and wakes whoever is due. */
  advance(us: number): void {
    this.nowUs += us;
    this.wakeDue();
  }

  /** Sleepers waiting now (a quiet array has none). */
  get waiting(): number {
    return this.sleepers.length;
  }

  assertInvariants(): void {
    for (let i = 1; i < this.sleepers.length; i++) {
      const [a, b] = [this.sleepers[i - 1]!, this.sleepers[i]!];
      if (a.dueUs > b.dueUs || (a.dueUs === b.dueUs && a.arrival > b.arrival)) throw new Error('sim clock: sleepers out of order');
    }
    if (this.sleepers.length > 0 && this.sleepers[0]!.dueUs <= this.nowUs) throw new Error('sim clock: a due sleeper was not woken');
    if (this.sleepers.length > 0 && !this.ticking) throw new Error('sim clock: sleepers wait but the ticker is stopped');
  }

  private insert(sleeper: Sleeper): void {
    let i = this.sleepers.length;
    while (i > 0 && this.sleepers[i - 1]!.dueUs > sleeper.dueUs) i--;
    this.sleepers.splice(i, 0, sleeper);
  }

  private remove(sleeper: Sleeper): void {
    const i = this.sleepers.indexOf(sleeper);
    if (i >= 0) this.sleepers.splice(i, 1);
  }

  private wakeDue(): void {
    while (this.sleepers.length > 0 && this.sleepers[0]!.dueUs <= this.nowUs) this.sleepers.shift()!.wake();
  }

  /** One hop per event-loop turn while anyone sleeps; stops by itself when no one does. */
  private startTicker(): void {
    if (this.ticking || this.sleepers.length === 0) return;
    this.ticking = true;
    const hop = () => {
      if (this.sleepers.length === 0) {
        this.ticking = false;
        return;
      }
      this.advance(this.hopUs);
      setImmediate(hop);
    };
    setImmediate(hop);
  }
}
