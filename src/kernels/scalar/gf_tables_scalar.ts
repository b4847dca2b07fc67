// Scalar twin of asm/gf_tables.ts: the same 32-byte nibble tables per constant, from gf256.ts.
import { gfMul } from '../gf256.js';

export const GF_TABLE_STRIDE_BYTES = 32;
export const GF_TABLES_BYTES = 256 * GF_TABLE_STRIDE_BYTES;

export function gfTablesBytesScalar(): number {
  return GF_TABLES_BYTES;
}

export function gfTablesInitScalar(memory: Uint8Array, tablesOffset: number): void {
  for (let c = 0; c < 256; c++) {
    const table = tablesOffset + c * GF_TABLE_STRIDE_BYTES;
    for (let x = 0; x < 16; x++) {
      memory[table + x] = gfMul(c, x);
      memory[table + 16 + x] = gfMul(c, x << 4);
    }
  }
}
