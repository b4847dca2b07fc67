// Superblocks: who a device belongs to. One 4096-byte record in LB 0 and an identical copy in
// the last LB of the recorded capacity; the data area is everything between them.
//
// Layout (little-endian, offsets in bytes):
//    0  magic "ELSTRIPE" (8)         8  formatVersion u32        12  logical block bytes u32
//   16  array UUID (16)             32  device UUID (16)          48  deviceId u32
//   52  reserved u32 = 0            56  capacityBytes u64         64  createdTimeMs u64
//   72  metadata region LB u32      76  journal ring LB u32       80  checkpoint slot LB u32
//   84  reserved, zero, up to 4064  4064  SHA-256 of bytes 0..4063 (32)
// The metadata region (journal ring + two checkpoint slots, src/meta/journal_format.ts)
// starts right after the primary, at LB 1; the data area follows it. Version 2 added the
// region; version 1 devices (no on-device metadata) are refused with a clear error.
// The checksum is a full SHA-256 from node:crypto: superblocks are written and read a few
// times per device lifetime, so cost does not matter and a cryptographic hash rules out
// accidental matches of stale or foreign data.
//
// Decoding: no magic means a blank (or foreign-format) device -> null. Magic but an unknown
// version, a wrong block size or a bad checksum -> CorruptMetadataError.
// Writing: primary, flush, backup, flush, so a crash tears at most one copy.
import { createHash, randomUUID } from 'node:crypto';
import { LB_BYTES } from '../constants.js';
import { CorruptMetadataError, DeviceIoError, DeviceTooSmallError, ElastripeError, ForeignDeviceError, InvalidArgumentError } from '../errors.js';
import type { Device } from './device.js';

export const SUPERBLOCK_MAGIC = 'ELSTRIPE';
export const SUPERBLOCK_FORMAT_VERSION = 2;
export const SUPERBLOCK_BYTES = LB_BYTES;
/** LBs reserved at each end of a device (primary at the start, backup at the end). */
export const SUPERBLOCK_RESERVED_LB = 1;
/** Two superblocks and at least one data block. */
export const SUPERBLOCK_DEVICE_BYTES_MIN = 3 * LB_BYTES;
const CHECKSUM_OFFSET = SUPERBLOCK_BYTES - 32;
/** Reads of one copy tried before it counts as unreadable (a one-off EIO must not cost a copy). */
const SUPERBLOCK_READ_ATTEMPTS = 3;
const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export interface Superblock {
  readonly formatVersion: number;
  readonly arrayUuid: string;
  readonly deviceUuid: string;
  readonly deviceId: number;
  readonly capacityBytes: number;
  readonly createdTimeMs: number;
  /** The on-device metadata region after the primary: its size and how it is cut (LB). */
  readonly metadataRegionLb: number;
  readonly journalRingLb: number;
  readonly checkpointSlotLb: number;
}

/** What one copy turned out to be: a superblock, blank (null), or why it could not be used. */
export type SuperblockCopy = Superblock | null | ElastripeError;

export interface SuperblockCopies {
  readonly primary: SuperblockCopy;
  readonly backup: SuperblockCopy;
}

/** A fresh superblock for a device joining an array; a new device UUID unless given. */
export function newSuperblock(fields: {
  arrayUuid: string;
  deviceId: number;
  capacityBytes: number;
  deviceUuid?: string;
  createdTimeMs?: number;
  metadataRegionLb?: number;
  journalRingLb?: number;
  checkpointSlotLb?: number;
}): Superblock {
  return {
    metadataRegionLb: fields.metadataRegionLb ?? 0,
    journalRingLb: fields.journalRingLb ?? 0,
    checkpointSlotLb: fields.checkpointSlotLb ?? 0,
    formatVersion: SUPERBLOCK_FORMAT_VERSION,
    arrayUuid: fields.arrayUuid,
    deviceUuid: fields.deviceUuid ?? randomUUID(),
    deviceId: fields.deviceId,
    capacityBytes: fields.capacityBytes,
    createdTimeMs: fields.createdTimeMs ?? Date.now(),
  };
}

/** The LBs between the two superblocks of a device of this capacity: [startLb, endLb). */
export function dataRangeLb(capacityBytes: number): { startLb: number; endLb: number } {
  return { startLb: SUPERBLOCK_RESERVED_LB, endLb: Math.floor(capacityBytes / LB_BYTES) - SUPERBLOCK_RESERVED_LB };
}

export function encodeSuperblock(superblock: Superblock, target: Uint8Array): void {
  checkFields(superblock);
  if (target.byteLength !== SUPERBLOCK_BYTES) throw new InvalidArgumentError(`a superblock needs a ${SUPERBLOCK_BYTES}-byte buffer, got ${target.byteLength}`);
  target.fill(0);
  const view = new DataView(target.buffer, target.byteOffset, target.byteLength);
  target.set(Buffer.from(SUPERBLOCK_MAGIC, 'ascii'), 0);
  view.setUint32(8, superblock.formatVersion, true);
  view.setUint32(12, LB_BYTES, true);
  target.set(uuidToBytes(superblock.arrayUuid), 16);
  target.set(uuidToBytes(superblock.deviceUuid), 32);
  view.setUint32(48, superblock.deviceId, true);
  view.setBigUint64(56, BigInt(superblock.capacityBytes), true);
  view.setBigUint64(64, BigInt(superblock.createdTimeMs), true);
  view.setUint32(72, superblock.metadataRegionLb, true);
  view.setUint32(76, superblock.journalRingLb, true);
  view.setUint32(80, superblock.checkpointSlotLb, true);
  target.set(checksum(target), CHECKSUM_OFFSET);
}

export function decodeSuperblock(bytes: Uint8Array): Superblock | null {
  if (bytes.byteLength !== SUPERBLOCK_BYTES) throw new InvalidArgumentError(`a superblock is ${SUPERBLOCK_BYTES} bytes, got ${bytes.byteLength}`);
  if (Buffer.from(bytes.buffer, bytes.byteOffset, 8).toString('latin1') !== SUPERBLOCK_MAGIC) return null;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const formatVersion = view.getUint32(8, true);
  if (formatVersion !== SUPERBLOCK_FORMAT_VERSION) {
    const hint = formatVersion < SUPERBLOCK_FORMAT_VERSION ? ' (written by an elastripe without on-device metadata; recreate the array)' : '';
    throw new CorruptMetadataError(`superblock format version ${formatVersion} is not the supported ${SUPERBLOCK_FORMAT_VERSION}${hint}`);
  }
  const stored = bytes.subarray(CHECKSUM_OFFSET);
  if (Buffer.compare(checksum(bytes), stored) !== 0) throw new CorruptMetadataError('superblock checksum mismatch');
  const lbBytes = view.getUint32(12, true);
  if (lbBytes !== LB_BYTES) throw new CorruptMetadataError(`superblock logical block size ${lbBytes} is not ${LB_BYTES}`);
  return {
    formatVersion,
    arrayUuid: bytesToUuid(bytes.subarray(16, 32)),
    deviceUuid: bytesToUuid(bytes.subarray(32, 48)),
    deviceId: view.getUint32(48, true),
    capacityBytes: Number(view.getBigUint64(56, true)),
    createdTimeMs: Number(view.getBigUint64(64, true)),
    metadataRegionLb: view.getUint32(72, true),
    journalRingLb: view.getUint32(76, true),
    checkpointSlotLb: view.getUint32(80, true),
  };
}

/**
 * Writes the primary (LB 0), flushes, writes the backup (last LB of capacityBytes), flushes.
 * scratch is one LB_BYTES buffer, LB-aligned (from the arena) so O_DIRECT backends accept it.
 */
export async function writeSuperblocks(device: Device, superblock: Superblock, scratch: Uint8Array): Promise<void> {
  if (superblock.capacityBytes > device.sizeBytes) {
    throw new InvalidArgumentError(`superblock capacity ${superblock.capacityBytes} exceeds ${device.path}'s ${device.sizeBytes} bytes`);
  }
  if (superblock.capacityBytes < SUPERBLOCK_DEVICE_BYTES_MIN) throw new DeviceTooSmallError(device.path, superblock.capacityBytes, SUPERBLOCK_DEVICE_BYTES_MIN);
  encodeSuperblock(superblock, scratch);
  await device.write([{ startLb: 0, lengthLb: 1 }], [scratch]);
  await device.flush();
  await device.write([{ startLb: backupLb(superblock.capacityBytes), lengthLb: 1 }], [scratch]);
  await device.flush();
}

/**
 * Reads both copies. The backup is looked for at the end of the capacity the primary records
 * (a device may have grown since), or at the end of the device when the primary is unusable.
 * Decoding problems and read errors are returned per copy (chooseSuperblock then takes the
 * other copy, and throws only when neither serves).
 */
export async function readSuperblocks(device: Device, scratch: Uint8Array): Promise<SuperblockCopies> {
  if (device.sizeBytes < SUPERBLOCK_DEVICE_BYTES_MIN) return { primary: null, backup: null };
  const primary = await readCopy(device, 0, scratch);
  const capacityBytes = isSuperblock(primary) && primary.capacityBytes <= device.sizeBytes ? primary.capacityBytes : device.sizeBytes;
  const backup = await readCopy(device, backupLb(capacityBytes), scratch);
  return { primary, backup };
}

/** The copy to trust: the primary when valid, else the backup; null when both are blank. */
export function chooseSuperblock(copies: SuperblockCopies): Superblock | null {
  if (isSuperblock(copies.primary)) return copies.primary;
  if (isSuperblock(copies.backup)) return copies.backup;
  const error = copies.primary instanceof ElastripeError ? copies.primary : copies.backup;
  if (error instanceof ElastripeError) throw error;
  return null;
}

/**
 * Checks a device may join (or rejoin) the array. Returns its superblock when it already
 * belongs to this array, null when it is blank or force was given. A superblock of another
 * array, or a damaged one whose owner cannot be told, is refused with ForeignDeviceError.
 */
export async function claimDevice(device: Device, claim: { arrayUuid: string }, scratch: Uint8Array, force: boolean): Promise<Superblock | null> {
  const copies = await readSuperblocks(device, scratch);
  let existing: Superblock | null;
  try {
    existing = chooseSuperblock(copies);
  } catch (error) {
    if (force) return null;
    throw new ForeignDeviceError(device.path, `its superblock is unreadable: ${(error as Error).message}`);
  }
  if (existing === null || existing.arrayUuid === claim.arrayUuid) return existing;
  if (force) return null;
  throw new ForeignDeviceError(device.path, `superblock names array ${existing.arrayUuid}, device ${existing.deviceId}`);
}

function isSuperblock(copy: SuperblockCopy): copy is Superblock {
  return copy !== null && !(copy instanceof ElastripeError);
}

/** One copy; a read error of this copy is returned (as the copy's problem), so the other copy can serve. */
async function readCopy(device: Device, startLb: number, scratch: Uint8Array): Promise<SuperblockCopy> {
  for (let attempt = 1; ; attempt++) {
    try {
      await device.read([{ startLb, lengthLb: 1 }], [scratch]);
      break;
    } catch (error) {
      if (!(error instanceof DeviceIoError)) throw error;
      if (attempt >= SUPERBLOCK_READ_ATTEMPTS) return error;
    }
  }
  try {
    return decodeSuperblock(scratch);
  } catch (error) {
    if (error instanceof CorruptMetadataError) return error;
    throw error;
  }
}

function backupLb(capacityBytes: number): number {
  return Math.floor(capacityBytes / LB_BYTES) - 1;
}

function checksum(bytes: Uint8Array): Uint8Array {
  return createHash('sha256').update(bytes.subarray(0, CHECKSUM_OFFSET)).digest();
}

function checkFields(superblock: Superblock): void {
  if (superblock.formatVersion !== SUPERBLOCK_FORMAT_VERSION) throw new InvalidArgumentError(`cannot write superblock version ${superblock.formatVersion}`);
  for (const uuid of [superblock.arrayUuid, superblock.deviceUuid]) {
    if (!UUID_PATTERN.test(uuid)) throw new InvalidArgumentError(`${uuid} is not a lower-case UUID`);
  }
  if (!Number.isInteger(superblock.deviceId) || superblock.deviceId < 0 || superblock.deviceId > 0xffffffff) {
    throw new InvalidArgumentError(`deviceId ${superblock.deviceId} does not fit 32 bits`);
  }
  if (!Number.isSafeInteger(superblock.capacityBytes) || superblock.capacityBytes % LB_BYTES !== 0 || superblock.capacityBytes < 0) {
    throw new InvalidArgumentError(`capacity ${superblock.capacityBytes} is not a whole number of logical blocks`);
  }
  if (!Number.isSafeInteger(superblock.createdTimeMs) || superblock.createdTimeMs < 0) throw new InvalidArgumentError('createdTimeMs must be a non-negative integer');
  const { metadataRegionLb, journalRingLb, checkpointSlotLb } = superblock;
  for (const value of [metadataRegionLb, journalRingLb, checkpointSlotLb]) {
    if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) throw new InvalidArgumentError(`metadata region size ${value} does not fit 32 bits`);
  }
  if (journalRingLb + 2 * checkpointSlotLb > metadataRegionLb) throw new InvalidArgumentError('the journal ring and checkpoint slots exceed the metadata region');
}

function uuidToBytes(uuid: string): Uint8Array {
  return Buffer.from(uuid.replaceAll('-', ''), 'hex');
}

function bytesToUuid(bytes: Uint8Array): string {
  const hex = Buffer.from(bytes).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
