// Device I/O benchmark: the uring backend, the fs backend and fio (ioengine=io_uring, direct)
// side by side, on the same loop devices at the same queue depth, backed by RAM (/dev/shm)
// and by disk (/var/tmp, loop with direct I/O). Cases are named by geometry:
//   seq_write_1MiB_qd16, seq_read_1MiB_qd16, randread_4KiB_qd32   (depth per device)
// over 1 and over 4 devices. One thread, one ring for elastripe; one fio job with all devices
// as its files and the total depth, so both sides drive one ring. Writes bench/results/io.json.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { LB_BYTES } from '../../src/constants.js';
import type { Device } from '../../src/devices/device.js';
import { openFsDevice } from '../../src/devices/fs_device.js';
import { uringAvailable } from '../../src/devices/uring_native.js';
import { openUringDevice } from '../../src/devices/uring_device.js';
import { LoopDeviceSet, loopDevicesAvailable, type LoopDevice } from '../../test/helpers/loop_devices.js';
import { printTable, writeResults, type BenchResult, xorshift32 } from '../common.js';
import { FIO, LINUX, LOOP_DEVICES, NBDKIT, ROOT, runBenchMain, type BenchPrerequisite } from '../common/prerequisites.js';

const execFileAsync = promisify(execFile);

// lib ES2022 + @types/node 20 declare no WebAssembly namespace; at run time it is Node's global.
declare const WebAssembly: {
  Memory: new (descriptor: { initial: number; maximum: number; shared: true }) => { readonly buffer: SharedArrayBuffer };
};

export interface IoCase {
  name: string;
  mode: 'write' | 'read' | 'randread';
  blockBytes: number;
  depthPerDevice: number;
}

export const IO_CASES: readonly IoCase[] = [
  { name: 'seq_write_1MiB_qd16', mode: 'write', blockBytes: 1 << 20, depthPerDevice: 16 },
  { name: 'seq_read_1MiB_qd16', mode: 'read', blockBytes: 1 << 20, depthPerDevice: 16 },
  { name: 'randread_4KiB_qd32', mode: 'randread', blockBytes: 4096, depthPerDevice: 32 },
];

interface Backing {
  name: 'ram' | 'disk';
  directory: string;
  deviceBytes: number;
  directIo: boolean;
}

const BACKINGS: readonly Backing[] = [
  { name: 'ram', directory: '/dev/shm', deviceBytes: 512 << 20, directIo: false },
  { name: 'disk', directory: '/var/tmp', deviceBytes: 256 << 20, directIo: true },
];
const DEVICE_COUNTS = [1, 4] as const;
const MEASURE_SECONDS_DEFAULT = 1.5;
/** Each implementation runs this many times, in alternating order; the best run is kept
 *  (a 2-core machine shared with other work is noisy, and noise only ever slows a run). */
const ROUNDS_DEFAULT = 2;
const WARMUP_SECONDS = 0.5;
const SEED = 0x10be9c4;
/** Arena for every buffer in flight: 4 devices x depth 16 x 1 MiB, plus room. */
const ARENA_PAGES = (80 << 20) / 65536;

interface Measurement {
  bytes: number;
  ops: number;
  seconds: number;
  p50Us: number;
  p99Us: number;
}


function percentile(sorted: Float64Array, fraction: number): number {
  return sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * fraction))]!;
}

/** Keeps depthPerDevice requests in flight on every device until the deadline. */
async function drive(devices: Device[], ioCase: IoCase, arena: Uint8Array, seconds: number, record: boolean): Promise<Measurement> {
  const blockLb = ioCase.blockBytes / LB_BYTES;
  const next = xorshift32(SEED);
  const latenciesUs: number[] = [];
  let ops = 0;
  const started = performance.now();
  const deadline = started + seconds * 1000;
  const streams = devices.flatMap((device, d) => {
    const blocks = Math.floor(device.sizeBytes / ioCase.blockBytes);
    let cursor = 0; // sequential cases: the streams of one device share one advancing cursor
    return Array.from({ length: ioCase.depthPerDevice }, async (_, q) => {
      const slot = (d * ioCase.depthPerDevice + q) * ioCase.blockBytes;
      const buffer = arena.subarray(slot, slot + ioCase.blockBytes);
      while (performance.now() < deadline) {
        const block = ioCase.mode === 'randread' ? next() % blocks : cursor++ % blocks;
        const extent = [{ startLb: block * blockLb, lengthLb: blockLb }];
        const t0 = performance.now();
        await (ioCase.mode === 'write' ? device.write(extent, [buffer]) : device.read(extent, [buffer]));
        const t1 = performance.now();
        // Like fio, count what completed inside the window; the drain after it is not timed.
        if (t1 > deadline) break;
        if (record) latenciesUs.push((t1 - t0) * 1000);
        ops++;
      }
    });
  });
  await Promise.all(streams);
  // Writes count once durable: the buffered fs backend must flush what it cached.
  const flushStarted = performance.now();
  if (ioCase.mode === 'write') await Promise.all(devices.map((device) => device.flush()));
  const elapsed = (deadline - started + (performance.now() - flushStarted)) / 1000;
  const sorted = Float64Array.from(latenciesUs).sort();
  return { bytes: ops * ioCase.blockBytes, ops, seconds: elapsed, p50Us: percentile(sorted, 0.5), p99Us: percentile(sorted, 0.99) };
}

type Opener = (path: string) => Promise<Device>;

/** Drops the loop devices' page cache, so no implementation reads what another one cached. */
async function dropDeviceCaches(loops: readonly LoopDevice[]): Promise<void> {
  for (const loop of loops) await execFileAsync('blockdev', ['--flushbufs', loop.path]);
}

/** Writes every byte once (unmeasured), so no case pays for allocating the backing file. */
async function prefill(loops: readonly LoopDevice[]): Promise<void> {
  for (const loop of loops) {
    await execFileAsync('fio', ['--name=prefill', `--filename=${loop.path}`, '--ioengine=io_uring', '--direct=1',
      '--rw=write', '--bs=1M', '--iodepth=16', '--output-format=terse']);
  }
}

async function runImpl(open: Opener, loops: readonly LoopDevice[], ioCase: IoCase, arena: Uint8Array, seconds: number): Promise<Measurement> {
  const devices: Device[] = [];
  await dropDeviceCaches(loops);
  try {
    for (const loop of loops) devices.push(await open(loop.path));
    await drive(devices, ioCase, arena, WARMUP_SECONDS, false);
    return await drive(devices, ioCase, arena, seconds, true);
  } finally {
    for (const device of devices) await device.close();
  }
}

interface FioSide {
  bw_bytes: number;
  iops: number;
  clat_ns?: { percentile?: Record<string, number> };
}

async function runFio(loops: readonly LoopDevice[], ioCase: IoCase, seconds: number): Promise<Measurement> {
  await dropDeviceCaches(loops);
  const args = [
    '--name=elastripe', `--filename=${loops.map((loop) => loop.path).join(':')}`, '--ioengine=io_uring',
    '--direct=1', '--fixedbufs=1', `--rw=${ioCase.mode}`, `--bs=${ioCase.blockBytes}`,
    `--iodepth=${ioCase.depthPerDevice * loops.length}`, '--file_service_type=roundrobin', '--time_based',
    `--runtime=${Math.round(seconds * 1000)}ms`, `--ramp_time=${Math.round(WARMUP_SECONDS * 1000)}ms`, '--norandommap',
    '--randrepeat=0', '--group_reporting', '--output-format=json',
  ];
  const { stdout } = await execFileAsync('fio', args, { maxBuffer: 64 << 20 });
  const job = (JSON.parse(stdout.slice(stdout.indexOf('{'))) as { jobs: { read: FioSide; write: FioSide }[] }).jobs[0]!;
  const side = ioCase.mode === 'write' ? job.write : job.read;
  const percentiles = side.clat_ns?.percentile ?? {};
  return {
    bytes: side.bw_bytes * seconds,
    ops: side.iops * seconds,
    seconds,
    p50Us: (percentiles['50.000000'] ?? 0) / 1000,
    p99Us: (percentiles['99.000000'] ?? 0) / 1000,
  };
}

function toRow(ioCase: IoCase, impl: string, loops: readonly LoopDevice[], backing: Backing, measured: Measurement): BenchResult {
  const row: BenchResult = { case: ioCase.name, impl, devices: loops.length, backing: backing.name };
  if (ioCase.mode === 'randread') row.opsPerSec = Math.round(measured.ops / measured.seconds);
  else row.dataGBps = measured.bytes / measured.seconds / 1e9;
  row.p50Us = Math.round(measured.p50Us);
  row.p99Us = Math.round(measured.p99Us);
  return row;
}

function better(ioCase: IoCase, a: Measurement | undefined, b: Measurement): Measurement {
  if (!a) return b;
  const rate = (m: Measurement) => (ioCase.mode === 'randread' ? m.ops : m.bytes) / m.seconds;
  return rate(b) > rate(a) ? b : a;
}

async function measureCase(
  impls: [string, () => Promise<Measurement>][], ioCase: IoCase, loops: readonly LoopDevice[], backing: Backing, rounds: number,
): Promise<BenchResult[]> {
  const best = new Map<string, Measurement>();
  const errors = new Map<string, string>();
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? impls : [...impls].reverse();
    for (const [impl, run] of order) {
      if (errors.has(impl)) continue;
      try {
        best.set(impl, better(ioCase, best.get(impl), await run()));
      } catch (error) {
        errors.set(impl, (error as Error).message.split('\n')[0]!);
      }
    }
  }
  const rows = impls.map(([impl]): BenchResult => {
    const measured = best.get(impl);
    if (!measured) return { case: ioCase.name, impl, devices: loops.length, backing: backing.name, error: errors.get(impl) };
    return { ...toRow(ioCase, impl, loops, backing, measured), rounds };
  });
  const fio = rows.find((row) => row.impl === 'fio' && !row.error);
  const metric = ioCase.mode === 'randread' ? 'opsPerSec' : 'dataGBps';
  for (const row of rows) {
    if (fio && !row.error && row.impl !== 'fio') row.vsFio = Number(((row[metric] as number) / (fio[metric] as number)).toFixed(3));
  }
  return rows;
}

interface IoBenchOptions {
  /** Measured seconds per run. */
  seconds?: number;
  rounds?: number;
  /** Subsets, e.g. from ELASTRIPE_IO_BACKINGS=ram, ELASTRIPE_IO_DEVICES=1, ELASTRIPE_IO_IMPLS=uring,fio. */
  backings?: string[];
  deviceCounts?: number[];
  impls?: string[];
}

async function runBackingGroup(backing: Backing, deviceCount: number, arena: Uint8Array, options: Required<IoBenchOptions>): Promise<BenchResult[]> {
  const { seconds, rounds } = options;
  const set = new LoopDeviceSet();
  const rows: BenchResult[] = [];
  try {
    const loops = Array.from({ length: deviceCount }, () =>
      set.create(backing.deviceBytes, { directory: backing.directory, directIo: backing.directIo }));
    await prefill(loops);
    const openUring: Opener = (path) => openUringDevice(path, { registeredMemory: arena, exclusive: true });
    const openFs: Opener = (path) => openFsDevice(path, { exclusive: true });
    for (const ioCase of IO_CASES) {
      const impls: [string, () => Promise<Measurement>][] = [
        ['uring', () => runImpl(openUring, loops, ioCase, arena, seconds)],
        ['fs', () => runImpl(openFs, loops, ioCase, arena, seconds)],
        ['fio', () => runFio(loops, ioCase, seconds)],
      ];
      rows.push(...await measureCase(impls.filter(([impl]) => options.impls.includes(impl)), ioCase, loops, backing, rounds));
    }
  } finally {
    set.destroyAll();
  }
  return rows;
}

/** The NBD rows, from ./nbd_case.js when its owner has written it. */
async function nbdRows(): Promise<BenchResult[]> {
  const modulePath = fileURLToPath(new URL('./nbd_case.js', import.meta.url));
  if (!existsSync(modulePath)) return [];
  const specifier = pathToFileURL(modulePath).href;
  const module = (await import(specifier)) as { runNbdCases?: () => Promise<BenchResult[]> };
  return module.runNbdCases ? module.runNbdCases() : [];
}

function listFromEnv(name: string): string[] | undefined {
  const value = process.env[name];
  return value ? value.split(',').map((item) => item.trim()) : undefined;
}

export async function runIoBench(options: IoBenchOptions = {}): Promise<BenchResult[]> {
  const resolved: Required<IoBenchOptions> = {
    seconds: options.seconds ?? Number(process.env.ELASTRIPE_BENCH_SECONDS ?? MEASURE_SECONDS_DEFAULT),
    rounds: options.rounds ?? Number(process.env.ELASTRIPE_BENCH_ROUNDS ?? ROUNDS_DEFAULT),
    backings: options.backings ?? listFromEnv('ELASTRIPE_IO_BACKINGS') ?? BACKINGS.map((backing) => backing.name),
    deviceCounts: options.deviceCounts ?? listFromEnv('ELASTRIPE_IO_DEVICES')?.map(Number) ?? [...DEVICE_COUNTS],
    impls: options.impls ?? listFromEnv('ELASTRIPE_IO_IMPLS') ?? ['uring', 'fs', 'fio'],
  };
  const uring = uringAvailable();
  const loops = loopDevicesAvailable();
  const rows: BenchResult[] = [];
  if (!uring.available) console.warn(`io bench: uring unavailable (${uring.reason}); its rows carry the reason`);
  if (!loops.available) {
    rows.push({ case: '*', impl: '*', error: `loop devices unavailable: ${loops.reason}` });
  } else {
    const memory = new WebAssembly.Memory({ initial: ARENA_PAGES, maximum: ARENA_PAGES, shared: true });
    const arena = new Uint8Array(memory.buffer);
    for (const backing of BACKINGS.filter((b) => resolved.backings.includes(b.name))) {
      for (const deviceCount of resolved.deviceCounts) rows.push(...await runBackingGroup(backing, deviceCount, arena, resolved));
    }
  }
  if (process.env.ELASTRIPE_IO_SKIP_NBD !== '1') rows.push(...await nbdRows());
  printTable('device I/O (depth per device; vsFio = uring or fs / fio)', rows,
    ['case', 'backing', 'devices', 'impl', 'dataGBps', 'opsPerSec', 'p50Us', 'p99Us', 'vsFio', 'rounds', 'error']);
  const path = writeResults('io', rows, { ...resolved, warmupSeconds: WARMUP_SECONDS, seed: SEED, cases: IO_CASES });
  console.log(`\nwrote ${path}`);
  return rows;
}

/** What the io bench needs: loop devices (root), fio unless ELASTRIPE_IO_IMPLS leaves it out, nbdkit unless ELASTRIPE_IO_SKIP_NBD=1. */
export function ioBenchPrerequisites(): BenchPrerequisite[] {
  const needs = [LINUX, ROOT, LOOP_DEVICES];
  if ((listFromEnv('ELASTRIPE_IO_IMPLS') ?? ['fio']).includes('fio')) needs.push(FIO);
  if (process.env.ELASTRIPE_IO_SKIP_NBD !== '1') needs.push(NBDKIT);
  return needs;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await runBenchMain('io', ioBenchPrerequisites(), () => runIoBench());
}
