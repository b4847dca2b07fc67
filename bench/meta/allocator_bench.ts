// The extent allocator: the range tree (src/meta/extent_allocator.ts) beside the linear-scan
// allocator it replaced (test/meta/reference_allocator.ts), on one fragmented layout:
// 1,000,000 extents of 1–8 LB over 4 devices, a 1–4 LB hole after about half of them
// (~125,000 free ranges per device) and 1,000,000 free LB at each device's end, in shuffled
// order (as the extents table returns them after churn).
//   derive_1M_extents_4dev      derive from the devices and extents (what open does);
//   derive_100k_extents_4dev    the same at a tenth of the size, where the reference finishes;
//   allocate_256LB / release    1 MiB extents: first fit passes every small hole (then released
//                               in random order);
//   allocate_1LB / release      the first hole fits at once;
//   largest_free                largestFreeLb.
// Each case: warm-up, then ROUNDS measured rounds on a fresh copy of the state, each after a
// full garbage collection; the row gives the median ops/s (derive: also the median ms). The
// reference's derive is O(n²) on a fragmented device (every claim scans and splices the free
// list), so it runs once, and at 1M only with ELASTRIPE_BENCH_ALLOCATOR_REFERENCE_1M=1 (about
// 25 minutes here); its operation rows start from the same free ranges, set directly.
// Writes bench/results/allocator.json; `npm run bench:allocator`.
import { loadavg } from 'node:os';
import { pathToFileURL } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { ExtentAllocator } from '../../src/meta/extent_allocator.js';
import { ReferenceAllocator, referenceWithFreeRanges } from '../../test/meta/reference_allocator.js';
import { printTable, writeResults, xorshift32, type BenchResult } from '../common.js';

const SEED = 0xa110c;
const DEVICE_COUNT = 4;
const DATA_START_LB = 4097;
const TAIL_FREE_LB = 1_000_000;
const ROUNDS = 5;
/** Calls per measured round: the reference's calls cost ~10³ times more, so it makes fewer. */
const CALLS_PER_ROUND = {
  allocate: { range_tree: 10_000, reference_linear: 200 },
  largest: { range_tree: 200_000, reference_linear: 500 },
};

// A full collection before every timed section, so garbage of the previous one (a derived
// million-extent state) is not collected inside a window of a few milliseconds.
setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;

type Allocator = ExtentAllocator | ReferenceAllocator;
type DeviceRow = { deviceId: number; dataStartLb: number; dataEndLb: number };
type ExtentRow = { deviceId: number; startLb: number; lengthLb: number };
type Range = { startLb: number; lengthLb: number };

interface Layout {
  devices: DeviceRow[];
  extents: ExtentRow[];
  freeByDevice: Map<number, Range[]>;
}

interface Implementation {
  name: 'range_tree' | 'reference_linear';
  derive(layout: Layout): Allocator;
  /** The allocator of the layout, built the cheapest way this implementation allows. */
  fresh(layout: Layout): Allocator;
}

const IMPLEMENTATIONS: Implementation[] = [
  { name: 'range_tree', derive: (l) => ExtentAllocator.derive(l.devices, l.extents), fresh: (l) => ExtentAllocator.derive(l.devices, l.extents) },
  { name: 'reference_linear', derive: (l) => ReferenceAllocator.derive(l.devices, l.extents), fresh: (l) => referenceWithFreeRanges(l.devices, l.freeByDevice) },
];

function makeLayout(extentCount: number, seed: number): Layout {
  const random = xorshift32(seed);
  const devices: DeviceRow[] = [];
  const extents: ExtentRow[] = [];
  const freeByDevice = new Map<number, Range[]>();
  for (let deviceId = 0; deviceId < DEVICE_COUNT; deviceId++) {
    const free: Range[] = [];
    let cursorLb = DATA_START_LB;
    for (let i = 0; i < extentCount / DEVICE_COUNT; i++) {
      const lengthLb = 1 + (random() % 8);
      extents.push({ deviceId, startLb: cursorLb, lengthLb });
      cursorLb += lengthLb;
      if (random() % 2 === 0) {
        const gapLb = 1 + (random() % 4);
        free.push({ startLb: cursorLb, lengthLb: gapLb });
        cursorLb += gapLb;
      }
    }
    const last = free.at(-1);
    if (last !== undefined && last.startLb + last.lengthLb === cursorLb) last.lengthLb += TAIL_FREE_LB;
    else free.push({ startLb: cursorLb, lengthLb: TAIL_FREE_LB });
    devices.push({ deviceId, dataStartLb: DATA_START_LB, dataEndLb: cursorLb + TAIL_FREE_LB });
    freeByDevice.set(deviceId, free);
  }
  for (let i = extents.length - 1; i > 0; i--) {
    const j = random() % (i + 1);
    [extents[i], extents[j]] = [extents[j]!, extents[i]!];
  }
  return { devices, extents, freeByDevice };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** Derive's warm-up rounds (its first calls run before the optimizing compiler has caught up). */
const DERIVE_WARMUP_ROUNDS = 2;

/** rounds = 0: one cold run only (the reference, whose single run takes seconds to minutes). */
function deriveRow(impl: Implementation, layout: Layout, label: string, rounds: number): BenchResult {
  const times: number[] = [];
  const warmup = rounds === 0 ? 0 : DERIVE_WARMUP_ROUNDS;
  for (let round = 0; round < warmup + Math.max(rounds, 1); round++) {
    collectGarbage();
    const startedMs = performance.now();
    const allocator = impl.derive(layout);
    const elapsedMs = performance.now() - startedMs;
    if (allocator.freeLb(0) <= 0) throw new Error('derive lost the free space');
    if (round >= warmup) times.push(elapsedMs);
  }
  const ms = median(times);
  return { case: `derive_${label}_extents_${DEVICE_COUNT}dev`, impl: impl.name, opsPerSec: 1000 / ms, ms, extents: layout.extents.length };
}

/** allocate_<n>LB then release of the same extents in random order, on a fresh state per round. */
function allocateReleaseRows(impl: Implementation, layout: Layout, lengthLb: number, count: number): BenchResult[] {
  const allocateRates: number[] = [];
  const releaseRates: number[] = [];
  for (let round = 0; round <= ROUNDS; round++) {
    const allocator = impl.fresh(layout);
    const random = xorshift32(SEED + round);
    const held: ExtentRow[] = [];
    collectGarbage();
    let startedMs = performance.now();
    for (let i = 0; i < count; i++) {
      const deviceId = i % DEVICE_COUNT;
      const startLb = allocator.allocate(deviceId, lengthLb);
      if (startLb === undefined) throw new Error(`allocate ${lengthLb} found no space`);
      held.push({ deviceId, startLb, lengthLb });
    }
    const allocateMs = performance.now() - startedMs;
    for (let i = held.length - 1; i > 0; i--) {
      const j = random() % (i + 1);
      [held[i], held[j]] = [held[j]!, held[i]!];
    }
    startedMs = performance.now();
    for (const extent of held) allocator.release(extent.deviceId, extent.startLb, extent.lengthLb);
    const releaseMs = performance.now() - startedMs;
    if (round > 0) {
      allocateRates.push((count * 1000) / allocateMs);
      releaseRates.push((count * 1000) / releaseMs);
    }
  }
  return [
    { case: `allocate_${lengthLb}LB`, impl: impl.name, opsPerSec: median(allocateRates) },
    { case: `release_${lengthLb}LB`, impl: impl.name, opsPerSec: median(releaseRates) },
  ];
}

function largestRow(impl: Implementation, layout: Layout, count: number): BenchResult {
  const allocator = impl.fresh(layout);
  const rates: number[] = [];
  let sink = 0;
  for (let round = 0; round <= ROUNDS; round++) {
    collectGarbage();
    const startedMs = performance.now();
    for (let i = 0; i < count; i++) sink += allocator.largestFreeLb(i % DEVICE_COUNT);
    if (round > 0) rates.push((count * 1000) / (performance.now() - startedMs));
  }
  if (sink <= 0) throw new Error('largestFreeLb returned nothing');
  return { case: 'largest_free', impl: impl.name, opsPerSec: median(rates) };
}

export function runAllocatorBench(): BenchResult[] {
  const results: BenchResult[] = [];
  const large = makeLayout(1_000_000, SEED);
  const small = makeLayout(100_000, SEED);
  const freeRanges = [...large.freeByDevice.values()].reduce((sum, ranges) => sum + ranges.length, 0);
  console.log(`layout: ${large.extents.length} extents, ${freeRanges} free ranges on ${DEVICE_COUNT} devices; load ${loadavg()[0]!.toFixed(2)}`);
  for (const impl of IMPLEMENTATIONS) {
    const reference = impl.name === 'reference_linear';
    results.push(deriveRow(impl, small, '100k', reference ? 0 : ROUNDS));
    if (!reference || process.env['ELASTRIPE_BENCH_ALLOCATOR_REFERENCE_1M'] === '1') {
      results.push(deriveRow(impl, large, '1M', reference ? 0 : ROUNDS));
    } else {
      results.push({ case: `derive_1M_extents_${DEVICE_COUNT}dev`, impl: impl.name, error: 'skipped: O(n²), ~25 min (ELASTRIPE_BENCH_ALLOCATOR_REFERENCE_1M=1 runs it)' });
    }
    results.push(...allocateReleaseRows(impl, large, 256, CALLS_PER_ROUND.allocate[impl.name]));
    results.push(...allocateReleaseRows(impl, large, 1, CALLS_PER_ROUND.allocate[impl.name]));
    results.push(largestRow(impl, large, CALLS_PER_ROUND.largest[impl.name]));
    console.log(`${impl.name} done`);
  }
  // Side by side: each case's tree rate over the reference's.
  for (const row of results) {
    const other = results.find((r) => r.case === row.case && r.impl === 'reference_linear');
    if (row.impl === 'range_tree' && row.opsPerSec !== undefined && other?.opsPerSec !== undefined) row.speedup = row.opsPerSec / other.opsPerSec;
  }
  return results;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const results = runAllocatorBench();
  results.sort((a, b) => a.case.localeCompare(b.case) || a.impl.localeCompare(b.impl));
  printTable('extent allocator (1M extents, ~500k free ranges, 4 devices)', results, ['case', 'impl', 'opsPerSec', 'ms', 'speedup', 'error']);
  const path = writeResults('allocator', results, { seed: SEED, rounds: ROUNDS, callsPerRound: CALLS_PER_ROUND, loadavg: loadavg() });
  console.log(`\nwrote ${path}`);
}
