// The data the array benchmark moves, and the timed loops that move it: large files (put and
// get, several files in flight) and small files (one at a time, files per second). Every get
// is compared byte for byte with what was put, after the clock stops, so a wrong answer is
// never reported as fast.
import { randomFillSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { xorshift32 } from '../common.js';
import type { DiskArray } from '../../src/array/disk_array.js';

export interface NamedData {
  name: string;
  bytes: Uint8Array;
}

export interface Timed {
  elapsedMs: number;
  /** User + system CPU of the whole process (every thread, Piscina workers included). */
  cpuMs: number;
  /** Busy cores of the whole machine meanwhile: ours, the loop devices' kernel threads and
   *  anything else running (other load makes every number here suspect). */
  hostBusyCores?: number;
}

/** Busy and total jiffies of all CPUs, from /proc/stat (undefined off Linux). */
function hostJiffies(): { busy: number; total: number } | undefined {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
    const total = fields.reduce((sum, value) => sum + value, 0);
    return { busy: total - fields[3]! - fields[4]!, total };
  } catch {
    return undefined;
  }
}


/** `count` files of `sizeBytes` random bytes (incompressible; the array does not compress). */
export function makeLargeFiles(count: number, sizeBytes: number): NamedData[] {
  return Array.from({ length: count }, (_, i) => ({
    name: `large-${String(i).padStart(3, '0')}`,
    bytes: randomFillSync(Buffer.allocUnsafe(sizeBytes)),
  }));
}

/** Small files of sizeMin..sizeMax bytes, cut from `pool` at seeded offsets. */
export function makeSmallFiles(pool: Uint8Array, count: number, sizeMinBytes: number, sizeMaxBytes: number, seed: number): NamedData[] {
  const next = xorshift32(seed);
  return Array.from({ length: count }, (_, i) => {
    const sizeBytes = sizeMinBytes + (next() % (sizeMaxBytes - sizeMinBytes + 1));
    const offset = next() % (pool.byteLength - sizeBytes);
    return { name: `small-${String(i).padStart(5, '0')}`, bytes: pool.subarray(offset, offset + sizeBytes) };
  });
}

/** Runs `work` and measures its wall time and the process's CPU time. */
export async function timed(work: () => Promise<void>): Promise<Timed> {
  const hostBefore = hostJiffies();
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  await work();
  const elapsedMs = performance.now() - started;
  const cpu = process.cpuUsage(cpuBefore);
  const hostAfter = hostJiffies();
  const timing: Timed = { elapsedMs, cpuMs: (cpu.user + cpu.system) / 1000 };
  if (hostBefore && hostAfter && hostAfter.total > hostBefore.total) {
    const busyFraction = (hostAfter.busy - hostBefore.busy) / (hostAfter.total - hostBefore.total);
    timing.hostBusyCores = Number((busyFraction * cpus().length).toFixed(2));
  }
  return timing;
}

/** Calls `each` on every item with at most `inFlightMax` calls running. */
export async function forEachLimited<T>(items: readonly T[], inFlightMax: number, each: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(inFlightMax, items.length) }, async () => {
    while (next < items.length) await each(items[next++]!);
  });
  await Promise.all(lanes);
}

export async function putAll(array: DiskArray, files: readonly NamedData[], inFlightMax: number): Promise<Timed> {
  return timed(() => forEachLimited(files, inFlightMax, async (file) => void (await array.put(file.name, file.bytes))));
}

/**
 * Reads every file into a target buffer allocated and touched before the clock starts (the
 * way a throughput-critical embedder reuses its buffers with readInto), keeping the results
 * for verify() after the clock stopped. A fresh multi-MiB Buffer per get would mostly measure
 * the kernel's page faults.
 */
export async function getAll(array: DiskArray, files: readonly NamedData[], inFlightMax: number): Promise<{ timing: Timed; results: Map<string, Uint8Array> }> {
  const results = new Map<string, Uint8Array>();
  for (const file of files) results.set(file.name, Buffer.alloc(file.bytes.byteLength, 1));
  const timing = await timed(() =>
    forEachLimited(files, inFlightMax, async (file) => {
      const target = results.get(file.name)!;
      const readBytes = await array.readInto(file.name, target);
      if (readBytes !== target.byteLength) throw new Error(`${file.name}: read ${readBytes} of ${target.byteLength} bytes`);
    }),
  );
  return { timing, results };
}

/** Reads every file through createReadStream, keeping the chunks for verify() afterwards. */
export async function streamAll(array: DiskArray, files: readonly NamedData[], inFlightMax: number): Promise<{ timing: Timed; results: Map<string, Uint8Array> }> {
  const chunksByName = new Map<string, Buffer[]>();
  const timing = await timed(() => forEachLimited(files, inFlightMax, async (file) => {
    const chunks: Buffer[] = [];
    for await (const chunk of array.createReadStream(file.name)) chunks.push(chunk as Buffer);
    chunksByName.set(file.name, chunks);
  }));
  const results = new Map<string, Uint8Array>();
  for (const [name, chunks] of chunksByName) results.set(name, Buffer.concat(chunks));
  return { timing, results };
}

/** The first file whose bytes differ from what was put, or undefined when all match. */
export function firstMismatch(files: readonly NamedData[], results: Map<string, Uint8Array>): string | undefined {
  for (const file of files) {
    const got = results.get(file.name);
    if (!got || !Buffer.from(got.buffer, got.byteOffset, got.byteLength).equals(file.bytes)) return file.name;
  }
  return undefined;
}
