// Scalar twin of asm/fletcher4_simd.ts: fletcher-4 as ZFS defines it, one u32 word at a time,
//   a += w; b += a; c += b; d += c   (mod 2^64),
// a trailing partial word zero-padded; 32 bytes out: a, b, c, d little-endian u64.
// JavaScript has no u64 number, so each accumulator is a (high, low) pair of u32 halves.
import { readU32, writeU32 } from './memory_words.js';

export function fletcher4Scalar(memory: Uint8Array, offset: number, lengthBytes: number, outOffset: number): void {
  let aLow = 0, aHigh = 0, bLow = 0, bHigh = 0, cLow = 0, cHigh = 0, dLow = 0, dHigh = 0;
  const wordCount = Math.ceil(lengthBytes / 4);
  for (let word = 0; word < wordCount; word++) {
    const at = offset + 4 * word;
    const w = lengthBytes - 4 * word >= 4 ? readU32(memory, at) : paddedWord(memory, at, lengthBytes - 4 * word);
    // 64-bit adds on u32 halves: the low sum wrapped below the addend exactly when it carried.
    aLow = (aLow + w) >>> 0;
    aHigh = (aHigh + (aLow < w ? 1 : 0)) >>> 0;
    bLow = (bLow + aLow) >>> 0;
    bHigh = (bHigh + aHigh + (bLow < aLow ? 1 : 0)) >>> 0;
    cLow = (cLow + bLow) >>> 0;
    cHigh = (cHigh + bHigh + (cLow < bLow ? 1 : 0)) >>> 0;
    dLow = (dLow + cLow) >>> 0;
    dHigh = (dHigh + cHigh + (dLow < cLow ? 1 : 0)) >>> 0;
  }
  const halves = [aLow, aHigh, bLow, bHigh, cLow, cHigh, dLow, dHigh];
  halves.forEach((half, i) => writeU32(memory, outOffset + 4 * i, half));
}

/** The last `bytes` (1..3) bytes as a little-endian word, zero-padded. */
function paddedWord(memory: Uint8Array, at: number, bytes: number): number {
  let w = 0;
  for (let i = 0; i < bytes; i++) w |= memory[at + i]! << (8 * i);
  return w >>> 0;
}
