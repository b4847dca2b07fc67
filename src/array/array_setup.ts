// Bringing an array up: the runtime (arena + codec), validating and claiming new devices at
// create, and at open re-opening every recorded device and checking it is the one recorded.
import { randomUUID } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { LB_BYTES } from '../constants.js';
import type { Device } from '../devices/device.js';
import { createImageFile, isNbdUrl, openDevice } from '../devices/open_device.js';
import { PROBE_SCRATCH_BYTES, refuseForeignContent } from '../devices/content_probe.js';
import { chooseSuperblock, claimDevice, newSuperblock, readSuperblocks, writeSuperblocks, type Superblock, type SuperblockCopies } from '../devices/superblock.js';
import { DeviceTooSmallError, ElastripeError, InvalidArgumentError } from '../errors.js';
import { Arena } from '../kernels/arena.js';
import { Codec } from '../kernels/codec.js';
import type { DeviceRow } from '../meta/rows.js';
import { ArrayDevices } from './array_devices.js';
import { DATA_START_LB, DEVICE_MIN_BYTES, TRAILING_RESERVED_LB } from './layout.js';
import type { BackendChoice, RuntimeOptions } from './types.js';

/** Holds the write and read pipelines of a couple of concurrent puts and gets of 8+m groups. */
export const ARENA_BYTES_DEFAULT = 256 * 1024 * 1024;

export interface Runtime {
  arena: Arena;
  codec: Codec;
  backend: BackendChoice;
  openDevice: NonNullable<RuntimeOptions['openDevice']>;
}

/**
 * One core stays with the main thread, which copies user data into the arena, drives
 * io_uring and verifies small reads inline; on two cores one worker measured faster than two.
 */
export function defaultWorkerCount(): number {
  return Math.max(1, availableParallelism() - 1);
}

export async function startRuntime(options: RuntimeOptions): Promise<Runtime> {
  const arena = new Arena({ capacityBytes: options.arenaBytes ?? ARENA_BYTES_DEFAULT });
  const codec = await Codec.create({ arena, workerCount: options.workerCount ?? defaultWorkerCount() });
  return { arena, codec, backend: options.backend ?? 'auto', openDevice: options.openDevice ?? openDevice };
}

export async function stopRuntime(runtime: Runtime): Promise<void> {
  await runtime.codec.close();
}

/** How long open() waits for a busy device to be let go (see openRecordedDevice). */
export const BUSY_DEVICE_WAIT_MS = 5000;
const BUSY_DEVICE_RETRY_MS = 25;

async function openOnArena(path: string, runtime: Runtime): Promise<Device> {
  // The backend choice is for local paths; nbd:// URLs always speak NBD.
  const backend = isNbdUrl(path) ? 'auto' : runtime.backend;
  return runtime.openDevice(path, { backend, registeredMemory: new Uint8Array(runtime.arena.memory.buffer) });
}

/**
 * Opens a device this array already owns. The array's lock is held, so no live elastripe
 * process owns the device; a busy device is most often one whose previous owner was killed
 * and whose io_uring ring the kernel is still tearing down (it keeps the file, and the file
 * lock, until in-flight requests finish). Wait a bounded time for that before giving up.
 */
async function openRecordedDevice(path: string, runtime: Runtime): Promise<Device> {
  const deadlineMs = Date.now() + BUSY_DEVICE_WAIT_MS;
  for (;;) {
    try {
      return await openOnArena(path, runtime);
    } catch (error) {
      if (!(error instanceof ElastripeError && error.code === 'DEVICE_BUSY') || Date.now() >= deadlineMs) throw error;
      await new Promise((resolve) => setTimeout(resolve, BUSY_DEVICE_RETRY_MS));
    }
  }
}

/** Runs `work` with one LB-aligned arena buffer (LB_BYTES unless told), as superblock I/O needs. */
export async function withScratch<T>(runtime: Runtime, work: (scratch: Uint8Array) => Promise<T>, bytes = LB_BYTES): Promise<T> {
  const buffer = await runtime.arena.acquire(bytes);
  try {
    return await work(buffer.bytes);
  } finally {
    runtime.arena.free(buffer);
  }
}

/** Refuses the same device named twice: same path, symlinks to it, or hard links. */
export function assertDistinctPaths(paths: readonly string[]): void {
  const seen = new Map<string, string>();
  for (const path of paths) {
    let identity = path;
    if (!isNbdUrl(path) && existsSync(path)) {
      const stats = statSync(path);
      identity = stats.isBlockDevice() ? `block:${stats.rdev}` : `file:${stats.dev}:${stats.ino}`;
    }
    const previous = seen.get(identity);
    if (previous !== undefined) throw new InvalidArgumentError(`device ${path} is the same device as ${previous}`);
    seen.set(identity, path);
  }
}

export interface NewDevice {
  path: string;
  device: Device;
  uuid: string;
  capacityLb: number;
}

/** Opens and checks devices for a new array or for addDevice; closes them all on failure. */
export async function prepareNewDevices(
  paths: readonly string[],
  runtime: Runtime,
  options: { createSizeBytes?: number; force?: boolean; arrayUuid: string },
): Promise<NewDevice[]> {
  assertDistinctPaths(paths);
  const prepared: NewDevice[] = [];
  try {
    for (const path of paths) {
      if (options.createSizeBytes !== undefined && !isNbdUrl(path) && !existsSync(path)) {
        await createImageFile(path, options.createSizeBytes);
      }
      const device = await openOnArena(path, runtime);
      prepared.push({ path, device, uuid: randomUUID(), capacityLb: Math.floor(device.sizeBytes / LB_BYTES) });
      if (device.sizeBytes < DEVICE_MIN_BYTES) throw new DeviceTooSmallError(path, device.sizeBytes, DEVICE_MIN_BYTES);
      const member = await withScratch(runtime, (scratch) => claimDevice(device, { arrayUuid: options.arrayUuid }, scratch, options.force ?? false));
      // No superblock: refuse a device that holds anything else (a file system, an archive, data).
      if (member === null && !options.force) await withScratch(runtime, (scratch) => refuseForeignContent(device, scratch), PROBE_SCRATCH_BYTES);
    }
  } catch (error) {
    await Promise.allSettled(prepared.map((entry) => entry.device.close()));
    throw error;
  }
  return prepared;
}

export function deviceRowFor(entry: NewDevice, deviceId: number): DeviceRow {
  return {
    deviceId,
    uuid: entry.uuid,
    path: entry.path,
    capacityLb: entry.capacityLb,
    dataStartLb: DATA_START_LB,
    dataEndLb: entry.capacityLb - TRAILING_RESERVED_LB,
    state: 'online',
    addedMs: Date.now(),
  };
}

export function superblockFor(arrayUuid: string, row: DeviceRow): Superblock {
  return newSuperblock({
    arrayUuid,
    deviceUuid: row.uuid,
    deviceId: row.deviceId,
    capacityBytes: row.capacityLb * LB_BYTES,
    createdTimeMs: row.addedMs,
  });
}

export async function writeDeviceSuperblock(runtime: Runtime, device: Device, superblock: Superblock): Promise<void> {
  await withScratch(runtime, (scratch) => writeSuperblocks(device, superblock, scratch));
}

/**
 * Opens every recorded device and checks its superblock names this array and this slot.
 * A device that cannot be opened or is not the recorded one is 'missing' (with the reason).
 */
export async function openRecordedDevices(rows: readonly DeviceRow[], arrayUuid: string, runtime: Runtime): Promise<ArrayDevices> {
  const devices = new ArrayDevices();
  for (const row of rows) {
    if (row.state === 'removed') continue;
    if (row.state === 'failed') {
      devices.add({ row, device: undefined, state: 'failed', reason: 'marked failed', ioErrors: 0 });
      continue;
    }
    let device: Device | undefined;
    try {
      device = await openRecordedDevice(row.path, runtime);
      const problem = await withScratch(runtime, async (scratch) => identityProblem(await readSuperblocks(device!, scratch), arrayUuid, row));
      if (problem) throw new InvalidArgumentError(problem);
      devices.add({ row, device, state: 'online', ioErrors: 0 });
    } catch (error) {
      await device?.close().catch(() => undefined);
      const reason = error instanceof ElastripeError ? error.message : String(error);
      devices.add({ row, device: undefined, state: 'missing', reason, ioErrors: 0 });
    }
  }
  return devices;
}

function identityProblem(copies: SuperblockCopies, arrayUuid: string, row: DeviceRow): string | undefined {
  const superblock = chooseSuperblock(copies);
  if (!superblock) return `${row.path} has no elastripe superblock`;
  if (superblock.arrayUuid !== arrayUuid) return `${row.path} belongs to array ${superblock.arrayUuid}`;
  if (superblock.deviceUuid !== row.uuid) return `${row.path} is device ${superblock.deviceUuid}, not the recorded ${row.uuid}`;
  return undefined;
}
