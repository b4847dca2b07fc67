// Jobs that move blocks between devices: rebuild after a failure, remove (evacuate), rebalance.
// Every job runs online, with reads and writes going on, and leaves a deep-fsck-clean array.
import { renameSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DiskArray } from '../../src/array/disk_array.js';
import { createTempArray, MIB, patternBytes, TEST_RUNTIME, useArraySuite } from '../helpers/temp_array.js';
import { expectFiles, putFiles } from '../helpers/file_sets.js';

const suite = useArraySuite();

async function expectClean(target: DiskArray): Promise<void> {
  target.assertInvariants();
  expect((await target.fsck({ deep: true })).problems).toEqual([]);
}

describe('rebuild', () => {
  it('rebuilds a failed device onto the survivors, spread over them, and removes it', async () => {
    let home: string;
    ({ array: suite.array, home } = await createTempArray(suite.dir, { deviceCount: 6, parityCount: 1, maxDataWidth: 3, extentLbMax: 16 }));
    const files = await putFiles(suite.array, 6, 2 * MIB, 100);
    await suite.array.failDevice(2);
    expect(suite.array.status().devices[1]).toMatchObject({ state: 'failed' });
    await expectFiles(suite.array, files); // degraded reads meanwhile

    const progress: number[] = [];
    const duringContent = patternBytes(3 * MIB, 7);
    const during = suite.array.put('during-rebuild', duringContent); // writes go on, avoiding device 2
    const report = await suite.array.rebuild({ onProgress: (p) => progress.push(p.doneBytes) });
    await during;
    // The put made during the rebuild reads back (now, after the checks below, and after reopen).
    expect((await suite.array.get('during-rebuild')).equals(duringContent)).toBe(true);
    files.set('during-rebuild', duringContent);
    expect(report.problems).toEqual([]);
    expect(report.movedBlocks).toBeGreaterThan(0);
    expect(report.removedDeviceIds).toEqual([2]);
    expect(progress.at(-1)).toBe(report.movedBytes);

    const status = suite.array.status();
    expect(status.degraded).toBe(false);
    expect(status.devices.map((device) => device.deviceId)).toEqual([1, 3, 4, 5, 6]);
    // Distributed, not one spare: the rebuilt blocks spread over the survivors outside their
    // groups, none of them taking more than about twice another's share.
    const perTarget = Object.values(report.blocksByTargetDevice);
    expect(perTarget.length).toBeGreaterThanOrEqual(3);
    expect(Math.max(...perTarget)).toBeLessThanOrEqual(2 * Math.min(...perTarget) + 1);
    const degradedAfterRebuild = suite.array.status().degradedReads;
    await expectFiles(suite.array, files);
    expect(suite.array.status().degradedReads).toBe(degradedAfterRebuild); // nothing needs reconstruction any more
    await expectClean(suite.array);

    await suite.array.close();
    suite.array = await DiskArray.open(home, TEST_RUNTIME);
    expect(suite.array.status().devices).toHaveLength(5);
    await expectFiles(suite.array, files);
  });

  it('rebuilds a device that went missing, and a failed device stays failed across reopen', async () => {
    let home: string;
    let devices: string[];
    ({ array: suite.array, home, devices } = await createTempArray(suite.dir, { deviceCount: 5, parityCount: 2, maxDataWidth: 2, extentLbMax: 16 }));
    const files = await putFiles(suite.array, 4, MIB, 200);
    await suite.array.failDevice(1);
    await suite.array.close();
    renameSync(devices[3]!, `${devices[3]}.gone`);
    suite.array = await DiskArray.open(home, TEST_RUNTIME);
    expect(suite.array.status().devices.map((device) => device.state)).toEqual(['failed', 'online', 'online', 'missing', 'online']);
    await expect(suite.array.failDevice(2)).rejects.toMatchObject({ code: 'TOO_MANY_ERASURES' });
    await expectFiles(suite.array, files);
    // Three devices are left for groups of width 4: no block of a 2+2 group can find a device
    // outside its group, so the rebuild rewrites those groups narrower (1+2) over the three.
    const report = await suite.array.rebuild();
    expect(report.problems).toEqual([]);
    expect(report.restripedGroups).toBeGreaterThan(0);
    expect(report.removedDeviceIds).toEqual([1, 4]);
    expect(suite.array.status().degraded).toBe(false);
    for (const name of files.keys()) expect(suite.array.stat(name).groups.every((group) => group.dataCount === 1 && group.extents.length === 3)).toBe(true);
    await expectFiles(suite.array, files);
    await expectClean(suite.array);
  });
});

describe('removeDevice', () => {
  it('evacuates a healthy device while reads go on, then forgets it', async () => {
    ({ array: suite.array } = await createTempArray(suite.dir, { deviceCount: 5, parityCount: 1, maxDataWidth: 2, extentLbMax: 16 }));
    const files = await putFiles(suite.array, 5, 2 * MIB, 300);
    const reads = expectFiles(suite.array, files);
    const report = await suite.array.removeDevice(3);
    await reads;
    expect(report.movedBlocks).toBeGreaterThan(0);
    expect(suite.array.status().devices.map((device) => device.deviceId)).toEqual([1, 2, 4, 5]);
    await expectFiles(suite.array, files);
    await expectClean(suite.array);
  });

  it('rewrites groups narrower when the device count drops below their width', async () => {
    ({ array: suite.array } = await createTempArray(suite.dir, { deviceCount: 3, parityCount: 1, extentLbMax: 16 }));
    const files = await putFiles(suite.array, 2, MIB, 400);
    const report = await suite.array.removeDevice(2);
    expect(report.restripedGroups).toBeGreaterThan(0);
    for (const name of files.keys()) expect(suite.array.stat(name).groups.every((group) => group.dataCount === 1)).toBe(true);
    await expectFiles(suite.array, files);
    await expectClean(suite.array);
  });

  it('refuses with NO_SPACE when no group fits on the devices left, keeping everything', async () => {
    ({ array: suite.array } = await createTempArray(suite.dir, { deviceCount: 2, parityCount: 1, extentLbMax: 16 }));
    const files = await putFiles(suite.array, 2, MIB, 450);
    await expect(suite.array.removeDevice(2)).rejects.toMatchObject({ code: 'NO_SPACE' });
    expect(suite.array.status().devices).toHaveLength(2);
    await expectFiles(suite.array, files);
    await expectClean(suite.array);
    await expect(suite.array.removeDevice(9)).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });
});

describe('rebalance', () => {
  it('moves blocks onto added devices until used fractions are within 2%, moving little more than needed', async () => {
    ({ array: suite.array } = await createTempArray(suite.dir, { deviceCount: 4, parityCount: 1, maxDataWidth: 2, extentLbMax: 8 }));
    const files = await putFiles(suite.array, 8, 2 * MIB, 500);
    await suite.array.addDevice(suite.dir.file('new1.img'), { createSizeBytes: 64 * MIB, expand: false });
    await suite.array.addDevice(suite.dir.file('new2.img'), { createSizeBytes: 128 * MIB, expand: false });
    const before = suite.array.status();
    const meanFraction = before.allocatedBytes / before.capacityBytes;
    const idealBytes = before.devices.reduce((sum, device) => sum + Math.max(0, device.usedBytes - meanFraction * device.capacityBytes), 0);

    const report = await suite.array.rebalance();
    const fractions = suite.array.status().devices.map((device) => device.usedFraction);
    expect(Math.max(...fractions) - Math.min(...fractions)).toBeLessThanOrEqual(0.02 + (8 * 4096) / (64 * MIB));
    expect(report.movedBytes).toBeGreaterThan(0);
    expect(report.movedBytes).toBeLessThanOrEqual(idealBytes * 1.1 + 8 * 4096);
    await expectFiles(suite.array, files);
    await expectClean(suite.array);
    // Balanced already: a second rebalance moves nothing.
    expect((await suite.array.rebalance()).movedBlocks).toBe(0);
  });

  it('paces itself to rateBytesPerSec', async () => {
    ({ array: suite.array } = await createTempArray(suite.dir, { deviceCount: 3, parityCount: 1, maxDataWidth: 2, extentLbMax: 16 }));
    await putFiles(suite.array, 4, 2 * MIB, 650);
    await suite.array.addDevice(suite.dir.file('new.img'), { createSizeBytes: 64 * MIB, expand: false });
    const startMs = performance.now();
    const report = await suite.array.rebalance({ rateBytesPerSec: 16 * MIB });
    expect(report.movedBytes).toBeGreaterThan(MIB);
    expect(performance.now() - startMs).toBeGreaterThanOrEqual((report.movedBytes / (16 * MIB)) * 1000 - 20);
  });

  it('stops at an abort and continues where it stopped', async () => {
    ({ array: suite.array } = await createTempArray(suite.dir, { deviceCount: 3, parityCount: 1, maxDataWidth: 2, extentLbMax: 4 }));
    const files = await putFiles(suite.array, 4, 2 * MIB, 600);
    await suite.array.addDevice(suite.dir.file('new.img'), { createSizeBytes: 64 * MIB, expand: false });
    const controller = new AbortController();
    const aborted = suite.array.rebalance({ signal: controller.signal, onProgress: () => controller.abort() });
    await expect(aborted).rejects.toMatchObject({ code: 'ABORTED' });
    suite.array.assertInvariants();
    expect(suite.array.status().jobs[0]).toMatchObject({ kind: 'rebalance', state: 'aborted', progress: { doneBytes: expect.any(Number) } });
    const rest = await suite.array.rebalance();
    expect(suite.array.status().jobs[0]).toMatchObject({ kind: 'rebalance', state: 'done' });
    expect(rest.movedBlocks).toBeGreaterThan(0);
    await expectFiles(suite.array, files);
    await expectClean(suite.array);
  });
});
