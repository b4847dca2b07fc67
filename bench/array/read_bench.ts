// Reads and writes against btrfs RAID5 on the very same RAM-backed loop devices, in one run:
// elastripe (parity 1) put and readInto (into a pre-touched buffer) beside btrfs RAID5 (data
// raid5, metadata raid1) written and read by fio with 1 MiB requests at depth 16, direct
// (O_DIRECT) and buffered (writes end with fsync; reads start with the file's cache dropped,
// fio's invalidate=1). readInto runs into a plain pre-touched Buffer (one copy out of the
// arena) and into an arena buffer from allocBuffer (read in place, no copy). Rounds alternate elastripe and btrfs on freshly made file systems and
// arrays; each round's ratios come from that round alone. `npm run bench:read`, writes
// bench/results/read.json. ELASTRIPE_BENCH_READ_MIB (file size, default 512),
// ELASTRIPE_BENCH_ROUNDS (default 3).
import { execFileSync } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { DiskArray } from '../../src/array/disk_array.js';
import { printTable, writeResults, type BenchResult } from '../common.js';
import { BTRFS_PROGS, FIO, LOOP_DEVICES, ROOT, runBenchMain } from '../common/prerequisites.js';
import { BenchDeviceSet, RAM_DIRECTORY } from './bench_devices.js';
import { prefillDevices } from './fio_raw.js';
import { timed } from './workload.js';

const MIB = 1 << 20;
const DEVICE_COUNT = 4;
const FIO_DEPTH = 16;

interface Settings {
  fileBytes: number;
  rounds: number;
}

function settings(): Settings {
  const env = (name: string, fallback: number) => (process.env[name] ? Number(process.env[name]) : fallback);
  return { fileBytes: env('ELASTRIPE_BENCH_READ_MIB', 512) * MIB, rounds: env('ELASTRIPE_BENCH_ROUNDS', 3) };
}

/** Room for the file under RAID5 on 4 devices (k = 3) plus metadata, either way. */
function deviceBytesFor(fileBytes: number): number {
  return Math.ceil((fileBytes / (DEVICE_COUNT - 1)) * 2 / MIB + 256) * MIB;
}

function rate(bytes: number, elapsedMs: number): number {
  return bytes / 1e9 / (elapsedMs / 1000);
}

/** elastripe on the devices: put the file, then readInto a pre-touched buffer (twice; both rows). */
async function elastripeRound(set: BenchDeviceSet, paths: string[], source: Buffer, target: Buffer, round: number): Promise<BenchResult[]> {
  const home = set.tempDirectory('elastripe-read-home-');
  try {
    // Room for an arena-resident copy of the file (allocBuffer) beside the reads in flight.
    const arenaBytes = source.byteLength + 256 * MIB;
    const array = await DiskArray.create({ home, devices: paths, parityCount: 1, force: true, arenaBytes });
    try {
      await array.put('warm-up', source.subarray(0, 16 * MIB));
      await array.readInto('warm-up', target.subarray(0, 16 * MIB));
      await array.delete('warm-up');
      const put = await timed(async () => void (await array.put('file', source)));
      const k = array.stat('file').groups[0]!.dataCount;
      set.flushBuffers(paths);
      const rows: BenchResult[] = [row('write', 'elastripe put', source.byteLength, put.elapsedMs, round, { k, cpuSecondsPerGB: put.cpuMs / 1000 / (source.byteLength / 1e9) })];
      for (let pass = 0; pass < 2; pass++) {
        target.fill(0);
        const read = await timed(async () => void (await array.readInto('file', target)));
        if (!target.equals(source)) throw new Error('readInto returned wrong bytes');
        rows.push(row('read', 'elastripe readInto', source.byteLength, read.elapsedMs, round, { k, pass, cpuSecondsPerGB: read.cpuMs / 1000 / (source.byteLength / 1e9) }));
      }
      // readInto an arena buffer: blocks land in place, no copy out of the arena (range_into.ts).
      const inArena = array.allocBuffer(source.byteLength);
      try {
        inArena.fill(1);
        for (let pass = 0; pass < 2; pass++) {
          inArena.fill(0);
          const read = await timed(async () => void (await array.readInto('file', inArena)));
          if (!inArena.equals(source)) throw new Error('readInto an arena buffer returned wrong bytes');
          rows.push(row('read', 'elastripe readInto arena', source.byteLength, read.elapsedMs, round, { k, pass, cpuSecondsPerGB: read.cpuMs / 1000 / (source.byteLength / 1e9) }));
        }
      } finally {
        array.freeBuffer(inArena);
      }
      return rows;
    } finally {
      await array.close();
    }
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}

function row(mode: 'read' | 'write', impl: string, bytes: number, elapsedMs: number, round: number, extra: Record<string, unknown> = {}): BenchResult {
  return { case: `${mode}_${bytes / MIB}MiB_${DEVICE_COUNT}dev_p1`, impl, round, dataGBps: rate(bytes, elapsedMs), elapsedMs: Math.round(elapsedMs), ...extra };
}

/** fio on one file of the mounted btrfs: one job, 1 MiB requests, depth 16, io_uring. */
function fioFile(path: string, mode: 'read' | 'write', direct: boolean, fileBytes: number): number {
  const args = [
    '--name=btrfs', `--filename=${path}`, `--rw=${mode}`, `--size=${fileBytes}`, '--bs=1M', `--iodepth=${FIO_DEPTH}`,
    '--ioengine=io_uring', `--direct=${direct ? 1 : 0}`, '--output-format=json',
    ...(mode === 'write' ? ['--end_fsync=1'] : ['--invalidate=1']),
  ];
  const output = execFileSync('fio', args, { encoding: 'utf8', maxBuffer: 64 << 20 });
  const job = (JSON.parse(output.slice(output.indexOf('{'))) as { jobs: { read: { bw_bytes: number }; write: { bw_bytes: number } }[] }).jobs[0]!;
  return (mode === 'write' ? job.write : job.read).bw_bytes / 1e9;
}

/** btrfs RAID5 made fresh on the devices: direct and buffered writes and reads of the file size. */
function btrfsRound(set: BenchDeviceSet, paths: string[], fileBytes: number, round: number): BenchResult[] {
  execFileSync('mkfs.btrfs', ['-f', '-q', '-d', 'raid5', '-m', 'raid1', ...paths], { stdio: 'pipe' });
  const mountPoint = mkdtempSync(join(RAM_DIRECTORY, 'elastripe-btrfs-'));
  execFileSync('mount', ['-t', 'btrfs', paths[0]!, mountPoint], { stdio: 'pipe' });
  try {
    const rows: BenchResult[] = [];
    for (const direct of [true, false]) {
      const file = join(mountPoint, direct ? 'direct' : 'buffered');
      const how = direct ? 'direct' : 'buffered';
      const write = fioFile(file, 'write', direct, fileBytes);
      rows.push({ case: `write_${fileBytes / MIB}MiB_${DEVICE_COUNT}dev_p1`, impl: `btrfs raid5 ${how}`, round, dataGBps: write, endFsync: true });
      for (let pass = 0; pass < 2; pass++) { // two passes, as elastripe's reads get
        const read = fioFile(file, 'read', direct, fileBytes);
        rows.push({ case: `read_${fileBytes / MIB}MiB_${DEVICE_COUNT}dev_p1`, impl: `btrfs raid5 ${how}`, round, pass, dataGBps: read, cacheDropped: !direct });
      }
      rmSync(file);
      execFileSync('sync', ['-f', mountPoint]); // the space comes back at the next commit
    }
    return rows;
  } finally {
    execFileSync('umount', [mountPoint], { stdio: 'pipe' });
    rmSync(mountPoint, { recursive: true, force: true });
    for (const path of paths) {
      try {
        execFileSync('btrfs', ['device', 'scan', '--forget', path], { stdio: 'pipe' });
      } catch {
        // an older btrfs-progs without --forget: the kernel drops the entry with the loop device
      }
    }
  }
}

/** Per round: the better of each side's two read passes, and the puts over the btrfs writes, of that round alone. */
function roundRatios(rows: BenchResult[], rounds: number): Record<string, number[]> {
  const ratios: Record<string, number[]> = {};
  const add = (name: string, value: number | undefined) => {
    if (value !== undefined && Number.isFinite(value)) (ratios[name] ??= []).push(Number(value.toFixed(3)));
  };
  for (let round = 0; round < rounds; round++) {
    const inRound = rows.filter((candidate) => candidate['round'] === round && candidate.error === undefined);
    const rateOf = (impl: string, mode: string) =>
      Math.max(...inRound.filter((candidate) => candidate.impl === impl && candidate.case.startsWith(mode)).map((candidate) => candidate.dataGBps ?? 0));
    const readInto = rateOf('elastripe readInto', 'read');
    const readIntoArena = rateOf('elastripe readInto arena', 'read');
    const put = rateOf('elastripe put', 'write');
    add('readInto_over_btrfs_direct_read', readInto / rateOf('btrfs raid5 direct', 'read'));
    add('readInto_over_btrfs_buffered_read', readInto / rateOf('btrfs raid5 buffered', 'read'));
    add('readInto_arena_over_btrfs_direct_read', readIntoArena / rateOf('btrfs raid5 direct', 'read'));
    add('put_over_btrfs_direct_write', put / rateOf('btrfs raid5 direct', 'write'));
    add('put_over_btrfs_buffered_write', put / rateOf('btrfs raid5 buffered', 'write'));
  }
  return ratios;
}

export async function runReadBench(): Promise<{ rows: BenchResult[]; ratios: Record<string, number[]> }> {
  const { fileBytes, rounds } = settings();
  const set = new BenchDeviceSet('loop');
  const rows: BenchResult[] = [];
  try {
    const paths = set.create(DEVICE_COUNT, deviceBytesFor(fileBytes));
    await prefillDevices(paths, true);
    const source = randomFillSync(Buffer.allocUnsafe(fileBytes));
    const target = Buffer.alloc(fileBytes, 1); // pre-touched: no page faults while timed
    for (let round = 0; round < rounds; round++) {
      rows.push(...await attempt('elastripe', round, () => elastripeRound(set, paths, source, target, round)));
      rows.push(...await attempt('btrfs raid5', round, async () => btrfsRound(set, paths, fileBytes, round)));
    }
  } finally {
    set.destroyAll();
  }
  return { rows, ratios: roundRatios(rows, rounds) };
}

async function attempt(impl: string, round: number, run: () => Promise<BenchResult[]>): Promise<BenchResult[]> {
  try {
    return await run();
  } catch (error) {
    return [{ case: 'round', impl, round, error: (error as Error).message.split('\n')[0] }];
  }
}

async function main(): Promise<void> {
  const { rows, ratios } = await runReadBench();
  printTable(`reads and writes vs btrfs RAID5, ${DEVICE_COUNT} RAM-backed loop devices, same run (GB/s = 1e9 bytes/s)`, rows, [
    'case', 'impl', 'round', 'dataGBps', 'elapsedMs', 'k', 'pass', 'cpuSecondsPerGB', 'error',
  ]);
  console.log('\nratios per round', ratios);
  console.log(`results: ${writeResults('read', rows, { ratios })}`);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await runBenchMain('read', [ROOT, LOOP_DEVICES, FIO, BTRFS_PROGS], main);
}
