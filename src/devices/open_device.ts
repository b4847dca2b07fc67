// The device factory: picks a backend for a path or URL, reports which backends this process
// can use and why not, and creates sparse image files.
//
// Choice: nbd://... -> the NBD client. Otherwise 'auto' takes io_uring when the addon loads
// and the path opens with O_DIRECT, and node:fs when not (with the reason in describe()).
import { constants as fsConstants, lstatSync, statSync } from 'node:fs';
import { open, unlink } from 'node:fs/promises';
import { resolve } from 'node:path';
import { LB_BYTES } from '../constants.js';
import { DeviceIoError, InvalidArgumentError, NotFoundError } from '../errors.js';
import type { Device } from './device.js';
import { errnoOf } from './device_batch.js';
import { openFsDevice } from './fs_device.js';
import { ReadOnlyDevice } from './read_only_device.js';
import type { NbdDeviceOptions } from './nbd_device.js';
import { openUringDevice } from './uring_device.js';
import { uringAvailable } from './uring_native.js';

export type BackendChoice = 'auto' | 'uring' | 'fs';

export interface OpenDeviceOptions {
  readonly backend?: BackendChoice;
  /** The arena view the uring backend registers as fixed buffers. */
  readonly registeredMemory?: Uint8Array;
  /** Register it only once this many bytes have gone through the ring (UringRing.registerArenaAfter). */
  readonly registerAfterBytes?: number;
  /** O_EXCL for block devices (default true). */
  readonly exclusive?: boolean;
  /** Timeouts and queue depth for nbd:// devices. */
  readonly nbd?: NbdDeviceOptions;
  /**
   * Read only: local paths open O_RDONLY on the fs backend (the io_uring addon opens devices
   * read-write), unclaimed; every write, flush or trim is refused with READ_ONLY.
   */
  readonly readOnly?: boolean;
}

export interface BackendAvailability {
  readonly available: boolean;
  readonly reason?: string;
}

export interface BackendReport {
  readonly uring: BackendAvailability;
  readonly fs: BackendAvailability;
  readonly nbd: BackendAvailability;
  /** What 'auto' picks for local paths. */
  readonly auto: 'uring' | 'fs';
}

const ENOENT = 2;

/** errno values from the uring open that mean "this path cannot do O_DIRECT here". */
const URING_FALLBACK_ERRNOS = new Set([22 /* EINVAL: no O_DIRECT on this filesystem */, 38 /* ENOSYS */, 95 /* EOPNOTSUPP */]);

const BACKEND_CHOICES: readonly string[] = ['auto', 'uring', 'fs'];

/** A backend choice that is none of auto, uring, fs (a typo such as 'io_uring') is refused, not taken as auto. */
export function checkBackendChoice(backend: unknown): asserts backend is BackendChoice | undefined {
  if (backend !== undefined && !BACKEND_CHOICES.includes(backend as string)) {
    throw new InvalidArgumentError(`backend must be 'auto', 'uring' or 'fs', not ${JSON.stringify(backend)}`);
  }
}

export function isNbdUrl(path: string): boolean {
  return path.startsWith('nbd://');
}

export async function openDevice(path: string, options: OpenDeviceOptions = {}): Promise<Device> {
  if (options.readOnly) return new ReadOnlyDevice(await openReadOnly(path, options));
  checkBackendChoice(options.backend);
  const backend = options.backend ?? 'auto';
  if (isNbdUrl(path)) {
    if (backend !== 'auto') throw new InvalidArgumentError(`${path} is an NBD URL; backend '${backend}' applies to local paths only`);
    return openNbd(path, options.nbd);
  }
  refuseNonDevice(path);
  const exclusive = options.exclusive ?? true;
  if (backend === 'fs') return openFsDevice(path, { exclusive });
  if (backend === 'uring') return openUring(path, options, exclusive);
  const uring = uringAvailable();
  if (!uring.available) return openFsDevice(path, { exclusive, fallbackReason: `uring unavailable: ${uring.reason}` });
  try {
    return await openUring(path, options, exclusive);
  } catch (error) {
    if (!(error instanceof DeviceIoError) || error.operation !== 'open' || !URING_FALLBACK_ERRNOS.has(error.errno)) throw error;
    return openFsDevice(path, { exclusive, fallbackReason: `uring could not open it: ${error.message}` });
  }
}

/** The uring open, with a path that does not exist reported as the fs backend does (NOT_FOUND, not DEVICE_IO). */
async function openUring(path: string, options: OpenDeviceOptions, exclusive: boolean): Promise<Device> {
  try {
    return await openUringDevice(path, { registeredMemory: options.registeredMemory, registerAfterBytes: options.registerAfterBytes, exclusive });
  } catch (error) {
    if (error instanceof DeviceIoError && error.operation === 'open' && error.errno === ENOENT) throw new NotFoundError(`device ${path} does not exist (ENOENT)`);
    throw error;
  }
}

/**
 * A directory, FIFO, socket or character device is no place for an array (the backends would
 * say EINVAL or ENOTBLK); say what it is instead. A path that cannot be stat'ed is left to the
 * backend, which reports it (NOT_FOUND, DEVICE_IO).
 */
function refuseNonDevice(path: string): void {
  let info;
  try {
    info = statSync(path);
  } catch {
    return;
  }
  if (info.isFile() || info.isBlockDevice()) return;
  if (info.isDirectory()) throw new InvalidArgumentError(`${path} is a directory, not a device (give an image file, a block device or an nbd:// URL)`);
  const kind = info.isFIFO() ? 'a FIFO' : info.isSocket() ? 'a socket' : info.isCharacterDevice() ? 'a character device' : 'a special file';
  throw new InvalidArgumentError(`${path} is ${kind}, not an image file or a block device`);
}

/** The NBD client loads on first use: it pulls in node:net, which a local array never needs. */
async function openNbd(url: string, options: NbdDeviceOptions | undefined): Promise<Device> {
  const { openNbdDevice } = await import('./nbd_device.js');
  return openNbdDevice(url, options);
}

async function openReadOnly(path: string, options: OpenDeviceOptions): Promise<Device> {
  if (isNbdUrl(path)) return openNbd(path, options.nbd);
  refuseNonDevice(path);
  return openFsDevice(path, { readOnly: true, fallbackReason: 'opened read-only (O_RDONLY through node:fs)' });
}

export function backendReport(): BackendReport {
  const uring = uringAvailable();
  return {
    uring: uring.available ? { available: true } : { available: false, reason: uring.reason ?? 'unknown' },
    fs: { available: true },
    nbd: { available: true },
    auto: uring.available ? 'uring' : 'fs',
  };
}

/**
 * Creates a sparse image file of sizeBytes (a whole number of logical blocks). An existing
 * file is refused unless overwrite is set, so a typo cannot clobber someone's data.
 */
export async function createImageFile(path: string, sizeBytes: number, options: { overwrite?: boolean } = {}): Promise<void> {
  if (!Number.isSafeInteger(sizeBytes) || sizeBytes <= 0 || sizeBytes % LB_BYTES !== 0) {
    throw new InvalidArgumentError(`image size ${sizeBytes} must be a positive multiple of ${LB_BYTES} bytes`);
  }
  // A missing path under /dev is a mistyped block device (/dev/loop99, /dev/sdz), not an image
  // to make: a file there lives in RAM and is gone at the next boot. /dev/shm is a file system.
  const full = resolve(path);
  if (full.startsWith('/dev/') && !full.startsWith('/dev/shm/')) {
    throw new NotFoundError(`device ${path} does not exist; --size makes image files, never under /dev (a block device comes from its driver, e.g. losetup)`);
  }
  const flags = fsConstants.O_RDWR | fsConstants.O_CREAT | (options.overwrite ? fsConstants.O_TRUNC : fsConstants.O_EXCL);
  let handle;
  try {
    handle = await open(path, flags, 0o644);
  } catch (error) {
    if (errnoOf(error) === 17) throw new InvalidArgumentError(existingImageMessage(path));
    throw new DeviceIoError(path, 'create', 0, errnoOf(error));
  }
  try {
    await handle.truncate(sizeBytes);
  } catch (error) {
    await handle.close();
    await unlink(path).catch(() => undefined);
    throw new DeviceIoError(path, 'truncate', 0, errnoOf(error));
  }
  await handle.close();
}

/** Why a new image cannot be made where something already is (a race, or a dangling symlink). */
function existingImageMessage(path: string): string {
  let dangling = false;
  try {
    dangling = lstatSync(path).isSymbolicLink();
  } catch {
    // gone again: report it as existing
  }
  return dangling
    ? `${path} is a symbolic link to a file that does not exist; image files are only created at a real path, never through a link`
    : `${path} already exists; a new image file is never created over an existing one`;
}
