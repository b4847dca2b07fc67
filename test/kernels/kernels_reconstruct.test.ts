// GF(2^8) math of gf256.ts and the reconstruction path: every erasure pattern of up to m
// blocks for k <= 8 (data and parity), random patterns above, rebuilt by the SIMD and the
// scalar gf_dot_prod from reconstructionPlan and compared with the lost originals.
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  gfInverse, gfInvertMatrix, gfMul, gfMulRow, parityCoefficient, reconstructionPlan,
} from '../../src/kernels/gf256.js';
import { TooManyErasuresError, InvalidArgumentError } from '../../src/errors.js';
import { compareDotProd, compareReconstruct, compareRecov2, compareVectDotProd, createKernelEnv, loggedSeed, type KernelEnv } from './kernels_harness.js';

/** Shift-and-reduce product, the definition the tables must agree with. */
function slowMul(a: number, b: number): number {
  let product = 0;
  for (; b; b >>= 1) {
    if (b & 1) product ^= a;
    a = (a << 1) ^ (a & 0x80 ? 0x11d : 0);
  }
  return product;
}

function combinations(items: number[], size: number): number[][] {
  if (size === 0) return [[]];
  return items.flatMap((item, i) => combinations(items.slice(i + 1), size - 1).map((rest) => [item, ...rest]));
}

describe('gf256', () => {
  it('multiplication agrees with shift-and-reduce for all 65536 pairs', () => {
    for (let a = 0; a < 256; a++) {
      const row = gfMulRow(a);
      for (let b = 0; b < 256; b++) {
        const expected = slowMul(a, b);
        if (gfMul(a, b) !== expected || row[b] !== expected) throw new Error(`gfMul(${a}, ${b}) != ${expected}`);
      }
    }
  });

  it('every non-zero element has an inverse; 0 has none', () => {
    for (let a = 1; a < 256; a++) expect(gfMul(a, gfInverse(a))).toBe(1);
    expect(() => gfInverse(0)).toThrow(InvalidArgumentError);
  });

  it('parity coefficients are 1, 2^i, 4^i', () => {
    expect(parityCoefficient(0, 200)).toBe(1);
    expect(parityCoefficient(1, 1)).toBe(2);
    expect(parityCoefficient(1, 8)).toBe(0x1d);
    expect(parityCoefficient(2, 4)).toBe(0x1d); // 4^4 = 2^8 = x^4+x^3+x^2+1
  });

  it('matrix inversion: M * M^-1 = I for random invertible 3x3 Vandermonde rows', () => {
    const matrix = [0, 1, 2].map((row) => Uint8Array.from([3, 77, 200], (column) => parityCoefficient(row, column)));
    const inverse = gfInvertMatrix(matrix);
    for (let r = 0; r < 3; r++) {
      for (let c = 0; c < 3; c++) {
        let sum = 0;
        for (let i = 0; i < 3; i++) sum ^= gfMul(matrix[r]![i]!, inverse[i]![c]!);
        expect(sum).toBe(r === c ? 1 : 0);
      }
    }
    expect(() => gfInvertMatrix([Uint8Array.of(1, 1), Uint8Array.of(1, 1)])).toThrow(InvalidArgumentError);
  });

  it('reconstructionPlan rejects too many erasures and bad indices', () => {
    expect(() => reconstructionPlan(4, 2, [0, 1, 2])).toThrow(TooManyErasuresError);
    expect(() => reconstructionPlan(4, 2, [6])).toThrow(InvalidArgumentError);
    expect(() => reconstructionPlan(4, 2, [1, 1])).toThrow(InvalidArgumentError);
    expect(() => reconstructionPlan(0, 2, [])).toThrow(InvalidArgumentError);
    expect(() => reconstructionPlan(4, 4, [])).toThrow(InvalidArgumentError);
  });

  it('reconstructionPlan uses k sources, none of them missing, P first', () => {
    const plan = reconstructionPlan(5, 3, [4, 1, 6]);
    expect(plan.targets).toEqual([1, 4, 6]);
    expect(plan.sources).toEqual([0, 2, 3, 5, 7]);
    expect(plan.coefficients.every((row) => row.length === 5)).toBe(true);
    // one lost data block with P surviving: plain XOR of the rest
    expect([...reconstructionPlan(4, 2, [2]).coefficients[0]!]).toEqual([1, 1, 1, 1]);
  });
});

describe('reconstruction: SIMD and scalar gf_dot_prod rebuild the lost blocks', () => {
  let env: KernelEnv;
  beforeAll(async () => {
    env = await createKernelEnv();
  });
  afterEach(() => env.allocator.reset());

  it('every erasure pattern of up to m blocks, k = 1..8, m = 1..3', () => {
    for (let m = 1; m <= 3; m++) {
      for (let k = 1; k <= 8; k++) {
        const blocks = Array.from({ length: k + m }, (_, i) => i);
        for (let lost = 1; lost <= m; lost++) {
          for (const missing of combinations(blocks, lost)) {
            const lengthBytes = [1, 17, 100, 4097][(k + lost) % 4]!;
            compareReconstruct(env, env.simd, env.scalar, { k, m, lengthBytes, seed: k * 97 + m * 13 + lost }, missing);
            env.allocator.reset();
          }
        }
      }
    }
  });

  it('hard lengths for a 6+3 group losing two data blocks and R', () => {
    for (const lengthBytes of [0, 1, 15, 16, 17, 4095, 4096, 65537]) {
      compareReconstruct(env, env.simd, env.scalar, { k: 6, m: 3, lengthBytes, seed: lengthBytes }, [0, 5, 8]);
      env.allocator.reset();
    }
  });

  it('gf_dot_prod with any coefficients: all ones (the XOR path), zeros, ones first, mixed', () => {
    const rows = [[1], [0], [1, 1, 1, 1, 1, 1, 1, 1], [0, 0, 0], [1, 0, 1], [0, 1, 7], [1, 2, 1, 255], [255, 1, 1, 1]];
    for (const coefficients of rows) {
      for (const lengthBytes of [0, 1, 31, 32, 33, 63, 64, 65, 2047, 2048, 2049, 5000]) {
        compareDotProd(env, env.simd, env.scalar, coefficients, lengthBytes, lengthBytes + coefficients.length);
        env.allocator.reset();
      }
    }
    const seed = loggedSeed('dot product random coefficients');
    const coefficient = fc.oneof(fc.constantFrom(0, 1), fc.integer({ min: 0, max: 255 }));
    fc.assert(
      fc.property(fc.array(coefficient, { minLength: 0, maxLength: 40 }), fc.integer({ min: 0, max: 9000 }), fc.integer({ min: 0, max: 0x7fffffff }), (coefficients, lengthBytes, dataSeed) => {
        env.allocator.reset();
        compareDotProd(env, env.simd, env.scalar, coefficients, lengthBytes, dataSeed);
      }),
      { seed, numRuns: 100 },
    );
  });

  it('gf_vect_dot_prod: 1..5 targets share a pass (3s and 2s, then one), random rows, tails and misalignment', () => {
    const seed = loggedSeed('vect dot product');
    const coefficient = fc.oneof(fc.constantFrom(0, 1), fc.integer({ min: 0, max: 255 }));
    const shape = fc
      .record({ targets: fc.integer({ min: 1, max: 5 }), sources: fc.integer({ min: 1, max: 40 }) })
      .chain(({ targets, sources }) => fc.array(fc.array(coefficient, { minLength: sources, maxLength: sources }), { minLength: targets, maxLength: targets }));
    fc.assert(
      fc.property(shape, fc.oneof(fc.constantFrom(0, 1, 31, 32, 33, 4096, 4127), fc.integer({ min: 0, max: 9000 })), fc.integer({ min: 0, max: 0x7fffffff }), (rows, lengthBytes, dataSeed) => {
        env.allocator.reset();
        compareVectDotProd(env, env.simd, env.scalar, rows, lengthBytes, dataSeed);
      }),
      { seed, numRuns: 150 },
    );
  });

  it('raid6_recov2: every pair of lost data blocks for k = 2..10 at hard lengths, then random k, pairs, lengths', () => {
    for (let k = 2; k <= 10; k++) {
      for (let x = 0; x < k; x++) {
        for (let y = x + 1; y < k; y++) {
          const lengthBytes = [1, 31, 32, 33, 100, 4096, 4127][(k + x + y) % 7]!;
          compareRecov2(env, env.simd, env.scalar, { k, m: 2, lengthBytes, seed: k * 131 + x * 7 + y }, x, y);
          env.allocator.reset();
        }
      }
    }
    const seed = loggedSeed('raid6 recovery random');
    const shape = fc
      .integer({ min: 2, max: 40 })
      .chain((k) => fc.record({ k: fc.constant(k), pair: fc.uniqueArray(fc.integer({ min: 0, max: k - 1 }), { minLength: 2, maxLength: 2 }) }));
    fc.assert(
      fc.property(shape, fc.oneof(fc.constantFrom(0, 1, 31, 32, 33, 4096), fc.integer({ min: 0, max: 9000 })), fc.integer({ min: 0, max: 0x7fffffff }), ({ k, pair }, lengthBytes, dataSeed) => {
        env.allocator.reset();
        const [x, y] = [...pair].sort((a, b) => a - b) as [number, number];
        compareRecov2(env, env.simd, env.scalar, { k, m: 2, lengthBytes, seed: dataSeed }, x, y);
      }),
      { seed, numRuns: 100 },
    );
  });

  it('random wide groups and random erasures', () => {
    const seed = loggedSeed('reconstruct random');
    const geometry = fc
      .record({
        k: fc.oneof({ weight: 3, arbitrary: fc.integer({ min: 9, max: 24 }) }, { weight: 1, arbitrary: fc.integer({ min: 25, max: 255 }) }),
        m: fc.integer({ min: 1, max: 3 }),
        lengthBytes: fc.oneof(fc.constantFrom(0, 1, 15, 16, 17, 4095, 4096), fc.integer({ min: 0, max: 9000 })),
        dataSeed: fc.integer({ min: 0, max: 0x7fffffff }),
      })
      .chain((g) => fc.record({ g: fc.constant(g), missing: fc.uniqueArray(fc.integer({ min: 0, max: g.k + g.m - 1 }), { minLength: 1, maxLength: g.m }) }));
    fc.assert(
      fc.property(geometry, ({ g, missing }) => {
        env.allocator.reset();
        compareReconstruct(env, env.simd, env.scalar, { k: g.k, m: g.m, lengthBytes: g.lengthBytes, seed: g.dataSeed }, missing);
      }),
      { seed, numRuns: 80 },
    );
  });
});
