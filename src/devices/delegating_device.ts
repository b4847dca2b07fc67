// A device that passes everything to the device underneath: the base of wrappers that change
// one or two operations (ReadOnlyDevice refuses writes, serve's CountingDevice counts I/O, the
// simulator's FaultyDevice injects faults), so none of them repeats the forwarding.
import type { Device, DeviceDescription, DeviceExtent } from './device.js';

export class DelegatingDevice implements Device {
  constructor(protected readonly inner: Device) {}

  get path(): string {
    return this.inner.path;
  }
  get backend(): Device['backend'] {
    return this.inner.backend;
  }
  get sizeBytes(): number {
    return this.inner.sizeBytes;
  }
  get logicalBlockBytes(): number {
    return this.inner.logicalBlockBytes;
  }
  get online(): boolean {
    return this.inner.online;
  }

  read(extents: readonly DeviceExtent[], buffers: readonly Uint8Array[]): Promise<void> {
    return this.inner.read(extents, buffers);
  }
  write(extents: readonly DeviceExtent[], buffers: readonly Uint8Array[]): Promise<void> {
    return this.inner.write(extents, buffers);
  }
  flush(): Promise<void> {
    return this.inner.flush();
  }
  trim(extents: readonly DeviceExtent[]): Promise<void> {
    return this.inner.trim(extents);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
  describe(): DeviceDescription {
    return this.inner.describe();
  }
}
