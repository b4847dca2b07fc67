// Shared flushes. A put must flush every device it wrote before it commits; when many puts
// finish at once (small files), each asking for its own flush of the same device costs one
// device round trip per put. A flush covers every write completed before it starts, so a
// caller may share a flush that starts after its request, but not one already running — unless
// that one started after the request (held requests, below).
//
// Held requests: while the metadata journal writes a record, whose flush on every device
// follows at once, a put's data flush request may wait (`flush(device, { mayWait: true })`)
// and share the record's flush instead of taking one of its own: the journal `hold()`s before
// the record's write and releases once the record's flush requests are made. A released
// request joins the running flush of its device if that flush started after the request (the
// put's writes had completed by then, so it covers them), else the next one — never a flush
// that started before it. Every held request is released by the release of a hold that was
// active when it arrived, so none waits for a flush nobody starts.
//
// A failed flush poisons the device: what it covered may be lost (a device's cache, or Linux's
// page cache after a writeback error, can drop it), and a later flush that succeeds says nothing
// about those writes. So every later flush of that device fails too — also for callers already
// waiting for the next one — as Linux reports a writeback error to everyone who had writes
// outstanding. The first failure is also reported (`onFlushFailed`), and the array marks the
// device failed whoever asked for the flush: a job's batch or a read's repair as much as a put.
// Otherwise a device poisoned by a job's flush stayed online with nothing to say so, and, now
// that small puts write durably without flushing, every later job that wrote to it failed.
//
// Invariants (assertInvariants):
//  1. Requests are held only while at least one hold is active (holds >= 0).
//  2. A request shares only a flush that started after it (runningStartedEpoch > the request's
//     epoch), or the device's next flush: a flush covers just the writes completed before it.
import type { Device } from '../devices/device.js';
import { DeviceIoError } from '../errors.js';

const EIO = 5;

interface DeviceFlushes {
  running: Promise<void> | undefined;
  /** The epoch at which the running flush started (flushes started before it, on any device). */
  runningStartedEpoch: number;
  /** The flush that will start when the running one ends, shared by everyone who asks meanwhile. */
  next: Promise<void> | undefined;
  /** Set once a flush of the device failed: every later flush fails with it. */
  failed: DeviceIoError | undefined;
}

interface HeldRequest {
  device: Device;
  /** The epoch when the request was made: a flush started after it covers the caller's writes. */
  requestedEpoch: number;
  resolve: () => void;
  reject: (error: unknown) => void;
}

export class FlushCoalescer {
  /** @param onFlushFailed called once per device, at its first failed flush (the one that poisons it). */
  constructor(private readonly onFlushFailed?: (device: Device, error: DeviceIoError) => void) {}

  private readonly byDevice = new WeakMap<Device, DeviceFlushes>();
  /** Counts flush starts; orders requests against flushes. */
  private epoch = 0;
  private holds = 0;
  private held: HeldRequest[] = [];
  flushesStarted = 0;
  /** Data flush requests that shared a flush started for a journal record (held, then joined). */
  heldRequestsJoined = 0;

  /**
   * Resolves once a flush that started after this call has completed on the device. With
   * mayWait, while a hold is active the request waits for the hold's release (and then shares
   * the flush that release lets it join).
   */
  flush(device: Device, options: { mayWait?: boolean } = {}): Promise<void> {
    if (options.mayWait && this.holds > 0) {
      return new Promise<void>((resolve, reject) => this.held.push({ device, requestedEpoch: this.epoch, resolve, reject }));
    }
    return this.request(device, this.epoch);
  }

  /**
   * Holds data flush requests (mayWait) until the returned release is called: the caller is
   * about to start flushes that those requests can share (the journal, around a record). Call
   * the release right after starting them, and always (finally).
   */
  hold(): () => void {
    this.holds++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.holds--;
      const held = this.held;
      this.held = [];
      for (const request of held) {
        const state = this.byDevice.get(request.device);
        if (state?.running && state.runningStartedEpoch > request.requestedEpoch) this.heldRequestsJoined++;
        this.request(request.device, request.requestedEpoch).then(request.resolve, request.reject);
      }
    };
  }

  /** Throws if an invariant at the top of this file is broken. */
  assertInvariants(): void {
    if (this.held.length > 0 && this.holds === 0) throw new Error(`flush coalescer invariant broken: ${this.held.length} requests held with no hold`);
    if (this.holds < 0) throw new Error(`flush coalescer invariant broken: ${this.holds} holds`);
  }

  /** A request made at `requestedEpoch`: joins a running flush that started later, else the next. */
  private request(device: Device, requestedEpoch: number): Promise<void> {
    let state = this.byDevice.get(device);
    if (!state) {
      state = { running: undefined, runningStartedEpoch: 0, next: undefined, failed: undefined };
      this.byDevice.set(device, state);
    }
    if (state.failed) return Promise.reject(state.failed);
    if (!state.running) return this.start(device, state);
    if (state.runningStartedEpoch > requestedEpoch) return state.running;
    state.next ??= state.running.then(
      () => this.startNext(device, state!),
      () => this.startNext(device, state!),
    );
    return state.next;
  }

  private startNext(device: Device, state: DeviceFlushes): Promise<void> {
    state.next = undefined;
    if (state.failed) return Promise.reject(state.failed);
    return this.start(device, state);
  }

  private start(device: Device, state: DeviceFlushes): Promise<void> {
    this.flushesStarted++;
    const flush = device
      .flush()
      .catch((error: unknown) => {
        const errno = error instanceof DeviceIoError ? error.errno : EIO;
        if (!state.failed) {
          state.failed = new DeviceIoError(device.path, 'flush', 0, errno, 'an earlier flush of this device failed: the writes it covered may be lost');
          this.onFlushFailed?.(device, error instanceof DeviceIoError ? error : state.failed);
        }
        throw error;
      })
      .finally(() => {
        if (state.running === flush) state.running = undefined;
      });
    state.running = flush;
    // Requests made from now on may not join it; those made before may (it starts after them).
    state.runningStartedEpoch = ++this.epoch;
    return flush;
  }
}
