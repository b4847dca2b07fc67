// Scalar twin of asm/fletcher4_simd.ts: fletcher-4 as ZFS defines it, one u32 word at a time,
//   a += w; b += a; c += b; d += c   (mod 2^64),
// a trailing partial word zero-padded; 32 bytes out: a, b, c, d little-endian u64.
// JavaScript has no u64 number, so each accumulator is a (high, low) pair of u32 halves.
import { readU32, writeU32 } from './memory_words.js';

const TWO_POW_32 = 2 ** 32;

export function fletcher4Scalar(memory: Uint8Array, offset: number, lengthBytes: number, outOffset: number): void {
  let aLow = 0, aHigh = 0, bLow = 0, bHigh = 0, cLow = 0, cHigh = 0, dLow = 0, dHigh = 0;
  const wordCount = Math.ceil(lengthBytes / 4);
  for (let word = 0; word < wordCount; word++) {
    const at = offset + 4 * word;
    const w = lengthBytes - 4 * word >= 4 ? readU32(memory, at) : paddedWord(memory, at, lengthBytes - 4 * word);
    // Each sum of two halves is < 2^33: split the carry off the low half, wrap the high half.
    aLow += w;
    aHigh = (aHigh + Math.floor(aLow / TWO_POW_32)) >>> 0;
    aLow %= TWO_POW_32;
    bLow += aLow;
    bHigh = (bHigh + aHigh + Math.floor(bLow / TWO_POW_32)) >>> 0;
    bLow %= TWO_POW_32;
    cLow += bLow;
    cHigh = (cHigh + bHigh + Math.floor(cLow / TWO_POW_32)) >>> 0;
    cLow %= TWO_POW_32;
    dLow += cLow;
    dHigh = (dHigh + cHigh + Math.floor(dLow / TWO_POW_32)) >>> 0;
    dLow %= TWO_POW_32;
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
