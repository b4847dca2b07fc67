// End-to-end array benchmark: put and get of 1 GiB (16 files of 64 MiB) on 4 and 8 RAM-backed
// loop devices with parity 1 and 2, beside fio's raw throughput on the very same devices in
// the same run, so each row can say what fraction of the hardware the array delivers:
//   efficiency = user-data GB/s / (fio raw aggregate GB/s x k/(k+m))
// (k+m blocks cross the devices for every k of user data). Also the fs backend (4dev_p1),
// small files (4-64 KiB, files per second) and the CPU cost per GB. Writes
// bench/results/array.json; `npm run bench:array`.
import { loadavg } from 'node:os';
import { pathToFileURL } from 'node:url';
import type { BackendChoice, ParityCount } from '../../src/array/types.js';
import { uringAvailable } from '../../src/devices/uring_native.js';
import { printTable, writeResults, type BenchResult } from '../common.js';
import { FIO, LINUX, runBenchMain } from '../common/prerequisites.js';
import { runLargeCase, runSmallCase, type ArrayCaseSpec } from './array_cases.js';
import { BenchDeviceSet, loopDevicesUsable, RAM_DIRECTORY, type DeviceKind } from './bench_devices.js';
import { FIO_BLOCK_BYTES, FIO_DEPTH, prefillDevices, runFioRaw, type FioMeasurement } from './fio_raw.js';
import { makeLargeFiles, makeSmallFiles, timed, type NamedData } from './workload.js';
import { FACES_COLUMNS, runFacesBench } from './faces_bench.js';

const MIB = 1 << 20;
/** Each set holds 1 GiB of user data at its widest overhead (4 devices, p2: k=2, 2 GiB raw). */
const GEOMETRIES = [
  { deviceCount: 4, deviceBytes: 768 * MIB },
  { deviceCount: 8, deviceBytes: 256 * MIB },
] as const;
const PARITY_COUNTS: readonly ParityCount[] = [1, 2];
const SMALL_SIZE_MIN_BYTES = 4 * 1024;
const SMALL_SIZE_MAX_BYTES = 64 * 1024;
const SEED = 0x5eed_a77a;

/** Measured on this kind of machine: btrfs RAID5 over 4 RAM-backed loop devices, fio direct 1 MiB. */
export const BTRFS_RAID5_REFERENCE = { writeGBps: 0.22, readGBps: 3.8, devices: 4, note: 'btrfs RAID5, 4 RAM-backed loop devices, fio direct=1 bs=1MiB' };
export const TARGETS = { writeEfficiencyMin: 0.7, readEfficiencyMin: 0.8, vsBtrfsRaid5WriteMin: 4 };

export interface ArrayBenchOptions {
  fileCount?: number;
  fileBytes?: number;
  /** Puts (or gets) running at once in the large-file cases. */
  filesInFlight?: number;
  smallFileCount?: number;
  fioSeconds?: number;
  /** Piscina workers; default the array's own default (one per core). */
  workerCount?: number;
}

type Settings = Required<Omit<ArrayBenchOptions, 'workerCount'>> & { workerCount?: number };

function settingsFrom(options: ArrayBenchOptions): Settings {
  const env = (name: string) => (process.env[name] === undefined ? undefined : Number(process.env[name]));
  return {
    fileCount: options.fileCount ?? env('ELASTRIPE_BENCH_FILES') ?? 16,
    fileBytes: options.fileBytes ?? 64 * MIB,
    filesInFlight: options.filesInFlight ?? env('ELASTRIPE_BENCH_FILES_IN_FLIGHT') ?? 2,
    smallFileCount: options.smallFileCount ?? env('ELASTRIPE_BENCH_SMALL_FILES') ?? 2000,
    fioSeconds: options.fioSeconds ?? env('ELASTRIPE_BENCH_SECONDS') ?? 2,
    workerCount: options.workerCount ?? env('ELASTRIPE_BENCH_WORKERS'),
  };
}

/** Rows of one implementation attempt; a failure becomes a row with its reason, not a crash. */
async function attempt(caseName: string, impl: string, run: () => Promise<BenchResult[]>): Promise<BenchResult[]> {
  try {
    return await run();
  } catch (error) {
    return [{ case: caseName, impl, error: (error as Error).message.split('\n')[0] }];
  }
}

async function fioRows(paths: string[], kind: DeviceKind, seconds: number): Promise<BenchResult[]> {
  const direct = kind === 'loop';
  await prefillDevices(paths, direct);
  const rows: BenchResult[] = [];
  for (const mode of ['write', 'read'] as const) {
    const caseName = `raw_${mode}_1MiB_qd${FIO_DEPTH}_${paths.length}dev`;
    rows.push(...await attempt(caseName, 'fio', async () => {
      let measured: FioMeasurement | undefined;
      const timing = await timed(async () => void (measured = await runFioRaw(paths, mode, { direct, seconds })));
      return [{ case: caseName, impl: 'fio', devices: paths.length, ...measured!, direct, hostBusyCores: timing.hostBusyCores }];
    }));
  }
  return rows;
}

/** All cases on one device count: fio first (it overwrites the devices), then the arrays. */
async function runGeometry(
  kind: DeviceKind, geometry: (typeof GEOMETRIES)[number], files: NamedData[], settings: Settings,
): Promise<BenchResult[]> {
  const set = new BenchDeviceSet(kind);
  try {
    const paths = set.create(geometry.deviceCount, geometry.deviceBytes);
    const rows = await fioRows(paths, kind, settings.fioSeconds);
    const spec = (parityCount: ParityCount, backend: BackendChoice, impl: string): ArrayCaseSpec => ({
      set, paths, parityCount, backend, impl, workerCount: settings.workerCount, filesInFlight: settings.filesInFlight,
    });
    const label = `${geometry.deviceCount}dev`;
    for (const parityCount of PARITY_COUNTS) {
      // get() returns one fresh Buffer per file; the stream row shows the cost of that choice.
      const streamImpl = geometry.deviceCount === 4 && parityCount === 1 ? 'elastripe-stream' : undefined;
      const caseSpec = { ...spec(parityCount, 'uring', 'elastripe'), streamImpl };
      rows.push(...await attempt(`*_${label}_p${parityCount}`, 'elastripe', () => runLargeCase(caseSpec, files)));
    }
    if (geometry.deviceCount === 4) {
      rows.push(...await attempt(`*_${label}_p1`, 'elastripe-fs', () => runLargeCase(spec(1, 'fs', 'elastripe-fs'), files)));
      const small = makeSmallFiles(files[0]!.bytes, settings.smallFileCount, SMALL_SIZE_MIN_BYTES, SMALL_SIZE_MAX_BYTES, SEED);
      rows.push(...await attempt('small_*_4-64KiB', 'elastripe', () => runSmallCase(spec(1, 'uring', 'elastripe'), small, '4-64KiB')));
    }
    return rows;
  } finally {
    set.destroyAll();
  }
}

/** efficiency (against fio x k/(k+m)), vsFioRaw and, for put_*_4dev_p1, vsBtrfsRaid5. */
function addRatios(rows: BenchResult[]): void {
  for (const row of rows) {
    if (row.impl === 'fio' || row.error || typeof row.k !== 'number' || row.case.startsWith('small_')) continue;
    const mode = row.case.startsWith('put_') ? 'write' : 'read';
    const fio = rows.find((other) => other.impl === 'fio' && !other.error && other.case === `raw_${mode}_1MiB_qd${FIO_DEPTH}_${row.devices}dev`);
    if (!fio) continue;
    const rawGBps = fio.dataGBps as number;
    const k = row.k;
    const m = row.parity as number;
    row.efficiency = round3((row.dataGBps as number) / (rawGBps * (k / (k + m))));
    row.vsFioRaw = round3((row.dataGBps as number) / rawGBps);
    if (row.devices === 4 && m === 1) {
      const reference = mode === 'write' ? BTRFS_RAID5_REFERENCE.writeGBps : BTRFS_RAID5_REFERENCE.readGBps;
      row.vsBtrfsRaid5 = round3((row.dataGBps as number) / reference);
    }
  }
}

function round3(value: number): number {
  return Number(value.toFixed(3));
}

/** Whether the uring 4dev_p1 rows meet the targets, for the footer and the JSON. */
function targetChecks(rows: BenchResult[]): Record<string, unknown> {
  const elastripe = rows.filter((row) => row.impl === 'elastripe' && typeof row.efficiency === 'number');
  const puts = elastripe.filter((row) => row.case.startsWith('put_'));
  const gets = elastripe.filter((row) => row.case.startsWith('get_'));
  const put4p1 = puts.find((row) => row.devices === 4 && row.parity === 1);
  return {
    writeEfficiencyMin: Math.min(...puts.map((row) => row.efficiency as number)),
    readEfficiencyMin: Math.min(...gets.map((row) => row.efficiency as number)),
    vsBtrfsRaid5Write: put4p1?.vsBtrfsRaid5,
    writeEfficiencyMet: puts.length > 0 && puts.every((row) => (row.efficiency as number) >= TARGETS.writeEfficiencyMin),
    readEfficiencyMet: gets.length > 0 && gets.every((row) => (row.efficiency as number) >= TARGETS.readEfficiencyMin),
    vsBtrfsRaid5Met: typeof put4p1?.vsBtrfsRaid5 === 'number' && put4p1.vsBtrfsRaid5 >= TARGETS.vsBtrfsRaid5WriteMin,
  };
}

function printFooter(checks: Record<string, unknown>, deviceNote: string): void {
  const r = BTRFS_RAID5_REFERENCE;
  console.log(`\ndevices: ${deviceNote}`);
  console.log(`reference: ${r.note}: write ${r.writeGBps} GB/s, read ${r.readGBps} GB/s`);
  console.log(`targets: write efficiency >= ${TARGETS.writeEfficiencyMin}, read efficiency >= ${TARGETS.readEfficiencyMin}, ` +
    `put_4dev_p1 >= ${TARGETS.vsBtrfsRaid5WriteMin}x btrfs RAID5 write`);
  console.log(`measured: ${JSON.stringify(checks)}`);
}

export async function runArrayBench(options: ArrayBenchOptions = {}): Promise<BenchResult[]> {
  const settings = settingsFrom(options);
  const loops = loopDevicesUsable();
  const kind: DeviceKind = loops.usable ? 'loop' : 'image';
  const deviceNote = loops.usable
    ? `loop devices over files in ${RAM_DIRECTORY}`
    : `image files in ${RAM_DIRECTORY}, NOT loop devices (${loops.reason}); fio runs buffered (direct=0)`;
  if (!loops.usable) console.warn(`array bench: ${deviceNote}`);
  const uring = uringAvailable();
  const loadAverageAtStart = loadavg();
  if (loadAverageAtStart[0]! > 1) console.warn(`array bench: load average ${loadAverageAtStart[0]!.toFixed(1)} at start: other work will skew the numbers`);
  const rows: BenchResult[] = [];
  const files = makeLargeFiles(settings.fileCount, settings.fileBytes);
  for (const geometry of GEOMETRIES) rows.push(...await runGeometry(kind, geometry, files, settings));
  addRatios(rows);
  // CLI vs library and copying vs zero-copy calls, side by side (faces_bench.ts); ELASTRIPE_BENCH_FACES=0 skips them.
  if (process.env['ELASTRIPE_BENCH_FACES'] !== '0') {
    const faces = await runFacesBench(kind);
    printTable('array faces: CLI vs library, copying vs zero-copy calls (best of rounds)', faces, FACES_COLUMNS);
    rows.push(...faces);
  }
  printTable('array: 1 GiB as 16 x 64 MiB files, RAM-backed devices (efficiency = GB/s / (fio raw x k/(k+m)))', rows,
    ['case', 'impl', 'devices', 'parity', 'k', 'backend', 'dataGBps', 'opsPerSec', 'p50Us', 'p99Us', 'efficiency', 'vsFioRaw',
      'cpuSecondsPerGB', 'processCores', 'hostBusyCores', 'vsBtrfsRaid5', 'error']);
  const checks = targetChecks(rows);
  printFooter(checks, deviceNote);
  const path = writeResults('array', rows, {
    settings, seed: SEED, deviceKind: kind, deviceNote, loopUnavailableReason: loops.reason, uring,
    homeDirectory: RAM_DIRECTORY, geometries: GEOMETRIES, fio: { blockBytes: FIO_BLOCK_BYTES, iodepth: FIO_DEPTH, jobsPerDevice: 1 },
    loadAverageAtStart, loadAverageAtEnd: loadavg(), reference: BTRFS_RAID5_REFERENCE, targets: TARGETS, targetChecks: checks,
  });
  console.log(`\nwrote ${path}`);
  return rows;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  // fio measures the raw ceiling on loop devices, or on the image files where none can be made.
  await runBenchMain('array', [LINUX, FIO], () => runArrayBench());
}
