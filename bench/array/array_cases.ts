// One array per case: create it on the given devices, warm up, put and get the large files
// (or the small ones), verify every byte, close it and remove its home. Rows carry the
// measured rates; ratios against fio are added by the caller, which knows the fio rows.
import { rmSync } from 'node:fs';
import { DiskArray } from '../../src/array/disk_array.js';
import type { BackendChoice, ParityCount } from '../../src/array/types.js';
import type { BenchResult } from '../common.js';
import type { BenchDeviceSet } from './bench_devices.js';
import { firstMismatch, getAll, putAll, streamAll, timed, type NamedData, type Timed } from './workload.js';

export interface ArrayCaseSpec {
  set: BenchDeviceSet;
  paths: string[];
  parityCount: ParityCount;
  backend: BackendChoice;
  impl: string;
  workerCount?: number;
  filesInFlight: number;
  /** Also read the files through createReadStream, as a row of this impl. */
  streamImpl?: string;
}

/** A fresh array on the devices; `use` runs with it, and it is closed and removed after. */
async function withArray<T>(spec: ArrayCaseSpec, use: (array: DiskArray) => Promise<T>): Promise<T> {
  const home = spec.set.tempDirectory('elastripe-bench-home-');
  try {
    const array = await DiskArray.create({
      home, devices: spec.paths, parityCount: spec.parityCount, backend: spec.backend, workerCount: spec.workerCount, force: true,
    });
    try {
      return await use(array);
    } finally {
      await array.close();
    }
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}

/** One unmeasured round trip, so JIT, workers and rings are warm when the clock starts. */
async function warmUp(array: DiskArray, file: NamedData): Promise<void> {
  await array.put('warm-up', file.bytes);
  await array.get('warm-up');
  await array.delete('warm-up');
}

function rateRow(spec: ArrayCaseSpec, caseName: string, bytes: number, timing: Timed): BenchResult {
  const gigabytes = bytes / 1e9;
  return {
    case: caseName,
    impl: spec.impl,
    devices: spec.paths.length,
    parity: spec.parityCount,
    dataGBps: gigabytes / (timing.elapsedMs / 1000),
    cpuSecondsPerGB: timing.cpuMs / 1000 / gigabytes,
    elapsedMs: Math.round(timing.elapsedMs),
    processCores: Number((timing.cpuMs / timing.elapsedMs).toFixed(2)),
    hostBusyCores: timing.hostBusyCores,
  };
}

function geometryName(prefix: string, totalBytes: number, spec: ArrayCaseSpec): string {
  const size = totalBytes >= 2 ** 30 ? `${totalBytes / 2 ** 30}GiB` : `${totalBytes / 2 ** 20}MiB`;
  return `${prefix}_${size}_${spec.paths.length}dev_p${spec.parityCount}`;
}

/** put and get rows of the large files; `k` is what the array chose (stat of a file). */
export async function runLargeCase(spec: ArrayCaseSpec, files: NamedData[]): Promise<BenchResult[]> {
  const totalBytes = files.reduce((sum, file) => sum + file.bytes.byteLength, 0);
  return withArray(spec, async (array) => {
    await warmUp(array, files[0]!);
    const putTiming = await putAll(array, files, spec.filesInFlight);
    const k = array.stat(files[0]!.name).groups[0]!.dataCount;
    const backend = array.status().devices[0]?.backend ?? 'none';
    // What a write left in the loop devices' page cache (fs backend) must not serve the reads.
    spec.set.flushBuffers(spec.paths);
    const { timing: getTiming, results } = await getAll(array, files, spec.filesInFlight);
    const mismatch = firstMismatch(files, results);
    results.clear();
    if (mismatch) throw new Error(`get returned wrong bytes for ${mismatch}`);
    const shape = { k, backend, filesInFlight: spec.filesInFlight, verified: true };
    const rows = [
      { ...rateRow(spec, geometryName('put', totalBytes, spec), totalBytes, putTiming), ...shape },
      { ...rateRow(spec, geometryName('get', totalBytes, spec), totalBytes, getTiming), ...shape },
    ];
    if (spec.streamImpl) {
      const streamed = await streamAll(array, files, spec.filesInFlight);
      const streamMismatch = firstMismatch(files, streamed.results);
      streamed.results.clear();
      if (streamMismatch) throw new Error(`createReadStream returned wrong bytes for ${streamMismatch}`);
      rows.push({ ...rateRow({ ...spec, impl: spec.streamImpl }, geometryName('get', totalBytes, spec), totalBytes, streamed.timing), ...shape });
    }
    return rows;
  });
}

function percentileUs(latenciesMs: number[], fraction: number): number {
  const sorted = Float64Array.from(latenciesMs).sort();
  return Math.round(sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * fraction))]! * 1000);
}

/** Files one at a time, as a client storing many small objects does; latency per file too. */
async function eachTimed(files: NamedData[], work: (file: NamedData) => Promise<void>): Promise<{ timing: Timed; latenciesMs: number[] }> {
  const latenciesMs: number[] = [];
  const timing = await timed(async () => {
    for (const file of files) {
      const started = performance.now();
      await work(file);
      latenciesMs.push(performance.now() - started);
    }
  });
  return { timing, latenciesMs };
}

function smallRow(spec: ArrayCaseSpec, caseName: string, files: NamedData[], measured: { timing: Timed; latenciesMs: number[] }): BenchResult {
  const bytes = files.reduce((sum, file) => sum + file.bytes.byteLength, 0);
  return {
    ...rateRow(spec, caseName, bytes, measured.timing),
    opsPerSec: Math.round(files.length / (measured.timing.elapsedMs / 1000)),
    p50Us: percentileUs(measured.latenciesMs, 0.5),
    p99Us: percentileUs(measured.latenciesMs, 0.99),
    filesInFlight: 1,
  };
}

/** put and get rows of many small files, named by their size range (small_put_4-64KiB). */
export async function runSmallCase(spec: ArrayCaseSpec, files: NamedData[], rangeName: string): Promise<BenchResult[]> {
  return withArray(spec, async (array) => {
    await warmUp(array, files[0]!);
    const put = await eachTimed(files, async (file) => void (await array.put(file.name, file.bytes)));
    spec.set.flushBuffers(spec.paths);
    const results = new Map<string, Uint8Array>();
    const get = await eachTimed(files, async (file) => void results.set(file.name, await array.get(file.name)));
    const mismatch = firstMismatch(files, results);
    if (mismatch) throw new Error(`get returned wrong bytes for ${mismatch}`);
    const backend = array.status().devices[0]?.backend ?? 'none';
    return [
      { ...smallRow(spec, `small_put_${rangeName}`, files, put), backend, verified: true },
      { ...smallRow(spec, `small_get_${rangeName}`, files, get), backend, verified: true },
    ];
  });
}
