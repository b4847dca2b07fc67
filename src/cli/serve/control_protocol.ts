// The control socket's wire format: how a CLI verb run through `elastripe serve` travels between
// the client (the `elastripe` the user typed) and the server (the process that owns the array).
//
// A connection carries one command. Every message is a frame:
//   type (1 byte) | payload length (4 bytes, big-endian) | payload (at most FRAME_PAYLOAD_BYTES_MAX)
// Control frames carry one JSON document; data frames carry raw bytes (file data is never
// re-encoded). The exchange:
//   client → server  HELLO {protocol, line, env, stdout, stderr}         (exactly once, first)
//   server → client  STDOUT / STDERR bytes                               (the verb's output)
//   server → client  REQUEST {id, op, args}  → client → server REPLY {id, value | error}
//                    ops: openSource, closeSource, openTarget, commitTarget, discardTarget,
//                    flushStdout — the CLIENT opens and writes the files the user named, so
//                    paths mean what they mean in the user's shell and output_target.ts's
//                    safety rules are judged from the client's side (its cwd, its stdout).
//   client → server  SOURCE_DATA bytes, SOURCE_END {error?}              (put's input, within CREDIT)
//   server → client  CREDIT {bytes}                                      (flow control of SOURCE_DATA)
//   server → client  TARGET_DATA bytes; client → server TARGET_FAILED {error}
//   client → server  INTERRUPT {reason} (Ctrl-C), STDOUT_FAILED {error} (the client's stdout broke)
//   server → client  EXIT {exitCode}                                     (last frame)
// Socket backpressure paces server → client data (the client stops reading while its output is
// slow); client → server data is paced by credit, so the server always keeps reading and an
// INTERRUPT is never stuck behind file data.
import { AbortedError, ElastripeError, InvalidArgumentError, NotFoundError, OutputError } from '../../errors.js';
import { UsageError } from '../args.js';

/** Bumped whenever a frame or a message changes shape; client and server must agree. */
export const CONTROL_PROTOCOL_VERSION = 1;

export const FRAME_HEADER_BYTES = 5;
/** Largest payload of one frame: data is cut into frames of at most this. */
export const FRAME_PAYLOAD_BYTES_MAX = 1024 * 1024;
/** Bytes of put input the client may send ahead of the server's reading (the credit window). */
export const SOURCE_WINDOW_BYTES = 8 * FRAME_PAYLOAD_BYTES_MAX;

export const FrameType = {
  HELLO: 1,
  INTERRUPT: 2,
  STDOUT_FAILED: 3,
  REPLY: 4,
  SOURCE_DATA: 5,
  SOURCE_END: 6,
  TARGET_FAILED: 7,
  STDOUT: 16,
  STDERR: 17,
  REQUEST: 18,
  TARGET_DATA: 19,
  CREDIT: 20,
  EXIT: 21,
} as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

const KNOWN_TYPES = new Set<number>(Object.values(FrameType));
/** Frames whose payload is raw bytes; every other frame carries JSON. */
const DATA_TYPES = new Set<number>([FrameType.SOURCE_DATA, FrameType.STDOUT, FrameType.STDERR, FrameType.TARGET_DATA]);

export interface Frame {
  type: FrameType;
  payload: Uint8Array;
}

/** The peer broke the protocol (garbage, an oversized frame, a frame out of order). */
export class ControlProtocolError extends ElastripeError {
  constructor(message: string) {
    super('PROTOCOL', message);
  }
}

export function isDataFrame(type: number): boolean {
  return DATA_TYPES.has(type);
}

/** The header of a frame; the payload is written after it as it is (no copy into one buffer). */
export function frameHeader(type: FrameType, payloadBytes: number): Buffer {
  if (!KNOWN_TYPES.has(type)) throw new Error(`control_protocol: unknown frame type ${type}`);
  if (!Number.isInteger(payloadBytes) || payloadBytes < 0 || payloadBytes > FRAME_PAYLOAD_BYTES_MAX) {
    throw new Error(`control_protocol: payload of ${payloadBytes} bytes is outside 0..${FRAME_PAYLOAD_BYTES_MAX}`);
  }
  const header = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
  header[0] = type;
  header.writeUInt32BE(payloadBytes, 1);
  return header;
}

/** A JSON control frame as one buffer. */
export function encodeJsonFrame(type: FrameType, value: unknown): Buffer {
  if (isDataFrame(type)) throw new Error(`control_protocol: frame type ${type} carries bytes, not JSON`);
  const payload = Buffer.from(JSON.stringify(value ?? null), 'utf8');
  return Buffer.concat([frameHeader(type, payload.byteLength), payload]);
}

export function decodeJson<T>(frame: Frame): T {
  try {
    return JSON.parse(Buffer.from(frame.payload.buffer, frame.payload.byteOffset, frame.payload.byteLength).toString('utf8')) as T;
  } catch {
    throw new ControlProtocolError(`frame of type ${frame.type} does not hold JSON`);
  }
}

/**
 * Cuts a byte stream into frames. Invariants (assertInvariants):
 *  1. The pending chunks hold fewer bytes than one whole frame (complete frames are handed out).
 *  2. Once the decoder failed it stays failed: nothing after garbage is trusted.
 */
export class FrameDecoder {
  private readonly chunks: Buffer[] = [];
  private pendingBytes = 0;
  private failed = false;

  /** Feeds bytes; returns every frame they complete. Throws ControlProtocolError on garbage. */
  push(chunk: Uint8Array): Frame[] {
    if (this.failed) throw new ControlProtocolError('the control connection already failed');
    if (chunk.byteLength > 0) {
      this.chunks.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
      this.pendingBytes += chunk.byteLength;
    }
    const frames: Frame[] = [];
    for (;;) {
      const frame = this.next();
      if (frame === undefined) return frames;
      frames.push(frame);
    }
  }

  /** Bytes received that do not yet form a whole frame (a connection ending here was cut short). */
  get bufferedBytes(): number {
    return this.pendingBytes;
  }

  assertInvariants(): void {
    const total = this.chunks.reduce((sum, chunk) => sum + chunk.byteLength, 0);
    if (total !== this.pendingBytes) throw new Error(`FrameDecoder invariant: ${total} bytes buffered, counted ${this.pendingBytes}`);
    if (this.failed) return;
    if (this.pendingBytes >= FRAME_HEADER_BYTES) {
      const header = this.peek(FRAME_HEADER_BYTES);
      if (this.pendingBytes >= FRAME_HEADER_BYTES + header.readUInt32BE(1)) throw new Error('FrameDecoder invariant 1: a whole frame is still buffered');
    }
  }

  private next(): Frame | undefined {
    if (this.pendingBytes < FRAME_HEADER_BYTES) return undefined;
    const header = this.peek(FRAME_HEADER_BYTES);
    const type = header[0]!;
    const length = header.readUInt32BE(1);
    if (!KNOWN_TYPES.has(type)) return this.fail(`unknown frame type ${type}`);
    if (length > FRAME_PAYLOAD_BYTES_MAX) return this.fail(`frame of ${length} bytes exceeds the limit of ${FRAME_PAYLOAD_BYTES_MAX}`);
    if (this.pendingBytes < FRAME_HEADER_BYTES + length) return undefined;
    this.take(FRAME_HEADER_BYTES);
    return { type: type as FrameType, payload: this.take(length) };
  }

  private fail(message: string): never {
    this.failed = true;
    throw new ControlProtocolError(message);
  }

  /** The first `bytes` buffered bytes, without consuming them. */
  private peek(bytes: number): Buffer {
    const first = this.chunks[0]!;
    if (first.byteLength >= bytes) return first.subarray(0, bytes);
    return Buffer.concat(this.chunks, Math.min(this.pendingBytes, bytes)).subarray(0, bytes);
  }

  /** Consumes `bytes`; a payload inside one received chunk is a view of it, not a copy. */
  private take(bytes: number): Buffer {
    this.pendingBytes -= bytes;
    const first = this.chunks[0];
    if (bytes === 0) return Buffer.alloc(0);
    if (first!.byteLength >= bytes) {
      const taken = first!.subarray(0, bytes);
      if (first!.byteLength === bytes) this.chunks.shift();
      else this.chunks[0] = first!.subarray(bytes);
      return taken;
    }
    const taken = Buffer.allocUnsafe(bytes);
    let filled = 0;
    while (filled < bytes) {
      const chunk = this.chunks[0]!;
      const part = Math.min(chunk.byteLength, bytes - filled);
      chunk.copy(taken, filled, 0, part);
      filled += part;
      if (part === chunk.byteLength) this.chunks.shift();
      else this.chunks[0] = chunk.subarray(part);
    }
    return taken;
  }
}

/** An error as it crosses the socket: its class's stable code, or a system error's errno. */
export interface WireError {
  code: string;
  message: string;
  /** UsageError's usage line. */
  usage?: string;
  /** Set for Node's system errors (ENOENT, EPIPE, ...), which the CLI maps by errno. */
  system?: { syscall?: string; path?: string };
  /** A plain Error (no code): a bug, reported as INTERNAL on the other side. */
  internal?: boolean;
}

export function toWireError(error: unknown): WireError {
  if (error instanceof UsageError) return { code: error.code, message: error.message, usage: error.usage };
  if (error instanceof ElastripeError) return { code: error.code, message: error.message };
  if (error instanceof Error) {
    const { code, syscall, path } = error as NodeJS.ErrnoException;
    if (typeof code === 'string' && /^E[A-Z0-9]+$/.test(code)) return { code, message: error.message, system: { syscall, path } };
    if (error.name === 'AbortError') return { code: 'ABORTED', message: error.message };
    return { code: 'INTERNAL', message: error.message, internal: true };
  }
  return { code: 'INTERNAL', message: String(error), internal: true };
}

/** The error again, of the class the CLI's reporting and abort handling look for. */
export function fromWireError(wire: WireError): Error {
  if (wire.system !== undefined) {
    const error = new Error(wire.message) as NodeJS.ErrnoException;
    error.code = wire.code;
    if (wire.system.syscall !== undefined) error.syscall = wire.system.syscall;
    if (wire.system.path !== undefined) error.path = wire.system.path;
    return error;
  }
  if (wire.internal) return new Error(wire.message);
  switch (wire.code) {
    case 'USAGE':
      return new UsageError(wire.message, wire.usage);
    case 'ABORTED':
      return new AbortedError(wire.message);
    case 'NOT_FOUND':
      return new NotFoundError(wire.message);
    case 'INVALID_ARGUMENT':
      return new InvalidArgumentError(wire.message);
    case 'OUTPUT_ERROR':
      return new OutputError(wire.message);
    default:
      return new ElastripeError(wire.code, wire.message);
  }
}
