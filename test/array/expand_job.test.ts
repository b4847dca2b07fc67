// The expand job: combine + rebalance after a device add, online under load, cancellable and
// resumable, with a device failing in the middle, and with a device mix that cannot balance.
import { describe, expect, it } from 'vitest';
import { DiskArray } from '../../src/array/disk_array.js';
import { openDevice } from '../../src/devices/open_device.js';
import { FaultyDevice } from '../sim/faulty_device.js';
import { createTempArray, MIB, patternBytes, TEST_RUNTIME, useArraySuite } from '../helpers/temp_array.js';
import { expectFiles, putFiles } from '../helpers/file_sets.js';

const suite = useArraySuite();

async function expectClean(array: DiskArray): Promise<void> {
  array.assertInvariants();
  expect((await array.fsck({ deep: true })).problems).toEqual([]);
}

describe('expand', () => {
  it('runs under a concurrent put/get load, every byte verified', async () => {
    ({ array: suite.array } = await createTempArray(suite.dir, { deviceCount: 4, parityCount: 1, extentLbMax: 16 }));
    const array = suite.array;
    const files = await putFiles(array, 6, 3 * MIB, 100, 'file');
    await array.addDevice(suite.dir.file('new.img'), { createSizeBytes: 64 * MIB, expand: false });
    let done = false;
    const expanding = array.expand().finally(() => (done = true));
    let round = 0;
    const written = new Map<string, Buffer>();
    while (!done) {
      // Gets of files the expand is combining, and puts (new files and overwrites) beside it.
      const [name, content] = [...files][round % files.size]!;
      expect((await array.get(name)).equals(content), name).toBe(true);
      const fresh = patternBytes(MIB + round * 511, 900 + round);
      const target = round % 3 === 0 ? [...files.keys()][round % files.size]! : `during${round}`;
      await array.put(target, fresh);
      if (files.has(target)) files.set(target, fresh);
      else written.set(target, fresh);
      round++;
    }
    const report = await expanding;
    // An overwritten file is reported (it changed under its combine), never damaged.
    for (const problem of report.problems) expect(problem).toMatch(/changed during its combine/);
    expect(report.combine.combinedGroups).toBeGreaterThan(0);
    expect(round).toBeGreaterThan(0);
    // The combine gave way to the puts and gets (it backs off as the movers do).
    expect(report.combine.foregroundYields).toBeGreaterThan(0);
    await expectFiles(array, files);
    await expectFiles(array, written);
    await expectClean(array);
  });

  it('stops at an abort, shows in status, and continues where it stopped', async () => {
    let home: string;
    ({ array: suite.array, home } = await createTempArray(suite.dir, { deviceCount: 4, parityCount: 1, extentLbMax: 8 }));
    const files = await putFiles(suite.array, 4, 2 * MIB, 200, 'file');
    await suite.array.addDevice(suite.dir.file('new.img'), { createSizeBytes: 64 * MIB, expand: false });
    const controller = new AbortController();
    await expect(suite.array.expand({ signal: controller.signal, onProgress: () => controller.abort() })).rejects.toMatchObject({ code: 'ABORTED' });
    suite.array.assertInvariants();
    expect(suite.array.status().jobs[0]).toMatchObject({ kind: 'expand', state: 'aborted', progress: { doneBytes: expect.any(Number), phase: 'combine' } });
    // Across a reopen too: the combined units stay combined, the rest is still narrow.
    await suite.array.close();
    suite.array = await DiskArray.open(home, TEST_RUNTIME);
    const rest = await suite.array.expand();
    expect(rest.problems).toEqual([]);
    expect(rest.combine.combinedGroups).toBeGreaterThan(0);
    expect(suite.array.status().jobs[0]).toMatchObject({ kind: 'expand', state: 'done' });
    for (const name of files.keys()) {
      const groups = suite.array.stat(name).groups;
      // Every file of 16+ blocks has its full groups at the new width.
      expect(groups.filter((group) => group.extentLb === 8 && group.dataCount === 3).length, name).toBeLessThanOrEqual(3);
    }
    await expectFiles(suite.array, files);
    await expectClean(suite.array);
  });

  it('survives a device that fails in the middle: nothing is lost, rebuild restores redundancy', async () => {
    let home: string;
    ({ array: suite.array, home } = await createTempArray(suite.dir, { deviceCount: 4, parityCount: 1, extentLbMax: 16 }));
    const files = await putFiles(suite.array, 5, 3 * MIB, 300, 'file');
    await suite.array.close();
    const faulty = new Map<string, FaultyDevice>();
    suite.array = await DiskArray.open(home, {
      ...TEST_RUNTIME,
      openDevice: async (path, options) => {
        const device = new FaultyDevice(await openDevice(path, options));
        faulty.set(path, device);
        return device;
      },
    });
    await suite.array.addDevice(suite.dir.file('new.img'), { createSizeBytes: 64 * MIB, expand: false });
    const victim = suite.array.status().devices[1]!;
    let pulled = false;
    const outcome = await suite.array
      .expand({
        onProgress: () => {
          if (pulled) return;
          pulled = true;
          faulty.get(victim.path)!.pull();
        },
      })
      .then((report) => ({ report }), (error: unknown) => ({ error }));
    expect(pulled).toBe(true);
    // Either the expand finished around the dead device (reporting what it could not do) or it
    // failed with the device error; either way every file reads, degraded.
    if ('error' in outcome) expect(outcome.error).toMatchObject({ code: expect.stringMatching(/DEVICE_FAILED|DEVICE_IO/) });
    await expectFiles(suite.array, files);
    const status = suite.array.status();
    // A pulled device stopped answering: missing (not failed; device_lifecycle.ts).
    expect(status.devices.find((device) => device.deviceId === victim.deviceId)!.state).toBe('missing');
    await suite.array.rebuild();
    await expectFiles(suite.array, files);
    await expectClean(suite.array);
    // The expand then finishes on the devices left.
    const again = await suite.array.expand();
    expect(again.problems).toEqual([]);
    await expectFiles(suite.array, files);
    await expectClean(suite.array);
  });

  it('with a device the others cannot match, leaves every group full width (the most data capacity)', async () => {
    ({ array: suite.array } = await createTempArray(suite.dir, { deviceBytes: [32 * MIB, 32 * MIB, 32 * MIB, 32 * MIB], parityCount: 1, extentLbMax: 16 }));
    const files = await putFiles(suite.array, 4, 4 * MIB, 400, 'file');
    const usableBefore = suite.array.status().usableDataBytes;
    const added = await suite.array.addDevice(suite.dir.file('big.img'), { createSizeBytes: 64 * MIB });
    const report = added.expand!;
    expect(report.problems).toEqual([]);
    expect(report.combine.newGroups).toBeGreaterThan(0);
    for (const name of files.keys()) {
      const full = suite.array.stat(name).groups.filter((group) => group.lengthBytes === group.dataCount * group.extentLb * 4096 && group.extentLb === 16);
      // Full groups are 4+1 wide, except leftovers no combine could widen (fewer than 4 old groups).
      expect(full.filter((group) => group.dataCount === 4).length, name).toBeGreaterThan(full.length / 2);
    }
    const status = suite.array.status();
    expect(status.usableDataBytes).toBeGreaterThan(usableBefore);
    expect(status.devices.find((device) => device.deviceId === 5)!.usedBytes).toBeGreaterThan(0);
    // Capacity-weighted usage cannot be even here (each group puts at most one block on the big
    // device); the report says so rather than pretending.
    expect(report.balanced).toBe(report.usageSpread <= 0.02);
    await expectFiles(suite.array, files);
    await expectClean(suite.array);
  });
});
