// P = XOR of data, Q = sum 2^i * D_i, R = sum 4^i * D_i, by Horner's rule from the highest
// data index down: Q = ((D_{k-1}*2 ^ D_{k-2})*2 ^ ...) ^ D_0. Multiply-by-2 needs no
// tables (mul2); R multiplies by 4 as two multiply-by-2 steps. Byte-identical to Linux RAID-6.
import { mul2, mul2Byte, offsetAt } from './gf_simd';

/** Bulk P+Q over [start, end), end - start a multiple of 32, k >= 1. */
export function pqRange(sourcesOffset: usize, k: u32, pOffset: usize, qOffset: usize, start: usize, end: usize): void {
  for (let pos = start; pos < end; pos += 32) {
    let source = offsetAt(sourcesOffset, k - 1) + pos;
    let p0 = v128.load(source);
    let p1 = v128.load(source, 16);
    let q0 = p0;
    let q1 = p1;
    for (let i = (k as i32) - 2; i >= 0; i--) {
      source = offsetAt(sourcesOffset, i as u32) + pos;
      const d0 = v128.load(source);
      const d1 = v128.load(source, 16);
      p0 = v128.xor(p0, d0);
      p1 = v128.xor(p1, d1);
      q0 = v128.xor(mul2(q0), d0);
      q1 = v128.xor(mul2(q1), d1);
    }
    v128.store(pOffset + pos, p0);
    v128.store(pOffset + pos, p1, 16);
    v128.store(qOffset + pos, q0);
    v128.store(qOffset + pos, q1, 16);
  }
}

/** Bulk P+Q+R over [start, end), end - start a multiple of 32, k >= 1. */
export function pqrRange(
  sourcesOffset: usize, k: u32, pOffset: usize, qOffset: usize, rOffset: usize, start: usize, end: usize,
): void {
  for (let pos = start; pos < end; pos += 32) {
    let source = offsetAt(sourcesOffset, k - 1) + pos;
    let p0 = v128.load(source);
    let p1 = v128.load(source, 16);
    let q0 = p0, q1 = p1, r0 = p0, r1 = p1;
    for (let i = (k as i32) - 2; i >= 0; i--) {
      source = offsetAt(sourcesOffset, i as u32) + pos;
      const d0 = v128.load(source);
      const d1 = v128.load(source, 16);
      p0 = v128.xor(p0, d0);
      p1 = v128.xor(p1, d1);
      q0 = v128.xor(mul2(q0), d0);
      q1 = v128.xor(mul2(q1), d1);
      r0 = v128.xor(mul2(mul2(r0)), d0);
      r1 = v128.xor(mul2(mul2(r1)), d1);
    }
    v128.store(pOffset + pos, p0);
    v128.store(pOffset + pos, p1, 16);
    v128.store(qOffset + pos, q0);
    v128.store(qOffset + pos, q1, 16);
    v128.store(rOffset + pos, r0);
    v128.store(rOffset + pos, r1, 16);
  }
}

/** Tail: P, Q and (when rOffset is not NO_TARGET) R one byte at a time. */
export function pqrTail(
  sourcesOffset: usize, k: u32, pOffset: usize, qOffset: usize, rOffset: usize, start: usize, end: usize,
): void {
  for (let pos = start; pos < end; pos++) {
    let p: u32 = 0, q: u32 = 0, r: u32 = 0;
    for (let i = (k as i32) - 1; i >= 0; i--) {
      const d = load<u8>(offsetAt(sourcesOffset, i as u32) + pos) as u32;
      p ^= d;
      q = mul2Byte(q) ^ d;
      r = mul2Byte(mul2Byte(r)) ^ d;
    }
    store<u8>(pOffset + pos, p as u8);
    store<u8>(qOffset + pos, q as u8);
    if (rOffset != NO_TARGET) store<u8>(rOffset + pos, r as u8);
  }
}

/** Marks "no R target" for pqrTail; no real buffer can start at the top of a 4 GiB arena. */
export const NO_TARGET: usize = <usize>0xffffffff;

export function pq_gen(sourcesOffset: usize, k: u32, pOffset: usize, qOffset: usize, lengthBytes: usize): void {
  const bulkEnd = k > 0 ? lengthBytes & ~(31 as usize) : 0;
  pqRange(sourcesOffset, k, pOffset, qOffset, 0, bulkEnd);
  pqrTail(sourcesOffset, k, pOffset, qOffset, NO_TARGET, bulkEnd, lengthBytes);
}

export function pqr_gen(
  sourcesOffset: usize, k: u32, pOffset: usize, qOffset: usize, rOffset: usize, lengthBytes: usize,
  tablesOffset: usize,
): void {
  // tablesOffset is part of the ABI for a table-driven R; multiply-by-4 as two mul2 measured
  // at least as fast, so the tables are not read here.
  const bulkEnd = k > 0 ? lengthBytes & ~(31 as usize) : 0;
  pqrRange(sourcesOffset, k, pOffset, qOffset, rOffset, 0, bulkEnd);
  pqrTail(sourcesOffset, k, pOffset, qOffset, rOffset, bulkEnd, lengthBytes);
}
