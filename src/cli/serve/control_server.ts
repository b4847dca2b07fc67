// The control socket of `elastripe serve`: a unix socket in the array's home, mode 0600 (only
// the array's owner may drive it), one ControlSession per connection. close() stops taking
// connections, removes the socket file and stops the sessions still running, the way Ctrl-C
// stops a direct run: jobs record where they were and continue when run again.
import { chmodSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { InvalidArgumentError } from '../../errors.js';
import { ControlSession, type VerbRunner } from './control_session.js';

/** The longest path a unix socket address holds on Linux (sun_path, 108 bytes with the NUL). */
const SOCKET_PATH_BYTES_MAX = 107;
/** How long a stopping serve waits for clients to close their connections after their EXIT. */
const CLIENT_CLOSE_WAIT_MS = 5000;

export class ControlServer {
  private readonly sessions = new Set<ControlSession>();
  private readonly sockets = new Set<Socket>();
  private accepting = true;
  /** Commands run so far, by verb (for /metrics). */
  readonly commandsByVerb = new Map<string, number>();

  private constructor(readonly path: string, private readonly server: Server, private readonly runVerb: VerbRunner) {}

  /**
   * Listens at `path`, replacing a socket file a previous serve left (the caller holds the
   * array's lock, so no live serve can own it).
   */
  static async listen(path: string, runVerb: VerbRunner): Promise<ControlServer> {
    if (Buffer.byteLength(path) > SOCKET_PATH_BYTES_MAX) {
      throw new InvalidArgumentError(`the control socket path ${path} is longer than the ${SOCKET_PATH_BYTES_MAX} bytes a unix socket address holds; use a home with a shorter path`);
    }
    rmSync(path, { force: true });
    let control: ControlServer | undefined;
    const server = createServer({ allowHalfOpen: false }, (socket) => control?.accept(socket));
    // The socket is created with mode 0600 (umask around the bind, which listen does at once),
    // so there is no moment at which another user could connect.
    const previousUmask = process.umask(0o177);
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(path, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } finally {
      process.umask(previousUmask);
    }
    chmodSync(path, 0o600);
    control = new ControlServer(path, server, runVerb);
    return control;
  }

  get activeSessions(): number {
    return this.sessions.size;
  }

  /** The verbs running now (for the status page). */
  runningVerbs(): string[] {
    return [...this.sessions].flatMap((session) => (session.line ? [session.line.verb] : []));
  }

  private accept(socket: Socket): void {
    if (!this.accepting) {
      socket.destroy();
      return;
    }
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    const session = new ControlSession(socket, async (line, io, signal) => {
      this.commandsByVerb.set(line.verb, (this.commandsByVerb.get(line.verb) ?? 0) + 1);
      return this.runVerb(line, io, signal);
    });
    this.sessions.add(session);
    void session.done.then(() => this.sessions.delete(session));
  }

  /** Stops listening, removes the socket, aborts running commands with `reason` and waits for them. */
  async close(reason: Error): Promise<void> {
    this.accepting = false;
    // server.close calls back only once every connection ended: stop the sessions meanwhile.
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    rmSync(this.path, { force: true });
    for (const session of this.sessions) session.abort(reason);
    await Promise.all([...this.sessions].map((session) => session.done));
    // Every session has sent its EXIT; a client that does not close its end is cut off.
    const timer = setTimeout(() => {
      for (const socket of this.sockets) socket.destroy();
    }, CLIENT_CLOSE_WAIT_MS);
    await closed;
    clearTimeout(timer);
  }
}
