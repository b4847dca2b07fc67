// Where `get --recursive` writes its files, made for many small ones. Each file still appears
// complete under its name or not at all — written to a hidden partial file beside it
// (`.NAME.elastripe-partial-PID`, O_EXCL), renamed into place — and when the command exits 0
// everything it wrote is durable. What changed is how the durability is paid for:
//
//   - per output file system, one syncfs(2) per window of files (WINDOW_FILES or WINDOW_BYTES,
//     whichever comes first) instead of one fdatasync per file. The window's partial files are
//     written, the file system is synced, and only then are they renamed into place, so a
//     name never points at bytes that are not on disk — after a power cut too, as with an
//     fdatasync per file. The descriptor syncfs goes through is opened before the first file
//     is written there, so (Linux >= 5.8) a writeback error of any of them is reported;
//   - at the end, one more syncfs per file system (the last renames), and every directory
//     written into or created (up to DIR's parent) is fsync'ed, so the renames and the new
//     directories are durable before exit 0. (The old path did not fsync directories at all.)
//     A directory we may write but not read (a drop box) has no descriptor: its files are
//     fdatasync'ed one by one before their renames, and it is not fsync'ed itself;
//   - without syncfs (an addon built before it, or no addon): an fdatasync per file before its
//     rename, as before, and the same directory fsyncs at the end.
//
// A file's problems stay that file's typed failure (INVALID_ARGUMENT, OUTPUT_ERROR, ...); a
// failed syncfs fails every file of its window (their partial files are removed, nothing is
// renamed). A partial file is never under a final name; an interrupted batch (Ctrl-C) removes
// the partial files of the window not yet synced, and only a kill -9 can leave some behind
// under their hidden names.
//
// The file system calls are synchronous: on a small file each costs a few microseconds, while
// a trip through libuv's thread pool costs the event loop more than that (profiled: 20 of them
// per file were 70% of a 10,000-file get). Array reads are io_uring requests, so they go on
// while these run. Directories are created and resolved once per batch, not once per file.
import { closeSync, fdatasync, fstatSync, fsync, lstatSync, openSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { mkdir, realpath } from 'node:fs/promises';
import { dirname, join, sep } from 'node:path';
import { promisify } from 'node:util';
import { uringAddon, uringAvailable } from '../devices/uring_native.js';
import { InvalidArgumentError, OutputError, errnoName } from '../errors.js';
import { displayName } from './format.js';
import { fromSystemError, isSystemError } from './system_errors.js';

/** Files below this size are read whole into a lane buffer and written here; larger ones stream. */
export const SMALL_FILE_BYTES_MAX = 1024 * 1024;
/** A window: this many files or bytes written before one syncfs and their renames. */
export const WINDOW_FILES = 4096;
export const WINDOW_BYTES = 256 * 1024 * 1024;
/** Windows written but not yet synced and renamed, before writers wait. */
const WINDOWS_IN_FLIGHT_MAX = 2;

const fdatasyncAsync = promisify(fdatasync);
const fsyncAsync = promisify(fsync);

export type Durability = 'syncfs' | 'fdatasync';

/** A directory of the output tree, created and resolved: its real path and file system. */
export interface OutputDirectory {
  readonly path: string;
  readonly dev: number;
  /** Made by this batch: whatever is in it, the batch put there (no lstat per file needed). */
  readonly fresh: boolean;
}

interface Pending<T> {
  item: T;
  partial: string;
  final: string;
  shown: string;
  dev: number;
  bytes: number;
}

/** How a file ended: its bytes, or its failure. */
export type Settle<T> = (item: T, outcome: number | Error) => void;

function typed(error: unknown, shown: string, action: string): unknown {
  return isSystemError(error) ? fromSystemError(error, displayName(shown), action) : error;
}

/** fdatasync of a file by path (a partial file in a directory with no syncfs descriptor). */
async function fdatasyncPath(path: string): Promise<void> {
  const fd = openSync(path, 'r');
  try {
    await fdatasyncAsync(fd);
  } finally {
    closeSync(fd);
  }
}

export class BatchOutput<T> {
  private readonly directories = new Map<string, Promise<OutputDirectory>>();
  /** Every directory to fsync at the end: the ones written into, and their parents up to DIR's. */
  private readonly toFsync = new Set<string>();
  /** One descriptor per file system written to, opened before the first write there. */
  private readonly syncDescriptors = new Map<number, number>();
  private pending: Pending<T>[] = [];
  private pendingBytes = 0;
  private windowsInFlight = 0;
  private committed: Promise<void> = Promise.resolve();
  private closed = false;
  readonly durability: Durability;

  /** `root`: DIR's real path; `realHome`: the array home's real path (never written into). */
  constructor(
    private readonly root: string,
    private readonly rootCreated: boolean,
    private readonly realHome: string,
    private readonly settle: Settle<T>,
    durability?: Durability,
  ) {
    this.durability = durability ?? (uringAvailable().available && typeof uringAddon().syncfs === 'function' ? 'syncfs' : 'fdatasync');
    this.toFsync.add(dirname(root));
    this.toFsync.add(root);
    // DIR's file system from the start, before anything is written (see resolve for others).
    if (this.durability === 'syncfs') {
      try {
        const fd = openSync(root, 'r');
        this.syncDescriptors.set(fstatSync(fd).dev, fd);
      } catch {
        // not readable: resolve opens one in the first readable directory, or files are fdatasync'ed
      }
    }
  }

  /** The directory DIR/PARTS..., created if missing (once per batch); refused if it leaves DIR. */
  async directory(parts: readonly string[], shown: string): Promise<OutputDirectory> {
    const key = parts.join('/');
    let found = this.directories.get(key);
    if (found === undefined) {
      found = this.resolve(parts);
      this.directories.set(key, found);
    }
    const directory = await found;
    // Checked per file, so the failure names the file. A symbolic link inside DIR must not carry it out.
    if (directory.path !== this.root && !directory.path.startsWith(this.root + sep)) {
      throw new InvalidArgumentError(`${displayName(shown)} would leave ${displayName(this.root)} through a symbolic link; not written`);
    }
    if (directory.path === this.realHome || directory.path.startsWith(this.realHome + sep)) {
      throw new InvalidArgumentError(`${displayName(shown)} is in the array's home ${displayName(this.realHome)}; get does not write there`);
    }
    return directory;
  }

  private async resolve(parts: readonly string[]): Promise<OutputDirectory> {
    const path = join(this.root, ...parts);
    // recursive mkdir returns the first directory it made: then `path` itself is new too.
    const made = await mkdir(path, { recursive: true });
    const real = await realpath(path);
    const { dev } = statSync(real);
    if (this.durability === 'syncfs' && !this.syncDescriptors.has(dev) && !this.closed) {
      try {
        this.syncDescriptors.set(dev, openSync(real, 'r'));
      } catch {
        // Writable but not readable (a drop box): the files there are fdatasync'ed one by one.
      }
    }
    // Its entry in its parent, and theirs, up to DIR (a symbolic link out is refused by the caller).
    for (let at = real; at.startsWith(this.root + sep); at = dirname(at)) this.toFsync.add(at);
    return { path: real, dev, fresh: made !== undefined || (parts.length === 0 && this.rootCreated) };
  }

  /**
   * Whether nothing is at DIRECTORY/LEAF: then `write` may make it. Otherwise the caller takes
   * the general path (output_target.ts), which knows what to replace and what to refuse.
   */
  isFree(directory: OutputDirectory, leaf: string, shown: string): boolean {
    // In a directory this batch made, only its own files are there, each under its own name.
    if (directory.fresh) return true;
    try {
      return lstatSync(join(directory.path, leaf), { throwIfNoEntry: false }) === undefined;
    } catch (error) {
      throw typed(error, shown, 'write');
    }
  }

  /**
   * Writes `bytes` as DIRECTORY/LEAF (found free by `isFree`) through a partial file. 'queued'
   * when its rename waits for its window's syncfs (the outcome comes through `settle`); else
   * the bytes written, the file in place.
   */
  async write(directory: OutputDirectory, leaf: string, bytes: Uint8Array, shown: string, item: T): Promise<'queued' | number> {
    const final = join(directory.path, leaf);
    while (this.windowsInFlight >= WINDOWS_IN_FLIGHT_MAX) await this.committed;
    const partial = join(directory.path, `.${leaf}.elastripe-partial-${process.pid}`);
    let fd: number;
    try {
      fd = openSync(partial, 'wx', 0o666);
    } catch (error) {
      throw typed(error, shown, 'write');
    }
    try {
      for (let done = 0; done < bytes.byteLength; ) done += writeSync(fd, bytes, done, bytes.byteLength - done);
      if (this.durability === 'fdatasync') await fdatasyncAsync(fd);
    } catch (error) {
      closeSync(fd);
      rmSync(partial, { force: true });
      throw typed(error, shown, 'write');
    }
    try {
      closeSync(fd);
      if (this.durability === 'fdatasync') {
        renameSync(partial, final);
        return bytes.byteLength;
      }
    } catch (error) {
      rmSync(partial, { force: true });
      throw typed(error, shown, 'write');
    }
    this.pending.push({ item, partial, final, shown, dev: directory.dev, bytes: bytes.byteLength });
    this.pendingBytes += bytes.byteLength;
    if (this.pending.length >= WINDOW_FILES || this.pendingBytes >= WINDOW_BYTES) this.commitWindow();
    return 'queued';
  }

  /** Hands the current window to the committer: syncfs of its file systems, then its renames. */
  private commitWindow(): void {
    const window = this.pending;
    this.pending = [];
    this.pendingBytes = 0;
    if (window.length === 0) return;
    this.windowsInFlight++;
    this.committed = this.committed.then(async () => {
      try {
        let failure: Error | undefined;
        for (const dev of new Set(window.map((file) => file.dev))) {
          const fd = this.syncDescriptors.get(dev);
          const result = fd === undefined ? 0 : await uringAddon().syncfs!(fd);
          if (result < 0) failure ??= new OutputError(`cannot make the files written under ${displayName(this.root)} durable: syncfs failed: ${errnoName(-result)}; not renamed into place`);
        }
        for (const file of window) {
          if (failure === undefined && !this.syncDescriptors.has(file.dev)) {
            try {
              await fdatasyncPath(file.partial);
            } catch (error) {
              rmSync(file.partial, { force: true });
              const reason = typed(error, file.shown, 'write');
              this.settle(file.item, reason instanceof Error ? reason : new Error(String(reason)));
              continue;
            }
          }
          if (failure !== undefined) {
            rmSync(file.partial, { force: true });
            this.settle(file.item, failure);
            continue;
          }
          try {
            renameSync(file.partial, file.final);
            this.settle(file.item, file.bytes);
          } catch (error) {
            rmSync(file.partial, { force: true });
            const reason = typed(error, file.shown, 'write');
            this.settle(file.item, reason instanceof Error ? reason : new Error(String(reason)));
          }
        }
      } finally {
        this.windowsInFlight--;
      }
    });
  }

  /**
   * The end of a successful batch: the last window synced and renamed, then every directory
   * written into fsync'ed. Only after this may the command say the files are there.
   */
  async finish(): Promise<void> {
    this.commitWindow();
    await this.committed;
    try {
      // The last renames: one more syncfs per file system covers them (and the directories);
      // the fsyncs below are what POSIX asks for, and all there is without syncfs.
      for (const fd of this.syncDescriptors.values()) {
        const result = await uringAddon().syncfs!(fd);
        if (result < 0) throw new OutputError(`cannot make the files written under ${displayName(this.root)} durable: syncfs failed: ${errnoName(-result)}`);
      }
      for (const directory of [...this.toFsync].sort((a, b) => b.length - a.length)) {
        let fd: number;
        try {
          fd = openSync(directory, 'r');
        } catch (error) {
          // A directory that never got made, or one we may write but not read (no descriptor to fsync).
          if (isSystemError(error) && (error.code === 'ENOENT' || error.code === 'EACCES' || error.code === 'EPERM')) continue;
          throw error;
        }
        try {
          await fsyncAsync(fd);
        } finally {
          closeSync(fd);
        }
      }
    } catch (error) {
      throw isSystemError(error) ? new OutputError(`cannot make the files written under ${displayName(this.root)} durable: ${error.message}`, { cause: error }) : error;
    } finally {
      this.close();
    }
  }

  /** The end of a failed or interrupted batch: the unsynced window's partial files removed. */
  async abandon(): Promise<void> {
    const window = this.pending;
    this.pending = [];
    for (const file of window) {
      rmSync(file.partial, { force: true });
      this.settle(file.item, new OutputError(`${displayName(file.shown)} was not renamed into place: the batch stopped first`));
    }
    await this.committed;
    this.close();
  }

  private close(): void {
    this.closed = true;
    for (const fd of this.syncDescriptors.values()) closeSync(fd);
    this.syncDescriptors.clear();
  }
}
