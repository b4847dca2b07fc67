// Read-only access (issue 12 item 19): an array opened read-only takes no lock and writes
// nothing — not to its home, not to its devices, not even a repair — and refuses every change
// with READ_ONLY; a home on a read-only file system opens read-only and is refused, clearly,
// for writing; a read-only open while the owner runs gets a clear ARRAY_LOCKED.
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { closeSync, copyFileSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DiskArray } from '../../src/array/disk_array.js';
import { LB_BYTES } from '../../src/constants.js';
import { DATABASE_FILE, MetaStore } from '../../src/meta/meta_store.js';
import { requirePrerequisite } from '../helpers/prerequisites.js';
import { createTempArray, MIB, patternBytes, TEST_RUNTIME, useArraySuite } from '../helpers/temp_array.js';

const suite = useArraySuite();

function digest(paths: readonly string[]): string[] {
  return paths.map((path) => createHash('sha256').update(readFileSync(path)).digest('hex'));
}

function homeFiles(home: string): Record<string, string> {
  return Object.fromEntries(readdirSync(home).sort().map((name) => [name, createHash('sha256').update(readFileSync(join(home, name))).digest('hex')]));
}

function rot(devicePath: string, startLb: number): void {
  const fd = openSync(devicePath, 'r+');
  try {
    writeSync(fd, Buffer.from('bit rot'), 0, 7, startLb * LB_BYTES + 99);
  } finally {
    closeSync(fd);
  }
}

describe('DiskArray.open(home, { readOnly: true })', () => {
  it('reads everything, refuses every change with READ_ONLY, and writes nothing, not even a repair', async () => {
    let home: string;
    let devices: string[];
    ({ array: suite.array, home, devices } = await createTempArray(suite.dir, { deviceCount: 3, parityCount: 1, extentLbMax: 16 }));
    const content = patternBytes(3 * MIB, 1901);
    const stat = await suite.array.put('kept', content);
    await suite.array.close();
    const rotten = stat.groups[0]!.extents.find((extent) => extent.role === 'data')!;
    rot(devices[rotten.deviceId - 1]!, rotten.startLb);
    const homeBefore = homeFiles(home);
    const devicesBefore = digest(devices);

    const array = await DiskArray.open(home, { ...TEST_RUNTIME, readOnly: true });
    suite.array = array;
    expect(array.status()).toMatchObject({ readOnly: true, fileCount: 1 });
    expect(array.list().map((file) => file.name)).toEqual(['kept']);
    expect(array.stat('kept').sizeBytes).toBe(content.length);
    expect((await array.get('kept')).equals(content)).toBe(true); // degraded: the rot is rebuilt in memory only
    const chunks: Buffer[] = [];
    for await (const chunk of array.createReadStream('kept')) chunks.push(chunk as Buffer);
    expect(Buffer.concat(chunks).equals(content)).toBe(true);
    const fsck = await array.fsck({ deep: true });
    expect(fsck.problems.join('\n')).toMatch(/unreadable or corrupt \(parity can rebuild them\)/);

    const refusals: Promise<unknown>[] = [
      array.put('x', Buffer.from('x')),
      array.delete('kept'),
      array.rename('kept', 'other'),
      array.addDevice(suite.dir.file('more.img'), { createSizeBytes: 64 * MIB }),
      array.failDevice(1),
      array.rebuild(),
      array.removeDevice(1),
      array.cancelRemove(1),
      array.rebalance(),
      array.restripe(),
      array.scrub(),
    ];
    for (const refusal of refusals) await expect(refusal).rejects.toMatchObject({ code: 'READ_ONLY' });
    await array.close();
    suite.array = undefined;
    expect(homeFiles(home)).toEqual(homeBefore);
    expect(digest(devices)).toEqual(devicesBefore);
  });

  it('takes no lock: the owner opens while a read-only view is open; a read-only open while the owner runs gets ARRAY_LOCKED', async () => {
    let home: string;
    ({ array: suite.array, home } = await createTempArray(suite.dir, { deviceCount: 3, parityCount: 1, extentLbMax: 16 }));
    const content = patternBytes(MIB, 1902);
    await suite.array.put('a', content);
    // The owner is running: its lock keeps every reader of the database out.
    await expect(DiskArray.open(home, { ...TEST_RUNTIME, readOnly: true })).rejects.toMatchObject({
      code: 'ARRAY_LOCKED',
      message: expect.stringMatching(/not even a read-only open/),
    });
    await suite.array.close();
    const viewer = await DiskArray.open(home, { ...TEST_RUNTIME, readOnly: true });
    try {
      const second = await DiskArray.open(home, { ...TEST_RUNTIME, readOnly: true });
      await second.close();
      suite.array = await DiskArray.open(home, TEST_RUNTIME); // the owner is not kept out
      await suite.array.put('b', patternBytes(MIB, 1903));
      expect(viewer.list().map((file) => file.name)).toEqual(['a']); // a view as of its open
      expect((await viewer.get('a')).equals(content)).toBe(true);
    } finally {
      await viewer.close();
    }
  });
});

const mountTmpfs = requirePrerequisite('mounting a tmpfs (root)', () => {
  if (process.getuid?.() !== 0) return 'needs root';
  try {
    execFileSync('mount', ['--version'], { stdio: 'pipe' });
    return null;
  } catch (error) {
    return `mount does not run: ${(error as Error).message.split('\n')[0]}`;
  }
});

describe('a home on a read-only file system', () => {
  mountTmpfs.it('is refused for writing with READ_ONLY, not CORRUPT_METADATA, and opens read-only', async () => {
    const mountPoint = suite.dir.file('ro');
    mkdirSync(mountPoint);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=32m', 'tmpfs', mountPoint]);
    try {
      const home = join(mountPoint, 'home');
      const { array, devices } = await createTempArray(suite.dir, { deviceCount: 3, parityCount: 1, extentLbMax: 16, home });
      const content = patternBytes(MIB, 1904);
      await array.put('f', content);
      await array.close();
      execFileSync('mount', ['-o', 'remount,ro', mountPoint]);
      await expect(DiskArray.open(home, TEST_RUNTIME)).rejects.toMatchObject({ code: 'READ_ONLY', message: expect.stringMatching(/--read-only/) });
      suite.array = await DiskArray.open(home, { ...TEST_RUNTIME, readOnly: true });
      expect((await suite.array.get('f')).equals(content)).toBe(true);
      expect(suite.array.status().devices.map((device) => device.path)).toEqual(devices);
      await suite.array.close();
      suite.array = undefined;
    } finally {
      execFileSync('umount', [mountPoint]);
    }
  });

  mountTmpfs.it('a home a killed owner left with a WAL opens read-only from a private copy', async () => {
    const { array, home } = await createTempArray(suite.dir, { deviceCount: 3, parityCount: 1, extentLbMax: 16 });
    suite.array = array;
    await array.put('in-the-wal', patternBytes(4096, 1905));
    // As a SIGKILL leaves it: the database and its WAL as they are while the owner runs.
    const mountPoint = suite.dir.file('ro2');
    mkdirSync(mountPoint);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=32m', 'tmpfs', mountPoint]);
    try {
      const copy = join(mountPoint, 'home');
      mkdirSync(copy);
      for (const name of [DATABASE_FILE, `${DATABASE_FILE}-wal`]) copyFileSync(join(home, name), join(copy, name));
      expect(statSync(join(copy, `${DATABASE_FILE}-wal`)).size).toBeGreaterThan(0);
      execFileSync('mount', ['-o', 'remount,ro', mountPoint]);
      const store = MetaStore.openReadOnly(copy);
      try {
        expect(store.files().map((file) => file.name)).toEqual(['in-the-wal']);
        expect(() => store.setDeviceState(1, 'failed')).toThrow(expect.objectContaining({ code: 'READ_ONLY' }));
      } finally {
        store.close();
      }
      expect(existsSync(join(copy, `${DATABASE_FILE}-shm`))).toBe(false);
    } finally {
      execFileSync('umount', [mountPoint]);
    }
  });
});
