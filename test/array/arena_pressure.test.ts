// Reads and writes share the arena. A read's look-ahead must never take the space a concurrent
// put needs to make progress: piping a file from one name into another on a small arena, and
// running many gets and puts at once, must finish.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DiskArray } from '../../src/array/disk_array.js';
import { createTempArray, MIB, patternBytes, TempDir } from '../helpers/temp_array.js';

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

describe('arena pressure', () => {
  it('pipes a stream of one file into a put of another on an arena smaller than both pipelines', async () => {
    ({ array } = await createTempArray(dir, { arenaBytes: 24 * MIB, extentLbMax: 256, deviceBytes: 96 * MIB }));
    const content = patternBytes(40 * MIB, 31);
    await array.put('source', content);
    await array.put('copy', array.createReadStream('source'));
    expect((await array.get('copy')).equals(content)).toBe(true);
    array.assertInvariants();
  }, 60_000);

  it('finishes many concurrent gets and puts on a small arena', async () => {
    ({ array } = await createTempArray(dir, { arenaBytes: 24 * MIB, extentLbMax: 256, deviceBytes: 96 * MIB }));
    const files = [0, 1, 2, 3].map((i) => patternBytes(6 * MIB + i, 40 + i));
    await Promise.all(files.map((content, i) => array!.put(`f${i}`, content)));
    const results = await Promise.all([
      ...files.map((_, i) => array!.get(`f${i}`)),
      ...files.map((content, i) => array!.put(`g${i}`, array!.createReadStream(`f${i}`)).then(() => content)),
    ]);
    for (const [i, content] of files.entries()) expect((results[i] as Buffer).equals(content)).toBe(true);
    for (const [i, content] of files.entries()) expect((await array.get(`g${i}`)).equals(content)).toBe(true);
  }, 60_000);
});
