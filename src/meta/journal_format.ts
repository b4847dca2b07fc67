// The on-device metadata format: a journal ring of change-set records and two checkpoint
// (snapshot) slots, in a region every device of the array carries between its primary
// superblock and its data area. This file only turns records into bytes and back; writing
// and reading devices is src/array/metadata_journal.ts and metadata_recovery.ts.
//
// Region (LB offsets from the region's start; sizes are array settings, also in superblocks):
//   [0, ringLb)                       journal ring: records of change sets, LB-aligned
//   [ringLb, ringLb + slotLb)         checkpoint slot 0
//   [ringLb + slotLb, regionLb)       checkpoint slot 1
//
// Record (a batch of consecutive change sets), header in the first 128 bytes of its first LB:
//    0 magic "ELJRNL01"   8 format u32   12 header bytes u32   16 array UUID (16)
//   32 first seq u64     40 last seq u64  48 checkpoint number u32   52 length LB u32
//   56 payload bytes u32 60 flags u32 (bit 0: deflated)   64 SHA-256 of the payload (32)
//   96 SHA-256 of bytes 0..95 (32);  payload (change sets, JSON) from byte 128.
// Checkpoint slot: the same 128-byte header shape in its first LB (magic "ELSNAP01", seq at
// 32, checkpoint number at 40, the ring LB where the record after seq starts at 44, payload
// bytes at 48, flags at 52, created ms at 56), the snapshot (JSON, deflated) from its 2nd LB.
//
// Crash rules (the numbered list is in docs/ARCHITECTURE.md, "The self-describing array"):
// a record or checkpoint counts only if both checksums verify, so a torn or dropped write is
// never read as metadata; records are read from the newest valid checkpoint's ring head while
// each carries the next sequence number, so a stale record from an earlier lap ends the scan.
import { createHash } from 'node:crypto';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { LB_BYTES } from '../constants.js';
import { decodeChangeSets, decodeSnapshot, encodeChangeSets, type ChangeSet, type EncodedSnapshot, type SnapshotRows } from './meta_changes.js';

export const RECORD_MAGIC = 'ELJRNL01';
export const CHECKPOINT_MAGIC = 'ELSNAP01';
export const JOURNAL_FORMAT_VERSION = 1;
export const HEADER_BYTES = 128;
const FLAG_DEFLATED = 1;
/** Record payloads above this are deflated: below it, deflating costs more CPU than the few
 *  LBs it saves are worth (a batch of a dozen small puts stays a few LBs either way). */
const DEFLATE_ABOVE_BYTES = 16 * 1024;

/** Where the metadata lives on every device of an array (LB numbers). */
export interface MetadataLayout {
  /** First LB of the region (right after the primary superblock). */
  regionStartLb: number;
  regionLb: number;
  ringLb: number;
  slotLb: number;
}

export function slotStartLb(layout: MetadataLayout, slot: 0 | 1): number {
  return layout.regionStartLb + layout.ringLb + slot * layout.slotLb;
}

export interface RecordHeader {
  firstSeq: number;
  lastSeq: number;
  checkpointNumber: number;
  lengthLb: number;
  payloadBytes: number;
  flags: number;
}

export interface CheckpointHeader {
  seq: number;
  checkpointNumber: number;
  ringHeadLb: number;
  payloadBytes: number;
  flags: number;
  createdMs: number;
}

/** A batch of change sets as record bytes (a whole number of LBs, zero padded). */
export function encodeRecord(arrayUuid: string, sets: readonly ChangeSet[], checkpointNumber: number): Buffer {
  let payload: Buffer = Buffer.from(encodeChangeSets(sets));
  let flags = 0;
  if (payload.byteLength > DEFLATE_ABOVE_BYTES) {
    payload = deflateRawSync(payload, { level: 1 });
    flags |= FLAG_DEFLATED;
  }
  const lengthLb = Math.ceil((HEADER_BYTES + payload.byteLength) / LB_BYTES);
  const bytes = Buffer.alloc(lengthLb * LB_BYTES);
  payload.copy(bytes, HEADER_BYTES);
  writeHeader(bytes, RECORD_MAGIC, arrayUuid, payload, (view) => {
    view.setBigUint64(32, BigInt(sets[0]!.seq), true);
    view.setBigUint64(40, BigInt(sets[sets.length - 1]!.seq), true);
    view.setUint32(48, checkpointNumber, true);
    view.setUint32(52, lengthLb, true);
    view.setUint32(56, payload.byteLength, true);
    view.setUint32(60, flags, true);
  });
  return bytes;
}

/** The header of a record at the start of `bytes` (one LB at least), or undefined if none is there. */
export function decodeRecordHeader(bytes: Uint8Array, arrayUuid: string): RecordHeader | undefined {
  const view = headerView(bytes, RECORD_MAGIC, arrayUuid);
  if (!view) return undefined;
  const header = {
    firstSeq: Number(view.getBigUint64(32, true)),
    lastSeq: Number(view.getBigUint64(40, true)),
    checkpointNumber: view.getUint32(48, true),
    lengthLb: view.getUint32(52, true),
    payloadBytes: view.getUint32(56, true),
    flags: view.getUint32(60, true),
  };
  if (header.lengthLb < 1 || header.lastSeq < header.firstSeq || HEADER_BYTES + header.payloadBytes > header.lengthLb * LB_BYTES) return undefined;
  return header;
}

/** The change sets of a whole record (`bytes` holds its lengthLb LBs), or undefined if its payload is damaged. */
export function decodeRecordPayload(bytes: Uint8Array, header: RecordHeader): ChangeSet[] | undefined {
  if (!recordPayloadIntact(bytes, header)) return undefined;
  const payload = bytes.subarray(HEADER_BYTES, HEADER_BYTES + header.payloadBytes);
  const text = (header.flags & FLAG_DEFLATED ? inflateRawSync(payload) : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength)).toString('utf8');
  const sets = decodeChangeSets(text);
  if (sets.length === 0 || sets[0]!.seq !== header.firstSeq || sets[sets.length - 1]!.seq !== header.lastSeq) return undefined;
  return sets;
}

/**
 * Whether a whole record's payload matches its header's checksum, without decoding it: open
 * checks the records a home already holds this way (inflating and parsing them cost ~0.1 s per
 * thousand change sets, for nothing), and decodes only those past the home's newest.
 */
export function recordPayloadIntact(bytes: Uint8Array, header: RecordHeader): boolean {
  return payloadMatches(bytes, bytes.subarray(HEADER_BYTES, HEADER_BYTES + header.payloadBytes));
}

/** A checkpoint: header LB then the deflated snapshot, as one buffer of whole LBs. */
export function encodeCheckpoint(arrayUuid: string, rows: EncodedSnapshot, checkpointNumber: number, ringHeadLb: number, nowMs: number): Buffer {
  const payload = deflateRawSync(Buffer.from(rows.text), { level: 1 });
  const bytes = Buffer.alloc((1 + Math.ceil(payload.byteLength / LB_BYTES)) * LB_BYTES);
  payload.copy(bytes, LB_BYTES);
  writeHeader(bytes, CHECKPOINT_MAGIC, arrayUuid, payload, (view) => {
    view.setBigUint64(32, BigInt(rows.seq), true);
    view.setUint32(40, checkpointNumber, true);
    view.setUint32(44, ringHeadLb, true);
    view.setUint32(48, payload.byteLength, true);
    view.setUint32(52, FLAG_DEFLATED, true);
    view.setBigUint64(56, BigInt(nowMs), true);
  });
  return bytes;
}

export function decodeCheckpointHeader(bytes: Uint8Array, arrayUuid: string): CheckpointHeader | undefined {
  const view = headerView(bytes, CHECKPOINT_MAGIC, arrayUuid);
  if (!view) return undefined;
  return {
    seq: Number(view.getBigUint64(32, true)),
    checkpointNumber: view.getUint32(40, true),
    ringHeadLb: view.getUint32(44, true),
    payloadBytes: view.getUint32(48, true),
    flags: view.getUint32(52, true),
    createdMs: Number(view.getBigUint64(56, true)),
  };
}

/** LBs a checkpoint with this header occupies (header LB + payload). */
export function checkpointLengthLb(header: CheckpointHeader): number {
  return 1 + Math.ceil(header.payloadBytes / LB_BYTES);
}

/** Whether a whole checkpoint's payload matches its header's checksum (without decoding it). */
export function checkpointPayloadIntact(bytes: Uint8Array, header: CheckpointHeader): boolean {
  return payloadMatches(bytes, bytes.subarray(LB_BYTES, LB_BYTES + header.payloadBytes));
}

/**
 * The same check fed piece by piece (open verifies each device's checkpoint without holding a
 * copy of it): `update` takes the payload's bytes in order, `intact` compares the digest with
 * the header's (bytes 64..96 of the header LB).
 */
export function checkpointPayloadHasher(headerLb: Uint8Array): { update: (bytes: Uint8Array) => void; intact: () => boolean } {
  const expected = Buffer.from(headerLb.buffer, headerLb.byteOffset + 64, 32);
  const hash = createHash('sha256');
  return { update: (bytes) => void hash.update(bytes), intact: () => hash.digest().equals(expected) };
}

/** The snapshot of a whole checkpoint (header LB + payload LBs), or undefined if damaged. */
export function decodeCheckpointPayload(bytes: Uint8Array, header: CheckpointHeader): SnapshotRows | undefined {
  const payload = bytes.subarray(LB_BYTES, LB_BYTES + header.payloadBytes);
  if (!payloadMatches(bytes, payload)) return undefined;
  const rows = decodeSnapshot(inflateRawSync(payload).toString('utf8'));
  return rows.seq === header.seq ? rows : undefined;
}

function writeHeader(bytes: Buffer, magic: string, arrayUuid: string, payload: Uint8Array, fill: (view: DataView) => void): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset, HEADER_BYTES);
  bytes.write(magic, 0, 'latin1');
  view.setUint32(8, JOURNAL_FORMAT_VERSION, true);
  view.setUint32(12, HEADER_BYTES, true);
  Buffer.from(arrayUuid.replaceAll('-', ''), 'hex').copy(bytes, 16);
  fill(view);
  sha256(payload).copy(bytes, 64);
  sha256(bytes.subarray(0, 96)).copy(bytes, 96);
}

function headerView(bytes: Uint8Array, magic: string, arrayUuid: string): DataView | undefined {
  if (bytes.byteLength < HEADER_BYTES) return undefined;
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, HEADER_BYTES);
  if (buffer.toString('latin1', 0, 8) !== magic) return undefined;
  if (!sha256(buffer.subarray(0, 96)).equals(buffer.subarray(96, 128))) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, HEADER_BYTES);
  if (view.getUint32(8, true) !== JOURNAL_FORMAT_VERSION) return undefined;
  if (buffer.toString('hex', 16, 32) !== arrayUuid.replaceAll('-', '')) return undefined;
  return view;
}

function payloadMatches(bytes: Uint8Array, payload: Uint8Array): boolean {
  return sha256(payload).equals(Buffer.from(bytes.buffer, bytes.byteOffset + 64, 32));
}

function sha256(bytes: Uint8Array): Buffer {
  return createHash('sha256').update(bytes).digest();
}
