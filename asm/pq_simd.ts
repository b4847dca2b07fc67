// P = XOR of data, Q = sum 2^i * D_i, R = sum 4^i * D_i, by Horner's rule from the highest
// data index down: Q = ((D_{k-1}*2 ^ D_{k-2})*2 ^ ...) ^ D_0, all three in one pass that loads
// each data vector once. Multiply-by-2 needs no tables (mul2); R multiplies by 4 with a shift and
// a 4-entry reduction held in a register (mul4). Byte-identical to Linux RAID-6 and raidz3.
import { mul2, mul2Byte, mul4, offsetAt } from './gf_simd';

/** The bulk loops step this many bytes: four vectors per source offset load. */
export const PQ_STEP_BYTES: usize = 64;

/** Bulk P+Q over [start, end), end - start a multiple of PQ_STEP_BYTES, k >= 1. */
export function pqRange(sourcesOffset: usize, k: u32, pOffset: usize, qOffset: usize, start: usize, end: usize): void {
  for (let pos = start; pos < end; pos += PQ_STEP_BYTES) {
    let source = offsetAt(sourcesOffset, k - 1) + pos;
    let p0 = v128.load(source);
    let p1 = v128.load(source, 16);
    let p2 = v128.load(source, 32);
    let p3 = v128.load(source, 48);
    let q0 = p0, q1 = p1, q2 = p2, q3 = p3;
    for (let i = (k as i32) - 2; i >= 0; i--) {
      source = offsetAt(sourcesOffset, i as u32) + pos;
      const d0 = v128.load(source);
      const d1 = v128.load(source, 16);
      const d2 = v128.load(source, 32);
      const d3 = v128.load(source, 48);
      p0 = v128.xor(p0, d0);
      p1 = v128.xor(p1, d1);
      p2 = v128.xor(p2, d2);
      p3 = v128.xor(p3, d3);
      q0 = v128.xor(mul2(q0), d0);
      q1 = v128.xor(mul2(q1), d1);
      q2 = v128.xor(mul2(q2), d2);
      q3 = v128.xor(mul2(q3), d3);
    }
    v128.store(pOffset + pos, p0);
    v128.store(pOffset + pos, p1, 16);
    v128.store(pOffset + pos, p2, 32);
    v128.store(pOffset + pos, p3, 48);
    v128.store(qOffset + pos, q0);
    v128.store(qOffset + pos, q1, 16);
    v128.store(qOffset + pos, q2, 32);
    v128.store(qOffset + pos, q3, 48);
  }
}

/**
 * P+Q+R steps this many bytes: two vectors per block, so 6 accumulators, 2 data vectors and the
 * 4 constants fit x64's 16 vector registers (four vectors per block spilled and ran 0.41x P+Q).
 */
export const PQR_STEP_BYTES: usize = 32;

/** Bulk P+Q+R over [start, end), end - start a multiple of PQR_STEP_BYTES, k >= 1. */
export function pqrRange(
  sourcesOffset: usize, k: u32, pOffset: usize, qOffset: usize, rOffset: usize, start: usize, end: usize,
): void {
  const last = sourcesOffset + (((k as usize) - 1) << 2);
  for (let pos = start; pos < end; pos += PQR_STEP_BYTES) {
    let source = load<u32>(last) + pos;
    let p0 = v128.load(source);
    let p1 = v128.load(source, 16);
    let q0 = p0, q1 = p1, r0 = p0, r1 = p1;
    // Horner from D_{k-2} down to D_0, two sources per iteration (half the loop back edges).
    let entry = last;
    for (; entry >= sourcesOffset + 8; entry -= 8) {
      const first = load<u32>(entry - 4) + pos;
      let d0 = v128.load(first);
      let d1 = v128.load(first, 16);
      p0 = v128.xor(p0, d0);
      p1 = v128.xor(p1, d1);
      q0 = v128.xor(mul2(q0), d0);
      q1 = v128.xor(mul2(q1), d1);
      r0 = v128.xor(mul4(r0), d0);
      r1 = v128.xor(mul4(r1), d1);
      const second = load<u32>(entry - 8) + pos;
      d0 = v128.load(second);
      d1 = v128.load(second, 16);
      p0 = v128.xor(p0, d0);
      p1 = v128.xor(p1, d1);
      q0 = v128.xor(mul2(q0), d0);
      q1 = v128.xor(mul2(q1), d1);
      r0 = v128.xor(mul4(r0), d0);
      r1 = v128.xor(mul4(r1), d1);
    }
    if (entry > sourcesOffset) {
      source = load<u32>(sourcesOffset) + pos;
      const d0 = v128.load(source);
      const d1 = v128.load(source, 16);
      p0 = v128.xor(p0, d0);
      p1 = v128.xor(p1, d1);
      q0 = v128.xor(mul2(q0), d0);
      q1 = v128.xor(mul2(q1), d1);
      r0 = v128.xor(mul4(r0), d0);
      r1 = v128.xor(mul4(r1), d1);
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
  const bulkEnd = k > 0 ? lengthBytes & ~(PQ_STEP_BYTES - 1) : 0;
  pqRange(sourcesOffset, k, pOffset, qOffset, 0, bulkEnd);
  pqrTail(sourcesOffset, k, pOffset, qOffset, NO_TARGET, bulkEnd, lengthBytes);
}

export function pqr_gen(
  sourcesOffset: usize, k: u32, pOffset: usize, qOffset: usize, rOffset: usize, lengthBytes: usize,
  tablesOffset: usize,
): void {
  // tablesOffset is part of the ABI for a table-driven R; mul4 needs only its 4-entry register
  // table. The loop is bound by vector operations (measured: P+Q ~6 per data vector and step,
  // P+Q+R ~13, whichever way R multiplies), so R costs more than P and Q together.
  const bulkEnd = k > 0 ? lengthBytes & ~(PQR_STEP_BYTES - 1) : 0;
  pqrRange(sourcesOffset, k, pOffset, qOffset, rOffset, 0, bulkEnd);
  pqrTail(sourcesOffset, k, pOffset, qOffset, rOffset, bulkEnd, lengthBytes);
}
