// `elastripe serve`: the foreground process that owns an array (systemd-friendly: no fork, logs
// on stderr, exits 0 after a clean stop). It opens the array with its policies on (automatic
// rebuild, expansion, probes: the array layer's), runs every other CLI verb sent to its control
// socket against that open array, resumes jobs the previous serve was cut short in, and, with
// --listen, answers HTTP for metrics and the status page.
//
// States: starting (array opened, lock held → socket listening → HTTP listening → paused jobs
// resumed) → serving → stopping (SIGTERM/SIGINT: socket closed, running commands and jobs
// stopped where they are — jobs are resumable and noted for the next start —, array closed)
// → stopped (exit 0).
import type { ArrayStatus } from '../../array/types.js';
import { AbortedError } from '../../errors.js';
import type { CommandLine } from '../args.js';
import { openArray, requireHome, runtimeOptions, setServedArray, type ArrayHandle } from '../array_access.js';
import type { CliIo, CommandContext } from '../context.js';
import { EXIT_OK, type ExitCode } from '../exit_codes.js';
import { ArrayEventLog, describeEvent, withPolicies } from './array_events.js';
import { ControlServer } from './control_server.js';
import { checkListenOptions, HttpListener, type ListenAddress } from './http_listener.js';
import { IoCounters } from './io_counters.js';
import { isJobLine, JobResumeLedger, type PausedJob } from './job_resume.js';
import { renderMetrics } from './metrics.js';
import { controlSocketPath } from './socket_path.js';
import { ThroughputHistory } from './throughput_history.js';

/** How often the throughput history takes a sample. */
const SAMPLE_INTERVAL_MS = 1000;

export async function runServe(context: CommandContext): Promise<ExitCode> {
  const { line, io } = context;
  const token = line.token ?? (io.env['ELASTRIPE_TOKEN'] || undefined);
  // A bad --listen is a usage error before anything is opened.
  const address = line.listen === undefined ? undefined : checkListenOptions(line.listen, token);
  const stop = stopSignal(context.signal);
  const log = (text: string): void => void io.stderr.write(`elastripe serve: ${text}\n`);
  const counters = new IoCounters();
  const runtime = runtimeOptions(line);
  const array = await openArray(requireHome(line), withPolicies({ ...runtime, openDevice: counters.opener() }));
  const served = new ServedArray(array, counters, log);
  try {
    await served.start(address, token);
    log(`serving array ${array.status().arrayUuid} in ${array.home}; control socket ${served.socketPath}${served.httpUrl ? `; status page ${served.httpUrl}` : ''}`);
    await stop.stopped;
    log(`stopping (${stop.reason()}): running commands and jobs stop where they are; jobs continue when serve starts again`);
  } finally {
    stop.dispose();
    await served.stop(new AbortedError(`elastripe serve is stopping (${stop.reason()}); a job continues where it stopped when serve starts again`));
  }
  log('stopped');
  return EXIT_OK;
}

/** SIGTERM, or the CLI's abort (SIGINT, handled by runAsProcess). */
function stopSignal(signal: AbortSignal): { stopped: Promise<void>; reason(): string; dispose(): void } {
  let why = 'SIGINT';
  let done: () => void = () => undefined;
  const stopped = new Promise<void>((resolve) => (done = resolve));
  const onTerm = (): void => {
    why = 'SIGTERM';
    done();
  };
  const onAbort = (): void => done();
  process.on('SIGTERM', onTerm);
  if (signal.aborted) done();
  else signal.addEventListener('abort', onAbort, { once: true });
  return {
    stopped,
    reason: () => why,
    dispose: () => {
      process.off('SIGTERM', onTerm);
      signal.removeEventListener('abort', onAbort);
    },
  };
}

/** The array while serve holds it, with what serves it: control socket, HTTP, background jobs. */
class ServedArray {
  private control: ControlServer | undefined;
  private http: HttpListener | undefined;
  private readonly events: ArrayEventLog;
  private readonly history: ThroughputHistory;
  private readonly ledger: JobResumeLedger;
  private readonly background = new Set<Promise<unknown>>();
  private readonly stopController = new AbortController();
  private readonly startedMs = Date.now();
  private stopping = false;

  constructor(private readonly array: ArrayHandle, private readonly counters: IoCounters, private readonly log: (text: string) => void) {
    this.events = new ArrayEventLog(array, (event) => {
      if (event.type !== 'jobProgress') this.log(`event ${describeEvent(event)}`);
    });
    this.history = new ThroughputHistory(counters, SAMPLE_INTERVAL_MS);
    this.ledger = new JobResumeLedger(array.home);
  }

  get socketPath(): string {
    return this.control?.path ?? controlSocketPath(this.array.home);
  }

  get httpUrl(): string | undefined {
    return this.http?.url;
  }

  async start(address: ListenAddress | undefined, token: string | undefined): Promise<void> {
    setServedArray(this.array);
    const paused = this.ledger.takePaused();
    this.control = await ControlServer.listen(controlSocketPath(this.array.home), (line, io, signal) => this.runVerb(line, io, signal));
    if (address !== undefined) {
      this.http = await HttpListener.start(address, token, {
        metrics: () => this.metrics(),
        statusJson: () => this.array.status(),
        historyJson: () => ({ samples: this.history.samples(), events: this.events.recentEvents(), commands: this.control?.runningVerbs() ?? [] }),
      });
    }
    this.history.start();
    for (const job of paused) this.resume(job);
  }

  /** Runs a verb for a client (or for serve itself); job verbs are noted for a resume. */
  private async runVerb(line: CommandLine, io: CliIo, signal: AbortSignal): Promise<ExitCode> {
    const { runCommandLine } = await import('../main.js');
    const served: CommandLine = { ...line, home: this.array.home };
    const ticket = isJobLine(served) ? this.ledger.started(served) : undefined;
    const combined = AbortSignal.any([signal, this.stopController.signal]);
    try {
      return await runCommandLine(served, io, combined);
    } finally {
      // A job stopped by serve's own stop stays noted: the next serve continues it.
      const cutShort = this.stopping && combined.aborted && this.stopController.signal.aborted;
      if (ticket !== undefined && !cutShort) this.ledger.finished(ticket);
    }
  }

  /** Continues a job the previous serve was stopped in, logging its output. */
  private resume(job: PausedJob): void {
    this.log(`resuming ${job.verb}${job.arguments.length ? ` ${job.arguments.join(' ')}` : ''} (cut short when serve last stopped)`);
    const line: CommandLine = {
      verb: job.verb, arguments: job.arguments, home: this.array.home, json: false, debug: false, help: false, backend: 'auto', force: false, replace: false, deep: false, keep: false,
      ...(job.rateBytesPerSec !== undefined ? { rateBytesPerSec: job.rateBytesPerSec } : {}),
    };
    const io: CliIo = { stdout: process.stderr, stderr: process.stderr, stdin: process.stdin, env: {} };
    const run = this.runVerb(line, io, new AbortController().signal).then((exitCode) => this.log(`resumed ${job.verb} ended with exit code ${exitCode}`));
    this.background.add(run);
    void run.finally(() => this.background.delete(run));
  }

  private metrics(): string {
    const status: ArrayStatus = this.array.status();
    return renderMetrics({
      status,
      ioOf: (path) => this.counters.countsOf(path),
      eventsByType: this.events.countsByType,
      commandsByVerb: this.control?.commandsByVerb ?? new Map(),
      activeCommands: this.control?.activeSessions ?? 0,
      uptimeSeconds: Math.round((Date.now() - this.startedMs) / 1000),
    });
  }

  /** Stops taking work, stops what runs (resumably), closes the array. */
  async stop(reason: Error): Promise<void> {
    this.stopping = true;
    this.stopController.abort(reason);
    await this.control?.close(reason);
    await Promise.allSettled([...this.background]);
    await this.http?.close();
    this.history.stop();
    this.events.close();
    setServedArray(undefined);
    await this.array.close();
  }
}

