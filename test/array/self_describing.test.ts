// The self-describing array (issue 7): the devices hold the metadata, so a lost, old or
// foreign home, moved devices, stale devices and copies are all handled from the devices.
import { copyFileSync, cpSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DiskArray } from '../../src/array/disk_array.js';
import { createImageFile } from '../../src/devices/open_device.js';
import { createTempArray, MIB, patternBytes, TEST_RUNTIME, useArraySuite } from '../helpers/temp_array.js';

const suite = useArraySuite();

/** Puts `count` files of varied sizes; returns name -> content. */
async function putFiles(array: DiskArray, count: number, seed: number, sizeMax = 300_000): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  for (let i = 0; i < count; i++) {
    const size = (i * 7919 + seed * 104729) % sizeMax;
    const content = patternBytes(size, seed * 1000 + i);
    await array.put(`f${seed}-${i}`, content);
    files.set(`f${seed}-${i}`, content);
  }
  return files;
}

async function expectFiles(array: DiskArray, files: Map<string, Buffer>): Promise<void> {
  expect(array.list().map((file) => file.name).sort()).toEqual([...files.keys()].sort());
  for (const [name, content] of files) expect((await array.get(name)).equals(content), name).toBe(true);
  array.assertInvariants();
  const fsck = await array.fsck({ deep: true });
  expect(fsck.problems.filter((problem) => !problem.includes(' is missing') && !problem.includes(' is failed') && !problem.includes('on missing or failed devices'))).toEqual([]);
}

describe('the self-describing array', () => {
  for (const parityCount of [1, 2, 3] as const) {
    it(`imports an array whose home was deleted, with parity ${parityCount} and ${parityCount} devices missing`, async () => {
      const { array, devices, home } = await createTempArray(suite.dir, { deviceCount: parityCount + 3, parityCount });
      suite.array = array;
      const files = await putFiles(array, 12, parityCount);
      await array.delete(`f${parityCount}-3`);
      files.delete(`f${parityCount}-3`);
      await array.close();
      rmSync(home, { recursive: true });
      // Remove m devices altogether: the rest must still describe the array.
      const kept = devices.slice(parityCount);
      for (const gone of devices.slice(0, parityCount)) rmSync(gone);
      const imported = await DiskArray.import({ ...TEST_RUNTIME, home: suite.dir.file('home2'), devices: kept, scan: false } as never);
      suite.array = imported;
      const report = imported.status().opened.imported!;
      expect(report.present.map((entry) => entry.path).sort()).toEqual([...kept].sort());
      expect(report.missing.map((entry) => entry.deviceId).sort()).toEqual(Array.from({ length: parityCount }, (_, i) => i + 1));
      await expectFiles(imported, files);
    });
  }

  it('refuses to import with more than m devices missing, and leaves no home behind', async () => {
    const { array, devices, home } = await createTempArray(suite.dir, { deviceCount: 4, parityCount: 1 });
    suite.array = array;
    await putFiles(array, 3, 7);
    await array.close();
    suite.array = undefined;
    rmSync(home, { recursive: true });
    const newHome = suite.dir.file('home2');
    await expect(DiskArray.import({ ...TEST_RUNTIME, home: newHome, devices: devices.slice(2) })).rejects.toMatchObject({ code: 'TOO_MANY_ERASURES' });
    await expect(DiskArray.open(newHome, TEST_RUNTIME)).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('rolls an old home (a restored backup) forward from the devices', async () => {
    const { array, home } = await createTempArray(suite.dir, { deviceCount: 4 });
    suite.array = array;
    const before = await putFiles(array, 5, 11);
    await array.close();
    const backup = suite.dir.file('home-backup');
    cpSync(home, backup, { recursive: true });
    suite.array = await DiskArray.open(home, TEST_RUNTIME);
    const after = await putFiles(suite.array, 5, 12);
    await suite.array.delete('f11-0');
    before.delete('f11-0');
    await suite.array.close();
    rmSync(home, { recursive: true });
    renameSync(backup, home);
    suite.array = await DiskArray.open(home, TEST_RUNTIME);
    expect(suite.array.status().opened.rolledForward).toBeDefined();
    await expectFiles(suite.array, new Map([...before, ...after]));
  });

  it('refuses a foreign home: one whose devices all belong to another array', async () => {
    const first = await createTempArray(suite.dir, { deviceCount: 3 });
    await first.array.close();
    const otherDir = suite.dir.file('other');
    mkdirSync(otherDir);
    const otherDevices = [0, 1, 2].map((i) => join(otherDir, `d${i}.img`));
    for (const path of otherDevices) await createImageFile(path, 64 * MIB);
    const second = await DiskArray.create({ ...TEST_RUNTIME, home: join(otherDir, 'home'), devices: otherDevices });
    await second.close();
    // The first array's home now points at the second array's devices.
    for (const [i, path] of first.devices.entries()) {
      rmSync(path);
      copyFileSync(otherDevices[i]!, path);
    }
    await expect(DiskArray.open(first.home, { ...TEST_RUNTIME, scan: false })).rejects.toMatchObject({ code: 'CORRUPT_METADATA', message: expect.stringContaining('another array') });
  });

  it('refuses to import devices of two arrays at once, and a copied device', async () => {
    const first = await createTempArray(suite.dir, { deviceCount: 3 });
    await first.array.close();
    const otherDevices = [0, 1, 2].map((i) => suite.dir.file(`other${i}.img`));
    for (const path of otherDevices) await createImageFile(path, 64 * MIB);
    await (await DiskArray.create({ ...TEST_RUNTIME, home: suite.dir.file('home-other'), devices: otherDevices })).close();
    await expect(DiskArray.import({ ...TEST_RUNTIME, home: suite.dir.file('h1'), devices: [...first.devices, otherDevices[0]!] })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringContaining('2 arrays'),
    });
    const copy = suite.dir.file('copy.img');
    copyFileSync(first.devices[0]!, copy);
    await expect(DiskArray.import({ ...TEST_RUNTIME, home: suite.dir.file('h2'), devices: [...first.devices, copy] })).rejects.toMatchObject({ code: 'DUPLICATE_DEVICE' });
  });

  it('finds image files that moved to another directory, records their new paths and says so', async () => {
    const { array, devices, home } = await createTempArray(suite.dir, { deviceCount: 4 });
    suite.array = array;
    const files = await putFiles(array, 4, 21);
    await array.close();
    const moved = suite.dir.file('moved');
    mkdirSync(moved);
    for (const path of devices) renameSync(path, join(moved, path.split('/').pop()!));
    suite.array = await DiskArray.open(home, { ...TEST_RUNTIME, scan: [join(moved, '*.img')] });
    expect(suite.array.status().opened.movedDevices.map((entry) => entry.to).sort()).toEqual(devices.map((path) => join(moved, path.split('/').pop()!)).sort());
    expect(suite.array.status().devices.every((device) => device.state === 'online')).toBe(true);
    await expectFiles(suite.array, files);
    await suite.array.close();
    // The new paths were recorded: the next open needs no scan.
    suite.array = await DiskArray.open(home, { ...TEST_RUNTIME, scan: false });
    expect(suite.array.status().opened.movedDevices).toEqual([]);
  });

  it('reports a rebuilt-away device as stale, refuses to add it back without force, and reuses it with force', async () => {
    const { array, devices, home } = await createTempArray(suite.dir, { deviceCount: 5 });
    suite.array = array;
    const files = await putFiles(array, 6, 31);
    await array.failDevice(2);
    await array.rebuild();
    await array.close();
    rmSync(home, { recursive: true });
    const imported = await DiskArray.import({ ...TEST_RUNTIME, home: suite.dir.file('home2'), scan: [suite.dir.file('*.img')] });
    suite.array = imported;
    expect(imported.status().opened.imported!.stale).toEqual([{ path: devices[1]!, deviceId: 2, why: expect.stringContaining('removed') }]);
    await expectFiles(imported, files);
    await expect(imported.addDevice(devices[1]!)).rejects.toMatchObject({ code: 'FOREIGN_DEVICE', message: expect.stringContaining('stale') });
    const added = await imported.addDevice(devices[1]!, { force: true });
    expect(added.state).toBe('online');
    await expectFiles(imported, files);
  });

  it('checkpoints as the journal ring fills, and imports through wrapped rings and checkpoints', async () => {
    // The smallest metadata region (2 MiB: a 512 KiB ring) fills after a few hundred small puts.
    const { array, devices, home } = await createTempArray(suite.dir, { deviceCount: 4, metadataRegionBytes: 2 * MIB });
    suite.array = array;
    const files = new Map<string, Buffer>();
    for (let round = 0; round < 12; round++) {
      await Promise.all(
        Array.from({ length: 60 }, async (_, i) => {
          const content = patternBytes((i * 37) % 5000, round * 100 + i);
          await array.put(`small-${round}-${i}`, content);
          files.set(`small-${round}-${i}`, content);
        }),
      );
      for (let i = 0; i < 10; i++) {
        await array.delete(`small-${round}-${i}`);
        files.delete(`small-${round}-${i}`);
      }
    }
    const status = array.status();
    expect(status.metadata.checkpoints).toBeGreaterThan(1);
    expect(status.metadata.durableSeq).toBe(status.metadata.seq);
    await array.close();
    rmSync(home, { recursive: true });
    suite.array = await DiskArray.import({ ...TEST_RUNTIME, home: suite.dir.file('home2'), devices });
    await expectFiles(suite.array, files);
  });
});
