// The free-space map (src/meta/free_space_map.ts): a clean close saves the allocator's free
// ranges, the next open loads them instead of deriving free space from every extent, a commit
// makes them stale, and fsck reports a saved map that disagrees with the extents.
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DiskArray } from '../../src/array/disk_array.js';
import { openAllocator } from '../../src/meta/free_space_map.js';
import { DATABASE_FILE, MetaStore } from '../../src/meta/meta_store.js';
import { ExtentAllocator } from '../../src/meta/extent_allocator.js';
import { createTempArray, patternBytes, TEST_RUNTIME, useArraySuite } from '../helpers/temp_array.js';

const suite = useArraySuite();

function editDatabase(home: string, edit: (db: Database.Database) => void): void {
  const db = new Database(join(home, DATABASE_FILE));
  try {
    edit(db);
  } finally {
    db.close();
  }
}

/** Where the store's allocator at open would come from, and whether it equals one derived from the extents. */
function allocatorAtOpen(home: string): { source: 'map' | 'derived'; matchesExtents: boolean } {
  const store = MetaStore.open(home, { create: false });
  try {
    const { allocator, source } = openAllocator(store);
    allocator.assertInvariants();
    const derived = ExtentAllocator.derive(store.devices(), store.extentPlaces());
    const matchesExtents = derived.deviceIds().every((id) => JSON.stringify(derived.freeRanges(id)) === JSON.stringify(allocator.freeRanges(id)));
    return { source, matchesExtents };
  } finally {
    store.close();
  }
}

describe('the free-space map', () => {
  it('is saved at a clean close, loaded at open, stale after a commit, and equal to derived free space', async () => {
    const { array, home } = await createTempArray(suite.dir, { parityCount: 1, extentLbMax: 4 });
    for (let i = 0; i < 12; i++) await array.put(`f${i}`, patternBytes(5000 + i * 7000, i));
    for (let i = 0; i < 12; i += 3) await array.delete(`f${i}`); // holes in the free space
    await array.close();
    expect(allocatorAtOpen(home)).toEqual({ source: 'map', matchesExtents: true });

    // Opened from the map, the array allocates around what is in use.
    suite.array = await DiskArray.open(home, TEST_RUNTIME);
    await suite.array.put('new', patternBytes(30_000, 99));
    suite.array.assertInvariants();
    expect((await suite.array.fsck()).problems).toEqual([]);
    for (let i = 1; i < 12; i += 3) expect((await suite.array.get(`f${i}`)).equals(patternBytes(5000 + i * 7000, i))).toBe(true);

    // A commit after the save (as a process killed after a commit leaves it) makes the map stale.
    await suite.array.close();
    suite.array = undefined;
    editDatabase(home, (db) => db.prepare("UPDATE settings SET value = CAST(value AS INTEGER) + 1 WHERE key = 'metaSeq'").run());
    expect(allocatorAtOpen(home).source).toBe('derived');
  });

  it('fsck reports a saved map that disagrees with the extents, and a map that does not fit the devices is ignored', async () => {
    const { array, home } = await createTempArray(suite.dir, { parityCount: 1 });
    await array.put('a', patternBytes(100_000, 1));
    await array.close();
    // Mark the whole data area of device 1 free: the blocks of 'a' there would be handed out again.
    editDatabase(home, (db) => {
      const device = db.prepare('SELECT data_start_lb AS start, data_end_lb AS end FROM devices WHERE device_id = 1').get() as { start: number; end: number };
      const pairs = new Float64Array([device.start, device.end - device.start]);
      db.prepare('UPDATE free_space SET ranges = ? WHERE device_id = 1').run(Buffer.from(pairs.buffer));
    });
    suite.array = await DiskArray.open(home, TEST_RUNTIME);
    const report = await suite.array.fsck();
    expect(report.ok).toBe(false);
    expect(report.problems).toContain('device 1: the free-space map saved at close disagrees with the extents (leak or double use)');
    expect(report.problems).toContain('device 1: allocator free space disagrees with metadata (leak or double use)');
    await suite.array.close();
    suite.array = undefined;

    // Overlapping ranges do not fit: open derives instead.
    editDatabase(home, (db) => {
      db.prepare('UPDATE free_space SET ranges = ? WHERE device_id = 1').run(Buffer.from(new Float64Array([5000, 10, 5005, 10]).buffer));
    });
    expect(allocatorAtOpen(home)).toEqual({ source: 'derived', matchesExtents: true });
  });
});
