// A device opened for reading only (an array opened read-only): reads pass through to the
// device underneath, and every write, flush or trim is refused with READ_ONLY before it
// reaches the device — a pair to the array layer's own refusal of every change.
import { ReadOnlyError } from '../errors.js';
import type { Device, DeviceDescription, DeviceExtent } from './device.js';

export class ReadOnlyDevice implements Device {
  constructor(private readonly inner: Device) {}

  get path(): string {
    return this.inner.path;
  }
  get backend() {
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

  async write(): Promise<void> {
    throw this.refused('write');
  }

  async flush(): Promise<void> {
    throw this.refused('flush');
  }

  async trim(): Promise<void> {
    throw this.refused('trim');
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  describe(): DeviceDescription {
    const inner = this.inner.describe();
    return { ...inner, detail: { ...inner.detail, readOnly: true } };
  }

  private refused(operation: string): ReadOnlyError {
    return new ReadOnlyError(`${operation} on ${this.inner.path} refused: the device is open read-only`);
  }
}
