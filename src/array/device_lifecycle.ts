// The life of one device in the array, and the bookkeeping of devices that are away.
//
//            addDevice                    addDevice(spare)
//                |                               |
//                v        rebuild used it        v
//      +----> online <--------------------- spare
//      |       |  |  \                       |  |
//      |       |  |   \ removeDevice         |  | (a spare goes missing or fails like any device)
//      |       |  |    v                     |  |
//      |       |  |  draining --emptied--> removed <--emptied-- failed
//      |       |  |    |  ^ cancelRemove                          ^  |
//      |  stops|  |a write or probe finds                         |  | onlineDevice (request)
//      |answer-|  |its content gone                               |  v
//      |  ing  |  +------------------------------------------> (failed) --> online
//      |       v                                                  |
//      +--- missing --- rebuild takes it (policy after rebuildDelayMs, or request) ---+
//   answers again with
//   its superblock: rejoin + resync
//
// - online: answering; takes new groups (draining and spare are online devices that do not).
// - missing: stopped answering (connection dropped, a probe timed out, absent at open). Its
//   blocks are presumed intact: copy-on-write never overwrites a committed block, and no new
//   block goes to it while it is away. Not persisted (the row keeps its state): a device absent
//   at the next open is found missing again, one present opens online.
// - failed: its content cannot be trusted (a write failed while it answered, a probe read its
//   superblock as gone or another's). Persisted; it leaves only by rebuild (-> removed) or by an
//   explicit onlineDevice.
// - A missing device that returns rejoins without a rebuild. Only groups committed while it was
//   away can hold a block of it that never became durable (a put whose flush to it failed
//   finishes degraded): those groups, the ones with an id above the watermark taken when it
//   went away (ids only grow), are checked and repaired from parity (the resync job). Groups
//   rebuilt or moved meanwhile no longer reference it at all.
//
// Invariants (assertInvariants):
//  1. A device's runtime state is one of online, missing or failed; draining and spare are
//     flags of a device, never both.
//  2. A device counts as usable (ArrayDevices.isOnline) only in state online with an open
//     Device that still answers.
//  3. Every missing device has an away record (since when, and the group-id watermark); no
//     online device has one (its return cleared it).
//  4. No new group goes to a missing, failed, draining or spare device (placeable() excludes
//     them); rebuild targets are online devices that are not draining (spares included).
import type { ArrayDevice, ArrayDevices } from './array_devices.js';
import type { DeviceState } from './types.js';

/** Where each state may go (see the diagram). 'removed' is final. */
export const LIFECYCLE_TRANSITIONS: Readonly<Record<DeviceState | 'removed', readonly (DeviceState | 'removed')[]>> = {
  online: ['draining', 'missing', 'failed'],
  spare: ['online', 'draining', 'missing', 'failed'],
  draining: ['online', 'missing', 'failed', 'removed'],
  missing: ['online', 'spare', 'draining', 'failed', 'removed'],
  failed: ['online', 'spare', 'draining', 'removed'],
  removed: [],
};

/** What status shows for a device: its state, with draining and spare as states of an online device. */
export function lifecycleState(entry: ArrayDevice, devices: ArrayDevices): DeviceState {
  if (devices.isOnline(entry)) return entry.draining ? 'draining' : entry.spare ? 'spare' : 'online';
  // Marked online but its Device stopped answering, not yet noticed by a probe or an I/O: missing.
  return entry.state === 'online' ? 'missing' : entry.state;
}

/** Throws unless the diagram allows `from` -> `to` (a bug in a caller, never bad input). */
export function assertTransition(deviceId: number, from: DeviceState, to: DeviceState | 'removed'): void {
  if (!LIFECYCLE_TRANSITIONS[from].includes(to)) throw new Error(`device lifecycle: device ${deviceId} cannot go from ${from} to ${to}`);
}

/** The state a device's entry says it is in (flags included), whether or not its Device still answers. */
function markedState(entry: ArrayDevice): DeviceState {
  if (entry.state !== 'online') return entry.state;
  return entry.draining ? 'draining' : entry.spare ? 'spare' : 'online';
}

/** A device that is away: since when, and the last group id committed before it left. */
export interface AwayRecord {
  sinceMs: number;
  watermarkGroupId: number;
}

export class DeviceLifecycle {
  private readonly away = new Map<number, AwayRecord>();

  constructor(
    private readonly devices: ArrayDevices,
    /** The highest group id committed so far (ids only grow). */
    private readonly lastGroupId: () => number,
  ) {
    // Devices already missing at open: nothing was committed past this point without them.
    for (const entry of devices.all()) if (entry.state === 'missing') this.away.set(entry.row.deviceId, { sinceMs: Date.now(), watermarkGroupId: lastGroupId() });
  }

  /**
   * Marks a device missing (it stopped answering). Returns false when it was not online (it is
   * away already, or failed). The watermark is the newest group before it left: a group
   * committed after may hold a block of it that never became durable.
   */
  markMissing(entry: ArrayDevice, reason: string): boolean {
    if (entry.state !== 'online') return false;
    assertTransition(entry.row.deviceId, markedState(entry), 'missing');
    entry.state = 'missing';
    entry.reason = reason;
    this.noteAway(entry.row.deviceId);
    return true;
  }

  /** Marks a device failed. Returns false when it was failed already. */
  markFailed(entry: ArrayDevice, reason: string): boolean {
    if (entry.state === 'failed') return false;
    assertTransition(entry.row.deviceId, markedState(entry), 'failed');
    entry.state = 'failed';
    entry.reason = reason;
    this.away.delete(entry.row.deviceId);
    return true;
  }

  /** Takes the watermark for a device seen failing before it is marked (the earliest moment counts). */
  noteAway(deviceId: number): void {
    if (!this.away.has(deviceId)) this.away.set(deviceId, { sinceMs: Date.now(), watermarkGroupId: this.lastGroupId() });
  }

  awayRecord(deviceId: number): AwayRecord | undefined {
    return this.away.get(deviceId);
  }

  /** The device answers again (state set online by the caller): its away record ends and is returned. */
  returned(deviceId: number): AwayRecord | undefined {
    const record = this.away.get(deviceId);
    this.away.delete(deviceId);
    return record;
  }

  /** The device left the array for good (removed, or rebuilt away). */
  forget(deviceId: number): void {
    this.away.delete(deviceId);
  }

  /** Devices not usable now (missing or failed), oldest away first. */
  unavailable(): ArrayDevice[] {
    return this.devices.all().filter((entry) => !this.devices.isOnline(entry));
  }

  assertInvariants(): void {
    const problems: string[] = [];
    for (const entry of this.devices.all()) {
      const id = entry.row.deviceId;
      if (!['online', 'missing', 'failed'].includes(entry.state)) problems.push(`device ${id}: runtime state ${entry.state}`);
      if (entry.draining && entry.spare) problems.push(`device ${id} is both draining and a spare`);
      if (this.devices.isOnline(entry) && (entry.state !== 'online' || !entry.device?.online)) problems.push(`device ${id} counts as usable in state ${entry.state}`);
      if (entry.state === 'missing' && !this.away.has(id)) problems.push(`device ${id} is missing without an away record`);
      if (entry.state === 'online' && this.away.has(id) && entry.device?.online) problems.push(`device ${id} is online but still recorded away`);
    }
    for (const entry of this.devices.placeable()) {
      if (entry.state !== 'online' || entry.draining || entry.spare) problems.push(`device ${entry.row.deviceId} is placeable but ${lifecycleState(entry, this.devices)}`);
    }
    for (const entry of this.devices.rebuildTargets()) {
      if (entry.state !== 'online' || entry.draining) problems.push(`device ${entry.row.deviceId} is a rebuild target but ${lifecycleState(entry, this.devices)}`);
    }
    for (const id of this.away.keys()) if (!this.devices.all().some((entry) => entry.row.deviceId === id)) problems.push(`away record of device ${id}, which has left the array`);
    if (problems.length > 0) throw new Error(`device lifecycle invariants broken:\n${problems.join('\n')}`);
  }
}
