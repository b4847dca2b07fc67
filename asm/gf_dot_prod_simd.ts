// target = sum c_i * source_i over GF(2^8): the bulk of every reconstruction. The target is
// built chunk by chunk (CHUNK_BYTES stays in L1): for each source, its constant's two nibble
// tables are loaded into registers once per chunk and the chunk is multiplied and accumulated.
import { TABLE_STRIDE_BYTES, mulTable, mulTableByte, offsetAt } from './gf_simd';

const CHUNK_BYTES: usize = 2048;

/** Bulk over [start, end), end - start a multiple of 32, sourceCount >= 1. */
export function dotProdRange(
  sourcesOffset: usize, coefficientsOffset: usize, sourceCount: u32, targetOffset: usize,
  start: usize, end: usize, tablesOffset: usize,
): void {
  for (let chunkStart = start; chunkStart < end; chunkStart += CHUNK_BYTES) {
    const chunkEnd = min(chunkStart + CHUNK_BYTES, end);
    for (let i: u32 = 0; i < sourceCount; i++) {
      const table = tablesOffset + (load<u8>(coefficientsOffset + i) as usize) * TABLE_STRIDE_BYTES;
      const low = v128.load(table);
      const high = v128.load(table, 16);
      const source = offsetAt(sourcesOffset, i);
      if (i == 0) {
        for (let pos = chunkStart; pos < chunkEnd; pos += 32) {
          v128.store(targetOffset + pos, mulTable(v128.load(source + pos), low, high));
          v128.store(targetOffset + pos, mulTable(v128.load(source + pos, 16), low, high), 16);
        }
      } else {
        for (let pos = chunkStart; pos < chunkEnd; pos += 32) {
          const target = targetOffset + pos;
          v128.store(target, v128.xor(v128.load(target), mulTable(v128.load(source + pos), low, high)));
          v128.store(target, v128.xor(v128.load(target, 16), mulTable(v128.load(source + pos, 16), low, high)), 16);
        }
      }
    }
  }
}

/** Tail: the same meaning one byte at a time. */
export function dotProdTail(
  sourcesOffset: usize, coefficientsOffset: usize, sourceCount: u32, targetOffset: usize,
  start: usize, end: usize, tablesOffset: usize,
): void {
  for (let pos = start; pos < end; pos++) {
    let x: u32 = 0;
    for (let i: u32 = 0; i < sourceCount; i++) {
      const table = tablesOffset + (load<u8>(coefficientsOffset + i) as usize) * TABLE_STRIDE_BYTES;
      x ^= mulTableByte(load<u8>(offsetAt(sourcesOffset, i) + pos), table);
    }
    store<u8>(targetOffset + pos, x as u8);
  }
}

export function gf_dot_prod(
  sourcesOffset: usize, coefficientsOffset: usize, sourceCount: u32, targetOffset: usize,
  lengthBytes: usize, tablesOffset: usize,
): void {
  const bulkEnd = sourceCount > 0 ? lengthBytes & ~(31 as usize) : 0;
  dotProdRange(sourcesOffset, coefficientsOffset, sourceCount, targetOffset, 0, bulkEnd, tablesOffset);
  dotProdTail(sourcesOffset, coefficientsOffset, sourceCount, targetOffset, bulkEnd, lengthBytes, tablesOffset);
}
