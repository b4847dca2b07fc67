// Where `elastripe serve` listens: a unix socket in the array's home. Every CLI run checks for
// it first (one stat), so this module stays tiny and loads nothing else.
import { statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { CommandLine } from '../args.js';
import { findVerbSpec } from '../verbs.js';

export const CONTROL_SOCKET_NAME = 'serve.sock';

/** Verbs that never go through serve: they make a new home, or are serve itself. */
const LOCAL_VERBS = new Set(['create', 'import', 'serve', 'demo', 'help', 'version']);

/** Whether serve would run this command line's verb (it works on an existing array's home). */
export function isForwardable(line: CommandLine): boolean {
  return !LOCAL_VERBS.has(line.verb) && line.home !== undefined && findVerbSpec(line.verb)?.needsHome === true;
}

export function controlSocketPath(home: string): string {
  return join(resolve(home), CONTROL_SOCKET_NAME);
}

/** The socket a verb of this command line would be forwarded to: set when the verb works on an
 * existing array and a socket exists in its home (whether a server still answers is for the
 * client to find out; a stale one is ignored there). */
export function serveSocketOf(line: CommandLine): string | undefined {
  if (!isForwardable(line)) return undefined;
  const path = controlSocketPath(line.home!);
  try {
    return statSync(path).isSocket() ? path : undefined;
  } catch {
    return undefined;
  }
}
