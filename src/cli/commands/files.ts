// Verbs that move file data: `put NAME [FILE|-]`, `get NAME [FILE|DIR|-]` and `rm NAME`. Data is
// streamed in both directions (never held whole in memory), with a progress bar on stderr.
// Where get may write, and how, is output_target.ts; the batch forms (--recursive, --files)
// are batch_transfer.ts.
//
// No copies on the data path: put of a regular file or block device (also one on stdin) hands
// the array its path, which the write path reads by position straight into arena group buffers
// (io_uring, O_DIRECT where aligned); get writes the arena slices that lendChunks lends straight
// to the output (io_uring for a regular file, several writes in flight; the write callback for
// stdout) and gives each slice back once its write is done. Only a pipe on stdin still arrives
// as a stream of chunks, copied into the arena.
import { fstatSync, type Stats } from 'node:fs';
import { open } from 'node:fs/promises';
import { addAbortSignal, Readable } from 'node:stream';
import type { FileStat } from '../../array/types.js';
import { InvalidArgumentError } from '../../errors.js';
import { UsageError } from '../args.js';
import { withArray } from '../array_access.js';
import { printJson, startProgress, type CommandContext } from '../context.js';
import { displayName, formatBytes, formatDuration, formatRate } from '../format.js';
import { nameArgument } from '../name_argument.js';
import { openTarget, STDIO_ARGUMENT } from '../output_target.js';
import { fromSystemError, isSystemError } from '../system_errors.js';
import { usageLine, findVerbSpec } from '../verbs.js';

interface Source {
  /** What array.put reads: a path (read straight into the arena) or a stream. */
  input: { path: string } | NodeJS.ReadableStream;
  sizeBytes?: number;
  close(): Promise<void>;
}

/** Opens the input before the array, so a missing file fails without touching the array. */
export async function openSource(context: CommandContext, file: string): Promise<Source> {
  // Inside `elastripe serve`: the client opens the file, from where the user is, and sends its bytes.
  if (context.io.remoteFiles !== undefined) return context.io.remoteFiles.openSource(context, file);
  if (file === STDIO_ARGUMENT) {
    const info = stdinStats(context);
    if (info?.isDirectory()) throw new InvalidArgumentError('standard input is a directory; put reads one file or a pipe from it');
    // A file redirected to stdin is read like a named one, by position, from its start.
    const ownPath = `/proc/self/fd/${(context.io.stdin as unknown as { fd: number }).fd}`;
    if (info?.isFile() || info?.isBlockDevice()) return { input: { path: ownPath }, sizeBytes: info.isFile() && info.size > 0 ? info.size : undefined, close: async () => undefined };
    // A pipe is reopened (a blocking descriptor of its own) and read straight into the arena.
    if (info?.isFIFO()) return { input: { path: ownPath }, close: async () => undefined };
    return { input: abortable(context, context.io.stdin), close: async () => undefined };
  }
  const handle = await open(file, 'r').catch((error: unknown) => {
    throw isSystemError(error) ? fromSystemError(error, displayName(file), 'read') : error;
  });
  try {
    const info = await handle.stat();
    if (info.isDirectory()) throw new InvalidArgumentError(`${displayName(file)} is a directory; put stores one file (put --recursive DIR stores a tree)`);
    // A size of 0 is no size: a procfs file reports 0 and is read to its end.
    if (info.isFile() || info.isBlockDevice()) return { input: { path: file }, sizeBytes: info.isFile() && info.size > 0 ? info.size : undefined, close: async () => undefined };
  } catch (error) {
    await handle.close();
    throw error;
  }
  // A FIFO or character device: read as a stream.
  const stream = handle.createReadStream({ autoClose: false, highWaterMark: 1024 * 1024 });
  return { input: abortable(context, stream), close: () => handle.close() };
}

/** stdin's file type, when it has a descriptor (the real process, not a test stream). */
function stdinStats(context: CommandContext): Stats | undefined {
  const fd = (context.io.stdin as { fd?: unknown }).fd;
  if (typeof fd !== 'number') return undefined;
  try {
    return fstatSync(fd);
  } catch {
    return undefined; // no usable descriptor: the read itself will tell
  }
}

/** Ctrl-C must end a put that is waiting for input (an idle pipe, a slow FIFO), not only one
 * that is busy writing: the abort destroys the source, which ends the put's read of it. */
function abortable(context: CommandContext, stream: NodeJS.ReadableStream): NodeJS.ReadableStream {
  return stream instanceof Readable ? addAbortSignal(context.signal, stream) : stream;
}

export async function runPut(context: CommandContext): Promise<void> {
  // The batch forms load only when asked for (a single put or get does not need them).
  if (context.line.recursive || context.line.files) return (await import('../batch_transfer.js')).runBatchPut(context);
  const [nameText, file = nameText] = context.line.arguments as [string, string?];
  const name = nameArgument(nameText);
  const source = await openSource(context, file!);
  const startMs = performance.now();
  const bar = startProgress(context, `put ${displayName(name)}`, source.sizeBytes);
  let stat: FileStat;
  try {
    stat = await withArray(context.line, (array) =>
      array.put(name, source.input, {
        sizeBytes: source.sizeBytes,
        signal: context.signal,
        onProgress: (progress) => bar?.update(progress.doneBytes, progress.totalBytes),
      }),
      'transfer',
    );
  } catch (error) {
    bar?.abandon();
    throw error;
  } finally {
    await source.close();
  }
  bar?.finish();
  if (context.line.json) printJson(context, stat);
  else context.io.stdout.write(`stored ${displayName(name)}: ${describeTransfer(stat.sizeBytes, performance.now() - startMs)}, ${stat.groupCount} group${stat.groupCount === 1 ? '' : 's'}\n`);
}

function describeTransfer(sizeBytes: number, elapsedMs: number): string {
  const rate = elapsedMs > 0 ? (sizeBytes * 1000) / elapsedMs : 0;
  return `${sizeBytes} bytes (${formatBytes(sizeBytes)}) in ${formatDuration(elapsedMs)}, ${formatRate(rate)}`;
}

/** The bytes a range read returns, for the progress bar; the array itself validates the range. */
function rangeLengthBytes(sizeBytes: number, offsetBytes = 0, lengthBytes = Infinity): number {
  return Math.max(0, Math.min(lengthBytes, sizeBytes - offsetBytes));
}

export async function runGet(context: CommandContext): Promise<void> {
  if (context.line.recursive) return (await import('../batch_transfer.js')).runBatchGet(context);
  const { line } = context;
  const [nameText, target = nameText] = line.arguments as [string, string?];
  const name = nameArgument(nameText);
  if (target === STDIO_ARGUMENT && line.json) {
    throw new UsageError('--json cannot be combined with writing the data to stdout', usageLine(findVerbSpec('get')!));
  }
  const startMs = performance.now();
  const { writtenBytes, sink } = await withArray(line, async (array) => {
    const sizeBytes = array.stat(name).sizeBytes;
    // The command line stops --length at the end of the file, as head -c does; the library's
    // get keeps its strict range check (and an --offset past the end is still an error).
    const length = line.lengthBytes === undefined ? undefined : Math.min(line.lengthBytes, Math.max(0, sizeBytes - (line.offsetBytes ?? 0)));
    const totalBytes = rangeLengthBytes(sizeBytes, line.offsetBytes, length);
    const devices = target === STDIO_ARGUMENT ? [] : array.status().devices;
    const output = await openTarget(context, target!, name, { home: array.home, devices }, { expectedBytes: totalBytes, direct: line.backend !== 'fs' });
    const bar = startProgress(context, `get ${displayName(name)}`, totalBytes);
    // Each chunk is an arena slice kept until its write resolves (the sink is done with it
    // then). Up to output.writesInFlightMax writes are in flight — for a regular file they run
    // on io_uring's kernel workers — while the array reads the next groups.
    const writes: { done: Promise<void>; endBytes: number }[] = [];
    const settleOldest = async (): Promise<void> => {
      const { done, endBytes } = writes[0]!;
      await done;
      writes.shift();
      bar?.update(endBytes);
    };
    try {
      let doneBytes = 0;
      for await (const chunk of array.lendChunks(name, { offset: line.offsetBytes, length, signal: context.signal })) {
        const done = output.write(chunk.bytes).finally(chunk.release);
        done.catch(() => undefined); // awaited in order below; a later one may fail first
        doneBytes += chunk.bytes.byteLength;
        writes.push({ done, endBytes: doneBytes });
        while (writes.length >= output.writesInFlightMax) await settleOldest();
      }
      while (writes.length > 0) await settleOldest();
      await output.commit();
      bar?.finish();
      return { writtenBytes: doneBytes, sink: output };
    } catch (error) {
      bar?.abandon();
      // Writes still in flight settle (and give their slices back) before the partial file goes.
      await Promise.allSettled(writes.map((write) => write.done));
      await output.discard();
      throw error;
    }
  }, 'transfer');
  const elapsedMs = performance.now() - startMs;
  if (line.json) printJson(context, { name, target: sink.path, offsetBytes: line.offsetBytes ?? 0, lengthBytes: writtenBytes, elapsedMs });
  else if (!sink.toStdout) context.io.stdout.write(`read ${displayName(name)} into ${displayName(sink.path)}: ${describeTransfer(writtenBytes, elapsedMs)}\n`);
}

export async function runRemove(context: CommandContext): Promise<void> {
  const name = nameArgument(context.line.arguments[0]!);
  await withArray(context.line, (array) => array.delete(name), 'metadata');
  if (context.line.json) printJson(context, { deleted: name });
  else context.io.stdout.write(`deleted ${displayName(name)}\n`);
}
