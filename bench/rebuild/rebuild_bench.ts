// npm run bench:rebuild — how fast a lost device is rebuilt, side by side in one run:
//
//  1. loop: RAM-backed loop devices (pre-touched). btrfs RAID5 (data raid5, metadata raid1) on
//     4 devices holding DATA, one device detached, mounted degraded and `btrfs replace`d onto a
//     5th; elastripe on the same 5 devices (groups 3+1), one device failed and `rebuild`
//     (distributed over the 4 survivors). Ratio: elastripe time / btrfs time (target ≤ 0.7).
//  2. nbd: 8 nbdkit memory devices behind the rate filter (RATE MB/s each); elastripe groups
//     1+1 and 2+1 (ELASTRIPE_REBUILD_NBD_WIDTHS), one device failed and rebuilt. Compared with the time one spare takes to be written
//     the lost bytes at that rate — computed (lost / rate) and measured (the same bytes written
//     to one more rate-limited nbdkit device). Target: rebuild ≤ 1/3 of the computed time.
//     Reconstructing a block reads k blocks, so a survivor reads k/(n-1) of the lost bytes:
//     only groups narrow against the device count (declustered) can beat one spare by 3x.
//  3. foreground: get throughput of the loop array idle, then while a rebuild runs beside it
//     (the job backs off by itself, no --rate). Target ≥ 0.5.
//
// Sizes by env (defaults modest, the machine is shared): ELASTRIPE_REBUILD_DEVICE_MIB (512),
// ELASTRIPE_REBUILD_DATA_MIB (768), ELASTRIPE_REBUILD_NBD_DEVICE_MIB (160),
// ELASTRIPE_REBUILD_NBD_DATA_MIB (384), ELASTRIPE_REBUILD_NBD_RATE_MBPS (25),
// ELASTRIPE_REBUILD_PARTS (loop,nbd,foreground). Writes bench/results/rebuild.json.
import { execFileSync } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { DiskArray } from '../../src/array/disk_array.js';
import { openDevice } from '../../src/devices/open_device.js';
import { startNbdkit, type NbdkitServer } from '../../test/helpers/nbdkit.js';
import { LoopDeviceSet } from '../../test/helpers/loop_devices.js';
import { BTRFS_PROGS, LINUX, LOOP_DEVICES, NBDKIT, ROOT, runBenchMain, type BenchPrerequisite } from '../common/prerequisites.js';
import { printTable, writeResults, type BenchResult } from '../common.js';
import { preTouch } from '../common/pre_touch.js';

const MIB = 1024 * 1024;
const env = (name: string, fallback: number): number => Number(process.env[`ELASTRIPE_REBUILD_${name}`] ?? fallback);
const SETTINGS = {
  deviceMiB: env('DEVICE_MIB', 512),
  dataMiB: env('DATA_MIB', 768),
  nbdDeviceMiB: env('NBD_DEVICE_MIB', 160),
  nbdDataMiB: env('NBD_DATA_MIB', 384),
  nbdRateMBps: env('NBD_RATE_MBPS', 25),
  /** Data blocks per group on the 8 NBD devices (1+1 is a declustered mirror). */
  nbdDataWidths: (process.env.ELASTRIPE_REBUILD_NBD_WIDTHS ?? '1,2').split(',').map(Number),
  /** Bucket of the rate filter in seconds of rate: short, so a burst does not flatter anyone. */
  nbdBurstSeconds: 0.25,
  fileMiB: 16,
  parts: (process.env.ELASTRIPE_REBUILD_PARTS ?? 'loop,nbd,foreground').split(','),
};
const TARGETS = { vsBtrfsReplaceMax: 0.7, vsOneSpareMax: 1 / 3, foregroundReadMin: 0.5 };
const RUNTIME = { arenaBytes: 256 * MIB } as const;

function progress(line: string): void {
  console.error(`bench:rebuild: ${line}`);
}

function sh(command: string, args: string[]): string {
  return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** What the parts asked for need from the machine. */
function prerequisitesOf(parts: readonly string[]): BenchPrerequisite[] {
  const needs = [LINUX, ROOT];
  if (parts.includes('loop') || parts.includes('foreground')) needs.push(LOOP_DEVICES);
  if (parts.includes('loop')) needs.push(BTRFS_PROGS);
  if (parts.includes('nbd')) needs.push(NBDKIT);
  return needs;
}

function makeFiles(totalMiB: number): { name: string; bytes: Buffer }[] {
  const count = Math.max(1, Math.round(totalMiB / SETTINGS.fileMiB));
  return Array.from({ length: count }, (_, i) => ({ name: `file-${String(i).padStart(4, '0')}`, bytes: randomFillSync(Buffer.allocUnsafe(SETTINGS.fileMiB * MIB)) }));
}

async function seconds(work: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await work();
  return (performance.now() - started) / 1000;
}

async function putAll(array: DiskArray, files: readonly { name: string; bytes: Buffer }[]): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: 4 }, async () => {
    while (next < files.length) {
      const file = files[next++]!;
      await array.put(file.name, file.bytes);
    }
  }));
}

async function verifyAll(array: DiskArray, files: readonly { name: string; bytes: Buffer }[]): Promise<void> {
  for (const file of files) if (!(await array.get(file.name)).equals(file.bytes)) throw new Error(`bench:rebuild: ${file.name} reads back wrong after the rebuild`);
  const problems = (await array.fsck({ deep: false })).problems;
  if (problems.length > 0) throw new Error(`bench:rebuild: fsck after the rebuild: ${problems.join('; ')}`);
}

/** Part 1, btrfs: RAID5 on 4 loop devices, one detached, `btrfs replace` onto a 5th. */
async function btrfsReplace(files: readonly { name: string; bytes: Buffer }[]): Promise<BenchResult> {
  const loops = new LoopDeviceSet();
  const mountPoint = join('/dev/shm', `elastripe-bench-btrfs-${process.pid}`);
  let mounted = false;
  try {
    const devices = Array.from({ length: 5 }, () => loops.create(SETTINGS.deviceMiB * MIB));
    preTouch(devices.map((device) => device.path), SETTINGS.deviceMiB * MIB);
    const members = devices.slice(0, 4).map((device) => device.path);
    sh('mkfs.btrfs', ['-f', '-q', '-d', 'raid5', '-m', 'raid1', ...members]);
    mkdirSync(mountPoint, { recursive: true });
    sh('mount', [members[0]!, mountPoint]);
    mounted = true;
    for (const file of files) writeFileSync(join(mountPoint, file.name), file.bytes);
    sh('sync', []);
    sh('umount', [mountPoint]);
    mounted = false;
    loops.detach(devices[3]!); // lost: devid 4 goes missing
    sh('mount', ['-o', 'degraded', members[0]!, mountPoint]);
    mounted = true;
    const usage = sh('btrfs', ['filesystem', 'show', mountPoint]);
    const elapsed = await seconds(async () => sh('btrfs', ['replace', 'start', '-B', '-f', '4', devices[4]!.path, mountPoint]));
    const lostBytes = Number(/devid\s+4\s+size\s+\S+\s+used\s+(\S+)/.exec(sh('btrfs', ['filesystem', 'show', '--raw', mountPoint]))?.[1] ?? NaN);
    return { case: 'rebuild_loop_5dev', impl: 'btrfs raid5 replace', seconds: elapsed, lostMiB: lostBytes / MIB, lostMBps: lostBytes / 1e6 / elapsed, note: usage.includes('missing') ? 'devid 4 missing' : '' };
  } finally {
    if (mounted) sh('umount', [mountPoint]);
    loops.destroyAll();
    execFileSync('rm', ['-rf', mountPoint]);
  }
}

/** Part 1, elastripe: the same 5 devices, groups 3+1, one failed and rebuilt over the survivors. */
async function elastripeLoopRebuild(files: readonly { name: string; bytes: Buffer }[], foreground: boolean): Promise<BenchResult[]> {
  const loops = new LoopDeviceSet();
  const home = join('/dev/shm', `elastripe-bench-rebuild-home-${process.pid}`);
  let array: DiskArray | undefined;
  try {
    const devices = Array.from({ length: 5 }, () => loops.create(SETTINGS.deviceMiB * MIB));
    preTouch(devices.map((device) => device.path), SETTINGS.deviceMiB * MIB);
    mkdirSync(home, { recursive: true });
    array = await DiskArray.create({ ...RUNTIME, home, devices: devices.map((device) => device.path), parityCount: 1, maxDataWidth: 3, force: true });
    await putAll(array, files);
    const rows: BenchResult[] = [];
    let idleMBps = 0;
    if (foreground) idleMBps = (await readFor(array, files, () => false, 3)).MBps;
    const lost = array.status().devices.find((device) => device.deviceId === 3)!.usedBytes;
    await array.failDevice(3);
    let done = false;
    const reading = foreground ? readFor(array, files, () => done, Infinity) : undefined;
    let report: Awaited<ReturnType<DiskArray['rebuild']>> | undefined;
    const elapsed = await seconds(async () => {
      report = await array!.rebuild();
    });
    done = true;
    const during = await reading;
    if (report!.problems.length > 0) throw new Error(`bench:rebuild: the rebuild left problems: ${report!.problems.join('; ')}`);
    await verifyAll(array, files);
    const spread = Object.values(report!.blocksByTargetDevice).length;
    if (!foreground) {
      rows.push({ case: 'rebuild_loop_5dev', impl: 'elastripe rebuild (3+1, distributed)', seconds: elapsed, lostMiB: lost / MIB, lostMBps: lost / 1e6 / elapsed, targets: spread, batches: report!.batches, commits: report!.commits, note: '' });
    } else {
      rows.push({ case: 'foreground_get_during_rebuild', impl: 'elastripe', seconds: elapsed, idleGetMBps: idleMBps, duringGetMBps: during!.MBps, vsIdle: during!.MBps / idleMBps, foregroundYields: report!.foregroundYields, note: `${during!.reads} gets during the rebuild` });
    }
    return rows;
  } finally {
    await array?.close().catch(() => undefined);
    loops.destroyAll();
    execFileSync('rm', ['-rf', home]);
  }
}

/** Gets files round robin (2 in flight) until `stop()` or `maxSeconds`; MB/s of what was read. */
async function readFor(array: DiskArray, files: readonly { name: string; bytes: Buffer }[], stop: () => boolean, maxSeconds: number): Promise<{ MBps: number; reads: number }> {
  const started = performance.now();
  let bytes = 0;
  let reads = 0;
  let next = 0;
  const over = () => stop() || (performance.now() - started) / 1000 >= maxSeconds;
  await Promise.all(Array.from({ length: 2 }, async () => {
    while (!over()) {
      const file = files[next++ % files.length]!;
      const got = await array.get(file.name);
      if (got.byteLength !== file.bytes.byteLength) throw new Error(`bench:rebuild: ${file.name} read ${got.byteLength} bytes`);
      bytes += got.byteLength;
      reads++;
    }
  }));
  return { MBps: bytes / 1e6 / ((performance.now() - started) / 1000), reads };
}

function rateParameters(): string[] {
  const bits = Math.round(SETTINGS.nbdRateMBps * 8e6);
  return [`rate=${bits}`, `burstiness=${SETTINGS.nbdBurstSeconds}`];
}

/** Part 2: 8 rate-limited nbdkit devices, groups k+1, one failed and rebuilt; against one spare. */
async function nbdRebuild(dataWidth: number): Promise<BenchResult[]> {
  const servers: NbdkitServer[] = [];
  const home = join('/dev/shm', `elastripe-bench-nbd-home-${process.pid}`);
  let array: DiskArray | undefined;
  try {
    progress(`nbd ${dataWidth}+1: starting 9 nbdkit servers`);
    for (let i = 0; i < 9; i++) {
      servers.push(await startNbdkit({ plugin: 'memory', parameters: [`size=${SETTINGS.nbdDeviceMiB}M`, ...rateParameters()], filters: ['rate'] }));
    }
    // The spare stays in `servers`, so the finally below stops it too (a server left running
    // kept the bench's process from exiting).
    const spare = servers[8]!;
    const arrayServers = servers.slice(0, 8);
    mkdirSync(home, { recursive: true });
    array = await DiskArray.create({ ...RUNTIME, home, devices: arrayServers.map((server) => server.url), parityCount: 1, maxDataWidth: dataWidth, force: true });
    const files = makeFiles(SETTINGS.nbdDataMiB);
    progress(`nbd ${dataWidth}+1: putting ${SETTINGS.nbdDataMiB} MiB`);
    await putAll(array, files);
    progress(`nbd ${dataWidth}+1: rebuilding`);
    const lost = array.status().devices.find((device) => device.deviceId === 5)!.usedBytes;
    await array.failDevice(5);
    await new Promise((resolve) => setTimeout(resolve, 1000)); // every bucket in the same state
    let report: Awaited<ReturnType<DiskArray['rebuild']>> | undefined;
    const elapsed = await seconds(async () => {
      report = await array!.rebuild();
    });
    if (report!.problems.length > 0) throw new Error(`bench:rebuild: the NBD rebuild left problems: ${report!.problems.join('; ')}`);
    const sources = readSpread(report!.blocksReadByDevice);
    await verifyAll(array, files);
    const spareSeconds = await writeToOneSpare(spare.url, lost);
    const computedSpareSeconds = lost / (SETTINGS.nbdRateMBps * 1e6);
    return [
      { case: `rebuild_nbd_8dev_rate_${dataWidth}+1`, impl: `elastripe rebuild (${dataWidth}+1, distributed)`, seconds: elapsed, lostMiB: lost / MIB, lostMBps: lost / 1e6 / elapsed, targets: Object.keys(report!.blocksByTargetDevice).length, batches: report!.batches, vsOneSpareComputed: elapsed / computedSpareSeconds, vsOneSpareMeasured: elapsed / spareSeconds, readFromDevices: sources.devices, busiestSourceShare: sources.busiestShare, note: `${SETTINGS.nbdRateMBps} MB/s per device; even reads would bound the ratio at ${dataWidth}/7 = ${(dataWidth / 7).toFixed(2)}, the busiest source at ${(sources.busiestShare * dataWidth).toFixed(2)}` },
      { case: `rebuild_nbd_8dev_rate_${dataWidth}+1`, impl: 'one spare, computed (lost / rate)', seconds: computedSpareSeconds, lostMiB: lost / MIB, lostMBps: SETTINGS.nbdRateMBps, note: '' },
      { case: `rebuild_nbd_8dev_rate_${dataWidth}+1`, impl: 'one spare, measured (lost bytes written)', seconds: spareSeconds, lostMiB: lost / MIB, lostMBps: lost / 1e6 / spareSeconds, note: '1 MiB writes, 8 in flight, then a flush' },
    ];
  } finally {
    await array?.close().catch(() => undefined);
    for (const server of servers) await server.stop();
    execFileSync('rm', ['-rf', home]);
  }
}

/**
 * Which survivors the rebuild read from (the job counts every extent it read, per device) and
 * the busiest one's share of those reads: the rebuild cannot beat that device's rate.
 */
function readSpread(blocksReadByDevice: Record<number, number>): { devices: number; busiestShare: number } {
  const reads = Object.values(blocksReadByDevice);
  const total = reads.reduce((sum, n) => sum + n, 0);
  return { devices: reads.length, busiestShare: total > 0 ? Math.max(...reads) / total : 0 };
}

/** Writes `bytes` to one rate-limited device (1 MiB writes, 8 in flight) and flushes; seconds. */
async function writeToOneSpare(url: string, bytes: number): Promise<number> {
  const device = await openDevice(url);
  try {
    const chunk = randomFillSync(Buffer.allocUnsafe(MIB));
    const chunks = Math.ceil(bytes / MIB);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    return await seconds(async () => {
      let next = 0;
      await Promise.all(Array.from({ length: 8 }, async () => {
        while (next < chunks) {
          const index = next++;
          await device.write([{ startLb: 1 + index * (MIB / 4096), lengthLb: MIB / 4096 }], [chunk]);
        }
      }));
      await device.flush();
    });
  } finally {
    await device.close();
  }
}

export async function runRebuildBench(): Promise<BenchResult[]> {
  const loadAverageAtStart = loadavg();
  if (loadAverageAtStart[0]! > 1) console.warn(`bench:rebuild: load average ${loadAverageAtStart[0]!.toFixed(1)} at start: other work will skew the numbers`);
  const rows: BenchResult[] = [];
  if (SETTINGS.parts.includes('loop') || SETTINGS.parts.includes('foreground')) {
    const files = makeFiles(SETTINGS.dataMiB);
    if (SETTINGS.parts.includes('loop')) {
      const btrfs = await btrfsReplace(files);
      const [ours] = await elastripeLoopRebuild(files, false);
      ours!.vsBtrfs = (ours!.seconds as number) / (btrfs.seconds as number);
      rows.push(btrfs, ours!);
    }
    if (SETTINGS.parts.includes('foreground')) rows.push(...(await elastripeLoopRebuild(files, true)));
  }
  if (SETTINGS.parts.includes('nbd')) for (const width of SETTINGS.nbdDataWidths) rows.push(...(await nbdRebuild(width)));
  printTable(`rebuild of one lost device (${SETTINGS.deviceMiB} MiB loop devices holding ${SETTINGS.dataMiB} MiB; ${SETTINGS.nbdDeviceMiB} MiB nbd devices at ${SETTINGS.nbdRateMBps} MB/s holding ${SETTINGS.nbdDataMiB} MiB)`, rows,
    ['case', 'impl', 'seconds', 'lostMiB', 'lostMBps', 'targets', 'batches', 'vsBtrfs', 'vsOneSpareComputed', 'vsOneSpareMeasured', 'readFromDevices', 'busiestSourceShare', 'idleGetMBps', 'duringGetMBps', 'vsIdle', 'foregroundYields', 'note']);
  const checks = {
    vsBtrfsReplace: rows.find((row) => row.vsBtrfs !== undefined)?.vsBtrfs,
    vsOneSpare: Object.fromEntries(rows.filter((row) => row.vsOneSpareComputed !== undefined).map((row) => [row.case, row.vsOneSpareComputed])),
    foregroundReadVsIdle: rows.find((row) => row.vsIdle !== undefined)?.vsIdle,
  };
  console.log(`\ntargets: rebuild <= ${TARGETS.vsBtrfsReplaceMax}x btrfs replace, distributed rebuild <= ${TARGETS.vsOneSpareMax.toFixed(3)}x one spare, foreground gets >= ${TARGETS.foregroundReadMin}x idle`);
  console.log(`measured: ${JSON.stringify(checks)}`);
  const path = writeResults('rebuild', rows, { settings: SETTINGS, targets: TARGETS, checks, loadAverageAtStart, loadAverageAtEnd: loadavg() });
  console.log(`\nwrote ${path}`);
  return rows;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await runBenchMain('rebuild', prerequisitesOf(SETTINGS.parts), () => runRebuildBench());
}
