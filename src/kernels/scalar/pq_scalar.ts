// Scalar twins of asm/pq_simd.ts, straight from the definition rather than Horner's rule:
// P = sum D_i, Q = sum 2^i * D_i, R = sum 4^i * D_i over GF(2^8).
import { gfMulRow, parityCoefficient } from '../gf256.js';
import { offsetAt } from './memory_words.js';

/** Parity row `row` of the k listed sources into target. */
export function parityRowScalar(
  memory: Uint8Array, sourcesOffset: number, k: number, row: number, targetOffset: number, lengthBytes: number,
): void {
  const sources = Array.from({ length: k }, (_, i) => offsetAt(memory, sourcesOffset, i));
  const weights = sources.map((_, i) => gfMulRow(parityCoefficient(row, i)));
  for (let pos = 0; pos < lengthBytes; pos++) {
    let x = 0;
    for (let i = 0; i < k; i++) x ^= weights[i]![memory[sources[i]! + pos]!]!;
    memory[targetOffset + pos] = x;
  }
}

export function pqGenScalar(
  memory: Uint8Array, sourcesOffset: number, k: number, pOffset: number, qOffset: number, lengthBytes: number,
): void {
  parityRowScalar(memory, sourcesOffset, k, 0, pOffset, lengthBytes);
  parityRowScalar(memory, sourcesOffset, k, 1, qOffset, lengthBytes);
}

/** tablesOffset is accepted for the same signature; the scalar twin needs no arena tables. */
export function pqrGenScalar(
  memory: Uint8Array, sourcesOffset: number, k: number, pOffset: number, qOffset: number, rOffset: number,
  lengthBytes: number, _tablesOffset: number,
): void {
  parityRowScalar(memory, sourcesOffset, k, 0, pOffset, lengthBytes);
  parityRowScalar(memory, sourcesOffset, k, 1, qOffset, lengthBytes);
  parityRowScalar(memory, sourcesOffset, k, 2, rOffset, lengthBytes);
}
