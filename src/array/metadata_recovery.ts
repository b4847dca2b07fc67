// Reading the on-device metadata back: for one device, its newest intact checkpoint and the
// records after it (what the device knows, up to which change set); for the array, which
// device knows the most, and the rows that state consists of. Open uses it to roll an old
// home forward (or to notice that devices lag and need a checkpoint); import builds a whole
// home from it.
//
// The rules (docs/ARCHITECTURE.md, "The self-describing array"): a checkpoint counts only if
// its header and payload checksums verify; among intact ones the higher seq wins. Records are
// read from that checkpoint's ring head while each is intact and carries the next sequence
// number; a record that does not fit before the end of the ring was written at LB 0. The first
// gap ends the device's history: anything after it was never acknowledged (a record is
// acknowledged only after a flush that also covers every record before it).
import { LB_BYTES } from '../constants.js';
import type { Device } from '../devices/device.js';
import type { Arena, ArenaBuffer } from '../kernels/arena.js';
import type { ChangeSet, SnapshotRows } from '../meta/meta_changes.js';
import {
  checkpointLengthLb,
  checkpointPayloadHasher,
  decodeCheckpointHeader,
  decodeCheckpointPayload,
  decodeRecordHeader,
  decodeRecordPayload,
  recordPayloadIntact,
  slotStartLb,
  type CheckpointHeader,
  type MetadataLayout,
} from '../meta/journal_format.js';
import { JOURNAL_BUFFER_BYTES, type JournalPosition } from './metadata_journal.js';
import { readRetrying } from './read_path.js';

/** Ring LBs read at a time while scanning records: the longest record the journal writes. */
const SCAN_WINDOW_LB = JOURNAL_BUFFER_BYTES / LB_BYTES;

export interface DeviceJournalState {
  /** The newest intact checkpoint, if any. */
  checkpoint: (CheckpointHeader & { slot: 0 | 1 }) | undefined;
  /** Change sets recorded after the checkpoint, in order (with `decodeAfterSeq`: from the first
   * record that holds a change set past it; every record before it was verified, not decoded). */
  records: ChangeSet[];
  /** The newest change set this device knows (0: none). */
  lastSeq: number;
  /** Where the next record would go, and how much of the ring the records since the checkpoint use. */
  headLb: number;
  usedLb: number;
}

/**
 * What a device's metadata region says. Device read errors are thrown. `decodeAfterSeq`: the
 * change sets the caller already holds (open: the home's newest); records wholly at or below
 * it are verified by checksum but not decoded.
 */
export async function readDeviceJournal(device: Device, layout: MetadataLayout, arrayUuid: string, arena: Arena, decodeAfterSeq = 0): Promise<DeviceJournalState> {
  const buffer = await arena.acquire(SCAN_WINDOW_LB * LB_BYTES);
  try {
    const checkpoint = await newestCheckpoint(device, layout, arrayUuid, arena, buffer);
    if (!checkpoint) return { checkpoint: undefined, records: [], lastSeq: 0, headLb: 0, usedLb: 0 };
    const scan = await scanRecords(device, layout, arrayUuid, buffer, checkpoint.ringHeadLb, checkpoint.seq + 1, decodeAfterSeq);
    return { checkpoint, records: scan.records, headLb: scan.headLb, usedLb: scan.usedLb, lastSeq: scan.lastSeq ?? checkpoint.seq };
  } finally {
    arena.free(buffer);
  }
}

/** The rows of a device's newest checkpoint (undefined if it no longer reads back intact). */
export async function readCheckpointRows(device: Device, layout: MetadataLayout, arena: Arena, checkpoint: CheckpointHeader & { slot: 0 | 1 }): Promise<SnapshotRows | undefined> {
  const bytes = await readLbs(device, arena, slotStartLb(layout, checkpoint.slot), checkpointLengthLb(checkpoint));
  return decodeCheckpointPayload(bytes, checkpoint);
}

/** Where the journal writer goes on from, given the state of the device it trusts. */
export function journalPositionOf(state: DeviceJournalState): JournalPosition {
  return { checkpointNumber: state.checkpoint?.checkpointNumber ?? 0, headLb: state.headLb, usedLb: state.usedLb, durableSeq: state.lastSeq };
}

async function newestCheckpoint(
  device: Device,
  layout: MetadataLayout,
  arrayUuid: string,
  arena: Arena,
  buffer: ArenaBuffer,
): Promise<(CheckpointHeader & { slot: 0 | 1 }) | undefined> {
  const headers: (CheckpointHeader & { slot: 0 | 1 })[] = [];
  for (const slot of [0, 1] as const) {
    const view = buffer.bytes.subarray(0, LB_BYTES);
    await readRetrying(device, { startLb: slotStartLb(layout, slot), lengthLb: 1 }, view);
    const header = decodeCheckpointHeader(view, arrayUuid);
    if (header && checkpointLengthLb(header) <= layout.slotLb) headers.push({ ...header, slot });
  }
  headers.sort((a, b) => b.seq - a.seq);
  for (const header of headers) {
    // Only a checkpoint whose payload verifies counts (a torn one leaves the other slot in charge).
    if (await checkpointIntact(device, slotStartLb(layout, header.slot), header, buffer)) return header;
  }
  return undefined;
}

/** Hashes a checkpoint's payload as it is read, a window at a time (no copy of the whole checkpoint). */
async function checkpointIntact(device: Device, startLb: number, header: CheckpointHeader, buffer: ArenaBuffer): Promise<boolean> {
  const windowLb = Math.floor(buffer.bytes.byteLength / LB_BYTES);
  const headerLb = Buffer.allocUnsafe(LB_BYTES);
  let hasher: ReturnType<typeof checkpointPayloadHasher> | undefined;
  let payloadLeft = header.payloadBytes;
  const lengthLb = checkpointLengthLb(header);
  for (let doneLb = 0; doneLb < lengthLb; doneLb += windowLb) {
    const countLb = Math.min(windowLb, lengthLb - doneLb);
    const view = buffer.bytes.subarray(0, countLb * LB_BYTES);
    await readRetrying(device, { startLb: startLb + doneLb, lengthLb: countLb }, view);
    let payload: Uint8Array = view;
    if (doneLb === 0) {
      headerLb.set(view.subarray(0, LB_BYTES));
      hasher = checkpointPayloadHasher(headerLb);
      payload = view.subarray(LB_BYTES);
    }
    const take = Math.min(payloadLeft, payload.byteLength);
    hasher!.update(payload.subarray(0, take));
    payloadLeft -= take;
  }
  return hasher !== undefined && payloadLeft === 0 && hasher.intact();
}

async function scanRecords(
  device: Device,
  layout: MetadataLayout,
  arrayUuid: string,
  buffer: ArenaBuffer,
  startLb: number,
  firstSeq: number,
  decodeAfterSeq: number,
): Promise<{ records: ChangeSet[]; headLb: number; usedLb: number; lastSeq?: number }> {
  const records: ChangeSet[] = [];
  let lastSeq: number | undefined;
  const { ringLb } = layout;
  const window = new RingWindow(device, layout, buffer);
  let position = startLb % ringLb;
  let usedLb = 0;
  let expected = firstSeq;
  let wrapped = false;
  for (;;) {
    const found = await recordAt(window, layout, arrayUuid, position, expected, decodeAfterSeq);
    if (!found) {
      // A record that did not fit before the end of the ring went to LB 0.
      if (position === 0 || wrapped || usedLb + (ringLb - position) > ringLb) break;
      const tryAt = await recordAt(window, layout, arrayUuid, 0, expected, decodeAfterSeq);
      if (!tryAt) break;
      usedLb += ringLb - position;
      position = 0;
      wrapped = true;
      continue;
    }
    if (usedLb + found.lengthLb > ringLb) break;
    wrapped = false;
    records.push(...found.sets);
    lastSeq = found.lastSeq;
    expected = found.lastSeq + 1;
    usedLb += found.lengthLb;
    position = (position + found.lengthLb) % ringLb;
  }
  return { records, headLb: position, usedLb, ...(lastSeq !== undefined ? { lastSeq } : {}) };
}

/**
 * The ring as the scan reads it: a window of up to SCAN_WINDOW_LB LBs read at once, so a journal
 * of many small records costs one device read per window rather than two per record (open
 * scanned 116 records on each of 4 devices in 0.2-0.3 s on a loaded host that way).
 */
class RingWindow {
  private startLb = 0;
  private countLb = 0;

  constructor(
    private readonly device: Device,
    private readonly layout: MetadataLayout,
    private readonly buffer: ArenaBuffer,
  ) {}

  /** Ring LBs [positionLb, positionLb + lengthLb) (inside the ring, at most SCAN_WINDOW_LB of them). */
  async view(positionLb: number, lengthLb: number): Promise<Uint8Array> {
    if (positionLb < this.startLb || positionLb + lengthLb > this.startLb + this.countLb) {
      const countLb = Math.min(SCAN_WINDOW_LB, this.layout.ringLb - positionLb);
      this.countLb = 0;
      try {
        await readRetrying(this.device, { startLb: this.layout.regionStartLb + positionLb, lengthLb: countLb }, this.buffer.bytes.subarray(0, countLb * LB_BYTES));
        this.startLb = positionLb;
        this.countLb = countLb;
      } catch {
        // An unreadable LB further on (in a part of the ring no record uses, maybe) must not
        // cost the records before it: read just what was asked for.
        await readRetrying(this.device, { startLb: this.layout.regionStartLb + positionLb, lengthLb }, this.buffer.bytes.subarray(0, lengthLb * LB_BYTES));
        return this.buffer.bytes.subarray(0, lengthLb * LB_BYTES);
      }
    }
    const fromBytes = (positionLb - this.startLb) * LB_BYTES;
    return this.buffer.bytes.subarray(fromBytes, fromBytes + lengthLb * LB_BYTES);
  }
}

/** The record at a ring position if it is intact and starts with `expectedSeq`; its change sets
 * are decoded only if it holds one past `decodeAfterSeq` (else `sets` is empty). */
async function recordAt(
  window: RingWindow,
  layout: MetadataLayout,
  arrayUuid: string,
  positionLb: number,
  expectedSeq: number,
  decodeAfterSeq: number,
): Promise<{ sets: ChangeSet[]; lastSeq: number; lengthLb: number } | undefined> {
  const windowLb = Math.min(SCAN_WINDOW_LB, layout.ringLb - positionLb);
  const header = decodeRecordHeader(await window.view(positionLb, 1), arrayUuid);
  // The writer never makes a record longer than the scan window (its buffer is as long), nor
  // one that crosses the ring's end.
  if (!header || header.firstSeq !== expectedSeq || header.lengthLb > windowLb) return undefined;
  const bytes = await window.view(positionLb, header.lengthLb);
  if (header.lastSeq <= decodeAfterSeq) return recordPayloadIntact(bytes, header) ? { sets: [], lastSeq: header.lastSeq, lengthLb: header.lengthLb } : undefined;
  const sets = decodeRecordPayload(bytes, header);
  return sets ? { sets, lastSeq: header.lastSeq, lengthLb: header.lengthLb } : undefined;
}

async function readLbs(device: Device, arena: Arena, startLb: number, lengthLb: number): Promise<Buffer> {
  const out = Buffer.allocUnsafe(lengthLb * LB_BYTES);
  const chunkLb = SCAN_WINDOW_LB;
  const buffer = await arena.acquire(Math.min(lengthLb, chunkLb) * LB_BYTES);
  try {
    for (let done = 0; done < lengthLb; done += chunkLb) {
      const count = Math.min(chunkLb, lengthLb - done);
      const view = buffer.bytes.subarray(0, count * LB_BYTES);
      await readRetrying(device, { startLb: startLb + done, lengthLb: count }, view);
      out.set(view, done * LB_BYTES);
    }
  } finally {
    arena.free(buffer);
  }
  return out;
}
