// Several targets from the same sources in one pass: target_t = sum_i c_{t,i} * source_i over
// GF(2^8), for the 2 or 3 blocks a double or triple erasure rebuilds (ISA-L's
// gf_2vect/gf_3vect_dot_prod). Each source vector is loaded and split into nibble indexes
// once and serves every target; the targets accumulate in registers over a 32-byte column and
// are stored once, so nothing is read back. Calling gf_dot_prod once per target did all of
// that per target: 13 GB/s against ISA-L SSE's 14 for two lost blocks of 8+2.
import { TABLE_STRIDE_BYTES, offsetAt, swizzle16 } from './gf_simd';
import { dotProdTail, gf_dot_prod } from './gf_dot_prod_simd';

/** Bytes one column step covers: two vectors, so each source's pointer and coefficients serve 32 bytes. */
const STEP_BYTES: usize = 32;

/** The nibble tables of coefficient row `row`, source i. */
// @ts-ignore: decorator
@inline function tableOf(coefficientsOffset: usize, sourceCount: u32, row: u32, i: u32, tablesOffset: usize): usize {
  return tablesOffset + (load<u8>(coefficientsOffset + row * sourceCount + i) as usize) * TABLE_STRIDE_BYTES;
}

// @ts-ignore: decorator
@inline function product(table: usize, lowIndexes: v128, highIndexes: v128): v128 {
  return v128.xor(swizzle16(v128.load(table), lowIndexes), swizzle16(v128.load(table, 16), highIndexes));
}

/** Two targets over [start, end), end - start a multiple of STEP_BYTES. */
function dotProd2Range(
  sourcesOffset: usize, coefficientsOffset: usize, sourceCount: u32, first: usize, second: usize,
  start: usize, end: usize, tablesOffset: usize,
): void {
  const mask = i8x16.splat(0x0f);
  for (let pos = start; pos < end; pos += STEP_BYTES) {
    let a0 = i8x16.splat(0), a1 = a0, b0 = a0, b1 = a0;
    for (let i: u32 = 0; i < sourceCount; i++) {
      const source = offsetAt(sourcesOffset, i) + pos;
      const v0 = v128.load(source), v1 = v128.load(source, 16);
      const low0 = v128.and(v0, mask), high0 = v128.and(i16x8.shr_u(v0, 4), mask);
      const low1 = v128.and(v1, mask), high1 = v128.and(i16x8.shr_u(v1, 4), mask);
      const ta = tableOf(coefficientsOffset, sourceCount, 0, i, tablesOffset);
      a0 = v128.xor(a0, product(ta, low0, high0));
      a1 = v128.xor(a1, product(ta, low1, high1));
      const tb = tableOf(coefficientsOffset, sourceCount, 1, i, tablesOffset);
      b0 = v128.xor(b0, product(tb, low0, high0));
      b1 = v128.xor(b1, product(tb, low1, high1));
    }
    v128.store(first + pos, a0);
    v128.store(first + pos, a1, 16);
    v128.store(second + pos, b0);
    v128.store(second + pos, b1, 16);
  }
}

/** Three targets over [start, end), end - start a multiple of STEP_BYTES. */
function dotProd3Range(
  sourcesOffset: usize, coefficientsOffset: usize, sourceCount: u32, first: usize, second: usize, third: usize,
  start: usize, end: usize, tablesOffset: usize,
): void {
  const mask = i8x16.splat(0x0f);
  for (let pos = start; pos < end; pos += STEP_BYTES) {
    let a0 = i8x16.splat(0), a1 = a0, b0 = a0, b1 = a0, c0 = a0, c1 = a0;
    for (let i: u32 = 0; i < sourceCount; i++) {
      const source = offsetAt(sourcesOffset, i) + pos;
      const v0 = v128.load(source), v1 = v128.load(source, 16);
      const low0 = v128.and(v0, mask), high0 = v128.and(i16x8.shr_u(v0, 4), mask);
      const low1 = v128.and(v1, mask), high1 = v128.and(i16x8.shr_u(v1, 4), mask);
      const ta = tableOf(coefficientsOffset, sourceCount, 0, i, tablesOffset);
      a0 = v128.xor(a0, product(ta, low0, high0));
      a1 = v128.xor(a1, product(ta, low1, high1));
      const tb = tableOf(coefficientsOffset, sourceCount, 1, i, tablesOffset);
      b0 = v128.xor(b0, product(tb, low0, high0));
      b1 = v128.xor(b1, product(tb, low1, high1));
      const tc = tableOf(coefficientsOffset, sourceCount, 2, i, tablesOffset);
      c0 = v128.xor(c0, product(tc, low0, high0));
      c1 = v128.xor(c1, product(tc, low1, high1));
    }
    v128.store(first + pos, a0);
    v128.store(first + pos, a1, 16);
    v128.store(second + pos, b0);
    v128.store(second + pos, b1, 16);
    v128.store(third + pos, c0);
    v128.store(third + pos, c1, 16);
  }
}

/**
 * targets (u32 offsets at targetsOffset, targetCount of them) = coefficient rows (sourceCount
 * bytes each, row t at coefficientsOffset + t * sourceCount) times the sources. Targets go in
 * passes of 3 or 2 sharing the sources; a single one is gf_dot_prod (chunked, XOR for all ones).
 */
export function gf_vect_dot_prod(
  sourcesOffset: usize, coefficientsOffset: usize, sourceCount: u32, targetsOffset: usize, targetCount: u32,
  lengthBytes: usize, tablesOffset: usize,
): void {
  const bulkEnd = sourceCount > 0 ? lengthBytes & ~(STEP_BYTES - 1) : 0;
  let t: u32 = 0;
  while (t < targetCount) {
    const left = targetCount - t;
    const rows = coefficientsOffset + t * sourceCount;
    const first = offsetAt(targetsOffset, t);
    const passTargets: u32 = left == 1 ? 1 : left == 2 || left == 4 ? 2 : 3;
    if (passTargets == 1) {
      gf_dot_prod(sourcesOffset, rows, sourceCount, first, lengthBytes, tablesOffset);
    } else {
      const second = offsetAt(targetsOffset, t + 1);
      if (passTargets == 2) dotProd2Range(sourcesOffset, rows, sourceCount, first, second, 0, bulkEnd, tablesOffset);
      else dotProd3Range(sourcesOffset, rows, sourceCount, first, second, offsetAt(targetsOffset, t + 2), 0, bulkEnd, tablesOffset);
      for (let row: u32 = 0; row < passTargets; row++) {
        dotProdTail(sourcesOffset, rows + row * sourceCount, sourceCount, offsetAt(targetsOffset, t + row), bulkEnd, lengthBytes, tablesOffset);
      }
    }
    t += passTargets;
  }
}
