// Metadata changes as row operations: what one committed metadata transaction did to the
// tables that describe where data lives (settings, devices, files, groups, extents). Every
// mutating MetaStore transaction produces one numbered change set; the array ships it to the
// on-device journal, and replaying change sets in order onto a snapshot of the rows gives the
// same database again (row ids included: replay inserts the ids the original commit got).
//
// Away records (device_away) are journaled: a device's resync watermark must survive a restart
// and an import. The jobs table and device paths are local to a home and are not journaled: a job's durable
// effect is the moves it committed, and a path is only a hint (devices are found by UUID).
//
// Encoding: compact JSON arrays (one letter for the operation, checksums in base64), because
// a small put's change set is written to every device and should fit one 4 KiB block.
import { createHash } from 'node:crypto';
import type { DeviceAwayRow, DeviceRow, ExtentRow, FileRow, GroupRow } from './rows.js';

export type MetaChange =
  | { op: 'setting'; key: string; value: string }
  | { op: 'deviceAdd'; row: DeviceRow }
  | { op: 'deviceState'; deviceId: number; state: DeviceRow['state'] }
  | { op: 'deviceAway'; row: DeviceAwayRow }
  | { op: 'deviceBack'; deviceId: number }
  | { op: 'fileAdd'; row: FileRow }
  | { op: 'fileDelete'; fileId: number }
  | { op: 'fileRename'; fileId: number; name: string }
  | { op: 'groupAdd'; row: GroupRow; extents: ExtentRow[] }
  | { op: 'groupDelete'; groupId: number }
  | { op: 'extentMove'; extentId: number; deviceId: number; startLb: number };

/** One committed transaction: its sequence number (1, 2, 3, ... per array) and changes. */
export interface ChangeSet {
  seq: number;
  changes: MetaChange[];
  /** The changes as the journal encodes them, when the commit already did (for its digest): not encoded twice. */
  encodedChanges?: string;
}

/** Every journaled row, as a checkpoint holds them. */
export interface SnapshotRows {
  seq: number;
  settings: [string, string][];
  devices: DeviceRow[];
  /** Away records (snapshots before schema 6 have none). */
  away: DeviceAwayRow[];
  files: FileRow[];
  groups: GroupRow[];
  extents: ExtentRow[];
}

type Encoded = unknown[];

export function encodeChange(change: MetaChange): Encoded {
  switch (change.op) {
    case 'setting':
      return ['s', change.key, change.value];
    case 'deviceAdd':
      return ['d', ...encodeDevice(change.row)];
    case 'deviceState':
      return ['D', change.deviceId, change.state];
    case 'deviceAway':
      return ['a', ...encodeAway(change.row)];
    case 'deviceBack':
      return ['A', change.deviceId];
    case 'fileAdd':
      return ['f', change.row.fileId, change.row.name, change.row.sizeBytes, change.row.createdMs];
    case 'fileDelete':
      return ['F', change.fileId];
    case 'fileRename':
      return ['r', change.fileId, change.name];
    case 'groupAdd':
      return ['g', ...encodeGroup(change.row), change.extents.map(encodeExtent)];
    case 'groupDelete':
      return ['G', change.groupId];
    case 'extentMove':
      return ['m', change.extentId, change.deviceId, change.startLb];
  }
}

export function decodeChange(encoded: Encoded): MetaChange {
  const [tag, ...rest] = encoded;
  const value = rest as never[];
  switch (tag) {
    case 's':
      return { op: 'setting', key: value[0], value: value[1] };
    case 'd':
      return { op: 'deviceAdd', row: decodeDevice(value) };
    case 'D':
      return { op: 'deviceState', deviceId: value[0], state: value[1] };
    case 'a':
      return { op: 'deviceAway', row: decodeAway(value) };
    case 'A':
      return { op: 'deviceBack', deviceId: value[0] };
    case 'f':
      return { op: 'fileAdd', row: { fileId: value[0], name: value[1], sizeBytes: value[2], createdMs: value[3] } };
    case 'F':
      return { op: 'fileDelete', fileId: value[0] };
    case 'r':
      return { op: 'fileRename', fileId: value[0], name: value[1] };
    case 'g': {
      const row = decodeGroup(value);
      return { op: 'groupAdd', row, extents: (value[7] as unknown as Encoded[]).map((extent) => decodeExtent(extent, row.groupId)) };
    }
    case 'G':
      return { op: 'groupDelete', groupId: value[0] };
    case 'm':
      return { op: 'extentMove', extentId: value[0], deviceId: value[1], startLb: value[2] };
    default:
      throw new Error(`metadata change: unknown operation ${JSON.stringify(tag)}`);
  }
}

/**
 * A change set's fingerprint: a hash of its changes as the journal encodes them, so the home's
 * digest of a change set it committed equals the digest of the same set decoded from a
 * device's record (decodeChange inverts encodeChange).
 */
export function changeSetDigest(encodedChanges: string): string {
  return createHash('sha256').update(encodedChanges).digest('base64').slice(0, 22);
}

/** The changes' encoding inside a record (and what changeSetDigest hashes). */
export function encodeChanges(changes: readonly MetaChange[]): string {
  return JSON.stringify(changes.map(encodeChange));
}

/** JSON of [[seq, changes], ...], each set's changes encoded once (encodedChanges when the commit did it). */
export function encodeChangeSets(sets: readonly ChangeSet[]): string {
  return `[${sets.map((set) => `[${set.seq},${set.encodedChanges ?? encodeChanges(set.changes)}]`).join(',')}]`;
}

export function decodeChangeSets(text: string): ChangeSet[] {
  const parsed = JSON.parse(text) as [number, Encoded[]][];
  return parsed.map(([seq, changes]) => ({ seq, changes: changes.map(decodeChange) }));
}

/**
 * A snapshot as a checkpoint stores it: JSON of compact rows, read straight from SQLite as
 * arrays (files [id, name, size, created], groups [id, file, sequence, k, m, extentLb, bytes],
 * extents [group, id, device, start, length, 0 data | 1 parity, index, checksum hex]) — no
 * object per row, so a checkpoint of 100,000 files costs a fraction of a second.
 */
export interface EncodedSnapshot {
  seq: number;
  text: string;
}

export function encodeSnapshotText(parts: {
  seq: number;
  settings: [string, string][];
  devices: readonly DeviceRow[];
  away: readonly DeviceAwayRow[];
  files: readonly unknown[][];
  groups: readonly unknown[][];
  extents: readonly unknown[][];
}): EncodedSnapshot {
  const text = JSON.stringify({ v: 2, seq: parts.seq, settings: parts.settings, devices: parts.devices.map(encodeDevice), away: parts.away.map(encodeAway), files: parts.files, groups: parts.groups, extents: parts.extents });
  return { seq: parts.seq, text };
}

export function decodeSnapshot(text: string): SnapshotRows {
  const parsed = JSON.parse(text) as Record<string, never[]> & { v: number; seq: number };
  if (parsed.v !== 2) throw new Error(`metadata snapshot: unknown version ${parsed.v}`);
  return {
    seq: parsed.seq,
    settings: parsed.settings,
    devices: parsed.devices.map(decodeDevice),
    away: ((parsed.away ?? []) as never[][]).map(decodeAway),
    files: (parsed.files as never[][]).map((value) => ({ fileId: value[0]!, name: value[1]!, sizeBytes: value[2]!, createdMs: value[3]! })),
    groups: parsed.groups.map(decodeGroup),
    extents: (parsed.extents as never[][]).map((value) => ({
      groupId: value[0]!,
      extentId: value[1]!,
      deviceId: value[2]!,
      startLb: value[3]!,
      lengthLb: value[4]!,
      role: value[5] === 0 ? ('data' as const) : ('parity' as const),
      index: value[6]!,
      checksum: Buffer.from(value[7]! as string, 'hex'),
    })),
  };
}

function encodeDevice(row: DeviceRow): Encoded {
  return [row.deviceId, row.uuid, row.path, row.capacityLb, row.dataStartLb, row.dataEndLb, row.state, row.addedMs];
}

function decodeDevice(value: never[]): DeviceRow {
  return {
    deviceId: value[0]!,
    uuid: value[1]!,
    path: value[2]!,
    capacityLb: value[3]!,
    dataStartLb: value[4]!,
    dataEndLb: value[5]!,
    state: value[6]!,
    addedMs: value[7]!,
  };
}

function encodeAway(row: DeviceAwayRow): Encoded {
  return [row.deviceId, row.sinceMs, row.watermarkGroupId, row.sinceSeq];
}

function decodeAway(value: never[]): DeviceAwayRow {
  return { deviceId: value[0]!, sinceMs: value[1]!, watermarkGroupId: value[2]!, sinceSeq: value[3]! };
}

function encodeGroup(row: GroupRow): Encoded {
  return [row.groupId, row.fileId, row.sequence, row.dataCount, row.parityCount, row.extentLb, row.lengthBytes];
}

function decodeGroup(value: never[]): GroupRow {
  return {
    groupId: value[0]!,
    fileId: value[1]!,
    sequence: value[2]!,
    dataCount: value[3]!,
    parityCount: value[4]!,
    extentLb: value[5]!,
    lengthBytes: value[6]!,
  };
}

function encodeExtent(extent: ExtentRow): Encoded {
  return [extent.extentId, extent.deviceId, extent.startLb, extent.lengthLb, extent.role === 'data' ? 0 : 1, extent.index, Buffer.from(extent.checksum).toString('base64')];
}

function decodeExtent(value: Encoded, groupId: number): ExtentRow {
  const [extentId, deviceId, startLb, lengthLb, role, index, checksum] = value as [number, number, number, number, number, number, string];
  return { extentId, groupId, deviceId, startLb, lengthLb, role: role === 0 ? 'data' : 'parity', index, checksum: Buffer.from(checksum, 'base64') };
}
