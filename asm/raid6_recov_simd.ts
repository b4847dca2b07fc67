// Two lost data blocks x < y of a group whose P and Q survive, rebuilt as Linux RAID-6 does
// (raid6_2data_recov): P' = P ^ (XOR of the surviving data), Q' = Q ^ (sum 2^i of the surviving
// data, by Horner like pq_gen), then
//   D_x = A*P' ^ B*Q',  D_y = P' ^ D_x,  A = g^y / (g^x ^ g^y),  B = 1 / (g^x ^ g^y)
// (A and B come from the caller: gf256.ts raid6Recov2Coefficients). Every surviving block costs
// one multiply-by-2 step instead of two table products, so this runs about 1.5x the general
// two-target dot product; the Codec uses it for the commonest double erasure.
import { TABLE_STRIDE_BYTES, mul2, mul2Byte, mulTable, mulTableByte, offsetAt } from './gf_simd';

const STEP_BYTES: usize = 32;

export function raid6_recov2(
  dataOffset: usize, k: u32, x: u32, y: u32, pOffset: usize, qOffset: usize, lengthBytes: usize,
  a: u32, b: u32, tablesOffset: usize,
): void {
  const dx = offsetAt(dataOffset, x), dy = offsetAt(dataOffset, y);
  const aTable = tablesOffset + (a as usize) * TABLE_STRIDE_BYTES;
  const bTable = tablesOffset + (b as usize) * TABLE_STRIDE_BYTES;
  const bulkEnd = lengthBytes & ~(STEP_BYTES - 1);
  for (let pos: usize = 0; pos < bulkEnd; pos += STEP_BYTES) {
    let p0 = i8x16.splat(0), p1 = p0, q0 = p0, q1 = p0;
    for (let i = (k as i32) - 1; i >= 0; i--) {
      q0 = mul2(q0);
      q1 = mul2(q1);
      if (i as u32 == x || i as u32 == y) continue;
      const source = offsetAt(dataOffset, i as u32) + pos;
      const d0 = v128.load(source), d1 = v128.load(source, 16);
      p0 = v128.xor(p0, d0);
      p1 = v128.xor(p1, d1);
      q0 = v128.xor(q0, d0);
      q1 = v128.xor(q1, d1);
    }
    p0 = v128.xor(p0, v128.load(pOffset + pos));
    p1 = v128.xor(p1, v128.load(pOffset + pos, 16));
    q0 = v128.xor(q0, v128.load(qOffset + pos));
    q1 = v128.xor(q1, v128.load(qOffset + pos, 16));
    const aLow = v128.load(aTable), aHigh = v128.load(aTable, 16);
    const bLow = v128.load(bTable), bHigh = v128.load(bTable, 16);
    const x0 = v128.xor(mulTable(p0, aLow, aHigh), mulTable(q0, bLow, bHigh));
    const x1 = v128.xor(mulTable(p1, aLow, aHigh), mulTable(q1, bLow, bHigh));
    v128.store(dx + pos, x0);
    v128.store(dx + pos, x1, 16);
    v128.store(dy + pos, v128.xor(p0, x0));
    v128.store(dy + pos, v128.xor(p1, x1), 16);
  }
  for (let pos = bulkEnd; pos < lengthBytes; pos++) {
    let p: u32 = 0, q: u32 = 0;
    for (let i = (k as i32) - 1; i >= 0; i--) {
      q = mul2Byte(q);
      if (i as u32 == x || i as u32 == y) continue;
      const d = load<u8>(offsetAt(dataOffset, i as u32) + pos) as u32;
      p ^= d;
      q ^= d;
    }
    p ^= load<u8>(pOffset + pos) as u32;
    q ^= load<u8>(qOffset + pos) as u32;
    const lostX = mulTableByte(p, aTable) ^ mulTableByte(q, bTable);
    store<u8>(dx + pos, lostX as u8);
    store<u8>(dy + pos, (p ^ lostX) as u8);
  }
}
