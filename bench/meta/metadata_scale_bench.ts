// Metadata that scales with what a call touches (issue 10), on an array whose metadata is big:
// 4 sparse 2 GiB image files, parity 1, one-LB extents and k = 1 (so a group is 4 KiB of data
// plus one parity block). A real put of a 4 KiB zero file gives the checksums of a zero block;
// the rest of the metadata is inserted through MetaStore (the blocks are never written) —
// 500,000 groups, 1,000,000 extents in all: one file of 100,000 groups of zeros (the sparse
// images read back zeros, so its groups check out), and files of 50 groups whose extents carry
// random checksums (never read; they make the devices' checkpoint as big as a real one). A first open writes the devices'
// checkpoint of it all; then:
//   ranged_get_4KiB_100k_groups   4 KiB gets at seeded offsets inside the 100,000-group file
//                                 through DiskArray.get (ms per get; every 16th compared);
//   group_lookup_100k_groups      the metadata lookup alone: the groups a 4 KiB range overlaps
//                                 (groupsInRange, today) beside loading every group of the file
//                                 (groupsOf, what resolveRange did before) — same run, same file;
//   open_1M_extents               DiskArray.open + close of the array (median of rounds), and the
//                                 allocator's share: ExtentAllocator.derive from every extent.
// Small puts per second (16 at once) are in `npm run bench:metadata` (beside the commit before
// the metadata journal). Writes bench/results/metadata_scale.json; `npm run bench:metadata-scale`.
// Env: ELASTRIPE_BENCH_SCALE_EXTENTS (1000000), ELASTRIPE_BENCH_SCALE_RANGED_GROUPS (100000),
// ELASTRIPE_BENCH_ROUNDS (3), ELASTRIPE_BENCH_DIR (where the images and home go; default the OS temp directory).
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { DiskArray } from '../../src/array/disk_array.js';
import { createImageFile } from '../../src/devices/open_device.js';
import { ExtentAllocator } from '../../src/meta/extent_allocator.js';
import { MetaStore } from '../../src/meta/meta_store.js';
import type { NewGroup } from '../../src/meta/rows.js';
import { printTable, writeResults, xorshift32, type BenchResult } from '../common.js';

const GIB = 1 << 30;
const LB = 4096;
const DEVICE_COUNT = 4;
const DEVICE_BYTES = 2 * GIB;
const GROUPS_PER_BULK_FILE = 50;
const COMMIT_GROUPS_MAX = 20_000;
const RANGED_GETS = 2000;
const LOOKUPS_BEFORE = 5;
const SEED = 0x5ca1e;
const RUNTIME = { arenaBytes: 64 << 20, workerCount: 1 };

export const TARGETS = { rangedGetMsMax: 1, openSecondsMax: 2 };

function envNumber(name: string, fallback: number): number {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value <= 0) throw new Error(`${name} must be a positive whole number, not '${text}'`);
  return value;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
}

/** Builds the big metadata: returns the ranged file's id. */
export async function buildArray(home: string, devices: string[], totalExtents: number, rangedGroups: number): Promise<number> {
  const array = await DiskArray.create({ ...RUNTIME, home, devices, parityCount: 1, extentLbMax: 1, maxDataWidth: 1, metadataRegionBytes: 256 << 20 });
  await array.put('zero', Buffer.alloc(LB));
  await array.close();
  const store = MetaStore.open(home, { create: false });
  try {
    const seed = store.groupsOf(store.file('zero')!.fileId)[0]!;
    const checksumOf = (role: 'data' | 'parity') => seed.extents.find((extent) => extent.role === role)!.checksum;
    const cursors = new Map(store.devices().map((row) => [row.deviceId, row.dataStartLb + 64]));
    const deviceIds = [...cursors.keys()];
    let placed = 0;
    // The bulk files' blocks are never read: their checksums are random (as real ones are), so
    // the devices' checkpoint is as large as a real array's and open pays its verification.
    const random = xorshift32(SEED ^ 0xb01c);
    const randomChecksum = () => {
      const bytes = Buffer.allocUnsafe(seed.extents[0]!.checksum.byteLength);
      for (let i = 0; i < bytes.length; i++) bytes[i] = random() & 0xff;
      return bytes;
    };
    const group = (sequence: number, zeroFile: boolean): NewGroup => {
      const data = deviceIds[placed % DEVICE_COUNT]!;
      const parity = deviceIds[(placed + 1) % DEVICE_COUNT]!;
      placed++;
      const at = (deviceId: number) => {
        const startLb = cursors.get(deviceId)!;
        cursors.set(deviceId, startLb + 1);
        return startLb;
      };
      return {
        sequence,
        dataCount: 1,
        parityCount: 1,
        extentLb: 1,
        lengthBytes: LB,
        extents: [
          { deviceId: data, startLb: at(data), lengthLb: 1, role: 'data', index: 0, checksum: zeroFile ? checksumOf('data') : randomChecksum() },
          { deviceId: parity, startLb: at(parity), lengthLb: 1, role: 'parity', index: 0, checksum: zeroFile ? checksumOf('parity') : randomChecksum() },
        ],
      };
    };
    const now = Date.now();
    store.commitFile('ranged', rangedGroups * LB, Array.from({ length: rangedGroups }, (_, i) => group(i, true)), now);
    const bulkGroups = Math.max(0, Math.floor(totalExtents / 2) - rangedGroups - 1);
    for (let file = 0; file * GROUPS_PER_BULK_FILE < bulkGroups; ) {
      store.batch(() => {
        for (let inBatch = 0; inBatch < COMMIT_GROUPS_MAX && file * GROUPS_PER_BULK_FILE < bulkGroups; inBatch += GROUPS_PER_BULK_FILE, file++) {
          const count = Math.min(GROUPS_PER_BULK_FILE, bulkGroups - file * GROUPS_PER_BULK_FILE);
          store.commitFile(`bulk/${file}`, count * LB, Array.from({ length: count }, (_, i) => group(i, false)), now);
        }
      });
    }
    return store.file('ranged')!.fileId;
  } finally {
    store.close();
  }
}

async function main(): Promise<void> {
  const totalExtents = envNumber('ELASTRIPE_BENCH_SCALE_EXTENTS', 1_000_000);
  const rangedGroups = envNumber('ELASTRIPE_BENCH_SCALE_RANGED_GROUPS', 100_000);
  const rounds = envNumber('ELASTRIPE_BENCH_ROUNDS', 3);
  if (totalExtents < 2 * rangedGroups + 2) throw new Error('ELASTRIPE_BENCH_SCALE_EXTENTS must be at least twice the ranged file\'s groups');
  const loadStart = loadavg()[0]!;
  const parent = process.env['ELASTRIPE_BENCH_DIR'] || tmpdir();
  mkdirSync(parent, { recursive: true });
  const directory = mkdtempSync(join(parent, 'elastripe-scale-'));
  const results: BenchResult[] = [];
  try {
    const home = join(directory, 'home');
    mkdirSync(home);
    const devices = Array.from({ length: DEVICE_COUNT }, (_, i) => join(directory, `dev${i}.img`));
    for (const path of devices) await createImageFile(path, DEVICE_BYTES);
    let started = performance.now();
    const rangedFileId = await buildArray(home, devices, totalExtents, rangedGroups);
    console.log(`built ${totalExtents} extents of metadata in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    started = performance.now();
    await (await DiskArray.open(home, RUNTIME)).close();
    console.log(`first open (writes the devices' checkpoint of it all) ${((performance.now() - started) / 1000).toFixed(1)} s`);

    // The lookup alone, beside the whole-file load resolveRange did before.
    const random = xorshift32(SEED);
    const fileBytes = rangedGroups * LB;
    const offsets = Array.from({ length: RANGED_GETS }, () => random() % (fileBytes - LB));
    {
      const store = MetaStore.open(home, { create: false });
      try {
        const lookups: number[] = [];
        for (const offset of offsets) {
          const at = performance.now();
          store.groupsInRange(rangedFileId, offset, LB);
          lookups.push(performance.now() - at);
        }
        const before: number[] = [];
        for (let i = 0; i < LOOKUPS_BEFORE; i++) {
          const at = performance.now();
          store.groupsOf(rangedFileId);
          before.push(performance.now() - at);
        }
        const today = median(lookups);
        results.push({ case: `group_lookup_${rangedGroups}_groups`, impl: 'groupsInRange (today)', opsPerSec: 1000 / today, msPerOp: today, p99Ms: percentile(lookups, 0.99), ops: lookups.length });
        results.push({ case: `group_lookup_${rangedGroups}_groups`, impl: 'groupsOf whole file (before)', opsPerSec: 1000 / median(before), msPerOp: median(before), ops: before.length, vsToday: median(before) / today });
      } finally {
        store.close();
      }
    }

    const opens: number[] = [];
    for (let round = 0; round < rounds; round++) {
      const at = performance.now();
      const array = await DiskArray.open(home, RUNTIME);
      const openSeconds = (performance.now() - at) / 1000;
      await array.close();
      opens.push(openSeconds);
      console.log(`round ${round + 1}/${rounds}: open ${openSeconds.toFixed(3)} s`);
    }
    const openSeconds = median(opens);
    results.push({ case: `open_${totalExtents}_extents`, impl: 'DiskArray.open', seconds: openSeconds, roundSeconds: opens.map((s) => s.toFixed(3)).join(' '), target: `<= ${TARGETS.openSecondsMax} s`, met: openSeconds <= TARGETS.openSecondsMax ? 'yes' : 'NO' });
    {
      const store = MetaStore.open(home, { create: false });
      try {
        const at = performance.now();
        ExtentAllocator.derive(store.devices(), store.extentPlaces());
        results.push({ case: `open_${totalExtents}_extents`, impl: 'of which: allocator derive', seconds: (performance.now() - at) / 1000 });
      } finally {
        store.close();
      }
    }

    const array = await DiskArray.open(home, RUNTIME);
    try {
      const zero = Buffer.alloc(LB);
      for (const offset of offsets.slice(0, 50)) await array.get('ranged', { offset, length: LB }); // warm-up
      const times: number[] = [];
      for (const [i, offset] of offsets.entries()) {
        const at = performance.now();
        const bytes = await array.get('ranged', { offset, length: LB });
        times.push(performance.now() - at);
        if (i % 16 === 0 && !bytes.equals(zero)) throw new Error(`ranged get at ${offset} returned other bytes than the file's`);
      }
      const ms = median(times);
      results.push({ case: `ranged_get_4KiB_${rangedGroups}_groups`, impl: 'DiskArray.get', opsPerSec: 1000 / ms, msPerOp: ms, p99Ms: percentile(times, 0.99), ops: times.length, target: `< ${TARGETS.rangedGetMsMax} ms`, met: ms < TARGETS.rangedGetMsMax ? 'yes' : 'NO' });
    } finally {
      await array.close();
    }
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
  printTable(
    `metadata at scale: ${totalExtents} extents, a file of ${rangedGroups} groups, 4 sparse image files, parity 1`,
    results,
    ['case', 'impl', 'opsPerSec', 'msPerOp', 'p99Ms', 'ops', 'vsToday', 'seconds', 'roundSeconds', 'target', 'met'],
  );
  console.log(`load average: ${loadStart.toFixed(1)} at start, ${loadavg()[0]!.toFixed(1)} at end`);
  console.log(`wrote ${writeResults('metadata_scale', results, { totalExtents, rangedGroups, rounds })}`);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((error: unknown) => {
    console.error(`metadata scale bench: ${(error as Error).message}`);
    process.exit(1);
  });
}
