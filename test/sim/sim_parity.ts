// An independent parity encoder for the simulator's disk oracle, written from DESIGN.md's
// formulas only (no code shared with src/kernels): GF(2^8) with polynomial 0x11d, generator 2;
// parity row j weighs data block i by 2^(j·i), so P = XOR, Q = Σ 2^i·D_i, R = Σ 4^i·D_i.
// Slow (a byte at a time through a multiplication table) and used once per new group.

const EXP = new Uint8Array(512);
const LOG = new Uint8Array(256);
{
  let x = 1;
  for (let i = 0; i < 255; i++) {
    EXP[i] = x;
    LOG[x] = i;
    x <<= 1;
    if (x & 0x100) x ^= 0x11d;
  }
  for (let i = 255; i < 512; i++) EXP[i] = EXP[i - 255]!;
}

/** Multiplication table of one constant: table[b] = c·b. */
function multiplyTable(c: number): Uint8Array {
  const table = new Uint8Array(256);
  if (c === 0) return table;
  for (let b = 1; b < 256; b++) table[b] = EXP[LOG[c]! + LOG[b]!]!;
  return table;
}

const tables = new Map<number, Uint8Array>();
function tableFor(c: number): Uint8Array {
  let table = tables.get(c);
  if (!table) tables.set(c, (table = multiplyTable(c)));
  return table;
}

/** The `parityCount` parity blocks of equal-length `data` blocks. */
export function referenceParity(data: readonly Uint8Array[], parityCount: number): Uint8Array[] {
  const length = data[0]?.length ?? 0;
  const parity: Uint8Array[] = [];
  for (let row = 0; row < parityCount; row++) {
    const out = new Uint8Array(length);
    data.forEach((block, i) => {
      if (row === 0) {
        for (let b = 0; b < length; b++) out[b]! ^= block[b]!;
        return;
      }
      const table = tableFor(EXP[(row * i) % 255]!);
      for (let b = 0; b < length; b++) out[b]! ^= table[block[b]!]!;
    });
    parity.push(out);
  }
  return parity;
}
