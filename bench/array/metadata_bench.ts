// What the on-device metadata journal costs (issue 7), side by side with the same run's figures
// from the commit before it:
//   1. small puts per second: 16 at once, seeded sizes of 1 byte to 64 KiB, parity 1, on 4
//      RAM-backed loop devices written once before anything is timed (a first-touch page
//      fault of tmpfs costs more than the I/O); a sample is read back and compared. Two rows:
//      cold (the first ELASTRIPE_BENCH_SMALL_PUTS puts of a fresh process, before the JIT has
//      compiled the put path) and steady (as many again after ELASTRIPE_BENCH_SMALL_WARMUP
//      more, what a long-running embedder sees; issue 10's target is read there);
//   2. one 1 GiB put, and its readInto, on the same devices (verified);
//   3. import of an array of 100,000 one-byte files from its devices alone (home deleted), on 4
//      sparse 2 GiB loop devices (a 64 MiB metadata region each), then open of that home;
//      count and a sample verified.
// Cases 1 and 2 run for the build of today's checkout and for the baseline commit, built in a
// temporary git worktree (baseline_build.ts), alternating baseline/today round by round (the
// order flips each round) so the machine's noise hits both; every run is a fresh process and a
// fresh array (metadata_cases.ts). Rows give each build's median and today/baseline.
// Writes bench/results/metadata.json; `npm run bench:metadata`. Env: ELASTRIPE_BENCH_ROUNDS (3),
// ELASTRIPE_BENCH_SMALL_PUTS (4000), ELASTRIPE_BENCH_SMALL_WARMUP (8000), ELASTRIPE_BENCH_LARGE_BYTES (1 GiB),
// ELASTRIPE_BENCH_IMPORT_FILES (100000; 0 skips case 3),
// ELASTRIPE_BENCH_BASELINE (commit, default 2f2ce72; 'none' skips it), ELASTRIPE_BENCH_AFTER (a
// commit to build in a worktree as the "after" side instead of this checkout's dist/, e.g. HEAD
// while the working tree holds unfinished edits), ELASTRIPE_BENCH_WORKERS,
// ELASTRIPE_BENCH_CASES (default small,large,import), ELASTRIPE_BENCH_CPU_PROF (a directory:
// every run writes a --cpu-prof profile there).
import { execFileSync, fork } from 'node:child_process';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { uringAvailable } from '../../src/devices/uring_native.js';
import { repositoryRoot } from '../../src/kernels/kernel_module.js';
import { printTable, writeResults, type BenchResult } from '../common.js';
import { LINUX, LOOP_DEVICES, requireBenchPrerequisites, ROOT } from '../common/prerequisites.js';
import { buildBaseline, type BaselineBuild } from './baseline_build.js';
import { BenchDeviceSet, RAM_DIRECTORY } from './bench_devices.js';
import type { CaseJob, CaseResult, ChildMessage, JobCommon, TimedFigures } from './metadata_cases.js';
import { preTouch } from '../common/pre_touch.js';

const MIB = 1 << 20;
const GIB = 1 << 30;
const DEVICE_COUNT = 4;
/** Cases 1 and 2: 1 GiB at k=3 puts ~341 MiB on each device. */
const DEVICE_BYTES = 768 * MIB;
/** Case 3: big enough for a 64 MiB metadata region (1/32 of the smallest device). */
const IMPORT_DEVICE_BYTES = 2 * GIB;
const SEED = 0x3e7a_da7a;
const DEFAULT_BASELINE = '2f2ce72';
const SMALL_IN_FLIGHT = 16;
const IMPORT_IN_FLIGHT = 64;
const VERIFY_SAMPLE = 256;

export const TARGETS = {
  smallPutsVsBeforeMin: 0.8,
  largePutVsBeforeMin: 0.95,
  largeReadVsBeforeMin: 0.95,
  importSecondsMax: 10,
  /** The issue's figure for small puts before the change, for reference only. */
  smallPutsBeforeIssue: 1400,
  /** Issue 10: small puts per second, 16 at once (an absolute rate, so only a quiet machine says much). */
  smallPutsPerSecMin: 5000,
};

type CaseKind = 'small' | 'large' | 'import';
const CASE_KINDS: readonly CaseKind[] = ['small', 'large', 'import'];

interface Settings {
  cases: CaseKind[];
  rounds: number;
  smallPuts: number;
  /** Untimed puts between the cold and the steady phase. */
  smallWarmUpPuts: number;
  largeBytes: number;
  importFiles: number;
  baseline: string;
  /** A commit to build as the "after" side; default this checkout's own build. */
  after?: string;
  workerCount?: number;
  cpuProfileDirectory?: string;
}

function settingsFromEnv(): Settings {
  const number = (name: string, fallback: number): number => {
    const text = process.env[name];
    if (text === undefined || text === '') return fallback;
    const value = Number(text);
    if (!Number.isInteger(value) || value < 0) throw new Error(`${name} must be a whole number, not '${text}'`);
    return value;
  };
  const workers = process.env['ELASTRIPE_BENCH_WORKERS'];
  const cases = (process.env['ELASTRIPE_BENCH_CASES'] || CASE_KINDS.join(',')).split(',').map((name) => name.trim()).filter((name) => name !== '');
  const unknown = cases.filter((name) => !CASE_KINDS.includes(name as CaseKind));
  if (unknown.length > 0) throw new Error(`ELASTRIPE_BENCH_CASES: unknown case ${unknown.join(', ')} (known: ${CASE_KINDS.join(', ')})`);
  return {
    cases: CASE_KINDS.filter((kind) => cases.includes(kind)),
    rounds: Math.max(1, number('ELASTRIPE_BENCH_ROUNDS', 3)),
    smallPuts: Math.max(1, number('ELASTRIPE_BENCH_SMALL_PUTS', 4000)),
    smallWarmUpPuts: number('ELASTRIPE_BENCH_SMALL_WARMUP', 8000),
    largeBytes: Math.max(MIB, number('ELASTRIPE_BENCH_LARGE_BYTES', GIB)),
    importFiles: number('ELASTRIPE_BENCH_IMPORT_FILES', 100_000),
    baseline: process.env['ELASTRIPE_BENCH_BASELINE'] || DEFAULT_BASELINE,
    after: process.env['ELASTRIPE_BENCH_AFTER'] || undefined,
    workerCount: workers === undefined || workers === '' ? undefined : number('ELASTRIPE_BENCH_WORKERS', 0),
    cpuProfileDirectory: process.env['ELASTRIPE_BENCH_CPU_PROF'] || undefined,
  };
}

/** The metadata bench makes loop devices. */
const METADATA_PREREQUISITES = [LINUX, ROOT, LOOP_DEVICES];

function shortCommit(root: string, ref: string): string {
  try {
    return execFileSync('git', ['rev-parse', '--short', ref], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return 'unknown';
  }
}

/** Whether src/ differs from HEAD (the "after" build is then HEAD plus those changes). */
function sourceChanged(root: string): boolean {
  try {
    return execFileSync('git', ['status', '--porcelain', '--', 'src', 'asm', 'native'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() !== '';
  } catch {
    return false;
  }
}

const here = dirname(fileURLToPath(import.meta.url));

/** Runs one case in a fresh process; its failure comes back as an Error with one line. */
function runChild(job: CaseJob, settings: Settings): Promise<CaseResult> {
  const execArgv = [...process.execArgv];
  if (settings.cpuProfileDirectory) execArgv.push('--cpu-prof', '--cpu-prof-dir', settings.cpuProfileDirectory);
  return new Promise((resolve, reject) => {
    const child = fork(join(here, 'metadata_cases.js'), [JSON.stringify(job)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv });
    let message: ChildMessage | undefined;
    child.on('message', (received) => void (message = received as ChildMessage));
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (message && 'result' in message) resolve(message.result);
      else if (message) reject(new Error(message.error));
      else reject(new Error(`the ${job.kind} run exited with ${signal ?? `code ${code}`} before reporting`));
    });
  });
}

interface Impl {
  /** 'before' or 'after'. */
  side: 'before' | 'after';
  /** before@2f2ce72, after@c384e7d. */
  name: string;
  module: string;
}

interface SideBySide {
  small: Map<string, CaseResult[]>;
  large: Map<string, CaseResult[]>;
  errors: Map<string, string>;
}

async function runSideBySide(impls: Impl[], settings: Settings, common: Omit<JobCommon, 'module'>): Promise<SideBySide> {
  const outcome: SideBySide = { small: new Map(), large: new Map(), errors: new Map() };
  for (const impl of impls) {
    outcome.small.set(impl.name, []);
    outcome.large.set(impl.name, []);
  }
  for (let round = 0; round < settings.rounds; round++) {
    // before, after; then after, before: neither build always goes first.
    const order = round % 2 === 0 ? impls : [...impls].reverse();
    for (const kind of (['small', 'large'] as const).filter((name) => settings.cases.includes(name))) {
      for (const impl of order) {
        const key = `${kind}:${impl.name}`;
        if (outcome.errors.has(key)) continue;
        const job: CaseJob = kind === 'small'
          ? { kind, common: { ...common, module: impl.module }, fileCount: settings.smallPuts, warmUpCount: settings.smallWarmUpPuts, sizeMinBytes: 1, sizeMaxBytes: 64 * 1024, inFlight: SMALL_IN_FLIGHT, seed: SEED, verifyCount: VERIFY_SAMPLE }
          : { kind, common: { ...common, module: impl.module }, fileBytes: settings.largeBytes };
        try {
          const result = await runChild(job, settings);
          outcome[kind].get(impl.name)!.push(result);
          console.log(`round ${round + 1}/${settings.rounds} ${kind} ${impl.name}: ${describe(result)}`);
        } catch (error) {
          outcome.errors.set(key, (error as Error).message);
          console.log(`round ${round + 1}/${settings.rounds} ${kind} ${impl.name}: failed: ${(error as Error).message}`);
        }
      }
    }
  }
  return outcome;
}

function describe(result: CaseResult): string {
  if (result.kind === 'small') return `${result.opsPerSec} puts/s steady, ${result.cold.opsPerSec} cold`;
  if (result.kind === 'large') return `put ${result.putGBps} GB/s, readInto ${result.readGBps} GB/s`;
  return `import ${(result.importRun.elapsedMs / 1000).toFixed(2)} s, open ${(result.openRun.elapsedMs / 1000).toFixed(2)} s`;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

function percentile(values: readonly number[], fraction: number): number {
  const sorted = Float64Array.from(values).sort();
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * fraction))]!;
}

function round3(value: number): number {
  return Number(value.toFixed(3));
}

interface RowSpec {
  kind: 'small' | 'large';
  caseName: string;
  metric: 'opsPerSec' | 'dataGBps';
  value: (result: CaseResult) => number;
  /** The process's CPU (all threads) per put or per GB: steadier than rates on a busy host. */
  cpuColumn: 'cpuUsPerPut' | 'cpuSecPerGB';
  cpu: (result: CaseResult) => number;
  targetMin: number;
  extra?: (results: CaseResult[]) => Record<string, unknown>;
}

/** One row per build of a side-by-side case: the median of its rounds and every round. */
function sideBySideRows(outcome: SideBySide, impls: Impl[], spec: RowSpec): BenchResult[] {
  const { kind, caseName, metric, value, targetMin } = spec;
  const rows: BenchResult[] = [];
  const medians = new Map<string, number>();
  const cpuMedians = new Map<string, number>();
  for (const impl of impls) {
    const error = outcome.errors.get(`${kind}:${impl.name}`);
    const results = outcome[kind].get(impl.name)!;
    if (results.length === 0) {
      rows.push({ case: caseName, impl: impl.name, error: error ?? 'no run' });
      continue;
    }
    const values = results.map(value);
    const middle = median(values);
    medians.set(impl.side, middle);
    const cpu = median(results.map(spec.cpu));
    cpuMedians.set(impl.side, cpu);
    rows.push({
      case: caseName, impl: impl.name, [metric]: metric === 'opsPerSec' ? Math.round(middle) : round3(middle),
      rounds: values.map((v) => (metric === 'opsPerSec' ? String(Math.round(v)) : v.toFixed(3))).join(' '),
      [spec.cpuColumn]: spec.cpuColumn === 'cpuUsPerPut' ? Math.round(cpu) : round3(cpu),
      ...spec.extra?.(results), ...(error ? { error } : {}),
    });
  }
  const before = medians.get('before');
  const after = medians.get('after');
  const afterRow = rows.find((row) => row.impl.startsWith('after') && !row.error);
  if (afterRow && before !== undefined && after !== undefined) {
    const ratio = round3(after / before);
    afterRow.vsBefore = ratio;
    afterRow.target = `>= ${targetMin}x before`;
    afterRow.met = ratio >= targetMin ? 'yes' : 'NO';
    // Round by round (same machine state): after_r / before_r.
    const pairs = Math.min(outcome[kind].get(impls[0]!.name)!.length, outcome[kind].get(impls[1]!.name)!.length);
    const beforeValues = outcome[kind].get(impls.find((impl) => impl.side === 'before')!.name)!.map(value);
    const afterValues = outcome[kind].get(impls.find((impl) => impl.side === 'after')!.name)!.map(value);
    afterRow.roundRatios = Array.from({ length: pairs }, (_, i) => (afterValues[i]! / beforeValues[i]!).toFixed(3)).join(' ');
    afterRow.cpuVsBefore = round3(cpuMedians.get('after')! / cpuMedians.get('before')!);
  }
  return rows;
}

function importRows(result: CaseResult | undefined, error: string | undefined, impl: string, fileCount: number): BenchResult[] {
  const label = fileCount % 1000 === 0 ? `${fileCount / 1000}k` : String(fileCount);
  if (!result || result.kind !== 'import') {
    return [{ case: `import_${label}_files_4dev_p1`, impl, error: error ?? 'no run' }];
  }
  const importSeconds = round3(result.importRun.elapsedMs / 1000);
  return [
    { case: `put_1B_qd${IMPORT_IN_FLIGHT}_${label}_files`, impl, opsPerSec: result.putsPerSec, seconds: round3(result.puts.elapsedMs / 1000), note: 'setup for import (not a target)' },
    {
      case: `import_${label}_files_4dev_p1`, impl, seconds: importSeconds, target: `< ${TARGETS.importSecondsMax} s`,
      met: importSeconds < TARGETS.importSecondsMax ? 'yes' : 'NO', verified: result.verified, cpuSeconds: round3(result.importRun.cpuMs / 1000),
    },
    { case: `open_${label}_files_4dev_p1`, impl, seconds: round3(result.openRun.elapsedMs / 1000), cpuSeconds: round3(result.openRun.cpuMs / 1000) },
  ];
}

export async function runMetadataBench(): Promise<BenchResult[] | undefined> {
  requireBenchPrerequisites('metadata', METADATA_PREREQUISITES);
  const settings = settingsFromEnv();
  const root = repositoryRoot();
  const uring = uringAvailable();
  const backend = uring.available ? 'uring' : 'fs';
  if (!uring.available) console.warn(`metadata bench: the io_uring addon is unavailable (${uring.reason}); both builds use the fs backend`);
  const loadAverageAtStart = loadavg();
  if (loadAverageAtStart[0]! > 1) console.warn(`metadata bench: load average ${loadAverageAtStart[0]!.toFixed(1)} at start: other work will skew the numbers (the ratios less)`);

  let afterBuild: BaselineBuild | undefined;
  if (settings.after) {
    console.log(`building ${settings.after} as the "after" side in a temporary git worktree...`);
    const outcome = buildBaseline(root, settings.after, 'the commit to measure');
    if ('unavailable' in outcome) {
      console.error(`${outcome.unavailable}.`);
      process.exitCode = 1;
      return undefined;
    }
    afterBuild = outcome.build;
  }
  try {
    return await measure(settings, root, backend, uring, loadAverageAtStart, afterBuild);
  } finally {
    afterBuild?.remove();
  }
}

async function measure(
  settings: Settings, root: string, backend: 'uring' | 'fs', uring: { available: boolean; reason?: string },
  loadAverageAtStart: number[], afterBuild: BaselineBuild | undefined,
): Promise<BenchResult[]> {
  const afterName = afterBuild
    ? `after@${afterBuild.commit.slice(0, 7)}`
    : `after@${shortCommit(root, 'HEAD')}${sourceChanged(root) ? '+changes' : ''}`;
  const after: Impl = {
    side: 'after', name: afterName,
    module: afterBuild ? afterBuild.diskArrayModule : fileURLToPath(new URL('../../src/array/disk_array.js', import.meta.url)),
  };
  const impls: Impl[] = [];
  let baseline: BaselineBuild | undefined;
  let baselineNote: string | undefined;
  const sideBySideWanted = settings.cases.includes('small') || settings.cases.includes('large');
  if (!sideBySideWanted) {
    // Only the import case: it has no "before" (import is new).
  } else if (settings.baseline === 'none') {
    baselineNote = 'the baseline was skipped (ELASTRIPE_BENCH_BASELINE=none)';
  } else {
    console.log(`building the commit before the change (${settings.baseline}) in a temporary git worktree...`);
    const outcome = buildBaseline(root, settings.baseline);
    if ('build' in outcome) baseline = outcome.build;
    else baselineNote = outcome.unavailable;
  }
  if (baselineNote) console.log(`${baselineNote}: reporting only the new figures.`);
  if (baseline) impls.push({ side: 'before', name: `before@${baseline.commit.slice(0, 7)}`, module: baseline.diskArrayModule });
  impls.push(after);

  const rows: BenchResult[] = [];
  let sideBySide: SideBySide = { small: new Map(), large: new Map(), errors: new Map() };
  let importResult: CaseResult | undefined;
  let importError: string | undefined;
  if (sideBySideWanted) {
    try {
      const set = new BenchDeviceSet('loop');
      try {
        const paths = set.create(DEVICE_COUNT, DEVICE_BYTES);
        preTouch(paths, DEVICE_BYTES);
        const common = { devices: paths, homeParent: RAM_DIRECTORY, backend, workerCount: settings.workerCount } as const;
        sideBySide = await runSideBySide(impls, settings, common);
      } finally {
        set.destroyAll();
      }
    } finally {
      baseline?.remove();
    }
  }
  if (settings.cases.includes('small')) {
    const smallCase = `small_put_1B-64KiB_qd${SMALL_IN_FLIGHT}_4dev_p1`;
    const perPut = (figures: TimedFigures): number => (figures.cpuMs * 1000) / settings.smallPuts;
    rows.push(...sideBySideRows(sideBySide, impls, {
      kind: 'small', caseName: `${smallCase}_cold`, metric: 'opsPerSec',
      value: (result) => (result.kind === 'small' ? result.cold.opsPerSec : NaN),
      cpuColumn: 'cpuUsPerPut', cpu: (result) => (result.kind === 'small' ? perPut(result.cold.puts) : NaN),
      targetMin: TARGETS.smallPutsVsBeforeMin,
    }));
    rows.push(...sideBySideRows(sideBySide, impls, {
      kind: 'small', caseName: `${smallCase}_steady`, metric: 'opsPerSec',
      value: (result) => (result.kind === 'small' ? result.opsPerSec : NaN),
      cpuColumn: 'cpuUsPerPut', cpu: (result) => (result.kind === 'small' ? perPut(result.puts) : NaN),
      targetMin: TARGETS.smallPutsVsBeforeMin,
      extra: (results) => {
        const latencies = results.flatMap((result) => (result.kind === 'small' ? result.latenciesUs : []));
        return { p50Us: Math.round(percentile(latencies, 0.5)), p99Us: Math.round(percentile(latencies, 0.99)) };
      },
    }));
  }
  const sizeName = settings.largeBytes % GIB === 0 ? `${settings.largeBytes / GIB}GiB` : `${settings.largeBytes / MIB}MiB`;
  const perGB = (ms: number): number => ms / 1000 / (settings.largeBytes / 1e9);
  if (settings.cases.includes('large')) rows.push(...sideBySideRows(sideBySide, impls, {
    kind: 'large', caseName: `put_${sizeName}_4dev_p1`, metric: 'dataGBps', value: (result) => (result.kind === 'large' ? result.putGBps : NaN),
    cpuColumn: 'cpuSecPerGB', cpu: (result) => (result.kind === 'large' ? perGB(result.put.cpuMs) : NaN), targetMin: TARGETS.largePutVsBeforeMin,
  }));
  if (settings.cases.includes('large')) rows.push(...sideBySideRows(sideBySide, impls, {
    kind: 'large', caseName: `readInto_${sizeName}_4dev_p1`, metric: 'dataGBps', value: (result) => (result.kind === 'large' ? result.readGBps : NaN),
    cpuColumn: 'cpuSecPerGB', cpu: (result) => (result.kind === 'large' ? perGB(result.read.cpuMs) : NaN), targetMin: TARGETS.largeReadVsBeforeMin,
  }));

  if (settings.importFiles > 0 && settings.cases.includes('import')) {
    const set = new BenchDeviceSet('loop');
    try {
      // Sparse: only what the array writes takes RAM.
      const paths = set.create(DEVICE_COUNT, IMPORT_DEVICE_BYTES);
      const job: CaseJob = {
        kind: 'import', common: { devices: paths, homeParent: RAM_DIRECTORY, backend, workerCount: settings.workerCount, module: after.module },
        fileCount: settings.importFiles, inFlight: IMPORT_IN_FLIGHT, seed: SEED, verifyCount: VERIFY_SAMPLE,
      };
      console.log(`import: putting ${settings.importFiles} one-byte files, ${IMPORT_IN_FLIGHT} at once...`);
      importResult = await runChild(job, settings);
      console.log(`import ${after.name}: ${describe(importResult)}`);
    } catch (error) {
      importError = (error as Error).message;
      console.log(`import ${after.name}: failed: ${importError}`);
    } finally {
      set.destroyAll();
    }
    rows.push(...importRows(importResult, importError, after.name, settings.importFiles));
  }

  printTable(`metadata: side by side with ${baseline ? `the commit before the change (${baseline.commit.slice(0, 7)})` : 'no baseline'}, ` +
    `4 RAM-backed loop devices, parity 1, ${backend}; median of ${settings.rounds} alternating rounds`, rows,
  ['case', 'impl', 'opsPerSec', 'dataGBps', 'seconds', 'rounds', 'vsBefore', 'roundRatios', 'target', 'met', 'p50Us', 'p99Us',
    'cpuUsPerPut', 'cpuSecPerGB', 'cpuVsBefore', 'error']);
  if (baselineNote) console.log(`\n${baselineNote}: only the new figures are shown.`);
  console.log(`\nthe issue's figure for small puts before the change: ~${TARGETS.smallPutsBeforeIssue}/s`);
  const afterRate = (suffix: string): number | undefined => {
    const row = rows.find((candidate) => candidate.case.startsWith('small_put') && candidate.case.endsWith(suffix) && candidate.impl.startsWith('after'));
    return typeof row?.opsPerSec === 'number' ? row.opsPerSec : undefined;
  };
  const steady = afterRate('_steady');
  if (steady !== undefined) {
    console.log(`issue 10's small puts target, >= ${TARGETS.smallPutsPerSecMin}/s with ${SMALL_IN_FLIGHT} at once, steady (after ${settings.smallPuts + settings.smallWarmUpPuts} puts): ` +
      `${steady}/s, ${steady >= TARGETS.smallPutsPerSecMin ? 'met' : 'NOT met'}; cold (the first ${settings.smallPuts} of a fresh process): ${afterRate('_cold')}/s (absolute rates: they mean little on a loaded machine)`);
  }
  const loadAverageAtEnd = loadavg();
  console.log(`load average: ${loadAverageAtStart[0]!.toFixed(1)} at start, ${loadAverageAtEnd[0]!.toFixed(1)} at end`);
  const path = writeResults('metadata', rows, {
    settings: { ...settings, smallInFlight: SMALL_IN_FLIGHT, importInFlight: IMPORT_IN_FLIGHT, verifySample: VERIFY_SAMPLE, smallSizeBytes: [1, 64 * 1024] },
    seed: SEED, backend, uring, devices: { count: DEVICE_COUNT, bytes: DEVICE_BYTES, importBytes: IMPORT_DEVICE_BYTES, directory: RAM_DIRECTORY, preTouched: true },
    commits: { after: afterName, afterCommit: afterBuild?.commit, before: baseline?.commit, baselineRequested: settings.baseline, baselineNote },
    targets: TARGETS, loadAverageAtStart, loadAverageAtEnd,
    runs: {
      small: Object.fromEntries([...sideBySide.small].map(([name, results]) => [name, results.map((result) => ({ ...result, latenciesUs: undefined }))])),
      large: Object.fromEntries(sideBySide.large),
      errors: Object.fromEntries(sideBySide.errors),
    },
    importRun: importResult,
  });
  console.log(`\nwrote ${path}`);
  return rows;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  runMetadataBench().catch((error: unknown) => {
    console.error(`metadata bench failed: ${(error as Error)?.message?.split('\n')[0] ?? String(error)}`);
    process.exitCode = 1;
  });
}
