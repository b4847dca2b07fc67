// A home whose history forked from the devices': a crash leaves home H one change ahead of the
// devices (a put they never got, never acknowledged); the array is imported into a new home,
// which writes on (an acknowledged put takes the same change number). Opening H again must be
// refused — taken for the devices' history, it hid the acknowledged file and its next change
// deleted it (files are matched by row id) — while a home that is merely behind or ahead of
// the devices on the same history still opens as before.
import { cpSync, copyFileSync, rmSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DiskArray } from '../../src/array/disk_array.js';
import { createTempArray, MIB, patternBytes, TEST_RUNTIME, useArraySuite } from '../helpers/temp_array.js';

const suite = useArraySuite();

/** Copies every device image to `suffix` copies, or back from them. */
function copyImages(devices: readonly string[], suffix: string, back = false): void {
  for (const device of devices) (back ? copyFileSync(`${device}${suffix}`, device) : copyFileSync(device, `${device}${suffix}`));
}

/** An array whose devices are back at the state before `p1`, and the home `ahead` that committed `p1` (and `p1b` with `twoAhead`). */
async function homeAheadOfDevices(twoAhead = false): Promise<{ devices: string[]; home: string; ahead: string }> {
  const created = await createTempArray(suite.dir, { parityCount: 1 });
  suite.array = created.array;
  await suite.array.put('a', patternBytes(MIB, 1));
  await suite.array.close();
  copyImages(created.devices, '.before-p1');
  suite.array = await DiskArray.open(created.home, TEST_RUNTIME);
  await suite.array.put('p1', patternBytes(2 * MIB, 2));
  if (twoAhead) await suite.array.put('p1b', patternBytes(MIB, 4));
  await suite.array.close();
  suite.array = undefined;
  const ahead = suite.dir.file('home.ahead');
  cpSync(created.home, ahead, { recursive: true });
  copyImages(created.devices, '.before-p1', true); // as if p1's change never reached them
  return { devices: created.devices, home: created.home, ahead };
}

describe('a home whose history forked from the devices\'', () => {
  it.each([
    ['level with the devices', false],
    ['still ahead of the devices', true],
  ])('is refused with CORRUPT_METADATA when %s, and the devices keep the acknowledged file', async (_, twoAhead) => {
    const { devices, home, ahead } = await homeAheadOfDevices(twoAhead);
    rmSync(home, { recursive: true });
    suite.array = await DiskArray.import({ ...TEST_RUNTIME, home, scan: devices });
    const p2 = patternBytes(2 * MIB, 3);
    await suite.array.put('p2', p2); // acknowledged: the same change number as p1 in the old home
    await suite.array.close();
    suite.array = undefined;

    await expect(DiskArray.open(ahead, TEST_RUNTIME)).rejects.toMatchObject({ code: 'CORRUPT_METADATA', message: expect.stringMatching(/forked from the devices'.*import/) });
    // The refusal wrote nothing: the devices still describe a and p2, and p2 reads back.
    const again = suite.dir.file('home.again');
    suite.array = await DiskArray.import({ ...TEST_RUNTIME, home: again, scan: devices });
    expect(suite.array.list().map((file) => file.name).sort()).toEqual(['a', 'p2']);
    expect((await suite.array.get('p2')).equals(p2)).toBe(true);
    expect((await suite.array.fsck({ deep: true })).problems).toEqual([]);
  });

  it('is not claimed of a home merely ahead of the devices on the same history (a crash between commit and record)', async () => {
    const { home } = await homeAheadOfDevices();
    suite.array = await DiskArray.open(home, TEST_RUNTIME);
    // Opened, and the home's newest change carried to the devices by open's checkpoint. (p1's
    // blocks went back with the images here; after a real crash they were flushed before its commit.)
    expect(suite.array.list().map((file) => file.name).sort()).toEqual(['a', 'p1']);
    expect((await suite.array.fsck()).problems).toEqual([]);
  });

  it('is not claimed of an older copy of the home (behind on the same history): it rolls forward', async () => {
    const created = await createTempArray(suite.dir, { parityCount: 1 });
    suite.array = created.array;
    await suite.array.put('a', patternBytes(MIB, 1));
    await suite.array.close();
    const older = suite.dir.file('home.older');
    cpSync(created.home, older, { recursive: true });
    suite.array = await DiskArray.open(created.home, TEST_RUNTIME);
    for (let i = 0; i < 5; i++) await suite.array.put(`f${i}`, patternBytes(64 * 1024, 10 + i));
    await suite.array.delete('a');
    await suite.array.close();
    suite.array = await DiskArray.open(older, TEST_RUNTIME);
    expect(suite.array.list().map((file) => file.name).sort()).toEqual(['f0', 'f1', 'f2', 'f3', 'f4']);
    expect((await suite.array.fsck()).problems).toEqual([]);
  });
});
