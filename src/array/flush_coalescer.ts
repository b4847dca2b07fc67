// Shared flushes. A put must flush every device it wrote before it commits; when many puts
// finish at once (small files), each asking for its own flush of the same device costs one
// device round trip per put. A flush covers every write completed before it starts, so a
// caller may share a flush that starts after its request, but not one already running.
//
// A failed flush poisons the device: what it covered may be lost (a device's cache, or Linux's
// page cache after a writeback error, can drop it), and a later flush that succeeds says nothing
// about those writes. So every later flush of that device fails too — also for callers already
// waiting for the next one — as Linux reports a writeback error to everyone who had writes
// outstanding, and the callers treat the device as lost (the array marks it failed).
import type { Device } from '../devices/device.js';
import { DeviceIoError } from '../errors.js';

const EIO = 5;

interface DeviceFlushes {
  running: Promise<void> | undefined;
  /** The flush that will start when the running one ends, shared by everyone who asks meanwhile. */
  next: Promise<void> | undefined;
  /** Set once a flush of the device failed: every later flush fails with it. */
  failed: DeviceIoError | undefined;
}

export class FlushCoalescer {
  private readonly byDevice = new WeakMap<Device, DeviceFlushes>();
  flushesStarted = 0;

  /** Resolves once a flush that started after this call has completed on the device. */
  flush(device: Device): Promise<void> {
    let state = this.byDevice.get(device);
    if (!state) {
      state = { running: undefined, next: undefined, failed: undefined };
      this.byDevice.set(device, state);
    }
    if (state.failed) return Promise.reject(state.failed);
    if (!state.running) return this.start(device, state);
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
        state.failed ??= new DeviceIoError(device.path, 'flush', 0, errno, 'an earlier flush of this device failed: the writes it covered may be lost');
        throw error;
      })
      .finally(() => {
        if (state.running === flush) state.running = undefined;
      });
    state.running = flush;
    return flush;
  }
}
