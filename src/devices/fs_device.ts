// The portable backend: node:fs positioned reads and writes on a FileHandle, for image files
// and block devices. It is the fallback where the io_uring addon cannot load, so it favours
// plain correctness over speed: buffered I/O (no O_DIRECT), libuv's thread pool for
// concurrency, fdatasync for flush, and no trim (Node exposes neither fallocate nor BLKDISCARD).
//
// Invariants:
//  1. sizeBytes is a whole number of logical blocks; every request lies inside it.
//  2. A device (by dev:ino, or rdev for block devices) is open at most once per process;
//     block devices are also opened O_EXCL so the kernel refuses a second opener elsewhere.
//  3. online is false once the device has been closed or has vanished (ENXIO/ENODEV);
//     every call after that rejects at once with DeviceFailedError.
import { constants as fsConstants, type BigIntStats } from 'node:fs';
import { open, readFile, stat, type FileHandle } from 'node:fs/promises';
import { LB_BYTES } from '../constants.js';
import { DeviceBusyError, DeviceFailedError, DeviceIoError, NotFoundError } from '../errors.js';
import type { Device, DeviceDescription, DeviceExtent } from './device.js';
import { ERRNO, errnoOf, settleBatch, validateBatch } from './device_batch.js';

/** One positioned read or write moves at most this much (Node caps a call below 2 GiB). */
const FS_IO_BYTES_MAX = 1 << 30;

export interface FsDeviceOptions {
  /** Open block devices with O_EXCL (default true). Files are guarded per process only. */
  readonly exclusive?: boolean;
  /** Why the factory fell back to this backend; shown in describe(). */
  readonly fallbackReason?: string;
  /** Open O_RDONLY and unclaimed (no O_EXCL, not counted as this process's open copy): writes fail. */
  readonly readOnly?: boolean;
}

/** Read-only opens get identities of their own: they may share a device with any other opener. */
let readOnlyOpens = 0;

/** Identities of devices this process has open, so a second open is refused (invariant 2). */
const openIdentities = new Set<string>();

export async function openFsDevice(path: string, options: FsDeviceOptions = {}): Promise<FsDevice> {
  const exclusive = options.exclusive ?? true;
  const info = await statOrThrow(path);
  const isBlock = info.isBlockDevice();
  if (!isBlock && !info.isFile()) throw new DeviceIoError(path, 'open', 0, ERRNO.EINVAL, 'not a file or block device');
  const identity = options.readOnly ? `read-only:${++readOnlyOpens}` : isBlock ? `block:${info.rdev}` : `file:${info.dev}:${info.ino}`;
  if (openIdentities.has(identity)) throw new DeviceBusyError(path, 'already open in this process');
  const flags = options.readOnly ? fsConstants.O_RDONLY : fsConstants.O_RDWR | (isBlock && exclusive ? fsConstants.O_EXCL : 0);
  let handle: FileHandle;
  try {
    handle = await open(path, flags);
  } catch (error) {
    const errno = errnoOf(error);
    if (errno === ERRNO.EBUSY) throw new DeviceBusyError(path, 'opened exclusively by another user or mounted');
    throw new DeviceIoError(path, 'open', 0, errno);
  }
  openIdentities.add(identity);
  try {
    const geometry = isBlock ? await blockGeometry(path, info) : { sizeBytes: Number(info.size), logicalBlockBytes: LB_BYTES };
    return new FsDevice(path, handle, identity, isBlock, geometry.sizeBytes, geometry.logicalBlockBytes, exclusive && !options.readOnly, options.fallbackReason ?? '');
  } catch (error) {
    openIdentities.delete(identity);
    await handle.close();
    throw error;
  }
}

async function statOrThrow(path: string): Promise<BigIntStats> {
  try {
    return await stat(path, { bigint: true });
  } catch (error) {
    const errno = errnoOf(error);
    if (errno === 2) throw new NotFoundError(`device ${path} does not exist (ENOENT)`);
    throw new DeviceIoError(path, 'stat', 0, errno);
  }
}

/**
 * fstat reports size 0 for block devices, so the size comes from sysfs, found through the
 * device number (works for /dev/loopN, partitions and /dev/mapper symlinks alike).
 * /sys/dev/block/M:m/size counts 512-byte sectors whatever the logical block size.
 */
async function blockGeometry(path: string, info: BigIntStats): Promise<{ sizeBytes: number; logicalBlockBytes: number }> {
  const major = Number(((info.rdev >> 8n) & 0xfffn) | ((info.rdev >> 32n) & ~0xfffn));
  const minor = Number((info.rdev & 0xffn) | ((info.rdev >> 12n) & ~0xffn));
  const base = `/sys/dev/block/${major}:${minor}`;
  let sectors: number;
  try {
    sectors = Number((await readFile(`${base}/size`, 'utf8')).trim());
  } catch (error) {
    throw new DeviceIoError(path, 'size', 0, errnoOf(error), `cannot read ${base}/size`);
  }
  // A partition has no queue/ of its own; its parent disk's applies.
  let logicalBlockBytes = 512;
  for (const candidate of [`${base}/queue/logical_block_size`, `${base}/../queue/logical_block_size`]) {
    const text = await readFile(candidate, 'utf8').catch(() => null);
    if (text !== null) {
      logicalBlockBytes = Number(text.trim());
      break;
    }
  }
  return { sizeBytes: sectors * 512, logicalBlockBytes };
}

export class FsDevice implements Device {
  readonly backend = 'fs' as const;
  readonly sizeBytes: number;
  private state: 'open' | 'failed' | 'closed' = 'open';
  private failure = '';

  constructor(
    readonly path: string,
    private readonly handle: FileHandle,
    private readonly identity: string,
    private readonly isBlock: boolean,
    rawSizeBytes: number,
    readonly logicalBlockBytes: number,
    private readonly exclusive: boolean,
    private readonly fallbackReason: string,
  ) {
    this.sizeBytes = rawSizeBytes - (rawSizeBytes % LB_BYTES);
    this.assertInvariants();
  }

  get online(): boolean {
    return this.state === 'open';
  }

  async read(extents: readonly DeviceExtent[], buffers: readonly Uint8Array[]): Promise<void> {
    this.checkUsable();
    validateBatch(this.path, 'read', extents, buffers, this.sizeBytes);
    await settleBatch(extents.map((extent, i) => this.transfer('read', extent.startLb * LB_BYTES, buffers[i]!)));
  }

  async write(extents: readonly DeviceExtent[], buffers: readonly Uint8Array[]): Promise<void> {
    this.checkUsable();
    validateBatch(this.path, 'write', extents, buffers, this.sizeBytes);
    await settleBatch(extents.map((extent, i) => this.transfer('write', extent.startLb * LB_BYTES, buffers[i]!)));
  }

  async flush(): Promise<void> {
    this.checkUsable();
    try {
      await this.handle.datasync();
    } catch (error) {
      throw this.ioError('flush', 0, error);
    }
  }

  /** No-op: Node has no hole punching or discard. describe() says so. */
  async trim(extents: readonly DeviceExtent[]): Promise<void> {
    this.checkUsable();
    validateBatch(this.path, 'trim', extents, null, this.sizeBytes);
  }

  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.failure = 'closed';
    openIdentities.delete(this.identity);
    await this.handle.close();
    this.assertInvariants();
  }

  describe(): DeviceDescription {
    return {
      path: this.path,
      backend: 'fs',
      sizeBytes: this.sizeBytes,
      logicalBlockBytes: this.logicalBlockBytes,
      kind: this.isBlock ? 'block' : 'file',
      online: this.online,
      detail: {
        directIo: false,
        trim: 'unsupported (no-op)',
        exclusive: this.isBlock && this.exclusive,
        flush: 'fdatasync',
        ...(this.fallbackReason ? { fallbackReason: this.fallbackReason } : {}),
      },
    };
  }

  assertInvariants(): void {
    if (this.sizeBytes % LB_BYTES !== 0) throw new Error('fs_device: size is not whole logical blocks');
    if ((this.state === 'open') !== openIdentities.has(this.identity) && this.state !== 'failed') {
      throw new Error('fs_device: open registry out of step with state');
    }
    if (this.state !== 'open' && this.failure === '') throw new Error('fs_device: offline without a reason');
  }

  /** Loops over short transfers; a read that hits end of file is an error, not zeros. */
  private async transfer(operation: 'read' | 'write', offsetBytes: number, buffer: Uint8Array): Promise<void> {
    let doneBytes = 0;
    while (doneBytes < buffer.byteLength) {
      const lengthBytes = Math.min(buffer.byteLength - doneBytes, FS_IO_BYTES_MAX);
      const position = offsetBytes + doneBytes;
      let movedBytes: number;
      try {
        movedBytes = operation === 'read'
          ? (await this.handle.read(buffer, doneBytes, lengthBytes, position)).bytesRead
          : (await this.handle.write(buffer, doneBytes, lengthBytes, position)).bytesWritten;
      } catch (error) {
        throw this.ioError(operation, position, error);
      }
      if (movedBytes === 0) throw new DeviceIoError(this.path, operation, position, ERRNO.EIO, 'unexpected end of device');
      doneBytes += movedBytes;
    }
  }

  private ioError(operation: string, offsetBytes: number, error: unknown): DeviceIoError {
    const errno = errnoOf(error);
    // The device node is gone (hot-unplug, loop detached): nothing later can succeed.
    if (errno === ERRNO.ENXIO || errno === ERRNO.ENODEV) this.markFailed(`${operation} returned errno ${errno}`);
    return new DeviceIoError(this.path, operation, offsetBytes, errno);
  }

  private markFailed(reason: string): void {
    if (this.state !== 'open') return;
    this.state = 'failed';
    this.failure = reason;
  }

  private checkUsable(): void {
    if (this.state !== 'open') throw new DeviceFailedError(this.path, this.failure);
  }
}
