// The cases of the metadata benchmark, each run in a child process of its own (forked by
// metadata_bench.ts) against the DiskArray module it is given: today's build or the build of
// the commit before the on-device journal. A fresh process per run keeps one build's arena,
// workers, heap and JIT state away from the other's figures. The child runs one case on a fresh
// array on the given devices, verifies what it wrote after the clock stopped, and sends one
// CaseResult (or the error's first line) to its parent.
import { execFileSync } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { xorshift32 } from '../common.js';
import { forEachLimited, makeSmallFiles, timed, type NamedData, type Timed } from './workload.js';

/** What both builds' DiskArray offer and the cases use. */
interface ArrayHandle {
  put(name: string, bytes: Uint8Array): Promise<unknown>;
  get(name: string): Promise<Uint8Array>;
  readInto(name: string, target: Uint8Array): Promise<number>;
  delete(name: string): Promise<void>;
  list(): unknown[];
  close(): Promise<void>;
}

interface RuntimeChoice {
  backend: 'uring' | 'fs';
  workerCount?: number;
}

interface ArrayClass {
  create(options: RuntimeChoice & { home: string; devices: string[]; parityCount: 1; force: boolean }): Promise<ArrayHandle>;
  open(home: string, options: RuntimeChoice): Promise<ArrayHandle>;
  import?(options: RuntimeChoice & { home: string; devices: string[] }): Promise<ArrayHandle>;
}

export type CaseJob =
  | { kind: 'small'; common: JobCommon; fileCount: number; warmUpCount: number; sizeMinBytes: number; sizeMaxBytes: number; inFlight: number; seed: number; verifyCount: number }
  | { kind: 'large'; common: JobCommon; fileBytes: number }
  | { kind: 'import'; common: JobCommon; fileCount: number; inFlight: number; seed: number; verifyCount: number };

export interface JobCommon {
  /** Absolute path of the dist/src/array/disk_array.js to run. */
  module: string;
  devices: string[];
  /** Where the array's home is made (RAM, so SQLite's fsyncs cost no disk). */
  homeParent: string;
  backend: 'uring' | 'fs';
  workerCount?: number;
}

export interface TimedFigures {
  elapsedMs: number;
  cpuMs: number;
  hostBusyCores?: number;
}

export type CaseResult =
  /** puts/opsPerSec/latenciesUs: the steady phase; cold: the same count first, in the fresh process. */
  | { kind: 'small'; puts: TimedFigures; opsPerSec: number; latenciesUs: number[]; cold: { puts: TimedFigures; opsPerSec: number }; verified: number }
  | { kind: 'large'; put: TimedFigures; read: TimedFigures; putGBps: number; readGBps: number; verified: boolean }
  | { kind: 'import'; puts: TimedFigures; putsPerSec: number; importRun: TimedFigures; openRun: TimedFigures; fileCount: number; verified: number };

export type ChildMessage = { result: CaseResult } | { error: string };

function figures(timing: Timed): TimedFigures {
  return { elapsedMs: Number(timing.elapsedMs.toFixed(1)), cpuMs: Math.round(timing.cpuMs), hostBusyCores: timing.hostBusyCores };
}

/** Bytes from a seeded generator, so both builds store the very same files. */
function seededBytes(byteCount: number, seed: number): Uint8Array {
  const words = new Uint32Array(Math.ceil(byteCount / 4));
  const next = xorshift32(seed);
  for (let i = 0; i < words.length; i++) words[i] = next();
  return new Uint8Array(words.buffer, 0, byteCount);
}

/** Indices of `count` files spread evenly over `total` (first and last included). */
function sampleIndices(total: number, count: number): number[] {
  const n = Math.min(total, count);
  if (n <= 1) return n === 1 ? [0] : [];
  return Array.from({ length: n }, (_, i) => Math.round((i * (total - 1)) / (n - 1)));
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);
}

async function withFreshArray<T>(DiskArray: ArrayClass, common: JobCommon, use: (array: ArrayHandle, home: string) => Promise<T>): Promise<T> {
  const home = mkdtempSync(join(common.homeParent, 'elastripe-metabench-home-'));
  try {
    const array = await DiskArray.create({
      home, devices: common.devices, parityCount: 1, backend: common.backend, workerCount: common.workerCount, force: true,
    });
    try {
      return await use(array, home);
    } finally {
      await array.close();
    }
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}

/** `inFlight` puts at once; every put's latency too. */
async function putConcurrently(array: ArrayHandle, files: readonly NamedData[], inFlight: number): Promise<{ timing: Timed; latenciesUs: number[] }> {
  const latenciesUs: number[] = [];
  const timing = await timed(() => forEachLimited(files, inFlight, async (file) => {
    const started = performance.now();
    await array.put(file.name, file.bytes);
    latenciesUs.push(Math.round((performance.now() - started) * 1000));
  }));
  return { timing, latenciesUs };
}

async function verifySample(array: ArrayHandle, files: readonly NamedData[], count: number): Promise<number> {
  const indices = sampleIndices(files.length, count);
  for (const index of indices) {
    const file = files[index]!;
    const got = await array.get(file.name);
    if (!sameBytes(got, file.bytes)) throw new Error(`get returned wrong bytes for ${file.name}`);
  }
  return indices.length;
}

/**
 * Three phases in one fresh process and array: `fileCount` puts timed as they come (cold: the
 * JIT has not yet compiled the put path, ~2x the CPU per put), `warmUpCount` untimed, then
 * `fileCount` more timed (steady: what a long-running embedder sees). Different names each phase.
 */
async function runSmall(DiskArray: ArrayClass, job: Extract<CaseJob, { kind: 'small' }>): Promise<CaseResult> {
  const pool = seededBytes(32 << 20, job.seed);
  const phase = (count: number, seed: number, prefix: string): NamedData[] =>
    makeSmallFiles(pool, count, job.sizeMinBytes, job.sizeMaxBytes, seed).map((file) => ({ ...file, name: `${prefix}-${file.name}` }));
  const coldFiles = phase(job.fileCount, job.seed, 'cold');
  const steadyFiles = phase(job.fileCount, job.seed ^ 0x3c3c, 'steady');
  return withFreshArray(DiskArray, job.common, async (array) => {
    await putConcurrently(array, phase(64, job.seed ^ 0x5a5a, 'warm'), job.inFlight);
    await array.get('warm-small-00000');
    const cold = await putConcurrently(array, coldFiles, job.inFlight);
    if (job.warmUpCount > 0) await putConcurrently(array, phase(job.warmUpCount, job.seed ^ 0xa5a5, 'warm-up'), job.inFlight);
    const { timing, latenciesUs } = await putConcurrently(array, steadyFiles, job.inFlight);
    const verified = await verifySample(array, coldFiles, job.verifyCount >> 1) + await verifySample(array, steadyFiles, job.verifyCount - (job.verifyCount >> 1));
    const rate = (timed: Timed): number => Math.round(job.fileCount / (timed.elapsedMs / 1000));
    return { kind: 'small', puts: figures(timing), opsPerSec: rate(timing), latenciesUs, cold: { puts: figures(cold.timing), opsPerSec: rate(cold.timing) }, verified };
  });
}

function flushBuffers(paths: readonly string[]): void {
  for (const path of paths) {
    if (path.startsWith('/dev/')) execFileSync('blockdev', ['--flushbufs', path], { stdio: 'ignore' });
  }
}

async function runLarge(DiskArray: ArrayClass, job: Extract<CaseJob, { kind: 'large' }>): Promise<CaseResult> {
  // Both buffers are written before the clock starts: no first-touch page fault is timed.
  const data = randomFillSync(Buffer.allocUnsafe(job.fileBytes));
  const target = Buffer.alloc(job.fileBytes, 1);
  return withFreshArray(DiskArray, job.common, async (array) => {
    const warm = data.subarray(0, Math.min(job.fileBytes, 64 << 20));
    await array.put('warm-up', warm);
    await array.readInto('warm-up', target.subarray(0, warm.byteLength));
    await array.delete('warm-up');
    const put = await timed(async () => void (await array.put('large', data)));
    flushBuffers(job.common.devices);
    let readBytes = 0;
    const read = await timed(async () => void (readBytes = await array.readInto('large', target)));
    if (readBytes !== job.fileBytes) throw new Error(`readInto read ${readBytes} of ${job.fileBytes} bytes`);
    if (!target.equals(data)) throw new Error('readInto returned wrong bytes for the 1 GiB file');
    const gigabytes = job.fileBytes / 1e9;
    return {
      kind: 'large', put: figures(put), read: figures(read), verified: true,
      putGBps: Number((gigabytes / (put.elapsedMs / 1000)).toFixed(3)), readGBps: Number((gigabytes / (read.elapsedMs / 1000)).toFixed(3)),
    };
  });
}

/** Puts many 1-byte files, deletes the home, imports the array from its devices, reopens it. */
async function runImport(DiskArray: ArrayClass, job: Extract<CaseJob, { kind: 'import' }>): Promise<CaseResult> {
  const importArray = DiskArray.import;
  if (!importArray) throw new Error('this build has no DiskArray.import');
  const next = xorshift32(job.seed);
  const files: NamedData[] = Array.from({ length: job.fileCount }, (_, i) => ({
    name: `tiny-${String(i).padStart(6, '0')}`, bytes: Uint8Array.of(next() & 0xff),
  }));
  const { common } = job;
  const runtime = { backend: common.backend, workerCount: common.workerCount };
  const firstHome = mkdtempSync(join(common.homeParent, 'elastripe-metabench-home-'));
  const importHome = mkdtempSync(join(common.homeParent, 'elastripe-metabench-import-'));
  try {
    const created = await DiskArray.create({ home: firstHome, devices: common.devices, parityCount: 1, force: true, ...runtime });
    let puts: Timed;
    try {
      ({ timing: puts } = await putConcurrently(created, files, job.inFlight));
    } finally {
      await created.close();
    }
    rmSync(firstHome, { recursive: true, force: true });

    const check = async (array: ArrayHandle): Promise<number> => {
      const count = array.list().length;
      if (count !== files.length) throw new Error(`the array holds ${count} files, ${files.length} were put`);
      return verifySample(array, files, job.verifyCount);
    };
    let imported: ArrayHandle | undefined;
    const importRun = await timed(async () => void (imported = await importArray.call(DiskArray, { home: importHome, devices: common.devices, ...runtime })));
    let verified: number;
    try {
      verified = await check(imported!);
    } finally {
      await imported!.close();
    }
    let opened: ArrayHandle | undefined;
    const openRun = await timed(async () => void (opened = await DiskArray.open(importHome, runtime)));
    try {
      verified += await check(opened!);
    } finally {
      await opened!.close();
    }
    return {
      kind: 'import', puts: figures(puts), putsPerSec: Math.round(files.length / (puts.elapsedMs / 1000)),
      importRun: figures(importRun), openRun: figures(openRun), fileCount: files.length, verified,
    };
  } finally {
    rmSync(firstHome, { recursive: true, force: true });
    rmSync(importHome, { recursive: true, force: true });
  }
}

export async function runCase(job: CaseJob): Promise<CaseResult> {
  const { DiskArray } = (await import(pathToFileURL(job.common.module).href)) as { DiskArray: ArrayClass };
  if (job.kind === 'small') return runSmall(DiskArray, job);
  if (job.kind === 'large') return runLarge(DiskArray, job);
  return runImport(DiskArray, job);
}

// As a child: the job comes as argv[2] (JSON), the answer goes back over the IPC channel.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href && process.send) {
  const send = (message: ChildMessage): void => {
    process.send!(message, () => process.exit(0));
  };
  runCase(JSON.parse(process.argv[2]!) as CaseJob).then(
    (result) => send({ result }),
    (error: unknown) => send({ error: (error as Error)?.message?.split('\n')[0] ?? String(error) }),
  );
}
