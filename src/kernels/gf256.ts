// GF(2^8) arithmetic in TypeScript: the field the kernels compute in, and the small matrix
// work that turns an erasure pattern into dot-product coefficients.
//
// Field: polynomial x^8+x^4+x^3+x^2+1 (0x11d), generator g = 2 (Linux RAID-6, ISA-L, ZFS).
// Parity row j weighs data block i by g^(j*i): row 0 is P (XOR), row 1 is Q (2^i), row 2 is
// R (4^i). Any <= 3 rows over any distinct data columns (k <= 255) form an invertible
// matrix (Vandermonde in distinct x_i = 2^i, or its 2x2 minors), so the code is MDS.
import { DATA_COUNT_MAX, PARITY_COUNT_MAX } from '../constants.js';
import { InvalidArgumentError, TooManyErasuresError } from '../errors.js';

export const GF_POLYNOMIAL = 0x11d;
export const GF_GENERATOR = 2;
const GF_ORDER = 255; // the multiplicative group

/** GF_EXP[n] = g^n for n in 0..509 (doubled so a sum of two logs needs no modulo). */
export const GF_EXP = new Uint8Array(2 * GF_ORDER);
/** GF_LOG[x] = n with g^n = x, for x in 1..255 (GF_LOG[0] is unused). */
export const GF_LOG = new Uint8Array(256);

function buildTables(): void {
  let x = 1;
  for (let n = 0; n < GF_ORDER; n++) {
    GF_EXP[n] = x;
    GF_EXP[n + GF_ORDER] = x;
    GF_LOG[x] = n;
    x <<= 1;
    if (x & 0x100) x ^= GF_POLYNOMIAL;
  }
}
buildTables();

export function gfMul(a: number, b: number): number {
  if (a === 0 || b === 0) return 0;
  return GF_EXP[GF_LOG[a]! + GF_LOG[b]!]!;
}

export function gfInverse(a: number): number {
  if (a === 0) throw new InvalidArgumentError('0 has no inverse in GF(2^8)');
  return GF_EXP[GF_ORDER - GF_LOG[a]!]!;
}

let productRows: Uint8Array | undefined;

/** The 256 products c*x (x = 0..255) as a view into one 64 KiB table built on first use. */
export function gfMulRow(c: number): Uint8Array {
  if (productRows === undefined) {
    productRows = new Uint8Array(256 * 256);
    for (let a = 0; a < 256; a++) for (let x = 0; x < 256; x++) productRows[a * 256 + x] = gfMul(a, x);
  }
  return productRows.subarray(c * 256, c * 256 + 256);
}

/** g^n for any integer n >= 0. */
export function gfPow2(n: number): number {
  return GF_EXP[n % GF_ORDER]!;
}

/** The weight of data block dataIndex in parity row `row` (0 = P, 1 = Q, 2 = R): g^(row*dataIndex). */
export function parityCoefficient(row: number, dataIndex: number): number {
  return gfPow2(row * dataIndex);
}

/** Inverts a square matrix over GF(2^8) by Gauss-Jordan elimination; throws if singular. */
export function gfInvertMatrix(matrix: Uint8Array[]): Uint8Array[] {
  const size = matrix.length;
  const work = matrix.map((row) => Uint8Array.from(row));
  const inverse = matrix.map((_, i) => {
    const row = new Uint8Array(size);
    row[i] = 1;
    return row;
  });
  for (let column = 0; column < size; column++) {
    const pivot = work.findIndex((row, r) => r >= column && row[column] !== 0);
    if (pivot < 0) throw new InvalidArgumentError('matrix is singular over GF(2^8)');
    [work[column], work[pivot]] = [work[pivot]!, work[column]!];
    [inverse[column], inverse[pivot]] = [inverse[pivot]!, inverse[column]!];
    const scale = gfInverse(work[column]![column]!);
    scaleRow(work[column]!, scale);
    scaleRow(inverse[column]!, scale);
    for (let r = 0; r < size; r++) {
      const factor = work[r]![column]!;
      if (r === column || factor === 0) continue;
      addScaledRow(work[r]!, work[column]!, factor);
      addScaledRow(inverse[r]!, inverse[column]!, factor);
    }
  }
  return inverse;
}

function scaleRow(row: Uint8Array, factor: number): void {
  for (let i = 0; i < row.length; i++) row[i] = gfMul(row[i]!, factor);
}

/** target ^= factor * source (subtraction is addition in characteristic 2). */
function addScaledRow(target: Uint8Array, source: Uint8Array, factor: number): void {
  for (let i = 0; i < target.length; i++) target[i]! ^= gfMul(source[i]!, factor);
}

/**
 * How to rebuild missing blocks. Block indices: 0..k-1 data, k..k+m-1 parity rows 0..m-1.
 * Every target t is rebuilt as  block(targets[t]) = sum_s coefficients[t][s] * block(sources[s]),
 * one gf_dot_prod over the same k surviving sources for every target.
 */
export interface ReconstructionPlan {
  targets: number[];
  sources: number[];
  coefficients: Uint8Array[];
}

/**
 * Plans the rebuild of `missing` blocks (any order, no duplicates, at most m). Sources are the
 * surviving data blocks plus the first surviving parity rows, as many as data blocks are
 * missing. Missing data comes from inverting those rows restricted to the missing columns;
 * a missing parity block is its encode row with each missing data block replaced by its
 * rebuild expression, so it too is a dot product over the same sources.
 */
export function reconstructionPlan(dataCount: number, parityCount: number, missing: number[]): ReconstructionPlan {
  checkGeometry(dataCount, parityCount, missing);
  const targets = [...missing].sort((a, b) => a - b);
  const lostData = targets.filter((block) => block < dataCount);
  const survivingData = range(dataCount).filter((i) => !lostData.includes(i));
  const survivingRows = range(parityCount).filter((j) => !targets.includes(dataCount + j));
  const usedRows = survivingRows.slice(0, lostData.length);
  const sources = [...survivingData, ...usedRows.map((j) => dataCount + j)];
  const dataRebuild = rebuildLostData(dataCount, lostData, survivingData, usedRows);
  const coefficients = targets.map((block) => {
    if (block < dataCount) return dataRebuild[lostData.indexOf(block)]!;
    return parityFromSources(block - dataCount, survivingData, lostData, dataRebuild, sources.length);
  });
  return { targets, sources, coefficients };
}

function checkGeometry(dataCount: number, parityCount: number, missing: number[]): void {
  if (!Number.isInteger(dataCount) || dataCount < 1 || dataCount > DATA_COUNT_MAX) {
    throw new InvalidArgumentError(`dataCount must be 1..${DATA_COUNT_MAX}, got ${dataCount}`);
  }
  if (!Number.isInteger(parityCount) || parityCount < 1 || parityCount > PARITY_COUNT_MAX) {
    throw new InvalidArgumentError(`parityCount must be 1..${PARITY_COUNT_MAX}, got ${parityCount}`);
  }
  const width = dataCount + parityCount;
  if (missing.some((block) => !Number.isInteger(block) || block < 0 || block >= width)) {
    throw new InvalidArgumentError(`missing blocks must be in 0..${width - 1}, got [${missing.join(', ')}]`);
  }
  if (new Set(missing).size !== missing.length) {
    throw new InvalidArgumentError(`missing blocks repeat: [${missing.join(', ')}]`);
  }
  if (missing.length > parityCount) {
    throw new TooManyErasuresError(
      `${missing.length} blocks are missing but a ${dataCount}+${parityCount} group survives at most ${parityCount}`,
    );
  }
}

/**
 * Rows of coefficients over [survivingData..., usedRows...] that give each lost data block.
 * With M[r][t] = coefficient of lost block t in used row r, the used parity blocks minus the
 * surviving data's share equal M * lost, so lost = M^-1 * (parity + sum over survivors).
 */
function rebuildLostData(dataCount: number, lostData: number[], survivingData: number[], usedRows: number[]): Uint8Array[] {
  if (lostData.length === 0) return [];
  const matrix = usedRows.map((row) => Uint8Array.from(lostData, (i) => parityCoefficient(row, i)));
  const inverse = gfInvertMatrix(matrix);
  return lostData.map((_, t) => {
    const coefficients = new Uint8Array(dataCount);
    survivingData.forEach((dataIndex, s) => {
      let sum = 0;
      usedRows.forEach((row, r) => (sum ^= gfMul(inverse[t]![r]!, parityCoefficient(row, dataIndex))));
      coefficients[s] = sum;
    });
    usedRows.forEach((_, r) => (coefficients[survivingData.length + r] = inverse[t]![r]!));
    return coefficients;
  });
}

/** Parity row `row` over the sources: its encode row, lost data substituted by their rebuild rows. */
function parityFromSources(
  row: number, survivingData: number[], lostData: number[], dataRebuild: Uint8Array[], sourceCount: number,
): Uint8Array {
  const coefficients = new Uint8Array(sourceCount);
  survivingData.forEach((dataIndex, s) => (coefficients[s] = parityCoefficient(row, dataIndex)));
  lostData.forEach((dataIndex, t) => {
    const weight = parityCoefficient(row, dataIndex);
    for (let s = 0; s < sourceCount; s++) coefficients[s]! ^= gfMul(weight, dataRebuild[t]![s]!);
  });
  return coefficients;
}

function range(count: number): number[] {
  return Array.from({ length: count }, (_, i) => i);
}

/**
 * Coefficients of the RAID-6 two-data-block recovery (Linux raid6_2data_recov) for lost data
 * blocks x < y: with P' = P ^ (surviving data) and Q' = Q ^ (their 2^i sum),
 * D_x = a*P' ^ b*Q' and D_y = P' ^ D_x, where a = g^y / (g^x ^ g^y) and b = 1 / (g^x ^ g^y).
 */
export function raid6Recov2Coefficients(x: number, y: number): { a: number; b: number } {
  if (!Number.isInteger(x) || !Number.isInteger(y) || x < 0 || y <= x || y >= DATA_COUNT_MAX) {
    throw new InvalidArgumentError(`raid6 recovery needs data indices 0 <= x < y < ${DATA_COUNT_MAX}, got ${x}, ${y}`);
  }
  const b = gfInverse(gfPow2(x) ^ gfPow2(y));
  return { a: gfMul(gfPow2(y), b), b };
}
