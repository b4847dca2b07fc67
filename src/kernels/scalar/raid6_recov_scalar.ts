// Scalar twin of asm/raid6_recov_simd.ts, from the definition: P' = P ^ sum of the surviving
// data, Q' = Q ^ sum 2^i of it (no Horner), D_x = a*P' ^ b*Q', D_y = P' ^ D_x.
import { gfMulRow, parityCoefficient } from '../gf256.js';
import { offsetAt } from './memory_words.js';

/** tablesOffset is accepted for the same signature; the scalar twin needs no arena tables. */
export function raid6Recov2Scalar(
  memory: Uint8Array, dataOffset: number, k: number, x: number, y: number, pOffset: number, qOffset: number,
  lengthBytes: number, a: number, b: number, _tablesOffset: number,
): void {
  const survivors = Array.from({ length: k }, (_, i) => i).filter((i) => i !== x && i !== y);
  const sources = survivors.map((i) => offsetAt(memory, dataOffset, i));
  const weights = survivors.map((i) => gfMulRow(parityCoefficient(1, i)));
  const timesA = gfMulRow(a), timesB = gfMulRow(b);
  const dx = offsetAt(memory, dataOffset, x), dy = offsetAt(memory, dataOffset, y);
  for (let pos = 0; pos < lengthBytes; pos++) {
    let p = memory[pOffset + pos]!, q = memory[qOffset + pos]!;
    sources.forEach((source, s) => {
      p ^= memory[source + pos]!;
      q ^= weights[s]![memory[source + pos]!]!;
    });
    const lostX = timesA[p]! ^ timesB[q]!;
    memory[dx + pos] = lostX;
    memory[dy + pos] = p ^ lostX;
  }
}
