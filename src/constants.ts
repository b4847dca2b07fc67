// Every size and limit of elastripe, in one place, with load-time checks of how they relate.

/** The logical block: unit of addressing and of O_DIRECT alignment. */
export const LB_BYTES = 4096;

/** Parity count per array: 1 (P), 2 (P+Q, Linux RAID-6), 3 (P+Q+R, raidz3). */
export const PARITY_COUNT_MAX = 3;
/** The GF(2^8) code is MDS for up to 255 data blocks. */
export const DATA_COUNT_MAX = 255;

function assert(condition: boolean, message: string): void {
  if (!condition) throw new Error(`constants: ${message}`);
}
assert((LB_BYTES & (LB_BYTES - 1)) === 0, 'LB_BYTES is a power of two');
assert(PARITY_COUNT_MAX === 3, 'kernels implement P, Q and R only');
