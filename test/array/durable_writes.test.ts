// Small puts written durably (write_path.ts DURABLE_WRITE_LB_MAX, metadata_journal.ts): on a
// backend whose devices can write durably (uring: RWF_DSYNC, a FUA write), a put's short
// extents and the journal record are durable when their writes complete, so a small put starts
// no device flush at all; long extents are still written plainly and flushed once per device;
// and a backend without durable writes (fs) writes and flushes as before. On NBD devices a
// durable write is a write with NBD_CMD_FLAG_FUA; nbdkit's log filter counts the NBD_CMD_FLUSH
// requests each server received.
import { mkdirSync, readFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DiskArray } from '../../src/array/disk_array.js';
import type { FlushCoalescer } from '../../src/array/flush_coalescer.js';
import { createTempArray, MIB, patternBytes, TempDir, TEST_RUNTIME } from '../helpers/temp_array.js';
import { startNbdkit, type NbdkitServer } from '../helpers/nbdkit.js';
import { nbdkitPrerequisite, uringPrerequisite } from '../helpers/prerequisites.js';

let dir: TempDir;
beforeEach(() => {
  dir = new TempDir();
});
const servers: NbdkitServer[] = [];
afterEach(async () => {
  await Promise.allSettled(servers.splice(0).map((server) => server.stop()));
  dir.remove();
});

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

/** NBD_CMD_FLUSH requests and FUA writes an nbdkit log filter recorded (request lines only). */
function nbdCounts(log: string): { flushes: number; fuaWrites: number } {
  const lines = readFileSync(log, 'utf8').split('\n');
  return {
    flushes: lines.filter((line) => /\bFlush id=\d+/.test(line) && !/return=/.test(line)).length,
    fuaWrites: lines.filter((line) => /\bWrite id=\d+ offset=.*fua=1/.test(line)).length,
  };
}

nbdkitPrerequisite().describe('durable writes on NBD devices (NBD_CMD_FLAG_FUA)', () => {
  async function nbdArray(filters: string[] = [], parameters: string[] = []): Promise<{ array: DiskArray; logs: string[] }> {
    const logs = Array.from({ length: 4 }, (_, i) => dir.file(`nbd${i}.log`));
    for (const log of logs) servers.push(await startNbdkit({ plugin: 'memory', parameters: ['size=64M', `logfile=${log}`, ...parameters], filters: ['log', ...filters] }));
    const home = dir.file('home');
    mkdirSync(home);
    const array = await DiskArray.create({ ...TEST_RUNTIME, home, devices: servers.map((server) => server.url), parityCount: 1, createSizeBytes: 64 * MIB });
    return { array, logs };
  }
  const total = (logs: string[]): { flushes: number; fuaWrites: number } =>
    logs.map(nbdCounts).reduce((sum, counts) => ({ flushes: sum.flushes + counts.flushes, fuaWrites: sum.fuaWrites + counts.fuaWrites }));

  it('a small put sends no NBD flush (FUA writes instead); a large put still flushes', async () => {
    const { array, logs } = await nbdArray();
    try {
      expect(array.status().devices.every((device) => device.backend === 'nbd')).toBe(true);
      const before = total(logs);
      await smallPuts(array);
      const afterSmall = total(logs);
      expect(afterSmall.flushes - before.flushes).toBe(0);
      expect(afterSmall.fuaWrites - before.fuaWrites).toBeGreaterThan(0);
      const bytes = patternBytes(6 * MIB, 99);
      await array.put('large', bytes);
      expect(total(logs).flushes - afterSmall.flushes).toBeGreaterThan(0);
      expect(Buffer.from(await array.get('large')).equals(bytes)).toBe(true);
      array.assertInvariants();
    } finally {
      await array.close();
    }
  });

  it('servers without FUA (fua filter, mode none): a small put writes plainly and flushes', async () => {
    const { array, logs } = await nbdArray(['fua']);
    try {
      const before = total(logs);
      await smallPuts(array);
      const after = total(logs);
      expect(after.flushes - before.flushes).toBeGreaterThan(0);
      expect(after.fuaWrites).toBe(0);
    } finally {
      await array.close();
    }
  });
});
