// Per-device I/O counters for serve's metrics: bytes read and written, and failed operations,
// counted by a thin Device wrapper that serve installs through RuntimeOptions.openDevice (the
// embedder hook every device the array opens goes through, added ones included). The array
// itself keeps only read errors (status().devices[].readErrors); bytes moved per device are
// counted here, on the way to the device, with no copy and no change to the data path.
import { LB_BYTES } from '../../constants.js';
import { DelegatingDevice } from '../../devices/delegating_device.js';
import type { Device, DeviceExtent } from '../../devices/device.js';
import { openDevice, type OpenDeviceOptions } from '../../devices/open_device.js';

export interface DeviceIoCounts {
  readBytes: number;
  writtenBytes: number;
  readOps: number;
  writeOps: number;
  readErrors: number;
  writeErrors: number;
}

export type DeviceOpener = (path: string, options: OpenDeviceOptions) => Promise<Device>;

/** Counts by device path (the path the array opened the device at, as status() shows it). */
export class IoCounters {
  private readonly byPath = new Map<string, DeviceIoCounts>();

  /** An opener for RuntimeOptions.openDevice that counts every device it opens. */
  opener(inner: DeviceOpener = openDevice): DeviceOpener {
    return async (path, options) => new CountingDevice(await inner(path, options), this.countsOf(path));
  }

  countsOf(path: string): DeviceIoCounts {
    let counts = this.byPath.get(path);
    if (counts === undefined) {
      counts = { readBytes: 0, writtenBytes: 0, readOps: 0, writeOps: 0, readErrors: 0, writeErrors: 0 };
      this.byPath.set(path, counts);
    }
    return counts;
  }

  entries(): IterableIterator<[string, DeviceIoCounts]> {
    return this.byPath.entries();
  }

  /** Bytes read and written over every device so far. */
  totals(): { readBytes: number; writtenBytes: number } {
    let readBytes = 0;
    let writtenBytes = 0;
    for (const counts of this.byPath.values()) {
      readBytes += counts.readBytes;
      writtenBytes += counts.writtenBytes;
    }
    return { readBytes, writtenBytes };
  }
}

function extentBytes(extents: readonly DeviceExtent[]): number {
  let lengthLb = 0;
  for (const extent of extents) lengthLb += extent.lengthLb;
  return lengthLb * LB_BYTES;
}

/** A device whose reads and writes are counted on completion (a failed one as an error). */
export class CountingDevice extends DelegatingDevice {
  /** Present when the inner device writes durably (uring), so serve keeps the fast small puts. */
  readonly writeDurable?: (extents: readonly DeviceExtent[], buffers: readonly Uint8Array[]) => Promise<void>;

  constructor(inner: Device, private readonly counts: DeviceIoCounts) {
    super(inner);
    if (inner.writeDurable) this.writeDurable = (extents, buffers) => this.countWrite(extents, () => inner.writeDurable!(extents, buffers));
  }

  override async read(extents: readonly DeviceExtent[], buffers: readonly Uint8Array[]): Promise<void> {
    try {
      await this.inner.read(extents, buffers);
    } catch (error) {
      this.counts.readErrors++;
      throw error;
    }
    this.counts.readOps++;
    this.counts.readBytes += extentBytes(extents);
  }

  override write(extents: readonly DeviceExtent[], buffers: readonly Uint8Array[]): Promise<void> {
    return this.countWrite(extents, () => this.inner.write(extents, buffers));
  }

  private async countWrite(extents: readonly DeviceExtent[], write: () => Promise<void>): Promise<void> {
    try {
      await write();
    } catch (error) {
      this.counts.writeErrors++;
      throw error;
    }
    this.counts.writeOps++;
    this.counts.writtenBytes += extentBytes(extents);
  }

  override async flush(): Promise<void> {
    try {
      await this.inner.flush();
    } catch (error) {
      this.counts.writeErrors++;
      throw error;
    }
  }
}
