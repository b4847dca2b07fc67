// Fletcher-4 as ZFS computes it: four u64 accumulators over little-endian u32 words,
//   a += w; b += a; c += b; d += c   (all mod 2^64),
// output 32 bytes: a, b, c, d as little-endian u64. A byte length that is not a multiple of 4
// is treated as zero-padded to the next whole word.
//
// SIMD: four interleaved streams (stream s takes words 4t+s), two per i64x2 register, each
// running its own a/b/c/d from zero; the streams are then combined with ZFS's
// fletcher_4_superscalar4 formulas. A state already in the output (a0..d0) is advanced over
// the n new words by linearity (combineInto), which lets the fused encode checksum a group
// chunk by chunk without keeping per-block vector state anywhere in memory.

/** Advances the state at stateOffset over n words whose from-zero sums are (a, b, c, d). */
// @ts-ignore: decorator
@inline function combineInto(stateOffset: usize, n: u64, a: u64, b: u64, c: u64, d: u64): void {
  const a0 = load<u64>(stateOffset), b0 = load<u64>(stateOffset, 8);
  const c0 = load<u64>(stateOffset, 16), d0 = load<u64>(stateOffset, 24);
  // Triangular and tetrahedral numbers of n mod 2^64, dividing before multiplying so the
  // product cannot lose the factors it is divided by. n < 2^30 (a u32 byte length in words),
  // so the divisions run in u32, where the engine turns them into multiplications.
  const n32 = <u32>n;
  let x = n32, y = n32 + 1, z = n32 + 2;
  if (x % 3 == 0) x /= 3; else if (y % 3 == 0) y /= 3; else z /= 3;
  if ((x & 1) == 0) x >>= 1; else y >>= 1; // one of n, n+1 is even, and stays so after /3
  const tetrahedral = (x as u64) * (y as u64) * (z as u64);
  const triangle = (n32 & 1) == 0 ? ((n32 >> 1) as u64) * (n + 1) : n * (((n32 + 1) >> 1) as u64);
  store<u64>(stateOffset, a0 + a);
  store<u64>(stateOffset, b0 + n * a0 + b, 8);
  store<u64>(stateOffset, c0 + n * b0 + triangle * a0 + c, 16);
  store<u64>(stateOffset, d0 + n * c0 + triangle * b0 + tetrahedral * a0 + d, 24);
}

/** Vector part: [offset, offset + bytes), bytes a multiple of 16, folded into the state. */
export function fletcher4VectorInto(stateOffset: usize, offset: usize, bytes: usize): void {
  if (bytes == 0) return;
  let a01 = i64x2.splat(0), b01 = a01, c01 = a01, d01 = a01; // streams 0 and 1
  let a23 = a01, b23 = a01, c23 = a01, d23 = a01; // streams 2 and 3
  const end = offset + bytes;
  for (let pos = offset; pos < end; pos += 16) {
    const words = v128.load(pos);
    a01 = i64x2.add(a01, i64x2.extend_low_i32x4_u(words));
    a23 = i64x2.add(a23, i64x2.extend_high_i32x4_u(words));
    b01 = i64x2.add(b01, a01);
    b23 = i64x2.add(b23, a23);
    c01 = i64x2.add(c01, b01);
    c23 = i64x2.add(c23, b23);
    d01 = i64x2.add(d01, c01);
    d23 = i64x2.add(d23, c23);
  }
  const A0 = i64x2.extract_lane(a01, 0), A1 = i64x2.extract_lane(a01, 1);
  const A2 = i64x2.extract_lane(a23, 0), A3 = i64x2.extract_lane(a23, 1);
  const B0 = i64x2.extract_lane(b01, 0), B1 = i64x2.extract_lane(b01, 1);
  const B2 = i64x2.extract_lane(b23, 0), B3 = i64x2.extract_lane(b23, 1);
  const C0 = i64x2.extract_lane(c01, 0), C1 = i64x2.extract_lane(c01, 1);
  const C2 = i64x2.extract_lane(c23, 0), C3 = i64x2.extract_lane(c23, 1);
  const D0 = i64x2.extract_lane(d01, 0), D1 = i64x2.extract_lane(d01, 1);
  const D2 = i64x2.extract_lane(d23, 0), D3 = i64x2.extract_lane(d23, 1);
  const a = A0 + A1 + A2 + A3;
  const b = 4 * (B0 + B1 + B2 + B3) - A1 - 2 * A2 - 3 * A3;
  const c = 16 * (C0 + C1 + C2 + C3) - 6 * B0 - 10 * B1 - 14 * B2 - 18 * B3 + A2 + 3 * A3;
  const d = 64 * (D0 + D1 + D2 + D3) - 48 * C0 - 64 * C1 - 80 * C2 - 96 * C3
    + 4 * B0 + 10 * B1 + 20 * B2 + 34 * B3 - A3;
  combineInto(stateOffset, (bytes >> 2) as u64, a, b, c, d);
}

/** Scalar part: whole words one by one, then a last partial word zero-padded. */
export function fletcher4TailInto(stateOffset: usize, offset: usize, bytes: usize): void {
  if (bytes == 0) return;
  let a = load<u64>(stateOffset), b = load<u64>(stateOffset, 8);
  let c = load<u64>(stateOffset, 16), d = load<u64>(stateOffset, 24);
  const wholeEnd = offset + (bytes & ~(3 as usize));
  for (let pos = offset; pos < wholeEnd; pos += 4) {
    a += load<u32>(pos) as u64;
    b += a; c += b; d += c;
  }
  const rest = bytes & 3;
  if (rest != 0) {
    let word: u64 = 0;
    for (let i: usize = 0; i < rest; i++) word |= (load<u8>(wholeEnd + i) as u64) << ((i as u64) << 3);
    a += word;
    b += a; c += b; d += c;
  }
  store<u64>(stateOffset, a);
  store<u64>(stateOffset, b, 8);
  store<u64>(stateOffset, c, 16);
  store<u64>(stateOffset, d, 24);
}

/** Folds [offset, offset + bytes) into the state at stateOffset (any length). */
export function fletcher4Into(stateOffset: usize, offset: usize, bytes: usize): void {
  const vectorBytes = bytes & ~(15 as usize);
  fletcher4VectorInto(stateOffset, offset, vectorBytes);
  fletcher4TailInto(stateOffset, offset + vectorBytes, bytes - vectorBytes);
}

// @ts-ignore: decorator
@inline export function fletcher4Clear(stateOffset: usize): void {
  v128.store(stateOffset, i64x2.splat(0));
  v128.store(stateOffset, i64x2.splat(0), 16);
}

export function fletcher4(offset: usize, lengthBytes: usize, outOffset: usize): void {
  fletcher4Clear(outOffset);
  fletcher4Into(outOffset, offset, lengthBytes);
}
