// Kernel throughput, single thread: our SIMD kernels, their scalar twins and two peer
// Reed-Solomon libraries side by side, per geometry and shard size. dataGBps counts the data
// bytes going in (k x shardBytes per operation) per second, 1 GB = 1e9 bytes.
// Run: npm run bench:kernels  (writes bench/results/kernels.json)
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { printTable, writeResults, type BenchResult } from '../common.js';
import {
  compileKernelVariant, instantiateKernels, kernelVariant, loadKernelModule, type KernelMemory, type Kernels,
} from '../../src/kernels/kernel_module.js';
import { reconstructionPlan } from '../../src/kernels/gf256.js';
import { xorGenScalar } from '../../src/kernels/scalar/xor_scalar.js';
import { pqGenScalar, pqrGenScalar } from '../../src/kernels/scalar/pq_scalar.js';
import { gfDotProdScalar } from '../../src/kernels/scalar/gf_dot_prod_scalar.js';
import { fletcher4Scalar } from '../../src/kernels/scalar/fletcher4_scalar.js';
import { encodeChecksumScalar } from '../../src/kernels/scalar/encode_checksum_scalar.js';
import { writeU32 } from '../../src/kernels/scalar/memory_words.js';

export interface KernelBenchOptions {
  shardSizesBytes?: number[];
  cases?: string[];
  impls?: string[];
  /** Measuring time per row (after warm-up); scalar rows stop earlier at their iteration cap. */
  measureMs?: number;
  print?: boolean;
}

const DATA_COUNT = 8;
const SHARD_SIZES_BYTES = [4096, 65536, 1 << 20];
const CASES = ['xor_8+1', 'raid6_8+2', 'triple_8+3', 'reconstruct1_8+2', 'reconstruct2_8+2', 'checksum', 'encode_checksum_8+2'];
const IMPLS = ['simd', 'simd-plain', 'scalar', 'ronomon', 'digitaldefiance'];
const PARITY_BY_CASE: Record<string, number> = {
  'xor_8+1': 1, 'raid6_8+2': 2, 'triple_8+3': 3, 'reconstruct1_8+2': 2, 'reconstruct2_8+2': 2, checksum: 0, 'encode_checksum_8+2': 2,
};
/** Lost data blocks (bit flags) in the reconstruct cases, for ronomon. */
const RECONSTRUCT_TARGETS: Record<string, number> = { 'reconstruct1_8+2': 0b1, 'reconstruct2_8+2': 0b11 };
/** Arena layout: tables, offset lists and coefficient rows in the first 64 KiB, buffers after. */
const TABLES_OFFSET = 0;
const SOURCES_LIST_OFFSET = 16384;
const TARGETS_LIST_OFFSET = 17408;
const COEFFICIENTS_OFFSET = 18432; // two rows of 256
const CHECKSUMS_OFFSET = 19456;
const BUFFERS_OFFSET = 65536;
/** Buffers start this many bytes apart within a 4 KiB page, so they do not alias in the caches. */
const STAGGER_BYTES = 576;
const MEMORY_PAGES = 1024;

// lib ES2022 + @types/node 20 declare no WebAssembly; this file uses only the constructor.
declare const WebAssembly: {
  Memory: new (descriptor: { initial: number; maximum: number; shared: true }) => KernelMemory & { buffer: SharedArrayBuffer };
};

type Operation = () => void | Promise<void>;

interface Arena {
  memory: KernelMemory;
  bytes: Uint8Array;
  kernels: Kernels;
  plain: Kernels;
  /** Offsets of k data blocks, then 3 parity blocks, then 2 rebuild targets. */
  blocks: number[];
}

async function createArena(shardBytes: number): Promise<Arena> {
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
  let state = 0x12345678;
  for (let at = blocks[0]!; at < blocks[DATA_COUNT - 1]! + shardBytes; at++) {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    bytes[at] = state >>> 24;
  }
  return { memory, bytes, kernels, plain, blocks };
}

function writeList(bytes: Uint8Array, listOffset: number, offsets: number[]): void {
  offsets.forEach((offset, i) => writeU32(bytes, listOffset + 4 * i, offset));
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
      return reconstructOperation(arena, kernels, simd, n, [0, 1]);
    case 'checksum':
      return () => {
        for (let i = 0; i < DATA_COUNT; i++) {
          const out = CHECKSUMS_OFFSET + 32 * i;
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

/** Data blocks lost from an 8+2 group: one dot product over the 8 survivors per lost block. */
function reconstructOperation(arena: Arena, kernels: Kernels, simd: boolean, shardBytes: number, missing: number[]): Operation {
  const { bytes, blocks } = arena;
  const plan = reconstructionPlan(DATA_COUNT, 2, missing);
  const rebuilt = blocks.slice(DATA_COUNT + 3, DATA_COUNT + 5);
  const listOffset = SOURCES_LIST_OFFSET + 512;
  writeList(bytes, listOffset, plan.sources.map((block) => blocks[block]!));
  plan.coefficients.forEach((row, t) => bytes.set(row, COEFFICIENTS_OFFSET + 256 * t));
  kernels.pqGen(SOURCES_LIST_OFFSET, DATA_COUNT, blocks[DATA_COUNT]!, blocks[DATA_COUNT + 1]!, shardBytes);
  return () => {
    for (let t = 0; t < missing.length; t++) {
      const args = [listOffset, COEFFICIENTS_OFFSET + 256 * t, plan.sources.length, rebuilt[t]!, shardBytes, TABLES_OFFSET] as const;
      if (simd) kernels.gfDotProd(...args);
      else gfDotProdScalar(bytes, ...args);
    }
  };
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

/** @ronomon/reed-solomon (native, Cauchy matrix, runs in libuv's thread pool: one awaited call at a time). */
function ronomonOperation(caseName: string, shardBytes: number): Operation | string {
  const m = PARITY_BY_CASE[caseName]!;
  if (m === 0 || caseName.startsWith('encode_checksum')) return 'not offered by this library (no checksum)';
  const ronomon = createRequire(import.meta.url)('@ronomon/reed-solomon') as RonomonApi;
  const context = ronomon.create(DATA_COUNT, m);
  const buffer = Buffer.alloc(shardBytes * DATA_COUNT, 0x5a);
  const parity = Buffer.alloc(shardBytes * m);
  const all = (1 << (DATA_COUNT + m)) - 1;
  const targets = caseName.startsWith('reconstruct') ? RECONSTRUCT_TARGETS[caseName]! : all & ~((1 << DATA_COUNT) - 1);
  const sources = all & ~targets;
  return () =>
    new Promise<void>((done, fail) =>
      ronomon.encode(context, sources, targets, buffer, 0, buffer.length, parity, 0, parity.length, (error) =>
        error ? fail(error) : done(),
      ),
    );
}

/** @digitaldefiance/reed-solomon-erasure.wasm (Rust reed-solomon-erasure in wasm; copies shards in and out per call). */
async function erasureOperation(caseName: string, shardBytes: number): Promise<Operation | string> {
  const m = PARITY_BY_CASE[caseName]!;
  if (m === 0 || caseName.startsWith('encode_checksum')) return 'not offered by this library (no checksum)';
  const { ReedSolomonErasure } = (await import('@digitaldefiance/reed-solomon-erasure.wasm')) as unknown as {
    ReedSolomonErasure: { fromBytes(bytes: Uint8Array): ErasureApi };
  };
  // Its ESM build's own loaders use __dirname, which ESM lacks: hand it the bytes instead.
  const entry = createRequire(import.meta.url).resolve('@digitaldefiance/reed-solomon-erasure.wasm');
  const rs = ReedSolomonErasure.fromBytes(readFileSync(join(dirname(entry), 'reed_solomon_erasure_bg.wasm')));
  const shards = new Uint8Array(shardBytes * (DATA_COUNT + m)).fill(0x5a);
  const check = (result: number): void => {
    if (result !== 0) throw new Error(`digitaldefiance returned ${result}`);
  };
  check(rs.encode(shards, DATA_COUNT, m));
  if (!caseName.startsWith('reconstruct')) return () => check(rs.encode(shards, DATA_COUNT, m));
  const lost = caseName === 'reconstruct1_8+2' ? 1 : 2;
  const available = Array.from({ length: DATA_COUNT + m }, (_, i) => i >= lost);
  return () => check(rs.reconstruct(shards, DATA_COUNT, m, available));
}

interface Timing {
  /** Per-op seconds of the median batch: robust against other load on a shared machine. */
  secondsPerOpMedian: number;
  /** Per-op seconds of the fastest batch: closest to the unloaded machine. */
  secondsPerOpBest: number;
  p50Us: number;
  p99Us: number;
  iterations: number;
}

async function runCalls(operation: Operation, isAsync: boolean, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    const result = operation();
    if (isAsync) await result;
  }
}

/**
 * Warm-up, then batches of about 2 ms until measureMs passes (at least 5 batches, at most
 * iterationsMax calls); each batch's per-op time is one sample for p50/p99/best.
 */
async function measure(operation: Operation, measureMs: number, iterationsMax: number): Promise<Timing> {
  const probeStart = performance.now();
  const isAsync = operation() instanceof Promise;
  if (isAsync) await operation();
  const probeMs = Math.max((performance.now() - probeStart) / 2, 1e-4);
  const batch = Math.max(1, Math.min(iterationsMax, Math.floor(2 / probeMs)));
  await runCalls(operation, isAsync, Math.min(batch * 10, iterationsMax)); // warm-up proper
  const perOpMs: number[] = [];
  let iterations = 0;
  const start = performance.now();
  while ((performance.now() - start < measureMs || perOpMs.length < 5) && iterations < iterationsMax) {
    const batchStart = performance.now();
    await runCalls(operation, isAsync, batch);
    perOpMs.push((performance.now() - batchStart) / batch);
    iterations += batch;
  }
  perOpMs.sort((a, b) => a - b);
  const quantile = (q: number): number => perOpMs[Math.min(perOpMs.length - 1, Math.floor(q * perOpMs.length))]!;
  return {
    secondsPerOpMedian: quantile(0.5) / 1000,
    secondsPerOpBest: perOpMs[0]! / 1000,
    p50Us: quantile(0.5) * 1000,
    p99Us: quantile(0.99) * 1000,
    iterations,
  };
}

async function operationFor(arena: Arena, caseName: string, impl: string, shardBytes: number): Promise<Operation | string> {
  if (impl === 'ronomon') return ronomonOperation(caseName, shardBytes);
  if (impl === 'digitaldefiance') return erasureOperation(caseName, shardBytes);
  return ownOperation(arena, caseName, impl, shardBytes) ?? 'unknown case';
}

async function benchRow(arena: Arena, caseName: string, impl: string, shardBytes: number, measureMs: number): Promise<BenchResult> {
  const m = PARITY_BY_CASE[caseName]!;
  const row: BenchResult = { case: caseName, impl, k: DATA_COUNT, m, shardBytes };
  try {
    const operation = await operationFor(arena, caseName, impl, shardBytes);
    if (typeof operation === 'string') return { ...row, error: operation };
    const slow = impl === 'scalar' || impl === 'digitaldefiance';
    const timing = await measure(operation, slow ? measureMs / 2 : measureMs, slow ? Math.max(8, (1 << 25) / shardBytes) : 1e9);
    const dataBytes = DATA_COUNT * shardBytes;
    return {
      ...row,
      dataGBps: dataBytes / timing.secondsPerOpMedian / 1e9,
      bestGBps: dataBytes / timing.secondsPerOpBest / 1e9,
      p50Us: timing.p50Us,
      p99Us: timing.p99Us,
      iterations: timing.iterations,
    };
  } catch (error) {
    return { ...row, error: error instanceof Error ? error.message : String(error) };
  }
}

/** Runs every (case, shard size, impl) row; `simd` is the variant the loader picked. */
export async function runKernelBench(options: KernelBenchOptions = {}): Promise<BenchResult[]> {
  const shardSizes = options.shardSizesBytes ?? SHARD_SIZES_BYTES;
  const cases = options.cases ?? CASES;
  const impls = options.impls ?? IMPLS;
  const measureMs = options.measureMs ?? 400;
  const rows: BenchResult[] = [];
  for (const shardBytes of shardSizes) {
    const arena = await createArena(shardBytes);
    for (const caseName of cases) {
      for (const impl of impls) {
        if (impl === 'simd-plain' && caseName !== 'reconstruct2_8+2') continue; // only general dot products use swizzle
        const row = await benchRow(arena, caseName, impl, shardBytes, measureMs);
        if (impl === 'simd') row['variant'] = kernelVariant();
        rows.push(row);
        if (options.print) console.log(JSON.stringify(row));
      }
    }
  }
  return rows;
}

/**
 * Ratios the targets are stated in, from the best batches (the median moves with whatever
 * else the machine runs): fused vs encode alone, ours vs the peers, at each shard size.
 */
export function kernelBenchSummary(rows: BenchResult[]): Record<string, number> {
  const rate = (caseName: string, impl: string, shardBytes: number): number | undefined =>
    rows.find((row) => row.case === caseName && row.impl === impl && row['shardBytes'] === shardBytes)?.['bestGBps'] as
      | number
      | undefined;
  const summary: Record<string, number> = {};
  for (const shardBytes of new Set(rows.map((row) => row['shardBytes'] as number))) {
    const raid6 = rate('raid6_8+2', 'simd', shardBytes);
    const fused = rate('encode_checksum_8+2', 'simd', shardBytes);
    const ronomon = rate('raid6_8+2', 'ronomon', shardBytes);
    const peer = rate('raid6_8+2', 'digitaldefiance', shardBytes);
    const rebuild = rate('reconstruct2_8+2', 'simd', shardBytes);
    const rebuildRonomon = rate('reconstruct2_8+2', 'ronomon', shardBytes);
    if (raid6 && fused) summary[`fused_over_encode_${shardBytes}`] = fused / raid6;
    if (raid6 && ronomon) summary[`raid6_over_ronomon_${shardBytes}`] = raid6 / ronomon;
    if (raid6 && peer) summary[`raid6_over_digitaldefiance_${shardBytes}`] = raid6 / peer;
    if (rebuild && rebuildRonomon) summary[`reconstruct2_over_ronomon_${shardBytes}`] = rebuild / rebuildRonomon;
  }
  return summary;
}

async function main(): Promise<void> {
  const rows = await runKernelBench();
  printTable('kernels (single thread; GB/s = data bytes in per second / 1e9, median and best batch)', rows, [
    'case', 'impl', 'k', 'm', 'shardBytes', 'dataGBps', 'bestGBps', 'p50Us', 'p99Us', 'error',
  ]);
  const summary = kernelBenchSummary(rows);
  console.log('\nratios (best batches)', summary);
  console.log(`results: ${writeResults('kernels', rows, { variant: kernelVariant(), summary })}`);
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await main();
}
