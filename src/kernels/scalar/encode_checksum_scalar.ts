// Scalar twin of asm/encode_checksum_simd.ts: the m parity rows, then the fletcher-4 of the
// k data and m parity blocks, (k + m) x 32 bytes at checksumsOffset in block order.
import { fletcher4Scalar } from './fletcher4_scalar.js';
import { offsetAt } from './memory_words.js';
import { parityRowScalar } from './pq_scalar.js';

export function encodeChecksumScalar(
  memory: Uint8Array, sourcesOffset: number, k: number, targetsOffset: number, m: number, lengthBytes: number,
  checksumsOffset: number, _tablesOffset: number,
): void {
  for (let row = 0; row < m; row++) {
    parityRowScalar(memory, sourcesOffset, k, row, offsetAt(memory, targetsOffset, row), lengthBytes);
  }
  for (let block = 0; block < k + m; block++) {
    const blockOffset = block < k ? offsetAt(memory, sourcesOffset, block) : offsetAt(memory, targetsOffset, block - k);
    fletcher4Scalar(memory, blockOffset, lengthBytes, checksumsOffset + 32 * block);
  }
}
