// A put's source given as a path (`put(name, { path })`): a regular file or block device is read
// by position straight into the write path's arena group buffers — with io_uring and O_DIRECT
// for the 4 KiB-aligned body (READ_FIXED: the arena is registered), and with plain pread for
// the unaligned tail or when the filesystem refuses O_DIRECT — so its bytes are never copied
// in user space and no buffer is allocated per chunk. A FIFO, pipe or character device cannot be
// read by position: it is read in order, still straight into the group buffers; so is a regular
// file whose size is 0 (procfs reports 0 for files that hold bytes).
//
// Invariants (assertInvariants):
//  1. The direct part never reads past sizeBytes rounded down to whole LBs.
//  2. Once closed, no read is started.
import { closeSync, constants, createReadStream, fstatSync, openSync, readSync, statSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { LB_BYTES } from '../constants.js';
import type { Device } from '../devices/device.js';
import { uringAvailable } from '../devices/uring_native.js';
import { openUringDevice } from '../devices/uring_device.js';
import { AbortedError, DeviceIoError, InvalidArgumentError, MisalignedIoError, NotFoundError } from '../errors.js';
import type { PositionalReader, SequentialReader } from './write_path.js';
import { unlessAborted } from './abort_race.js';

export interface FileReaderOptions {
  /** false: plain preads only (the array runs on the fs backend). */
  direct?: boolean;
  /** The put's signal: it also ends the wait of a FIFO's open for its first writer. */
  signal?: AbortSignal;
}

/** How often an aborted FIFO open is offered a writer, until its blocked open has returned. */
const FIFO_UNBLOCK_INTERVAL_MS = 20;

/** What a path source opens as: a positional reader, a sequential one (FIFO, pipe, character
 * device), or a stream (a block device without io_uring, whose size fs cannot tell). */
export type OpenedFileSource =
  | { kind: 'reader'; reader: FileReader }
  | { kind: 'sequential'; reader: SequentialReader; close: () => Promise<void> }
  | { kind: 'stream'; stream: Readable; close: () => Promise<void> };

/** Below this a second (O_DIRECT) descriptor costs more than the page-cache copy it saves. */
const DIRECT_READ_BYTES_MIN = 1024 * 1024;

function check(condition: boolean, message: string): asserts condition {
  if (!condition) throw new Error(`file_source: ${message}`);
}

/**
 * Opens the path for reading. The open of a FIFO blocks (on a thread-pool thread) until a writer
 * opens it, which may be never: an abort ends the wait at once, and the blocked open is freed by
 * opening the FIFO's write end for a moment (retried until that open has returned; a
 * non-blocking write open fails while no reader waits in the kernel yet), then closed. Another
 * reader blocked on the same FIFO at that moment sees a writer come and go without a byte (an
 * empty input), as it would if a real writer had done so: sharing a FIFO between readers is a
 * race anyway. Leaving the open blocked instead would hold a thread-pool thread (of 4) forever.
 */
async function openAbortably(path: string, signal: AbortSignal | undefined): Promise<FileHandle> {
  if (!signal) return open(path, 'r');
  if (signal.aborted) throw new AbortedError('put was aborted');
  const opening = open(path, 'r');
  return unlessAborted(opening, signal, () => freeBlockedOpen(path, opening), 'put was aborted while its source was being opened (a FIFO waiting for a writer)');
}

/** Opens the FIFO's write end for a moment, retried until the abandoned `opening` has returned (then its handle is closed). */
function freeBlockedOpen(path: string, opening: Promise<FileHandle>): void {
  let settled = false;
  const offerWriter = (): void => {
    try {
      closeSync(openSync(path, constants.O_WRONLY | constants.O_NONBLOCK));
    } catch {
      // ENXIO: the reader is not in the kernel's open yet (or it is not a FIFO); try again.
    }
  };
  const timer = setInterval(() => settled || offerWriter(), FIFO_UNBLOCK_INTERVAL_MS);
  const stop = (): void => {
    settled = true;
    clearInterval(timer);
  };
  opening.then((handle) => (stop(), handle.close()), stop).catch(() => undefined);
  offerWriter();
}

/** Node's system errors become typed errors naming the source file. */
function sourceError(error: unknown, path: string): unknown {
  const code = (error as { code?: unknown }).code;
  if (code === 'ENOENT') return new NotFoundError(`put source ${JSON.stringify(path)} does not exist`);
  if (code === 'EISDIR') return new InvalidArgumentError(`put source ${JSON.stringify(path)} is a directory`);
  if (code === 'EACCES' || code === 'EPERM') return new InvalidArgumentError(`put source ${JSON.stringify(path)} cannot be read: permission denied (${code})`);
  if (typeof code === 'string' && typeof (error as { errno?: unknown }).errno === 'number') {
    return new DeviceIoError(path, 'read', 0, -((error as { errno: number }).errno), (error as Error).message);
  }
  return error;
}

/** What FileReader reads through: a FileHandle, or a descriptor read with synchronous calls. */
type SourceHandle = Pick<FileHandle, 'read' | 'close'>;

/**
 * A regular file under DIRECT_READ_BYTES_MIN opened, checked and read with synchronous calls:
 * a few µs each, where the four thread-pool trips of the general path (open, fstat, read,
 * close) were most of a small put's cost (put --recursive of 4 KiB files). Anything else —
 * a larger file, a FIFO, a device, a path that is gone — is left to the general path
 * (undefined). The stat comes first so that nothing but a regular file is ever opened here:
 * opening the read end of a FIFO, even without blocking, would let its writer in.
 */
function openSmallFile(path: string): FileReader | undefined {
  let info;
  try {
    info = statSync(path, { throwIfNoEntry: false });
  } catch {
    return undefined;
  }
  if (!info?.isFile() || info.size === 0 || info.size >= DIRECT_READ_BYTES_MIN) return undefined;
  let fd: number;
  try {
    // O_NONBLOCK: should the path have become a FIFO since the stat, the open must not hang.
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch {
    return undefined;
  }
  try {
    const opened = fstatSync(fd);
    if (opened.isFile() && opened.size < DIRECT_READ_BYTES_MIN) {
      const handle = {
        read: async (buffer: Uint8Array, offset: number, length: number, position: number) => ({ bytesRead: readSync(fd, buffer, offset, length, position), buffer }),
        close: async () => closeSync(fd),
      } as unknown as SourceHandle;
      return new FileReader(path, handle, opened.size, undefined);
    }
  } catch {
    // fall through: the general path reports it
  }
  closeSync(fd);
  return undefined;
}

export async function openFileSource(path: string, options: FileReaderOptions = {}): Promise<OpenedFileSource> {
  const small = openSmallFile(path);
  if (small) return { kind: 'reader', reader: small };
  let handle: FileHandle;
  try {
    handle = await openAbortably(path, options.signal);
  } catch (error) {
    throw sourceError(error, path);
  }
  try {
    const info = await handle.stat();
    if (info.isDirectory()) throw new InvalidArgumentError(`put source ${JSON.stringify(path)} is a directory; put stores one file`);
    // A regular file of size 0 may be a pseudo-file (/proc/cpuinfo) whose size says nothing of
    // its bytes: it is read to its end like a pipe (an empty file then stores 0 bytes as well).
    if ((!info.isFile() && !info.isBlockDevice()) || (info.isFile() && info.size === 0)) {
      // Read in order straight into the group buffers (a blocking read on its own descriptor).
      const reader: SequentialReader = {
        read: async (target) => {
          try {
            return (await handle.read(target, 0, target.byteLength, null)).bytesRead;
          } catch (error) {
            throw sourceError(error, path);
          }
        },
      };
      // An abort leaves a read on an idle pipe pending: the descriptor closes once it settles.
      // (FileHandle.close waits for it, and a put must not wait for an idle writer.)
      const close = (): Promise<void> => {
        void handle.close().catch(() => undefined);
        return Promise.resolve();
      };
      return { kind: 'sequential', reader, close };
    }
    const wantDirect = options.direct !== false && uringAvailable().available && (info.isBlockDevice() || info.size >= DIRECT_READ_BYTES_MIN);
    const direct = wantDirect ? await openDirect(path) : undefined;
    let sizeBytes = info.size;
    if (info.isBlockDevice()) {
      if (direct === undefined) {
        // Without io_uring the device's size is unknown to fs: read it as a stream to its end.
        const stream = createReadStream('', { fd: handle.fd, autoClose: false, highWaterMark: 1024 * 1024 });
        return { kind: 'stream', stream, close: () => handle.close() };
      }
      sizeBytes = direct.sizeBytes + (await tailBytes(handle, direct.sizeBytes));
    }
    return { kind: 'reader', reader: new FileReader(path, handle, sizeBytes, direct) };
  } catch (error) {
    await handle.close().catch(() => undefined);
    throw sourceError(error, path);
  }
}

/** An O_DIRECT handle on the shared ring (no lock: the source is only read), or undefined. */
async function openDirect(path: string): Promise<Device | undefined> {
  try {
    return await openUringDevice(path, { exclusive: false });
  } catch {
    return undefined; // O_DIRECT refused (EINVAL on some filesystems, EROFS, ETXTBSY): preads do
  }
}

/** Bytes of a block device past its last whole LB (a 512-byte-sector device of odd size). */
async function tailBytes(handle: FileHandle, fromBytes: number): Promise<number> {
  const probe = Buffer.alloc(LB_BYTES);
  const { bytesRead } = await handle.read(probe, 0, LB_BYTES, fromBytes);
  return bytesRead;
}

export class FileReader implements PositionalReader {
  private closed = false;
  /** Bytes read with O_DIRECT and with pread (benchmarks and tests look). */
  directBytes = 0;
  bufferedBytes = 0;

  constructor(
    readonly path: string,
    private readonly handle: SourceHandle,
    readonly sizeBytes: number,
    private direct: Device | undefined,
  ) {}

  get usesDirectIo(): boolean {
    return this.direct !== undefined;
  }

  async readAt(target: Uint8Array, position: number): Promise<void> {
    check(!this.closed, 'read after close');
    let done = 0;
    if (this.direct && position % LB_BYTES === 0 && target.byteOffset % LB_BYTES === 0) {
      const directEnd = Math.min(position + target.byteLength, Math.floor(this.direct.sizeBytes / LB_BYTES) * LB_BYTES);
      const directBytes = Math.floor(Math.max(0, directEnd - position) / LB_BYTES) * LB_BYTES;
      if (directBytes > 0) {
        try {
          await this.direct.read([{ startLb: position / LB_BYTES, lengthLb: directBytes / LB_BYTES }], [target.subarray(0, directBytes)]);
          done = directBytes;
          this.directBytes += directBytes;
        } catch (error) {
          if (!(error instanceof MisalignedIoError || error instanceof DeviceIoError)) throw error;
          // O_DIRECT refused at read time (some filesystems accept the open): preads from now on.
          await this.dropDirect();
        }
      }
    }
    while (done < target.byteLength) {
      let bytesRead: number;
      try {
        ({ bytesRead } = await this.handle.read(target, done, target.byteLength - done, position + done));
      } catch (error) {
        throw sourceError(error, this.path);
      }
      if (bytesRead === 0) {
        throw new InvalidArgumentError(`put source ${JSON.stringify(this.path)} shrank while it was read (ends at byte ${position + done}, ${this.sizeBytes} expected)`);
      }
      done += bytesRead;
      this.bufferedBytes += bytesRead;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.dropDirect();
    await this.handle.close();
  }

  assertInvariants(): void {
    check(this.direct === undefined || this.direct.sizeBytes <= Math.ceil(this.sizeBytes / LB_BYTES) * LB_BYTES, 'the direct handle lies within the file');
    check(this.directBytes + this.bufferedBytes >= 0, 'counters are not negative');
  }

  private async dropDirect(): Promise<void> {
    const direct = this.direct;
    this.direct = undefined;
    await direct?.close().catch(() => undefined);
  }
}
