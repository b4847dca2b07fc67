// What a put accepts: a name and a source (bytes or a stream), and how an abort reaches a put
// that is waiting on its stream.
//
// Sources: `{ path }` names a file or block device that the write path reads by position
// straight into the arena (file_source.ts); every ArrayBufferView (Buffer, any TypedArray, DataView) and every ArrayBuffer or
// SharedArrayBuffer is stored by the bytes it covers, through a Uint8Array view of the same
// memory (no copy); a stream (anything async-iterable: a Readable, a web ReadableStream, an
// async generator) must yield Buffer, Uint8Array or string chunks. Anything else — a plain
// array, null, a number, a string, a stream of numbers or objects — is INVALID_ARGUMENT, so
// nothing is ever stored as 0 bytes by mistake; a bad chunk fails the put before its commit.
// A stream that fails (errors, is destroyed before its end, or gives another length than the
// sizeBytes declared) fails the put with SOURCE_ERROR, its own error as the cause.
import { types } from 'node:util';
import { AbortedError, ElastripeError, InvalidArgumentError, SourceError } from '../errors.js';
import { unlessAborted } from './abort_race.js';

const NAME_BYTES_MAX = 1024;
/** A UTF-16 surrogate without its partner: a name with one cannot round-trip through UTF-8. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** A file or block device on this machine, read straight into the arena (no stream, no copy). */
export interface FilePathSource {
  readonly path: string;
}

/** What DiskArray.put takes as its data. */
export type PutSource = ArrayBufferView | ArrayBufferLike | NodeJS.ReadableStream | AsyncIterable<Uint8Array | string> | FilePathSource;

/** A source as the write path reads it: one run of bytes, chunks still to be checked, or a path. */
export type NormalizedSource = Uint8Array | AsyncIterable<unknown> | FilePathSource;

export function isFilePathSource(source: unknown): source is FilePathSource {
  return typeof source === 'object' && source !== null && !isAsyncIterable(source) && !ArrayBuffer.isView(source) && typeof (source as { path?: unknown }).path === 'string';
}

export function validateName(name: string): void {
  if (typeof name !== 'string' || name.length === 0) throw new InvalidArgumentError('a file name must be a non-empty string');
  if (Buffer.byteLength(name) > NAME_BYTES_MAX) throw new InvalidArgumentError(`a file name must be at most ${NAME_BYTES_MAX} bytes`);
  if (name.includes('\0')) throw new InvalidArgumentError('a file name must not contain NUL');
  const surrogate = LONE_SURROGATE.exec(name);
  if (surrogate !== null) {
    const unit = surrogate[0].charCodeAt(0).toString(16).toUpperCase();
    throw new InvalidArgumentError(`a file name must be well-formed Unicode; it contains a lone surrogate U+${unit}`);
  }
}

/**
 * Checks a put's source and gives the view or stream the write path reads, with its size
 * when known (bytes: their length; a stream: what the caller said).
 */
export function normalizeSource(source: unknown, sizeBytes: number | undefined): { source: NormalizedSource; sizeBytes: number | undefined } {
  if (sizeBytes !== undefined && (!Number.isSafeInteger(sizeBytes) || sizeBytes < 0)) {
    throw new InvalidArgumentError(`sizeBytes must be a whole number of bytes, 0 or more, not ${typeof sizeBytes === 'number' ? sizeBytes : describeValue(sizeBytes)}`);
  }
  if (source instanceof Uint8Array) return { source, sizeBytes: source.byteLength };
  if (ArrayBuffer.isView(source)) {
    const bytes = new Uint8Array(source.buffer, source.byteOffset, source.byteLength);
    return { source: bytes, sizeBytes: bytes.byteLength };
  }
  if (types.isAnyArrayBuffer(source)) return { source: new Uint8Array(source), sizeBytes: source.byteLength };
  if (isAsyncIterable(source)) return { source, sizeBytes };
  if (isFilePathSource(source)) {
    if (source.path.length === 0) throw new InvalidArgumentError('a put source { path } needs a non-empty path');
    return { source, sizeBytes };
  }
  throw new InvalidArgumentError(
    `a put source must be a Buffer, TypedArray, DataView, ArrayBuffer, readable stream or { path }, not ${describeValue(source)}`,
  );
}

function isAsyncIterable(value: unknown): value is AsyncIterable<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] === 'function';
}

/** "an array", "null", "a number", "an object (Int16Array)" — for error messages. */
export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') {
    const name = (value as object).constructor?.name;
    return name && name !== 'Object' ? `a ${name}` : 'a plain object';
  }
  return /^[aeiou]/.test(typeof value) ? `an ${typeof value}` : `a ${typeof value}`;
}

/**
 * A put blocked waiting for the next chunk of a stream would not see an abort until the
 * chunk came; destroying the stream on abort ends the wait at once with AbortedError.
 */
export function abortSourceOnSignal(source: NormalizedSource, signal: AbortSignal | undefined): () => void {
  const stream = source as { destroy?: (error?: Error) => void };
  if (!signal || source instanceof Uint8Array || isFilePathSource(source) || typeof stream.destroy !== 'function') return () => undefined;
  const onAbort = () => stream.destroy!(new AbortedError('put was aborted'));
  if (signal.aborted) onAbort();
  signal.addEventListener('abort', onAbort, { once: true });
  return () => signal.removeEventListener('abort', onAbort);
}

/**
 * The stream's chunks as bytes. Whatever the stream itself throws (an error of its own, a
 * destroy before its end) is a SourceError with that cause, and with `sizeBytes` declared the
 * stream must give exactly that many bytes: one that ends short (a client gone without an
 * error, a file that shrank while a serve client sent it) would otherwise be stored truncated.
 * An abort ends a wait for the next chunk at once, also of a source that cannot be destroyed
 * (an async generator, a web ReadableStream): the put must not wait for a chunk that may never
 * come (nor may close(), which waits for the put).
 */
export async function* toChunks(source: Uint8Array | AsyncIterable<unknown>, options: { sizeBytes?: number; signal?: AbortSignal } = {}): AsyncIterable<Uint8Array> {
  if (source instanceof Uint8Array) {
    yield source;
    return;
  }
  const { sizeBytes, signal } = options;
  const iterator = source[Symbol.asyncIterator]();
  let receivedBytes = 0;
  let finished = false;
  let abandoned = false;
  try {
    for (;;) {
      let step: IteratorResult<unknown>;
      try {
        // Not even asked for once aborted: the source is not pulled after the put ended.
        if (signal?.aborted) throw new AbortedError('put was aborted');
        step = await unlessAborted(iterator.next(), signal);
      } catch (error) {
        finished = true; // a source that threw is done; one we stopped waiting for is let go below
        if (error instanceof AbortedError && signal?.aborted) abandoned = true;
        throw asSourceError(error);
      }
      if (step.done) {
        finished = true;
        break;
      }
      const chunk = step.value;
      let bytes: Uint8Array;
      if (typeof chunk === 'string') bytes = Buffer.from(chunk);
      else if (chunk instanceof Uint8Array) bytes = chunk;
      else throw new InvalidArgumentError(`a put stream must yield Buffer, Uint8Array or string chunks, not ${describeValue(chunk)}`);
      receivedBytes += bytes.byteLength;
      if (sizeBytes !== undefined && receivedBytes > sizeBytes) {
        throw new SourceError(`the put's stream gave more than the ${sizeBytes} bytes its sizeBytes declared`);
      }
      yield bytes;
    }
  } finally {
    // Stopped early (a bad chunk, the put failed): the source is told, as for-await would. One
    // whose next chunk we stopped waiting for is told too, without waiting for it to listen.
    if (abandoned) void Promise.resolve(iterator.return?.()).catch(() => undefined);
    else if (!finished) await iterator.return?.();
  }
  if (sizeBytes !== undefined && receivedBytes !== sizeBytes) {
    throw new SourceError(`the put's stream ended after ${receivedBytes} bytes; its sizeBytes declared ${sizeBytes}`);
  }
}

/** An error a put's stream threw, typed: ours as they are, an abort as ABORTED, the rest as SOURCE_ERROR. */
function asSourceError(error: unknown): ElastripeError {
  if (error instanceof ElastripeError) return error;
  // addAbortSignal(signal, stream) destroys the stream with an AbortError whose cause is the reason.
  if (error instanceof Error && error.name === 'AbortError') {
    return error.cause instanceof ElastripeError ? error.cause : new AbortedError(`put was aborted: its stream was aborted`);
  }
  if ((error as { code?: unknown }).code === 'ERR_STREAM_PREMATURE_CLOSE') {
    return new SourceError(`the put's stream was destroyed before its end`, { cause: error });
  }
  const detail = error instanceof Error ? error.message : String(error);
  return new SourceError(`the put's stream failed: ${detail}`, { cause: error });
}
