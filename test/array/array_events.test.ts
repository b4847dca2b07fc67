// The array's events (array_events.ts): what each operation emits, in which order, to which
// listeners; the recent log; a listener that throws never fails the call that emitted.
import { closeSync, openSync, writeSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { LB_BYTES } from '../../src/constants.js';
import { ArrayEventBus, RECENT_EVENTS_MAX, type ArrayEvent } from '../../src/array/array_events.js';
import { createTempArray, MIB, patternBytes, useArraySuite } from '../helpers/temp_array.js';

const suite = useArraySuite();

function rot(devicePath: string, startLb: number): void {
  const fd = openSync(devicePath, 'r+');
  try {
    writeSync(fd, Buffer.from('bit rot'), 0, 7, startLb * LB_BYTES + 100);
  } finally {
    closeSync(fd);
  }
}

describe('array events', () => {
  it('a fail and a rebuild emit deviceFailed, then jobStarted, jobProgress and jobFinished, to every kind of listener', async () => {
    const viaOption: ArrayEvent[] = [];
    ({ array: suite.array } = await createTempArray(suite.dir, { deviceCount: 4, extentLbMax: 16, onEvent: (event) => viaOption.push(event) }));
    const array = suite.array;
    const all: ArrayEvent[] = [];
    const failed: ArrayEvent[] = [];
    const finished: ArrayEvent[] = [];
    array.on('event', (event) => all.push(event));
    array.on('deviceFailed', (event) => failed.push(event));
    array.once('jobFinished', (event) => finished.push(event));
    const content = patternBytes(4 * MIB, 5);
    await array.put('a', content);
    await array.failDevice(2, 'pulled');
    const report = await array.rebuild();
    expect(report.removedDeviceIds).toEqual([2]);
    await array.rebalance();
    array.assertInvariants();

    const kinds = all.map((event) => event.type);
    expect(kinds[0]).toBe('deviceFailed');
    expect(kinds[1]).toBe('jobStarted');
    expect(kinds).toContain('jobProgress');
    const rebuildFinished = kinds.indexOf('jobFinished');
    expect(rebuildFinished).toBeGreaterThan(kinds.indexOf('jobProgress'));
    expect(all[0]).toMatchObject({ type: 'deviceFailed', deviceId: 2, reason: 'pulled' });
    const started = all[1]!;
    expect(started).toMatchObject({ type: 'jobStarted', kind: 'rebuild', trigger: 'request' });
    const jobId = (started as { jobId: number }).jobId;
    expect(all[rebuildFinished]).toMatchObject({ type: 'jobFinished', kind: 'rebuild', jobId, outcome: 'done', trigger: 'request' });
    expect(array.status().jobs.find((job) => job.jobId === jobId)?.state).toBe('done');
    // Progress carries the job and its bytes; the last one says everything is done.
    const progress = all.filter((event) => event.type === 'jobProgress' && event.jobId === jobId);
    expect(progress.length).toBeGreaterThan(0);
    for (const event of progress) expect(event).toMatchObject({ kind: 'rebuild', totalBytes: report.movedBytes });
    // Every event has a time, never going back.
    for (let i = 1; i < all.length; i++) expect(all[i]!.at).toBeGreaterThanOrEqual(all[i - 1]!.at);
    expect(viaOption).toEqual(all);
    expect(failed).toHaveLength(1);
    expect(finished).toHaveLength(1); // once: the rebalance's jobFinished did not reach it
    expect(kinds.filter((kind) => kind === 'jobFinished')).toHaveLength(2);
    // The recent log keeps what happened, not the progress ticks.
    expect(array.recentEvents().map((event) => event.type)).toEqual(kinds.filter((kind) => kind !== 'jobProgress'));
    expect((await array.get('a')).equals(content)).toBe(true);
    expect((await array.fsck()).problems).toEqual([]);
  });

  it('a read that finds bit rot emits blockRepaired with the group and device', async () => {
    let devices: string[];
    ({ array: suite.array, devices } = await createTempArray(suite.dir, { deviceCount: 4, extentLbMax: 16 }));
    const array = suite.array;
    const content = patternBytes(MIB, 9);
    const stat = await array.put('rotten', content);
    const data = stat.groups[0]!.extents.find((extent) => extent.role === 'data')!;
    rot(devices[data.deviceId - 1]!, data.startLb);
    const repaired: ArrayEvent[] = [];
    array.on('blockRepaired', (event) => repaired.push(event));
    expect((await array.get('rotten')).equals(content)).toBe(true);
    expect(repaired).toHaveLength(1);
    expect(repaired[0]).toMatchObject({ type: 'blockRepaired', deviceId: data.deviceId });
    expect(typeof (repaired[0] as { groupId: number }).groupId).toBe('number');
    expect(array.status().repairedBlocks).toBe(1);
    expect((await array.fsck({ deep: true })).problems).toEqual([]);
    array.assertInvariants();
  });

  it('lowSpace fires once when free space falls under the threshold, again after it was back above', async () => {
    ({ array: suite.array } = await createTempArray(suite.dir, { deviceCount: 3, deviceBytes: 32 * MIB, extentLbMax: 16, policies: { probeIntervalMs: Infinity, rebuildDelayMs: Infinity, autoExpand: false, lowSpaceFraction: 0.5 } }));
    const array = suite.array;
    const low: ArrayEvent[] = [];
    array.on('lowSpace', (event) => low.push(event));
    const capacity = array.status().capacityBytes;
    await array.put('small', patternBytes(MIB, 1));
    expect(low).toEqual([]);
    // Parity 1 over 3 devices: a file takes 1.5x its size (60% of the capacity here).
    await array.put('big', patternBytes(Math.floor(capacity * 0.4), 2));
    expect(low).toHaveLength(1);
    const event = low[0]! as { freeBytes: number; capacityBytes: number };
    expect(event.capacityBytes).toBe(capacity);
    expect(event.freeBytes).toBeLessThan(capacity * 0.5);
    expect(event.freeBytes).toBe(capacity - array.status().allocatedBytes);
    await array.put('more', patternBytes(MIB, 3));
    expect(low).toHaveLength(1); // once per crossing
    await array.delete('big');
    await array.delete('more');
    await new Promise((resolve) => setTimeout(resolve, 50)); // frees land once durable
    await array.put('small', patternBytes(MIB, 4));
    await array.put('big', patternBytes(Math.floor(capacity * 0.4), 5));
    expect(low).toHaveLength(2);
    array.assertInvariants();
  });

  it('a listener that throws does not fail the call, and the other listeners still get the event', async () => {
    ({ array: suite.array } = await createTempArray(suite.dir, { deviceCount: 3 }));
    const array = suite.array;
    const warnings: string[] = [];
    const onWarning = (warning: Error) => warnings.push(warning.message);
    process.on('warning', onWarning);
    try {
      const seen: string[] = [];
      array.on('deviceFailed', () => {
        throw new Error('listener bug');
      });
      array.on('deviceFailed', (event) => seen.push(event.path));
      await array.failDevice(1);
      expect(seen).toHaveLength(1);
      await new Promise((resolve) => setImmediate(resolve));
      expect(warnings.join('\n')).toMatch(/listener bug/);
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('the recent log keeps the last RECENT_EVENTS_MAX events in order', () => {
    const bus = new ArrayEventBus();
    for (let i = 0; i < RECENT_EVENTS_MAX + 20; i++) bus.emit({ type: 'blockRepaired', groupId: i, deviceId: 1 });
    bus.emit({ type: 'jobProgress', jobId: 1, kind: 'scrub', doneBytes: 1 });
    const recent = bus.recentEvents();
    expect(recent).toHaveLength(RECENT_EVENTS_MAX);
    expect((recent[0] as { groupId: number }).groupId).toBe(20);
    bus.assertInvariants();
    // jobProgress is rate-limited per job; the forced one (a job's last) always goes out.
    const got: number[] = [];
    bus.on('jobProgress', (event) => got.push(event.doneBytes));
    bus.emit({ type: 'jobProgress', jobId: 2, kind: 'scrub', doneBytes: 1 });
    bus.emit({ type: 'jobProgress', jobId: 2, kind: 'scrub', doneBytes: 2 });
    bus.emit({ type: 'jobProgress', jobId: 2, kind: 'scrub', doneBytes: 3 }, true);
    expect(got).toEqual([1, 3]);
  });

  it('refuses bad policies with INVALID_ARGUMENT before opening anything', async () => {
    await expect(createTempArray(suite.dir, { policies: { rebuildDelayMs: -1 } })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });
});
