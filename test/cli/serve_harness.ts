// Starting and stopping `elastripe serve` as a child process for the serve tests: waits until it
// says it serves, exposes its log and its HTTP URL, and makes sure no server outlives its test.
import type { ChildProcess } from 'node:child_process';
import { afterEach } from 'vitest';
import { runCli, startCli, type CliOptions, type CliResult } from './run_cli.js';

export interface ServeProcess {
  readonly child: ChildProcess;
  /** Everything serve wrote on stderr so far. */
  log(): string;
  /** The status page's URL, with --listen. */
  readonly url: string | undefined;
  readonly exited: Promise<number | null>;
  /** Sends the signal and waits for the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

const running = new Set<ChildProcess>();

/** Registers the hook that kills any serve a test left running (call at the top of a file). */
export function useServeCleanup(): void {
  afterEach(async () => {
    for (const child of running) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await new Promise((resolve) => child.once('close', resolve));
      }
    }
    running.clear();
  });
}

/** Starts serve on `home`; resolves once it is serving (rejects with its log if it exits first). */
export async function startServe(home: string, args: readonly string[] = [], options: CliOptions = {}): Promise<ServeProcess> {
  const { child, done } = startCli(['serve', '--home', home, '--workers', '1', ...args], options);
  running.add(child);
  let log = '';
  child.stderr!.on('data', (chunk: Buffer) => (log += chunk.toString('utf8')));
  const exited = done.then((result: CliResult) => result.exitCode);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not start within 60 s:\n${log}`)), 60_000);
    const onData = (): void => {
      if (!log.includes('elastripe serve: serving array')) return;
      clearTimeout(timer);
      child.stderr!.off('data', onData);
      resolve();
    };
    child.stderr!.on('data', onData);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`serve exited with ${code} before serving:\n${log}`));
    });
  });
  const url = /status page (http:\/\/\S+)/.exec(log)?.[1];
  return {
    child,
    log: () => log,
    url,
    exited,
    stop: async (signal = 'SIGTERM') => {
      child.kill(signal);
      return exited;
    },
  };
}

/** Polls `status --json` (through serve, while it runs) until `accept` returns true. */
export async function waitForStatus(home: string, accept: (status: StatusDocument) => boolean, timeoutMs = 120_000): Promise<StatusDocument> {
  const deadline = Date.now() + timeoutMs;
  let last: StatusDocument | undefined;
  while (Date.now() < deadline) {
    const result = await runCli(['status', '--home', home, '--json']);
    if (result.exitCode === 0) {
      last = JSON.parse(result.stdout.toString('utf8')) as StatusDocument;
      if (accept(last)) return last;
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`status never became what the test waits for; last:\n${JSON.stringify(last, null, 2)}`);
}

export interface StatusDocument {
  arrayUuid: string;
  fileCount: number;
  degraded: boolean;
  devices: { deviceId: number; path: string; state: string; usedBytes: number; capacityBytes: number }[];
  jobs: { jobId: number; kind: string; state: string; progress: { doneBytes: number; totalBytes?: number } | null }[];
}
