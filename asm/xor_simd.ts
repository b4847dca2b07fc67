// target = source_0 ^ source_1 ^ ... (RAID-5 P). Column order: each 32-byte slice of the
// target is formed in registers from every source and stored once.
import { offsetAt } from './gf_simd';

/** Bulk: bytes [start, end) with end - start a multiple of 32. */
export function xorRange(sourcesOffset: usize, sourceCount: u32, targetOffset: usize, start: usize, end: usize): void {
  for (let pos = start; pos < end; pos += 32) {
    let source = offsetAt(sourcesOffset, 0) + pos;
    let a = v128.load(source);
    let b = v128.load(source, 16);
    for (let i: u32 = 1; i < sourceCount; i++) {
      source = offsetAt(sourcesOffset, i) + pos;
      a = v128.xor(a, v128.load(source));
      b = v128.xor(b, v128.load(source, 16));
    }
    v128.store(targetOffset + pos, a);
    v128.store(targetOffset + pos, b, 16);
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
  const bulkEnd = lengthBytes & ~(31 as usize);
  if (sourceCount > 0) xorRange(sourcesOffset, sourceCount, targetOffset, 0, bulkEnd);
  else xorTail(sourcesOffset, 0, targetOffset, 0, bulkEnd);
  xorTail(sourcesOffset, sourceCount, targetOffset, bulkEnd, lengthBytes);
}
