// Jobs must tell the truth (issue 12, section C): a job that leaves work undone is recorded as
// such, a device being removed stays draining until the remove finishes or is cancelled, a
// remove the other devices cannot hold is refused before anything moves, and status counters
// outlive the process.
import { describe, expect, it } from 'vitest';
import { DiskArray } from '../../src/array/disk_array.js';
import { createTempArray, MIB, patternBytes, TEST_RUNTIME, useArraySuite } from '../helpers/temp_array.js';
import { expectFiles } from '../helpers/file_sets.js';

const suite = useArraySuite();

async function fill(target: DiskArray, count: number, sizeBytes: number, seed: number): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  for (let i = 0; i < count; i++) {
    const content = patternBytes(sizeBytes, seed + i);
    await target.put(`f${seed}-${i}`, content);
    files.set(`f${seed}-${i}`, content);
  }
  return files;
}

describe('an unfinished job is not recorded as done (item 11)', () => {
  it('a rebuild that leaves groups it cannot move is recorded incomplete, and a later full run is done', async () => {
    let home: string;
    ({ array: suite.array, home } = await createTempArray(suite.dir, { deviceCount: 3, deviceBytes: 32 * MIB, parityCount: 1, extentLbMax: 16 }));
    // 2+1 groups on three devices, about 80% full: with one device gone, no group has a device
    // outside it, and there is not room enough to rewrite every group narrower (1+1).
    const files = await fill(suite.array, 9, 4 * MIB, 1100);
    await suite.array.failDevice(3);
    const report = await suite.array.rebuild();
    expect(report.problems.length).toBeGreaterThan(0);
    expect(report.removedDeviceIds).toEqual([]);
    expect(suite.array.status().jobs[0]).toMatchObject({ kind: 'rebuild', state: 'incomplete' });
    await expectFiles(suite.array, files);
    await suite.array.close();
    suite.array = await DiskArray.open(home, TEST_RUNTIME);
    expect(suite.array.status().jobs[0]).toMatchObject({ kind: 'rebuild', state: 'incomplete' });
    // Freeing space lets the next run finish: recorded done.
    for (const name of [...files.keys()].slice(0, 6)) {
      await suite.array.delete(name);
      files.delete(name);
    }
    const rest = await suite.array.rebuild();
    expect(rest.problems).toEqual([]);
    expect(suite.array.status().jobs[0]).toMatchObject({ kind: 'rebuild', state: 'done' });
    await expectFiles(suite.array, files);
  });
});

describe('status counters outlive the process (item 15)', () => {
  it('degraded reads, repaired blocks and read errors per device are kept in the home', async () => {
    const { FaultyDevice } = await import('../sim/faulty_device.js');
    const { openDevice } = await import('../../src/devices/open_device.js');
    let home: string;
    ({ array: suite.array, home } = await createTempArray(suite.dir, { deviceCount: 3, parityCount: 1, extentLbMax: 16 }));
    const content = patternBytes(2 * MIB, 1500);
    await suite.array.put('x', content);
    await suite.array.close();
    const faulty = new Map<string, InstanceType<typeof FaultyDevice>>();
    suite.array = await DiskArray.open(home, {
      ...TEST_RUNTIME,
      openDevice: async (path, options) => {
        const device = new FaultyDevice(await openDevice(path, options));
        faulty.set(path, device);
        return device;
      },
    });
    const victim = suite.array.status().devices[1]!;
    faulty.get(victim.path)!.plan.readErrorRate = 1;
    expect((await suite.array.get('x')).equals(content)).toBe(true);
    faulty.get(victim.path)!.plan.readErrorRate = 0;
    const during = suite.array.status();
    expect(during.degradedReads).toBeGreaterThan(0);
    expect(during.repairedBlocks).toBeGreaterThan(0);
    expect(during.devices[1]!.readErrors).toBeGreaterThan(0);
    expect(during.devices[0]!.readErrors).toBe(0);
    await suite.array.close();

    suite.array = await DiskArray.open(home, TEST_RUNTIME);
    const after = suite.array.status();
    expect(after.degradedReads).toBe(during.degradedReads);
    expect(after.repairedBlocks).toBe(during.repairedBlocks);
    expect(after.devices.map((device) => device.readErrors)).toEqual(during.devices.map((device) => device.readErrors));
  });
});

describe('a device being removed stays draining (item 12)', () => {
  it('an aborted remove leaves the device draining across reopen: puts avoid it, and remove again finishes', async () => {
    let home: string;
    ({ array: suite.array, home } = await createTempArray(suite.dir, { deviceCount: 4, parityCount: 1, maxDataWidth: 2, extentLbMax: 8 }));
    const files = await fill(suite.array, 4, 2 * MIB, 1200);
    const controller = new AbortController();
    await expect(suite.array.removeDevice(2, { signal: controller.signal, onProgress: () => controller.abort() })).rejects.toMatchObject({ code: 'ABORTED' });
    expect(suite.array.status().devices.find((device) => device.deviceId === 2)).toMatchObject({ state: 'draining' });
    await suite.array.close();
    suite.array = await DiskArray.open(home, TEST_RUNTIME);
    const reopened = suite.array.status();
    expect(reopened.devices.find((device) => device.deviceId === 2)).toMatchObject({ state: 'draining' });
    expect(reopened.degraded).toBe(false);
    // New data never lands on a draining device.
    const stat = await suite.array.put('after', patternBytes(3 * MIB, 1250));
    expect(stat.groups.flatMap((group) => group.extents).some((extent) => extent.deviceId === 2)).toBe(false);
    files.set('after', patternBytes(3 * MIB, 1250));
    expect((await suite.array.fsck()).problems).toEqual([]);
    // Running remove again finishes it.
    await suite.array.removeDevice(2);
    expect(suite.array.status().devices.map((device) => device.deviceId)).toEqual([1, 3, 4]);
    await expectFiles(suite.array, files);
    expect((await suite.array.fsck({ deep: true })).problems).toEqual([]);
  });

  it('cancelRemove puts a draining device back to online, for good', async () => {
    let home: string;
    ({ array: suite.array, home } = await createTempArray(suite.dir, { deviceCount: 4, parityCount: 1, maxDataWidth: 3, extentLbMax: 8 }));
    const files = await fill(suite.array, 3, 2 * MIB, 1300);
    await expect(suite.array.cancelRemove(3)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' }); // not being removed
    await expect(suite.array.cancelRemove(9)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    const controller = new AbortController();
    await expect(suite.array.removeDevice(3, { signal: controller.signal, onProgress: () => controller.abort() })).rejects.toMatchObject({ code: 'ABORTED' });
    await suite.array.cancelRemove(3);
    expect(suite.array.status().devices.find((device) => device.deviceId === 3)).toMatchObject({ state: 'online' });
    await suite.array.close();
    suite.array = await DiskArray.open(home, TEST_RUNTIME);
    expect(suite.array.status().devices.find((device) => device.deviceId === 3)).toMatchObject({ state: 'online' });
    // Placeable again: a full-width group uses every device.
    const stat = await suite.array.put('wide', patternBytes(MIB, 1350));
    expect(stat.groups[0]!.extents.some((extent) => extent.deviceId === 3)).toBe(true);
    await expectFiles(suite.array, files);
  });
});

describe('remove checks capacity before it moves anything (item 13)', () => {
  it('refuses with NO_SPACE up front when the others cannot hold the data, changing nothing', async () => {
    ({ array: suite.array } = await createTempArray(suite.dir, { deviceCount: 4, deviceBytes: 32 * MIB, parityCount: 1, extentLbMax: 16 }));
    const files = await fill(suite.array, 16, 4 * MIB, 1400); // about 72% full, 3+1 groups
    const before = suite.array.status();
    const layout = [...files.keys()].map((name) => JSON.stringify(suite.array!.stat(name).groups));
    const progress: number[] = [];
    await expect(suite.array.removeDevice(4, { onProgress: (p) => progress.push(p.doneBytes) })).rejects.toMatchObject({
      code: 'NO_SPACE',
      message: expect.stringMatching(/device 4/),
    });
    expect(progress).toEqual([]);
    const after = suite.array.status();
    expect(after.allocatedBytes).toBe(before.allocatedBytes);
    expect(after.devices.map((device) => device.state)).toEqual(['online', 'online', 'online', 'online']);
    expect(after.jobs).toEqual(before.jobs);
    expect([...files.keys()].map((name) => JSON.stringify(suite.array!.stat(name).groups))).toEqual(layout);
    await expectFiles(suite.array, files);
    suite.array.assertInvariants();
  });

  it('refuses up front when too few devices would be left for any group', async () => {
    ({ array: suite.array } = await createTempArray(suite.dir, { deviceCount: 3, parityCount: 2, extentLbMax: 16 }));
    await fill(suite.array, 1, MIB, 1450);
    const before = JSON.stringify(suite.array.stat('f1450-0').groups);
    await expect(suite.array.removeDevice(1)).rejects.toMatchObject({ code: 'NO_SPACE', message: expect.stringMatching(/parity 2/) });
    expect(JSON.stringify(suite.array.stat('f1450-0').groups)).toBe(before);
    expect(suite.array.status().jobs).toEqual([]);
  });
});

describe('reports agree with themselves (item 15)', () => {
  it('blocks of groups rewritten narrower count as moved: never "moved 0 blocks (N MiB)"', async () => {
    ({ array: suite.array } = await createTempArray(suite.dir, { deviceCount: 3, parityCount: 1, extentLbMax: 16 }));
    await fill(suite.array, 2, MIB, 1600);
    const report = await suite.array.removeDevice(2);
    expect(report.restripedGroups).toBeGreaterThan(0);
    expect(report.movedBlocks).toBeGreaterThanOrEqual(report.restripedGroups);
    expect(report.movedBytes).toBeGreaterThan(0);
  });
});
