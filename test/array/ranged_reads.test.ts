// Ranged reads find the groups they overlap by byte offset (the groups' file_offset index,
// issue 10): every read at and around every group boundary returns the file's bytes, also after
// a file is replaced by one of another shape, after a reopen, and after an import (whose
// checkpoint lists groups in id order, not file order). fsck reports a group whose recorded
// offset is wrong.
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DiskArray } from '../../src/array/disk_array.js';
import { DATABASE_FILE } from '../../src/meta/meta_store.js';
import { createTempArray, patternBytes, TEST_RUNTIME, useArraySuite } from '../helpers/temp_array.js';

const suite = useArraySuite();

/** Every group's start offset, from stat (sequence order). */
function boundaries(array: DiskArray, name: string): number[] {
  const starts: number[] = [];
  let at = 0;
  for (const group of array.stat(name).groups) {
    starts.push(at);
    at += group.lengthBytes;
  }
  starts.push(at);
  return starts;
}

/** Reads ranges at and around every group boundary, through get, readInto and a stream. */
async function expectRangesRead(array: DiskArray, name: string, content: Buffer): Promise<number> {
  const edges = boundaries(array, name);
  expect(edges[edges.length - 1]).toBe(content.length);
  const ranges: [number, number][] = [[0, content.length], [0, 0], [content.length, 0], [content.length - 1, 1]];
  for (let i = 0; i < edges.length - 1; i++) {
    const start = edges[i]!;
    const end = edges[i + 1]!;
    ranges.push([start, 1], [start, end - start], [end - 1, 1], [start, Math.min(content.length - start, end - start + 1)]);
    if (start > 0) ranges.push([start - 1, 2], [start - 1, Math.min(content.length - start + 1, 2 * (end - start) + 1)]);
  }
  for (const [offset, length] of ranges) {
    const got = await array.get(name, { offset, length });
    expect(got.equals(content.subarray(offset, offset + length)), `get ${offset}+${length}`).toBe(true);
  }
  const target = Buffer.alloc(5000);
  for (const offset of edges.slice(1, -1).map((edge) => edge - 7)) {
    const read = await array.readInto(name, target, { offset });
    expect(read).toBe(Math.min(5000, content.length - offset));
    expect(target.subarray(0, read).equals(content.subarray(offset, offset + read))).toBe(true);
  }
  const middle = edges[Math.floor(edges.length / 2)]! - 3;
  const chunks: Buffer[] = [];
  for await (const chunk of array.createReadStream(name, { offset: middle, length: 20_000 })) chunks.push(chunk as Buffer);
  expect(Buffer.concat(chunks).equals(content.subarray(middle, middle + 20_000))).toBe(true);
  return ranges.length;
}

describe('ranged reads by group offset', () => {
  it('reads every range around every group boundary, after replacing a file, reopening and importing', async () => {
    // One-LB extents: a group holds at most 3 x 4 KiB, so a file of ~200 KiB has many groups.
    const { array, devices, home } = await createTempArray(suite.dir, { parityCount: 1, extentLbMax: 1 });
    suite.array = array;
    const first = patternBytes(150_001, 1);
    await array.put('f', first);
    expect(array.stat('f').groupCount).toBeGreaterThan(10);
    expect(await expectRangesRead(array, 'f', first)).toBeGreaterThan(40);

    // Replaced by a file of another length: the new groups' offsets start again at 0.
    const second = patternBytes(70_003, 2);
    await array.put('f', second);
    await array.put('g', patternBytes(5, 3));
    await expectRangesRead(array, 'f', second);
    expect((await array.fsck()).problems).toEqual([]);

    await array.close();
    suite.array = await DiskArray.open(home, TEST_RUNTIME);
    await expectRangesRead(suite.array, 'f', second);
    await suite.array.close();

    // An import rebuilds the offsets from the devices' checkpoint.
    suite.array = await DiskArray.import({ ...TEST_RUNTIME, home: suite.dir.file('home2'), devices, scan: false });
    await expectRangesRead(suite.array, 'f', second);
    expect((await suite.array.get('g')).equals(patternBytes(5, 3))).toBe(true);
    expect((await suite.array.fsck()).problems).toEqual([]);
  });

  it('fsck reports a group whose recorded byte offset is wrong', async () => {
    const { array, home } = await createTempArray(suite.dir, { parityCount: 1, extentLbMax: 1 });
    await array.put('f', patternBytes(40_000, 4));
    await array.close();
    const db = new Database(join(home, DATABASE_FILE));
    try {
      db.prepare('UPDATE groups SET file_offset = file_offset + 1 WHERE sequence = 2').run();
    } finally {
      db.close();
    }
    suite.array = await DiskArray.open(home, TEST_RUNTIME);
    const report = await suite.array.fsck();
    expect(report.ok).toBe(false);
    expect(report.problems.join('\n')).toMatch(/file "f" group 2 \(id \d+\): byte offset \d+ recorded, its file's groups before it hold \d+/);
  });
});
