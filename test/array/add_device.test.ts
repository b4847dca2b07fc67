// Growing the array online: addDevice writes the superblock, records the device and makes it
// eligible for new groups at once, while reads and writes continue.
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DiskArray } from '../../src/array/disk_array.js';
import { LB_BYTES } from '../../src/constants.js';
import { createImageFile } from '../../src/devices/open_device.js';
import { createTempArray, MIB, patternBytes, TempDir, TEST_RUNTIME, useArraySuite } from '../helpers/temp_array.js';

const suite = useArraySuite();

describe('DiskArray.addDevice', () => {
  it('makes new groups wider and use the new device at once, keeping old data readable', async () => {
    let home: string;
    ({ array: suite.array, home } = await createTempArray(suite.dir, { deviceCount: 3, parityCount: 1, extentLbMax: 16 }));
    const before = patternBytes(3 * MIB, 61);
    const old = await suite.array.put('before', before);
    expect(old.groups.every((group) => group.dataCount === 2)).toBe(true);

    // A larger device, added while a put is running.
    const running = suite.array.put('during', patternBytes(4 * MIB, 62));
    const added = await suite.array.addDevice(suite.dir.file('big.img'), { createSizeBytes: 128 * MIB, expand: false });
    await running;
    expect(added).toMatchObject({ deviceId: 4, state: 'online' });
    // It takes blocks at once: the put running beside the add may already have placed some there
    // by the time the add reports, and nothing else can have.
    const duringOnNewBytes = suite.array.stat('during').groups.flatMap((group) => group.extents)
      .filter((extent) => extent.deviceId === 4)
      .reduce((sum, extent) => sum + extent.lengthLb * LB_BYTES, 0);
    expect(added.usedBytes).toBeLessThanOrEqual(duringOnNewBytes);
    suite.array.assertInvariants();

    const after = await suite.array.put('after', patternBytes(3 * MIB, 63));
    expect(after.groups[0]!.dataCount).toBe(3);
    expect(after.groups.flatMap((group) => group.extents).some((extent) => extent.deviceId === 4)).toBe(true);
    expect((await suite.array.get('before')).equals(before)).toBe(true);
    expect((await suite.array.get('during')).equals(patternBytes(4 * MIB, 62))).toBe(true);

    await suite.array.close();
    suite.array = await DiskArray.open(home, TEST_RUNTIME);
    expect(suite.array.status().devices.map((device) => device.state)).toEqual(['online', 'online', 'online', 'online']);
    expect((await suite.array.get('after')).equals(patternBytes(3 * MIB, 63))).toBe(true);
    expect((await suite.array.fsck({ deep: true })).problems).toEqual([]);
  });

  it('refuses a device the array already has, a device too small, and a device of another array', async () => {
    let devices: string[];
    ({ array: suite.array, devices } = await createTempArray(suite.dir, { deviceCount: 3 }));
    await expect(suite.array.addDevice(devices[1]!)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(suite.array.addDevice(suite.dir.file('tiny.img'), { createSizeBytes: 4 * MIB })).rejects.toMatchObject({ code: 'DEVICE_TOO_SMALL' });
    expect(existsSync(suite.dir.file('tiny.img')), 'a refused add removes the image it created').toBe(false);

    const other = new TempDir();
    try {
      const { array: foreign, devices: foreignDevices } = await createTempArray(other, { deviceCount: 2 });
      await foreign.close();
      await expect(suite.array.addDevice(foreignDevices[0]!)).rejects.toMatchObject({ code: 'FOREIGN_DEVICE' });
      expect(suite.array.status().devices).toHaveLength(3);
      const forced = await suite.array.addDevice(foreignDevices[0]!, { force: true });
      expect(forced.deviceId).toBe(4);
    } finally {
      other.remove();
    }
    suite.array.assertInvariants();
  });

  it('lets a put use the added device when the old ones are full', async () => {
    ({ array: suite.array } = await createTempArray(suite.dir, { deviceCount: 3, deviceBytes: 24 * MIB, extentLbMax: 16 }));
    await expect(suite.array.put('big', patternBytes(60 * MIB, 64))).rejects.toMatchObject({ code: 'NO_SPACE' });
    for (const name of ['e1.img', 'e2.img', 'e3.img']) await createImageFile(suite.dir.file(name), 64 * MIB);
    for (const name of ['e1.img', 'e2.img', 'e3.img']) await suite.array.addDevice(suite.dir.file(name));
    await suite.array.put('big', patternBytes(60 * MIB, 64));
    expect((await suite.array.get('big')).equals(patternBytes(60 * MIB, 64))).toBe(true);
    suite.array.assertInvariants();
  });
});
