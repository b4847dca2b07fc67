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
//   block goes to it while it is away. The state is not persisted (the row keeps its state): a
//   device absent at the next open is found missing again, one present opens online. Its away
//   record is (device_away, schema 6, journaled): see below.
// - failed: its content cannot be trusted (a write failed while it answered, a probe read its
//   superblock as gone or another's). Persisted; it leaves only by rebuild (-> removed) or by an
//   explicit onlineDevice.
// - A missing device that returns rejoins without a rebuild. Only groups committed while it was
//   away can hold a block of it that never became durable (a put whose flush to it failed
//   finishes degraded): those groups, the ones with an id above the watermark taken when it
//   went away (ids only grow), are checked and repaired from parity (the resync job). Groups
//   rebuilt or moved meanwhile no longer reference it at all. The away record is persisted
//   (AwayPersistence: the home's device_away rows, journaled to the devices) from the moment
//   the device leaves until its resync has finished, so a process that stops meanwhile resyncs
//   exactly the same groups: a device still missing at the next open keeps the watermark it
//   left with (not the open's), and one that came back while the process was down (or whose
//   resync did not finish) is resynced at open (pendingResyncs).
// - An online device whose metadata journal ends before what was durable on it is an older
//   copy of itself (an image restored, a snapshot attached in its place): it missed writes of
//   any age, so every group with a block on it is checked (watermark 0) — at a rejoin
//   (resyncEverything) and at open (staleCopiesAtOpen).
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
//  5. (With persistence) every away record is persisted with the same watermark, and every
//     persisted record belongs to a device that is away or back with its resync not finished
//     (resyncing). markFailed and forget drop both.
import type { DeviceAwayRow } from '../meta/rows.js';
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

/** A device that is away: since when, and the last group id and change-set seq committed before it left. */
export type AwayRecord = DeviceAwayRow;

/** Where away records are kept across restarts (the home's device_away rows, journaled). */
export interface AwayPersistence {
  rows(): DeviceAwayRow[];
  save(row: DeviceAwayRow): void;
  clear(deviceId: number): void;
}

export class DeviceLifecycle {
  private readonly away = new Map<number, AwayRecord>();
  /** Devices back online whose persisted record waits for their resync to finish. */
  private readonly resyncing = new Map<number, AwayRecord>();

  constructor(
    private readonly devices: ArrayDevices,
    /** The highest group id committed so far, and the newest change set durable on the devices (both only grow). */
    private readonly committed: () => { groupId: number; seq: number },
    private readonly persistence?: AwayPersistence,
  ) {
    const stored = new Map((persistence?.rows() ?? []).map((row) => [row.deviceId, row]));
    for (const entry of devices.all()) {
      const id = entry.row.deviceId;
      const record = stored.get(id);
      stored.delete(id);
      if (entry.state === 'missing') {
        // Away since before this open: the watermark it left with. Absent when the last
        // process closed cleanly with it present: nothing was committed without it until now.
        if (record) this.away.set(id, record);
        else this.noteAway(id);
      } else if (entry.state === 'online' && record) {
        // Came back while no process ran, or its resync was cut short: resync it now.
        this.resyncing.set(id, record);
      } else if (record) {
        persistence!.clear(id); // failed: its content is not trusted anyway (rebuild or onlineDevice decides)
      }
    }
    for (const id of stored.keys()) persistence!.clear(id); // left the array
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
    this.dropRecords(entry.row.deviceId);
    return true;
  }

  /** Takes the watermark as a device leaves (the earliest moment counts) and persists it. */
  private noteAway(deviceId: number): void {
    if (this.away.has(deviceId)) return;
    // Back but not resynced yet, and away again: the older watermark covers both absences.
    const record = this.resyncing.get(deviceId) ?? { deviceId, sinceMs: Date.now(), watermarkGroupId: this.committed().groupId, sinceSeq: this.committed().seq };
    this.resyncing.delete(deviceId);
    this.away.set(deviceId, record);
    this.persistence?.save(record);
  }

  awayRecord(deviceId: number): AwayRecord | undefined {
    return this.away.get(deviceId);
  }

  /**
   * The device answers again (state set online by the caller): its away record ends and is
   * returned; the persisted one stays until resynced() (a stop before then resyncs at open).
   */
  returned(deviceId: number): AwayRecord | undefined {
    const record = this.away.get(deviceId) ?? this.resyncing.get(deviceId);
    this.away.delete(deviceId);
    if (record) this.resyncing.set(deviceId, record);
    return record;
  }

  /**
   * Every group with a block on the returned device is to be checked, also by a resync an open
   * restarts (watermark 0): it is an older copy of itself (its metadata ends before it left), or
   * it was failed, whose content is not trusted (writes to it failed or were skipped).
   */
  resyncEverything(deviceId: number): void {
    // A failed device brought online has no record (markFailed dropped it): it starts one.
    const record = this.resyncing.get(deviceId);
    if (record?.watermarkGroupId === 0) return;
    const widened = { ...(record ?? { deviceId, sinceMs: Date.now(), sinceSeq: this.committed().seq }), watermarkGroupId: 0 };
    this.resyncing.set(deviceId, widened);
    this.persistence?.save(widened);
  }

  /**
   * Online devices found at open to be older copies of themselves: the journal of each ends
   * (journalEnds) before what was durable on it — the change sets durable when it left, for one
   * that was away, else those durable at the last clean close (durableSeqAtClose). An image
   * restored or a snapshot attached in its place while no process ran missed data writes
   * anywhere, not only above a watermark: every group with a block on it is to be checked
   * (watermark 0), by the resync an open runs (pendingResyncs). Returns their ids.
   */
  staleCopiesAtOpen(journalEnds: ReadonlyMap<number, number>, durableSeqAtClose: number): number[] {
    const stale: number[] = [];
    for (const entry of this.devices.all()) {
      const id = entry.row.deviceId;
      const end = journalEnds.get(id);
      if (entry.state !== 'online' || end === undefined) continue;
      const pending = this.resyncing.get(id);
      if (end >= (pending?.sinceSeq ?? durableSeqAtClose)) continue;
      const record = { ...(pending ?? { deviceId: id, sinceMs: Date.now(), sinceSeq: end }), watermarkGroupId: 0 };
      this.resyncing.set(id, record);
      this.persistence?.save(record);
      stale.push(id);
    }
    return stale;
  }

  /** The returned device's resync finished with nothing left to repair: its persisted record ends. */
  resynced(deviceId: number): void {
    if (!this.resyncing.delete(deviceId)) return;
    this.persistence?.clear(deviceId);
  }

  /** Online devices whose resync is owed since before this open (they came back while no process ran). */
  pendingResyncs(): AwayRecord[] {
    return [...this.resyncing.values()];
  }

  /** The device left the array for good (removed, or rebuilt away). */
  forget(deviceId: number): void {
    this.dropRecords(deviceId);
  }

  private dropRecords(deviceId: number): void {
    const had = this.away.delete(deviceId) || this.resyncing.has(deviceId);
    this.resyncing.delete(deviceId);
    if (had) this.persistence?.clear(deviceId);
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
    for (const id of this.resyncing.keys()) {
      const entry = this.devices.all().find((candidate) => candidate.row.deviceId === id);
      if (this.away.has(id)) problems.push(`device ${id} is both away and resyncing`);
      if (!entry || entry.state !== 'online') problems.push(`device ${id} is resyncing but ${entry?.state ?? 'gone'}`);
    }
    if (this.persistence) {
      const stored = new Map(this.persistence.rows().map((row) => [row.deviceId, row]));
      for (const [id, record] of [...this.away, ...this.resyncing]) {
        if (stored.get(id)?.watermarkGroupId !== record.watermarkGroupId) problems.push(`away record of device ${id} (watermark ${record.watermarkGroupId}) is not persisted as such`);
        stored.delete(id);
      }
      for (const id of stored.keys()) problems.push(`device ${id} has a persisted away record but is neither away nor resyncing`);
    }
    if (problems.length > 0) throw new Error(`device lifecycle invariants broken:\n${problems.join('\n')}`);
  }
}
