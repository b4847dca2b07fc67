// Growth benchmark: an array of 4 RAM-backed loop devices holding data gets a 5th device, and
// the one expand job (in-place combine + rebalance) moves it onto the new device — beside btrfs
// RAID5 (-d raid5 -m raid5) on the same kind of devices in the same run doing `device add` and a
// full `balance`. Also the foreground read and put throughput while an expand runs, against idle.
//
//   npm run bench:grow
//   ELASTRIPE_GROW_DEVICE_MIB=2048 ELASTRIPE_GROW_DATA_MIB=3072 npm run bench:grow   (the size)
//
// Defaults are smaller (4 x 512 MiB holding 768 MiB: the 3/8 fill) so it runs in a
// couple of minutes on a shared machine. Backing files live in /dev/shm and are written
// through before anything is timed (pre-touched), so no timing pays for tmpfs page allocation.
// Writes bench/results/grow.json. Target: expand time <= 0.5 x btrfs add + balance.
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { DiskArray } from '../../src/array/disk_array.js';
import { printTable, writeResults, type BenchResult } from '../common.js';
import { BTRFS_PROGS, LOOP_DEVICES, LINUX, ROOT, runBenchMain } from '../common/prerequisites.js';
import { BenchDeviceSet } from '../array/bench_devices.js';
import { preTouch } from '../common/pre_touch.js';

const MIB = 1 << 20;
const FILE_BYTES = 64 * MIB;
const TARGET_RATIO_MAX = 0.5;
/** Issue 8: foreground puts and gets during a job keep at least half their idle throughput. */
const FOREGROUND_RATIO_MIN = 0.5;

export interface GrowBenchOptions {
  deviceBytes: number;
  dataBytes: number;
}

function optionsFromEnv(): GrowBenchOptions {
  const mib = (name: string, fallback: number) => {
    const raw = process.env[name];
    const value = raw === undefined ? fallback : Number(raw);
    if (!Number.isInteger(value) || value <= 0) throw new Error(`${name} must be a whole number of MiB, not '${raw}'`);
    return value * MIB;
  };
  return { deviceBytes: mib('ELASTRIPE_GROW_DEVICE_MIB', 512), dataBytes: mib('ELASTRIPE_GROW_DATA_MIB', 768) };
}

/** File contents: distinct, incompressible enough, generated once and reused by both systems. */
function fileContent(index: number, sizeBytes: number): Buffer {
  const content = Buffer.allocUnsafe(sizeBytes);
  let state = (0x9e3779b9 ^ (index * 0x85ebca6b)) >>> 0 || 1;
  for (let offset = 0; offset + 4 <= sizeBytes; offset += 4) {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    content.writeUInt32LE(state, offset);
  }
  return content;
}

function fileSizes(dataBytes: number): number[] {
  const sizes: number[] = [];
  for (let left = dataBytes; left > 0; left -= FILE_BYTES) sizes.push(Math.min(FILE_BYTES, left));
  return sizes;
}

interface Devices {
  set: BenchDeviceSet;
  paths: string[];
}

function makeDevices(count: number, sizeBytes: number): Devices {
  const set = new BenchDeviceSet('loop');
  const paths = set.create(count, sizeBytes);
  const backing = paths.map((path) => execFileSync('losetup', ['--noheadings', '--output', 'BACK-FILE', path], { encoding: 'utf8' }).trim());
  preTouch(backing, sizeBytes);
  set.flushBuffers(paths);
  return { set, paths };
}

/** What the foreground does while the expand runs: nothing, whole-file reads, or puts. */
type ForegroundLoad = 'none' | 'reads' | 'puts';

/** elastripe: fill 4 devices, add a 5th with the expand; optionally read or put files meanwhile. */
async function elastripeRun(options: GrowBenchOptions, load: ForegroundLoad): Promise<Record<string, number>> {
  const { set, paths } = makeDevices(5, options.deviceBytes);
  try {
    const home = set.tempDirectory('elastripe-grow-home-');
    const array = await DiskArray.create({ home, devices: paths.slice(0, 4), parityCount: 1 });
    try {
      const sizes = fileSizes(options.dataBytes);
      for (const [i, size] of sizes.entries()) await array.put(`f${i}`, fileContent(i, size));
      const readTarget = Buffer.allocUnsafe(FILE_BYTES);
      const readOnce = async (i: number) => array.readInto(`f${i % sizes.length}`, readTarget);
      // A put of a new file, then its delete, so the load never adds to what the expand moves.
      const putSource = fileContent(sizes.length, FILE_BYTES);
      const putOnce = async (i: number) => {
        const stat = await array.put(`load${i}`, putSource);
        await array.delete(`load${i}`);
        return stat.sizeBytes;
      };
      const foreground = load === 'puts' ? putOnce : readOnce;
      // Idle throughput of the same operation, over as many files as the array holds.
      let idleBytes = 0;
      const idleStart = performance.now();
      if (load !== 'none') for (let i = 0; i < sizes.length; i++) idleBytes += await foreground(i);
      const idleGBps = idleBytes / 1e9 / ((performance.now() - idleStart) / 1000);
      const start = performance.now();
      let done = false;
      const adding = array.addDevice(paths[4]!).finally(() => (done = true));
      let loadBytes = 0;
      let loadMs = 0;
      if (load !== 'none') {
        const loadStart = performance.now();
        for (let i = 0; !done; i++) loadBytes += await foreground(i);
        loadMs = performance.now() - loadStart;
      }
      const added = await adding;
      const seconds = (performance.now() - start) / 1000;
      const report = added.expand!;
      if (report.problems.length > 0) throw new Error(`expand left problems: ${report.problems.join('; ')}`);
      const fsck = await array.fsck();
      if (!fsck.ok) throw new Error(`fsck after expand: ${fsck.problems.join('; ')}`);
      const fractions = array.status().devices.map((device) => device.usedFraction);
      return {
        seconds,
        ...(load === 'none' ? {} : { idleGBps, loadGBps: loadBytes / 1e9 / (loadMs / 1000) }),
        readBytes: report.readBytes,
        writtenBytes: report.writtenBytes,
        combineMovedBlocks: report.combine.movedBlocks,
        rebalanceMovedBlocks: report.rebalance.movedBlocks,
        combinedGroups: report.combine.combinedGroups,
        newGroups: report.combine.newGroups,
        usageSpread: Math.max(...fractions) - Math.min(...fractions),
      };
    } finally {
      await array.close();
    }
  } finally {
    set.destroyAll();
  }
}

/** btrfs RAID5 (data and metadata) on the same kind of devices: device add + full balance. */
async function btrfsRun(options: GrowBenchOptions): Promise<Record<string, number>> {
  const { set, paths } = makeDevices(5, options.deviceBytes);
  const mountPoint = set.tempDirectory('elastripe-grow-btrfs-');
  let mounted = false;
  try {
    execFileSync('mkfs.btrfs', ['-f', '-q', '-d', 'raid5', '-m', 'raid5', ...paths.slice(0, 4)], { stdio: 'pipe' });
    mkdirSync(mountPoint, { recursive: true });
    execFileSync('mount', ['-t', 'btrfs', paths[0]!, mountPoint], { stdio: 'pipe' });
    mounted = true;
    for (const [i, size] of fileSizes(options.dataBytes).entries()) await writeFile(join(mountPoint, `f${i}`), fileContent(i, size));
    execFileSync('sync', ['-f', mountPoint]);
    const start = performance.now();
    execFileSync('btrfs', ['device', 'add', '-f', paths[4]!, mountPoint], { stdio: 'pipe' });
    const addSeconds = (performance.now() - start) / 1000;
    execFileSync('btrfs', ['balance', 'start', '--full-balance', mountPoint], { stdio: 'pipe' });
    const seconds = (performance.now() - start) / 1000;
    return { seconds, addSeconds, balanceSeconds: seconds - addSeconds };
  } finally {
    if (mounted) execFileSync('umount', [mountPoint], { stdio: 'pipe' });
    rmSync(mountPoint, { recursive: true, force: true });
    set.destroyAll();
  }
}

export async function runGrowBench(options: GrowBenchOptions = optionsFromEnv()): Promise<void> {
  const geometry = `4x${options.deviceBytes / MIB}MiB_p1_${options.dataBytes / MIB}MiB`;
  console.log(`grow: ${geometry}, adding a 5th device (RAM-backed loop devices, pre-touched)`);
  const elastripe = await elastripeRun(options, 'none');
  const btrfs = await btrfsRun(options);
  const reading = await elastripeRun(options, 'reads');
  const putting = await elastripeRun(options, 'puts');
  const ratio = elastripe.seconds! / btrfs.seconds!;
  const readRatio = reading.loadGBps! / reading.idleGBps!;
  const putRatio = putting.loadGBps! / putting.idleGBps!;
  const results: BenchResult[] = [
    { case: `add_expand_${geometry}`, impl: 'elastripe add (expand: combine + rebalance)', ...elastripe, dataGBps: options.dataBytes / 1e9 / elastripe.seconds! },
    { case: `add_expand_${geometry}`, impl: 'btrfs raid5 device add + balance --full-balance', ...btrfs, dataGBps: options.dataBytes / 1e9 / btrfs.seconds! },
    { case: `read_during_expand_${geometry}`, impl: 'elastripe readInto during expand', dataGBps: reading.loadGBps!, idleGBps: reading.idleGBps!, expandSeconds: reading.seconds! },
    { case: `put_during_expand_${geometry}`, impl: 'elastripe put (+ delete) during expand', dataGBps: putting.loadGBps!, idleGBps: putting.idleGBps!, expandSeconds: putting.seconds! },
  ];
  printTable('grow: add a 5th device', results, ['case', 'impl', 'seconds', 'dataGBps', 'readBytes', 'writtenBytes', 'newGroups', 'combineMovedBlocks', 'rebalanceMovedBlocks', 'usageSpread', 'addSeconds', 'balanceSeconds', 'idleGBps']);
  console.log(`expand / btrfs add+balance: ${ratio.toFixed(2)}x (target <= ${TARGET_RATIO_MAX}x) ${ratio <= TARGET_RATIO_MAX ? 'MET' : 'NOT MET'}`);
  console.log(`foreground reads during expand: ${(readRatio * 100).toFixed(0)}% of idle (${reading.loadGBps!.toFixed(2)} vs ${reading.idleGBps!.toFixed(2)} GB/s)`);
  console.log(`foreground puts during expand: ${(putRatio * 100).toFixed(0)}% of idle (${putting.loadGBps!.toFixed(2)} vs ${putting.idleGBps!.toFixed(2)} GB/s; target >= ${FOREGROUND_RATIO_MIN * 100}%)`);
  const path = writeResults('grow', results, {
    ratios: { expandVsBtrfs: ratio, readDuringExpandVsIdle: readRatio, putDuringExpandVsIdle: putRatio },
    targets: { expandVsBtrfsMax: TARGET_RATIO_MAX, foregroundVsIdleMin: FOREGROUND_RATIO_MIN },
    options,
  });
  console.log(`wrote ${path}`);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  await runBenchMain('grow', [LINUX, ROOT, LOOP_DEVICES, BTRFS_PROGS], () => runGrowBench());
}
