// Kernel throughput, single thread: our SIMD kernels, their scalar twins and two peer
// Reed-Solomon libraries side by side, per geometry and shard size, measured with tinybench:
// one Bench per (case, shard size) with every impl as a task, so alternatives share the same
// machine state. Each sample times one call; dataGBps counts the data bytes going in
// (k x shardBytes per call) per second at the median latency, 1 GB = 1e9 bytes.
// Run: npm run bench:kernels  (writes bench/results/kernels.json)
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Bench, type Task } from 'tinybench';
import { printTable, writeResults, type BenchResult } from '../common.js';
import { printPoolReport, runPoolBench } from './pool_bench.js';
import { kernelVariant } from '../../src/kernels/kernel_module.js';
import { caseOperation, createArena, DATA_COUNT, PARITY_BY_CASE, type Arena, type CaseOperation } from './kernel_cases.js';
import { ISAL_IMPLS, isalRows } from './isal_peer.js';

export interface KernelBenchOptions {
  shardSizesBytes?: number[];
  cases?: string[];
  impls?: string[];
  /** tinybench time budget per task (after warm-up); slow tasks stop at ITERATIONS_MIN instead. */
  measureMs?: number;
  print?: boolean;
}

const SHARD_SIZES_BYTES = [4096, 65536, 1 << 20];
const CASES = ['xor_8+1', 'raid6_8+2', 'triple_8+3', 'reconstruct1_8+2', 'reconstruct2_8+2', 'checksum', 'encode_checksum_8+2'];
const IMPLS = ['simd', 'simd-plain', 'simd-dotprod', 'scalar', 'ronomon', 'digitaldefiance', ...ISAL_IMPLS];
const MEASURE_MS = 300;
/**
 * Sequential tinybench runs a task until both the time budget and this count are met: scalar
 * at 1 MiB (up to ~160 ms a call) stops here, so the whole run stays within about a minute.
 */
const ITERATIONS_MIN = 8;
/** Enough for V8 to tier the wasm and JS wrappers up; the slow tasks stop at the count. */
const WARMUP_MS = 100;
const WARMUP_ITERATIONS_MIN = 2;

interface GroupTask {
  impl: string;
  row: BenchResult;
  operation?: CaseOperation;
}

/** Rows of one (case, shard size) group, with the operation of each impl that can run it. */
async function groupTasks(arena: Arena, caseName: string, impls: string[], shardBytes: number): Promise<GroupTask[]> {
  const tasks: GroupTask[] = [];
  for (const impl of impls) {
    if (ISAL_IMPLS.includes(impl)) continue; // a separate process, run right after the group (isal_peer.ts)
    if (impl === 'simd-plain' && caseName !== 'reconstruct2_8+2') continue; // only general dot products use swizzle
    if (impl === 'simd-dotprod' && caseName !== 'reconstruct2_8+2') continue; // the general path beside RAID-6 recovery
    const row: BenchResult = { case: caseName, impl, k: DATA_COUNT, m: PARITY_BY_CASE[caseName]!, shardBytes };
    if (impl === 'simd') row['variant'] = kernelVariant();
    try {
      const operation = await caseOperation(arena, caseName, impl, shardBytes);
      if (typeof operation === 'string') row.error = operation;
      tasks.push(typeof operation === 'string' ? { impl, row } : { impl, row, operation });
    } catch (error) {
      row.error = errorMessage(error);
      tasks.push({ impl, row });
    }
  }
  return tasks;
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Checks each operation's result, turning a wrong or failing one into its row's error. */
async function verifyTasks(tasks: GroupTask[]): Promise<void> {
  for (const task of tasks) {
    if (task.operation === undefined || task.row.error !== undefined) continue;
    try {
      const problem = await task.operation.verify();
      if (problem !== undefined) task.row.error = problem;
    } catch (error) {
      task.row.error = errorMessage(error);
    }
  }
}

function newBench(name: string, measureMs: number): Bench {
  return new Bench({
    name,
    time: measureMs,
    iterations: ITERATIONS_MIN,
    warmup: true,
    warmupTime: WARMUP_MS,
    warmupIterations: WARMUP_ITERATIONS_MIN,
    timestampProvider: 'hrtimeNow',
    // A 4 KiB call takes about a microsecond: the timer's own cost would be a visible share.
    subtractTimerOverhead: true,
  });
}

/** The row's rates and latencies from a finished task, or its error. */
function fillRow(row: BenchResult, task: Task, shardBytes: number): void {
  const result = task.result;
  if (result.state === 'errored') {
    row.error = result.error.message;
    return;
  }
  if (result.state !== 'completed' && result.state !== 'aborted-with-statistics') {
    row.error = `tinybench task ${result.state}`;
    return;
  }
  const dataBytes = DATA_COUNT * shardBytes;
  const latency = result.latency; // milliseconds
  row.dataGBps = dataBytes / (latency.p50 / 1000) / 1e9;
  row['bestGBps'] = dataBytes / (latency.min / 1000) / 1e9;
  row.p50Us = latency.p50 * 1000;
  row.p99Us = latency.p99 * 1000;
  row['rmePercent'] = latency.rme;
  row['iterations'] = latency.samplesCount;
}

/**
 * One group: check every operation, time the correct ones side by side in one Bench, then
 * check them again, so an impl that broke the shared arena while running is not reported.
 */
async function measureGroup(arena: Arena, caseName: string, impls: string[], shardBytes: number, measureMs: number): Promise<BenchResult[]> {
  const tasks = await groupTasks(arena, caseName, impls, shardBytes);
  await verifyTasks(tasks);
  const bench = newBench(`${caseName} ${shardBytes}`, measureMs);
  const timerWarnings = new Map<string, string>();
  bench.addEventListener('warning', (event) => timerWarnings.set(event.task.name, event.reason ?? 'timer'));
  const timed = tasks.filter((task) => task.operation !== undefined && task.row.error === undefined);
  for (const task of timed) bench.add(task.impl, task.operation!.run, { async: task.operation!.isAsync });
  await bench.run();
  for (const task of timed) {
    fillRow(task.row, bench.getTask(task.impl)!, shardBytes);
    const warning = timerWarnings.get(task.impl);
    if (warning !== undefined) task.row['timerWarning'] = warning;
  }
  await verifyTasks(timed);
  const peers = impls.some((impl) => ISAL_IMPLS.includes(impl)) ? isalRows(caseName, shardBytes, measureMs, PARITY_BY_CASE[caseName]!) : [];
  return [...tasks.map((task) => withoutRates(task.row)), ...peers.map(withoutRates)];
}

/** A row that failed a check keeps its error and loses any rate, so it cannot read as fast. */
function withoutRates(row: BenchResult): BenchResult {
  if (row.error === undefined) return row;
  const { dataGBps: _rate, bestGBps: _best, p50Us: _p50, p99Us: _p99, ...rest } = row;
  return rest as BenchResult;
}

/** Runs every (case, shard size, impl) row; `simd` is the variant the loader picked. */
export async function runKernelBench(options: KernelBenchOptions = {}): Promise<BenchResult[]> {
  const shardSizes = options.shardSizesBytes ?? SHARD_SIZES_BYTES;
  const cases = options.cases ?? CASES;
  const impls = options.impls ?? IMPLS;
  const measureMs = options.measureMs ?? MEASURE_MS;
  const rows: BenchResult[] = [];
  for (const shardBytes of shardSizes) {
    const arena = await createArena(shardBytes);
    for (const caseName of cases) {
      const group = await measureGroup(arena, caseName, impls, shardBytes, measureMs);
      rows.push(...group);
      if (options.print) group.forEach((row) => console.log(JSON.stringify(row)));
    }
  }
  return rows;
}

/**
 * Ratios the targets are stated in, from the fastest calls (the median moves with whatever
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
    const triple = rate('triple_8+3', 'simd', shardBytes);
    if (raid6 && triple) summary[`triple_over_raid6_${shardBytes}`] = triple / raid6;
    for (const peerImpl of ISAL_IMPLS) {
      for (const caseName of ['xor_8+1', 'raid6_8+2', 'triple_8+3', 'reconstruct1_8+2', 'reconstruct2_8+2']) {
        const ours = rate(caseName, 'simd', shardBytes);
        const theirs = rate(caseName, peerImpl, shardBytes);
        if (ours && theirs) summary[`${caseName}_over_${peerImpl}_${shardBytes}`] = ours / theirs;
      }
    }
    if (raid6 && fused) summary[`fused_over_encode_${shardBytes}`] = fused / raid6;
    if (raid6 && ronomon) summary[`raid6_over_ronomon_${shardBytes}`] = raid6 / ronomon;
    if (raid6 && peer) summary[`raid6_over_digitaldefiance_${shardBytes}`] = raid6 / peer;
    if (rebuild && rebuildRonomon) summary[`reconstruct2_over_ronomon_${shardBytes}`] = rebuild / rebuildRonomon;
  }
  return summary;
}

/** A comma list from the environment (ELASTRIPE_BENCH_KERNEL_CASES, ..._SHARDS) for a quicker partial run. */
function listFromEnvironment(name: string): string[] | undefined {
  const value = process.env[name];
  return value === undefined || value === '' ? undefined : value.split(',').map((item) => item.trim());
}

async function main(): Promise<void> {
  const rows = await runKernelBench({
    cases: listFromEnvironment('ELASTRIPE_BENCH_KERNEL_CASES'),
    shardSizesBytes: listFromEnvironment('ELASTRIPE_BENCH_KERNEL_SHARDS')?.map(Number),
  });
  printTable('kernels (single thread; GB/s = data bytes in per second / 1e9, median and fastest call)', rows, [
    'case', 'impl', 'k', 'm', 'shardBytes', 'dataGBps', 'bestGBps', 'p50Us', 'p99Us', 'error',
  ]);
  const summary = kernelBenchSummary(rows);
  console.log('\nratios (fastest calls)', summary);
  // The pool cases (1 vs 2 workers, per-task overhead) belong to the same benchmark and file.
  // A partial run (ELASTRIPE_BENCH_KERNEL_CASES) leaves the pool cases out.
  const poolRows = listFromEnvironment('ELASTRIPE_BENCH_KERNEL_CASES') === undefined ? await runPoolBench() : [];
  if (poolRows.length > 0) printPoolReport(poolRows);
  console.log(`results: ${writeResults('kernels', [...rows, ...poolRows], { variant: kernelVariant(), summary })}`);
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await main();
}
