// The batch forms of put and get: many files in one process and one open of the array, with
// --jobs N of them in flight at once, one progress bar for the whole transfer, and files/s and
// bytes/s at the end.
//
//   put --recursive DIR [PREFIX]   every regular file under DIR, stored as PREFIX/REL/PATH (no
//                                  PREFIX: REL/PATH); symbolic links are followed, a link back
//                                  to an ancestor directory is a DIRECTORY_LOOP failure
//   put --files FILE... [--prefix P]  each FILE under its base name (P/BASENAME)
//   get --recursive PREFIX DIR     every file named PREFIX/... (PREFIX / = every file) into
//                                  DIR/..., creating directories; DIR is created if missing
//
// Bad input: what makes the whole batch meaningless is refused before anything is stored (DIR
// missing or not a directory, two sources mapping to one name). What concerns one file (it
// cannot be read, a loop, a special file, a name the array refuses or that cannot be a safe
// path) is that file's failure: the others are stored, the failures listed, and the command
// exits with BATCH_INCOMPLETE (1).
import type { Stats } from 'node:fs';
import { readdirSync, statSync } from 'node:fs';
import { mkdir, realpath, rmdir, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { validateName } from '../array/put_source.js';
import { AbortedError, BatchIncompleteError, DirectoryLoopError, ElastripeError, InvalidArgumentError, NotFoundError } from '../errors.js';
import { withArray, type ArrayHandle } from './array_access.js';
import { printJson, startProgress, type CommandContext } from './context.js';
import { displayName, formatBytes, formatDuration, formatRate } from './format.js';
import { BatchOutput, SMALL_FILE_BYTES_MAX } from './batch_output.js';
import { openTarget, type ArrayFiles } from './output_target.js';
import { fromSystemError, isSystemError } from './system_errors.js';

export const BATCH_JOBS_DEFAULT = 4;

interface Transfer {
  /** Where the bytes come from or go: a local path. */
  path: string;
  name: string;
  sizeBytes: number;
}

/** Files done and their bytes. */
interface Tally {
  files: number;
  bytes: number;
}

interface Failure {
  path: string;
  name?: string;
  code: string;
  message: string;
}

interface BatchReport {
  files: number;
  bytes: number;
  elapsedMs: number;
  filesPerSecond: number;
  bytesPerSecond: number;
  failed: Failure[];
}

function failureOf(path: string, name: string | undefined, error: unknown): Failure {
  const typed = isSystemError(error) ? fromSystemError(error, displayName(path)) : error;
  if (typed instanceof ElastripeError) return { path, ...(name !== undefined ? { name } : {}), code: typed.code, message: typed.message };
  throw error; // not the file's fault: a bug, reported as such
}

/** Names join with '/', whatever the platform's separator. */
function joinName(prefix: string, parts: readonly string[]): string {
  const trimmed = prefix.replace(/\/+$/, '');
  return [...(trimmed === '' ? [] : [trimmed]), ...parts].join('/');
}

// --- put ---

/** Through `elastripe serve` the files would be read and written by serve's process, not the client's. */
function refuseThroughServe(context: CommandContext): void {
  if (context.io.remoteFiles !== undefined) {
    throw new InvalidArgumentError(`${context.line.verb} --${context.line.files ? 'files' : 'recursive'} does not run through elastripe serve yet (the files would be read and written by serve's process); stop serve, or move the files one at a time`);
  }
}

export async function runBatchPut(context: CommandContext): Promise<void> {
  refuseThroughServe(context);
  const { line } = context;
  const failures: Failure[] = [];
  let transfers: Transfer[];
  if (line.recursive) {
    const [directory, prefix = ''] = line.arguments as [string, string?];
    transfers = await walkTree(directory, prefix, failures);
  } else {
    transfers = await listFiles(line.arguments, line.prefix ?? '', failures);
  }
  const named = transfers.filter((transfer) => {
    try {
      validateName(transfer.name);
      return true;
    } catch (error) {
      failures.push(failureOf(transfer.path, transfer.name, error));
      return false;
    }
  });
  refuseCollisions(named);
  const totalBytes = named.reduce((sum, transfer) => sum + transfer.sizeBytes, 0);
  const startMs = performance.now();
  const done: Tally = { files: 0, bytes: 0 };
  await withArray(line, (array) =>
    runTransfers(context, `put ${named.length} files`, named, totalBytes, failures, done, (transfer, onBytes) => putOne(context, array, transfer, onBytes)),
  'transfer');
  finish(context, 'stored', done, performance.now() - startMs, failures);
}

async function putOne(context: CommandContext, array: ArrayHandle, transfer: Transfer, onBytes: (doneBytes: number) => void): Promise<number> {
  const stat = await array.put(transfer.name, { path: transfer.path }, { signal: context.signal, onProgress: (progress) => onBytes(progress.doneBytes) });
  return stat.sizeBytes;
}

/** Two sources that would be stored under one name: the batch is refused, nothing stored. */
function refuseCollisions(transfers: readonly Transfer[]): void {
  const byName = new Map<string, string>();
  const clashes: string[] = [];
  for (const transfer of transfers) {
    const other = byName.get(transfer.name);
    if (other !== undefined) clashes.push(`${displayName(other)} and ${displayName(transfer.path)} both map to ${displayName(transfer.name)}`);
    else byName.set(transfer.name, transfer.path);
  }
  if (clashes.length > 0) {
    const shown = clashes.slice(0, 5).join('; ') + (clashes.length > 5 ? `; and ${clashes.length - 5} more` : '');
    throw new InvalidArgumentError(`names collide, so nothing was stored: ${shown}`);
  }
}

/**
 * stat, following links. Synchronous, as the walk's readdir: the plan is made before the array
 * opens, with nothing else to run meanwhile, and a trip through libuv's thread pool per entry
 * cost more than the stat itself (10,000 files: ~0.2 s).
 */
function statOrFail(path: string, failures: Failure[]): Stats | undefined {
  try {
    return statSync(path);
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (code === 'ELOOP') failures.push({ path, code: 'DIRECTORY_LOOP', message: `${displayName(path)} is a symbolic link loop` });
    else if (code === 'ENOENT') failures.push({ path, code: 'NOT_FOUND', message: `${displayName(path)} does not exist (or is a dangling symbolic link)` });
    else failures.push(failureOf(path, undefined, error));
    return undefined;
  }
}

async function listFiles(paths: readonly string[], prefix: string, failures: Failure[]): Promise<Transfer[]> {
  const transfers: Transfer[] = [];
  for (const path of paths) {
    const info = statOrFail(path, failures);
    if (info === undefined) continue;
    if (info.isDirectory()) failures.push({ path, code: 'INVALID_ARGUMENT', message: `${displayName(path)} is a directory (put --recursive DIR stores a tree)` });
    else if (!info.isFile()) failures.push({ path, code: 'INVALID_ARGUMENT', message: `${displayName(path)} is not a regular file` });
    else transfers.push({ path, name: joinName(prefix, [basename(path)]), sizeBytes: info.size });
  }
  return transfers;
}

/** Every regular file under `root`, depth first in name order; links followed, loops refused. */
async function walkTree(root: string, prefix: string, failures: Failure[]): Promise<Transfer[]> {
  let rootInfo: Stats;
  try {
    rootInfo = statSync(root);
  } catch (error) {
    throw isSystemError(error) ? fromSystemError(error, displayName(root), 'read') : error;
  }
  if (!rootInfo.isDirectory()) throw new InvalidArgumentError(`${displayName(root)} is not a directory; put --recursive takes a directory (put NAME FILE stores one file)`);
  const transfers: Transfer[] = [];
  const visit = async (directory: string, parts: string[], ancestors: Map<string, string>): Promise<void> => {
    let entries: string[];
    try {
      entries = readdirSync(directory).sort();
    } catch (error) {
      failures.push(failureOf(directory, undefined, error));
      return;
    }
    for (const entry of entries) {
      const path = join(directory, entry);
      const info = statOrFail(path, failures);
      if (info === undefined) continue;
      if (info.isDirectory()) {
        const identity = `${info.dev}:${info.ino}`;
        const ancestor = ancestors.get(identity);
        if (ancestor !== undefined) {
          failures.push({ path, code: new DirectoryLoopError('').code, message: `${displayName(path)} leads back to ${displayName(ancestor)} (a directory loop); not followed` });
          continue;
        }
        await visit(path, [...parts, entry], new Map(ancestors).set(identity, path));
      } else if (info.isFile()) {
        transfers.push({ path, name: joinName(prefix, [...parts, entry]), sizeBytes: info.size });
      } else {
        failures.push({ path, code: 'INVALID_ARGUMENT', message: `${displayName(path)} is not a regular file (a FIFO, socket or device); put --recursive stores regular files` });
      }
    }
  };
  await visit(root, [], new Map([[`${rootInfo.dev}:${rootInfo.ino}`, root]]));
  return transfers;
}

// --- get ---

export async function runBatchGet(context: CommandContext): Promise<void> {
  refuseThroughServe(context);
  const { line } = context;
  const [prefixArgument, directory] = line.arguments as [string, string];
  const prefix = prefixArgument === '/' ? '' : `${prefixArgument.replace(/\/+$/, '')}/`;
  const { root, created } = await prepareDirectory(directory);
  const failures: Failure[] = [];
  const done: Tally = { files: 0, bytes: 0 };
  const startMs = performance.now();
  await withArray(line, async (array) => {
    const files = array.list().filter((file) => file.name.startsWith(prefix));
    if (files.length === 0) throw new NotFoundError(`no file of the array is named ${displayName(prefix === '' ? '*' : `${prefix}*`)}`);
    // One ArrayFiles for the whole batch: output_target.ts looks its files up once, and only
    // if a file takes the general path (status() costs ~20 ms on 4 devices).
    let devices: ArrayFiles['devices'] | undefined;
    const owned: ArrayFiles = {
      home: array.home,
      get devices() {
        return (devices ??= array.status().devices);
      },
    };
    const transfers = files.map((file) => ({ path: join(root, ...file.name.slice(prefix.length).split('/')), name: file.name, sizeBytes: file.sizeBytes }));
    const totalBytes = transfers.reduce((sum, transfer) => sum + transfer.sizeBytes, 0);
    // Files whose rename waits for their window's syncfs end here (batch_output.ts).
    const output = new BatchOutput<Transfer>(root, created, await realpath(array.home), (transfer, outcome) => {
      if (typeof outcome === 'number') {
        done.files++;
        done.bytes += outcome;
      } else if (!context.signal.aborted) {
        failures.push(failureOf(transfer.path, transfer.name, outcome));
      }
    });
    const lanes = new Lanes(array, transfers);
    try {
      await runTransfers(context, `get ${files.length} files`, transfers, totalBytes, failures, done, (transfer, onBytes) =>
        getOne(context, array, transfer, prefix, output, owned, lanes, onBytes),
      );
    } catch (error) {
      await output.abandon();
      throw error;
    }
    await output.finish();
  }, 'transfer').catch(async (error: unknown) => {
    // Refused as a whole (nothing under PREFIX, the array locked): a DIR made for it goes again
    // (rmdir: only while it is empty).
    if (created) await rmdir(root).catch(() => undefined);
    throw error;
  });
  finish(context, 'read', done, performance.now() - startMs, failures);
}

/** DIR exists as a directory, or is created (its parent must exist); its real path, and whether it is new. */
async function prepareDirectory(directory: string): Promise<{ root: string; created: boolean }> {
  try {
    const info = await stat(directory).catch((error: unknown) => {
      if ((error as { code?: unknown }).code === 'ENOENT') return undefined;
      throw error;
    });
    if (info === undefined) await mkdir(directory);
    else if (!info.isDirectory()) throw new InvalidArgumentError(`${displayName(directory)} is not a directory; get --recursive writes into a directory`);
    return { root: await realpath(directory), created: info === undefined };
  } catch (error) {
    throw isSystemError(error) ? fromSystemError(error, displayName(directory), 'create') : error;
  }
}

/**
 * One file of a get --recursive. A small file that is new in DIR is read whole into a lane
 * buffer and written by `output` (its rename may wait for its window: undefined is returned and
 * `output` settles it); anything else — a large file, or something already at the path, which
 * output_target.ts knows whether to replace or refuse — streams through openTarget.
 */
async function getOne(
  context: CommandContext,
  array: ArrayHandle,
  transfer: Transfer,
  prefix: string,
  output: BatchOutput<Transfer>,
  owned: ArrayFiles,
  lanes: Lanes,
  onBytes: (doneBytes: number) => void,
): Promise<number | undefined> {
  const parts = transfer.name.slice(prefix.length).split('/');
  if (parts.some((part) => part === '' || part === '.' || part === '..')) {
    throw new InvalidArgumentError(`${displayName(transfer.name)} is not a safe relative path (an empty, '.' or '..' component); read it with get NAME FILE`);
  }
  const directory = await output.directory(parts.slice(0, -1), transfer.path);
  const leaf = parts.at(-1)!;
  if (transfer.sizeBytes < lanes.bytes && output.isFree(directory, leaf, transfer.path)) {
    const lane = lanes.take();
    try {
      const read = await array.readInto(transfer.name, lane, { signal: context.signal });
      // A file that grew to fill the lane since the listing takes the general path.
      if (read < lane.byteLength) {
        const written = await output.write(directory, leaf, lane.subarray(0, read), transfer.path, transfer);
        onBytes(read);
        return written === 'queued' ? undefined : written;
      }
    } finally {
      lanes.give(lane);
    }
  }
  const sink = await openTarget(context, join(directory.path, leaf), transfer.name, owned, { expectedBytes: transfer.sizeBytes, direct: context.line.backend !== 'fs' });
  let doneBytes = 0;
  try {
    for await (const { bytes } of array.readChunks(transfer.name, { signal: context.signal })) {
      await sink.write(bytes);
      doneBytes += bytes.byteLength;
      onBytes(doneBytes);
    }
    await sink.commit();
  } catch (error) {
    await sink.discard();
    throw error;
  }
  return doneBytes;
}

/** Arena bytes the lanes may hold at most: the reads of large files need the rest. */
const LANE_ARENA_BYTES_MAX = 32 * 1024 * 1024;

/**
 * Buffers a whole small file is read into, one per file in flight, reused: sized for the
 * largest small file of the batch (a file that grew past it since the listing takes the
 * general path), from the arena while it spares the room (the array reads into them in place,
 * no copy), else from the heap.
 */
class Lanes {
  private readonly free: Buffer[] = [];
  private arenaBytes = 0;
  readonly bytes: number;

  constructor(private readonly array: ArrayHandle, transfers: readonly Transfer[]) {
    const largest = transfers.reduce((most, transfer) => (transfer.sizeBytes < SMALL_FILE_BYTES_MAX ? Math.max(most, transfer.sizeBytes) : most), 0);
    this.bytes = Math.min(SMALL_FILE_BYTES_MAX, Math.ceil((largest + 1) / LANE_ROUNDING_BYTES) * LANE_ROUNDING_BYTES);
  }

  take(): Buffer {
    const reused = this.free.pop();
    if (reused !== undefined) return reused;
    if (this.arenaBytes + this.bytes <= LANE_ARENA_BYTES_MAX) {
      try {
        const lane = this.array.allocBuffer(this.bytes);
        this.arenaBytes += this.bytes;
        return lane;
      } catch {
        // the arena is busy: the heap will do
      }
    }
    return Buffer.allocUnsafe(this.bytes);
  }

  give(lane: Buffer): void {
    this.free.push(lane);
  }
}

/** Lanes are whole arena pages. */
const LANE_ROUNDING_BYTES = 64 * 1024;

// --- both ---

/**
 * Runs `work` for every transfer with --jobs of them in flight; a file's failure is recorded
 * and the others go on. An abort (Ctrl-C) stops taking new files and ends the batch.
 */
async function runTransfers(
  context: CommandContext,
  label: string,
  transfers: readonly Transfer[],
  totalBytes: number,
  failures: Failure[],
  done: Tally,
  work: (transfer: Transfer, onBytes: (doneBytes: number) => void) => Promise<number | undefined>,
): Promise<void> {
  const bar = startProgress(context, label, totalBytes);
  const jobs = context.line.jobs ?? BATCH_JOBS_DEFAULT;
  let next = 0;
  let finishedBytes = 0;
  const inFlightBytes = new Map<Transfer, number>();
  const report = (): void => {
    let sum = finishedBytes;
    for (const bytes of inFlightBytes.values()) sum += bytes;
    bar?.update(sum, totalBytes);
  };
  const worker = async (): Promise<void> => {
    while (next < transfers.length && !context.signal.aborted) {
      const transfer = transfers[next++]!;
      inFlightBytes.set(transfer, 0);
      try {
        // Not `finishedBytes += await ...`: that would add to the value read before the await,
        // losing what the other workers added meanwhile.
        const bytes = await work(transfer, (doneBytes) => {
          inFlightBytes.set(transfer, doneBytes);
          report();
        });
        finishedBytes += bytes ?? inFlightBytes.get(transfer) ?? 0;
        if (bytes !== undefined) {
          done.files++;
          done.bytes += bytes;
        }
      } catch (error) {
        if (!context.signal.aborted) failures.push(failureOf(transfer.path, transfer.name, error));
      } finally {
        inFlightBytes.delete(transfer);
        report();
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(jobs, transfers.length) }, worker));
  } catch (error) {
    bar?.abandon();
    throw error;
  }
  if (context.signal.aborted) {
    bar?.abandon();
    throw context.signal.reason instanceof Error ? context.signal.reason : new AbortedError('the batch was aborted');
  }
  bar?.finish();
}

function finish(context: CommandContext, verb: 'stored' | 'read', done: Tally, elapsedMs: number, failures: Failure[]): void {
  const seconds = Math.max(elapsedMs, 1e-3) / 1000;
  const report: BatchReport = {
    files: done.files,
    bytes: done.bytes,
    elapsedMs,
    filesPerSecond: done.files / seconds,
    bytesPerSecond: done.bytes / seconds,
    failed: failures,
  };
  if (!context.line.json) {
    context.io.stdout.write(
      `${verb} ${done.files} files, ${done.bytes} bytes (${formatBytes(done.bytes)}) in ${formatDuration(elapsedMs)}: ${Math.round(report.filesPerSecond)} files/s, ${formatRate(report.bytesPerSecond)}\n`,
    );
    for (const failure of failures) {
      context.io.stderr.write(`elastripe: failed: ${displayName(failure.path)}${failure.name !== undefined ? ` (${displayName(failure.name)})` : ''}: ${failure.code}: ${failure.message}\n`);
    }
  }
  if (failures.length > 0) {
    throw new BatchIncompleteError(`${failures.length} of ${done.files + failures.length} failed${context.line.json ? '' : ' (listed above)'}; the other ${done.files} files were ${verb}`, report);
  }
  if (context.line.json) printJson(context, report);
}
