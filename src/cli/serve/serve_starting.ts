// A verb that finds the array locked by an `elastripe serve` still opening it (its socket comes
// only once the array is open: seconds on NBD devices, or with a resync to start) waits for the
// socket and goes through serve, instead of failing with ARRAY_LOCKED right after a restart —
// also past the socket a serve killed with SIGKILL left behind, which answers nothing.
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { CommandLine } from '../args.js';
import { serveSocketOf } from './socket_path.js';

/** The longest wait for a starting serve's socket (an open that recovers and reconnects devices). */
export const SERVE_START_WAIT_MS = 60_000;
export const SERVE_START_POLL_MS = 100;

/** Whether the process holding the home's lock (its `holder` file) is an `elastripe serve`. */
export function lockHeldByServe(home: string): boolean {
  try {
    const pid = /^pid (\d+)/.exec(readFileSync(join(resolve(home), 'holder'), 'utf8'))?.[1];
    if (pid === undefined) return false;
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes('serve');
  } catch {
    return false;
  }
}

/**
 * Resolves true once the socket of a serve that holds the lock exists; false as soon as the lock
 * is not (or no longer) a serve's, after SERVE_START_WAIT_MS, or on abort.
 */
export async function waitForStartingServe(line: CommandLine, signal: AbortSignal, waitMs = SERVE_START_WAIT_MS): Promise<boolean> {
  const deadlineMs = Date.now() + waitMs;
  while (!signal.aborted && Date.now() < deadlineMs && lockHeldByServe(line.home!)) {
    if (serveSocketOf(line) !== undefined) return true;
    await new Promise((resolvePromise) => setTimeout(resolvePromise, SERVE_START_POLL_MS));
  }
  return serveSocketOf(line) !== undefined;
}
