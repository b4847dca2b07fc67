// An in-process faulty device for fine-grained fault injection: it wraps a real Device and,
// following a seeded schedule or explicit switches, fails reads, writes or flushes with EIO,
// flips bits in what it reads (bit rot on the wire), or drops offline like a pulled disk.
import { DelegatingDevice } from '../../src/devices/delegating_device.js';
import type { Device, DeviceDescription, DeviceExtent } from '../../src/devices/device.js';
import { DeviceFailedError, DeviceIoError } from '../../src/errors.js';
import { LB_BYTES } from '../../src/constants.js';

const EIO = 5;

export interface FaultPlan {
  /** Probability that one read request fails with EIO. */
  readErrorRate?: number;
  /** Probability that one read request returns with a flipped bit. */
  readCorruptRate?: number;
  /** Probability that one write request fails with EIO. */
  writeErrorRate?: number;
  /** Fail every flush. */
  flushFails?: boolean;
  /** Fail writes after this many more write requests have succeeded. */
  writesUntilFailure?: number;
  seed?: number;
}

export class FaultyDevice extends DelegatingDevice {
  plan: FaultPlan;
  injected = { readErrors: 0, readCorruptions: 0, writeErrors: 0, flushErrors: 0 };
  private offline = false;
  private state: number;

  constructor(inner: Device, plan: FaultPlan = {}) {
    super(inner);
    this.plan = plan;
    this.state = (plan.seed ?? 1) >>> 0 || 1;
  }

  override get online(): boolean {
    return !this.offline && this.inner.online;
  }

  /** Like a pulled disk: every later request fails and the device reports offline. */
  pull(): void {
    this.offline = true;
  }

  override async read(extents: readonly DeviceExtent[], buffers: readonly Uint8Array[]): Promise<void> {
    this.assertOnline();
    if (this.roll(this.plan.readErrorRate)) {
      this.injected.readErrors++;
      throw new DeviceIoError(this.path, 'read', extents[0]!.startLb * LB_BYTES, EIO, 'injected');
    }
    await this.inner.read(extents, buffers);
    if (this.roll(this.plan.readCorruptRate)) {
      this.injected.readCorruptions++;
      const target = buffers[Math.floor(this.next() * buffers.length)]!;
      target[Math.floor(this.next() * target.length)]! ^= 1 << Math.floor(this.next() * 8);
    }
  }

  override async write(extents: readonly DeviceExtent[], buffers: readonly Uint8Array[]): Promise<void> {
    this.assertOnline();
    const countdown = this.plan.writesUntilFailure;
    if (countdown !== undefined) this.plan.writesUntilFailure = countdown - 1;
    if ((countdown !== undefined && countdown <= 0) || this.roll(this.plan.writeErrorRate)) {
      this.injected.writeErrors++;
      throw new DeviceIoError(this.path, 'write', extents[0]!.startLb * LB_BYTES, EIO, 'injected');
    }
    await this.inner.write(extents, buffers);
  }

  override async flush(): Promise<void> {
    this.assertOnline();
    if (this.plan.flushFails) {
      this.injected.flushErrors++;
      throw new DeviceIoError(this.path, 'flush', 0, EIO, 'injected');
    }
    await this.inner.flush();
  }

  override trim(extents: readonly DeviceExtent[]): Promise<void> {
    this.assertOnline();
    return this.inner.trim(extents);
  }

  override describe(): DeviceDescription {
    return { ...this.inner.describe(), online: this.online, detail: { ...this.inner.describe().detail, faulty: true } };
  }

  private assertOnline(): void {
    if (this.offline) throw new DeviceFailedError(this.path, 'pulled by the test');
  }

  private roll(rate: number | undefined): boolean {
    return rate !== undefined && rate > 0 && this.next() < rate;
  }

  /** xorshift32: the same seed gives the same faults. */
  private next(): number {
    this.state ^= this.state << 13;
    this.state >>>= 0;
    this.state ^= this.state >>> 17;
    this.state ^= this.state << 5;
    this.state >>>= 0;
    return this.state / 2 ** 32;
  }
}
