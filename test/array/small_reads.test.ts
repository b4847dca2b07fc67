// Small reads (issue 10): readInto of a one-group file into a plain Buffer takes its own path
// (one metadata query, MetaStore.fileRange; the group read and copied without the ordered
// read-ahead; its blocks verified inline, Codec.verifyNow). Every guarantee stays: the range
// rules, checksums verified on every read (a rotten block is rebuilt and repaired), a missing
// device reconstructed, and the reader's epoch holds off the reuse of the blocks it reads.
import { mkdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DiskArray } from '../../src/array/disk_array.js';
import { createImageFile, openDevice } from '../../src/devices/open_device.js';
import { Arena } from '../../src/kernels/arena.js';
import { Codec } from '../../src/kernels/codec.js';
import type { DeviceExtent } from '../../src/devices/device.js';
import { FaultyDevice } from '../sim/faulty_device.js';
import { MIB, patternBytes, TEST_RUNTIME, useArraySuite } from '../helpers/temp_array.js';

const suite = useArraySuite();

/** Reads wait at a gate while `gate` is set (a read held in flight while others write). */
class GatedDevice extends FaultyDevice {
  gate: Promise<void> | undefined;
  override async read(extents: readonly DeviceExtent[], buffers: readonly Uint8Array[]): Promise<void> {
    if (this.gate) await this.gate;
    return super.read(extents, buffers);
  }
}

async function createFaulty(deviceCount: number): Promise<{ array: DiskArray; devices: GatedDevice[] }> {
  const home = suite.dir.file('home');
  mkdirSync(home);
  const paths = Array.from({ length: deviceCount }, (_, i) => suite.dir.file(`dev${i}.img`));
  for (const path of paths) await createImageFile(path, 64 * MIB);
  const devices: GatedDevice[] = [];
  const array = await DiskArray.create({
    ...TEST_RUNTIME,
    home,
    devices: paths,
    parityCount: 1,
    openDevice: async (path, openOptions) => {
      const device = new GatedDevice(await openDevice(path, openOptions), { seed: 11 + devices.length });
      devices.push(device);
      return device;
    },
  });
  return { array, devices: devices.slice(-deviceCount) };
}

describe('small reads', () => {
  it('readInto a plain Buffer keeps the range rules: offsets, short targets, the end, an empty file, a missing one', async () => {
    const { array } = await createFaulty(4);
    suite.array = array;
    const content = patternBytes(10_000, 5);
    await array.put('small', content);
    await array.put('empty', Buffer.alloc(0));
    expect(array.stat('small').groupCount).toBe(1);
    const target = Buffer.alloc(20_000);
    for (const [offset, size] of [[0, 20_000], [0, 4096], [1, 4096], [4095, 2], [9_999, 10], [10_000, 10], [3, 0]] as const) {
      const view = target.subarray(0, size);
      const read = await array.readInto('small', view, { offset });
      expect(read).toBe(Math.max(0, Math.min(size, content.length - offset)));
      expect(view.subarray(0, read).equals(content.subarray(offset, offset + read)), `${offset}+${size}`).toBe(true);
    }
    expect(await array.readInto('empty', target)).toBe(0);
    await expect(array.readInto('small', target, { offset: 10_001 })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(array.readInto('small', target, { offset: -1 })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(array.readInto('missing', target)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(array.get('small', { offset: 5, length: 9_996 })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect((await array.get('small', { offset: 5, length: 9_995 })).equals(content.subarray(5))).toBe(true);
  });

  it('verifies every small read: a rotten block is rebuilt, returned right and repaired; a pulled device is reconstructed', async () => {
    const { array, devices } = await createFaulty(4);
    suite.array = array;
    const files = Array.from({ length: 24 }, (_, i) => patternBytes(1 + i * 517, 100 + i));
    await Promise.all(files.map((content, i) => array.put(`f${i}`, content)));
    const targets = Array.from({ length: 24 }, () => Buffer.alloc(16_384));
    for (const device of devices) device.plan.readCorruptRate = 1;
    // Every block read comes back corrupt on every device: more erasures than parity, so the
    // reads fail (CORRUPT_BLOCK or TOO_MANY_ERASURES) rather than return unverified bytes.
    const failed = await Promise.allSettled(files.map((_, i) => array.readInto(`f${i}`, targets[i]!)));
    expect(failed.every((outcome) => outcome.status === 'rejected')).toBe(true);
    for (const device of devices) device.plan.readCorruptRate = 0;
    devices[1]!.plan.readCorruptRate = 1;
    const before = array.status();
    const read = await Promise.all(files.map((_, i) => array.readInto(`f${i}`, targets[i]!)));
    files.forEach((content, i) => expect(targets[i]!.subarray(0, read[i]).equals(content), `f${i}`).toBe(true));
    const after = array.status();
    expect(after.degradedReads).toBeGreaterThan(before.degradedReads);
    expect(after.repairedBlocks).toBeGreaterThan(before.repairedBlocks);
    devices[1]!.plan.readCorruptRate = 0;
    devices[2]!.pull();
    const again = await Promise.all(files.map((_, i) => array.readInto(`f${i}`, targets[i]!)));
    files.forEach((content, i) => expect(targets[i]!.subarray(0, again[i]).equals(content), `pulled f${i}`).toBe(true));
  });

  it('a small read in flight holds off the reuse of its blocks while its file is deleted and others are written', async () => {
    const { array, devices } = await createFaulty(4);
    suite.array = array;
    const files = Array.from({ length: 16 }, (_, i) => patternBytes(4096, 200 + i));
    await Promise.all(files.map((content, i) => array.put(`old${i}`, content)));
    const targets = Array.from({ length: 16 }, () => Buffer.alloc(4096));
    // The reads look their groups up now and wait at the gate while their files are deleted
    // (committed, durable) and new files are written: those must not land on the old blocks.
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    for (const device of devices) device.gate = gate;
    const reads = files.map((_, i) => array.readInto(`old${i}`, targets[i]!));
    await Promise.all(files.map((_, i) => array.delete(`old${i}`)));
    await Promise.all(files.map((_, i) => array.put(`new${i}`, patternBytes(4096, 900 + i))));
    const before = array.status().degradedReads;
    for (const device of devices) device.gate = undefined;
    open();
    await Promise.all(reads);
    expect(array.status().degradedReads).toBe(before);
    files.forEach((content, i) => expect(targets[i]!.equals(content), `old${i}`).toBe(true));
    for (let i = 0; i < 16; i++) expect((await array.get(`new${i}`)).equals(patternBytes(4096, 900 + i))).toBe(true);
    expect((await array.fsck({ deep: true })).problems).toEqual([]);
  });

  it('Codec.verifyNow checks small buffers on the calling thread and names the mismatched ones', async () => {
    const arena = new Arena({ capacityBytes: 8 * MIB });
    const codec = await Codec.create({ arena, workerCount: 0 });
    try {
      const blocks = [arena.alloc(4096), arena.alloc(8192)];
      blocks[0]!.bytes.set(patternBytes(4096, 1));
      blocks[1]!.bytes.set(patternBytes(8192, 2));
      const views = blocks.map((block) => block.bytes);
      const sums = await codec.checksum(views);
      expect(codec.verifyNow(views, sums)).toEqual([]);
      views[1]![100]! ^= 1;
      expect(codec.verifyNow(views, sums)).toEqual([1]);
      expect(await codec.verify(views, sums)).toEqual([1]);
      expect(() => codec.verifyNow(views, [sums[0]!])).toThrow(/one 32-byte checksum per buffer/);
      for (const block of blocks) arena.free(block);
    } finally {
      await codec.close();
    }
  });
});
