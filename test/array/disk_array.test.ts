import { openSync, writeSync, closeSync, readFileSync, statSync, truncateSync } from 'node:fs';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { DiskArray } from '../../src/array/disk_array.js';
import { LB_BYTES } from '../../src/constants.js';
import { createTempArray, MIB, patternBytes, TEST_RUNTIME, useArraySuite } from '../helpers/temp_array.js';

const suite = useArraySuite();

async function expectClean(target: DiskArray): Promise<void> {
  target.assertInvariants();
  const report = await target.fsck({ deep: true });
  expect(report.problems).toEqual([]);
}

/** Overwrites bytes of one extent directly in its image file, as bit rot would. */
function corruptExtent(devicePath: string, startLb: number, offsetInExtent = 100): void {
  const fd = openSync(devicePath, 'r+');
  try {
    writeSync(fd, Buffer.from('rot!rot!'), 0, 8, startLb * LB_BYTES + offsetInExtent);
  } finally {
    closeSync(fd);
  }
}

describe('DiskArray put/get', () => {
  it('round-trips files of awkward sizes and keeps every invariant', async () => {
    ({ array: suite.array } = await createTempArray(suite.dir));
    const sizes = [0, 1, 4095, 4096, 4097, 3 * MIB + 3, 9 * MIB + 1];
    for (const [i, size] of sizes.entries()) {
      const content = patternBytes(size, 1000 + i);
      const stat = await suite.array.put(`file-${size}`, content);
      expect(stat.sizeBytes).toBe(size);
      suite.array.assertInvariants();
      expect((await suite.array.get(`file-${size}`)).equals(content)).toBe(true);
    }
    expect(suite.array.list().map((file) => file.name).sort()).toEqual(sizes.map((size) => `file-${size}`).sort());
    await expectClean(suite.array);
  });

  it('gives a 1-byte file one group of 1+m blocks of one LB, and an empty file no groups', async () => {
    ({ array: suite.array } = await createTempArray(suite.dir, { parityCount: 2 }));
    const tiny = await suite.array.put('tiny', Buffer.from([42]));
    expect(tiny.groups).toHaveLength(1);
    expect(tiny.groups[0]).toMatchObject({ dataCount: 1, parityCount: 2, extentLb: 1, lengthBytes: 1 });
    expect(tiny.groups[0]!.extents).toHaveLength(3);
    expect(new Set(tiny.groups[0]!.extents.map((extent) => extent.deviceId)).size).toBe(3);
    const empty = await suite.array.put('empty', Buffer.alloc(0));
    expect(empty.groups).toHaveLength(0);
    expect((await suite.array.get('empty')).length).toBe(0);
  });

  it('uses k = min(maxDataWidth, devices - m) and rotates parity over the devices', async () => {
    ({ array: suite.array } = await createTempArray(suite.dir, { deviceCount: 5, parityCount: 1, extentLbMax: 16 }));
    const stat = await suite.array.put('wide', patternBytes(40 * 16 * LB_BYTES, 7));
    expect(stat.groups.every((group) => group.dataCount === 4 && group.extentLb === 16)).toBe(true);
    const parityDevices = new Set(stat.groups.map((group) => group.extents.find((extent) => extent.role === 'parity')!.deviceId));
    expect(parityDevices.size).toBe(5);
  });

  it('reads byte ranges and streams in both directions', async () => {
    ({ array: suite.array } = await createTempArray(suite.dir, { extentLbMax: 8 }));
    const content = patternBytes(5 * MIB + 77, 3);
    await suite.array.put('streamed', Readable.from(chunksOf(content, 100_000)));
    for (const [offset, length] of [[0, 1], [4095, 2], [32767, 70000], [5 * MIB, 77], [123, 5 * MIB - 123]] as const) {
      expect((await suite.array.get('streamed', { offset, length })).equals(content.subarray(offset, offset + length))).toBe(true);
    }
    const parts: Buffer[] = [];
    for await (const part of suite.array.createReadStream('streamed', { offset: 10, length: content.length - 20 })) parts.push(part as Buffer);
    expect(Buffer.concat(parts).equals(content.subarray(10, content.length - 10))).toBe(true);
    const reused = Buffer.alloc(MIB);
    expect(await suite.array.readInto('streamed', reused, { offset: 5 * MIB - 10 })).toBe(87);
    expect(reused.subarray(0, 87).equals(content.subarray(5 * MIB - 10))).toBe(true);
    expect(await suite.array.readInto('streamed', reused, { offset: 1000 })).toBe(MIB);
    expect(reused.equals(content.subarray(1000, 1000 + MIB))).toBe(true);
    await expect(suite.array.get('streamed', { offset: content.length + 1 })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(suite.array.get('streamed', { offset: 0, length: content.length + 1 })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('replaces a file atomically and frees the old extents, leaking nothing', async () => {
    ({ array: suite.array } = await createTempArray(suite.dir));
    await suite.array.put('doc', patternBytes(2 * MIB, 1));
    const second = patternBytes(MIB + 5, 2);
    await suite.array.put('doc', second);
    expect((await suite.array.get('doc')).equals(second)).toBe(true);
    await suite.array.delete('doc');
    suite.array.assertInvariants();
    expect(suite.array.status().allocatedBytes).toBe(0);
    await expect(suite.array.get('doc')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(suite.array.delete('doc')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(() => suite.array!.stat('doc')).toThrow(expect.objectContaining({ code: 'NOT_FOUND' }));
  });

  it('keeps extents a running reader sees until it finishes', async () => {
    ({ array: suite.array } = await createTempArray(suite.dir, { extentLbMax: 4 }));
    const first = patternBytes(3 * MIB, 11);
    await suite.array.put('live', first);
    const stream = suite.array.createReadStream('live');
    const iterator = stream[Symbol.asyncIterator]();
    const parts: Buffer[] = [(await iterator.next()).value as Buffer];
    await suite.array.put('live', patternBytes(3 * MIB, 12));
    await suite.array.put('other', patternBytes(3 * MIB, 13)); // would reuse freed extents if they were released early
    for (;;) {
      const next = await iterator.next();
      if (next.done) break;
      parts.push(next.value as Buffer);
    }
    expect(Buffer.concat(parts).equals(first)).toBe(true);
    suite.array.assertInvariants();
  });

  it('fills mixed-size devices in proportion to their capacity', async () => {
    // Groups narrower than the device count leave placement a choice (a full-width group has none).
    const deviceBytes = [48 * MIB, 48 * MIB, 48 * MIB, 96 * MIB, 96 * MIB, 96 * MIB];
    ({ array: suite.array } = await createTempArray(suite.dir, { deviceBytes, maxDataWidth: 2, extentLbMax: 16 }));
    for (let i = 0; i < 6; i++) await suite.array.put(`f${i}`, patternBytes(8 * MIB, i));
    const fractions = suite.array.status().devices.map((device) => device.usedFraction);
    expect(Math.max(...fractions) - Math.min(...fractions)).toBeLessThan(0.1);
  });
});

describe('DiskArray degraded reads', () => {
  it('reconstructs a block with a bad checksum from the survivors', async () => {
    let devices: string[];
    ({ array: suite.array, devices } = await createTempArray(suite.dir, { parityCount: 1 }));
    const content = patternBytes(3 * MIB, 21);
    const stat = await suite.array.put('rotting', content);
    const victim = stat.groups[0]!.extents.find((extent) => extent.role === 'data')!;
    corruptExtent(devices[victim.deviceId - 1]!, victim.startLb);
    const before = await suite.array.fsck({ deep: true });
    expect(before.ok).toBe(false);
    // Named as stat shows the group: the file, the group's place in it, and its id.
    expect(before.problems.join('\n')).toMatch(/^file "rotting" group 0 \(id \d+\): blocks \d+ unreadable or corrupt/m);
    expect((await suite.array.get('rotting')).equals(content)).toBe(true);
    expect(suite.array.status().degradedReads).toBeGreaterThan(0);
    // The read rewrote the rotten block with its rebuilt content: the array is whole again.
    expect(suite.array.status().repairedBlocks).toBe(1);
    expect((await suite.array.fsck({ deep: true })).problems).toEqual([]);
  });

  it('rebuilds two lost blocks with parity 2 and refuses three', async () => {
    let devices: string[];
    ({ array: suite.array, devices } = await createTempArray(suite.dir, { deviceCount: 6, parityCount: 2 }));
    const content = patternBytes(2 * MIB, 22);
    const stat = await suite.array.put('double', content);
    const group = stat.groups[0]!;
    const [a, b, c] = group.extents;
    corruptExtent(devices[a!.deviceId - 1]!, a!.startLb);
    corruptExtent(devices[b!.deviceId - 1]!, b!.startLb);
    expect((await suite.array.get('double')).equals(content)).toBe(true);
    expect(suite.array.status().repairedBlocks).toBe(2);
    for (const extent of [a!, b!, c!]) corruptExtent(devices[extent.deviceId - 1]!, extent.startLb);
    // Named as stat shows the group, not by the file's row id.
    await expect(suite.array.get('double')).rejects.toMatchObject({ code: 'TOO_MANY_ERASURES', message: expect.stringMatching(/^file "double" group 0 \(id \d+\) has 3 unreadable blocks/) });
  });

  it('opens degraded with a device missing and refuses more than m missing', async () => {
    let devices: string[];
    let home: string;
    ({ array: suite.array, devices, home } = await createTempArray(suite.dir, { parityCount: 1 }));
    const content = patternBytes(4 * MIB + 9, 23);
    await suite.array.put('survivor', content);
    await suite.array.close();
    const { renameSync } = await import('node:fs');
    renameSync(devices[1]!, `${devices[1]}.gone`);
    suite.array = await DiskArray.open(home, TEST_RUNTIME);
    expect(suite.array.status().degraded).toBe(true);
    expect(suite.array.status().devices[1]!.state).toBe('missing');
    expect(suite.array.status().devices[1]!.reason).toMatch(/ENOENT/);
    const report = await suite.array.fsck();
    expect(report.ok).toBe(false);
    expect(report.problems.join('\n')).toMatch(/device 2 .* is missing/);
    expect((await suite.array.get('survivor')).equals(content)).toBe(true);
    await suite.array.close();
    suite.array = undefined;
    renameSync(devices[2]!, `${devices[2]}.gone`);
    // Beyond m missing: the array still opens (status, ls, fsck work), lists the files it cannot
    // read, refuses changes, and takes the devices back with onlineDevice.
    suite.array = await DiskArray.open(home, { ...TEST_RUNTIME, scan: false });
    expect(suite.array.list().map((file) => file.name)).toEqual(['survivor']);
    expect((await suite.array.fsck()).problems.join('\n')).toMatch(/file "survivor": group 0 has 2 blocks on unavailable devices/);
    await expect(suite.array.get('survivor')).rejects.toMatchObject({ code: 'TOO_MANY_ERASURES' });
    await expect(suite.array.put('new', Buffer.from('x'))).rejects.toMatchObject({ code: 'TOO_MANY_ERASURES' });
    renameSync(`${devices[1]}.gone`, devices[1]!);
    renameSync(`${devices[2]}.gone`, devices[2]!);
    expect((await suite.array.onlineDevice(devices[1]!)).state).toBe('online');
    expect((await suite.array.onlineDevice(3)).state).toBe('online');
    expect((await suite.array.get('survivor')).equals(content)).toBe(true);
    await suite.array.put('new', Buffer.from('x'));
    expect((await suite.array.fsck({ deep: true })).problems).toEqual([]);
  });
});

describe('DiskArray with a member cut short', () => {
  it('opens with an image truncated past its superblock missing, reads from parity, and never writes past its end', async () => {
    let devices: string[];
    let home: string;
    ({ array: suite.array, devices, home } = await createTempArray(suite.dir, { parityCount: 1 }));
    const content = patternBytes(12 * MIB, 41);
    await suite.array.put('f', content);
    await suite.array.close();
    const halfBytes = statSync(devices[1]!).size / 2;
    truncateSync(devices[1]!, halfBytes); // the superblock at its start survives
    suite.array = await DiskArray.open(home, TEST_RUNTIME);
    expect(suite.array.status().devices[1]).toMatchObject({ state: 'missing', reason: expect.stringMatching(/smaller than the \d+ it had \(truncated or shrunk\)/) });
    expect((await suite.array.get('f')).equals(content)).toBe(true);
    await suite.array.close();
    expect(statSync(devices[1]!).size).toBe(halfBytes);
  });
});

describe('DiskArray onlineDevice at a new path', () => {
  // A member that came back somewhere else — a loop device attached again as another
  // /dev/loopN, an image file moved — is named by its new path; the scan may not reach it.
  it('takes back the member whose superblock the path carries, and records the path', async () => {
    let devices: string[];
    let home: string;
    ({ array: suite.array, devices, home } = await createTempArray(suite.dir, { parityCount: 1 }));
    const content = patternBytes(2 * MIB + 5, 31);
    await suite.array.put('kept', content);
    await suite.array.close();
    const { renameSync, writeFileSync } = await import('node:fs');
    const moved = `${devices[1]}.moved`;
    renameSync(devices[1]!, moved);
    suite.array = await DiskArray.open(home, { ...TEST_RUNTIME, scan: false });
    expect(suite.array.status().devices[1]!.state).toBe('missing');
    const other = `${devices[1]}.other`;
    writeFileSync(other, Buffer.alloc(2 * MIB));
    await expect(suite.array.onlineDevice(other)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    const device = await suite.array.onlineDevice(moved);
    expect(device).toMatchObject({ deviceId: 2, state: 'online', path: moved });
    expect(suite.array.status().degraded).toBe(false);
    expect((await suite.array.get('kept')).equals(content)).toBe(true);
    expect((await suite.array.fsck({ deep: true })).problems).toEqual([]);
    await suite.array.close();
    suite.array = await DiskArray.open(home, { ...TEST_RUNTIME, scan: false });
    expect(suite.array.status().devices[1]).toMatchObject({ state: 'online', path: moved });
  });
});

describe('DiskArray bad input', () => {
  it('refuses a second opener with ARRAY_LOCKED', async () => {
    let home: string;
    ({ array: suite.array, home } = await createTempArray(suite.dir));
    await expect(DiskArray.open(home, TEST_RUNTIME)).rejects.toMatchObject({ code: 'ARRAY_LOCKED' });
  });

  it('refuses a full array with NO_SPACE and leaves nothing half-written', async () => {
    ({ array: suite.array } = await createTempArray(suite.dir, { deviceBytes: 24 * MIB }));
    await suite.array.put('keep', patternBytes(MIB, 31));
    const before = suite.array.status().allocatedBytes;
    await expect(suite.array.put('huge', patternBytes(80 * MIB, 32))).rejects.toMatchObject({ code: 'NO_SPACE' });
    // A stream of unknown size only finds out part-way through.
    await expect(suite.array.put('huge', Readable.from(chunksOf(patternBytes(80 * MIB, 33), MIB)))).rejects.toMatchObject({ code: 'NO_SPACE' });
    expect(suite.array.status().allocatedBytes).toBe(before);
    expect(suite.array.list().map((file) => file.name)).toEqual(['keep']);
    await expectClean(suite.array);
  });

  it('rejects bad names, the same device twice and devices that are too small', async () => {
    ({ array: suite.array } = await createTempArray(suite.dir));
    await expect(suite.array.put('', Buffer.from('x'))).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(suite.array.put('a\0b', Buffer.from('x'))).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    const { mkdirSync, symlinkSync } = await import('node:fs');
    const { createImageFile } = await import('../../src/devices/open_device.js');
    const home2 = suite.dir.file('home2');
    mkdirSync(home2);
    await createImageFile(suite.dir.file('x.img'), 64 * MIB);
    symlinkSync(suite.dir.file('x.img'), suite.dir.file('x-link.img'));
    await expect(
      DiskArray.create({ ...TEST_RUNTIME, home: home2, devices: [suite.dir.file('x.img'), suite.dir.file('x-link.img')] }),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(
      DiskArray.create({ ...TEST_RUNTIME, home: home2, devices: [suite.dir.file('s1.img'), suite.dir.file('s2.img')], createSizeBytes: MIB }),
    ).rejects.toMatchObject({ code: 'DEVICE_TOO_SMALL' });
    const { existsSync } = await import('node:fs');
    expect(existsSync(suite.dir.file('s1.img')), 'a failed create removes the images it made').toBe(false);
    await expect(DiskArray.create({ ...TEST_RUNTIME, home: home2, devices: [suite.dir.file('x.img')] })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    await expect(
      DiskArray.create({ ...TEST_RUNTIME, home: home2, devices: [suite.dir.file('y1.img'), suite.dir.file('y2.img')], createSizeBytes: 64 * MIB, parityCount: 4 as 1 }),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('refuses runtime options that cannot work instead of taking the default: a backend typo, a negative or non-numeric workerCount', async () => {
    let home: string;
    ({ array: suite.array, home } = await createTempArray(suite.dir));
    await suite.array.close();
    suite.array = undefined;
    const { existsSync } = await import('node:fs');
    for (const bad of [{ backend: 'io_uring' }, { backend: 'FS' }, { workerCount: -2 }, { workerCount: 'x' }, { workerCount: Number.NaN }]) {
      await expect(DiskArray.open(home, { ...TEST_RUNTIME, ...bad } as never), JSON.stringify(bad)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
      const image = suite.dir.file('fresh.img');
      await expect(DiskArray.create({ ...TEST_RUNTIME, ...bad, home: suite.dir.file('home2'), devices: [image, suite.dir.file('fresh2.img')], createSizeBytes: 64 * MIB } as never)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
      expect(existsSync(image), 'a refused create makes no image').toBe(false);
    }
    // The refusals left the array as it was: it opens.
    suite.array = await DiskArray.open(home, { ...TEST_RUNTIME, backend: 'auto', workerCount: 0 });
  });

  it('refuses an options object that cannot work: null, a number, an onProgress that is no function, a signal that is no AbortSignal', async () => {
    ({ array: suite.array } = await createTempArray(suite.dir));
    const array = suite.array;
    await array.put('f', patternBytes(300_000, 41));
    const bads = [null, 5, { onProgress: 'tick' }, { signal: {} }, { signal: { aborted: false } }];
    for (const bad of bads) {
      const label = JSON.stringify(bad);
      await expect(array.put('g', patternBytes(300_000, 42), bad as never), label).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
      await expect(array.put('g', Readable.from([Buffer.alloc(10)]), bad as never), label).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
      await expect(array.get('f', bad as never), label).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
      await expect(array.readInto('f', Buffer.alloc(10), bad as never), label).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
      expect(() => array.createReadStream('f', bad as never), label).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
      await expect(array.readChunks('f', bad as never).next(), label).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
      await expect(array.rebalance(bad as never), label).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    }
    expect(array.list().map((file) => file.name)).toEqual(['f']);
    await expectClean(array);
  });

  it('refuses a device of another array unless forced', async () => {
    let devices: string[];
    ({ array: suite.array, devices } = await createTempArray(suite.dir));
    await suite.array.close();
    suite.array = undefined;
    const { mkdirSync } = await import('node:fs');
    const home2 = suite.dir.file('home2');
    mkdirSync(home2);
    const extra = suite.dir.file('extra.img');
    const options = { ...TEST_RUNTIME, home: home2, devices: [devices[0]!, extra], createSizeBytes: 64 * MIB };
    await expect(DiskArray.create(options)).rejects.toMatchObject({ code: 'FOREIGN_DEVICE' });
    suite.array = await DiskArray.create({ ...options, force: true });
    await suite.array.put('mine', Buffer.from('now mine'));
    expect((await suite.array.get('mine')).toString()).toBe('now mine');
  });

  it('reports corrupt metadata clearly and does not modify it', async () => {
    let home: string;
    ({ array: suite.array, home } = await createTempArray(suite.dir));
    await suite.array.put('a', Buffer.from('hello'));
    await suite.array.close();
    suite.array = undefined;
    const path = `${home}/elastripe.db`;
    const fd = openSync(path, 'r+');
    writeSync(fd, Buffer.alloc(4096, 0xee), 0, 4096, 0);
    closeSync(fd);
    const before = readFileSync(path);
    await expect(DiskArray.open(home, TEST_RUNTIME)).rejects.toMatchObject({ code: 'CORRUPT_METADATA' });
    expect(readFileSync(path).equals(before)).toBe(true);
  });
});

describe('DiskArray close', () => {
  it('lets a put in flight finish, then refuses new calls', async () => {
    let home: string;
    ({ array: suite.array, home } = await createTempArray(suite.dir));
    const content = patternBytes(6 * MIB, 52);
    const put = suite.array.put('in-flight', content);
    const closing = suite.array.close();
    await expect(suite.array.put('late', Buffer.from('x'))).rejects.toMatchObject({ code: 'ARRAY_CLOSED' });
    await put;
    await closing;
    suite.array = await DiskArray.open(home, TEST_RUNTIME);
    expect((await suite.array.get('in-flight')).equals(content)).toBe(true);
  });
});

describe('DiskArray aborts', () => {
  it('aborts a put that waits on a silent stream, leaving nothing behind', async () => {
    ({ array: suite.array } = await createTempArray(suite.dir));
    const { PassThrough } = await import('node:stream');
    const source = new PassThrough();
    source.write(patternBytes(3 * MIB, 51));
    const controller = new AbortController();
    const put = suite.array.put('stalled', source, { signal: controller.signal });
    setTimeout(() => controller.abort(), 200);
    await expect(put).rejects.toMatchObject({ code: 'ABORTED' });
    expect(suite.array.list()).toEqual([]);
    expect(suite.array.status().allocatedBytes).toBe(0);
    suite.array.assertInvariants();
  });
});

function* chunksOf(content: Buffer, size: number): Generator<Buffer> {
  for (let offset = 0; offset < content.length; offset += size) yield content.subarray(offset, offset + size);
}
