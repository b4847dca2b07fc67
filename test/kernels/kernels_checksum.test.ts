// Fletcher-4: SIMD and scalar twin against a naive BigInt loop over u32 words written here
// (the ZFS definition), at hard and random lengths and misalignments; and the fused
// encode_checksum against separate encode + fletcher4 calls.
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  compareFletcher, createKernelEnv, encodeWith, fillRandom, fusedEncodeWith, loggedSeed, type KernelEnv,
} from './kernels_harness.js';

const MASK_64 = (1n << 64n) - 1n;

/** ZFS fletcher_4_native, word by word, trailing bytes zero-padded to a word. */
function naiveFletcher4(bytes: Uint8Array): Buffer {
  let a = 0n, b = 0n, c = 0n, d = 0n;
  for (let at = 0; at < bytes.length; at += 4) {
    let word = 0n;
    for (let i = 0; i < 4 && at + i < bytes.length; i++) word |= BigInt(bytes[at + i]!) << BigInt(8 * i);
    a = (a + word) & MASK_64;
    b = (b + a) & MASK_64;
    c = (c + b) & MASK_64;
    d = (d + c) & MASK_64;
  }
  const out = Buffer.alloc(32);
  [a, b, c, d].forEach((value, i) => out.writeBigUInt64LE(value, 8 * i));
  return out;
}

let env: KernelEnv;
beforeAll(async () => {
  env = await createKernelEnv();
});
afterEach(() => env.allocator.reset());

function naiveAt(offset: number, lengthBytes: number): string {
  return naiveFletcher4(env.bytes.subarray(offset, offset + lengthBytes)).toString('hex');
}

describe('fletcher4', () => {
  it('known answers: empty, one word, all-ones block', () => {
    const buffer = env.allocator.allocate(4096, 3);
    const out = env.allocator.allocate(32, 0);
    for (const impl of [env.simd, env.scalar]) {
      impl.fletcher4(buffer, 0, out);
      expect(Buffer.from(env.bytes.subarray(out, out + 32)).toString('hex')).toBe('00'.repeat(32));
      env.bytes.set([1, 0, 0, 0], buffer);
      impl.fletcher4(buffer, 4, out); // a = b = c = d = 1
      expect(Buffer.from(env.bytes.subarray(out, out + 32)).toString('hex')).toBe('0100000000000000'.repeat(4));
      env.bytes.fill(0xff, buffer, buffer + 4096);
      impl.fletcher4(buffer, 4096, out); // 1024 words of 2^32-1: a = 1024w, b = 1024*1025/2 w, ...
      const w = 0xffffffffn;
      const expected = [1024n * w, 524800n * w, 179481600n * w, 46081900800n * w];
      expected.forEach((value, i) => expect(Buffer.from(env.bytes.subarray(out + 8 * i, out + 8 * i + 8)).readBigUInt64LE()).toBe(value & MASK_64));
    }
  });

  it('SIMD and scalar equal the naive loop at hard lengths and misalignments', () => {
    for (const lengthBytes of [0, 1, 2, 3, 4, 5, 15, 16, 17, 31, 63, 64, 65, 4095, 4096, 65537]) {
      for (const misalignment of [0, 1, 3, 7]) {
        const buffer = env.allocator.allocate(lengthBytes, misalignment);
        fillRandom(env.bytes, buffer, lengthBytes, lengthBytes + misalignment);
        for (const impl of [env.simd, env.scalar]) {
          const out = env.allocator.allocate(32, misalignment);
          impl.fletcher4(buffer, lengthBytes, out);
          expect(Buffer.from(env.bytes.subarray(out, out + 32)).toString('hex'), `${impl.name} length ${lengthBytes}`).toBe(naiveAt(buffer, lengthBytes));
        }
        env.allocator.checkGuards(`fletcher4 length ${lengthBytes}`);
      }
    }
  });

  it('a 9 MiB buffer matches the scalar twin', () => {
    compareFletcher(env, env.simd, env.scalar, 9 * 1024 * 1024 + 5, 99);
  });

  it('random lengths and offsets: SIMD equals scalar', () => {
    const seed = loggedSeed('fletcher4 random');
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 70000 }), fc.integer({ min: 0, max: 0x7fffffff }), (lengthBytes, dataSeed) => {
        env.allocator.reset();
        compareFletcher(env, env.simd, env.scalar, lengthBytes, dataSeed);
      }),
      { seed, numRuns: 100 },
    );
  });
});

describe('encode_checksum', () => {
  it('fused parity and checksums equal separate encode and fletcher4, block by block', () => {
    for (const [k, m, lengthBytes] of [[1, 1, 5], [4, 2, 4096], [8, 3, 65537], [10, 2, 1000], [3, 3, 2049]] as const) {
      const data = Array.from({ length: k }, (_, i) => {
        const offset = env.allocator.allocate(lengthBytes, i * 5);
        fillRandom(env.bytes, offset, lengthBytes, k * 100 + i);
        return offset;
      });
      const parity = Array.from({ length: m }, (_, j) => env.allocator.allocate(lengthBytes, j * 3));
      const fused = Array.from({ length: m }, (_, j) => env.allocator.allocate(lengthBytes, j * 11));
      const checksums = env.allocator.allocate(32 * (k + m), 1);
      encodeWith(env, env.simd, data, parity, lengthBytes);
      fusedEncodeWith(env, env.simd, data, fused, lengthBytes, checksums);
      [...data, ...parity].forEach((block, b) => {
        if (b >= k) expect(Buffer.from(env.bytes.subarray(fused[b - k]!, fused[b - k]! + lengthBytes)).equals(Buffer.from(env.bytes.subarray(block, block + lengthBytes)))).toBe(true);
        const stored = Buffer.from(env.bytes.subarray(checksums + 32 * b, checksums + 32 * b + 32)).toString('hex');
        expect(stored, `k=${k} m=${m} block ${b}`).toBe(naiveAt(block, lengthBytes));
      });
      env.allocator.checkGuards(`encode_checksum k=${k} m=${m}`);
      env.allocator.reset();
    }
  });
});
