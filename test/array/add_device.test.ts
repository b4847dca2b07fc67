// Growing the array online: addDevice writes the superblock, records the device and makes it
// eligible for new groups at once, while reads and writes continue.
import { existsSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DiskArray } from '../../src/array/disk_array.js';
import { createImageFile } from '../../src/devices/open_device.js';
import { createTempArray, MIB, patternBytes, TempDir, TEST_RUNTIME } from '../helpers/temp_array.js';

let dir: TempDir;
let array: DiskArray | undefined;

beforeEach(() => {
  dir = new TempDir();
});
afterEach(async () => {
  await array?.close();
  array = undefined;
  dir.remove();
});

describe('DiskArray.addDevice', () => {
  it('makes new groups wider and use the new device at once, keeping old data readable', async () => {
    let home: string;
    ({ array, home } = await createTempArray(dir, { deviceCount: 3, parityCount: 1, extentLbMax: 16 }));
    const before = patternBytes(3 * MIB, 61);
    const old = await array.put('before', before);
    expect(old.groups.every((group) => group.dataCount === 2)).toBe(true);

    // A larger device, added while a put is running.
    const running = array.put('during', patternBytes(4 * MIB, 62));
    const added = await array.addDevice(dir.file('big.img'), { createSizeBytes: 128 * MIB });
    await running;
    expect(added).toMatchObject({ deviceId: 4, state: 'online', usedBytes: 0 });
    array.assertInvariants();

    const after = await array.put('after', patternBytes(3 * MIB, 63));
    expect(after.groups[0]!.dataCount).toBe(3);
    expect(after.groups.flatMap((group) => group.extents).some((extent) => extent.deviceId === 4)).toBe(true);
    expect((await array.get('before')).equals(before)).toBe(true);
    expect((await array.get('during')).equals(patternBytes(4 * MIB, 62))).toBe(true);

    await array.close();
    array = await DiskArray.open(home, TEST_RUNTIME);
    expect(array.status().devices.map((device) => device.state)).toEqual(['online', 'online', 'online', 'online']);
    expect((await array.get('after')).equals(patternBytes(3 * MIB, 63))).toBe(true);
    expect((await array.fsck({ deep: true })).problems).toEqual([]);
  });

  it('refuses a device the array already has, a device too small, and a device of another array', async () => {
    let devices: string[];
    ({ array, devices } = await createTempArray(dir, { deviceCount: 3 }));
    await expect(array.addDevice(devices[1]!)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(array.addDevice(dir.file('tiny.img'), { createSizeBytes: 4 * MIB })).rejects.toMatchObject({ code: 'DEVICE_TOO_SMALL' });
    expect(existsSync(dir.file('tiny.img')), 'a refused add removes the image it created').toBe(false);

    const other = new TempDir();
    try {
      const { array: foreign, devices: foreignDevices } = await createTempArray(other, { deviceCount: 2 });
      await foreign.close();
      await expect(array.addDevice(foreignDevices[0]!)).rejects.toMatchObject({ code: 'FOREIGN_DEVICE' });
      expect(array.status().devices).toHaveLength(3);
      const forced = await array.addDevice(foreignDevices[0]!, { force: true });
      expect(forced.deviceId).toBe(4);
    } finally {
      other.remove();
    }
    array.assertInvariants();
  });

  it('lets a put use the added device when the old ones are full', async () => {
    ({ array } = await createTempArray(dir, { deviceCount: 3, deviceBytes: 24 * MIB, extentLbMax: 16 }));
    await expect(array.put('big', patternBytes(60 * MIB, 64))).rejects.toMatchObject({ code: 'NO_SPACE' });
    for (const name of ['e1.img', 'e2.img', 'e3.img']) await createImageFile(dir.file(name), 64 * MIB);
    for (const name of ['e1.img', 'e2.img', 'e3.img']) await array.addDevice(dir.file(name));
    await array.put('big', patternBytes(60 * MIB, 64));
    expect((await array.get('big')).equals(patternBytes(60 * MIB, 64))).toBe(true);
    array.assertInvariants();
  });
});
