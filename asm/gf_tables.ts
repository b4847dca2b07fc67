// The constant tables the table-driven kernels read: for every c in 0..255, 32 bytes at
// tablesOffset + 32*c: c*x for x = 0..15, then c*(x<<4) for x = 0..15. The coordinator
// reserves the region and calls gf_tables_init once; every instance then reads it.
import { TABLE_STRIDE_BYTES, TABLES_BYTES, gfMulSlow } from './gf_simd';

export function gf_tables_bytes(): u32 {
  return TABLES_BYTES;
}

export function gf_tables_init(tablesOffset: usize): void {
  for (let c: u32 = 0; c < 256; c++) {
    const table = tablesOffset + (c as usize) * TABLE_STRIDE_BYTES;
    for (let x: u32 = 0; x < 16; x++) {
      store<u8>(table + x, gfMulSlow(c, x) as u8);
      store<u8>(table + 16 + x, gfMulSlow(c, x << 4) as u8);
    }
  }
}
