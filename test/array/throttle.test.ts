import { describe, expect, it } from 'vitest';
import { Throttle } from '../../src/array/throttle.js';

const MIB = 2 ** 20;

describe('Throttle', () => {
  it('keeps bytes per second at or under the rate (a lower bound on time, never an upper one)', async () => {
    const throttle = new Throttle(20 * MIB);
    const startMs = performance.now();
    for (let i = 0; i < 4; i++) await throttle.pace(2 * MIB);
    // 8 MiB at 20 MiB/s cannot finish in less than 400 ms.
    expect(performance.now() - startMs).toBeGreaterThanOrEqual(390);
  });

  it('does not wait without a rate, stops waiting on abort, and refuses a bad rate', async () => {
    const free = new Throttle(undefined);
    const startMs = performance.now();
    await free.pace(10 ** 12);
    expect(performance.now() - startMs).toBeLessThan(50);
    const slow = new Throttle(1);
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 20);
    await slow.pace(10 ** 9, controller.signal); // would sleep for decades
    expect(() => new Throttle(0)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    expect(() => new Throttle(-5)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  });

  // Issue 12 item 14: `scrub --rate 1` ran at 363 MiB/s and printed TimeoutOverflowWarning per
  // group: a sleep past setTimeout's 2^31-1 ms limit fires after 1 ms instead.
  it('throttles tiny rates for real: a sleep longer than a timer allows still waits, with no TimeoutOverflowWarning', async () => {
    const warnings: string[] = [];
    const onWarning = (warning: Error) => warnings.push(warning.name);
    process.on('warning', onWarning);
    try {
      const tiny = new Throttle(1);
      const controller = new AbortController();
      const startMs = performance.now();
      setTimeout(() => controller.abort(), 300);
      await tiny.pace(10 ** 12, controller.signal); // due in 31700 years, beyond any timer
      expect(performance.now() - startMs).toBeGreaterThanOrEqual(290);
      // Warnings are emitted on the next tick.
      await new Promise((resolve) => setImmediate(resolve));
      expect(warnings).toEqual([]);
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('admits lanes at the rate: the first batch starts at once, each later one when the bytes before it are due', async () => {
    const throttle = new Throttle(20 * MIB);
    const startMs = performance.now();
    // Three lanes asking together, 4 MiB each: starts at 0, >= 200 ms and >= 400 ms.
    const started = await Promise.all([0, 1, 2].map(async () => {
      await throttle.admit(4 * MIB);
      return performance.now() - startMs;
    }));
    started.sort((a, b) => a - b);
    expect(started[0]).toBeLessThan(150);
    expect(started[1]).toBeGreaterThanOrEqual(190);
    expect(started[2]).toBeGreaterThanOrEqual(390);
  });

  it('cuts batches to a quarter second of the rate, and does not cut them without one', () => {
    expect(new Throttle(4 * MIB).batchBytesMax).toBe(MIB);
    expect(new Throttle(1).batchBytesMax).toBe(4096);
    expect(new Throttle(undefined).batchBytesMax).toBe(Infinity);
  });
});
