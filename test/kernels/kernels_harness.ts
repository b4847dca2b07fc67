// Shared harness of the kernel tests: one shared memory with both implementations bound to
// it, a bump allocator that places every buffer at a chosen misalignment between guard
// bytes, and comparison helpers that dump the first differing byte.
import { instantiateKernels, loadKernelModule, type Kernels } from '../../src/kernels/kernel_module.js';
import { xorGenScalar } from '../../src/kernels/scalar/xor_scalar.js';
import { pqGenScalar, pqrGenScalar } from '../../src/kernels/scalar/pq_scalar.js';
import { gfDotProdScalar, gfVectDotProdScalar } from '../../src/kernels/scalar/gf_dot_prod_scalar.js';
import { fletcher4Scalar } from '../../src/kernels/scalar/fletcher4_scalar.js';
import { encodeChecksumScalar } from '../../src/kernels/scalar/encode_checksum_scalar.js';
import { writeU32 } from '../../src/kernels/scalar/memory_words.js';
import { raid6Recov2Coefficients, reconstructionPlan } from '../../src/kernels/gf256.js';
import { raid6Recov2Scalar } from '../../src/kernels/scalar/raid6_recov_scalar.js';

/** Layout of the reserved first 64 KiB, as the coordinator will lay it out. */
export const TABLES_OFFSET = 0;
export const SOURCES_LIST_OFFSET = 16384;
export const TARGETS_LIST_OFFSET = 17408;
export const COEFFICIENTS_OFFSET = 17664;
export const CHECKSUMS_OFFSET = 18432;
export const RESERVED_BYTES = 65536;
const GUARD_BYTES = 64;
const GUARD_VALUE = 0xa5;
const MEMORY_PAGES = 1024; // 64 MiB

/** The kernel operations with the ABI's signatures, so SIMD, scalar and broken ones plug in alike. */
export type KernelImpl = Omit<Kernels, 'gfTablesInit' | 'gfTablesBytes'> & { name: string };

export interface KernelEnv {
  memory: WebAssembly.Memory;
  bytes: Uint8Array;
  kernels: Kernels;
  simd: KernelImpl;
  scalar: KernelImpl;
  allocator: GuardedAllocator;
}

export async function createKernelEnv(): Promise<KernelEnv> {
  const memory = new WebAssembly.Memory({ initial: MEMORY_PAGES, maximum: MEMORY_PAGES, shared: true });
  const kernels = instantiateKernels(await loadKernelModule(), memory);
  kernels.gfTablesInit(TABLES_OFFSET);
  const bytes = new Uint8Array(memory.buffer);
  return { memory, bytes, kernels, simd: { name: 'simd', ...kernels }, scalar: scalarImpl(bytes), allocator: new GuardedAllocator(bytes) };
}

export function scalarImpl(bytes: Uint8Array): KernelImpl {
  return {
    name: 'scalar',
    xorGen: (...args) => xorGenScalar(bytes, ...args),
    pqGen: (...args) => pqGenScalar(bytes, ...args),
    pqrGen: (...args) => pqrGenScalar(bytes, ...args),
    gfDotProd: (...args) => gfDotProdScalar(bytes, ...args),
    gfVectDotProd: (...args) => gfVectDotProdScalar(bytes, ...args),
    raid6Recov2: (...args) => raid6Recov2Scalar(bytes, ...args),
    fletcher4: (...args) => fletcher4Scalar(bytes, ...args),
    encodeChecksum: (...args) => encodeChecksumScalar(bytes, ...args),
  };
}

/** Hands out buffers above the reserved head, each at `misalignment` past a 64-byte boundary, between guards. */
export class GuardedAllocator {
  private next = RESERVED_BYTES;
  private readonly guards: Array<[number, number]> = [];
  constructor(private readonly bytes: Uint8Array) {}

  allocate(lengthBytes: number, misalignment: number): number {
    const start = alignUp(this.next + GUARD_BYTES, 64) + (misalignment % 64);
    const end = start + lengthBytes;
    if (end + GUARD_BYTES > this.bytes.length) throw new Error('test memory exhausted');
    this.bytes.fill(GUARD_VALUE, start - GUARD_BYTES, start);
    this.bytes.fill(GUARD_VALUE, end, end + GUARD_BYTES);
    this.guards.push([start - GUARD_BYTES, start], [end, end + GUARD_BYTES]);
    this.next = end + GUARD_BYTES;
    return start;
  }

  /** Throws naming the first guard byte a kernel overwrote. */
  checkGuards(label: string): void {
    for (const [from, to] of this.guards) {
      for (let at = from; at < to; at++) {
        if (this.bytes[at] !== GUARD_VALUE) throw new Error(`${label}: guard byte at ${at} was overwritten`);
      }
    }
  }

  reset(): void {
    this.next = RESERVED_BYTES;
    this.guards.length = 0;
  }
}

function alignUp(value: number, alignment: number): number {
  return Math.ceil(value / alignment) * alignment;
}

/** xorshift32 filler: fast deterministic bytes from a seed. */
export function fillRandom(bytes: Uint8Array, offset: number, lengthBytes: number, seed: number): void {
  let state = (seed >>> 0) || 0x9e3779b9;
  for (let i = 0; i < lengthBytes; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    bytes[offset + i] = state & 0xff;
  }
}

export function writeOffsetList(bytes: Uint8Array, listOffset: number, offsets: number[]): void {
  offsets.forEach((offset, i) => writeU32(bytes, listOffset + 4 * i, offset));
}

/** Throws (with the first differing byte and its surroundings) unless the two ranges are equal. */
export function assertSameBytes(bytes: Uint8Array, label: string, actualOffset: number, expectedOffset: number, lengthBytes: number): void {
  const actual = bytes.subarray(actualOffset, actualOffset + lengthBytes);
  const expected = bytes.subarray(expectedOffset, expectedOffset + lengthBytes);
  const at = actual.findIndex((byte, i) => byte !== expected[i]);
  if (at < 0) return;
  const around = (view: Uint8Array): string => Buffer.from(view.subarray(Math.max(0, at - 4), at + 4)).toString('hex');
  throw new Error(`${label}: byte ${at} of ${lengthBytes} differs: got ${around(actual)} expected ${around(expected)} (window from ${Math.max(0, at - 4)})`);
}

/** A seed for fast-check, logged so a failure can be replayed. */
export function loggedSeed(name: string): number {
  const fromEnvironment = process.env['KERNEL_TEST_SEED'];
  const seed = fromEnvironment !== undefined ? Number(fromEnvironment) : (Date.now() ^ (Math.random() * 0x7fffffff)) | 0;
  console.log(`${name}: seed ${seed} (replay with KERNEL_TEST_SEED=${seed})`);
  return seed;
}

export interface Geometry {
  k: number;
  m: number;
  lengthBytes: number;
  /** Seeds the data and the buffer misalignments. */
  seed: number;
}

/** Allocates k random data blocks, each at its own misalignment; returns their offsets. */
function allocateData(env: KernelEnv, geometry: Geometry): number[] {
  return Array.from({ length: geometry.k }, (_, i) => {
    const offset = env.allocator.allocate(geometry.lengthBytes, (geometry.seed + 7 * i) & 63);
    fillRandom(env.bytes, offset, geometry.lengthBytes, geometry.seed * 31 + i);
    return offset;
  });
}

function allocateBlocks(env: KernelEnv, count: number, lengthBytes: number, salt: number): number[] {
  return Array.from({ length: count }, (_, j) => {
    const offset = env.allocator.allocate(lengthBytes, (salt + 13 * j) & 63);
    fillRandom(env.bytes, offset, lengthBytes, salt + j); // stale bytes a kernel must overwrite
    return offset;
  });
}

/** Runs the plain parity kernel of `impl` (xor, pq or pqr by m) into targets. */
export function encodeWith(env: KernelEnv, impl: KernelImpl, data: number[], targets: number[], lengthBytes: number): void {
  writeOffsetList(env.bytes, SOURCES_LIST_OFFSET, data);
  const [p, q, r] = targets as [number, number?, number?];
  if (targets.length === 1) impl.xorGen(SOURCES_LIST_OFFSET, data.length, p, lengthBytes);
  else if (targets.length === 2) impl.pqGen(SOURCES_LIST_OFFSET, data.length, p, q!, lengthBytes);
  else impl.pqrGen(SOURCES_LIST_OFFSET, data.length, p, q!, r!, lengthBytes, TABLES_OFFSET);
}

/**
 * Encodes with `actual` and `expected`, plain and fused, and compares parity and checksums
 * byte for byte; checks every guard. Returns the data and parity offsets (expected's).
 */
export function compareEncode(env: KernelEnv, actual: KernelImpl, expected: KernelImpl, geometry: Geometry): number[] {
  const { k, m, lengthBytes, seed } = geometry;
  const label = `${actual.name} vs ${expected.name} encode k=${k} m=${m} length=${lengthBytes} seed=${seed}`;
  const data = allocateData(env, geometry);
  const actualParity = allocateBlocks(env, m, lengthBytes, seed + 101);
  const expectedParity = allocateBlocks(env, m, lengthBytes, seed + 202);
  encodeWith(env, actual, data, actualParity, lengthBytes);
  encodeWith(env, expected, data, expectedParity, lengthBytes);
  for (let j = 0; j < m; j++) assertSameBytes(env.bytes, `${label} row ${j}`, actualParity[j]!, expectedParity[j]!, lengthBytes);
  const fusedParity = allocateBlocks(env, m, lengthBytes, seed + 303);
  const checksumBytes = 32 * (k + m);
  const actualChecksums = env.allocator.allocate(checksumBytes, seed & 7);
  const expectedChecksums = env.allocator.allocate(checksumBytes, (seed >> 3) & 7);
  const expectedFusedParity = allocateBlocks(env, m, lengthBytes, seed + 404);
  fusedEncodeWith(env, actual, data, fusedParity, lengthBytes, actualChecksums);
  fusedEncodeWith(env, expected, data, expectedFusedParity, lengthBytes, expectedChecksums);
  for (let j = 0; j < m; j++) {
    assertSameBytes(env.bytes, `${label} fused row ${j}`, fusedParity[j]!, expectedParity[j]!, lengthBytes);
    assertSameBytes(env.bytes, `${label} ${expected.name} fused row ${j}`, expectedFusedParity[j]!, expectedParity[j]!, lengthBytes);
  }
  assertSameBytes(env.bytes, `${label} fused checksums`, actualChecksums, expectedChecksums, checksumBytes);
  env.allocator.checkGuards(label);
  return [...data, ...expectedParity];
}

export function fusedEncodeWith(
  env: KernelEnv, impl: KernelImpl, data: number[], targets: number[], lengthBytes: number, checksumsOffset: number,
): void {
  writeOffsetList(env.bytes, SOURCES_LIST_OFFSET, data);
  writeOffsetList(env.bytes, TARGETS_LIST_OFFSET, targets);
  impl.encodeChecksum(SOURCES_LIST_OFFSET, data.length, TARGETS_LIST_OFFSET, targets.length, lengthBytes, checksumsOffset, TABLES_OFFSET);
}

/**
 * Encodes with `expected`, loses `missing`, rebuilds every lost block with both
 * implementations' gf_dot_prod from the plan (one target at a time, then all targets in one
 * gf_vect_dot_prod call, as the Codec does), and checks both equal the lost originals.
 */
export function compareReconstruct(env: KernelEnv, actual: KernelImpl, expected: KernelImpl, geometry: Geometry, missing: number[]): void {
  const { k, m, lengthBytes, seed } = geometry;
  const label = `${actual.name} vs ${expected.name} rebuild k=${k} m=${m} length=${lengthBytes} missing=[${missing}] seed=${seed}`;
  const data = allocateData(env, geometry);
  const parity = allocateBlocks(env, m, lengthBytes, seed + 404);
  encodeWith(env, expected, data, parity, lengthBytes);
  const blocks = [...data, ...parity];
  const plan = reconstructionPlan(k, m, missing);
  writeOffsetList(env.bytes, SOURCES_LIST_OFFSET, plan.sources.map((block) => blocks[block]!));
  plan.targets.forEach((block, t) => {
    env.bytes.set(plan.coefficients[t]!, COEFFICIENTS_OFFSET);
    for (const impl of [actual, expected]) {
      const rebuilt = env.allocator.allocate(lengthBytes, (seed + 5 * t) & 63);
      fillRandom(env.bytes, rebuilt, lengthBytes, seed + 505 + t);
      impl.gfDotProd(SOURCES_LIST_OFFSET, COEFFICIENTS_OFFSET, plan.sources.length, rebuilt, lengthBytes, TABLES_OFFSET);
      const matrix = `plan sources [${plan.sources}] coefficients [${plan.coefficients[t]}]`;
      assertSameBytes(env.bytes, `${label} ${impl.name} block ${block} (${matrix})`, rebuilt, blocks[block]!, lengthBytes);
    }
  });
  const sourceCount = plan.sources.length;
  plan.coefficients.forEach((row, t) => env.bytes.set(row, COEFFICIENTS_OFFSET + t * sourceCount));
  for (const impl of [actual, expected]) {
    const rebuilt = allocateBlocks(env, plan.targets.length, lengthBytes, seed + 707);
    writeOffsetList(env.bytes, TARGETS_LIST_OFFSET, rebuilt);
    impl.gfVectDotProd(SOURCES_LIST_OFFSET, COEFFICIENTS_OFFSET, sourceCount, TARGETS_LIST_OFFSET, plan.targets.length, lengthBytes, TABLES_OFFSET);
    plan.targets.forEach((block, t) => {
      assertSameBytes(env.bytes, `${label} ${impl.name} gf_vect_dot_prod block ${block}`, rebuilt[t]!, blocks[block]!, lengthBytes);
    });
  }
  env.allocator.checkGuards(label);
}

/** gf_vect_dot_prod of random sources into `rows.length` targets, both implementations compared. */
export function compareVectDotProd(env: KernelEnv, actual: KernelImpl, expected: KernelImpl, rows: number[][], lengthBytes: number, seed: number): void {
  const sourceCount = rows[0]?.length ?? 0;
  const label = `${actual.name} vs ${expected.name} gf_vect_dot_prod ${rows.length}x${sourceCount} length=${lengthBytes} seed=${seed}`;
  const sources = allocateData(env, { k: sourceCount, m: 0, lengthBytes, seed });
  writeOffsetList(env.bytes, SOURCES_LIST_OFFSET, sources);
  rows.forEach((row, t) => env.bytes.set(row, COEFFICIENTS_OFFSET + t * sourceCount));
  const outputs = [actual, expected].map((impl, i) => {
    const targets = allocateBlocks(env, rows.length, lengthBytes, seed + 808 + i);
    writeOffsetList(env.bytes, TARGETS_LIST_OFFSET, targets);
    impl.gfVectDotProd(SOURCES_LIST_OFFSET, COEFFICIENTS_OFFSET, sourceCount, TARGETS_LIST_OFFSET, rows.length, lengthBytes, TABLES_OFFSET);
    return targets;
  });
  rows.forEach((_, t) => assertSameBytes(env.bytes, `${label} target ${t}`, outputs[0]![t]!, outputs[1]![t]!, lengthBytes));
  env.allocator.checkGuards(label);
}

/** Fletcher-4 of one misaligned random buffer with both implementations. */
export function compareFletcher(env: KernelEnv, actual: KernelImpl, expected: KernelImpl, lengthBytes: number, seed: number): void {
  const label = `${actual.name} vs ${expected.name} fletcher4 length=${lengthBytes} seed=${seed}`;
  const buffer = env.allocator.allocate(lengthBytes, seed & 63);
  fillRandom(env.bytes, buffer, lengthBytes, seed);
  const actualOut = env.allocator.allocate(32, (seed >> 6) & 63);
  const expectedOut = env.allocator.allocate(32, (seed >> 12) & 63);
  actual.fletcher4(buffer, lengthBytes, actualOut);
  expected.fletcher4(buffer, lengthBytes, expectedOut);
  assertSameBytes(env.bytes, label, actualOut, expectedOut, 32);
  env.allocator.checkGuards(label);
}

/** gf_dot_prod of random sources with the given coefficients, both implementations compared. */
export function compareDotProd(env: KernelEnv, actual: KernelImpl, expected: KernelImpl, coefficients: number[], lengthBytes: number, seed: number): void {
  const label = `${actual.name} vs ${expected.name} gf_dot_prod [${coefficients}] length=${lengthBytes} seed=${seed}`;
  const sources = allocateData(env, { k: coefficients.length, m: 0, lengthBytes, seed });
  writeOffsetList(env.bytes, SOURCES_LIST_OFFSET, sources);
  env.bytes.set(coefficients, COEFFICIENTS_OFFSET);
  const targets = allocateBlocks(env, 2, lengthBytes, seed + 606);
  actual.gfDotProd(SOURCES_LIST_OFFSET, COEFFICIENTS_OFFSET, coefficients.length, targets[0]!, lengthBytes, TABLES_OFFSET);
  expected.gfDotProd(SOURCES_LIST_OFFSET, COEFFICIENTS_OFFSET, coefficients.length, targets[1]!, lengthBytes, TABLES_OFFSET);
  assertSameBytes(env.bytes, label, targets[0]!, targets[1]!, lengthBytes);
  env.allocator.checkGuards(label);
}

/**
 * Encodes P and Q with `expected`, loses data blocks x < y, rebuilds them with each
 * implementation's raid6_recov2 into fresh (stale-filled, misaligned) blocks, and checks both
 * equal the lost originals.
 */
export function compareRecov2(env: KernelEnv, actual: KernelImpl, expected: KernelImpl, geometry: Geometry, x: number, y: number): void {
  const { k, lengthBytes, seed } = geometry;
  const label = `${actual.name} vs ${expected.name} raid6_recov2 k=${k} lost=[${x},${y}] length=${lengthBytes} seed=${seed}`;
  const data = allocateData(env, geometry);
  const [p, q] = allocateBlocks(env, 2, lengthBytes, seed + 909) as [number, number];
  encodeWith(env, expected, data, [p, q], lengthBytes);
  const { a, b } = raid6Recov2Coefficients(x, y);
  for (const impl of [actual, expected]) {
    const [rebuiltX, rebuiltY] = allocateBlocks(env, 2, lengthBytes, seed + 1010) as [number, number];
    const list = data.map((offset, i) => (i === x ? rebuiltX : i === y ? rebuiltY : offset));
    writeOffsetList(env.bytes, SOURCES_LIST_OFFSET, list);
    impl.raid6Recov2(SOURCES_LIST_OFFSET, k, x, y, p, q, lengthBytes, a, b, TABLES_OFFSET);
    assertSameBytes(env.bytes, `${label} ${impl.name} block ${x}`, rebuiltX, data[x]!, lengthBytes);
    assertSameBytes(env.bytes, `${label} ${impl.name} block ${y}`, rebuiltY, data[y]!, lengthBytes);
  }
  env.allocator.checkGuards(label);
}
