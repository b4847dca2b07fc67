// Small puts written durably (write_path.ts DURABLE_WRITE_LB_MAX, metadata_journal.ts): on a
// backend whose devices can write durably (uring: RWF_DSYNC, a FUA write), a put's short
// extents and the journal record are durable when their writes complete, so a small put starts
// no device flush at all; long extents are still written plainly and flushed once per device;
// and a backend without durable writes (fs) writes and flushes as before.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DiskArray } from '../../src/array/disk_array.js';
import type { FlushCoalescer } from '../../src/array/flush_coalescer.js';
import { createTempArray, MIB, patternBytes, TempDir } from '../helpers/temp_array.js';
import { uringPrerequisite } from '../helpers/prerequisites.js';

let dir: TempDir;
beforeEach(() => {
  dir = new TempDir();
});
afterEach(() => dir.remove());

function flushesStarted(array: DiskArray): number {
  return (array as unknown as { flusher: FlushCoalescer }).flusher.flushesStarted;
}

/** 16 puts at once of 1 byte to 64 KiB, checked back. */
async function smallPuts(array: DiskArray): Promise<void> {
  const files = Array.from({ length: 16 }, (_, i) => patternBytes(1 + ((i * 4099) % (64 * 1024)), i + 1));
  await Promise.all(files.map((bytes, i) => array.put(`small${i}`, bytes)));
  for (const [i, bytes] of files.entries()) expect(Buffer.from(await array.get(`small${i}`)).equals(bytes)).toBe(true);
}

uringPrerequisite().describe('durable writes on the uring backend', () => {
  it('a small put starts no device flush: its blocks and its journal record are written durably', async () => {
    const { array } = await createTempArray(dir, { backend: 'uring', parityCount: 1 });
    try {
      const before = flushesStarted(array);
      const records = array.status().metadata.records;
      await smallPuts(array);
      expect(flushesStarted(array) - before).toBe(0);
      expect(array.status().metadata.records).toBeGreaterThan(records);
      array.assertInvariants();
    } finally {
      await array.close();
    }
  });

  it('a put of long extents writes them plainly and flushes the devices it wrote', async () => {
    const { array } = await createTempArray(dir, { backend: 'uring', parityCount: 1 });
    try {
      const before = flushesStarted(array);
      const bytes = patternBytes(6 * MIB, 99);
      await array.put('large', bytes);
      expect(flushesStarted(array) - before).toBeGreaterThan(0);
      expect(flushesStarted(array) - before).toBeLessThanOrEqual(4);
      expect(Buffer.from(await array.get('large')).equals(bytes)).toBe(true);
    } finally {
      await array.close();
    }
  });
});

describe('a backend without durable writes (fs)', () => {
  it('writes and flushes: a small put still flushes its devices and the record', async () => {
    const { array } = await createTempArray(dir, { backend: 'fs', parityCount: 1 });
    try {
      const before = flushesStarted(array);
      await smallPuts(array);
      expect(flushesStarted(array) - before).toBeGreaterThan(0);
      array.assertInvariants();
    } finally {
      await array.close();
    }
  });
});
