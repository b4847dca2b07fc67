// Shared flushes. A put must flush every device it wrote before it commits; when many puts
// finish at once (small files), each asking for its own flush of the same device costs one
// device round trip per put. A flush covers every write completed before it starts, so a
// caller may share a flush that starts after its request, but not one already running.
import type { Device } from '../devices/device.js';

interface DeviceFlushes {
  running: Promise<void> | undefined;
  /** The flush that will start when the running one ends, shared by everyone who asks meanwhile. */
  next: Promise<void> | undefined;
}

export class FlushCoalescer {
  private readonly byDevice = new WeakMap<Device, DeviceFlushes>();
  flushesStarted = 0;

  /** Resolves once a flush that started after this call has completed on the device. */
  flush(device: Device): Promise<void> {
    let state = this.byDevice.get(device);
    if (!state) {
      state = { running: undefined, next: undefined };
      this.byDevice.set(device, state);
    }
    if (!state.running) return this.start(device, state);
    state.next ??= state.running.then(
      () => this.startNext(device, state!),
      () => this.startNext(device, state!),
    );
    return state.next;
  }

  private startNext(device: Device, state: DeviceFlushes): Promise<void> {
    state.next = undefined;
    return this.start(device, state);
  }

  private start(device: Device, state: DeviceFlushes): Promise<void> {
    this.flushesStarted++;
    const flush = device.flush().finally(() => {
      if (state.running === flush) state.running = undefined;
    });
    state.running = flush;
    return flush;
  }
}
