// What every command gets: the parsed command line, the process's streams (injectable, so the
// commands run the same in tests) and the abort signal that Ctrl-C fires. Output helpers keep
// the rule that --json prints exactly one document on stdout and no progress at all.
import { once } from 'node:events';
import type { CommandLine } from './args.js';
import type { ArrayFiles, Sink, TargetOptions } from './output_target.js';
import { ProgressBar } from './progress.js';

/** Long operations draw a bar only once they have run this long. */
const PROGRESS_DELAY_MS = 1000;

export type OutputStream = NodeJS.WritableStream & { isTTY?: boolean; columns?: number };

export interface CliIo {
  stdout: OutputStream;
  stderr: OutputStream;
  stdin: NodeJS.ReadableStream;
  env: Readonly<Record<string, string | undefined>>;
  /**
   * Set while the verb runs inside `elastripe serve` for a client: the files the user named
   * (put's input, get's output) are opened by the client, in its working directory, and their
   * bytes cross the control socket (src/cli/serve/control_session.ts).
   */
  remoteFiles?: RemoteFiles;
}

export interface RemoteFiles {
  openSource(context: CommandContext, file: string): Promise<RemoteSource>;
  openTarget(context: CommandContext, target: string, name: string, array: ArrayFiles, options?: TargetOptions): Promise<Sink>;
}

/** put's input as the client sends it: a stream of its bytes. */
export interface RemoteSource {
  input: NodeJS.ReadableStream;
  sizeBytes?: number;
  close(): Promise<void>;
}

export interface CommandContext {
  line: CommandLine;
  io: CliIo;
  signal: AbortSignal;
}

export function printText(context: CommandContext, text: string): void {
  context.io.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}

/** The one JSON document of a --json run. */
export function printJson(context: CommandContext, value: unknown): void {
  context.io.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** A notice for people (never part of the command's output proper): stderr, not with --json. */
export function printNotice(context: CommandContext, text: string): void {
  if (!context.line.json) context.io.stderr.write(`${text}\n`);
}

/** A progress bar on stderr, or undefined with --json. `immediate` skips the start-up delay. */
export function startProgress(context: CommandContext, label: string, totalBytes: number | undefined, immediate = false): ProgressBar | undefined {
  if (context.line.json || context.line.quiet === true) return undefined;
  return new ProgressBar({ label, stream: context.io.stderr, totalBytes, delayMs: immediate ? 0 : PROGRESS_DELAY_MS });
}

/** Writes a chunk, waiting for 'drain' when the stream's buffer is full (a slow pipe reader). */
export async function writeWithBackpressure(stream: NodeJS.WritableStream, chunk: Uint8Array, signal: AbortSignal): Promise<void> {
  // The signal matters: a pipe whose reader went away never drains.
  if (!stream.write(chunk)) await once(stream, 'drain', { signal });
}

/** Resolves once everything written so far has been handed to the operating system. */
export function flushStream(stream: NodeJS.WritableStream): Promise<void> {
  return new Promise((resolve) => stream.write('', () => resolve()));
}
