// Bringing an array up: the runtime (arena + codec), validating and claiming new devices at
// create, and at open re-opening every recorded device and checking it is the one recorded.
import { randomUUID } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { LB_BYTES } from '../constants.js';
import type { Device } from '../devices/device.js';
import { checkBackendChoice, createImageFile, isNbdUrl, openDevice } from '../devices/open_device.js';
import { PROBE_SCRATCH_BYTES, refuseForeignContent } from '../devices/content_probe.js';
import { chooseSuperblock, claimDevice, newSuperblock, readSuperblocks, writeSuperblocks, type Superblock } from '../devices/superblock.js';
import { scanForDevices, scanPatterns } from '../devices/device_scan.js';
import { loopBackingStats } from '../devices/loop_backing.js';
import { DeviceTooSmallError, ElastripeError, ForeignDeviceError, InvalidArgumentError } from '../errors.js';
import { Arena } from '../kernels/arena.js';
import { Codec } from '../kernels/codec.js';
import type { DeviceRow } from '../meta/rows.js';
import { ArrayDevices } from './array_devices.js';
import type { MetadataLayout } from '../meta/journal_format.js';
import { dataStartLb, DEVICE_MIN_BYTES, TRAILING_RESERVED_LB } from './layout.js';
import type { Settings } from './settings.js';
import { REAL_CLOCK, type JobClock } from './job_clock.js';
import type { BackendChoice, RuntimeOptions } from './types.js';

/** Holds the write and read pipelines of a couple of concurrent puts and gets of 8+m groups. */
export const ARENA_BYTES_DEFAULT = 256 * 1024 * 1024;

export interface Runtime {
  arena: Arena;
  codec: Codec;
  backend: BackendChoice;
  openDevice: NonNullable<RuntimeOptions['openDevice']>;
  jobBackoff: boolean;
  /** The arena's view to register as fixed buffers, unless RuntimeOptions.fixedBuffers is false. */
  registeredMemory: Uint8Array | undefined;
  /** Register it only after this many bytes have moved (fixedBuffers 'after-large-transfer'). */
  registerAfterBytes: number | undefined;
  /** What jobs pace themselves by (RuntimeOptions.jobClock). */
  clock: JobClock;
}

/**
 * One core stays with the main thread, which copies user data into the arena, drives
 * io_uring and verifies small reads inline; on two cores one worker measured faster than two.
 */
export function defaultWorkerCount(): number {
  return Math.max(1, availableParallelism() - 1);
}

/**
 * fixedBuffers 'after-large-transfer' registers this much of the arena (its low end, where the
 * first-fit allocator places a transfer's group buffers: 8 groups of 8 MiB)...
 */
export const LAZY_FIXED_BUFFER_BYTES = 64 * 1024 * 1024;
/**
 * ...once this many bytes have gone through the ring. Fresh process, open + put + read of 1 GiB
 * on 4 RAM-backed loop devices, 4 alternating rounds: 1,045 ms against 1,153 with no fixed
 * buffers (put 683 vs 738, read 295 vs 356) and 1,050 registering the whole arena at open; a
 * 1-byte put or get never registers (pinning 32–64 MiB up front added 20–30 ms to each, ~15%).
 */
export const LAZY_FIXED_BUFFER_AFTER_BYTES = 64 * 1024 * 1024;

/** Refuses runtime options that cannot work, before anything is made: a typo must not quietly become the default. */
export function checkRuntimeOptions(options: RuntimeOptions): void {
  checkBackendChoice(options.backend);
  const { workerCount } = options;
  if (workerCount !== undefined && (!Number.isSafeInteger(workerCount) || workerCount < 0)) {
    throw new InvalidArgumentError(`workerCount must be a whole number of workers, 0 (kernels inline) or more, not ${JSON.stringify(workerCount)}`);
  }
}

export async function startRuntime(options: RuntimeOptions): Promise<Runtime> {
  checkRuntimeOptions(options);
  const arena = new Arena({ capacityBytes: options.arenaBytes ?? ARENA_BYTES_DEFAULT });
  const codec = await Codec.create({ arena, workerCount: options.workerCount ?? defaultWorkerCount() });
  const memory = arena.memory.buffer;
  const lazy = options.fixedBuffers === 'after-large-transfer';
  const registeredMemory = options.fixedBuffers === false
    ? undefined
    : new Uint8Array(memory, 0, lazy ? Math.min(LAZY_FIXED_BUFFER_BYTES, memory.byteLength) : memory.byteLength);
  return {
    arena, codec, backend: options.backend ?? 'auto', openDevice: options.openDevice ?? openDevice, jobBackoff: options.jobBackoff ?? true,
    registeredMemory, registerAfterBytes: lazy ? LAZY_FIXED_BUFFER_AFTER_BYTES : undefined, clock: options.jobClock ?? REAL_CLOCK,
  };
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
  return runtime.openDevice(path, {
    backend,
    ...(runtime.registeredMemory ? { registeredMemory: runtime.registeredMemory } : {}),
    ...(runtime.registerAfterBytes !== undefined ? { registerAfterBytes: runtime.registerAfterBytes } : {}),
  });
}

/**
 * Opens a device this array already owns. The array's lock is held, so no live elastripe
 * process owns the device; a busy device is most often one whose previous owner was killed
 * and whose io_uring ring the kernel is still tearing down (it keeps the file, and the file
 * lock, until in-flight requests finish). Wait a bounded time for that before giving up.
 */
export async function openRecordedDevice(path: string, runtime: Runtime): Promise<Device> {
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

/** Refuses the same device named twice: same path, symlinks to it, hard links, or a loop device and its file. */
export function assertDistinctPaths(paths: readonly string[]): void {
  const seen = new Map<string, string>();
  for (const path of paths) {
    const identities = [path];
    if (!isNbdUrl(path) && existsSync(path)) {
      const stats = statSync(path);
      identities[0] = stats.isBlockDevice() ? `block:${stats.rdev}` : `file:${stats.dev}:${stats.ino}`;
      // A loop device is also the file behind it.
      const backing = loopBackingStats(stats);
      if (backing !== undefined) identities.push(`file:${backing.dev}:${backing.ino}`);
    }
    for (const identity of identities) {
      const previous = seen.get(identity);
      if (previous !== undefined) throw new InvalidArgumentError(`device ${path} is the same device as ${previous}`);
    }
    for (const identity of identities) seen.set(identity, path);
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
  options: { createSizeBytes?: number; force?: boolean; arrayUuid: string; minBytes?: number; reclaimArrayUuid?: string; members?: readonly DeviceRow[] },
): Promise<NewDevice[]> {
  const minBytes = options.minBytes ?? DEVICE_MIN_BYTES;
  assertDistinctPaths(paths);
  const prepared: NewDevice[] = [];
  try {
    for (const path of paths) {
      if (options.createSizeBytes !== undefined && !isNbdUrl(path) && !existsSync(path)) {
        await createImageFile(path, options.createSizeBytes);
      }
      const device = await openOnArena(path, runtime);
      prepared.push({ path, device, uuid: randomUUID(), capacityLb: Math.floor(device.sizeBytes / LB_BYTES) });
      if (device.sizeBytes < minBytes) throw new DeviceTooSmallError(path, device.sizeBytes, minBytes);
      // A device of a create of this home that was killed before it finished is taken back.
      if (options.reclaimArrayUuid && (await superblockArrayUuid(device, runtime)) === options.reclaimArrayUuid) continue;
      const member = await withScratch(runtime, (scratch) => claimDevice(device, { arrayUuid: options.arrayUuid }, scratch, options.force ?? false));
      // A member of this array under another path (the image file behind a loop device the
      // array has) or a copy of one: not stale, so --force must not overwrite it either.
      const current = member ? options.members?.find((row) => row.uuid === member.deviceUuid && row.state !== 'removed') : undefined;
      if (current) {
        throw new InvalidArgumentError(
          `device ${path} carries the superblock of device ${current.deviceId} of this array (${current.state} at ${current.path}): ` +
            `it is that device under another path or a copy of it, and is not added, also with --force (wipe a copy first)`,
        );
      }
      if (member && !options.force) {
        // A stale member (failed, removed or rebuilt away): its blocks and metadata are old.
        throw new ForeignDeviceError(
          path,
          `stale device ${member.deviceId} of this array`,
          `device ${path} was device ${member.deviceId} of this array and is stale (failed, removed or rebuilt away): its blocks and metadata are old; use --force (force: true) to reuse it`,
        );
      }
      // No superblock: refuse a device that holds anything else (a file system, an archive, data).
      if (member === null && !options.force) await withScratch(runtime, (scratch) => refuseForeignContent(device, scratch), PROBE_SCRATCH_BYTES);
    }
  } catch (error) {
    await Promise.allSettled(prepared.map((entry) => entry.device.close()));
    throw error;
  }
  return prepared;
}

/** The array UUID in a device's superblock, if it has a readable one. */
async function superblockArrayUuid(device: Device, runtime: Runtime): Promise<string | undefined> {
  try {
    return (await withScratch(runtime, async (scratch) => chooseSuperblock(await readSuperblocks(device, scratch))))?.arrayUuid;
  } catch {
    return undefined;
  }
}

export function deviceRowFor(entry: NewDevice, deviceId: number, layout: MetadataLayout): DeviceRow {
  return {
    deviceId,
    uuid: entry.uuid,
    path: entry.path,
    capacityLb: entry.capacityLb,
    dataStartLb: dataStartLb(layout),
    dataEndLb: entry.capacityLb - TRAILING_RESERVED_LB,
    state: 'online',
    addedMs: Date.now(),
  };
}

export function superblockFor(settings: Settings, row: DeviceRow): Superblock {
  return newSuperblock({
    arrayUuid: settings.arrayUuid,
    metadataRegionLb: settings.metadataRegionLb,
    journalRingLb: settings.journalRingLb,
    checkpointSlotLb: settings.checkpointSlotLb,
    deviceUuid: row.uuid,
    deviceId: row.deviceId,
    capacityBytes: row.capacityLb * LB_BYTES,
    createdTimeMs: row.addedMs,
  });
}

export async function writeDeviceSuperblock(runtime: Runtime, device: Device, superblock: Superblock): Promise<void> {
  await withScratch(runtime, (scratch) => writeSuperblocks(device, superblock, scratch));
}

/** A recorded device found at another path than its row's (loop devices re-attached in another order, images moved). */
export interface MovedDevice {
  deviceId: number;
  from: string;
  to: string;
}

/**
 * Opens every recorded device and checks its superblock names this array and this slot. A
 * device not at its recorded path (the path holds another device, or nothing) is looked for
 * by UUID among the other recorded paths and the scan patterns (`scan`, else ELASTRIPE_SCAN,
 * else loop, by-id and nbd devices; `false` skips the scan) before it counts as 'missing'.
 */
export async function openRecordedDevices(
  rows: readonly DeviceRow[],
  arrayUuid: string,
  runtime: Runtime,
  options: { scan?: readonly string[] | false } = {},
): Promise<{ devices: ArrayDevices; moved: MovedDevice[] }> {
  const devices = new ArrayDevices();
  const lost: { row: DeviceRow; reason: string; foreignArrayUuid?: string }[] = [];
  for (const row of rows) {
    if (row.state === 'removed') continue;
    if (row.state === 'failed') {
      devices.add({ row, device: undefined, state: 'failed', reason: 'marked failed', ioErrors: 0 });
      continue;
    }
    const opened = await openAsRecorded(row.path, row, arrayUuid, runtime);
    // A 'draining' device (being removed) is online and readable, but takes no new blocks.
    if (opened.device) devices.add({ row, device: opened.device, state: 'online', ioErrors: 0, draining: row.state === 'draining', spare: row.state === 'spare' });
    else lost.push({ row, reason: opened.reason!, foreignArrayUuid: opened.foreignArrayUuid });
  }
  const moved: MovedDevice[] = [];
  const found = lost.length > 0 && options.scan !== false ? await locateByUuid(lost.map((entry) => entry.row), rows, arrayUuid, options.scan) : new Map<string, string>();
  for (const entry of lost) {
    const path = found.get(entry.row.uuid);
    const opened = path === undefined ? undefined : await openAsRecorded(path, entry.row, arrayUuid, runtime);
    if (opened?.device) {
      devices.add({ row: { ...entry.row, path: path! }, device: opened.device, state: 'online', ioErrors: 0, draining: entry.row.state === 'draining', spare: entry.row.state === 'spare' });
      moved.push({ deviceId: entry.row.deviceId, from: entry.row.path, to: path! });
    } else {
      devices.add({ row: entry.row, device: undefined, state: 'missing', reason: entry.reason, ioErrors: 0, foreignArrayUuid: entry.foreignArrayUuid, draining: entry.row.state === 'draining', spare: entry.row.state === 'spare' });
    }
  }
  return { devices, moved };
}

export async function openAsRecorded(path: string, row: DeviceRow, arrayUuid: string, runtime: Runtime): Promise<{ device?: Device; reason?: string; foreignArrayUuid?: string }> {
  let device: Device | undefined;
  try {
    device = await openRecordedDevice(path, runtime);
    const superblock = await withScratch(runtime, async (scratch) => chooseSuperblock(await readSuperblocks(device!, scratch)));
    const problem = identityProblem(superblock, arrayUuid, { ...row, path }, device.sizeBytes);
    if (problem) {
      await device.close().catch(() => undefined);
      return { reason: problem, foreignArrayUuid: superblock && superblock.arrayUuid !== arrayUuid ? superblock.arrayUuid : undefined };
    }
    return { device };
  } catch (error) {
    await device?.close().catch(() => undefined);
    return { reason: error instanceof ElastripeError ? error.message : String(error) };
  }
}

/** One scan for every lost device: device UUID -> the path that now carries it. */
export async function locateByUuid(lost: readonly DeviceRow[], rows: readonly DeviceRow[], arrayUuid: string, patterns: readonly string[] | undefined): Promise<Map<string, string>> {
  const wanted = new Set(lost.map((row) => row.uuid));
  const candidates = rows.map((row) => row.path);
  const report = await scanForDevices([...candidates, ...scanPatterns(patterns)], { arrayUuid });
  const conflicted = new Set(report.conflicts.map((conflict) => conflict.deviceUuid));
  const found = new Map<string, string>();
  for (const device of report.found) {
    const uuid = device.superblock.deviceUuid;
    if (wanted.has(uuid) && !conflicted.has(uuid) && !found.has(uuid)) found.set(uuid, device.path);
  }
  return found;
}

function identityProblem(superblock: Superblock | null, arrayUuid: string, row: DeviceRow, sizeBytes: number): string | undefined {
  // Size 0: nothing is there now (a loop device detached from its file, a disk pulled from
  // behind its node), not a device that lost its superblock.
  if (!superblock && sizeBytes === 0) return `${row.path} is empty (size 0): a detached loop device, or a disk gone from behind its node`;
  if (!superblock) return `${row.path} has no elastripe superblock`;
  if (superblock.arrayUuid !== arrayUuid) return `${row.path} belongs to array ${superblock.arrayUuid}`;
  if (superblock.deviceUuid !== row.uuid) return `${row.path} is device ${superblock.deviceUuid}, not the recorded ${row.uuid}`;
  // Its superblock survived but its end did not (an image truncated, a volume shrunk): blocks
  // past the end are gone, and a write there would fail or silently grow a file with holes.
  if (sizeBytes < row.capacityLb * LB_BYTES) {
    return `${row.path} is ${sizeBytes} bytes, smaller than the ${row.capacityLb * LB_BYTES} it had (truncated or shrunk): its blocks past the end are gone`;
  }
  return undefined;
}
