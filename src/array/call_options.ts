// The options object of put, get, readInto, the chunk readers, createReadStream and the jobs,
// checked where a call starts: null, a number, an onProgress that is not a function or a
// signal that is not an AbortSignal are INVALID_ARGUMENT, not a TypeError from deep inside the
// call (or, for a signal, an abort that never arrives).
import { InvalidArgumentError } from '../errors.js';

interface CallOptions {
  onProgress?: unknown;
  signal?: unknown;
}

export function checkCallOptions<T extends object>(options: T | undefined, call: string): T {
  if (options === undefined) return {} as T;
  if (options === null || typeof options !== 'object') {
    throw new InvalidArgumentError(`${call} takes an options object, not ${options === null ? 'null' : typeof options}`);
  }
  const { onProgress, signal } = options as CallOptions;
  if (onProgress !== undefined && typeof onProgress !== 'function') {
    throw new InvalidArgumentError(`${call}: onProgress must be a function, not ${typeof onProgress}`);
  }
  if (signal !== undefined && !isAbortSignal(signal)) {
    throw new InvalidArgumentError(`${call}: signal must be an AbortSignal`);
  }
  return options;
}

/** An AbortSignal, also one of another realm (a vm context): what the calls use of it. */
function isAbortSignal(value: unknown): boolean {
  const signal = value as { aborted?: unknown; addEventListener?: unknown; removeEventListener?: unknown } | null;
  return typeof signal === 'object' && signal !== null && typeof signal.aborted === 'boolean' && typeof signal.addEventListener === 'function' && typeof signal.removeEventListener === 'function';
}
