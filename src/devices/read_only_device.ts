// A device opened for reading only (an array opened read-only): reads pass through to the
// device underneath, and every write, flush or trim is refused with READ_ONLY before it
// reaches the device — a pair to the array layer's own refusal of every change.
import { ReadOnlyError } from '../errors.js';
import { DelegatingDevice } from './delegating_device.js';
import type { DeviceDescription } from './device.js';

export class ReadOnlyDevice extends DelegatingDevice {
  override async write(): Promise<void> {
    throw this.refused('write');
  }

  override async flush(): Promise<void> {
    throw this.refused('flush');
  }

  override async trim(): Promise<void> {
    throw this.refused('trim');
  }

  override describe(): DeviceDescription {
    const inner = this.inner.describe();
    return { ...inner, detail: { ...inner.detail, readOnly: true } };
  }

  private refused(operation: string): ReadOnlyError {
    return new ReadOnlyError(`${operation} on ${this.inner.path} refused: the device is open read-only`);
  }
}
