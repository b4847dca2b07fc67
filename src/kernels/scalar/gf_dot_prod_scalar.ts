// Scalar twin of asm/gf_dot_prod_simd.ts: target = sum c_i * source_i, with products from
// gf256.ts (log/exp), not from the arena's nibble tables.
import { gfMulRow } from '../gf256.js';
import { offsetAt } from './memory_words.js';

/** tablesOffset is accepted for the same signature; the scalar twin needs no arena tables. */
export function gfDotProdScalar(
  memory: Uint8Array, sourcesOffset: number, coefficientsOffset: number, sourceCount: number, targetOffset: number,
  lengthBytes: number, _tablesOffset: number,
): void {
  const sources = Array.from({ length: sourceCount }, (_, i) => offsetAt(memory, sourcesOffset, i));
  const rows = sources.map((_, i) => gfMulRow(memory[coefficientsOffset + i]!));
  for (let pos = 0; pos < lengthBytes; pos++) {
    let x = 0;
    for (let i = 0; i < sourceCount; i++) x ^= rows[i]![memory[sources[i]! + pos]!]!;
    memory[targetOffset + pos] = x;
  }
}

/** Twin of gf_vect_dot_prod: each target t from coefficient row t (sourceCount bytes apart). */
export function gfVectDotProdScalar(
  memory: Uint8Array, sourcesOffset: number, coefficientsOffset: number, sourceCount: number, targetsOffset: number,
  targetCount: number, lengthBytes: number, tablesOffset: number,
): void {
  for (let t = 0; t < targetCount; t++) {
    const target = offsetAt(memory, targetsOffset, t);
    gfDotProdScalar(memory, sourcesOffset, coefficientsOffset + t * sourceCount, sourceCount, target, lengthBytes, tablesOffset);
  }
}
