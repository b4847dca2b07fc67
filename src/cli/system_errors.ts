// Node's own system errors (ENOENT opening an input file, EACCES, ENOSPC writing an output) as
// elastripe errors with documented codes, naming the path the user gave: NOT_FOUND for a path
// that does not exist, OUTPUT_ERROR for an output that cannot take the bytes, and
// INVALID_ARGUMENT for the rest (permission, a directory where a file was meant, ...).
import { ElastripeError, InvalidArgumentError, NotFoundError, OutputError } from '../errors.js';

export type SystemError = Error & { code: string; syscall?: string; path?: string; dest?: string };

/** errno codes that mean the bytes could not be written, not that the path is wrong. */
const OUTPUT_CODES = new Set(['ENOSPC', 'EDQUOT', 'EFBIG']);
/** ... and those that mean it only when writing (EIO reading an input is the input's problem). */
const WRITE_CODES = new Set(['EIO', 'EPIPE']);

export function isSystemError(error: unknown): error is SystemError {
  const code = error instanceof Error ? (error as { code?: unknown }).code : undefined;
  return typeof code === 'string' && /^E[A-Z0-9]+$/.test(code);
}

/** "no such file or directory (ENOENT)", from "ENOENT: no such file or directory, open '/x'". */
export function describeSystemError(error: SystemError): string {
  const prefix = `${error.code}: `;
  const text = error.message.startsWith(prefix) ? error.message.slice(prefix.length).split(', ')[0]! : error.message;
  return `${text} (${error.code})`;
}

/**
 * The error as an ElastripeError. `subject`: what the user named (a path, "standard output");
 * `action`: what failed ("read", "write", "open"); both default to the error's own syscall/path.
 */
export function fromSystemError(error: SystemError, subject?: string, action?: string): ElastripeError {
  const what = subject ?? error.path ?? 'a file';
  const verb = action ?? error.syscall ?? 'use';
  const message = `cannot ${verb} ${what}: ${describeSystemError(error)}`;
  if (error.code === 'ENOENT') return new NotFoundError(message);
  if (OUTPUT_CODES.has(error.code) || (WRITE_CODES.has(error.code) && verb === 'write')) return new OutputError(message, { cause: error });
  return new InvalidArgumentError(message, { cause: error });
}
