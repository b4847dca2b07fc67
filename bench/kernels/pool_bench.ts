// Pool scaling: encode with checksums of 64 MiB batches of 8+2 groups on the calling thread
// (inline), on 1 worker and on 2 workers, and the pool's per-task round trip against the kernel
// time of one task. Targets: pool2 >= 1.8x pool1; round trip < 5% of a task's kernel time.
// Run: npm run build && node dist/bench/kernels/pool_bench.js
import { loadavg } from 'node:os';
import { pathToFileURL } from 'node:url';
import { printTable, writeResults, type BenchResult } from '../common.js';
import { Arena, type ArenaBuffer } from '../../src/kernels/arena.js';
import { Codec, TASK_BYTES_TARGET_DEFAULT, type CodecGroup } from '../../src/kernels/codec.js';
import { POOL_TASKS_PER_WORKER_DEFAULT } from '../../src/kernels/pool.js';

const MiB = 1024 * 1024;
const DATA_COUNT = 8;
const PARITY_COUNT = 2;
const BLOCK_BYTES = 128 * 1024;
const BATCH_DATA_BYTES = 64 * MiB;
const GROUP_COUNT = BATCH_DATA_BYTES / (DATA_COUNT * BLOCK_BYTES);
const WARMUP_ROUNDS = 2;
const MEASURED_ROUNDS = 15;
const NOOP_WARMUP = 200;
const NOOP_ROUNDS = 2000;
const OVERHEAD_ROUNDS = 40;
const STREAM_DEPTH = 2;
const STREAM_BATCHES = 16;
const SEED = 0x5eed;
const CASE = `pool_encode_${DATA_COUNT}+${PARITY_COUNT}`;
const TASK_SIZE_SWEEP_BYTES = [1 * MiB, 4 * MiB, 16 * MiB, 32 * MiB];

interface Batch {
  groups: CodecGroup[];
  buffers: ArenaBuffer[];
}

function makeBatch(arena: Arena): Batch {
  const buffers: ArenaBuffer[] = [];
  let state = SEED;
  const groups = Array.from({ length: GROUP_COUNT }, () => {
    const block = (fill: boolean): Uint8Array => {
      const buffer = arena.alloc(BLOCK_BYTES);
      buffers.push(buffer);
      if (fill) {
        const words = new Uint32Array(buffer.bytes.buffer, buffer.offsetBytes, BLOCK_BYTES / 4);
        for (let i = 0; i < words.length; i++) {
          state ^= state << 13;
          state ^= state >>> 17;
          state ^= state << 5;
          words[i] = state >>> 0;
        }
      }
      return buffer.bytes;
    };
    return { data: Array.from({ length: DATA_COUNT }, () => block(true)), parity: Array.from({ length: PARITY_COUNT }, () => block(false)) };
  });
  return { groups, buffers };
}

function percentile(sorted: number[], fraction: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(fraction * sorted.length))]!;
}

interface EncodeVariant {
  impl: string;
  workerCount: number;
  taskBytes: number;
  tasksPerWorker?: number;
  codec?: Codec;
  timesMs: number[];
  /** Worker compute time over the measured rounds, in microseconds. */
  busyUs: number;
}

/**
 * Rounds are interleaved over the variants (inline, pool1, pool2, ...) so that load from other
 * processes on this shared 2-core machine hits every variant alike; medians are reported.
 */
async function timeVariants(arena: Arena, batch: Batch, variants: EncodeVariant[]): Promise<void> {
  for (const variant of variants) {
    variant.codec = await Codec.create({ arena, workerCount: variant.workerCount, inlineThresholdBytes: 0, taskBytesTarget: variant.taskBytes,
      tasksPerWorker: variant.tasksPerWorker,
    });
    await variant.codec.whenWorkersReady();
  }
  try {
    for (let round = 0; round < WARMUP_ROUNDS + MEASURED_ROUNDS; round++) {
      for (const variant of variants) {
        const busyBeforeUs = variant.codec!.stats().pool?.workerBusyUs ?? 0;
        const start = performance.now();
        await variant.codec!.encodeBatch(batch.groups);
        if (round < WARMUP_ROUNDS) continue;
        variant.timesMs.push(performance.now() - start);
        variant.busyUs += (variant.codec!.stats().pool?.workerBusyUs ?? 0) - busyBeforeUs;
      }
    }
  } finally {
    for (const variant of variants) await variant.codec?.close();
  }
}

function encodeRow(caseName: string, variant: EncodeVariant): BenchResult {
  const timesMs = [...variant.timesMs].sort((a, b) => a - b);
  const p50Ms = percentile(timesMs, 0.5);
  return {
    case: caseName,
    impl: variant.impl,
    workers: variant.workerCount,
    dataGBps: BATCH_DATA_BYTES / (p50Ms / 1000) / 1e9,
    p50Us: p50Ms * 1000,
    p99Us: percentile(timesMs, 0.99) * 1000,
    taskBytes: variant.workerCount === 0 ? BATCH_DATA_BYTES : variant.taskBytes,
    tasksPerWorker: variant.workerCount === 0 ? undefined : (variant.tasksPerWorker ?? POOL_TASKS_PER_WORKER_DEFAULT),
    kernelVariant: variant.codec!.kernelVariant,
    ...workerColumns(variant),
  };
}

/**
 * Compute time measured inside the workers: their own kernel rate, and the share of the
 * workers' wall time spent not computing (messaging, waiting for a task, being descheduled).
 */
function workerColumns(variant: EncodeVariant): Record<string, number> {
  if (variant.workerCount === 0 || variant.busyUs === 0) return {};
  const rounds = variant.timesMs.length;
  const wallUs = variant.timesMs.reduce((total, time) => total + time, 0) * 1000;
  return {
    workerKernelGBps: (BATCH_DATA_BYTES * rounds) / (variant.busyUs / 1e6) / 1e9,
    workerIdlePct: 100 * (1 - variant.busyUs / (wallUs * variant.workerCount)),
  };
}

/**
 * Steady state, as the write path runs: batches issued back to back with STREAM_DEPTH in
 * flight, so one batch's edges (first task out, last result back) overlap the next's work.
 */
async function streamRow(arena: Arena, batch: Batch, impl: string, workerCount: number): Promise<BenchResult> {
  const codec = await Codec.create({ arena, workerCount, inlineThresholdBytes: 0 });
  await codec.whenWorkersReady();
  try {
    const runStream = async (batchCount: number): Promise<number> => {
      const start = performance.now();
      let issued = 0;
      const lane = async (): Promise<void> => {
        while (issued < batchCount) {
          issued++;
          await codec.encodeBatch(batch.groups);
        }
      };
      await Promise.all(Array.from({ length: STREAM_DEPTH }, lane));
      return performance.now() - start;
    };
    await runStream(WARMUP_ROUNDS);
    const elapsedMs = await runStream(STREAM_BATCHES);
    return {
      case: `${CASE}_stream`,
      impl,
      workers: workerCount,
      taskBytes: TASK_BYTES_TARGET_DEFAULT,
      inFlight: STREAM_DEPTH,
      dataGBps: (BATCH_DATA_BYTES * STREAM_BATCHES) / (elapsedMs / 1000) / 1e9,
    };
  } finally {
    await codec.close();
  }
}

/**
 * What one task of the default size pays for the pool: it runs alone (as a single group write
 * would), and the time the worker did not compute (message to the worker, wake-up, result back,
 * coordinator prep) is set against the worker's compute time.
 */
async function taskOverheadRow(arena: Arena, batch: Batch): Promise<BenchResult> {
  const groups = batch.groups.slice(0, TASK_BYTES_TARGET_DEFAULT / (DATA_COUNT * BLOCK_BYTES));
  const pool = await Codec.create({ arena, workerCount: 1, inlineThresholdBytes: 0 });
  await pool.whenWorkersReady();
  const inline = await Codec.create({ arena, workerCount: 0 });
  try {
    const overheadsUs: number[] = [];
    const busyUs: number[] = [];
    const inlineUs: number[] = [];
    for (let round = 0; round < WARMUP_ROUNDS + OVERHEAD_ROUNDS; round++) {
      const busyBeforeUs = pool.stats().pool!.workerBusyUs;
      const start = performance.now();
      await pool.encodeBatch(groups);
      const wallUs = (performance.now() - start) * 1000;
      const inlineStart = performance.now();
      await inline.encodeBatch(groups);
      if (round < WARMUP_ROUNDS) continue;
      inlineUs.push((performance.now() - inlineStart) * 1000);
      const taskBusyUs = pool.stats().pool!.workerBusyUs - busyBeforeUs;
      busyUs.push(taskBusyUs);
      overheadsUs.push(wallUs - taskBusyUs);
    }
    const median = (values: number[]): number => percentile([...values].sort((a, b) => a - b), 0.5);
    return {
      case: 'pool_task_overhead',
      impl: 'pool1',
      taskBytes: TASK_BYTES_TARGET_DEFAULT,
      overheadUs: median(overheadsUs),
      p99Us: percentile([...overheadsUs].sort((a, b) => a - b), 0.99),
      kernelUsPerTask: median(busyUs),
      inlineUsPerTask: median(inlineUs),
      overheadPctOfKernel: (100 * median(overheadsUs)) / median(busyUs),
    };
  } finally {
    await pool.close();
    await inline.close();
  }
}

/** Round trip of an empty task, back to back (both threads stay awake): the floor. */
async function noopRow(arena: Arena): Promise<BenchResult> {
  const codec = await Codec.create({ arena, workerCount: 1 });
  await codec.whenWorkersReady();
  try {
    for (let i = 0; i < NOOP_WARMUP; i++) await codec.noop();
    const timesUs: number[] = [];
    for (let i = 0; i < NOOP_ROUNDS; i++) {
      const start = performance.now();
      await codec.noop();
      timesUs.push((performance.now() - start) * 1000);
    }
    timesUs.sort((a, b) => a - b);
    const meanUs = timesUs.reduce((total, time) => total + time, 0) / timesUs.length;
    return { case: 'pool_noop_roundtrip', impl: 'pool1', overheadUs: meanUs, p50Us: percentile(timesUs, 0.5), p99Us: percentile(timesUs, 0.99), opsPerSec: 1e6 / meanUs };
  } finally {
    await codec.close();
  }
}

export async function runPoolBench(): Promise<BenchResult[]> {
  const arena = new Arena({ capacityBytes: 128 * MiB });
  const batch = makeBatch(arena);
  try {
    const variant = (impl: string, workerCount: number, taskBytes = TASK_BYTES_TARGET_DEFAULT): EncodeVariant => ({ impl, workerCount, taskBytes, timesMs: [], busyUs: 0 });
    const scaling = [variant('inline', 0), variant('pool1', 1), variant('pool2', 2)];
    await timeVariants(arena, batch, scaling);
    const [inline, pool1, pool2] = scaling.map((entry) => encodeRow(CASE, entry)) as [BenchResult, BenchResult, BenchResult];
    pool1.vsInline = pool1.dataGBps! / inline.dataGBps!;
    pool2.vsInline = pool2.dataGBps! / inline.dataGBps!;
    pool2.speedupVsPool1 = pool2.dataGBps! / pool1.dataGBps!;
    const streams: BenchResult[] = [];
    for (const [impl, workerCount] of [['inline', 0], ['pool1', 1], ['pool2', 2]] as const) streams.push(await streamRow(arena, batch, impl, workerCount));
    for (const row of streams.slice(1)) row.vsInline = row.dataGBps! / streams[0]!.dataGBps!;
    streams[2]!.speedupVsPool1 = streams[2]!.dataGBps! / streams[1]!.dataGBps!;
    // Why the task size: one worker against inline, per task size.
    const sizes = TASK_SIZE_SWEEP_BYTES.map((taskBytes) => variant(`pool1_task${taskBytes / MiB}MiB`, 1, taskBytes));
    // And why a worker holds more than one task: no idle round trip between its tasks.
    for (const taskBytes of [1 * MiB, 4 * MiB]) {
      sizes.push({ ...variant(`pool1_task${taskBytes / MiB}MiB_tpw1`, 1, taskBytes), tasksPerWorker: 1 });
    }
    const sweepInline = variant('inline', 0);
    await timeVariants(arena, batch, [sweepInline, ...sizes]);
    const sweepInlineGBps = encodeRow(CASE, sweepInline).dataGBps!;
    const sweep = sizes.map((entry) => encodeRow(`${CASE}_task_size`, entry));
    for (const row of sweep) row.vsInline = row.dataGBps! / sweepInlineGBps;
    return [inline, pool1, pool2, ...streams, ...sweep, await taskOverheadRow(arena, batch), await noopRow(arena)];
  } finally {
    for (const buffer of batch.buffers) arena.free(buffer);
    arena.assertInvariants();
  }
}

/** Prints the pool rows and how they compare with the issue's targets. */
export function printPoolReport(rows: BenchResult[]): void {
  printTable(`pool scaling: ${GROUP_COUNT} groups of ${DATA_COUNT}+${PARITY_COUNT} x ${BLOCK_BYTES / 1024} KiB per batch (encode + fletcher-4)`, rows, [
    'case', 'impl', 'workers', 'taskBytes', 'tasksPerWorker', 'inFlight', 'dataGBps', 'p50Us', 'p99Us', 'vsInline', 'speedupVsPool1', 'workerKernelGBps', 'workerIdlePct', 'overheadUs', 'kernelUsPerTask', 'inlineUsPerTask', 'overheadPctOfKernel',
  ]);
  const speedup = (name: string): string => (rows.find((row) => row.case === name && row.impl === 'pool2')?.speedupVsPool1 as number).toFixed(2);
  const idle = (rows.find((row) => row.case === CASE && row.impl === 'pool1')?.workerIdlePct as number).toFixed(1);
  const overheadPct = (rows.find((row) => row.case === 'pool_task_overhead')?.overheadPctOfKernel as number).toFixed(1);
  console.log(`targets: pool2/pool1 ${speedup(CASE)}x one batch at a time, ${speedup(`${CASE}_stream`)}x streamed (want >= 1.8)`);
  console.log(`         pool overhead: worker idle ${idle}% over batches of 4 tasks, ${overheadPct}% for a lone task (want < 5)`);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  // This machine's 2 cores are shared with other work: the load around the run goes with it.
  const loadBefore = loadavg()[0]!;
  const rows = await runPoolBench();
  const loadAfter = loadavg()[0]!;
  printPoolReport(rows);
  console.log(`load average (1 min) before ${loadBefore.toFixed(2)}, after ${loadAfter.toFixed(2)} on ${rows.length} rows`);
  console.log(`results: ${writeResults('pool_bench', rows, { loadAverage1m: { before: loadBefore, after: loadAfter } })}`);
}
