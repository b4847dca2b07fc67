// Where `elastripe get NAME TARGET` writes, and how. A get must never destroy what is not its
// to replace:
//   - `-`, or a path that is our own standard output (/dev/stdout, /proc/self/fd/1): stdout;
//   - a character device or a FIFO (/dev/null, a pipe someone reads), or a block device that is
//     not the array's: written through, in place (a block device opened O_EXCL, so a mounted
//     one is refused);
//   - a regular file, or a new one: a hidden partial file beside it, flushed and renamed over it
//     at the end (keeping the old file's mode and owner), so an interrupted get leaves the old
//     file whole. A symlink to a regular file is resolved: its target is replaced, the link kept;
//   - an existing directory: DIR/NAME, for a NAME that is a plain file name (no '/', not '.'
//     or '..');
//   - refused with INVALID_ARGUMENT before anything is opened: the array's own devices —
//     compared by (st_dev, st_ino), or st_rdev for block devices, so another path, a symlink,
//     a hard link or another device node is caught too, and a loop device and the file behind
//     it stand for each other (devices/loop_backing.ts) —, any file in the array's home (or a new one
//     there), sockets, dangling symlinks.
// Errors about the target name the target the user gave, never the partial file.
//
// Bytes go out without a copy: a sink writes the caller's view (an arena slice lent by
// lendChunks) and resolves only once the bytes have left it, so the view may be reused; the
// direct sink takes several writes at once (writesInFlightMax), each at its own position. A
// regular file is written with io_uring and O_DIRECT where the slice and its file offset are
// 4 KiB aligned (the partial file is sized first, so the direct writes land inside it), with
// plain pwrite for the unaligned tail or where the filesystem refuses O_DIRECT.
import { constants as fsConstants, fstatSync, type Stats } from 'node:fs';
import { lstat, open, readdir, realpath, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join, sep } from 'node:path';
import { LB_BYTES } from '../constants.js';
import type { Device } from '../devices/device.js';
import { openUringDevice } from '../devices/uring_device.js';
import { uringAvailable } from '../devices/uring_native.js';
import { loopBackingStats } from '../devices/loop_backing.js';
import { DeviceIoError, InvalidArgumentError, MisalignedIoError, NotFoundError, OutputError } from '../errors.js';
import { once } from 'node:events';
import { flushStream, type CommandContext } from './context.js';
import { displayName } from './format.js';
import { fromSystemError, isSystemError } from './system_errors.js';

export const STDIO_ARGUMENT = '-';
/** Below this, opening a second (O_DIRECT) descriptor costs more than the copy it saves. */
const DIRECT_WRITE_BYTES_MIN = 1024 * 1024;
/** Direct writes of a get in flight at once (each holds one group's arena slice). */
const DIRECT_WRITES_IN_FLIGHT_MAX = 4;

/** Where the bytes go; `path` is what the output reports (DIR/NAME for a directory). */
export interface Sink {
  readonly path: string;
  /** The bytes go to our own standard output (nothing else may be printed there). */
  readonly toStdout: boolean;
  /**
   * How many writes may be in flight at once (their chunks kept alive until each resolves):
   * more than 1 only where a write runs off the main thread (io_uring), so the reads of the
   * next chunks go on while the bytes are copied out.
   */
  readonly writesInFlightMax: number;
  /**
   * Appends chunk (at the next position: calls order the bytes, not completions); resolves once
   * chunk's memory is no longer needed (it may be reused then). Up to writesInFlightMax calls
   * may be pending; commit and discard wait for none, so the caller settles them first.
   */
  write(chunk: Uint8Array): Promise<void>;
  /** Makes the output final (flush, or rename the partial file into place). */
  commit(): Promise<void>;
  /** Removes what a failed read left behind. */
  discard(): Promise<void>;
}

/** What the array owns on this machine: its devices and its home directory. */
export interface ArrayFiles {
  readonly home: string;
  readonly devices: ReadonlyArray<{ readonly deviceId: number; readonly path: string }>;
}

/** `shown`: the path as the user gave it (DIR/NAME for a directory), for output and errors. */
type Plan =
  | { kind: 'stdout' }
  | { kind: 'through'; path: string; shown: string; flags: number }
  | { kind: 'replace'; path: string; shown: string; existing?: Stats };

export interface TargetOptions {
  /** Bytes that will be written, when known: a regular file is sized for direct writes. */
  expectedBytes?: number;
  /** false: no io_uring/O_DIRECT (the array runs on the fs backend). */
  direct?: boolean;
}

/** Resolves the target, refuses what may not be written, and opens it. */
export async function openTarget(context: CommandContext, target: string, name: string, array: ArrayFiles, options: TargetOptions = {}): Promise<Sink> {
  // Inside `elastripe serve`: the client decides, by these same rules, from where the user is.
  if (context.io.remoteFiles !== undefined) return context.io.remoteFiles.openTarget(context, target, name, array, options);
  if (target === STDIO_ARGUMENT) return stdoutSink(context, STDIO_ARGUMENT);
  const plan = await planTarget(context, target, name, array);
  if (plan.kind === 'stdout') {
    if (context.line.json) throw new InvalidArgumentError(`${displayName(target)} is standard output, and --json prints its document there`);
    return stdoutSink(context, target);
  }
  if (plan.kind === 'through') return throughSink(plan.path, plan.flags, plan.shown);
  return replaceSink(plan.path, plan.existing, plan.shown, options);
}

async function planTarget(context: CommandContext, target: string, name: string, array: ArrayFiles): Promise<Plan> {
  let path = target;
  let info = await statTarget(path, target);
  if (info?.isDirectory()) {
    if (!isPlainName(name)) {
      throw new InvalidArgumentError(`${displayName(target)} is a directory and ${JSON.stringify(name)} is not a plain file name to write into it; give the output file's path`);
    }
    path = join(target, name);
    info = await statTarget(path, target);
    if (info?.isDirectory()) throw new InvalidArgumentError(`${displayName(path)} is a directory`);
  }
  if (info !== undefined && sameFile(info, stdoutStats(context))) return { kind: 'stdout' };
  const owned = await identitiesOf(array);
  if (info !== undefined) {
    const what = owned.get(identityOf(info));
    if (what !== undefined) throw new InvalidArgumentError(`${displayName(path)} ${what}; get does not write there`);
    // A loop device whose backing file is a device of the array writes that device.
    const backing = loopBackingStats(info);
    const under = backing === undefined ? undefined : owned.get(identityOf(backing));
    if (under !== undefined) throw new InvalidArgumentError(`${displayName(path)} is a loop device over a file that ${under}; get does not write there`);
  }
  if (info === undefined || info.isFile()) {
    const finalPath = info === undefined ? await newFilePath(path, target) : await realpath(path);
    await refuseInHome(finalPath, path, array.home);
    return { kind: 'replace', path: finalPath, shown: path, existing: info };
  }
  if (info.isCharacterDevice() || info.isFIFO()) return { kind: 'through', path, shown: path, flags: fsConstants.O_WRONLY };
  if (info.isBlockDevice()) return { kind: 'through', path, shown: path, flags: fsConstants.O_WRONLY | fsConstants.O_EXCL };
  throw new InvalidArgumentError(`${displayName(path)} is a ${info.isSocket() ? 'socket' : 'special file'}; get writes to files, devices, FIFOs or - (standard output)`);
}

/** A name that is one path component: it cannot climb out of, or into, another directory. */
function isPlainName(name: string): boolean {
  return !name.includes('/') && name !== '.' && name !== '..';
}

/** stat, following links; undefined when nothing is there. */
async function statTarget(path: string, target: string): Promise<Stats | undefined> {
  try {
    return await stat(path);
  } catch (error) {
    if (isSystemError(error) && error.code === 'ENOENT') return undefined;
    throw isSystemError(error) ? fromSystemError(error, displayName(target), 'write') : error;
  }
}

/** Where a new file goes: its directory must exist; a dangling symlink is not followed. */
async function newFilePath(path: string, target: string): Promise<string> {
  const link = await lstat(path).catch(() => undefined);
  if (link?.isSymbolicLink()) throw new InvalidArgumentError(`${displayName(target)} is a symbolic link to a file that does not exist; get does not create files through links`);
  let directory: string;
  try {
    directory = await realpath(dirname(path));
  } catch (error) {
    if (isSystemError(error) && error.code === 'ENOENT') throw new NotFoundError(`cannot write ${displayName(target)}: its directory ${displayName(dirname(path))} does not exist`);
    throw isSystemError(error) ? fromSystemError(error, displayName(target), 'write') : error;
  }
  return join(directory, basename(path));
}

async function refuseInHome(finalPath: string, shown: string, home: string): Promise<void> {
  const realHome = await realpath(home);
  const directory = dirname(finalPath);
  if (directory === realHome || directory.startsWith(realHome + sep)) {
    throw new InvalidArgumentError(`${displayName(shown)} is in the array's home ${displayName(home)}; get does not write there`);
  }
}

function identityOf(info: Stats): string {
  return info.isBlockDevice() ? `block:${info.rdev}` : `file:${info.dev}:${info.ino}`;
}

function sameFile(info: Stats, other: Stats | undefined): boolean {
  return other !== undefined && identityOf(info) === identityOf(other);
}

/** Our standard output's file, when it has a descriptor (the real process, not a test stream). */
function stdoutStats(context: CommandContext): Stats | undefined {
  const fd = (context.io.stdout as { fd?: unknown }).fd;
  if (typeof fd !== 'number') return undefined;
  try {
    // fstat through the fd itself: /proc/self/fd/1 may be a pipe or socket with no path.
    return fstatSync(fd);
  } catch {
    return undefined;
  }
}

/** A batch (get --recursive) passes one ArrayFiles for all its files: looked up once. */
const identityCache = new WeakMap<ArrayFiles, Promise<Map<string, string>>>();

function identitiesOf(array: ArrayFiles): Promise<Map<string, string>> {
  let identities = identityCache.get(array);
  if (identities === undefined) {
    identities = arrayIdentities(array);
    identityCache.set(array, identities);
  }
  return identities;
}

/** Every file of the array, by identity, with what it is ("is device 2 of the array (/x/d2.img)"). */
async function arrayIdentities(array: ArrayFiles): Promise<Map<string, string>> {
  const owned = new Map<string, string>();
  const note = async (path: string, what: string, follow = true): Promise<void> => {
    const info = await (follow ? stat(path) : lstat(path)).catch(() => undefined);
    if (info !== undefined) owned.set(identityOf(info), what);
  };
  for (const device of array.devices) {
    if (/^nbd:\/\//i.test(device.path)) continue;
    await note(device.path, `is device ${device.deviceId} of the array (${displayName(device.path)})`);
    // A loop device of the array: the file behind it holds the same bytes.
    const backing = await stat(device.path).then(loopBackingStats, () => undefined);
    if (backing !== undefined) owned.set(identityOf(backing), `is the file behind device ${device.deviceId} of the array (${displayName(device.path)})`);
  }
  const inHome = `is in the array's home ${displayName(array.home)}`;
  await note(array.home, inHome);
  for (const entry of await readdir(array.home).catch(() => [] as string[])) {
    await note(join(array.home, entry), inHome);
    await note(join(array.home, entry), inHome, false);
  }
  return owned;
}

function stdoutSink(context: CommandContext, shown: string): Sink {
  const stream = context.io.stdout;
  return {
    path: shown,
    toStdout: true,
    writesInFlightMax: 1,
    write: (chunk) => writeUntilDone(stream, chunk, context.signal),
    commit: () => flushStream(stream),
    discard: async () => undefined,
  };
}

/**
 * A stream write that resolves when the stream is done with chunk (its callback), not merely
 * queued: the chunk is lent memory that is reused after. 'drain' still paces a slow reader.
 */
async function writeUntilDone(stream: NodeJS.WritableStream, chunk: Uint8Array, signal: AbortSignal): Promise<void> {
  let finished!: (error?: Error | null) => void;
  const done = new Promise<void>((resolve, reject) => {
    finished = (error) => (error ? reject(error) : resolve());
  });
  done.catch(() => undefined); // awaited below; a failed drain wait must not leave it unhandled
  // The signal matters: a pipe whose reader went away never drains.
  if (!stream.write(chunk, finished)) await once(stream, 'drain', { signal });
  await done;
}

/** Writes every byte of chunk (a FIFO may take fewer per call). */
async function writeAll(handle: FileHandle, chunk: Uint8Array): Promise<void> {
  for (let done = 0; done < chunk.byteLength; ) {
    const { bytesWritten } = await handle.write(chunk, done, chunk.byteLength - done);
    done += bytesWritten;
  }
}

/** Runs a file operation; a system error becomes one about the target the user named. */
async function aboutTarget<T>(target: string, action: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw isSystemError(error) ? fromSystemError(error, displayName(target), action) : error;
  }
}

/** Character devices, FIFOs and block devices: opened without O_CREAT or O_TRUNC, written in place. */
async function throughSink(path: string, flags: number, target: string): Promise<Sink> {
  const handle = await aboutTarget(target, 'open', () => open(path, flags));
  return {
    path: target,
    toStdout: false,
    writesInFlightMax: 1,
    write: (chunk) => aboutTarget(target, 'write', () => writeAll(handle, chunk)),
    commit: () => aboutTarget(target, 'write', () => handle.close()),
    discard: () => handle.close().catch(() => undefined),
  };
}

/**
 * Regular files: a hidden partial file beside the final path (O_EXCL, so nothing there is
 * followed or reused), given the old file's mode and owner, flushed, then renamed into place.
 */
async function replaceSink(finalPath: string, existing: Stats | undefined, target: string, options: TargetOptions): Promise<Sink> {
  const partial = join(dirname(finalPath), `.${basename(finalPath)}.elastripe-partial-${process.pid}`);
  const handle = await aboutTarget(target, 'write', () => open(partial, 'wx', existing ? existing.mode & 0o7777 : 0o666));
  let closed = false;
  let direct: Device | undefined;
  /** false once the filesystem refused O_DIRECT after all (writes in flight may still use direct). */
  let directUsable = false;
  let writtenBytes = 0;
  const close = async (): Promise<void> => {
    const device = direct;
    direct = undefined;
    await device?.close().catch(() => undefined);
    if (!closed) await handle.close();
    closed = true;
  };
  try {
    if (existing !== undefined) {
      await handle.chmod(existing.mode & 0o7777); // open's mode went through the umask
      if (existing.uid !== process.getuid?.() || existing.gid !== process.getgid?.()) await handle.chown(existing.uid, existing.gid).catch(() => undefined);
    }
    if (options.expectedBytes !== undefined && options.expectedBytes >= DIRECT_WRITE_BYTES_MIN && options.direct !== false && uringAvailable().available) {
      // Sized to whole LBs first: a direct write must land inside the file the ring opened.
      await handle.truncate(Math.ceil(options.expectedBytes / LB_BYTES) * LB_BYTES);
      direct = await openUringDevice(partial, { exclusive: false }).catch(() => undefined);
      directUsable = direct !== undefined;
    }
  } catch (error) {
    await close().catch(() => undefined);
    await rm(partial, { force: true });
    throw isSystemError(error) ? fromSystemError(error, displayName(target), 'write') : error;
  }
  const writeAt = async (chunk: Uint8Array, position: number): Promise<void> => {
    let done = 0;
    if (direct && directUsable && position % LB_BYTES === 0 && chunk.byteOffset % LB_BYTES === 0 && chunk.buffer instanceof SharedArrayBuffer) {
      const directBytes = Math.min(Math.floor(chunk.byteLength / LB_BYTES) * LB_BYTES, direct.sizeBytes - position);
      if (directBytes > 0) {
        try {
          await direct.write([{ startLb: position / LB_BYTES, lengthLb: directBytes / LB_BYTES }], [chunk.subarray(0, directBytes)]);
          done = directBytes;
        } catch (error) {
          if (error instanceof DeviceIoError && error.errno === 28) throw new OutputError(`cannot write ${displayName(target)}: no space left on device (ENOSPC)`, { cause: error });
          if (!(error instanceof MisalignedIoError || error instanceof DeviceIoError)) throw error;
          // The filesystem refused O_DIRECT after all: plain writes from here on (the ring's
          // descriptor stays open until commit or discard: other writes may be in flight on it).
          directUsable = false;
        }
      }
    }
    for (; done < chunk.byteLength; ) {
      const { bytesWritten } = await handle.write(chunk, done, chunk.byteLength - done, position + done);
      done += bytesWritten;
    }
  };
  return {
    path: target,
    toStdout: false,
    // Direct writes go through io_uring: the copy into the file runs on a kernel worker.
    writesInFlightMax: directUsable ? DIRECT_WRITES_IN_FLIGHT_MAX : 1,
    write: (chunk) => {
      // The position is taken when the write is asked for, so writes in flight land in order.
      const position = writtenBytes;
      writtenBytes += chunk.byteLength;
      return aboutTarget(target, 'write', () => writeAt(chunk, position));
    },
    commit: () =>
      aboutTarget(target, 'write', async () => {
        const device = direct;
        direct = undefined;
        await device?.close();
        // The file was sized up front; it ends where the bytes did.
        await handle.truncate(writtenBytes);
        await handle.datasync();
        await close();
        await rename(partial, finalPath);
      }),
    discard: async () => {
      await close().catch(() => undefined);
      await rm(partial, { force: true });
    },
  };
}
