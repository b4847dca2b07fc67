// The server's side of one control connection: it receives a command line from a client, runs
// the verb with the same code a direct CLI run uses (runCommandLine) against the array serve
// holds open, and makes the verb's world the client's: its stdout and stderr are frames to the
// client, the files it reads or writes are opened by the client (CliIo.remoteFiles), Ctrl-C on
// the client aborts it. Protocol: control_protocol.ts.
//
// States: waiting (for HELLO) → running (the verb) → finished (EXIT sent, socket ended).
// A client that goes away while the verb runs aborts it (ABORTED), as Ctrl-C would.
import type { Socket } from 'node:net';
import { Readable, Writable, addAbortSignal } from 'node:stream';
import { finished } from 'node:stream/promises';
import { AbortedError } from '../../errors.js';
import type { CommandLine } from '../args.js';
import type { CliIo, CommandContext, RemoteFiles, RemoteSource } from '../context.js';
import { EXIT_FAILURE, type ExitCode } from '../exit_codes.js';
import type { ArrayFiles, Sink, TargetOptions } from '../output_target.js';
import {
  CONTROL_PROTOCOL_VERSION, ControlProtocolError, decodeJson, encodeJsonFrame, FRAME_PAYLOAD_BYTES_MAX, FrameDecoder, frameHeader, FrameType,
  fromWireError, SOURCE_WINDOW_BYTES, type Frame, type WireError,
} from './control_protocol.js';

/** What a client says first. */
export interface Hello {
  protocol: number;
  line: CommandLine;
  env: Record<string, string>;
  stdout: TerminalInfo;
  stderr: TerminalInfo;
}

export interface TerminalInfo {
  isTTY: boolean;
  columns?: number;
}

export interface Reply {
  id: number;
  value?: unknown;
  error?: WireError;
}

/** What runs a verb for a session (serve: runCommandLine on the served array). */
export type VerbRunner = (line: CommandLine, io: CliIo, signal: AbortSignal) => Promise<ExitCode>;

export class ControlSession implements RemoteFiles {
  readonly controller = new AbortController();
  /** Settles when the session is over (the verb finished, or the connection died). */
  readonly done: Promise<void>;
  /** The command line being run, once HELLO arrived. */
  line: CommandLine | undefined;
  private readonly decoder = new FrameDecoder();
  private readonly pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  private nextRequestId = 1;
  private input: RemoteInput | undefined;
  private targetFailure: Error | undefined;
  private closed = false;
  private closing: Promise<never> | undefined;
  private finish: () => void = () => undefined;

  constructor(private readonly socket: Socket, private readonly runVerb: VerbRunner) {
    this.done = new Promise((resolve) => (this.finish = resolve));
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => undefined); // 'close' follows
    socket.on('close', () => this.onClose());
  }

  /** Stops the verb (serve is shutting down): it ends as Ctrl-C would end it. */
  abort(reason: Error): void {
    if (!this.controller.signal.aborted) this.controller.abort(reason);
  }

  // --- RemoteFiles: the client opens the user's files ---

  async openSource(context: CommandContext, file: string): Promise<RemoteSource> {
    if (this.input !== undefined) throw new ControlProtocolError('a command reads at most one input through the control socket');
    const opened = (await this.request('openSource', { file })) as { sizeBytes?: number };
    const input = new RemoteInput(this);
    this.input = input;
    const stream = addAbortSignal(context.signal, input);
    return {
      input: stream,
      ...(opened.sizeBytes !== undefined ? { sizeBytes: opened.sizeBytes } : {}),
      close: async () => {
        input.destroy();
        await this.request('closeSource', {});
      },
    };
  }

  async openTarget(_context: CommandContext, target: string, name: string, array: ArrayFiles, options: TargetOptions = {}): Promise<Sink> {
    const devices = array.devices.map((device) => ({ deviceId: device.deviceId, path: device.path }));
    const opened = (await this.request('openTarget', { target, name, array: { home: array.home, devices }, options })) as { path: string; toStdout: boolean };
    this.targetFailure = undefined;
    return {
      path: opened.path,
      toStdout: opened.toStdout,
      writesInFlightMax: 1,
      write: async (chunk) => {
        if (this.targetFailure !== undefined) throw this.targetFailure;
        await this.sendData(FrameType.TARGET_DATA, chunk);
      },
      commit: async () => {
        await this.request('commitTarget', {});
      },
      discard: async () => {
        await this.request('discardTarget', {}).catch(() => undefined);
      },
    };
  }

  // --- frames ---

  /** Sends a JSON frame; false when the connection is gone. */
  sendJson(type: FrameType, value: unknown): boolean {
    if (this.closed || this.socket.destroyed) return false;
    this.socket.write(encodeJsonFrame(type, value));
    return true;
  }

  /**
   * Sends bytes as data frames, without copying them, and resolves once the socket has handed
   * all of them to the kernel: the caller may then reuse the memory (get's chunks are arena
   * slices lent until the next one), and a slow client slows the sender down.
   */
  async sendData(type: FrameType, bytes: Uint8Array): Promise<void> {
    let written: Promise<void> = Promise.resolve();
    for (let offset = 0; offset < bytes.byteLength; offset += FRAME_PAYLOAD_BYTES_MAX) {
      const part = bytes.subarray(offset, Math.min(bytes.byteLength, offset + FRAME_PAYLOAD_BYTES_MAX));
      if (this.closed || this.socket.destroyed) throw new AbortedError('the client closed the control connection');
      this.socket.write(frameHeader(type, part.byteLength));
      written = new Promise((resolve, reject) => {
        this.socket.write(part, (error) => (error ? reject(new AbortedError('the client closed the control connection')) : resolve()));
      });
    }
    written.catch(() => undefined); // the race below reports a closed connection
    await Promise.race([written, this.closedPromise()]);
  }

  /** Asks the client to do something (open a file, commit it, ...) and waits for its answer. */
  request(op: string, args: unknown): Promise<unknown> {
    const id = this.nextRequestId++;
    return new Promise((resolve, reject) => {
      if (!this.sendJson(FrameType.REQUEST, { id, op, args })) return reject(new AbortedError('the client closed the control connection'));
      this.pending.set(id, { resolve, reject });
    });
  }

  /** Rejects when the connection closes (a write callback may never come then). */
  private closedPromise(): Promise<never> {
    this.closing ??= new Promise<never>((_, reject) => {
      if (this.closed) reject(new AbortedError('the client closed the control connection'));
      else this.socket.once('close', () => reject(new AbortedError('the client closed the control connection')));
    });
    this.closing.catch(() => undefined);
    return this.closing;
  }

  private onData(chunk: Buffer): void {
    let frames: Frame[];
    try {
      frames = this.decoder.push(chunk);
      for (const frame of frames) this.onFrame(frame);
    } catch (error) {
      // A client that breaks the protocol gets no answer: whatever it sent cannot be trusted.
      this.abort(error instanceof Error ? error : new Error(String(error)));
      this.socket.destroy();
    }
  }

  private onFrame(frame: Frame): void {
    switch (frame.type) {
      case FrameType.HELLO:
        if (this.line !== undefined) throw new ControlProtocolError('HELLO sent twice');
        void this.run(decodeJson<Hello>(frame));
        return;
      case FrameType.INTERRUPT:
        this.abort(new AbortedError(decodeJson<{ reason?: string }>(frame).reason ?? 'interrupted by the user'));
        return;
      case FrameType.STDOUT_FAILED:
        void this.stdoutFailed(fromWireError(decodeJson<{ error: WireError }>(frame).error));
        return;
      case FrameType.REPLY:
        return this.onReply(decodeJson<Reply>(frame));
      case FrameType.SOURCE_DATA:
        if (this.input === undefined) throw new ControlProtocolError('input data without an open input');
        return this.input.receive(frame.payload);
      case FrameType.SOURCE_END: {
        const { error } = decodeJson<{ error?: WireError }>(frame);
        this.input?.end(error === undefined ? undefined : fromWireError(error));
        return;
      }
      case FrameType.TARGET_FAILED:
        this.targetFailure = fromWireError(decodeJson<{ error: WireError }>(frame).error);
        return;
      default:
        throw new ControlProtocolError(`a client does not send frames of type ${frame.type}`);
    }
  }

  /** The client's standard output broke: the verb stops as a direct run's would (main.ts). */
  private async stdoutFailed(failure: Error): Promise<void> {
    const { StdoutClosedError } = await import('../main.js');
    this.abort(new StdoutClosedError(failure));
  }

  private onReply(reply: Reply): void {
    const waiting = this.pending.get(reply.id);
    if (waiting === undefined) throw new ControlProtocolError(`reply to unknown request ${reply.id}`);
    this.pending.delete(reply.id);
    if (reply.error !== undefined) waiting.reject(fromWireError(reply.error));
    else waiting.resolve(reply.value ?? {});
  }

  private async run(hello: Hello): Promise<void> {
    this.line = hello.line;
    let exitCode: ExitCode = EXIT_FAILURE;
    if (hello.protocol !== CONTROL_PROTOCOL_VERSION) {
      const message = `elastripe: PROTOCOL: this elastripe speaks control protocol ${hello.protocol} and the running serve ${CONTROL_PROTOCOL_VERSION}; restart serve after upgrading\n`;
      await this.sendData(FrameType.STDERR, Buffer.from(message)).catch(() => undefined);
    } else {
      const io: CliIo = {
        stdout: new FrameWriter(this, FrameType.STDOUT, hello.stdout),
        stderr: new FrameWriter(this, FrameType.STDERR, hello.stderr),
        stdin: Readable.from([]),
        env: hello.env,
        remoteFiles: this,
      };
      exitCode = await this.runVerb(hello.line, io, this.controller.signal);
      // Output still queued in the writers goes out before EXIT (frames keep their order).
      await Promise.all([io.stdout, io.stderr].map((stream) => finished((stream as Writable).end()).catch(() => undefined)));
    }
    this.sendJson(FrameType.EXIT, { exitCode });
    this.socket.end();
    this.finish();
  }

  private onClose(): void {
    this.closed = true;
    this.abort(new AbortedError('the client closed the control connection'));
    for (const waiting of this.pending.values()) waiting.reject(new AbortedError('the client closed the control connection'));
    this.pending.clear();
    this.input?.end(new AbortedError('the client closed the control connection'));
    if (this.line === undefined) this.finish();
  }
}

/**
 * The verb's stdout or stderr: each write is a data frame to the client. An empty write is the
 * verb asking whether its output arrived (main.ts's stdoutFailure): for stdout it waits for the
 * client to flush its own standard output and says whether that failed.
 */
class FrameWriter extends Writable {
  readonly isTTY: boolean;
  readonly columns: number | undefined;

  constructor(private readonly session: ControlSession, private readonly type: FrameType, terminal: TerminalInfo) {
    super({ decodeStrings: true });
    this.isTTY = terminal.isTTY;
    this.columns = terminal.columns;
    // A client that went away fails the writes still queued; the verb learns it from its own
    // abort signal (ControlSession aborts it), so the stream's error event has nothing to add.
    this.on('error', () => undefined);
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (chunk.byteLength > 0) {
      this.session.sendData(this.type, chunk).then(() => callback(), (error: Error) => callback(error));
    } else if (this.type === FrameType.STDOUT) {
      this.session.request('flushStdout', {}).then(() => callback(), (error: Error) => callback(error));
    } else {
      callback();
    }
  }
}

const EMPTY_CHUNK = Buffer.alloc(0);

/**
 * put's input, arriving from the client. The client may send only as many bytes as this grants
 * (CREDIT frames): what the verb has consumed plus one window, so the server never buffers more
 * than SOURCE_WINDOW_BYTES per command and never has to stop reading its socket.
 */
class RemoteInput extends Readable {
  private grantedBytes = 0;
  private receivedBytes = 0;
  private ended = false;

  constructor(private readonly session: ControlSession) {
    super({ highWaterMark: SOURCE_WINDOW_BYTES });
  }

  receive(payload: Uint8Array): void {
    if (this.ended) return; // the put stopped reading; the client has been told to stop
    this.receivedBytes += payload.byteLength;
    if (this.receivedBytes > this.grantedBytes) throw new ControlProtocolError('the client sent more input than it was granted');
    this.push(payload);
  }

  end(error?: Error): void {
    if (this.ended) return;
    this.ended = true;
    if (error !== undefined) this.destroy(error);
    else this.push(null);
  }

  override _read(size: number): void {
    if (this.grant(size)) return;
    // Node calls _read before it takes the bytes being read out of the buffer, so the buffer may
    // look fuller than it is: look again once the read is done. And end this _read with an
    // empty push, or Node would not call _read again before new bytes arrive — which, with no
    // credit granted, they never would.
    this.push(EMPTY_CHUNK);
    process.nextTick(() => this.grant(size));
  }

  /** Grants credit up to what the reader consumed plus one window; false when none is due. */
  private grant(size: number): boolean {
    if (this.ended || this.destroyed) return true;
    const consumedBytes = this.receivedBytes - this.readableLength;
    // A reader that asks for more than the window at once (read(n) raises the high-water mark
    // to n) gets it: otherwise it would wait for bytes the window never lets in.
    const allowedBytes = consumedBytes + Math.max(SOURCE_WINDOW_BYTES, this.readableHighWaterMark, size);
    if (allowedBytes <= this.grantedBytes) return false;
    this.session.sendJson(FrameType.CREDIT, { bytes: allowedBytes - this.grantedBytes });
    this.grantedBytes = allowedBytes;
    return true;
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.ended = true;
    callback(error);
  }
}
