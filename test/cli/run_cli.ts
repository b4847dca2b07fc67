// Runs the real, built CLI (node bin/elastripe.js, which loads the bundle dist/bundle/elastripe.cjs
// that `npm run build` makes) as a child process, as a user would.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const REPO_DIR = fileURLToPath(new URL('../../', import.meta.url));
const BIN_PATH = fileURLToPath(new URL('../../bin/elastripe.js', import.meta.url));
/** What bin/elastripe.js loads: every CLI test runs the bundled tool. */
export const BUNDLE_PATH = fileURLToPath(new URL('../../dist/bundle/elastripe.cjs', import.meta.url));

export interface CliResult {
  exitCode: number | null;
  stdout: Buffer;
  stderr: string;
}

export interface CliOptions {
  stdin?: Buffer;
  env?: Record<string, string>;
  cwd?: string;
  /** An open file descriptor to use as the child's stdin or stdout instead of a pipe. */
  stdinFd?: number;
  stdoutFd?: number;
}

export function assertBuilt(): void {
  if (!existsSync(BUNDLE_PATH)) throw new Error(`${BUNDLE_PATH} is missing: run \`npm run build\` first`);
}

/** Starts the CLI; the caller owns the child (stdin stays open unless `stdin` is given). */
export function startCli(args: readonly string[], options: CliOptions = {}): { child: ChildProcess; done: Promise<CliResult> } {
  // ELASTRIPE_HOME from the developer's shell must not leak into the tests.
  const env: Record<string, string | undefined> = { ...process.env, ELASTRIPE_HOME: undefined, ...options.env };
  const stdio = [options.stdinFd ?? 'pipe', options.stdoutFd ?? 'pipe', 'pipe'] as const;
  const child = spawn(process.execPath, [BIN_PATH, ...args], { cwd: options.cwd ?? REPO_DIR, env, stdio: [...stdio] });
  const done = collectOutput(child);
  // A child that exits before reading all its input makes our writes fail with EPIPE; its exit
  // code and stderr are what the tests judge, so the stdin error itself is not interesting.
  child.stdin?.on('error', () => undefined);
  if (options.stdin !== undefined) child.stdin?.end(options.stdin);
  return { child, done };
}

/** What a spawned CLI child prints and how it ends (its stdout may be a file descriptor instead of a pipe). */
export function collectOutput(child: ChildProcess): Promise<CliResult> {
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  child.stdout?.on('data', (chunk: Buffer) => stdout.push(chunk));
  child.stderr!.on('data', (chunk: Buffer) => stderr.push(chunk));
  return new Promise<CliResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (exitCode) => resolve({ exitCode, stdout: Buffer.concat(stdout), stderr: Buffer.concat(stderr).toString('utf8') }));
  });
}

export function runCli(args: readonly string[], options: CliOptions = {}): Promise<CliResult> {
  return startCli(args, { ...(options.stdinFd === undefined ? { stdin: Buffer.alloc(0) } : {}), ...options }).done;
}

export function parseJson(result: CliResult): unknown {
  return JSON.parse(result.stdout.toString('utf8'));
}
