// What a put accepts: a name and a source (bytes or a stream), and how an abort reaches a put
// that is waiting on its stream.
import { AbortedError, InvalidArgumentError } from '../errors.js';

const NAME_BYTES_MAX = 1024;

export function validateName(name: string): void {
  if (typeof name !== 'string' || name.length === 0) throw new InvalidArgumentError('a file name must be a non-empty string');
  if (Buffer.byteLength(name) > NAME_BYTES_MAX) throw new InvalidArgumentError(`a file name must be at most ${NAME_BYTES_MAX} bytes`);
  if (name.includes('\0')) throw new InvalidArgumentError('a file name must not contain NUL');
}

/**
 * A put blocked waiting for the next chunk of a stream would not see an abort until the
 * chunk came; destroying the stream on abort ends the wait at once with AbortedError.
 */
export function abortSourceOnSignal(source: Uint8Array | NodeJS.ReadableStream, signal: AbortSignal | undefined): () => void {
  const stream = source as { destroy?: (error?: Error) => void };
  if (!signal || source instanceof Uint8Array || typeof stream.destroy !== 'function') return () => undefined;
  const onAbort = () => stream.destroy!(new AbortedError('put was aborted'));
  if (signal.aborted) onAbort();
  signal.addEventListener('abort', onAbort, { once: true });
  return () => signal.removeEventListener('abort', onAbort);
}

export async function* toChunks(source: Uint8Array | NodeJS.ReadableStream): AsyncIterable<Uint8Array> {
  if (source instanceof Uint8Array) {
    yield source;
    return;
  }
  for await (const chunk of source as AsyncIterable<Uint8Array | string>) {
    yield typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
  }
}
