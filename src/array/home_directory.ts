// The array's home directory: made like `mkdir -p`, one component at a time, so a file system
// that refuses fails at once with a clear error. Node's own recursive mkdir loops forever on
// procfs: mkdir("/proc/h") says ENOENT although "/proc" exists, so it makes the parent
// (EEXIST, a directory) and tries the child again, and again (`create --home /proc/h` hung).
import { mkdirSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { InvalidArgumentError } from '../errors.js';

/**
 * Creates `home` and any missing parents; returns the first directory it created (undefined
 * when `home` existed), as `mkdir(..., { recursive: true })` does. Throws INVALID_ARGUMENT
 * when a component is not a directory or cannot be created.
 */
export function makeHomeDirectory(home: string): string | undefined {
  const target = resolve(home);
  const missing: string[] = [];
  for (let path = target; ; path = dirname(path)) {
    const kind = kindOf(path, home);
    if (kind === 'directory') break;
    if (kind === 'other') throw new InvalidArgumentError(`array home ${home}: ${path} exists and is not a directory`);
    missing.unshift(path);
    if (dirname(path) === path) break;
  }
  for (const path of missing) {
    try {
      mkdirSync(path);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? 'an error';
      if (code === 'EEXIST' && kindOf(path, home) === 'directory') continue;
      const why = code === 'ENOENT' ? 'the file system there does not allow new directories (ENOENT)' : `${code}: ${(error as Error).message}`;
      throw new InvalidArgumentError(`cannot create the array home ${home}: mkdir ${path} failed: ${why}`, { cause: error });
    }
  }
  return missing[0];
}

function kindOf(path: string, home: string): 'directory' | 'other' | 'missing' {
  try {
    return statSync(path).isDirectory() ? 'directory' : 'other';
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return 'missing';
    if (code === 'ENOTDIR') return 'other';
    throw new InvalidArgumentError(`array home ${home}: cannot look at ${path}: ${(error as Error).message}`, { cause: error });
  }
}
