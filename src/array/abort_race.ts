// A wait raced against the put's AbortSignal. A put waits on things that may never end by
// themselves — a source's next chunk, the open of a FIFO no writer has opened, a read of a slow
// file — and an abort must end the put at once, freeing what the wait holds.
import { AbortedError } from '../errors.js';

/**
 * `work`, or AbortedError(`message`) as soon as `signal` fires; `onAbort` runs then (to free what
 * the abandoned wait holds). `work` settling later is observed, never left unhandled.
 */
export function unlessAborted<T>(work: Promise<T>, signal: AbortSignal | undefined, onAbort: () => void = () => undefined, message = 'put was aborted'): Promise<T> {
  if (!signal) return work;
  return new Promise<T>((resolve, reject) => {
    const abort = (): void => {
      onAbort();
      reject(new AbortedError(message));
    };
    if (signal.aborted) return abort();
    signal.addEventListener('abort', abort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener('abort', abort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', abort);
        reject(error);
      },
    );
  });
}
