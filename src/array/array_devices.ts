// The array's devices at run time: each metadata row with its open Device (if any) and its
// state. A device that cannot be opened or whose superblock does not name this array and
// this device slot is 'missing'; one that failed while open is 'failed'.
import type { Device } from '../devices/device.js';
import type { DeviceRow } from '../meta/rows.js';
import type { DeviceState } from './types.js';

export interface ArrayDevice {
  row: DeviceRow;
  device: Device | undefined;
  state: DeviceState;
  /** Why the device is not online. */
  reason?: string;
  ioErrors: number;
  /** Being evacuated: readable, but no new block may go to it. */
  draining?: boolean;
  /** A hot spare: no new group goes to it; a rebuild may write to it (device_lifecycle.ts). */
  spare?: boolean;
  /** The array a missing device's recorded path now belongs to (a foreign home shows as all of these). */
  foreignArrayUuid?: string;
}

export class ArrayDevices {
  private readonly byId = new Map<number, ArrayDevice>();

  add(entry: ArrayDevice): void {
    if (this.byId.has(entry.row.deviceId)) throw new Error(`array devices: device ${entry.row.deviceId} twice`);
    this.byId.set(entry.row.deviceId, entry);
  }

  get(deviceId: number): ArrayDevice {
    const entry = this.byId.get(deviceId);
    if (!entry) throw new Error(`array devices: unknown device ${deviceId}`);
    return entry;
  }

  all(): ArrayDevice[] {
    return [...this.byId.values()].sort((a, b) => a.row.deviceId - b.row.deviceId);
  }

  online(): ArrayDevice[] {
    return this.all().filter((entry) => this.isOnline(entry));
  }

  /** Online devices that new blocks may go to (not being evacuated, not spares). */
  placeable(): ArrayDevice[] {
    return this.online().filter((entry) => !entry.draining && !entry.spare);
  }

  /** Online devices a rebuild may write to: the placeable ones and the spares. */
  rebuildTargets(): ArrayDevice[] {
    return this.online().filter((entry) => !entry.draining);
  }

  /** Forgets a device that was removed from the array (after its blocks moved off it). */
  async drop(deviceId: number): Promise<void> {
    const entry = this.get(deviceId);
    this.byId.delete(deviceId);
    await entry.device?.close();
  }

  /** Online and usable: state says so and the backend has not seen the device drop. */
  isOnline(entry: ArrayDevice): boolean {
    return entry.state === 'online' && entry.device !== undefined && entry.device.online;
  }

  /**
   * The open Device of an online device, or undefined — also for a device that has left the
   * array: a read or job holding group rows from before a rebuild or remove dropped it treats
   * that block as lost (parity rebuilds it) instead of failing.
   */
  usable(deviceId: number): Device | undefined {
    const entry = this.byId.get(deviceId);
    return entry && this.isOnline(entry) ? entry.device : undefined;
  }

  markFailed(deviceId: number, reason: string): void {
    const entry = this.get(deviceId);
    if (entry.state === 'online') {
      entry.state = 'failed';
      entry.reason = reason;
    }
  }

  unavailableCount(): number {
    return this.all().length - this.online().length;
  }

  async closeAll(): Promise<void> {
    await Promise.allSettled(this.all().map((entry) => entry.device?.close()));
    for (const entry of this.byId.values()) entry.device = undefined;
  }
}
