// Entry of the elastripe command-line tool: parses the command line, runs the verb, and turns
// every outcome into an exit code and at most one line on stderr:
//   `elastripe: CODE: one clear sentence` (stack traces only with --debug).
import { ElastripeError, AbortedError, BatchIncompleteError, OutputError } from '../errors.js';
import { parseCommandLine, UsageError, type CommandLine } from './args.js';
import { runHelp, runVersion } from './commands/help.js';
import { flushStream, type CliIo, type CommandContext } from './context.js';
import { EXIT_FAILURE, EXIT_INTERNAL, EXIT_OK, EXIT_USAGE, type ExitCode } from './exit_codes.js';
import { escapeControlCharacters } from './format.js';
import { isForwardable, serveSocketOf } from './serve/socket_path.js';
import { describeSystemError, fromSystemError, isSystemError } from './system_errors.js';
import type { Verb } from './verbs.js';

type Handler = (context: CommandContext) => Promise<ExitCode | void> | ExitCode | void;

// Verbs that touch an array load it (SQLite, workers, the native addon) only when they run, so
// help, --version and usage errors answer at once.
const HANDLERS: Readonly<Record<Verb | 'version', Handler>> = {
  create: async (context) => (await import('./commands/create.js')).runCreate(context),
  import: async (context) => (await import('./commands/import.js')).runImport(context),
  add: async (context) => (await import('./commands/add.js')).runAdd(context),
  online: async (context) => (await import('./commands/online.js')).runOnline(context),
  fail: async (context) => (await import('./commands/device_jobs.js')).runFail(context),
  rebuild: async (context) => (await import('./commands/device_jobs.js')).runRebuild(context),
  remove: async (context) => (await import('./commands/device_jobs.js')).runRemove(context),
  rebalance: async (context) => (await import('./commands/device_jobs.js')).runRebalance(context),
  restripe: async (context) => (await import('./commands/device_jobs.js')).runRestripe(context),
  expand: async (context) => (await import('./commands/add.js')).runExpand(context),
  scrub: async (context) => (await import('./commands/device_jobs.js')).runScrub(context),
  put: async (context) => (await import('./commands/files.js')).runPut(context),
  get: async (context) => (await import('./commands/files.js')).runGet(context),
  rm: async (context) => (await import('./commands/files.js')).runRemove(context),
  rename: async (context) => (await import('./commands/rename.js')).runRename(context),
  ls: async (context) => (await import('./commands/inspect.js')).runList(context),
  stat: async (context) => (await import('./commands/inspect.js')).runStat(context),
  status: async (context) => (await import('./commands/inspect.js')).runStatus(context),
  fsck: async (context) => (await import('./commands/inspect.js')).runFsck(context),
  serve: async (context) => (await import('./commands/serve.js')).runServe(context),
  demo: async (context) => (await import('./demo.js')).runDemo(context),
  help: runHelp,
  version: runVersion,
};

/** Runs one command line; never throws, returns the exit code. */
export async function main(argv: readonly string[], io: CliIo, signal: AbortSignal): Promise<ExitCode> {
  let line: CommandLine;
  try {
    line = parseCommandLine(argv, io.env);
  } catch (error) {
    return reportFailure(error, undefined, argv, io, signal);
  }
  // While `elastripe serve` owns the array, the verb runs there, through its control socket.
  if (io.remoteFiles === undefined && !line.help && serveSocketOf(line) !== undefined) {
    try {
      const { forwardToServe } = await import('./serve/control_client.js');
      const exitCode = await forwardToServe(line, io, signal);
      if (exitCode !== undefined) return exitCode;
    } catch (error) {
      return reportFailure(error, line, argv, io, signal);
    }
  }
  return runCommandLine(line, io, signal, argv, io.remoteFiles === undefined && !line.help ? () => forwardOnceServeStarted(line, io, signal) : undefined);
}

/**
 * The array was locked: by a serve that is still opening it, the verb waits for its socket and
 * runs there. Undefined when the lock is not a starting serve's (ARRAY_LOCKED stands).
 */
async function forwardOnceServeStarted(line: CommandLine, io: CliIo, signal: AbortSignal): Promise<ExitCode | undefined> {
  if (line.home === undefined || !isForwardable(line)) return undefined;
  const { lockHeldByServe, SERVE_START_POLL_MS, SERVE_START_WAIT_MS, waitForStartingServe } = await import('./serve/serve_starting.js');
  const { forwardToServe } = await import('./serve/control_client.js');
  const deadlineMs = Date.now() + SERVE_START_WAIT_MS;
  // The socket found may be one a killed serve left behind, answering nothing while the new
  // serve still opens the array: keep waiting for one that answers while the lock is a serve's.
  while (Date.now() < deadlineMs && !signal.aborted && (await waitForStartingServe(line, signal, deadlineMs - Date.now()))) {
    const exitCode = await forwardToServe(line, io, signal);
    if (exitCode !== undefined) return exitCode;
    if (!lockHeldByServe(line.home)) return undefined;
    await new Promise((resolvePromise) => setTimeout(resolvePromise, SERVE_START_POLL_MS));
  }
  return undefined;
}

/**
 * Runs a parsed command line (main, or `elastripe serve` for a client); never throws. With
 * `whenLocked`, an ARRAY_LOCKED failure asks it first (a serve starting up) before reporting.
 */
export async function runCommandLine(line: CommandLine, io: CliIo, signal: AbortSignal, argv: readonly string[] = [], whenLocked?: () => Promise<ExitCode | undefined>): Promise<ExitCode> {
  try {
    const context: CommandContext = { line, io, signal };
    const handler = line.help ? runHelp : HANDLERS[line.verb];
    const exitCode = (await handler(context)) ?? EXIT_OK;
    // Output that never reached stdout (a full disk, /dev/full) fails the command, even when
    // the work itself succeeded: a script must not take a truncated listing for a whole one.
    const failure = await stdoutFailure(io, signal);
    return failure === undefined ? exitCode : reportStdoutFailure(failure, io, line.debug);
  } catch (error) {
    if (error instanceof ElastripeError && error.code === 'ARRAY_LOCKED' && whenLocked) {
      try {
        const exitCode = await whenLocked();
        if (exitCode !== undefined) return exitCode;
      } catch (forwardError) {
        return reportFailure(forwardError, line, argv, io, signal);
      }
    }
    return reportFailure(error, line, argv, io, signal);
  }
}

function reportFailure(error: unknown, line: CommandLine | undefined, argv: readonly string[], io: CliIo, signal: AbortSignal): ExitCode {
  const failure = signal.aborted && signal.reason instanceof StdoutClosedError ? signal.reason.failure : undefined;
  if (failure !== undefined) return reportStdoutFailure(failure, io, line?.debug ?? argv.includes('--debug'));
  // An abort surfaces as whatever the interrupted call threw; the reason says why.
  const reported = signal.aborted && isAbortError(error) ? signal.reason : error;
  const json = line?.json ?? argv.includes('--json');
  const debug = line?.debug ?? argv.includes('--debug');
  return reportError(reported, io, { json, debug });
}

/** Writing our stdout failed: its reader closed the pipe (`elastripe get x - | head`), or the
 * file behind it cannot take the bytes (`> /dev/full`). */
export class StdoutClosedError extends AbortedError {
  readonly failure: Error;
  constructor(failure: Error) {
    super(`stdout failed (${(failure as { code?: string }).code ?? failure.message})`);
    this.failure = failure;
  }
}

/** Flushes stdout and says whether anything written to it failed. */
async function stdoutFailure(io: CliIo, signal: AbortSignal): Promise<Error | undefined> {
  const flushError = await new Promise<Error | null | undefined>((resolve) => io.stdout.write('', (error) => resolve(error)));
  if (signal.aborted && signal.reason instanceof StdoutClosedError) return signal.reason.failure;
  return flushError ?? undefined;
}

/** A reader that went away (EPIPE) hears nothing; any other failure is OUTPUT_ERROR on stderr
 * (never a JSON document: stdout is what failed). */
function reportStdoutFailure(cause: Error, io: CliIo, debug: boolean): ExitCode {
  if ((cause as { code?: string }).code === 'EPIPE') return EXIT_FAILURE;
  const detail = isSystemError(cause) ? describeSystemError(cause) : cause.message;
  return reportError(new OutputError(`cannot write to standard output: ${detail}`, { cause }), io, { json: false, debug });
}

function isAbortError(error: unknown): boolean {
  return error instanceof AbortedError || (error instanceof Error && error.name === 'AbortError');
}

interface ReportOptions {
  json: boolean;
  debug: boolean;
}

function reportError(error: unknown, io: CliIo, options: ReportOptions): ExitCode {
  const { code, message: raw, exitCode } = classify(error);
  // One line, whatever names or paths the message quotes.
  const message = escapeControlCharacters(raw);
  io.stderr.write(`elastripe: ${code}: ${message}\n`);
  if (error instanceof UsageError) io.stderr.write(`${error.usage}\n`);
  if (options.debug && error instanceof Error && error.stack) io.stderr.write(`${error.stack}\n`);
  // Scripts reading --json output get the failure as a document too, not just an empty stdout.
  // A batch that failed in part carries its report (which files were done, which failed).
  const report = error instanceof BatchIncompleteError ? { report: error.report } : {};
  if (options.json) io.stdout.write(`${JSON.stringify({ error: { code, message, exitCode }, ...report }, null, 2)}\n`);
  return exitCode;
}

/** Node's own system errors (ENOENT opening an input file, EACCES, ...) are the user's to fix,
 * like ElastripeErrors, and get their documented codes (NOT_FOUND, INVALID_ARGUMENT,
 * OUTPUT_ERROR); anything else thrown is a bug in elastripe. */
function classify(error: unknown): { code: string; message: string; exitCode: ExitCode } {
  if (error instanceof UsageError) return { code: error.code, message: error.message, exitCode: EXIT_USAGE };
  if (error instanceof ElastripeError) return { code: error.code, message: error.message, exitCode: EXIT_FAILURE };
  if (isSystemError(error)) {
    const mapped = fromSystemError(error);
    return { code: mapped.code, message: mapped.message, exitCode: EXIT_FAILURE };
  }
  if (error instanceof Error && error.name === 'AbortError') {
    return { code: 'ABORTED', message: 'the operation was aborted', exitCode: EXIT_FAILURE };
  }
  if (isDamagedDatabase(error)) {
    // Open checks only the small tables (settings, devices); SQLite finds a damaged page of the
    // big ones when a verb reads it. That is the home's damage, not a bug, and the devices
    // still hold the array.
    return { code: 'CORRUPT_METADATA', message: `the array home's database is damaged (SQLite: ${error.message}); ${IMPORT_HINT}`, exitCode: EXIT_FAILURE };
  }
  const message = error instanceof Error ? error.message : String(error);
  return { code: 'INTERNAL', message: `${message} (a bug in elastripe; rerun with --debug for the stack)`, exitCode: EXIT_INTERNAL };
}

const IMPORT_HINT = "the devices hold the array: move the home directory aside and rebuild it from them with 'elastripe import'";

/** better-sqlite3's SqliteError for a damaged database file (a page that does not parse). */
function isDamagedDatabase(error: unknown): error is Error {
  const code = error instanceof Error ? (error as { code?: unknown }).code : undefined;
  return error instanceof Error && error.name === 'SqliteError' && typeof code === 'string' && /^SQLITE_(CORRUPT|NOTADB)/.test(code);
}

/** What bin/elastripe.js runs: the real process streams, Ctrl-C as an abort, then exit. */
export async function runAsProcess(): Promise<never> {
  const controller = new AbortController();
  const io: CliIo = { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: process.env };
  let interruptCount = 0;
  const onInterrupt = (): void => {
    interruptCount += 1;
    if (interruptCount > 1) process.exit(130);
    process.stderr.write('\nelastripe: interrupted; stopping (press Ctrl-C again to quit at once)\n');
    controller.abort(new AbortedError('interrupted by the user'));
  };
  // A reader that closes the pipe early (`elastripe get x - | head`) stops the work.
  const onStdoutError = (error: NodeJS.ErrnoException): void => {
    if (!controller.signal.aborted) controller.abort(new StdoutClosedError(error));
  };
  process.on('SIGINT', onInterrupt);
  process.stdout.on('error', onStdoutError);
  const exitCode = await main(process.argv.slice(2), io, controller.signal);
  process.off('SIGINT', onInterrupt);
  await Promise.all([flushStream(process.stdout), flushStream(process.stderr)]);
  // Exit explicitly: a worker pool or timer someone forgot to unref must not hang the shell.
  process.exit(exitCode);
}
