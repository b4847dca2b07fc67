// The one place the CLI reaches into the array layer: opening or creating a DiskArray from the
// command line's options, and making sure it is closed (lock released, workers stopped) however
// the command ends.
import { rmdir } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { DiskArray } from '../array/disk_array.js';
import { makeHomeDirectory } from '../array/home_directory.js';
import type { CreateOptions, OpenOptions, RuntimeOptions } from '../array/types.js';
import type { CommandLine } from './args.js';

export type ArrayHandle = DiskArray;

/**
 * What a verb asks of the kernels, which picks the worker pool when --workers does not:
 * - 'metadata' (ls, stat, rm, rename, import): nothing to encode or verify, no pool;
 * - 'transfer' (a put or get, one file or a batch): the kernels run inline on the main thread.
 *   A one-shot process's pool costs more to start than it saves: each worker boots its own
 *   isolate and modules (~150 ms of CPU), while one thread encodes and checksums at ~11 GB/s,
 *   faster than the devices take it. Whole CLI process, 1 GiB on 4 RAM-backed loop devices,
 *   5 alternating rounds, against the default pool (cores − 1: one worker on this 2-core
 *   host): put 0.78 s inline vs 0.91 s, get to /dev/null 0.47 vs 0.60 s, get to a file 0.88
 *   vs 0.99 s;
 * - 'job' (expand, rebuild, restripe, fsck, ...): the pool, for long runs of bulk kernels.
 */
export type KernelUse = 'metadata' | 'transfer' | 'job';

export function runtimeOptions(line: CommandLine, use: KernelUse = 'job'): RuntimeOptions {
  const options: RuntimeOptions = { backend: line.backend };
  if (line.scan !== undefined) options.scan = line.scan;
  if (line.workerCount !== undefined) options.workerCount = line.workerCount;
  else if (use !== 'job') options.workerCount = 0;
  return options;
}

/** Device paths become absolute, so the array opens from any working directory later. */
export function resolveDevicePath(device: string): string {
  return /^nbd:\/\//i.test(device) ? device : resolve(device);
}

export function createOptionsFrom(line: CommandLine, home: string, devices: readonly string[]): CreateOptions {
  const options: CreateOptions = { ...runtimeOptions(line), home: resolve(home), devices: devices.map(resolveDevicePath), force: line.force };
  if (line.parityCount !== undefined) options.parityCount = line.parityCount;
  if (line.maxDataWidth !== undefined) options.maxDataWidth = line.maxDataWidth;
  if (line.extentLbMax !== undefined) options.extentLbMax = line.extentLbMax;
  if (line.createSizeBytes !== undefined) options.createSizeBytes = line.createSizeBytes;
  return options;
}

/** Creates the home directory if needed; a failed create removes it again if it made it. */
export async function createArray(options: CreateOptions): Promise<ArrayHandle> {
  const firstCreated = makeHomeDirectory(options.home);
  try {
    return await DiskArray.create(options);
  } catch (error) {
    if (firstCreated !== undefined) await removeEmptyDirectories(options.home, firstCreated);
    throw error;
  }
}

/** rmdir from `deepest` up to `topmost`; stops quietly at the first that is not empty. */
async function removeEmptyDirectories(deepest: string, topmost: string): Promise<void> {
  for (let directory = deepest; directory.startsWith(topmost); directory = dirname(directory)) {
    try {
      await rmdir(directory);
    } catch {
      return;
    }
  }
}

/** Rebuilds a home from devices (named, or found by scanning patterns) and opens it; a failed
 * import removes the home directory again if it made it (as createArray does). */
export async function importArray(home: string, options: RuntimeOptions, devices: readonly string[], scan?: readonly string[], arrayUuid?: string): Promise<ArrayHandle> {
  const { scan: _openScan, ...runtime } = options;
  const firstCreated = makeHomeDirectory(resolve(home));
  try {
    return await DiskArray.import({
      ...runtime,
      home: resolve(home),
      ...(devices.length > 0 ? { devices: devices.map(resolveDevicePath) } : {}),
      ...(scan !== undefined ? { scan: [...scan] } : {}),
      ...(arrayUuid !== undefined ? { arrayUuid } : {}),
    });
  } catch (error) {
    if (firstCreated !== undefined) await removeEmptyDirectories(resolve(home), firstCreated);
    throw error;
  }
}

export function openArray(home: string, options: OpenOptions): Promise<ArrayHandle> {
  return DiskArray.open(resolve(home), options);
}

/** The array `elastripe serve` holds open in this process: its verbs run on it, never opening
 * or closing it themselves. */
let servedArray: ArrayHandle | undefined;

export function setServedArray(array: ArrayHandle | undefined): void {
  servedArray = array;
}

/** Opens the array of the command line, runs `work` on it and always closes it (inside
 * `elastripe serve`: runs `work` on the array serve keeps open). */
export async function withArray<T>(line: CommandLine, work: (array: ArrayHandle) => Promise<T>, use: KernelUse = 'job'): Promise<T> {
  if (servedArray !== undefined && resolve(requireHome(line)) === servedArray.home) return work(servedArray);
  // --read-only (ls, stat, status, get, fsck): no lock, nothing written (DiskArray.open).
  // One verb, then close: pinning the whole arena as fixed buffers at open would cost more
  // than it saves; part of it is registered once a verb has moved 64 MiB, so only a large
  // transfer or job pays (RuntimeOptions.fixedBuffers). `elastripe serve` registers it all.
  const array = await openArray(requireHome(line), { ...runtimeOptions(line, use), fixedBuffers: 'after-large-transfer', ...(line.readOnly ? { readOnly: true } : {}) });
  let result: T;
  try {
    result = await work(array);
  } catch (error) {
    // The command's own error is the one to report; a failing close must not hide it.
    await array.close().catch(() => undefined);
    throw error;
  }
  await array.close();
  return result;
}

export function requireHome(line: CommandLine): string {
  if (line.home === undefined) throw new Error('array_access: the parser guarantees a home for verbs that need one');
  return line.home;
}
