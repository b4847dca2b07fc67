// Scalar twin of asm/xor_simd.ts: target = XOR of the listed sources, byte by byte.
import { offsetAt } from './memory_words.js';

export function xorGenScalar(
  memory: Uint8Array, sourcesOffset: number, sourceCount: number, targetOffset: number, lengthBytes: number,
): void {
  const sources = Array.from({ length: sourceCount }, (_, i) => offsetAt(memory, sourcesOffset, i));
  for (let pos = 0; pos < lengthBytes; pos++) {
    let x = 0;
    for (const source of sources) x ^= memory[source + pos]!;
    memory[targetOffset + pos] = x;
  }
}
