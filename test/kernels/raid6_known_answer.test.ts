// Known answers for P/Q: an INDEPENDENT implementation of H. Peter Anvin, "The mathematics of
// RAID-6" (byte-by-byte GF(2^8) over 0x11d, products by shift-and-reduce, no code shared
// with src/), compared with the SIMD kernels and the scalar twins; Anvin's two-failure
// recovery formulas compared with our reconstruction plan + gf_dot_prod; hand-derived vectors.
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { reconstructionPlan } from '../../src/kernels/gf256.js';
import {
  COEFFICIENTS_OFFSET, SOURCES_LIST_OFFSET, TABLES_OFFSET, createKernelEnv, fillRandom, writeOffsetList, type KernelEnv,
} from './kernels_harness.js';

// ---- Anvin's formulas, from the paper -------------------------------------------------------
function mul(a: number, b: number): number {
  let product = 0;
  while (b) {
    if (b & 1) product ^= a;
    a = (a << 1) ^ (a & 0x80 ? 0x11d : 0);
    b >>= 1;
  }
  return product;
}
function pow2(n: number): number {
  let x = 1;
  for (let i = 0; i < ((n % 255) + 255) % 255; i++) x = mul(x, 2);
  return x;
}
function inv(a: number): number {
  for (let x = 1; x < 256; x++) if (mul(a, x) === 1) return x;
  throw new Error('no inverse');
}
/** P = D_0 + D_1 + ... ; Q = g^0 D_0 + g^1 D_1 + ...  (eq. 6, 7) */
function anvinPQ(data: Uint8Array[]): { p: Uint8Array; q: Uint8Array } {
  const length = data[0]!.length;
  const p = new Uint8Array(length), q = new Uint8Array(length);
  data.forEach((block, i) => {
    const g = pow2(i);
    for (let at = 0; at < length; at++) {
      p[at]! ^= block[at]!;
      q[at]! ^= mul(g, block[at]!);
    }
  });
  return { p, q };
}
/** Two lost data blocks x < y (section 4): Dx = A(P+Pxy) + B(Q+Qxy), Dy = (P+Pxy) + Dx. */
function anvinRecoverTwo(data: Uint8Array[], p: Uint8Array, q: Uint8Array, x: number, y: number): [Uint8Array, Uint8Array] {
  const zeroed = data.map((block, i) => (i === x || i === y ? new Uint8Array(block.length) : block));
  const { p: pxy, q: qxy } = anvinPQ(zeroed);
  const denominator = inv(pow2(y - x) ^ 1);
  const a = mul(pow2(y - x), denominator);
  const b = mul(pow2(255 - x), denominator);
  const dx = p.map((_, at) => mul(a, p[at]! ^ pxy[at]!) ^ mul(b, q[at]! ^ qxy[at]!));
  const dy = p.map((_, at) => p[at]! ^ pxy[at]! ^ dx[at]!);
  return [dx, dy];
}
/** One lost data block x and P lost (section 4): Dx = (Q + Qx) g^-x. */
function anvinRecoverDataAndP(data: Uint8Array[], q: Uint8Array, x: number): Uint8Array {
  const zeroed = data.map((block, i) => (i === x ? new Uint8Array(block.length) : block));
  const { q: qx } = anvinPQ(zeroed);
  return q.map((_, at) => mul(q[at]! ^ qx[at]!, pow2(255 - x)));
}
// ---------------------------------------------------------------------------------------------

let env: KernelEnv;
beforeAll(async () => {
  env = await createKernelEnv();
});
afterEach(() => env.allocator.reset());

function hex(offset: number, length: number): string {
  return Buffer.from(env.bytes.subarray(offset, offset + length)).toString('hex');
}

/** Places the blocks in the arena (misaligned) and returns their offsets. */
function place(blocks: Uint8Array[]): number[] {
  return blocks.map((block, i) => {
    const offset = env.allocator.allocate(block.length, 3 * i + 1);
    env.bytes.set(block, offset);
    return offset;
  });
}

function pqWith(implName: 'simd' | 'scalar', data: number[], length: number): { p: string; q: string } {
  const p = env.allocator.allocate(length, 5), q = env.allocator.allocate(length, 9);
  writeOffsetList(env.bytes, SOURCES_LIST_OFFSET, data);
  env[implName].pqGen(SOURCES_LIST_OFFSET, data.length, p, q, length);
  return { p: hex(p, length), q: hex(q, length) };
}

describe('RAID-6 known answers', () => {
  it('hand-derived vectors', () => {
    const cases: Array<[number[][], string, string]> = [
      [[[1], [1], [1]], '01', '07'], // Q = 1 + 2 + 4
      [[[0x80], [0x80]], '00', '9d'], // 2 * 0x80 = 0x100 ^ 0x11d = 0x1d; 0x80 ^ 0x1d
      [[[0], [0], [0], [0], [0], [0], [0], [0], [1]], '01', '1d'], // g^8 = 0x1d
      [[[0xff, 0x01], [0x01, 0xff]], 'fefe', 'fde2'], // 0xff ^ 2*1 = 0xfd; 1 ^ 2*0xff = 1 ^ (0x1fe ^ 0x11d) = 0xe2
    ];
    for (const [blocks, p, q] of cases) {
      const data = place(blocks.map((block) => Uint8Array.from(block)));
      const { p: anvinP, q: anvinQ } = anvinPQ(blocks.map((block) => Uint8Array.from(block)));
      expect(Buffer.from(anvinP).toString('hex')).toBe(p);
      expect(Buffer.from(anvinQ).toString('hex')).toBe(q);
      for (const impl of ['simd', 'scalar'] as const) expect(pqWith(impl, data, blocks[0]!.length)).toEqual({ p, q });
    }
  });

  it('SIMD and scalar P/Q equal Anvin P/Q for k = 1..20 and odd lengths', () => {
    for (const k of [1, 2, 3, 4, 5, 8, 13, 20]) {
      for (const length of [1, 31, 33, 257, 4099]) {
        const blocks = Array.from({ length: k }, (_, i) => {
          const block = new Uint8Array(length);
          fillRandom(block, 0, length, k * 7919 + length * 31 + i);
          return block;
        });
        const expected = anvinPQ(blocks);
        const data = place(blocks);
        for (const impl of ['simd', 'scalar'] as const) {
          const actual = pqWith(impl, data, length);
          expect(actual.p, `${impl} P k=${k} length=${length}`).toBe(Buffer.from(expected.p).toString('hex'));
          expect(actual.q, `${impl} Q k=${k} length=${length}`).toBe(Buffer.from(expected.q).toString('hex'));
        }
        env.allocator.checkGuards(`k=${k} length=${length}`);
        env.allocator.reset();
      }
    }
  });

  it("our reconstruction of two lost data blocks, and of data + P, matches Anvin's recovery", () => {
    const k = 7, length = 1000;
    const blocks = Array.from({ length: k }, (_, i) => {
      const block = new Uint8Array(length);
      fillRandom(block, 0, length, 4242 + i);
      return block;
    });
    const { p, q } = anvinPQ(blocks);
    const all = place([...blocks, p, q]);
    const rebuild = (missing: number[]): string[] => {
      const plan = reconstructionPlan(k, 2, missing);
      writeOffsetList(env.bytes, SOURCES_LIST_OFFSET, plan.sources.map((block) => all[block]!));
      return plan.targets.map((_, t) => {
        env.bytes.set(plan.coefficients[t]!, COEFFICIENTS_OFFSET);
        const target = env.allocator.allocate(length, t);
        env.kernels.gfDotProd(SOURCES_LIST_OFFSET, COEFFICIENTS_OFFSET, plan.sources.length, target, length, TABLES_OFFSET);
        return hex(target, length);
      });
    };
    for (const [x, y] of [[0, 1], [2, 6], [5, 6]] as const) {
      const anvin = anvinRecoverTwo(blocks, p, q, x, y).map((block) => Buffer.from(block).toString('hex'));
      expect(anvin[0]).toBe(Buffer.from(blocks[x]!).toString('hex')); // the paper's formulas hold
      expect(rebuild([x, y])).toEqual(anvin);
    }
    for (const x of [0, 3, 6]) {
      const anvin = Buffer.from(anvinRecoverDataAndP(blocks, q, x)).toString('hex');
      expect(rebuild([x, k])).toEqual([anvin, Buffer.from(p).toString('hex')]);
    }
  });
});
