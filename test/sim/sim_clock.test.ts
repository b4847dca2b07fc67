// The simulator's virtual clock (sim_clock.ts), and the job pacing that runs on it: the
// foreground backoff's rests and a job's rate are measured in its time, not the wall clock's.
import { describe, expect, it } from 'vitest';
import { ForegroundBackoff, QUIET_MS, REST_FACTOR } from '../../src/array/foreground_backoff.js';
import { Throttle } from '../../src/array/throttle.js';
import { HOP_US, REQUEST_US, SimClock } from './sim_clock.js';

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('SimClock', () => {
  it('stands still without requests or sleepers, and moves by REQUEST_US per request', async () => {
    const clock = new SimClock();
    for (let i = 0; i < 10; i++) await turn();
    expect(clock.nowMs()).toBe(0);
    for (let i = 0; i < 7; i++) clock.advance(REQUEST_US);
    expect(clock.nowMs()).toBe((7 * REQUEST_US) / 1000);
    clock.assertInvariants();
  });

  it('wakes sleepers in order of due time, then of arrival, after a fixed number of turns when idle', async () => {
    const clock = new SimClock();
    const woken: string[] = [];
    const sleeps = [
      clock.sleep(2).then(() => woken.push(`b@${clock.nowMs()}`)),
      clock.sleep(1).then(() => woken.push(`a@${clock.nowMs()}`)),
      clock.sleep(2).then(() => woken.push(`c@${clock.nowMs()}`)),
    ];
    clock.assertInvariants();
    expect(clock.waiting).toBe(3);
    await Promise.all(sleeps);
    // Nothing else moved time: only the ticker, HOP_US per turn.
    expect(woken).toEqual([`a@${1}`, `b@${2}`, `c@${2}`]);
    expect(clock.nowMs()).toBe(2);
    expect(2000 % HOP_US).toBe(0);
    expect(clock.waiting).toBe(0);
    expect(clock.sleeps).toBe(3);
    expect(clock.sleptMs).toBe(5);
  });

  it('ends a sleep when its signal aborts, and does not sleep on an aborted one', async () => {
    const clock = new SimClock();
    const controller = new AbortController();
    const long = clock.sleep(1e9, controller.signal);
    await turn();
    controller.abort();
    await long;
    expect(clock.waiting).toBe(0);
    expect(clock.nowMs()).toBeLessThan(1);
    await clock.sleep(1e9, controller.signal);
    clock.assertInvariants();
  });
});

describe('job pacing on the virtual clock', () => {
  it('the foreground backoff rests REST_FACTOR times a batch by the injected clock, and its quiet window is that clock’s', async () => {
    const clock = new SimClock();
    const backoff = new ForegroundBackoff(clock);
    const endPut = backoff.begin();
    const batch = await backoff.admit(); // nothing in flight, no rest owed: goes at once
    expect(clock.nowMs()).toBe(0);
    for (let i = 0; i < 10; i++) clock.advance(REQUEST_US); // the batch's ten requests: 1 ms
    batch();
    const batchEndMs = clock.nowMs();
    const next = await backoff.admit();
    // It rested until the batch's end plus REST_FACTOR × 1 ms, to the ticker's grain.
    expect(clock.nowMs()).toBeGreaterThanOrEqual(batchEndMs + REST_FACTOR * 1);
    expect(clock.nowMs()).toBeLessThan(batchEndMs + REST_FACTOR * 1 + 1);
    expect(backoff.yields).toBe(1);
    next();
    endPut();
    const endedMs = clock.nowMs();
    expect(backoff.busy).toBe(true); // ended less than QUIET_MS ago, by this clock
    for (let i = 0; i < 10; i++) await turn();
    expect(backoff.busy).toBe(true); // wall time passing does not count
    clock.advance(QUIET_MS * 1000);
    expect(clock.nowMs() - endedMs).toBe(QUIET_MS);
    expect(backoff.busy).toBe(false);
    backoff.assertInvariants();
  });

  it('a rate is kept by the injected clock: bytes come due in its time', async () => {
    const clock = new SimClock();
    const throttle = new Throttle(1024 * 1024, clock); // 1 MiB/s: 256 KiB is due after 250 ms
    await throttle.pace(256 * 1024);
    expect(clock.nowMs()).toBeGreaterThanOrEqual(249);
    expect(clock.nowMs()).toBeLessThan(251);
    expect(clock.sleeps).toBeGreaterThan(0);
  });
});
