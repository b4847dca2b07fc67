// The movers at device speed: moves share flushes and metadata commits per batch, a rebuild
// spreads its writes over every survivor (also when groups span them all), jobs back off for
// foreground puts and gets by themselves, and a rebalance looks at each extent at most once.
// Every job ends with the invariants and a deep fsck clean; crash safety under SIGKILL of the
// batched moves is test/integration/crash_consistency.test.ts (rebuild, remove, rebalance foci).
import { describe, expect, it } from 'vitest';
import type { DiskArray } from '../../src/array/disk_array.js';
import { ForegroundBackoff, QUIET_MS } from '../../src/array/foreground_backoff.js';
import { BATCH_GROUPS_MAX } from '../../src/array/device_jobs.js';
import { createTempArray, MIB, useArraySuite } from '../helpers/temp_array.js';
import { putFiles } from '../helpers/file_sets.js';

const suite = useArraySuite();

async function expectIntact(target: DiskArray, files: Map<string, Buffer>): Promise<void> {
  target.assertInvariants();
  expect((await target.fsck({ deep: true })).problems).toEqual([]);
  for (const [name, content] of files) expect((await target.get(name)).equals(content), name).toBe(true);
}

function usedByDevice(target: DiskArray): Map<number, number> {
  return new Map(target.status().devices.map((device) => [device.deviceId, device.usedBytes]));
}

describe('batched moves', () => {
  it('a rebuild commits once and flushes each target once per batch, not per block', async () => {
    ({ array: suite.array } = await createTempArray(suite.dir, { deviceCount: 6, parityCount: 1, maxDataWidth: 3, extentLbMax: 8 }));
    const files = await putFiles(suite.array, 6, 3 * MIB, 300);
    await suite.array.failDevice(4);
    const seqBefore = suite.array.status().metadata.seq;
    const report = await suite.array.rebuild();
    expect(report.problems).toEqual([]);
    expect(report.movedBlocks).toBeGreaterThan(2 * BATCH_GROUPS_MAX);
    expect(report.batches).toBeGreaterThan(0);
    // One metadata commit per batch and at most one flush per target device per batch.
    expect(report.commits).toBe(report.batches);
    expect(report.flushes).toBeLessThanOrEqual(report.batches * 5);
    expect(report.batches).toBeLessThanOrEqual(Math.ceil(report.movedBlocks / BATCH_GROUPS_MAX) + 1);
    // The change sets journaled for the moves: one per batch (plus the device's removal).
    expect(suite.array.status().metadata.seq - seqBefore).toBeLessThanOrEqual(report.batches + 2);
    await expectIntact(suite.array, files);
  });

  it('a remove and a rebalance batch their moves too, and leave everything intact', async () => {
    ({ array: suite.array } = await createTempArray(suite.dir, { deviceCount: 5, parityCount: 1, maxDataWidth: 2, extentLbMax: 8 }));
    const files = await putFiles(suite.array, 6, 1 * MIB, 400);
    const removed = await suite.array.removeDevice(3);
    expect(removed.problems).toEqual([]);
    expect(removed.commits).toBe(removed.batches);
    expect(removed.movedBlocks).toBeGreaterThan(removed.batches);
    await expectIntact(suite.array, files);
    await suite.array.addDevice(suite.dir.file('added.img'), { createSizeBytes: 64 * MIB, expand: false });
    const balanced = await suite.array.rebalance();
    expect(balanced.movedBlocks).toBeGreaterThan(balanced.batches);
    expect(balanced.commits).toBe(balanced.batches);
    await expectIntact(suite.array, files);
  });
});

describe('distributed rebuild', () => {
  it('spreads the rebuilt blocks over every survivor (groups narrower than the array)', async () => {
    ({ array: suite.array } = await createTempArray(suite.dir, { deviceCount: 8, parityCount: 1, maxDataWidth: 2, extentLbMax: 8 }));
    const files = await putFiles(suite.array, 6, 1 * MIB, 500);
    await suite.array.failDevice(5);
    const before = usedByDevice(suite.array);
    const report = await suite.array.rebuild();
    expect(report.problems).toEqual([]);
    const after = usedByDevice(suite.array);
    const survivors = [1, 2, 3, 4, 6, 7, 8];
    // Every survivor took a share of the writes, none more than about twice another's.
    const gained = survivors.map((deviceId) => after.get(deviceId)! - before.get(deviceId)!);
    expect(Math.min(...gained)).toBeGreaterThan(0);
    expect(Math.max(...gained)).toBeLessThanOrEqual(2 * Math.min(...gained) + 8 * 4096);
    expect(Object.keys(report.blocksByTargetDevice).map(Number).sort((a, b) => a - b)).toEqual(survivors);
    await expectIntact(suite.array, files);
  });

  it('groups that span every survivor are rewritten narrower, so the writes still reach every survivor', async () => {
    ({ array: suite.array } = await createTempArray(suite.dir, { deviceCount: 5, parityCount: 1, maxDataWidth: 4, extentLbMax: 8 }));
    const files = await putFiles(suite.array, 4, 1 * MIB, 600);
    await suite.array.failDevice(2);
    const before = usedByDevice(suite.array);
    const seqBefore = suite.array.status().metadata.seq;
    const report = await suite.array.rebuild();
    expect(report.problems).toEqual([]);
    expect(report.restripedGroups).toBeGreaterThan(0);
    // Rewritten in batches too: one commit per batch and at most one flush per device each,
    // not a flush set and a commit per group (one journaled change set per batch, plus the removal).
    expect(report.batches).toBeGreaterThan(0);
    expect(report.commits).toBe(report.batches);
    expect(report.batches).toBeLessThan(report.restripedGroups);
    expect(report.flushes).toBeLessThanOrEqual(4 * report.batches);
    expect(suite.array.status().metadata.seq - seqBefore).toBeLessThanOrEqual(report.batches + 2);
    const after = usedByDevice(suite.array);
    for (const deviceId of [1, 3, 4, 5]) expect(after.get(deviceId)!, `device ${deviceId}`).toBeGreaterThan(before.get(deviceId)!);
    await expectIntact(suite.array, files);
  });
});

describe('foreground backoff', () => {
  it('admits every batch at once while idle, one at a time with a rest while a put or get is in flight', async () => {
    const backoff = new ForegroundBackoff();
    const first = await backoff.admit();
    const second = await backoff.admit(); // idle: lanes run side by side
    first();
    second();
    expect(backoff.yields).toBe(0);

    const endGet = backoff.begin();
    expect(backoff.busy).toBe(true);
    const running = await backoff.admit(); // nothing in flight: one batch may go (after the idle batches' rest)
    const yieldsBefore = backoff.yields;
    let admitted = false;
    const waiting = backoff.admit().then((done) => {
      admitted = true;
      return done;
    });
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(admitted).toBe(false); // a second batch waits while the first runs under foreground load
    running();
    endGet();
    (await waiting)();
    expect(admitted).toBe(true);
    expect(backoff.yields - yieldsBefore).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, QUIET_MS + 5));
    expect(backoff.busy).toBe(false);
    backoff.assertInvariants();
  });

  it('a rebuild yields to gets running beside it, and not when nothing else runs', async () => {
    ({ array: suite.array } = await createTempArray(suite.dir, { deviceCount: 6, parityCount: 1, maxDataWidth: 2, extentLbMax: 8 }));
    const files = await putFiles(suite.array, 6, 1 * MIB, 700);
    await suite.array.failDevice(1);
    let reading = true;
    const reader = (async () => {
      let reads = 0;
      while (reading) {
        for (const [name, content] of files) {
          expect((await suite.array!.get(name)).equals(content)).toBe(true);
          reads++;
        }
      }
      return reads;
    })();
    const report = await suite.array.rebuild();
    reading = false;
    expect(await reader).toBeGreaterThan(0);
    expect(report.problems).toEqual([]);
    expect(report.foregroundYields).toBeGreaterThan(0);
    await expectIntact(suite.array, files);

    // Nothing in the foreground: the job never waits.
    await suite.array.failDevice(2);
    await new Promise((resolve) => setTimeout(resolve, QUIET_MS + 5));
    const alone = await suite.array.rebuild();
    expect(alone.movedBlocks).toBeGreaterThan(0);
    expect(alone.foregroundYields).toBe(0);
    await expectIntact(suite.array, files);
  });
});

describe('rebalance work', () => {
  it('looks at each extent at most once (no rescan per move)', async () => {
    ({ array: suite.array } = await createTempArray(suite.dir, { deviceCount: 4, parityCount: 1, maxDataWidth: 2, extentLbMax: 2 }));
    const files = await putFiles(suite.array, 4, 2 * MIB, 800);
    await suite.array.addDevice(suite.dir.file('new1.img'), { createSizeBytes: 64 * MIB, expand: false });
    const extents = suite.array.status().devices.reduce((sum, device) => sum + device.usedBytes, 0) / (2 * 4096);
    const report = await suite.array.rebalance();
    expect(report.movedBlocks).toBeGreaterThan(100);
    // A rescan per move would look at ~(extents on the fullest device) per move: thousands of
    // times more than this bound.
    expect(report.examinedExtents).toBeLessThanOrEqual(extents);
    expect(report.examinedExtents).toBeGreaterThanOrEqual(report.movedBlocks);
    const fractions = suite.array.status().devices.map((device) => device.usedFraction);
    expect(Math.max(...fractions) - Math.min(...fractions)).toBeLessThanOrEqual(0.02 + (2 * 4096) / (64 * MIB));
    await expectIntact(suite.array, files);
  });
});
