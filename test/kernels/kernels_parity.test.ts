// SIMD parity kernels (xor_gen, pq_gen, pqr_gen, encode_checksum) against their scalar twins:
// fixed hard lengths, then random geometry with a logged seed. Guard bytes around every buffer.
import { afterEach, beforeAll, describe, it } from 'vitest';
import fc from 'fast-check';
import { compareEncode, createKernelEnv, loggedSeed, type KernelEnv } from './kernels_harness.js';

const HARD_LENGTHS = [0, 1, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 129, 4095, 4096, 65537]; // around the 16-, 32- and 64-byte steps

let env: KernelEnv;
beforeAll(async () => {
  env = await createKernelEnv();
});
afterEach(() => env.allocator.reset());

describe('parity kernels: SIMD equals scalar', () => {
  for (const m of [1, 2, 3]) {
    it(`m=${m} at every hard length, k in {1, 2, 3, 8, 17}`, () => {
      for (const k of [1, 2, 3, 8, 17]) {
        for (const lengthBytes of HARD_LENGTHS) {
          compareEncode(env, env.simd, env.scalar, { k, m, lengthBytes, seed: k * 1000 + lengthBytes });
          env.allocator.reset();
        }
      }
    });
  }

  it('k=255 (the widest group) for m=1..3', () => {
    for (const m of [1, 2, 3]) {
      compareEncode(env, env.simd, env.scalar, { k: 255, m, lengthBytes: 1000 + m, seed: 255 + m });
      env.allocator.reset();
    }
  });

  it('random geometry, lengths and misalignments', () => {
    const seed = loggedSeed('parity random');
    const kArbitrary = fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 1, max: 12 }) }, { weight: 1, arbitrary: fc.integer({ min: 13, max: 255 }) });
    const lengthArbitrary = fc.oneof(fc.constantFrom(...HARD_LENGTHS), fc.integer({ min: 0, max: 20000 }));
    fc.assert(
      fc.property(kArbitrary, fc.integer({ min: 1, max: 3 }), lengthArbitrary, fc.integer({ min: 0, max: 0x7fffffff }), (k, m, lengthBytes, dataSeed) => {
        env.allocator.reset();
        compareEncode(env, env.simd, env.scalar, { k, m, lengthBytes: k > 64 ? lengthBytes % 4100 : lengthBytes, seed: dataSeed });
      }),
      { seed, numRuns: 120 },
    );
  });
});
