// Starts a real nbdkit on 127.0.0.1 with a free port, for NBD tests and the NBD benchmark.
// nbdkit runs in the foreground with --exit-with-parent, so it dies with this process even if
// a test crashes; stop() kills it (SIGTERM, then SIGKILL) and waits for the exit.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { connect, createServer } from 'node:net';

export interface NbdkitServer {
  readonly url: string;
  readonly port: number;
  readonly process: ChildProcess;
  /** SIGKILL, immediately (for "server died mid-request" tests). */
  kill(): void;
  /** SIGKILL, and resolve once the process is gone (so nothing can still connect to it). */
  killAndWait(): Promise<void>;
  stop(): Promise<void>;
}

export interface NbdkitOptions {
  /** e.g. 'memory' */
  readonly plugin: string;
  /** plugin and filter parameters, e.g. ['size=256M'] */
  readonly parameters?: readonly string[];
  readonly filters?: readonly string[];
  readonly startTimeoutMs?: number;
  /** Listen on this port (a server restarted where it was); default a free one. */
  readonly port?: number;
}

/** The reason nbdkit cannot be used here, or null when it can. */
export function nbdkitMissingReason(): string | null {
  try {
    execFileSync('nbdkit', ['--version'], { stdio: 'pipe' });
    return null;
  } catch (error) {
    return `nbdkit is not installed (${(error as Error).message}); install the nbdkit package to run NBD tests`;
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** Starts nbdkit; retries with another port if the chosen one was taken meanwhile. */
export async function startNbdkit(options: NbdkitOptions): Promise<NbdkitServer> {
  if (options.port !== undefined) return startOnce(options, options.port);
  let lastError: Error | null = null;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await startOnce(options, await freePort());
    } catch (error) {
      lastError = error as Error;
    }
  }
  throw lastError ?? new Error('nbdkit did not start');
}

async function startOnce(options: NbdkitOptions, port: number): Promise<NbdkitServer> {
  const args = ['-f', '--exit-with-parent', '-i', '127.0.0.1', '-p', String(port)];
  for (const filter of options.filters ?? []) args.push(`--filter=${filter}`);
  args.push(options.plugin, ...(options.parameters ?? []));
  const child = spawn('nbdkit', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
    await exited(child);
    clearTimeout(timer);
  };
  const deadlineMs = Date.now() + (options.startTimeoutMs ?? 10_000);
  while (Date.now() < deadlineMs) {
    if (child.exitCode !== null) throw new Error(`nbdkit exited with ${child.exitCode}: ${stderr.trim()}`);
    if (await canConnect(port)) {
      return {
        url: `nbd://127.0.0.1:${port}`,
        port,
        process: child,
        kill: () => void child.kill('SIGKILL'),
        killAndWait: async () => {
          child.kill('SIGKILL');
          await exited(child);
        },
        stop,
      };
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  await stop();
  throw new Error(`nbdkit did not listen on port ${port} in time: ${stderr.trim()}`);
}

/** Servers a test starts, all stopped by stopAll() (in its afterEach, so also when it fails). */
export class NbdkitFileServers {
  private readonly servers: NbdkitServer[] = [];

  /** A file-plugin server over `image`; given the port of a killed one, the same device returns. */
  start(image: string, port?: number): Promise<NbdkitServer> {
    return this.startWith({ plugin: 'file', parameters: [image], ...(port === undefined ? {} : { port }) });
  }

  async startWith(options: NbdkitOptions): Promise<NbdkitServer> {
    const server = await startNbdkit(options);
    this.servers.push(server);
    return server;
  }

  async stopAll(): Promise<void> {
    await Promise.allSettled(this.servers.splice(0).map((server) => server.stop()));
  }
}
