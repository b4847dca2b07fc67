// The Codec through the pool and inline, against the scalar twins: random geometry with a
// printed seed, odd tail lengths, guard bytes after every block, every erasure pattern of
// small groups, hundreds of calls in flight, and the argument checks.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Arena, type ArenaBuffer } from '../../src/kernels/arena.js';
import { CHECKSUM_BYTES, CODEC_CHECKSUM_AREA_BYTES, Codec } from '../../src/kernels/codec.js';
import { encodeChecksumScalar } from '../../src/kernels/scalar/encode_checksum_scalar.js';
import { ArenaExhaustedError, InvalidArgumentError, TooManyErasuresError } from '../../src/errors.js';

const MiB = 1024 * 1024;
const GUARD_BYTES = 64;
const GUARD = 0xe7;
const seed = Number(process.env.ELASTRIPE_SEED ?? Date.now() % 2 ** 31);
console.log(`codec test seed=${seed} (rerun with ELASTRIPE_SEED=${seed})`);

/** xorshift32: deterministic bytes from the printed seed. */
function makeRandom(start: number): () => number {
  let state = start >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 2 ** 32;
  };
}
const random = makeRandom(seed);
const randomInt = (low: number, high: number): number => low + Math.floor(random() * (high - low + 1));

let arena: Arena;
let inline: Codec;
let pooled: Codec;
const held: ArenaBuffer[] = [];

beforeAll(async () => {
  arena = new Arena({ capacityBytes: 128 * MiB });
  inline = await Codec.create({ arena, workerCount: 0 });
  // Threshold 0 and small tasks: everything goes through the workers, cut into many tasks.
  pooled = await Codec.create({ arena, workerCount: 2, inlineThresholdBytes: 0, taskBytesTarget: 64 * 1024 });
  await pooled.whenWorkersReady(); // until a worker is up, the codec runs tasks inline
});

afterAll(async () => {
  await pooled?.close();
  await inline?.close();
  for (const buffer of held.splice(0)) arena.free(buffer);
  arena?.assertInvariants();
});

/** count blocks of lengthBytes, each followed by guard bytes, random data when `fill`. */
function blocks(count: number, lengthBytes: number, fill: boolean): Uint8Array[] {
  return Array.from({ length: count }, () => {
    const buffer = arena.alloc(lengthBytes + GUARD_BYTES);
    held.push(buffer);
    const block = buffer.bytes.subarray(0, lengthBytes);
    buffer.bytes.fill(GUARD);
    if (fill) for (let i = 0; i < lengthBytes; i++) block[i] = Math.floor(random() * 256);
    else block.fill(0);
    return block;
  });
}

function releaseAll(): void {
  for (const buffer of held.splice(0)) arena.free(buffer);
}

function guardsIntact(block: Uint8Array): boolean {
  const guard = new Uint8Array(block.buffer, block.byteOffset + block.byteLength, GUARD_BYTES);
  return guard.every((byte) => byte === GUARD);
}

/** The scalar twin's parity and checksums for data (run in a scratch arena buffer). */
function scalarEncode(data: Uint8Array[], parityCount: number): { parity: Uint8Array[]; checksums: Uint8Array[] } {
  const lengthBytes = data[0]!.byteLength;
  const parity = blocks(parityCount, lengthBytes, false);
  const lists = arena.alloc((data.length + parityCount) * 4 + (data.length + parityCount) * CHECKSUM_BYTES);
  try {
    const memory = new Uint8Array(arena.memory.buffer);
    const words = new Uint32Array(arena.memory.buffer, lists.offsetBytes, data.length + parityCount);
    words.set([...data, ...parity].map((block) => block.byteOffset));
    const sumsOffset = lists.offsetBytes + (data.length + parityCount) * 4;
    encodeChecksumScalar(memory, lists.offsetBytes, data.length, lists.offsetBytes + data.length * 4, parityCount, lengthBytes, sumsOffset, 0);
    const checksums = Array.from({ length: data.length + parityCount }, (_, i) => memory.slice(sumsOffset + i * 32, sumsOffset + (i + 1) * 32));
    return { parity: parity.map((block) => block.slice()), checksums };
  } finally {
    arena.free(lists);
  }
}

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

describe('codec encode', () => {
  it('matches the scalar twin through the pool and inline, with odd tails and intact guards', async () => {
    for (const lengthBytes of [1, 15, 63, 65, 4096, 12_345, 70_000]) {
      const dataCount = randomInt(1, 12);
      const parityCount = randomInt(1, 3);
      const data = blocks(dataCount, lengthBytes, true);
      const reference = scalarEncode(data, parityCount);
      for (const codec of [inline, pooled]) {
        const parity = blocks(parityCount, lengthBytes, false);
        await codec.encode(data, parity);
        const where = `${dataCount}+${parityCount} length ${lengthBytes} workers ${codec.workerCount}`;
        expect(parity.map(hex), where).toEqual(reference.parity.map(hex));
        const again = blocks(parityCount, lengthBytes, false);
        const checksums = await codec.encodeWithChecksums(data, again);
        expect(again.map(hex), where).toEqual(reference.parity.map(hex));
        expect(checksums.map(hex), where).toEqual(reference.checksums.map(hex));
        expect([...data, ...again].every(guardsIntact), where).toBe(true);
      }
      releaseAll();
    }
  });

  it('cuts a large group into column slices that together equal the scalar result', async () => {
    const data = blocks(8, 256 * 1024 + 100, true);
    const reference = scalarEncode(data, 3);
    const parity = blocks(3, data[0]!.byteLength, false);
    await pooled.encode(data, parity);
    expect(parity.map(hex)).toEqual(reference.parity.map(hex));
    expect(parity.every(guardsIntact)).toBe(true);
    releaseAll();
  });

  it('encodes a batch of mixed geometries like one group at a time', async () => {
    const groups = Array.from({ length: 24 }, () => {
      const lengthBytes = randomInt(1, 40) * 1024 + randomInt(0, 3);
      const dataCount = randomInt(1, 10);
      const parityCount = randomInt(1, 3);
      return { data: blocks(dataCount, lengthBytes, true), parity: blocks(parityCount, lengthBytes, false) };
    });
    const references = groups.map((group) => scalarEncode(group.data, group.parity.length));
    const checksums = await pooled.encodeBatch(groups);
    groups.forEach((group, g) => {
      expect(group.parity.map(hex), `group ${g}`).toEqual(references[g]!.parity.map(hex));
      expect(checksums[g]!.map(hex), `group ${g}`).toEqual(references[g]!.checksums.map(hex));
    });
    releaseAll();
  });

  it('keeps hundreds of calls in flight and gets every one right', async () => {
    const groups = Array.from({ length: 300 }, () => ({ data: blocks(4, 8192, true), parity: blocks(2, 8192, false) }));
    const results = await Promise.all(groups.map((group) => pooled.encodeWithChecksums(group.data, group.parity)));
    for (let g = 0; g < groups.length; g += 37) {
      const reference = scalarEncode(groups[g]!.data, 2);
      expect(results[g]!.map(hex)).toEqual(reference.checksums.map(hex));
    }
    const inlineResults = await Promise.all(groups.map((group) => inline.encodeWithChecksums(group.data, blocks(2, 8192, false))));
    expect(inlineResults.map((sums) => sums.map(hex))).toEqual(results.map((sums) => sums.map(hex)));
    pooled.assertInvariants();
    releaseAll();
  });
});

describe('codec reconstruct', () => {
  function erasurePatterns(width: number, most: number): number[][] {
    const patterns: number[][] = [];
    for (let mask = 1; mask < 1 << width; mask++) {
      const pattern = [...Array(width).keys()].filter((i) => mask & (1 << i));
      if (pattern.length <= most) patterns.push(pattern);
    }
    return patterns;
  }

  it('rebuilds every erasure pattern of small groups, in place, through both paths', async () => {
    for (const [dataCount, parityCount] of [[1, 1], [3, 1], [4, 2], [5, 3]] as const) {
      const lengthBytes = 4096 + 33;
      const data = blocks(dataCount, lengthBytes, true);
      const parity = blocks(parityCount, lengthBytes, false);
      await inline.encode(data, parity);
      const all = [...data, ...parity];
      const originals = all.map((block) => block.slice());
      for (const missing of erasurePatterns(dataCount + parityCount, parityCount)) {
        for (const codec of [inline, pooled]) {
          for (const index of missing) all[index]!.fill(0x5a);
          await codec.reconstruct(all, dataCount, missing);
          const where = `${dataCount}+${parityCount} missing [${missing}] workers ${codec.workerCount}`;
          expect(all.map(hex), where).toEqual(originals.map(hex));
          expect(all.every(guardsIntact), where).toBe(true);
        }
      }
      releaseAll();
    }
  });

  it('rebuilds a wide group across column slices', async () => {
    const data = blocks(20, 200_000, true);
    const parity = blocks(3, 200_000, false);
    await pooled.encode(data, parity);
    const all = [...data, ...parity];
    const originals = all.map((block) => block.slice());
    const missing = [0, 13, 21];
    for (const index of missing) all[index]!.fill(0);
    await pooled.reconstruct(all, 20, missing);
    expect(all.map(hex)).toEqual(originals.map(hex));
    releaseAll();
  });

  it('refuses more erasures than parity blocks, and bad indices', async () => {
    const all = blocks(6, 4096, true);
    await expect(pooled.reconstruct(all, 4, [0, 1, 2])).rejects.toBeInstanceOf(TooManyErasuresError);
    await expect(pooled.reconstruct(all, 4, [1, 1])).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(pooled.reconstruct(all, 4, [6])).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(pooled.reconstruct(all, 6, [0])).rejects.toBeInstanceOf(InvalidArgumentError);
    releaseAll();
  });
});

describe('codec checksum and verify', () => {
  it('checksums buffers of different lengths like the scalar twin and finds a flipped bit', async () => {
    const buffers = [1, 4, 5, 4096, 65_537, 300_000].map((lengthBytes) => blocks(1, lengthBytes, true)[0]!);
    const expected = buffers.map((buffer) => scalarEncode([buffer], 1).checksums[0]!);
    for (const codec of [inline, pooled]) {
      expect((await codec.checksum(buffers)).map(hex)).toEqual(expected.map(hex));
      expect(await codec.verify(buffers, expected)).toEqual([]);
    }
    buffers[4]![65_536]! ^= 0x10;
    buffers[0]![0]! ^= 0x01;
    expect(await pooled.verify(buffers, expected)).toEqual([0, 4]);
    expect(await inline.verify(buffers, expected)).toEqual([0, 4]);
    await expect(inline.verify(buffers, expected.slice(1))).rejects.toBeInstanceOf(InvalidArgumentError);
    releaseAll();
  });
});

describe('codec argument checks', () => {
  it('refuses bad geometry, unequal lengths, overlaps and buffers outside the arena', async () => {
    const data = blocks(4, 4096, true);
    const parity = blocks(2, 4096, false);
    await expect(inline.encode([], parity)).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(inline.encode(data, [])).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(inline.encode(data, blocks(4, 4096, false))).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(inline.encode([...data, blocks(1, 4095, true)[0]!], parity)).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(inline.encode(data, [new Uint8Array(4096)])).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(inline.encode(data, [data[0]!.subarray(0, 4096)])).rejects.toBeInstanceOf(InvalidArgumentError);
    const many = Array.from({ length: 256 }, () => data[0]!);
    await expect(inline.encode(many, parity)).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(inline.checksum([new Uint8Array(8)])).rejects.toBeInstanceOf(InvalidArgumentError);
    releaseAll();
  });

  it('reports its worker count, kernel variant and the work it did where', async () => {
    expect(inline.workerCount).toBe(0);
    expect(pooled.workerCount).toBe(2);
    expect(['simd', 'relaxed-simd']).toContain(pooled.kernelVariant);
    const inlineBefore = inline.stats().inlineTasks;
    const poolBefore = pooled.stats().pool!;
    const data = blocks(4, 65536, true);
    await inline.encode(data, blocks(1, 65536, false));
    await pooled.encode(data, blocks(1, 65536, false));
    expect(inline.stats()).toEqual({ inlineTasks: inlineBefore + 1, pool: undefined });
    const poolAfter = pooled.stats().pool!;
    expect(poolAfter.tasksCompleted).toBeGreaterThan(poolBefore.tasksCompleted);
    expect(poolAfter.workerBusyUs).toBeGreaterThan(poolBefore.workerBusyUs);
    expect(poolAfter.pendingTasks).toBe(0);
    releaseAll();
  });
});

describe('codec checksum room', () => {
  it('still checksums when every other arena page is taken, as under write backpressure', async () => {
    const data = blocks(4, 8192, true);
    const parity = blocks(2, 8192, false);
    const reference = scalarEncode(data, 2);
    const filler: ArenaBuffer[] = [];
    try {
      for (;;) filler.push(arena.alloc(arena.stats().largestFreeBytes || 1));
    } catch (error) {
      expect(error).toBeInstanceOf(ArenaExhaustedError);
    }
    try {
      expect(arena.stats().freeBytes).toBe(0);
      for (const codec of [inline, pooled]) {
        const checksums = await codec.encodeWithChecksums(data, parity);
        expect(checksums.map(hex)).toEqual(reference.checksums.map(hex));
      }
    } finally {
      for (const buffer of filler) arena.free(buffer);
    }
    releaseAll();
  });

  it('starts its workers at the first large task and runs tasks inline until one answers, then through the pool, with the same results', async () => {
    const codec = await Codec.create({ arena, workerCount: 1, inlineThresholdBytes: 0 });
    try {
      // No worker starts before the first task too large to run inline.
      expect(codec.stats().pool).toBeUndefined();
      const data = blocks(4, 65536, true);
      // The first large task starts the pool, but no worker has answered yet: the codec does not wait for one.
      const early = await codec.encodeWithChecksums(data, blocks(1, 65536, false));
      expect(codec.stats().inlineTasks).toBe(1);
      expect(codec.stats().pool!.tasksCompleted).toBe(0);
      await codec.whenWorkersReady();
      const late = await codec.encodeWithChecksums(data, blocks(1, 65536, false));
      expect(codec.stats().inlineTasks).toBe(1);
      expect(codec.stats().pool!.tasksCompleted).toBeGreaterThan(0);
      expect(late.map(hex)).toEqual(early.map(hex));
      codec.assertInvariants();
    } finally {
      await codec.close();
    }
    releaseAll();
  });

  it('falls back to arena buffers past its own area, and gives everything back on close', async () => {
    const usedBefore = arena.stats().usedBytes;
    const codec = await Codec.create({ arena, workerCount: 1, inlineThresholdBytes: 0 });
    await codec.whenWorkersReady();
    expect(arena.stats().usedBytes).toBe(usedBefore + CODEC_CHECKSUM_AREA_BYTES);
    const count = CODEC_CHECKSUM_AREA_BYTES / CHECKSUM_BYTES + 100;
    const slab = arena.alloc(count * 16);
    try {
      const buffers = Array.from({ length: count }, (_, i) => slab.bytes.subarray(i * 16, i * 16 + 16).fill(i & 0xff));
      const [first, second] = await Promise.all([codec.checksum(buffers), codec.checksum(buffers.slice(0, 50))]);
      expect(first.length).toBe(count);
      expect(first.slice(0, 50).map(hex)).toEqual(second!.map(hex));
      expect(hex(first[300]!)).toBe(hex(scalarEncode([buffers[300]!], 1).checksums[0]!));
      codec.assertInvariants();
    } finally {
      arena.free(slab);
      await codec.close();
    }
    releaseAll();
    expect(arena.stats().usedBytes).toBe(usedBefore);
  });
});

