// The write path's one pass: the m parity blocks of a group and the fletcher-4 of all k + m
// blocks. The group is walked in chunks: parity is computed from the data (read from memory
// once), then every block's chunk is checksummed again from cache and folded into its running
// state, which lives in the caller's checksum output itself (32 bytes per block).
// CHUNK_BYTES trades cache residence against the per-chunk fold of each block's state (about
// 100 cycles): 16 KiB x (k + m) stays in L2 for k + m <= 24 and measured 6% faster than 4 KiB.
import { offsetAt } from './gf_simd';
import { xorRange, xorTail } from './xor_simd';
import { NO_TARGET, pqRange, pqrRange, pqrTail } from './pq_simd';
import { fletcher4Clear, fletcher4Into } from './fletcher4_simd';

const CHUNK_BYTES: usize = 16384;
/** A multiple of both parity kernels' bulk step (a literal: a computed global would need a start function). */
const BULK_STEP_BYTES: usize = 64;

/** Parity of [start, end) for m = 1, 2 or 3 (bulk: the range is a multiple of BULK_STEP_BYTES). */
function parityRange(sourcesOffset: usize, k: u32, targetsOffset: usize, m: u32, start: usize, end: usize, bulk: bool): void {
  const p = offsetAt(targetsOffset, 0);
  if (m == 1) {
    if (bulk) xorRange(sourcesOffset, k, p, start, end);
    else xorTail(sourcesOffset, k, p, start, end);
    return;
  }
  const q = offsetAt(targetsOffset, 1);
  const r = m == 3 ? offsetAt(targetsOffset, 2) : NO_TARGET;
  if (!bulk) pqrTail(sourcesOffset, k, p, q, r, start, end);
  else if (m == 2) pqRange(sourcesOffset, k, p, q, start, end);
  else pqrRange(sourcesOffset, k, p, q, r, start, end);
}

/** Folds [start, end) of every data and parity block into its checksum state. */
function checksumRange(sourcesOffset: usize, k: u32, targetsOffset: usize, m: u32, checksumsOffset: usize, start: usize, end: usize): void {
  for (let i: u32 = 0; i < k; i++) {
    fletcher4Into(checksumsOffset + ((i as usize) << 5), offsetAt(sourcesOffset, i) + start, end - start);
  }
  for (let j: u32 = 0; j < m; j++) {
    fletcher4Into(checksumsOffset + (((k + j) as usize) << 5), offsetAt(targetsOffset, j) + start, end - start);
  }
}

export function encode_checksum(
  sourcesOffset: usize, k: u32, targetsOffset: usize, m: u32, lengthBytes: usize,
  checksumsOffset: usize, tablesOffset: usize,
): void {
  // P, Q and R need no tables (multiply-by-2 steps); tablesOffset keeps the ABI open for more rows.
  for (let b: u32 = 0; b < k + m; b++) fletcher4Clear(checksumsOffset + ((b as usize) << 5));
  const bulkEnd = k > 0 && m > 0 ? lengthBytes & ~(BULK_STEP_BYTES - 1) : 0;
  for (let chunkStart: usize = 0; chunkStart < bulkEnd; chunkStart += CHUNK_BYTES) {
    const chunkEnd = min(chunkStart + CHUNK_BYTES, bulkEnd);
    parityRange(sourcesOffset, k, targetsOffset, m, chunkStart, chunkEnd, true);
    checksumRange(sourcesOffset, k, targetsOffset, m, checksumsOffset, chunkStart, chunkEnd);
  }
  if (m > 0) parityRange(sourcesOffset, k, targetsOffset, m, bulkEnd, lengthBytes, false);
  checksumRange(sourcesOffset, k, targetsOffset, m, checksumsOffset, bulkEnd, lengthBytes);
}
