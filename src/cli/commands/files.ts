// Verbs that move file data: `put NAME [FILE|-]`, `get NAME [FILE|-]` and `rm NAME`. Data is
// streamed in both directions (never held whole in memory), with a progress bar on stderr.
import { createWriteStream } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { once } from 'node:events';
import { addAbortSignal, Readable } from 'node:stream';
import { dirname, basename, join } from 'node:path';
import type { FileStat } from '../../array/types.js';
import { UsageError } from '../args.js';
import { withArray } from '../array_access.js';
import { flushStream, printJson, startProgress, writeWithBackpressure, type CommandContext } from '../context.js';
import { formatBytes, formatDuration, formatRate } from '../format.js';
import { usageLine, findVerbSpec } from '../verbs.js';

const STDIO_ARGUMENT = '-';

interface Source {
  stream: NodeJS.ReadableStream;
  sizeBytes?: number;
  close(): Promise<void>;
}

/** Opens the input before the array, so a missing file fails without touching the array. */
async function openSource(context: CommandContext, file: string): Promise<Source> {
  if (file === STDIO_ARGUMENT) return { stream: abortable(context, context.io.stdin), close: async () => undefined };
  const handle = await open(file, 'r');
  const info = await handle.stat();
  const stream = handle.createReadStream({ autoClose: false });
  return { stream: abortable(context, stream), sizeBytes: info.isFile() ? info.size : undefined, close: () => handle.close() };
}

/** Ctrl-C must end a put that is waiting for input (an idle pipe, a slow FIFO), not only one
 * that is busy writing: the abort destroys the source, which ends the put's read of it. */
function abortable(context: CommandContext, stream: NodeJS.ReadableStream): NodeJS.ReadableStream {
  return stream instanceof Readable ? addAbortSignal(context.signal, stream) : stream;
}

export async function runPut(context: CommandContext): Promise<void> {
  const [name, file = name] = context.line.arguments as [string, string?];
  const source = await openSource(context, file!);
  const startMs = performance.now();
  const bar = startProgress(context, `put ${name}`, source.sizeBytes);
  let stat: FileStat;
  try {
    stat = await withArray(context.line, (array) =>
      array.put(name, source.stream, {
        sizeBytes: source.sizeBytes,
        signal: context.signal,
        onProgress: (progress) => bar?.update(progress.doneBytes, progress.totalBytes),
      }),
    );
  } catch (error) {
    bar?.abandon();
    throw error;
  } finally {
    await source.close();
  }
  bar?.finish();
  if (context.line.json) printJson(context, stat);
  else context.io.stdout.write(`stored ${name}: ${describeTransfer(stat.sizeBytes, performance.now() - startMs)}, ${stat.groupCount} groups\n`);
}

function describeTransfer(sizeBytes: number, elapsedMs: number): string {
  const rate = elapsedMs > 0 ? (sizeBytes * 1000) / elapsedMs : 0;
  return `${sizeBytes} bytes (${formatBytes(sizeBytes)}) in ${formatDuration(elapsedMs)}, ${formatRate(rate)}`;
}

/** The bytes a range read returns, for the progress bar; the array itself validates the range. */
function rangeLengthBytes(sizeBytes: number, offsetBytes = 0, lengthBytes = Infinity): number {
  return Math.max(0, Math.min(lengthBytes, sizeBytes - offsetBytes));
}

interface Sink {
  stream: NodeJS.WritableStream;
  /** Makes the output final (flush, or rename the partial file into place). */
  commit(): Promise<void>;
  /** Removes what a failed read left behind. */
  discard(): Promise<void>;
}

function stdoutSink(context: CommandContext): Sink {
  const stream = context.io.stdout;
  return { stream, commit: () => flushStream(stream), discard: async () => undefined };
}

/** Writes to a hidden partial file beside the target and renames it into place at the end, so
 * an interrupted get never leaves a truncated file under the real name. */
async function fileSink(target: string): Promise<Sink> {
  const partial = join(dirname(target), `.${basename(target)}.elastripe-partial-${process.pid}`);
  const stream = createWriteStream(partial, { flags: 'w' });
  await once(stream, 'open');
  const closed = async (): Promise<void> => {
    if (!stream.closed) await new Promise<void>((resolve) => stream.end(() => resolve()));
  };
  return {
    stream,
    commit: async () => {
      await closed();
      await rename(partial, target);
    },
    discard: async () => {
      stream.destroy();
      await rm(partial, { force: true });
    },
  };
}

export async function runGet(context: CommandContext): Promise<void> {
  const { line } = context;
  const [name, target = name] = line.arguments as [string, string?];
  if (target === STDIO_ARGUMENT && line.json) {
    throw new UsageError('--json cannot be combined with writing the data to stdout', usageLine(findVerbSpec('get')!));
  }
  const startMs = performance.now();
  const writtenBytes = await withArray(line, async (array) => {
    const totalBytes = rangeLengthBytes(array.stat(name).sizeBytes, line.offsetBytes, line.lengthBytes);
    const sink = target === STDIO_ARGUMENT ? stdoutSink(context) : await fileSink(target!);
    const bar = startProgress(context, `get ${name}`, totalBytes);
    try {
      const reader = array.createReadStream(name, { offset: line.offsetBytes, length: line.lengthBytes, signal: context.signal });
      let doneBytes = 0;
      for await (const chunk of reader as AsyncIterable<Uint8Array>) {
        await writeWithBackpressure(sink.stream, chunk, context.signal);
        doneBytes += chunk.byteLength;
        bar?.update(doneBytes);
      }
      await sink.commit();
      bar?.finish();
      return doneBytes;
    } catch (error) {
      bar?.abandon();
      await sink.discard();
      throw error;
    }
  });
  const elapsedMs = performance.now() - startMs;
  if (line.json) printJson(context, { name, target, offsetBytes: line.offsetBytes ?? 0, lengthBytes: writtenBytes, elapsedMs });
  else if (target !== STDIO_ARGUMENT) context.io.stdout.write(`read ${name} into ${target}: ${describeTransfer(writtenBytes, elapsedMs)}\n`);
}

export async function runRemove(context: CommandContext): Promise<void> {
  const name = context.line.arguments[0]!;
  await withArray(context.line, (array) => array.delete(name), false);
  if (context.line.json) printJson(context, { deleted: name });
  else context.io.stdout.write(`deleted ${name}\n`);
}
