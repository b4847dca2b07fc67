// The array's home directory: created like `mkdir -p`, but failing fast with a clear error
// where the file system refuses (issue 12 item 20: `create --home /proc/h` hung forever,
// because Node's recursive mkdir loops when mkdir says ENOENT under an existing parent).
import { existsSync, statSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DiskArray } from '../../src/array/disk_array.js';
import { makeHomeDirectory } from '../../src/array/home_directory.js';
import { MIB, TEST_RUNTIME, useArraySuite } from '../helpers/temp_array.js';

const suite = useArraySuite();

/** Fails the test instead of hanging it when `work` does not settle in time. */
async function within<T>(ms: number, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`still running after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

describe('makeHomeDirectory', () => {
  it('creates missing directories and says which was the first it made', () => {
    const target = suite.dir.file('a/b/c');
    expect(makeHomeDirectory(target)).toBe(suite.dir.file('a'));
    expect(statSync(target).isDirectory()).toBe(true);
    expect(makeHomeDirectory(target)).toBeUndefined();
  });

  it('refuses a path through a regular file, and a directory the file system will not create', () => {
    writeFileSync(suite.dir.file('plain'), 'x');
    expect(() => makeHomeDirectory(suite.dir.file('plain/home'))).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    expect(() => makeHomeDirectory('/proc/elastripe-home')).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(/\/proc\/elastripe-home/) }));
    expect(existsSync('/proc/elastripe-home')).toBe(false);
  });
});

describe('DiskArray.create on a home the file system refuses', () => {
  it('fails fast with INVALID_ARGUMENT for /proc/h, creating no images; /proc itself fails fast too', async () => {
    const devices = [suite.dir.file('d1.img'), suite.dir.file('d2.img')];
    await expect(within(10_000, DiskArray.create({ ...TEST_RUNTIME, home: '/proc/h', devices, createSizeBytes: 64 * MIB }))).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringMatching(/cannot create the array home \/proc\/h/),
    });
    for (const path of devices) expect(existsSync(path)).toBe(false);
    await expect(within(10_000, DiskArray.create({ ...TEST_RUNTIME, home: '/proc', devices, createSizeBytes: 64 * MIB }))).rejects.toThrow();
    for (const path of devices) expect(existsSync(path)).toBe(false);
  });
});
