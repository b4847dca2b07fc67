// The client's side of the control socket: while `elastripe serve` owns the array, a verb typed
// at the shell is sent there (its parsed command line) and runs in the server; this side plays
// the user's terminal and files for it: it writes the verb's stdout and stderr, opens the files
// the user named (put's input, get's output — by the same rules as a direct run, from the
// user's working directory), streams their bytes, and passes Ctrl-C on. The exit code is the
// verb's. Protocol: control_protocol.ts.
import { createReadStream } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { isAbsolute, resolve } from 'node:path';
import { ElastripeError } from '../../errors.js';
import type { CommandLine } from '../args.js';
import { writeWithBackpressure, type CliIo, type CommandContext } from '../context.js';
import type { ExitCode } from '../exit_codes.js';
import { openSource } from '../commands/files.js';
import { StdoutClosedError } from '../main.js';
import { openTarget, type ArrayFiles, type Sink, type TargetOptions } from '../output_target.js';
import {
  CONTROL_PROTOCOL_VERSION, decodeJson, encodeJsonFrame, FRAME_PAYLOAD_BYTES_MAX, FrameDecoder, frameHeader, FrameType, toWireError, type Frame,
} from './control_protocol.js';
import type { Hello, TerminalInfo } from './control_session.js';
import { controlSocketPath } from './socket_path.js';

/** Verbs whose arguments name devices: paths are made absolute here, where the user is. */
const DEVICE_PATH_VERBS = new Set(['add', 'fail', 'online', 'remove']);
const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Environment variables a verb may read; nothing else of the user's environment is sent. */
const FORWARDED_ENV = /^(ELASTRIPE_\w+|NO_COLOR|TERM|COLUMNS)$/;

/**
 * Runs the command line through the serve listening in its home. Undefined when no serve
 * answers there (a socket left by one that died): the caller then runs the verb itself.
 */
export async function forwardToServe(line: CommandLine, io: CliIo, signal: AbortSignal): Promise<ExitCode | undefined> {
  const socket = await connectTo(controlSocketPath(line.home!));
  if (socket === undefined) return undefined;
  return new ClientSession(socket, line, io, signal).run();
}

function connectTo(path: string): Promise<Socket | undefined> {
  return new Promise((resolvePromise, reject) => {
    const socket = connect({ path });
    socket.once('connect', () => {
      socket.off('error', onError);
      resolvePromise(socket);
    });
    const onError = (error: NodeJS.ErrnoException): void => {
      if (error.code === 'ECONNREFUSED' || error.code === 'ENOENT') resolvePromise(undefined);
      else reject(new ElastripeError('SERVE_UNREACHABLE', `cannot reach elastripe serve at ${path}: ${error.message}`));
    };
    socket.once('error', onError);
  });
}

/**
 * The command line as the server must see it: paths absolute (the server has another cwd).
 * The batch forms (put --recursive/--files, get --recursive) walk directories, so the server
 * reads and writes those files itself, at the absolute paths (the socket is 0600: only the
 * array's owner can ask it to).
 */
export function forwardedLine(line: CommandLine): CommandLine {
  const forwarded: CommandLine = { ...line, home: resolve(line.home!) };
  const absolute = (path: string): string => (path === '-' ? path : resolve(path));
  if (line.verb === 'put' && line.files) forwarded.arguments = line.arguments.map(absolute);
  else if (line.verb === 'put' && line.recursive) forwarded.arguments = line.arguments.map((argument, i) => (i === 0 ? absolute(argument) : argument));
  else if (line.verb === 'get' && line.recursive) forwarded.arguments = line.arguments.map((argument, i) => (i === 1 ? absolute(argument) : argument));
  if (DEVICE_PATH_VERBS.has(line.verb)) {
    forwarded.arguments = line.arguments.map((argument) => {
      if (line.verb !== 'add' && (/^\d+$/.test(argument) || UUID_PATTERN.test(argument))) return argument;
      return isAbsolute(argument) || /^nbd:\/\//i.test(argument) ? argument : resolve(argument);
    });
  }
  return forwarded;
}

function terminalOf(stream: CliIo['stdout']): TerminalInfo {
  return { isTTY: stream.isTTY === true, ...(stream.columns !== undefined ? { columns: stream.columns } : {}) };
}

class ClientSession {
  private readonly decoder = new FrameDecoder();
  private readonly context: CommandContext;
  private source: { stream: NodeJS.ReadableStream; sizeBytes?: number; close(): Promise<void> } | undefined;
  private sourceStopped = false;
  private creditBytes = 0;
  private wakePump: (() => void) | undefined;
  private sink: Sink | undefined;
  private sinkFailure: Error | undefined;
  /** Frames are handled one after another; output waits for the local stream to drain. */
  private queue: Promise<void> = Promise.resolve();
  private exitCode: ExitCode | undefined;

  constructor(private readonly socket: Socket, line: CommandLine, private readonly io: CliIo, private readonly signal: AbortSignal) {
    this.context = { line, io, signal };
  }

  run(): Promise<ExitCode> {
    const hello: Hello = {
      protocol: CONTROL_PROTOCOL_VERSION,
      line: forwardedLine(this.context.line),
      env: Object.fromEntries(Object.entries(this.io.env).filter((entry): entry is [string, string] => FORWARDED_ENV.test(entry[0]) && entry[1] !== undefined)),
      stdout: terminalOf(this.io.stdout),
      stderr: terminalOf(this.io.stderr),
    };
    this.socket.write(encodeJsonFrame(FrameType.HELLO, hello));
    const onAbort = (): void => this.passAbortOn();
    if (this.signal.aborted) onAbort();
    else this.signal.addEventListener('abort', onAbort, { once: true });
    return new Promise<ExitCode>((resolvePromise, reject) => {
      this.socket.on('data', (chunk: Buffer) => this.onData(chunk, reject));
      this.socket.on('error', () => undefined); // 'close' follows
      this.socket.on('close', () => {
        this.signal.removeEventListener('abort', onAbort);
        this.stopSource();
        void this.queue.then(() => {
          if (this.exitCode !== undefined) resolvePromise(this.exitCode);
          else reject(new ElastripeError('SERVE_GONE', 'elastripe serve closed the connection before the command finished (it stopped or crashed); run the command again'));
        });
      });
    });
  }

  /** Ctrl-C goes to the server as INTERRUPT; a broken stdout (EPIPE, ENOSPC) as STDOUT_FAILED. */
  private passAbortOn(): void {
    const reason: unknown = this.signal.reason;
    if (reason instanceof StdoutClosedError) this.send(FrameType.STDOUT_FAILED, { error: toWireError(reason.failure) });
    else this.send(FrameType.INTERRUPT, { reason: reason instanceof Error ? reason.message : 'interrupted by the user' });
  }

  private send(type: FrameType, value: unknown): void {
    if (!this.socket.destroyed) this.socket.write(encodeJsonFrame(type, value));
  }

  private onData(chunk: Buffer, reject: (error: Error) => void): void {
    let frames: Frame[];
    try {
      frames = this.decoder.push(chunk);
    } catch (error) {
      this.socket.destroy();
      return reject(error as Error);
    }
    for (const frame of frames) {
      // CREDIT must reach the input pump even while output is waiting on a slow local stream.
      if (frame.type === FrameType.CREDIT) {
        this.creditBytes += decodeJson<{ bytes: number }>(frame).bytes;
        this.wakePump?.();
        continue;
      }
      this.socket.pause();
      this.queue = this.queue.then(() => this.onFrame(frame)).catch((error: unknown) => {
        this.socket.destroy();
        reject(error as Error);
      });
    }
    void this.queue.then(() => this.socket.resume());
  }

  private async onFrame(frame: Frame): Promise<void> {
    switch (frame.type) {
      case FrameType.STDOUT:
        return this.writeLocal(this.io.stdout, frame.payload);
      case FrameType.STDERR:
        return this.writeLocal(this.io.stderr, frame.payload);
      case FrameType.TARGET_DATA:
        return this.writeTarget(frame.payload);
      case FrameType.REQUEST: {
        const { id, op, args } = decodeJson<{ id: number; op: string; args: Record<string, unknown> }>(frame);
        // A request may wait (an input file on a slow disk); the frames behind it must not.
        void this.answer(op, args).then(
          (value) => this.send(FrameType.REPLY, { id, value }),
          (error: unknown) => this.send(FrameType.REPLY, { id, error: toWireError(error) }),
        );
        return;
      }
      case FrameType.EXIT:
        this.exitCode = decodeJson<{ exitCode: ExitCode }>(frame).exitCode;
        return;
      default:
        throw new ElastripeError('PROTOCOL', `elastripe serve sent a frame of type ${frame.type} a client does not take`);
    }
  }

  /** The verb's output to our stdout or stderr; once stdout broke, the rest is dropped. */
  private async writeLocal(stream: CliIo['stdout'], payload: Uint8Array): Promise<void> {
    if (this.signal.aborted && stream === this.io.stdout) return;
    await writeWithBackpressure(stream, payload, this.signal).catch(() => undefined);
  }

  private async writeTarget(payload: Uint8Array): Promise<void> {
    if (this.sink === undefined || this.sinkFailure !== undefined) return;
    try {
      await this.sink.write(payload);
    } catch (error) {
      this.sinkFailure = error as Error;
      this.send(FrameType.TARGET_FAILED, { error: toWireError(error) });
    }
  }

  private async answer(op: string, args: Record<string, unknown>): Promise<unknown> {
    switch (op) {
      case 'openSource': {
        const opened = await openSource(this.context, String(args['file']));
        // A regular file (or one on stdin) comes as its path: read it here as a stream.
        const stream = 'path' in opened.input ? createReadStream(opened.input.path, { highWaterMark: FRAME_PAYLOAD_BYTES_MAX }) : opened.input;
        this.source = { stream, ...(opened.sizeBytes !== undefined ? { sizeBytes: opened.sizeBytes } : {}), close: () => opened.close() };
        void this.pumpSource(this.source);
        return this.source.sizeBytes === undefined ? {} : { sizeBytes: this.source.sizeBytes };
      }
      case 'closeSource':
        this.stopSource();
        await this.source?.close();
        return {};
      case 'openTarget': {
        this.sink = await openTarget(this.context, String(args['target']), String(args['name']), args['array'] as ArrayFiles, (args['options'] ?? {}) as TargetOptions);
        this.sinkFailure = undefined;
        return { path: this.sink.path, toStdout: this.sink.toStdout };
      }
      case 'commitTarget':
        await this.queue; // every TARGET_DATA before the request is written (frames arrive in order)
        if (this.sinkFailure !== undefined) throw this.sinkFailure;
        await this.sink?.commit();
        return {};
      case 'discardTarget':
        await this.sink?.discard();
        return {};
      case 'flushStdout': {
        const error = await new Promise<Error | null | undefined>((done) => this.io.stdout.write('', (failure) => done(failure)));
        if (this.signal.aborted && this.signal.reason instanceof StdoutClosedError) throw this.signal.reason.failure;
        if (error) throw error;
        return {};
      }
      default:
        throw new ElastripeError('PROTOCOL', `elastripe serve asked for '${op}', which this client does not know`);
    }
  }

  /** Sends the input as SOURCE_DATA within the credit the server grants, then SOURCE_END. */
  private async pumpSource(source: { stream: NodeJS.ReadableStream }): Promise<void> {
    try {
      for await (const chunk of source.stream as AsyncIterable<Buffer>) {
        for (let offset = 0; offset < chunk.byteLength; ) {
          while (this.creditBytes === 0 && !this.sourceStopped) await new Promise<void>((wake) => (this.wakePump = wake));
          if (this.sourceStopped) return;
          const length = Math.min(this.creditBytes, FRAME_PAYLOAD_BYTES_MAX, chunk.byteLength - offset);
          this.socket.write(frameHeader(FrameType.SOURCE_DATA, length));
          this.socket.write(chunk.subarray(offset, offset + length));
          this.creditBytes -= length;
          offset += length;
        }
      }
      if (!this.sourceStopped) this.send(FrameType.SOURCE_END, {});
    } catch (error) {
      if (!this.sourceStopped) this.send(FrameType.SOURCE_END, { error: toWireError(error) });
    }
  }

  private stopSource(): void {
    this.sourceStopped = true;
    this.wakePump?.();
    const stream = this.source?.stream as { destroy?: () => void } | undefined;
    stream?.destroy?.();
  }
}
