// The zero-copy faces of the library: arena buffers (allocBuffer/freeBuffer) that put encodes in
// place and readInto fills in place, get({ inArena }), readChunks (lent arena views),
// createReadStream({ pooledChunks }) and put({ path }) reading a file straight into the arena.
// Real image files, real io_uring where the kernel has it; bad input gets typed errors.
import { createHash } from 'node:crypto';
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readdirSync, truncateSync, writeFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import type { DiskArray } from '../../src/array/disk_array.js';
import { openFileSource } from '../../src/array/file_source.js';
import { uringAvailable } from '../../src/devices/uring_native.js';
import { ElastripeError } from '../../src/errors.js';
import { createTempArray, MIB, patternBytes, useArraySuite } from '../helpers/temp_array.js';

const suite = useArraySuite();

async function open(): Promise<DiskArray> {
  ({ array: suite.array } = await createTempArray(suite.dir, { deviceCount: 4, extentLbMax: 64 }));
  return suite.array;
}

async function codeOf(work: () => unknown): Promise<string | undefined> {
  try {
    await work();
  } catch (error) {
    expect(error).toBeInstanceOf(ElastripeError);
    return (error as ElastripeError).code;
  }
  return undefined;
}

// Group capacity here: 3 data blocks of 64 LB = 768 KiB; sizes straddle groups, blocks and LBs.
const SIZES = [1, 4095, 4096, 256 * 1024 + 7, 768 * 1024, 3 * 768 * 1024 + 12_345];

describe('arena buffers', () => {
  it.each(SIZES)('put of an arena buffer of %i bytes stores it in place; readInto an arena buffer reads it back', async (size) => {
    const array = await open();
    const data = patternBytes(size, size);
    const source = array.allocBuffer(size);
    source.set(data);
    const stat = await array.put('f', source);
    expect(stat.sizeBytes).toBe(size);
    expect(source.equals(data), 'put leaves the caller’s bytes untouched (padding goes elsewhere)').toBe(true);
    array.assertInvariants();
    const target = array.allocBuffer(size + 100);
    target.fill(0xee);
    expect(await array.readInto('f', target)).toBe(size);
    expect(target.subarray(0, size).equals(data)).toBe(true);
    expect(target.subarray(size).every((byte) => byte === 0xee), 'nothing past the file is written').toBe(true);
    // Unaligned offsets take the copying path for the cut blocks, in place for the rest.
    for (const offset of [0, 1, 4097, Math.floor(size / 2)]) {
      if (offset >= size) continue;
      const part = array.allocBuffer(size - offset);
      expect(await array.readInto('f', part, { offset })).toBe(size - offset);
      expect(part.equals(data.subarray(offset))).toBe(true);
      array.freeBuffer(part);
    }
    expect((await array.get('f')).equals(data)).toBe(true);
    array.freeBuffer(source);
    array.freeBuffer(target);
    array.assertInvariants();
  });

  it('an unaligned view of an arena buffer is stored through the copying path', async () => {
    const array = await open();
    const buffer = array.allocBuffer(100_000);
    buffer.set(patternBytes(100_000, 3));
    await array.put('odd', buffer.subarray(1, 90_001));
    expect((await array.get('odd')).equals(patternBytes(100_000, 3).subarray(1, 90_001))).toBe(true);
    array.freeBuffer(buffer);
  });

  it('freed buffers go back to the arena (allocating and freeing most of it repeatedly works)', async () => {
    const array = await open();
    for (let round = 0; round < 5; round++) {
      const big = array.allocBuffer(40 * MIB);
      await array.put(`r${round}`, big.subarray(0, MIB));
      array.freeBuffer(big);
    }
    array.assertInvariants();
  });

  it('a degraded read rebuilds straight into the arena target', async () => {
    const array = await open();
    const data = patternBytes(2 * MIB + 333, 9);
    await array.put('d', data);
    await array.failDevice(array.status().devices[0]!.deviceId);
    const target = array.allocBuffer(data.byteLength);
    expect(await array.readInto('d', target)).toBe(data.byteLength);
    expect(target.equals(data)).toBe(true);
    array.freeBuffer(target);
  });

  it('bad input: sizes, double free, foreign buffers, views, use after close', async () => {
    const array = await open();
    expect(await codeOf(() => array.allocBuffer(0))).toBe('INVALID_ARGUMENT');
    expect(await codeOf(() => array.allocBuffer(-5))).toBe('INVALID_ARGUMENT');
    expect(await codeOf(() => array.allocBuffer(1.5))).toBe('INVALID_ARGUMENT');
    expect(await codeOf(() => array.allocBuffer(10 * 1024 * MIB))).toBe('ARENA_EXHAUSTED');
    const buffer = array.allocBuffer(8192);
    expect(await codeOf(() => array.freeBuffer(Buffer.alloc(8192)))).toBe('INVALID_ARGUMENT');
    expect(await codeOf(() => array.freeBuffer(buffer.subarray(4096)))).toBe('INVALID_ARGUMENT');
    expect(await codeOf(() => array.freeBuffer(buffer.subarray(0, 4096)))).toBe('INVALID_ARGUMENT');
    array.freeBuffer(buffer);
    expect(await codeOf(() => array.freeBuffer(buffer))).toBe('INVALID_ARGUMENT');
    const held = array.allocBuffer(4096); // still held at close: close gives it back
    array.assertInvariants();
    await array.close();
    expect(await codeOf(() => array.allocBuffer(4096))).toBe('ARRAY_CLOSED');
    // A cleanup that frees after the close (a finally racing it) has nothing left to do: no throw.
    expect(await codeOf(() => array.freeBuffer(held))).toBeUndefined();
    expect(await codeOf(() => array.assertInvariants())).toBe('ARRAY_CLOSED');
    suite.array = undefined;
  });

  it('readInto takes any TypedArray or DataView by its bytes, and arena memory only inside a live allocBuffer', async () => {
    const array = await open();
    const data = patternBytes(MIB + 4097, 8);
    await array.put('t', data);
    // A Uint16Array was filled one byte per element (or failed with an untyped RangeError).
    const wide = new Uint16Array(1000);
    expect(await array.readInto('t', wide)).toBe(2000);
    expect(Buffer.from(wide.buffer).equals(data.subarray(0, 2000))).toBe(true);
    const view = new DataView(new ArrayBuffer(100), 10, 64);
    expect(await array.readInto('t', view, { offset: 7 })).toBe(64);
    expect(Buffer.from(view.buffer, 10, 64).equals(data.subarray(7, 71))).toBe(true);
    for (const target of ['abc', null, {}, [1, 2, 3]]) expect(await codeOf(() => array.readInto('t', target as never))).toBe('INVALID_ARGUMENT');
    // A part of a live arena buffer is fine.
    const lent = array.allocBuffer(2 * MIB);
    expect(await array.readInto('t', lent.subarray(4096 + 3, 4096 + 3 + 10_000), { offset: 5 })).toBe(10_000);
    expect(lent.subarray(4099, 14_099).equals(data.subarray(5, 10_005))).toBe(true);
    // A freed one may be another read's or put's group buffer by now: refused, nothing written.
    array.freeBuffer(lent);
    const stale = Buffer.from(lent.subarray(0, 64));
    expect(await codeOf(() => array.readInto('t', lent))).toBe('INVALID_ARGUMENT');
    expect(lent.subarray(0, 64).equals(stale)).toBe(true);
    // So is a chunk readChunks lends (the array's own group buffer).
    for await (const { bytes } of array.readChunks('t')) {
      expect(await codeOf(() => array.readInto('t', bytes))).toBe('INVALID_ARGUMENT');
      break;
    }
    array.assertInvariants();
  });

  it('freeBuffer refuses a Buffer that a put or readInto in flight still uses', async () => {
    const array = await open();
    const data = patternBytes(6 * MIB + 5, 9);
    const source = array.allocBuffer(data.byteLength);
    source.set(data);
    // Freed while the put still encoded it, its memory could become another call's group buffer.
    const putting = array.put('p', source);
    expect(await codeOf(() => array.freeBuffer(source))).toBe('INVALID_ARGUMENT');
    await putting;
    array.freeBuffer(source);
    expect((await array.get('p')).equals(data)).toBe(true);
    // Freed while the reads still landed in it, another call's buffer would take them.
    const target = array.allocBuffer(data.byteLength);
    const reading = array.readInto('p', target.subarray(4096));
    expect(await codeOf(() => array.freeBuffer(target))).toBe('INVALID_ARGUMENT');
    expect(await reading).toBe(data.byteLength - 4096);
    expect(target.subarray(4096).equals(data.subarray(0, data.byteLength - 4096))).toBe(true);
    array.freeBuffer(target);
    // A call that failed lets go too.
    const failing = array.allocBuffer(4096);
    await expect(array.readInto('missing', failing)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    array.freeBuffer(failing);
    array.assertInvariants();
  });
});

describe('reads without a fresh allocation per chunk', () => {
  it('get({ inArena }) returns an arena Buffer that freeBuffer takes back', async () => {
    const array = await open();
    const data = patternBytes(MIB + 17, 5);
    await array.put('g', data);
    const got = await array.get('g', { inArena: true });
    expect(got.equals(data)).toBe(true);
    array.freeBuffer(got);
    const part = await array.get('g', { inArena: true, offset: 5, length: 10_000 });
    expect(part.equals(data.subarray(5, 10_005))).toBe(true);
    array.freeBuffer(part);
    // An empty range holds no arena, and its Buffer still goes back like any other (a finally
    // that frees what get returned must not throw for an empty file).
    const empty = await array.get('g', { inArena: true, offset: data.byteLength });
    expect(empty.byteLength).toBe(0);
    array.freeBuffer(empty);
    await array.put('nothing', Buffer.alloc(0));
    array.freeBuffer(await array.get('nothing', { inArena: true }));
    array.assertInvariants();
  });

  it('readChunks lends arena views in file order', async () => {
    const array = await open();
    const data = patternBytes(3 * MIB + 5, 6);
    await array.put('c', data);
    const hash = createHash('sha256');
    let expectedOffset = 0;
    for await (const { offset, bytes } of array.readChunks('c')) {
      expect(offset).toBe(expectedOffset);
      hash.update(bytes);
      expectedOffset += bytes.byteLength;
    }
    expect(hash.digest('hex')).toBe(createHash('sha256').update(data).digest('hex'));
    // Stopping early releases the views and the reader (close does not hang).
    for await (const _ of array.readChunks('c')) break;
  });

  it('createReadStream({ pooledChunks }) into a slow writable keeps every byte intact', async () => {
    const array = await open();
    const data = patternBytes(6 * MIB + 4321, 7);
    await array.put('s', data);
    const hash = createHash('sha256');
    const seen = new Set<ArrayBufferLike>();
    const slow = new Writable({
      write(chunk: Buffer, _encoding, done) {
        seen.add(chunk.buffer);
        // Hash later, after other chunks were produced: a reused chunk would show up here.
        setTimeout(() => {
          hash.update(chunk);
          done();
        }, 2);
      },
    });
    await pipeline(array.createReadStream('s', { pooledChunks: true }), slow);
    expect(hash.digest('hex')).toBe(createHash('sha256').update(data).digest('hex'));
    expect(seen.size, 'chunks come from a small ring of reused buffers').toBeLessThanOrEqual(4);
    const chunks: Buffer[] = [];
    for await (const chunk of array.createReadStream('s', { pooledChunks: true, offset: 100, length: 2 * MIB })) chunks.push(Buffer.from(chunk as Buffer));
    expect(Buffer.concat(chunks).equals(data.subarray(100, 100 + 2 * MIB))).toBe(true);
  });
});

describe('put({ path }): a file read straight into the arena', () => {
  it.each(SIZES.concat([0]))('a regular file of %i bytes', async (size) => {
    const array = await open();
    const data = patternBytes(size, size + 1);
    const path = suite.dir.file('source.bin');
    writeFileSync(path, data);
    const stat = await array.put('p', { path });
    expect(stat.sizeBytes).toBe(size);
    expect((await array.get('p')).equals(data)).toBe(true);
    array.assertInvariants();
  });

  it('a FIFO is read as a stream', async () => {
    const array = await open();
    const fifo = suite.dir.file('fifo');
    execFileSync('mkfifo', [fifo]);
    const data = patternBytes(MIB + 3, 11);
    const writer = spawn('sh', ['-c', `cat > ${JSON.stringify(fifo)}`], { stdio: ['pipe', 'ignore', 'inherit'] });
    writer.stdin.end(data);
    const stat = await array.put('fifo', { path: fifo });
    expect(stat.sizeBytes).toBe(data.byteLength);
    expect((await array.get('fifo')).equals(data)).toBe(true);
  });

  it('an abort ends a put waiting on an idle FIFO at once; nothing is stored', async () => {
    const array = await open();
    const fifo = suite.dir.file('idle-fifo');
    execFileSync('mkfifo', [fifo]);
    // A writer that sends a little, then idles (holding the FIFO open) until it is killed.
    const writer = spawn('sh', ['-c', `exec 3>${JSON.stringify(fifo)}; printf partial >&3; sleep 30`], { stdio: 'ignore' });
    try {
      const controller = new AbortController();
      const put = array.put('idle', { path: fifo }, { signal: controller.signal });
      setTimeout(() => controller.abort(), 300);
      expect(await codeOf(() => put)).toBe('ABORTED');
      expect(array.list().map((file) => file.name)).not.toContain('idle');
    } finally {
      writer.kill('SIGKILL');
    }
    // The read that was pending ends with the writer; its buffer goes back, the array stays whole.
    await new Promise((resolve) => setTimeout(resolve, 200));
    await array.put('after', Buffer.from('fine'));
    array.assertInvariants();
  });

  it('an abort ends a put of a FIFO no writer has opened yet, and frees the blocked open', async () => {
    const array = await open();
    const fifo = suite.dir.file('unopened-fifo');
    execFileSync('mkfifo', [fifo]);
    // More puts than the thread pool has threads (4): an open left blocked would hold one each.
    for (let i = 0; i < 6; i++) {
      const controller = new AbortController();
      const put = array.put(`nobody${i}`, { path: fifo }, { signal: controller.signal });
      setTimeout(() => controller.abort(), 50);
      const outcome = await Promise.race([codeOf(() => put), new Promise((resolve) => setTimeout(() => resolve('still waiting for a writer'), 5000))]);
      expect(outcome).toBe('ABORTED');
    }
    // The thread pool is free again: a put of a regular file (opened on it) goes through.
    const path = suite.dir.file('after.bin');
    writeFileSync(path, patternBytes(2 * MIB + 1, 77));
    expect((await array.put('after', { path })).sizeBytes).toBe(2 * MIB + 1);
    expect(array.list().map((file) => file.name)).toEqual(['after']);
    array.assertInvariants();
  });

  it('a regular file is read with O_DIRECT for its aligned body and pread for its tail', async () => {
    const path = suite.dir.file('direct.bin');
    const data = patternBytes(3 * MIB + 100, 12);
    writeFileSync(path, data);
    const opened = await openFileSource(path);
    expect(opened.kind).toBe('reader');
    if (opened.kind !== 'reader') return;
    const { reader } = opened;
    try {
      const array = await open();
      const target = array.allocBuffer(data.byteLength);
      await reader.readAt(target, 0);
      expect(target.equals(data)).toBe(true);
      reader.assertInvariants();
      if (uringAvailable().available) {
        expect(reader.usesDirectIo, 'the test directory takes O_DIRECT').toBe(true);
        expect(reader.directBytes).toBe(3 * MIB);
        expect(reader.bufferedBytes).toBe(100);
      } else {
        expect(reader.bufferedBytes).toBe(data.byteLength);
      }
      array.freeBuffer(target);
    } finally {
      await reader.close();
    }
  });

  it('a small regular file is read with synchronous calls: its bytes, a shrink detected, its descriptor closed', async () => {
    const descriptors = () => readdirSync('/proc/self/fd').length;
    const path = suite.dir.file('small.bin');
    const data = patternBytes(10_000, 21);
    writeFileSync(path, data);
    const array = await open();
    const before = descriptors();
    await Promise.all(Array.from({ length: 8 }, (_, i) => array.put(`small${i}`, { path })));
    expect(descriptors()).toBe(before);
    for (let i = 0; i < 8; i++) expect((await array.get(`small${i}`)).equals(data)).toBe(true);
    const opened = await openFileSource(path);
    expect(opened.kind).toBe('reader');
    if (opened.kind !== 'reader') return;
    try {
      expect(opened.reader.usesDirectIo).toBe(false);
      truncateSync(path, 4096);
      const target = array.allocBuffer(data.byteLength);
      await expect(opened.reader.readAt(target, 0)).rejects.toThrow(/shrank while it was read/);
      array.freeBuffer(target);
    } finally {
      await opened.reader.close();
    }
    expect(descriptors()).toBe(before);
    array.assertInvariants();
  });

  it('bad paths are typed errors and commit nothing', async () => {
    const array = await open();
    await array.put('keep', Buffer.from('old'));
    const directory = suite.dir.file('adir');
    mkdirSync(directory);
    expect(await codeOf(() => array.put('keep', { path: suite.dir.file('missing') }))).toBe('NOT_FOUND');
    expect(await codeOf(() => array.put('keep', { path: directory }))).toBe('INVALID_ARGUMENT');
    expect(await codeOf(() => array.put('keep', { path: '' }))).toBe('INVALID_ARGUMENT');
    expect((await array.get('keep')).toString()).toBe('old');
    array.assertInvariants();
  });
});
