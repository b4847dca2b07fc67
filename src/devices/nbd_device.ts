// The NBD backend: a network block device client over node:net, speaking the protocol itself
// (fixed newstyle handshake with NBD_OPT_GO, simple replies; see nbd_protocol.ts).
//
// Data path: many requests in flight on one connection, matched by handle. While a large read
// payload is arriving, the socket reads straight into the caller's view (onread with a buffer
// function: the kernel copies into the target, we copy nothing); headers and small payload
// tails go through one reused receive buffer and are copied from there. Write payloads are
// handed to the socket as views after their 28-byte header (corked into one writev, never
// copied by us).
//
// Durable writes: when the export advertises NBD_FLAG_SEND_FUA, writeDurable sends each write
// with NBD_CMD_FLAG_FUA, which the spec makes durable once its (successful) reply arrives; a
// small put then needs no NBD_CMD_FLUSH. Without SEND_FUA the device has no writeDurable and
// callers write and flush. A connection is never revived: a durable write pending when it
// drops is rejected (its content unknown), and the array reopens the device (health monitor).
//
// States: connecting -> open -> (failed | closing) -> closed.
//  - handshake() performs connecting -> open.
//  - fail() performs open -> failed: a dropped connection, a protocol violation or a request
//    older than requestTimeoutMs. Every pending request is rejected with DeviceIoError; later
//    calls reject at once with DeviceFailedError. An error *reply* only fails its request: the
//    connection is still in step, and deciding to fail the device is the array's job.
//  - close() performs open -> closing -> closed (drain, NBD_CMD_DISC, end).
// Invariants:
//  1. sent requests (inflight + the read whose payload is arriving) <= inflightMax + 1, and
//     the waiting queue is non-empty only while inflight is full.
//  2. Outside 'open' and 'closing' nothing is inflight, arriving or queued.
//  3. sizeBytes is a whole number of logical blocks; every request lies inside it and moves at
//     most payloadBytesMax.
import { connect, type Socket } from 'node:net';
import { LB_BYTES } from '../constants.js';
import { DeviceFailedError, DeviceIoError, InvalidArgumentError } from '../errors.js';
import type { Device, DeviceDescription, DeviceExtent } from './device.js';
import { ERRNO, errnoOf, settleBatch, validateBatch } from './device_batch.js';
import * as nbd from './nbd_protocol.js';

export const NBD_CONNECT_TIMEOUT_MS_DEFAULT = 10_000;
export const NBD_REQUEST_TIMEOUT_MS_DEFAULT = 30_000;
export const NBD_INFLIGHT_MAX_DEFAULT = 64;
/** Size of the socket receive buffer we read into (onread), reused for every chunk. */
const NBD_RECEIVE_BUFFER_BYTES = 64 * 1024;
/** A payload remainder at least this long is received directly into the caller's view. */
const NBD_DIRECT_RECEIVE_BYTES_MIN = 32 * 1024;
/** Trim lengths are 32-bit on the wire; split longer trims at this aligned size. */
const NBD_TRIM_BYTES_MAX = 1 << 30;
/** How long close() waits for the server to hang up after NBD_CMD_DISC. */
const NBD_DISCONNECT_WAIT_MS = 1000;

// Reconnect backoff (kept in nbd_reconnect.ts, which loads without node:net).
export { NBD_RECONNECT_BASE_MS, NBD_RECONNECT_MAX_MS, nbdReconnectDelayMs } from './nbd_reconnect.js';

export interface NbdDeviceOptions {
  readonly connectTimeoutMs?: number;
  readonly requestTimeoutMs?: number;
  readonly inflightMax?: number;
}

export interface NbdAddress {
  readonly host: string;
  readonly port: number;
  readonly exportName: string;
}

/** nbd://host[:port][/export]; the export name is optional (empty = the server's default). */
export function parseNbdUrl(url: string): NbdAddress {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new InvalidArgumentError(`${url} is not a valid nbd:// URL`);
  }
  if (parsed.protocol !== 'nbd:' || parsed.hostname === '') throw new InvalidArgumentError(`${url} is not an nbd://host[:port][/export] URL`);
  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = parsed.port === '' ? nbd.NBD_DEFAULT_PORT : Number(parsed.port);
  return { host, port, exportName: decodeURIComponent(parsed.pathname.replace(/^\//, '')) };
}

export async function openNbdDevice(url: string, options: NbdDeviceOptions = {}): Promise<NbdDevice> {
  const device = new NbdDevice(url, parseNbdUrl(url), options);
  await device.handshake();
  return device;
}

interface NbdRequest {
  readonly command: number;
  /** NBD_CMD_FLAG_* of the request header (FUA on a durable write), else 0. */
  readonly commandFlags: number;
  readonly handle: number;
  readonly offsetBytes: number;
  readonly lengthBytes: number;
  /** Write payload (sent after the header) or read target (filled from the socket). */
  readonly data: Uint8Array | null;
  sentAtMs: number;
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
}

interface ExportInfo {
  sizeBytes: number;
  flags: number;
  blockBytesMin: number;
  blockBytesMax: number;
  negotiation: 'go' | 'export_name';
}

export class NbdDevice implements Device {
  readonly backend = 'nbd' as const;
  sizeBytes = 0;
  logicalBlockBytes = 512;
  private state: 'connecting' | 'open' | 'failed' | 'closing' | 'closed' = 'connecting';
  private failure = '';
  private readonly socket: Socket;
  private readonly connectTimeoutMs: number;
  private readonly requestTimeoutMs: number;
  private readonly inflightMax: number;
  private info: ExportInfo = { sizeBytes: 0, flags: 0, blockBytesMin: 1, blockBytesMax: nbd.NBD_PAYLOAD_BYTES_MAX_DEFAULT, negotiation: 'go' };
  private payloadBytesMax = nbd.NBD_PAYLOAD_BYTES_MAX_DEFAULT;
  private nextHandle = 1;
  /** Sent, reply not yet seen; Map order is send order, so the first entry is the oldest. */
  private readonly inflight = new Map<number, NbdRequest>();
  private readonly waiting: NbdRequest[] = [];
  private waitingHead = 0;
  // Reply parser: a partial 16-byte header, then (for a successful read) its payload.
  private readonly replyHeader = Buffer.alloc(nbd.NBD_SIMPLE_REPLY_HEADER_BYTES);
  private replyHeaderFilled = 0;
  private arriving: NbdRequest | null = null;
  private arrivingFilled = 0;
  private readonly receiveScratch = Buffer.allocUnsafe(NBD_RECEIVE_BUFFER_BYTES);
  /** The caller's view the next socket read lands in, or null for receiveScratch. */
  private directView: Uint8Array | null = null;
  // Handshake reader: bytes are copied (the handshake is tiny) until someone takes them.
  private handshakeChunks: Buffer[] = [];
  private handshakeWaiter: { lengthBytes: number; resolve: (bytes: Buffer) => void; reject: (error: Error) => void } | null = null;
  private timeoutSweep: NodeJS.Timeout | null = null;
  /** Every submitted request's promise until it settles, so close() can drain. */
  private readonly outstanding = new Set<Promise<void>>();
  private disconnectSent = false;
  private readonly closed: Promise<void>;
  /**
   * Writes with NBD_CMD_FLAG_FUA, each durable once it resolves. Set by handshake() only when
   * the export advertises NBD_FLAG_SEND_FUA (and is writable); undefined otherwise, so callers
   * fall back to write + flush.
   */
  writeDurable?: (extents: readonly DeviceExtent[], buffers: readonly Uint8Array[]) => Promise<void>;

  constructor(readonly path: string, private readonly address: NbdAddress, options: NbdDeviceOptions) {
    this.connectTimeoutMs = options.connectTimeoutMs ?? NBD_CONNECT_TIMEOUT_MS_DEFAULT;
    this.requestTimeoutMs = options.requestTimeoutMs ?? NBD_REQUEST_TIMEOUT_MS_DEFAULT;
    this.inflightMax = options.inflightMax ?? NBD_INFLIGHT_MAX_DEFAULT;
    if (!(this.inflightMax >= 1) || !(this.requestTimeoutMs > 0) || !(this.connectTimeoutMs > 0)) {
      throw new InvalidArgumentError('nbd: inflightMax, requestTimeoutMs and connectTimeoutMs must be positive');
    }
    this.socket = connect({
      host: address.host,
      port: address.port,
      noDelay: true,
      onread: {
        // Node asks for the next buffer after each callback, so the parser state is current.
        buffer: () => this.nextReceiveBuffer(),
        callback: (lengthBytes, buffer) => {
          if (buffer === this.directView) this.onDirectBytes(lengthBytes);
          else this.onBytes(buffer.subarray(0, lengthBytes));
          return true;
        },
      },
    });
    this.closed = new Promise((resolve) => this.socket.once('close', () => resolve()));
    this.socket.on('error', (error) => this.fail(errnoOf(error), `connection error: ${error.message}`));
    this.socket.on('close', () => {
      if (!this.disconnectSent) this.fail(ERRNO.ECONNRESET, 'connection closed by the server');
    });
  }

  get online(): boolean {
    return this.state === 'open';
  }

  /** connecting -> open, within connectTimeoutMs; on any failure the socket is destroyed. */
  async handshake(): Promise<void> {
    const timer = setTimeout(() => this.fail(ERRNO.ETIMEDOUT, `no handshake within ${this.connectTimeoutMs} ms`), this.connectTimeoutMs);
    try {
      this.info = await this.negotiate();
    } catch (error) {
      this.fail(ERRNO.EIO, (error as Error).message);
      throw error instanceof DeviceIoError ? error : new DeviceIoError(this.path, 'connect', 0, errnoOf(error), (error as Error).message);
    } finally {
      clearTimeout(timer);
    }
    this.applyExportInfo();
    if ((this.info.flags & nbd.NBD_FLAG_SEND_FUA) !== 0 && (this.info.flags & nbd.NBD_FLAG_READ_ONLY) === 0) {
      this.writeDurable = (extents, buffers) => this.writeWithFlags(extents, buffers, nbd.NBD_CMD_FLAG_FUA);
    }
    this.state = 'open';
    const leftover = Buffer.concat(this.handshakeChunks);
    this.handshakeChunks = [];
    if (leftover.byteLength > 0) this.onReplyBytes(leftover);
    const sweepMs = Math.max(10, Math.min(1000, this.requestTimeoutMs / 4));
    this.timeoutSweep = setInterval(() => this.sweepTimeouts(), sweepMs).unref();
    this.assertInvariants();
  }

  async read(extents: readonly DeviceExtent[], buffers: readonly Uint8Array[]): Promise<void> {
    this.checkUsable();
    validateBatch(this.path, 'read', extents, buffers, this.sizeBytes);
    await settleBatch(this.splitBatch(nbd.NBD_CMD_READ, extents, buffers, this.payloadBytesMax));
  }

  async write(extents: readonly DeviceExtent[], buffers: readonly Uint8Array[]): Promise<void> {
    await this.writeWithFlags(extents, buffers, 0);
  }

  private async writeWithFlags(extents: readonly DeviceExtent[], buffers: readonly Uint8Array[], commandFlags: number): Promise<void> {
    this.checkUsable();
    validateBatch(this.path, 'write', extents, buffers, this.sizeBytes);
    this.checkWritable('write', extents);
    await settleBatch(this.splitBatch(nbd.NBD_CMD_WRITE, extents, buffers, this.payloadBytesMax, commandFlags));
  }

  /** NBD_CMD_FLUSH when the server advertises it; otherwise its writes need no flush. */
  async flush(): Promise<void> {
    this.checkUsable();
    if ((this.info.flags & nbd.NBD_FLAG_SEND_FLUSH) === 0) return;
    await this.submit(nbd.NBD_CMD_FLUSH, 0, 0, null);
  }

  /** NBD_CMD_TRIM when the server advertises it; a no-op otherwise. */
  async trim(extents: readonly DeviceExtent[]): Promise<void> {
    this.checkUsable();
    validateBatch(this.path, 'trim', extents, null, this.sizeBytes);
    if ((this.info.flags & nbd.NBD_FLAG_SEND_TRIM) === 0) return;
    this.checkWritable('trim', extents);
    await settleBatch(this.splitBatch(nbd.NBD_CMD_TRIM, extents, null, NBD_TRIM_BYTES_MAX));
  }

  /** Drains what is in flight, says NBD_CMD_DISC and waits (bounded) for the server to hang up. */
  async close(): Promise<void> {
    if (this.state === 'open') {
      this.state = 'closing';
      await Promise.allSettled([...this.outstanding]);
      if (this.state === 'closing') {
        const header = Buffer.allocUnsafe(nbd.NBD_REQUEST_HEADER_BYTES);
        nbd.encodeRequestHeader(header, nbd.NBD_CMD_DISC, this.nextHandle++, 0, 0);
        this.disconnectSent = true;
        this.socket.end(header);
        const timer = setTimeout(() => this.socket.destroy(), NBD_DISCONNECT_WAIT_MS);
        await this.closed;
        clearTimeout(timer);
      }
    }
    if (this.state !== 'failed') this.failure = 'closed';
    this.stop('closed');
    this.socket.destroy();
    this.state = 'closed';
    this.assertInvariants();
  }

  describe(): DeviceDescription {
    const flags = this.info.flags;
    return {
      path: this.path,
      backend: 'nbd',
      sizeBytes: this.sizeBytes,
      logicalBlockBytes: this.logicalBlockBytes,
      kind: 'nbd',
      online: this.online,
      detail: {
        server: `${this.address.host}:${this.address.port}`,
        exportName: this.address.exportName,
        negotiation: this.info.negotiation,
        flush: (flags & nbd.NBD_FLAG_SEND_FLUSH) !== 0,
        fua: this.writeDurable !== undefined,
        trim: (flags & nbd.NBD_FLAG_SEND_TRIM) !== 0,
        readOnly: (flags & nbd.NBD_FLAG_READ_ONLY) !== 0,
        multiConn: (flags & nbd.NBD_FLAG_CAN_MULTI_CONN) !== 0,
        inflightMax: this.inflightMax,
        payloadBytesMax: this.payloadBytesMax,
        requestTimeoutMs: this.requestTimeoutMs,
        ...(this.failure ? { failure: this.failure } : {}),
      },
    };
  }

  assertInvariants(): void {
    const queued = this.waiting.length - this.waitingHead;
    const sent = this.inflight.size + (this.arriving ? 1 : 0);
    if (sent > this.inflightMax + 1) throw new Error('nbd_device: more requests sent than inflightMax');
    if (queued > 0 && this.inflight.size < this.inflightMax) throw new Error('nbd_device: requests wait while a slot is free');
    if (this.state !== 'open' && this.state !== 'closing' && (sent > 0 || queued > 0)) {
      throw new Error(`nbd_device: requests pending in state ${this.state}`);
    }
    if (this.sizeBytes % LB_BYTES !== 0 || this.payloadBytesMax % LB_BYTES !== 0) throw new Error('nbd_device: sizes not LB multiples');
    if ((this.state === 'failed' || this.state === 'closed') && this.failure === '') throw new Error('nbd_device: offline without a reason');
  }

  // ---- handshake ----

  private async negotiate(): Promise<ExportInfo> {
    const greeting = await this.take(18);
    if (greeting.readBigUInt64BE(0) !== nbd.NBD_INIT_MAGIC) throw new Error('not an NBD server (bad magic)');
    if (greeting.readBigUInt64BE(8) !== nbd.NBD_OPTS_MAGIC) throw new Error('oldstyle NBD servers are not supported');
    const serverFlags = greeting.readUInt16BE(16);
    if ((serverFlags & nbd.NBD_FLAG_FIXED_NEWSTYLE) === 0) throw new Error('server does not speak fixed newstyle');
    const noZeroes = (serverFlags & nbd.NBD_FLAG_NO_ZEROES) !== 0;
    const clientFlags = Buffer.alloc(4);
    clientFlags.writeUInt32BE(nbd.NBD_FLAG_C_FIXED_NEWSTYLE | (noZeroes ? nbd.NBD_FLAG_C_NO_ZEROES : 0));
    this.socket.write(clientFlags);
    this.socket.write(nbd.encodeOption(nbd.NBD_OPT_GO, nbd.encodeGoData(this.address.exportName)));
    const info: ExportInfo = { sizeBytes: -1, flags: 0, blockBytesMin: 1, blockBytesMax: nbd.NBD_PAYLOAD_BYTES_MAX_DEFAULT, negotiation: 'go' };
    for (;;) {
      const reply = nbd.decodeOptionReplyHeader(await this.take(nbd.NBD_OPT_REPLY_HEADER_BYTES));
      const data = await this.take(reply.lengthBytes);
      if (reply.type === nbd.NBD_REP_ACK) break;
      if (reply.type === nbd.NBD_REP_INFO) {
        this.readInfo(data, info);
        continue;
      }
      if (reply.type === nbd.NBD_REP_ERR_UNSUP) return this.negotiateExportName(noZeroes);
      if ((reply.type & nbd.NBD_REP_FLAG_ERROR) !== 0) {
        const message = data.toString('utf8');
        throw new DeviceIoError(this.path, 'connect', 0, ERRNO.EIO, `${nbd.optionReplyName(reply.type)}${message ? `: ${message}` : ''}`);
      }
      // Unknown non-error replies are skipped, as the spec allows.
    }
    if (info.sizeBytes < 0) throw new Error('server sent no NBD_INFO_EXPORT');
    return info;
  }

  private readInfo(data: Buffer, info: ExportInfo): void {
    if (data.byteLength < 2) throw new Error('short NBD_REP_INFO');
    const type = data.readUInt16BE(0);
    if (type === nbd.NBD_INFO_EXPORT && data.byteLength >= 12) {
      info.sizeBytes = Number(data.readBigUInt64BE(2));
      info.flags = data.readUInt16BE(10);
    } else if (type === nbd.NBD_INFO_BLOCK_SIZE && data.byteLength >= 14) {
      info.blockBytesMin = data.readUInt32BE(2);
      info.blockBytesMax = data.readUInt32BE(10);
    }
  }

  /** Old servers without NBD_OPT_GO: the reply is size, flags and (maybe) 124 zero bytes. */
  private async negotiateExportName(noZeroes: boolean): Promise<ExportInfo> {
    this.socket.write(nbd.encodeOption(nbd.NBD_OPT_EXPORT_NAME, Buffer.from(this.address.exportName, 'utf8')));
    const reply = await this.take(10 + (noZeroes ? 0 : 124));
    return {
      sizeBytes: Number(reply.readBigUInt64BE(0)),
      flags: reply.readUInt16BE(8),
      blockBytesMin: 1,
      blockBytesMax: nbd.NBD_PAYLOAD_BYTES_MAX_DEFAULT,
      negotiation: 'export_name',
    };
  }

  private applyExportInfo(): void {
    const { sizeBytes, blockBytesMin, blockBytesMax } = this.info;
    if (blockBytesMin > LB_BYTES || LB_BYTES % blockBytesMin !== 0) {
      this.fail(ERRNO.EINVAL, `server minimum block size ${blockBytesMin} does not divide ${LB_BYTES}`);
      throw new DeviceIoError(this.path, 'connect', 0, ERRNO.EINVAL, `server minimum block size ${blockBytesMin} does not divide ${LB_BYTES}`);
    }
    this.sizeBytes = sizeBytes - (sizeBytes % LB_BYTES);
    this.logicalBlockBytes = Math.max(512, blockBytesMin);
    const maxBytes = Math.min(blockBytesMax, nbd.NBD_PAYLOAD_BYTES_MAX_DEFAULT);
    this.payloadBytesMax = Math.max(LB_BYTES, maxBytes - (maxBytes % LB_BYTES));
  }

  private take(lengthBytes: number): Promise<Buffer> {
    if (this.handshakeWaiter) throw new Error('nbd_device: two handshake reads at once');
    if (this.state !== 'connecting') return Promise.reject(new DeviceIoError(this.path, 'connect', 0, ERRNO.ECONNRESET, this.failure));
    return new Promise((resolve, reject) => {
      this.handshakeWaiter = { lengthBytes, resolve, reject };
      this.serveHandshakeWaiter();
    });
  }

  private serveHandshakeWaiter(): void {
    const waiter = this.handshakeWaiter;
    if (!waiter) return;
    const available = this.handshakeChunks.reduce((sum, chunk) => sum + chunk.byteLength, 0);
    if (available < waiter.lengthBytes) return;
    const all = Buffer.concat(this.handshakeChunks);
    this.handshakeChunks = [all.subarray(waiter.lengthBytes)];
    this.handshakeWaiter = null;
    waiter.resolve(all.subarray(0, waiter.lengthBytes));
  }

  // ---- transmission ----

  private splitBatch(command: number, extents: readonly DeviceExtent[], buffers: readonly Uint8Array[] | null, chunkBytesMax: number, commandFlags = 0): Promise<void>[] {
    const requests: Promise<void>[] = [];
    for (let i = 0; i < extents.length; i++) {
      const startBytes = extents[i]!.startLb * LB_BYTES;
      const lengthBytes = extents[i]!.lengthLb * LB_BYTES;
      for (let doneBytes = 0; doneBytes < lengthBytes; doneBytes += chunkBytesMax) {
        const chunkBytes = Math.min(chunkBytesMax, lengthBytes - doneBytes);
        const data = buffers ? buffers[i]!.subarray(doneBytes, doneBytes + chunkBytes) : null;
        requests.push(this.submit(command, startBytes + doneBytes, chunkBytes, data, commandFlags));
      }
    }
    return requests;
  }

  private submit(command: number, offsetBytes: number, lengthBytes: number, data: Uint8Array | null, commandFlags = 0): Promise<void> {
    const promise = new Promise<void>((resolve, reject) => {
      const request: NbdRequest = { command, commandFlags, handle: this.nextHandle++, offsetBytes, lengthBytes, data, sentAtMs: 0, resolve, reject };
      if (this.inflight.size < this.inflightMax) this.send(request);
      else this.waiting.push(request);
    });
    this.outstanding.add(promise);
    const forget = (): void => void this.outstanding.delete(promise);
    promise.then(forget, forget);
    return promise;
  }

  private send(request: NbdRequest): void {
    const header = Buffer.allocUnsafe(nbd.NBD_REQUEST_HEADER_BYTES);
    nbd.encodeRequestHeader(header, request.command, request.handle, request.offsetBytes, request.lengthBytes, request.commandFlags);
    request.sentAtMs = performance.now();
    this.inflight.set(request.handle, request);
    if (request.command === nbd.NBD_CMD_WRITE) {
      // cork + two writes = one writev; the payload view is referenced, not copied.
      this.socket.cork();
      this.socket.write(header);
      this.socket.write(request.data!);
      this.socket.uncork();
    } else {
      this.socket.write(header);
    }
  }

  /** After a reply: fill free slots from the waiting queue, in order. */
  private pump(): void {
    while (this.waitingHead < this.waiting.length && this.inflight.size < this.inflightMax && this.state !== 'failed') {
      this.send(this.waiting[this.waitingHead++]!);
    }
    if (this.waitingHead === this.waiting.length) {
      this.waiting.length = 0;
      this.waitingHead = 0;
    }
  }

  private nextReceiveBuffer(): Uint8Array {
    const arriving = this.arriving;
    const remainingBytes = arriving ? arriving.lengthBytes - this.arrivingFilled : 0;
    if (arriving && remainingBytes >= NBD_DIRECT_RECEIVE_BYTES_MIN && (this.state === 'open' || this.state === 'closing')) {
      this.directView = arriving.data!.subarray(this.arrivingFilled, arriving.lengthBytes);
      return this.directView;
    }
    this.directView = null;
    return this.receiveScratch;
  }

  /** The socket wrote lengthBytes of the arriving payload into the caller's view itself. */
  private onDirectBytes(lengthBytes: number): void {
    this.directView = null;
    const arriving = this.arriving;
    if (!arriving || this.state === 'failed' || this.state === 'closed') return;
    this.arrivingFilled += lengthBytes;
    if (this.arrivingFilled === arriving.lengthBytes) {
      this.arriving = null;
      arriving.resolve();
      this.pump();
    }
  }

  private onBytes(chunk: Uint8Array): void {
    if (this.state === 'connecting') {
      this.handshakeChunks.push(Buffer.from(chunk));
      this.serveHandshakeWaiter();
    } else if (this.state === 'open' || this.state === 'closing') {
      this.onReplyBytes(chunk);
    }
  }

  /** Consumes a chunk synchronously: onread reuses its buffer after we return. */
  private onReplyBytes(chunk: Uint8Array): void {
    let at = 0;
    while (at < chunk.byteLength && (this.state === 'open' || this.state === 'closing')) {
      const arriving = this.arriving;
      if (arriving) {
        const n = Math.min(chunk.byteLength - at, arriving.lengthBytes - this.arrivingFilled);
        arriving.data!.set(chunk.subarray(at, at + n), this.arrivingFilled);
        at += n;
        this.arrivingFilled += n;
        if (this.arrivingFilled === arriving.lengthBytes) {
          this.arriving = null;
          arriving.resolve();
          this.pump();
        }
        continue;
      }
      const n = Math.min(chunk.byteLength - at, nbd.NBD_SIMPLE_REPLY_HEADER_BYTES - this.replyHeaderFilled);
      this.replyHeader.set(chunk.subarray(at, at + n), this.replyHeaderFilled);
      at += n;
      this.replyHeaderFilled += n;
      if (this.replyHeaderFilled < nbd.NBD_SIMPLE_REPLY_HEADER_BYTES) break;
      this.replyHeaderFilled = 0;
      this.onReplyHeader();
    }
  }

  private onReplyHeader(): void {
    const reply = nbd.decodeSimpleReply(this.replyHeader);
    if (reply.magic !== nbd.NBD_SIMPLE_REPLY_MAGIC) {
      this.fail(ERRNO.EIO, `protocol error: reply magic 0x${reply.magic.toString(16)}`);
      return;
    }
    const request = this.inflight.get(reply.handle);
    if (!request) {
      this.fail(ERRNO.EIO, `protocol error: reply for unknown handle ${reply.handle}`);
      return;
    }
    if (reply.error === nbd.NBD_ESHUTDOWN) {
      // The server is stopping (SIGTERM, systemctl stop): the connection is going away, not a
      // device that failed a write. Offline before any request rejects, so the array finds the
      // device missing (its blocks intact, it may return) instead of failed.
      this.fail(ERRNO.ESHUTDOWN, 'the NBD server is shutting down');
      return;
    }
    this.inflight.delete(reply.handle);
    if (reply.error !== 0) {
      request.reject(new DeviceIoError(this.path, commandName(request.command), request.offsetBytes, nbd.nbdErrorToErrno(reply.error), 'error reply from the NBD server'));
      this.pump();
    } else if (request.command === nbd.NBD_CMD_READ && request.lengthBytes > 0) {
      this.arriving = request;
      this.arrivingFilled = 0;
    } else {
      request.resolve();
      this.pump();
    }
  }

  private sweepTimeouts(): void {
    const oldest = this.arriving ?? this.inflight.values().next().value;
    if (oldest && performance.now() - oldest.sentAtMs > this.requestTimeoutMs) {
      this.fail(ERRNO.ETIMEDOUT, `no reply within ${this.requestTimeoutMs} ms`);
    }
  }

  /** -> failed: rejects everything pending (typed), destroys the socket. Idempotent. */
  private fail(errno: number, reason: string): void {
    if (this.state === 'failed' || this.state === 'closed') return;
    this.failure = reason;
    if (this.handshakeWaiter) {
      this.handshakeWaiter.reject(new DeviceIoError(this.path, 'connect', 0, errno, reason));
      this.handshakeWaiter = null;
    }
    this.state = 'failed';
    this.stop(reason, errno);
    this.socket.destroy();
  }

  /** Rejects every sent, arriving and waiting request and stops the timeout sweep. */
  private stop(reason: string, errno: number = ERRNO.ECONNRESET): void {
    if (this.failure === '') this.failure = reason;
    if (this.timeoutSweep) clearInterval(this.timeoutSweep);
    this.timeoutSweep = null;
    const pending = [...(this.arriving ? [this.arriving] : []), ...this.inflight.values(), ...this.waiting.slice(this.waitingHead)];
    this.arriving = null;
    this.inflight.clear();
    this.waiting.length = 0;
    this.waitingHead = 0;
    for (const request of pending) {
      request.reject(new DeviceIoError(this.path, commandName(request.command), request.offsetBytes, errno, reason));
    }
  }

  private checkUsable(): void {
    if (this.state !== 'open') throw new DeviceFailedError(this.path, this.failure || this.state);
  }

  private checkWritable(operation: string, extents: readonly DeviceExtent[]): void {
    if ((this.info.flags & nbd.NBD_FLAG_READ_ONLY) !== 0) {
      throw new DeviceIoError(this.path, operation, (extents[0]?.startLb ?? 0) * LB_BYTES, ERRNO.EROFS, 'the export is read-only');
    }
  }
}

function commandName(command: number): string {
  return ['read', 'write', 'disconnect', 'flush', 'trim'][command] ?? `command ${command}`;
}
