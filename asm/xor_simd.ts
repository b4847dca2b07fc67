// target = source_0 ^ source_1 ^ ... (RAID-5 P). Column order: each 64-byte slice of the
// target is formed in registers from every source and stored once. Sources are taken two per
// inner iteration: V8 puts a stack check and a bounds test on every loop back edge, and at 8+1
// halving them measured 1.08x (4 KiB) to 1.3x (1 MiB shards) over one source per iteration.
// Four per iteration (0.8x) and eight pointers held in locals (0.3-0.7x) spilled registers.
import { offsetAt } from './gf_simd';

/** The bulk loops step this many bytes: four vectors, so each source offset load serves 64 bytes. */
export const XOR_STEP_BYTES: usize = 64;

/** Bulk: bytes [start, end) with end - start a multiple of XOR_STEP_BYTES. */
export function xorRange(sourcesOffset: usize, sourceCount: u32, targetOffset: usize, start: usize, end: usize): void {
  const pairsEnd = sourcesOffset + (((sourceCount - 1) & ~1) << 2) + 4;
  const listEnd = sourcesOffset + ((sourceCount as usize) << 2);
  for (let pos = start; pos < end; pos += XOR_STEP_BYTES) {
    let source = load<u32>(sourcesOffset) + pos;
    let a = v128.load(source);
    let b = v128.load(source, 16);
    let c = v128.load(source, 32);
    let d = v128.load(source, 48);
    let entry = sourcesOffset + 4;
    for (; entry < pairsEnd; entry += 8) {
      const first = load<u32>(entry) + pos;
      const second = load<u32>(entry, 4) + pos;
      a = v128.xor(a, v128.xor(v128.load(first), v128.load(second)));
      b = v128.xor(b, v128.xor(v128.load(first, 16), v128.load(second, 16)));
      c = v128.xor(c, v128.xor(v128.load(first, 32), v128.load(second, 32)));
      d = v128.xor(d, v128.xor(v128.load(first, 48), v128.load(second, 48)));
    }
    if (entry < listEnd) {
      source = load<u32>(entry) + pos;
      a = v128.xor(a, v128.load(source));
      b = v128.xor(b, v128.load(source, 16));
      c = v128.xor(c, v128.load(source, 32));
      d = v128.xor(d, v128.load(source, 48));
    }
    v128.store(targetOffset + pos, a);
    v128.store(targetOffset + pos, b, 16);
    v128.store(targetOffset + pos, c, 32);
    v128.store(targetOffset + pos, d, 48);
  }
}

/** Tail: the same meaning one byte at a time. */
export function xorTail(sourcesOffset: usize, sourceCount: u32, targetOffset: usize, start: usize, end: usize): void {
  for (let pos = start; pos < end; pos++) {
    let x: u32 = 0;
    for (let i: u32 = 0; i < sourceCount; i++) x ^= load<u8>(offsetAt(sourcesOffset, i) + pos);
    store<u8>(targetOffset + pos, x as u8);
  }
}

export function xor_gen(sourcesOffset: usize, sourceCount: u32, targetOffset: usize, lengthBytes: usize): void {
  const bulkEnd = lengthBytes & ~(XOR_STEP_BYTES - 1);
  if (sourceCount > 0) xorRange(sourcesOffset, sourceCount, targetOffset, 0, bulkEnd);
  else xorTail(sourcesOffset, 0, targetOffset, 0, bulkEnd);
  xorTail(sourcesOffset, sourceCount, targetOffset, bulkEnd, lengthBytes);
}
