// The `uring` Device backend: O_DIRECT I/O through this thread's io_uring (native addon).
//
// Every request issued during one tick, on any device of this thread, is queued and sent to
// the kernel with ONE io_uring_enter on the next process.nextTick. The ring is bounded
// (URING_RING_DEPTH SQEs in flight); excess requests wait in the queue (backpressure).
// Completions arrive through the addon's eventfd poll and are settled here: short transfers
// are resubmitted for the rest, EINTR/EAGAIN retried, a read that returns 0 bytes is an error
// (past the end), everything else becomes a typed error. Buffers inside the registered arena
// go as READ_FIXED/WRITE_FIXED; the addon decides that per request.
//
// Ring invariants (UringRing.assertInvariants):
//  1. Every slot is either free (in freeSlots) or holds exactly one in-flight request.
//  2. queueHead <= queue.length; queued requests hold no slot.
//  3. The addon's in-flight count equals the number of occupied slots.
//  4. A deferred registration waits only while nothing is registered or pending.
import { LB_BYTES } from '../constants.js';
import {
  DeviceBusyError,
  DeviceFailedError,
  DeviceIoError,
  InvalidArgumentError,
  MisalignedIoError,
} from '../errors.js';
import type { Device, DeviceDescription, DeviceExtent } from './device.js';
import { uringAddon, uringAvailable, type UringAddon, type UringInfo } from './uring_native.js';

/** SQEs in flight per thread; more requests wait in the TypeScript queue. */
export const URING_RING_DEPTH = 256;
/** One SQE moves at most this much; longer extents are split (the CQE result is an int32). */
export const URING_REQUEST_BYTES_MAX = 16 * 1024 * 1024;
/** EINTR/EAGAIN resubmissions before a request fails. */
const RETRY_ATTEMPTS_MAX = 32;
const REQUEST_FIELDS = 6;
const COMPLETION_PAIRS_MAX = 2 * URING_RING_DEPTH;
/** The queue array is compacted once this many consumed entries sit at its front. */
const QUEUE_COMPACT_THRESHOLD = 1024;

const OP_READ = 0;
const OP_WRITE = 1;
const OP_FSYNC = 2;
const OP_PUNCH = 3;
/** A write with RWF_DSYNC: durable when it completes (FUA, or write + flush in the kernel). */
const OP_WRITE_DSYNC = 4;

const EINTR = 4;
const EIO = 5;
const ENXIO = 6;
const EAGAIN = 11;
const EBUSY = 16;
const ENODEV = 19;
const EINVAL = 22;
const ENOTTY = 25;
const ENOSYS = 38;
const EOPNOTSUPP = 95;
/** Errors meaning the device itself is gone (detached, removed): it goes offline. */
const DEVICE_GONE_ERRNOS = new Set([ENXIO, ENODEV]);
/** Trim is advisory: these mean "not supported here" and are not failures. */
const TRIM_IGNORED_ERRNOS: ReadonlySet<number> = new Set([EOPNOTSUPP, ENOTTY, EINVAL]);

assertConstant(URING_REQUEST_BYTES_MAX % LB_BYTES === 0, 'request split size is whole LBs');
assertConstant(URING_REQUEST_BYTES_MAX < 2 ** 31, 'a CQE result (int32) can report a whole request');

function assertConstant(condition: boolean, message: string): void {
  if (!condition) throw new Error(`uring_device: ${message}`);
}

/** Completion target of a group of requests (one read/write/flush/trim call). */
interface RequestSink {
  finish(errno: number, offsetBytes: number, detail?: string): void;
}

/** One SQE's worth of work; its sink hears exactly once, with errno 0 on success. */
class RingRequest {
  attempts = 0;
  constructor(
    readonly op: number,
    readonly fd: number,
    readonly buffer: Uint8Array | undefined,
    public bufferOffsetBytes: number,
    public lengthBytes: number,
    public fileOffsetBytes: number,
    readonly sink: RequestSink,
  ) {}

  finish(errno: number, detail?: string): void {
    this.sink.finish(errno, this.fileOffsetBytes, detail);
  }
}

/** This thread's ring: the submission queue, slots for in-flight requests, completions. */
class UringRing {
  readonly depth: number;
  private readonly slots: (RingRequest | undefined)[];
  private readonly freeSlots: number[];
  private readonly rows: Float64Array;
  private readonly rowBuffers: (Uint8Array | undefined)[];
  private readonly pairs = new Int32Array(2 * COMPLETION_PAIRS_MAX);
  private queue: RingRequest[] = [];
  private queueHead = 0;
  private flushScheduled = false;
  private registered: { address: number; lengthBytes: number } | undefined;
  private pendingRegistration: Uint8Array | undefined;
  /** A registration waiting for enough bytes to move (registerArenaAfter). */
  private deferredRegistration: { memory: Uint8Array; afterBytes: number } | undefined;
  private movedBytes = 0;
  registrationError: string | undefined;

  constructor(private readonly addon: UringAddon) {
    const entries = addon.init(URING_RING_DEPTH, this.pairs, (count) => this.onComplete(count));
    if (entries < 0) throw new DeviceIoError('io_uring', 'io_uring_setup', 0, -entries);
    this.depth = Math.min(entries, URING_RING_DEPTH);
    this.slots = new Array<RingRequest | undefined>(this.depth).fill(undefined);
    this.freeSlots = Array.from({ length: this.depth }, (_, i) => this.depth - 1 - i);
    this.rows = new Float64Array(this.depth * REQUEST_FIELDS);
    this.rowBuffers = new Array<Uint8Array | undefined>(this.depth).fill(undefined);
  }

  get inflightCount(): number {
    return this.depth - this.freeSlots.length;
  }

  get queuedCount(): number {
    return this.queue.length - this.queueHead;
  }

  get fixedBuffersRegistered(): boolean {
    return this.registered !== undefined;
  }

  enqueue(request: RingRequest): void {
    this.queue.push(request);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      process.nextTick(this.flush);
    }
  }

  /**
   * Registers the arena as fixed buffers. The same base with the same or a smaller length is
   * a no-op; a grown arena is re-registered once the ring is idle. Returns false (and keeps
   * plain READ/WRITE) when the kernel refuses, e.g. RLIMIT_MEMLOCK for non-root users.
   */
  registerArena(memory: Uint8Array): boolean {
    const address = this.addon.addressOf(memory);
    const current = this.registered;
    if (current && current.address === address && current.lengthBytes >= memory.byteLength) return true;
    this.deferredRegistration = undefined; // registering now supersedes a deferral
    if (this.inflightCount > 0) {
      this.pendingRegistration = memory;
      return current !== undefined;
    }
    return this.applyRegistration(memory);
  }

  /**
   * Registers `memory` once `afterBytes` of reads and writes have been sent, if nothing is
   * registered by then: a short-lived process moving small files never pays the pinning, one
   * moving a large file does after its first part. Registering while plain requests are in
   * flight is safe (they use no registered buffer); a kernel that refuses leaves plain I/O.
   */
  registerArenaAfter(memory: Uint8Array, afterBytes: number): void {
    if (this.registered || this.pendingRegistration) return;
    this.deferredRegistration = { memory, afterBytes };
    this.movedBytes = 0;
  }

  /** Counts what the next `count` queued requests move; registers when the deferred mark is passed. */
  private countTowardsDeferred(count: number): void {
    const deferred = this.deferredRegistration!;
    for (let i = 0; i < count; i++) {
      const request = this.queue[this.queueHead + i]!;
      if (request.op === OP_READ || request.op === OP_WRITE || request.op === OP_WRITE_DSYNC) this.movedBytes += request.lengthBytes;
    }
    if (this.movedBytes < deferred.afterBytes) return;
    this.deferredRegistration = undefined;
    if (!this.registered && !this.pendingRegistration) this.applyRegistration(deferred.memory);
  }

  private applyRegistration(memory: Uint8Array): boolean {
    this.pendingRegistration = undefined;
    this.deferredRegistration = undefined; // whatever is registered now supersedes a deferral
    const result = this.addon.registerMemory(memory);
    if (result < 0) {
      this.registered = undefined;
      this.registrationError = `IORING_REGISTER_BUFFERS refused: ${new DeviceIoError('arena', 'register', 0, -result).message}`;
      return false;
    }
    this.registered = { address: this.addon.addressOf(memory), lengthBytes: memory.byteLength };
    this.registrationError = undefined;
    return true;
  }

  /** Sends as many queued requests as there are free slots, with one io_uring_enter. */
  private readonly flush = (): void => {
    this.flushScheduled = false;
    if (this.pendingRegistration && this.inflightCount === 0) this.applyRegistration(this.pendingRegistration);
    const count = Math.min(this.queuedCount, this.freeSlots.length);
    if (count === 0) return;
    if (this.deferredRegistration) this.countTowardsDeferred(count);
    for (let i = 0; i < count; i++) this.fillRow(i, this.queue[this.queueHead + i]!);
    const submitted = this.addon.submit(this.rows, this.rowBuffers, count);
    this.rowBuffers.fill(undefined, 0, count);
    const accepted = Math.max(submitted, 0);
    this.queueHead += accepted;
    for (let i = accepted; i < count; i++) this.releaseSlot(this.rows[i * REQUEST_FIELDS + 5]!);
    this.compactQueue();
    if (submitted < 0 && submitted !== -EAGAIN && submitted !== -EBUSY && submitted !== -EINTR) {
      this.failQueued(count, -submitted);
    } else if (this.queuedCount > 0 && this.freeSlots.length > 0) {
      // The kernel took less than offered (transient): try again after I/O events.
      setImmediate(() => this.enqueueNothing());
    }
  };

  private enqueueNothing(): void {
    if (this.queuedCount > 0 && !this.flushScheduled) {
      this.flushScheduled = true;
      process.nextTick(this.flush);
    }
  }

  private fillRow(row: number, request: RingRequest): void {
    const tag = this.freeSlots.pop()!;
    this.slots[tag] = request;
    const base = row * REQUEST_FIELDS;
    this.rows[base] = request.op;
    this.rows[base + 1] = request.fd;
    this.rows[base + 2] = request.bufferOffsetBytes;
    this.rows[base + 3] = request.lengthBytes;
    this.rows[base + 4] = request.fileOffsetBytes;
    this.rows[base + 5] = tag;
    this.rowBuffers[row] = request.buffer;
  }

  private releaseSlot(tag: number): void {
    this.slots[tag] = undefined;
    this.freeSlots.push(tag);
  }

  private failQueued(count: number, errno: number): void {
    const failed = this.queue.slice(this.queueHead, this.queueHead + count);
    this.queueHead += count;
    this.compactQueue();
    for (const request of failed) request.finish(errno, 'io_uring_enter failed');
  }

  private compactQueue(): void {
    if (this.queueHead === this.queue.length) {
      this.queue = [];
      this.queueHead = 0;
    } else if (this.queueHead > QUEUE_COMPACT_THRESHOLD && this.queueHead * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.queueHead);
      this.queueHead = 0;
    }
  }

  private onComplete(count: number): void {
    for (let i = 0; i < count; i++) {
      const tag = this.pairs[2 * i]!;
      const result = this.pairs[2 * i + 1]!;
      const request = this.slots[tag];
      if (!request) throw new Error(`uring_device: completion for free slot ${tag}`);
      this.releaseSlot(tag);
      this.settle(request, result);
    }
    if (this.queuedCount > 0) this.enqueueNothing();
  }

  private settle(request: RingRequest, result: number): void {
    if (result < 0) {
      const retry = (result === -EINTR || result === -EAGAIN) && ++request.attempts <= RETRY_ATTEMPTS_MAX;
      if (retry) this.enqueue(request);
      else request.finish(-result);
      return;
    }
    const transfers = request.op === OP_READ || request.op === OP_WRITE || request.op === OP_WRITE_DSYNC;
    if (!transfers || result >= request.lengthBytes) {
      request.finish(0);
    } else if (result === 0) {
      const what = request.op === OP_READ ? 'read returned 0 bytes: past the end of the device' : 'write made no progress';
      request.finish(EIO, what);
    } else {
      // Short transfer: resubmit the rest.
      request.bufferOffsetBytes += result;
      request.fileOffsetBytes += result;
      request.lengthBytes -= result;
      this.enqueue(request);
    }
  }

  info(): UringInfo & { queued: number; fixedBuffersRegistered: boolean } {
    return { ...this.addon.info(), queued: this.queuedCount, fixedBuffersRegistered: this.fixedBuffersRegistered };
  }

  assertInvariants(): void {
    const occupied = this.slots.filter((slot) => slot !== undefined).length;
    check(occupied + this.freeSlots.length === this.depth, 'every slot is free or occupied, once');
    check(new Set(this.freeSlots).size === this.freeSlots.length, 'no slot is free twice');
    check(this.queueHead <= this.queue.length, 'queue head within the queue');
    check(this.addon.info().inflight === occupied, 'addon in-flight count matches occupied slots');
    check(!this.deferredRegistration || (!this.registered && !this.pendingRegistration), 'a deferred registration waits only while nothing is registered');
  }
}

function check(condition: boolean, message: string): void {
  if (!condition) throw new Error(`uring_device invariant violated: ${message}`);
}

/** The requests of one read/write/flush/trim call: settles once all have finished. */
class RequestBatch implements RequestSink {
  readonly promise: Promise<void>;
  private resolve!: () => void;
  private reject!: (error: Error) => void;
  private failure: Error | undefined;

  constructor(
    private readonly device: UringDevice,
    private readonly operation: string,
    private remaining: number,
    private readonly ignoredErrnos: ReadonlySet<number> | undefined,
  ) {
    this.promise = new Promise<void>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
  }

  finish(errno: number, offsetBytes: number, detail?: string): void {
    const counted = errno !== 0 && this.ignoredErrnos?.has(errno) ? 0 : errno;
    const error = this.device.requestFinished(this.operation, offsetBytes, counted, detail);
    this.failure ??= error;
    if (--this.remaining > 0) return;
    if (this.failure) this.reject(this.failure);
    else this.resolve();
  }
}

let threadRing: UringRing | undefined;

/** This thread's ring, created on first use (one per thread: module state is per thread). */
function ring(): UringRing {
  threadRing ??= new UringRing(uringAddon());
  return threadRing;
}

/** This thread's ring counters (tests, status, benchmarks). */
export function uringRingInfo(): UringInfo & { queued: number; fixedBuffersRegistered: boolean } {
  return ring().info();
}

/** Checks the ring's invariants (tests call it after every batch). */
export function assertUringRingInvariants(): void {
  ring().assertInvariants();
}

/** Registers the arena with this thread's ring; false when the kernel refuses. */
export function registerUringArena(memory: Uint8Array): boolean {
  return ring().registerArena(memory);
}

export interface UringOpenOptions {
  /** The arena (a view over the shared WebAssembly memory) to register as fixed buffers. */
  registeredMemory?: Uint8Array;
  /** Register it only once this many bytes have gone through the ring (registerArenaAfter). */
  registerAfterBytes?: number;
  /** O_EXCL for block devices, flock for image files; default true. */
  exclusive?: boolean;
}

/** Opens a block device or image file on the uring backend. */
export async function openUringDevice(path: string, options: UringOpenOptions = {}): Promise<Device> {
  const availability = uringAvailable();
  if (!availability.available) throw new DeviceIoError(path, 'open', 0, ENOSYS, availability.reason);
  const shared = ring();
  const exclusive = options.exclusive ?? true;
  const opened = uringAddon().open(path, exclusive);
  if (typeof opened === 'number') {
    if (-opened === EBUSY) throw new DeviceBusyError(path, 'it is mounted, claimed or already open exclusively (EBUSY)');
    throw new DeviceIoError(path, 'open', 0, -opened);
  }
  const [fd, rawSizeBytes, logicalBlockBytes, isBlock] = opened;
  if (options.registeredMemory && options.registerAfterBytes !== undefined) shared.registerArenaAfter(options.registeredMemory, options.registerAfterBytes);
  else if (options.registeredMemory) shared.registerArena(options.registeredMemory);
  const sizeBytes = Math.floor(rawSizeBytes / LB_BYTES) * LB_BYTES;
  return new UringDevice(path, fd, sizeBytes, logicalBlockBytes, isBlock ? 'block' : 'file', exclusive, shared);
}

/**
 * Whether the loaded addon knows the RWF_DSYNC write: a build from before it lacks
 * `writeDsyncOp` (and would take op 4 for something else), so its devices get no writeDurable.
 */
export function addonWritesDurably(addon: Pick<UringAddon, 'writeDsyncOp'>): boolean {
  return addon.writeDsyncOp === OP_WRITE_DSYNC;
}

class UringDevice implements Device {
  readonly backend = 'uring' as const;
  /** A write with RWF_DSYNC (see Device.writeDurable); absent when the addon predates it. */
  readonly writeDurable?: (extents: readonly DeviceExtent[], buffers: readonly Uint8Array[]) => Promise<void>;
  private onlineNow = true;
  private offlineReason = '';
  private closed = false;
  private inflightRequests = 0;
  private drainWaiters: (() => void)[] = [];

  constructor(
    readonly path: string,
    private readonly fd: number,
    readonly sizeBytes: number,
    readonly logicalBlockBytes: number,
    private readonly kind: 'file' | 'block',
    private readonly exclusive: boolean,
    private readonly shared: UringRing,
  ) {
    if (addonWritesDurably(uringAddon())) this.writeDurable = (extents, buffers) => this.transfer(OP_WRITE_DSYNC, 'write', extents, buffers);
  }

  get online(): boolean {
    return this.onlineNow;
  }

  read(extents: readonly DeviceExtent[], buffers: readonly Uint8Array[]): Promise<void> {
    return this.transfer(OP_READ, 'read', extents, buffers);
  }

  write(extents: readonly DeviceExtent[], buffers: readonly Uint8Array[]): Promise<void> {
    return this.transfer(OP_WRITE, 'write', extents, buffers);
  }


  flush(): Promise<void> {
    const batch = this.startBatch('flush', 1);
    if (batch instanceof Promise) return batch;
    this.shared.enqueue(new RingRequest(OP_FSYNC, this.fd, undefined, 0, 0, 0, batch));
    return batch.promise;
  }

  trim(extents: readonly DeviceExtent[]): Promise<void> {
    try {
      for (const extent of extents) this.checkExtent('trim', extent);
    } catch (error) {
      return Promise.reject(error);
    }
    // Discard is advisory: a device or file system without it simply keeps the bytes.
    return this.submitExtents(OP_PUNCH, 'trim', extents, undefined, TRIM_IGNORED_ERRNOS);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.inflightRequests > 0) await new Promise<void>((resolve) => this.drainWaiters.push(resolve));
    const result = uringAddon().close(this.fd);
    this.onlineNow = false;
    this.offlineReason = 'closed';
    if (result < 0) throw new DeviceIoError(this.path, 'close', 0, -result);
  }

  describe(): DeviceDescription {
    return {
      path: this.path,
      backend: 'uring',
      sizeBytes: this.sizeBytes,
      logicalBlockBytes: this.logicalBlockBytes,
      kind: this.kind,
      online: this.onlineNow,
      detail: {
        ringDepth: this.shared.depth,
        fixedBuffers: this.shared.fixedBuffersRegistered,
        ...(this.shared.registrationError ? { fixedBuffersError: this.shared.registrationError } : {}),
        exclusive: this.exclusive,
        directIo: true,
        ...(this.onlineNow ? {} : { offlineReason: this.offlineReason }),
      },
    };
  }

  assertInvariants(): void {
    check(this.sizeBytes % LB_BYTES === 0, 'size is whole LBs');
    check(this.inflightRequests >= 0, 'in-flight count is not negative');
    check(this.inflightRequests > 0 || this.drainWaiters.length === 0, 'nobody waits on an idle device');
    this.shared.assertInvariants();
  }

  private transfer(op: number, operation: string, extents: readonly DeviceExtent[], buffers: readonly Uint8Array[]): Promise<void> {
    try {
      this.checkTransfer(operation, extents, buffers);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.submitExtents(op, operation, extents, buffers);
  }

  /** One request per extent (split above URING_REQUEST_BYTES_MAX), all in one batch. */
  private submitExtents(
    op: number, operation: string, extents: readonly DeviceExtent[], buffers: readonly Uint8Array[] | undefined, ignoredErrnos?: ReadonlySet<number>,
  ): Promise<void> {
    let pieceCount = 0;
    for (const extent of extents) pieceCount += Math.ceil((extent.lengthLb * LB_BYTES) / URING_REQUEST_BYTES_MAX);
    const batch = this.startBatch(operation, pieceCount, ignoredErrnos);
    if (batch instanceof Promise) return batch;
    for (let i = 0; i < extents.length; i++) {
      const extent = extents[i]!;
      const startBytes = extent.startLb * LB_BYTES;
      const totalBytes = extent.lengthLb * LB_BYTES;
      for (let doneBytes = 0; doneBytes < totalBytes; doneBytes += URING_REQUEST_BYTES_MAX) {
        const lengthBytes = Math.min(URING_REQUEST_BYTES_MAX, totalBytes - doneBytes);
        this.shared.enqueue(new RingRequest(op, this.fd, buffers?.[i], doneBytes, lengthBytes, startBytes + doneBytes, batch));
      }
    }
    return batch.promise;
  }

  /** A batch of `count` requests, or a settled promise when there is nothing to do. */
  private startBatch(operation: string, count: number, ignoredErrnos?: ReadonlySet<number>): RequestBatch | Promise<void> {
    try {
      this.checkUsable();
    } catch (error) {
      return Promise.reject(error);
    }
    if (count === 0) return Promise.resolve();
    this.inflightRequests += count;
    return new RequestBatch(this, operation, count, ignoredErrnos);
  }

  /** Called by a batch for each finished request. */
  requestFinished(operation: string, offsetBytes: number, errno: number, detail?: string): Error | undefined {
    const error = errno === 0 ? undefined : this.failure(operation, offsetBytes, errno, detail);
    this.requestDone();
    return error;
  }

  private requestDone(): void {
    if (--this.inflightRequests > 0) return;
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const wake of waiters) wake();
  }

  private failure(operation: string, offsetBytes: number, errno: number, detail?: string): Error {
    if (errno === EINVAL && (operation === 'read' || operation === 'write')) {
      return new MisalignedIoError(
        `${operation} on ${this.path} at byte ${offsetBytes}: the kernel refused it as misaligned for O_DIRECT (EINVAL)`,
      );
    }
    if (DEVICE_GONE_ERRNOS.has(errno)) {
      this.onlineNow = false;
      this.offlineReason = `${operation} failed with errno ${errno}: the device is gone`;
    }
    return new DeviceIoError(this.path, operation, offsetBytes, errno, detail);
  }

  private checkUsable(): void {
    if (this.closed) throw new DeviceFailedError(this.path, 'the device is closed');
    if (!this.onlineNow) throw new DeviceFailedError(this.path, this.offlineReason);
  }

  private checkTransfer(operation: string, extents: readonly DeviceExtent[], buffers: readonly Uint8Array[]): void {
    if (extents.length !== buffers.length) {
      throw new InvalidArgumentError(`${operation} on ${this.path}: ${extents.length} extents but ${buffers.length} buffers`);
    }
    for (let i = 0; i < extents.length; i++) {
      const extent = extents[i]!;
      const buffer = buffers[i]!;
      this.checkExtent(operation, extent);
      if (!(buffer instanceof Uint8Array)) throw new InvalidArgumentError(`${operation} on ${this.path}: buffer ${i} is not a Uint8Array`);
      this.checkBuffer(operation, extent, buffer);
    }
  }

  private checkExtent(operation: string, extent: DeviceExtent): void {
    const { startLb, lengthLb } = extent;
    if (!Number.isSafeInteger(startLb) || startLb < 0 || !Number.isSafeInteger(lengthLb) || lengthLb <= 0) {
      throw new InvalidArgumentError(`${operation} on ${this.path}: extent {startLb: ${startLb}, lengthLb: ${lengthLb}} is not a valid range`);
    }
    const endBytes = (startLb + lengthLb) * LB_BYTES;
    if (endBytes > this.sizeBytes) {
      throw new InvalidArgumentError(
        `${operation} on ${this.path}: extent ends at byte ${endBytes}, past the end of the device (${this.sizeBytes} bytes)`,
      );
    }
  }

  private checkBuffer(operation: string, extent: DeviceExtent, buffer: Uint8Array): void {
    const expectedBytes = extent.lengthLb * LB_BYTES;
    const where = `${operation} on ${this.path} at LB ${extent.startLb}`;
    if (buffer.byteLength % this.logicalBlockBytes !== 0) {
      throw new MisalignedIoError(`${where}: buffer length ${buffer.byteLength} is not a multiple of ${this.logicalBlockBytes}`);
    }
    if (buffer.byteLength !== expectedBytes) {
      throw new InvalidArgumentError(`${where}: buffer holds ${buffer.byteLength} bytes, the extent ${expectedBytes}`);
    }
    const address = uringAddon().addressOf(buffer);
    if (address % this.logicalBlockBytes !== 0) {
      throw new MisalignedIoError(`${where}: buffer address is ${address % this.logicalBlockBytes} bytes past a ${this.logicalBlockBytes}-byte boundary`);
    }
  }
}
