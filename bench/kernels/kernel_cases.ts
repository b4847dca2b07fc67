// The operations the kernel benchmark times: our SIMD kernels, their scalar twins and two peer
// Reed-Solomon libraries, one per (case, impl, shard size), each with a check of its result.
// Our kernels are checked against the scalar "original" (reconstructions against the data
// itself); the peers against their own round trip (encode, lose blocks, rebuild them). A
// result that fails its check is reported as an error, never as a speed.
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import {
  compileKernelVariant, instantiateKernels, loadKernelModule, type KernelMemory, type Kernels,
} from '../../src/kernels/kernel_module.js';
import { raid6Recov2Coefficients, reconstructionPlan } from '../../src/kernels/gf256.js';
import { raid6Recov2Scalar } from '../../src/kernels/scalar/raid6_recov_scalar.js';
import { xorGenScalar } from '../../src/kernels/scalar/xor_scalar.js';
import { pqGenScalar, pqrGenScalar } from '../../src/kernels/scalar/pq_scalar.js';
import { gfVectDotProdScalar } from '../../src/kernels/scalar/gf_dot_prod_scalar.js';
import { fletcher4Scalar } from '../../src/kernels/scalar/fletcher4_scalar.js';
import { encodeChecksumScalar } from '../../src/kernels/scalar/encode_checksum_scalar.js';
import { writeU32 } from '../../src/kernels/scalar/memory_words.js';

export const DATA_COUNT = 8;
export const PARITY_BY_CASE: Record<string, number> = {
  'xor_8+1': 1, 'raid6_8+2': 2, 'triple_8+3': 3, 'reconstruct1_8+2': 2, 'reconstruct2_8+2': 2, checksum: 0, 'encode_checksum_8+2': 2,
};
/** Lost data blocks (bit flags) in the reconstruct cases. */
const RECONSTRUCT_TARGETS: Record<string, number> = { 'reconstruct1_8+2': 0b1, 'reconstruct2_8+2': 0b11 };
/** Arena layout: tables, offset lists and coefficient rows in the first 64 KiB, buffers after. */
const TABLES_OFFSET = 0;
const SOURCES_LIST_OFFSET = 16384;
const TARGETS_LIST_OFFSET = 17408;
const COEFFICIENTS_OFFSET = 18432; // two rows of 256
const CHECKSUMS_OFFSET = 19456;
const CHECKSUM_BYTES = 32;
const BUFFERS_OFFSET = 65536;
/** Buffers start this many bytes apart within a 4 KiB page, so they do not alias in the caches. */
const STAGGER_BYTES = 576;
const MEMORY_PAGES = 1024;
const NOT_OFFERED = 'not offered by this library (no checksum)';

// lib ES2022 + @types/node 20 declare no WebAssembly; this file uses only the constructor.
declare const WebAssembly: {
  Memory: new (descriptor: { initial: number; maximum: number; shared: true }) => KernelMemory & { buffer: SharedArrayBuffer };
};

export type Operation = () => void | Promise<void>;

export interface CaseOperation {
  run: Operation;
  /** Known up front, so the benchmark need not call `run` to find out. */
  isAsync: boolean;
  /** Runs the operation on fresh outputs; says what is wrong with the result, or undefined. */
  verify(): Promise<string | undefined>;
}

export interface Arena {
  memory: KernelMemory;
  bytes: Uint8Array;
  kernels: Kernels;
  plain: Kernels;
  /** Offsets of k data blocks, then 3 parity blocks, then 2 rebuild targets. */
  blocks: number[];
}

/** One region of the arena an operation writes: [offset, length in bytes]. */
type Region = readonly [number, number];

export async function createArena(shardBytes: number): Promise<Arena> {
  const memory = new WebAssembly.Memory({ initial: MEMORY_PAGES, maximum: MEMORY_PAGES, shared: true });
  const kernels = instantiateKernels(await loadKernelModule(), memory);
  const plain = instantiateKernels(await compileKernelVariant('simd'), memory);
  kernels.gfTablesInit(TABLES_OFFSET);
  const bytes = new Uint8Array(memory.buffer);
  const blocks: number[] = [];
  let next = BUFFERS_OFFSET;
  for (let i = 0; i < DATA_COUNT + 5; i++) {
    const offset = Math.ceil(next / 4096) * 4096 + ((i * STAGGER_BYTES) % 4096);
    blocks.push(offset);
    next = offset + shardBytes;
  }
  fillPseudoRandom(bytes.subarray(blocks[0]!, blocks[DATA_COUNT - 1]! + shardBytes));
  return { memory, bytes, kernels, plain, blocks };
}

/** A fixed LCG sequence: the same data every run, and not a pattern any kernel could shortcut. */
function fillPseudoRandom(bytes: Uint8Array): void {
  let state = 0x12345678;
  for (let at = 0; at < bytes.length; at++) {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    bytes[at] = state >>> 24;
  }
}

function writeList(bytes: Uint8Array, listOffset: number, offsets: number[]): void {
  offsets.forEach((offset, i) => writeU32(bytes, listOffset + 4 * i, offset));
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.compare(a, b) === 0;
}

/** The operation for one (case, impl); a string says why the impl cannot run the case. */
export async function caseOperation(arena: Arena, caseName: string, impl: string, shardBytes: number): Promise<CaseOperation | string> {
  if (impl === 'ronomon') return ronomonOperation(caseName, shardBytes);
  if (impl === 'digitaldefiance') return erasureOperation(caseName, shardBytes);
  const run = ownOperation(arena, caseName, impl, shardBytes);
  if (run === undefined) return 'unknown case';
  return { run, isAsync: false, verify: async () => verifyOwn(arena, caseName, impl, shardBytes, run) };
}

/** Our kernels (SIMD or scalar twin) for one case; undefined where the impl does not apply. */
function ownOperation(arena: Arena, caseName: string, impl: string, shardBytes: number): Operation | undefined {
  const { bytes, blocks } = arena;
  const kernels = impl === 'simd-plain' ? arena.plain : arena.kernels;
  const simd = impl !== 'scalar';
  const data = blocks.slice(0, DATA_COUNT);
  const [p, q, r] = blocks.slice(DATA_COUNT, DATA_COUNT + 3) as [number, number, number];
  writeList(bytes, SOURCES_LIST_OFFSET, data);
  writeList(bytes, TARGETS_LIST_OFFSET, [p, q, r]);
  const n = shardBytes;
  switch (caseName) {
    case 'xor_8+1':
      return simd ? () => kernels.xorGen(SOURCES_LIST_OFFSET, 8, p, n) : () => xorGenScalar(bytes, SOURCES_LIST_OFFSET, 8, p, n);
    case 'raid6_8+2':
      return simd ? () => kernels.pqGen(SOURCES_LIST_OFFSET, 8, p, q, n) : () => pqGenScalar(bytes, SOURCES_LIST_OFFSET, 8, p, q, n);
    case 'triple_8+3':
      return simd
        ? () => kernels.pqrGen(SOURCES_LIST_OFFSET, 8, p, q, r, n, TABLES_OFFSET)
        : () => pqrGenScalar(bytes, SOURCES_LIST_OFFSET, 8, p, q, r, n, TABLES_OFFSET);
    case 'reconstruct1_8+2':
      return reconstructOperation(arena, kernels, simd, n, [0]);
    case 'reconstruct2_8+2':
      // What the Codec runs for two lost data blocks: RAID-6 recovery; simd-dotprod is the general path.
      return impl === 'simd-dotprod' ? reconstructOperation(arena, kernels, simd, n, [0, 1]) : recoverOperation(arena, kernels, simd, n);
    case 'checksum':
      return () => {
        for (let i = 0; i < DATA_COUNT; i++) {
          const out = CHECKSUMS_OFFSET + CHECKSUM_BYTES * i;
          if (simd) kernels.fletcher4(data[i]!, n, out);
          else fletcher4Scalar(bytes, data[i]!, n, out);
        }
      };
    case 'encode_checksum_8+2':
      return simd
        ? () => kernels.encodeChecksum(SOURCES_LIST_OFFSET, 8, TARGETS_LIST_OFFSET, 2, n, CHECKSUMS_OFFSET, TABLES_OFFSET)
        : () => encodeChecksumScalar(bytes, SOURCES_LIST_OFFSET, 8, TARGETS_LIST_OFFSET, 2, n, CHECKSUMS_OFFSET, TABLES_OFFSET);
    default:
      return undefined;
  }
}

/** Data blocks lost from an 8+2 group: one call rebuilds them all from the 8 survivors (as the Codec does). */
function reconstructOperation(arena: Arena, kernels: Kernels, simd: boolean, shardBytes: number, missing: number[]): Operation {
  const { bytes, blocks } = arena;
  const plan = reconstructionPlan(DATA_COUNT, 2, missing);
  const rebuilt = blocks.slice(DATA_COUNT + 3, DATA_COUNT + 5);
  const listOffset = SOURCES_LIST_OFFSET + 512;
  const targetsOffset = TARGETS_LIST_OFFSET + 512;
  const sourceCount = plan.sources.length;
  writeList(bytes, listOffset, plan.sources.map((block) => blocks[block]!));
  writeList(bytes, targetsOffset, rebuilt.slice(0, missing.length));
  plan.coefficients.forEach((row, t) => bytes.set(row, COEFFICIENTS_OFFSET + sourceCount * t));
  kernels.pqGen(SOURCES_LIST_OFFSET, DATA_COUNT, blocks[DATA_COUNT]!, blocks[DATA_COUNT + 1]!, shardBytes);
  const args = [listOffset, COEFFICIENTS_OFFSET, sourceCount, targetsOffset, missing.length, shardBytes, TABLES_OFFSET] as const;
  return simd ? () => kernels.gfVectDotProd(...args) : () => gfVectDotProdScalar(bytes, ...args);
}

/** Data blocks 0 and 1 of an 8+2 group rebuilt from the others and P, Q (Linux RAID-6 recovery). */
function recoverOperation(arena: Arena, kernels: Kernels, simd: boolean, shardBytes: number): Operation {
  const { bytes, blocks } = arena;
  const rebuilt = blocks.slice(DATA_COUNT + 3, DATA_COUNT + 5);
  const listOffset = SOURCES_LIST_OFFSET + 768; // not the dot product's list: both operations exist at once
  writeList(bytes, listOffset, [rebuilt[0]!, rebuilt[1]!, ...blocks.slice(2, DATA_COUNT)]);
  kernels.pqGen(SOURCES_LIST_OFFSET, DATA_COUNT, blocks[DATA_COUNT]!, blocks[DATA_COUNT + 1]!, shardBytes);
  const { a, b } = raid6Recov2Coefficients(0, 1);
  const args = [listOffset, DATA_COUNT, 0, 1, blocks[DATA_COUNT]!, blocks[DATA_COUNT + 1]!, shardBytes, a, b, TABLES_OFFSET] as const;
  return simd ? () => kernels.raid6Recov2(...args) : () => raid6Recov2Scalar(bytes, ...args);
}

/** The arena regions an operation of this case writes. */
function outputRegions(arena: Arena, caseName: string, shardBytes: number): Region[] {
  const block = (i: number): Region => [arena.blocks[i]!, shardBytes];
  const parity = (count: number): Region[] => Array.from({ length: count }, (_, j) => block(DATA_COUNT + j));
  const lost = RECONSTRUCT_TARGETS[caseName];
  if (lost !== undefined) return [block(DATA_COUNT + 3), ...(lost === 0b11 ? [block(DATA_COUNT + 4)] : [])];
  if (caseName === 'checksum') return [[CHECKSUMS_OFFSET, CHECKSUM_BYTES * DATA_COUNT]];
  if (caseName === 'encode_checksum_8+2') return [...parity(2), [CHECKSUMS_OFFSET, CHECKSUM_BYTES * (DATA_COUNT + 2)]];
  return parity(PARITY_BY_CASE[caseName]!);
}

/**
 * What the outputs must hold: the lost data itself for reconstructions, else the scalar twin's
 * result. Every impl of a case writes the same offset lists, so running the twin leaves them as
 * the impl under test expects.
 */
function expectedOutputs(arena: Arena, caseName: string, shardBytes: number): Uint8Array[] {
  const lost = RECONSTRUCT_TARGETS[caseName];
  if (lost !== undefined) {
    const blocks = lost === 0b11 ? [0, 1] : [0];
    return blocks.map((i) => arena.bytes.slice(arena.blocks[i]!, arena.blocks[i]! + shardBytes));
  }
  const regions = outputRegions(arena, caseName, shardBytes);
  regions.forEach(([offset, length]) => arena.bytes.fill(0, offset, offset + length));
  ownOperation(arena, caseName, 'scalar', shardBytes)!();
  return regions.map(([offset, length]) => arena.bytes.slice(offset, offset + length));
}

function verifyOwn(arena: Arena, caseName: string, impl: string, shardBytes: number, run: Operation): string | undefined {
  const expected = expectedOutputs(arena, caseName, shardBytes);
  const regions = outputRegions(arena, caseName, shardBytes);
  regions.forEach(([offset, length]) => arena.bytes.fill(0, offset, offset + length));
  void run();
  const wrong = regions.findIndex(([offset, length], i) => !sameBytes(arena.bytes.subarray(offset, offset + length), expected[i]!));
  return wrong < 0 ? undefined : `wrong result: output ${wrong} differs from the reference`;
}

interface RonomonApi {
  create(k: number, m: number): unknown;
  encode(
    context: unknown, sources: number, targets: number, buffer: Buffer, bufferOffset: number, bufferSize: number,
    parity: Buffer, parityOffset: number, paritySize: number, callback: (error?: Error) => void,
  ): void;
}

interface ErasureApi {
  encode(shards: Uint8Array, dataShards: number, parityShards: number): number;
  reconstruct(shards: Uint8Array, dataShards: number, parityShards: number, available: boolean[]): number;
}

/** Data blocks a peer's round trip loses: the reconstruct case's own, else as many as there are parity blocks. */
function lostMask(caseName: string, m: number): number {
  return RECONSTRUCT_TARGETS[caseName] ?? (1 << m) - 1;
}

/** @ronomon/reed-solomon (native, Cauchy matrix, runs in libuv's thread pool: one awaited call at a time). */
function ronomonOperation(caseName: string, shardBytes: number): CaseOperation | string {
  const m = PARITY_BY_CASE[caseName]!;
  if (m === 0 || caseName.startsWith('encode_checksum')) return NOT_OFFERED;
  const ronomon = createRequire(import.meta.url)('@ronomon/reed-solomon') as RonomonApi;
  const context = ronomon.create(DATA_COUNT, m);
  const buffer = Buffer.alloc(shardBytes * DATA_COUNT);
  fillPseudoRandom(buffer);
  const parity = Buffer.alloc(shardBytes * m);
  const all = (1 << (DATA_COUNT + m)) - 1;
  const dataMask = (1 << DATA_COUNT) - 1;
  const lost = lostMask(caseName, m);
  const call = (sources: number, targets: number): Promise<void> =>
    new Promise<void>((done, fail) =>
      ronomon.encode(context, sources, targets, buffer, 0, buffer.length, parity, 0, parity.length, (error) =>
        error ? fail(error) : done(),
      ),
    );
  const reconstruct = caseName.startsWith('reconstruct');
  const encodeParity = (): Promise<void> => call(dataMask, all & ~dataMask);
  const rebuildLost = (): Promise<void> => call(all & ~lost, lost);
  const run = reconstruct ? rebuildLost : encodeParity;
  const verify = async (): Promise<string | undefined> => {
    await encodeParity();
    const original = Buffer.from(buffer);
    for (let i = 0; i < DATA_COUNT; i++) if (lost & (1 << i)) buffer.fill(0, i * shardBytes, (i + 1) * shardBytes);
    await rebuildLost();
    return sameBytes(buffer, original) ? undefined : 'wrong result: round trip did not restore the lost data';
  };
  return { run, isAsync: true, verify };
}

/** @digitaldefiance/reed-solomon-erasure.wasm (Rust reed-solomon-erasure in wasm; copies shards in and out per call). */
async function erasureOperation(caseName: string, shardBytes: number): Promise<CaseOperation | string> {
  const m = PARITY_BY_CASE[caseName]!;
  if (m === 0 || caseName.startsWith('encode_checksum')) return NOT_OFFERED;
  const { ReedSolomonErasure } = (await import('@digitaldefiance/reed-solomon-erasure.wasm')) as unknown as {
    ReedSolomonErasure: { fromBytes(bytes: Uint8Array): ErasureApi };
  };
  // Its ESM build's own loaders use __dirname, which ESM lacks: hand it the bytes instead.
  const entry = createRequire(import.meta.url).resolve('@digitaldefiance/reed-solomon-erasure.wasm');
  const rs = ReedSolomonErasure.fromBytes(readFileSync(join(dirname(entry), 'reed_solomon_erasure_bg.wasm')));
  const shards = new Uint8Array(shardBytes * (DATA_COUNT + m));
  fillPseudoRandom(shards.subarray(0, shardBytes * DATA_COUNT));
  const check = (result: number): void => {
    if (result !== 0) throw new Error(`digitaldefiance returned ${result}`);
  };
  const lost = lostMask(caseName, m);
  const available = Array.from({ length: DATA_COUNT + m }, (_, i) => (lost & (1 << i)) === 0);
  const encodeParity = (): void => check(rs.encode(shards, DATA_COUNT, m));
  const rebuildLost = (): void => check(rs.reconstruct(shards, DATA_COUNT, m, available));
  const verify = async (): Promise<string | undefined> => {
    encodeParity();
    const original = shards.slice();
    available.forEach((present, i) => present || shards.fill(0, i * shardBytes, (i + 1) * shardBytes));
    rebuildLost();
    return sameBytes(shards, original) ? undefined : 'wrong result: round trip did not restore the lost data';
  };
  return { run: caseName.startsWith('reconstruct') ? rebuildLost : encodeParity, isAsync: false, verify };
}
