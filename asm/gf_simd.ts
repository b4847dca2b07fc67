// Shared inline helpers of the SIMD kernels: GF(2^8) multiply-by-2, multiply by a constant
// through split nibble tables, and reading the u32 offset lists the ABI passes in.
//
// Field: GF(2^8) with polynomial x^8+x^4+x^3+x^2+1 (0x11d), generator 2, as Linux RAID-6.
// Nothing here may live in linear memory: every instance imports the same shared arena, so a
// static segment would overlap other instances and the arena itself. Constants are v128
// immediates that the optimizer folds into the code.

/** Bytes of one constant's nibble tables: 16 products of the low nibble, 16 of the high. */
export const TABLE_STRIDE_BYTES: u32 = 32;
/** All 256 constants' tables, written by gf_tables_init at tablesOffset. */
export const TABLES_BYTES: u32 = 256 * TABLE_STRIDE_BYTES;
/** The reduction of 0x11d after dropping x^8. */
export const POLY_LOW: u8 = 0x1d;

/** Table lookup of 16 bytes; indexes are always 0..15 so the relaxed form gives the same bytes. */
// @ts-ignore: decorator
@inline export function swizzle16(table: v128, indexes: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return i8x16.relaxed_swizzle(table, indexes);
  return i8x16.swizzle(table, indexes);
}

/** 2*v in GF(2^8), lane-wise: shift left, and where the top bit was set xor in 0x1d. */
// @ts-ignore: decorator
@inline export function mul2(v: v128): v128 {
  const overflow = i8x16.lt_s(v, i8x16.splat(0));
  return v128.xor(i8x16.add(v, v), v128.and(overflow, i8x16.splat(POLY_LOW)));
}

/**
 * 4*v in GF(2^8), lane-wise: v << 2, and the two bits shifted out (x^8, x^9) reduced through a
 * 4-entry table, 0x1d and 0x3a. Six vector operations where two mul2 steps take eight.
 */
// @ts-ignore: decorator
@inline export function mul4(v: v128): v128 {
  const twice = i8x16.add(v, v);
  // i16x8 shift + mask, as in mulTable: the index must be 0..3 in every byte for the swizzle.
  const top = v128.and(i16x8.shr_u(v, 6), i8x16.splat(3));
  const reduction = swizzle16(i8x16(0, 0x1d, 0x3a, 0x27, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), top);
  return v128.xor(i8x16.add(twice, twice), reduction);
}

/** c*v in GF(2^8) where low/high are c's nibble tables: c*v = c*(v & 15) ^ c*(v & 0xf0). */
// @ts-ignore: decorator
@inline export function mulTable(v: v128, low: v128, high: v128): v128 {
  const mask = i8x16.splat(0x0f);
  const lowIndexes = v128.and(v, mask);
  // i16x8 shift + mask: x64 has no byte shift, i8x16.shr_u would cost several instructions.
  const highIndexes = v128.and(i16x8.shr_u(v, 4), mask);
  return v128.xor(swizzle16(low, lowIndexes), swizzle16(high, highIndexes));
}

/** Scalar 2*b, for byte tails. */
// @ts-ignore: decorator
@inline export function mul2Byte(b: u32): u32 {
  return ((b << 1) ^ (b & 0x80 ? POLY_LOW : 0)) & 0xff;
}

/** Scalar c*b through c's tables (tableOffset = tablesOffset + c*32), for byte tails. */
// @ts-ignore: decorator
@inline export function mulTableByte(b: u32, tableOffset: usize): u32 {
  return (load<u8>(tableOffset + (b & 15)) as u32) ^ (load<u8>(tableOffset + 16 + (b >> 4)) as u32);
}

/** The index-th u32 of an offset list (sources or targets) passed by the caller. */
// @ts-ignore: decorator
@inline export function offsetAt(listOffset: usize, index: u32): usize {
  return load<u32>(listOffset + ((index as usize) << 2)) as usize;
}

/** Byte product by shift-and-reduce; only used to build the tables once. */
export function gfMulSlow(a: u32, b: u32): u32 {
  let product: u32 = 0;
  for (let bit = 0; bit < 8; bit++) {
    if (b & 1) product ^= a;
    a = mul2Byte(a);
    b >>= 1;
  }
  return product;
}
