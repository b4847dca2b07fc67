// Is a device blank? Before create or add claims a device that carries no elastripe
// superblock, its first and last MiB are read and looked at, as mkfs.btrfs and zpool create
// do, so `elastripe create mydata.tar fs.img` cannot destroy a tar file and a file system.
//
// describeContent is pure (over the bytes read): it names the first known signature found —
// file systems, swap, LUKS, LVM2, md RAID (1.1/1.2 at the start, 0.90/1.0 at the end),
// partition tables, archives, SQLite — and otherwise reports the first non-zero byte, because
// image files elastripe creates itself (`--size`, a new sparse file) are all zeros.
// probeDeviceContent reads the two regions through the Device interface with a caller's
// scratch buffer (LB-aligned, a multiple of LB_BYTES: the O_DIRECT backends need an arena
// buffer). The middle of the device is not read: a device whose first and last MiB are zero
// is taken as blank.
import { LB_BYTES } from '../constants.js';
import { DeviceIoError, ForeignDeviceError, InvalidArgumentError } from '../errors.js';
import type { Device } from './device.js';

/** Bytes looked at, at each end of the device. */
export const PROBE_REGION_BYTES = 1024 * 1024;
/** Scratch buffer size that reads each region in one request. */
export const PROBE_SCRATCH_BYTES = 1024 * 1024;
/** Reads of one piece tried before the probe gives up: a one-off EIO (a flaky cable, an NBD
 * server's hiccup) must not fail a create, as it does not fail a superblock read. */
const PROBE_READ_ATTEMPTS = 5;

/** Bytes read from a device, with the device offset of their first byte. */
export interface ProbeRegion {
  readonly bytes: Uint8Array;
  readonly offsetBytes: number;
}

interface Signature {
  /** What the device holds, as a noun phrase ("an XFS file system"). */
  readonly what: string;
  readonly magic: Uint8Array;
  /** Where the magic may sit, in bytes from the start of a device of deviceBytes. */
  offsets(deviceBytes: number): number[];
  /** A further check once the magic matched (regions and the magic's offset). */
  confirm?(regions: readonly ProbeRegion[], offsetBytes: number): boolean;
}

const latin1 = (text: string): Uint8Array => Buffer.from(text, 'latin1');
const at = (...offsets: number[]) => () => offsets;
const MD_MAGIC = Uint8Array.of(0xfc, 0x4e, 0x2b, 0xa9); // 0xa92b4efc, little-endian
const MD_090_RESERVED_BYTES = 65536;
const SECTOR_BYTES = 512;
/** Swap's signature ends its first page; these are the page sizes Linux uses. */
const PAGE_SIZES = [4096, 8192, 16384, 65536];
const MBR_ENTRIES_OFFSET = 446;
const MBR_ENTRY_BYTES = 16;

const SIGNATURES: readonly Signature[] = [
  { what: 'an ext2/3/4 file system', magic: Uint8Array.of(0x53, 0xef), offsets: at(1080) },
  { what: 'an XFS file system', magic: latin1('XFSB'), offsets: at(0) },
  { what: 'a btrfs file system', magic: latin1('_BHRfS_M'), offsets: at(65600) },
  { what: 'swap space', magic: latin1('SWAPSPACE2'), offsets: () => PAGE_SIZES.map((page) => page - 10) },
  { what: 'swap space', magic: latin1('SWAP-SPACE'), offsets: () => PAGE_SIZES.map((page) => page - 10) },
  { what: 'a LUKS encrypted volume', magic: Uint8Array.of(0x4c, 0x55, 0x4b, 0x53, 0xba, 0xbe), offsets: at(0) },
  { what: 'an LVM2 physical volume', magic: latin1('LABELONE'), offsets: at(0, 512, 1024, 1536) },
  { what: 'an md RAID member (superblock 1.1)', magic: MD_MAGIC, offsets: at(0) },
  { what: 'an md RAID member (superblock 1.2)', magic: MD_MAGIC, offsets: at(4096) },
  { what: 'an md RAID member (superblock 0.90)', magic: MD_MAGIC, offsets: (size) => [Math.floor(size / MD_090_RESERVED_BYTES) * MD_090_RESERVED_BYTES - MD_090_RESERVED_BYTES] },
  { what: 'an md RAID member (superblock 1.0)', magic: MD_MAGIC, offsets: (size) => [((Math.floor(size / SECTOR_BYTES) - 16) & ~7) * SECTOR_BYTES] },
  { what: 'a GPT partition table', magic: latin1('EFI PART'), offsets: at(512, 4096) },
  { what: 'an NTFS file system', magic: latin1('NTFS    '), offsets: at(3) },
  { what: 'a FAT file system', magic: latin1('FAT12   '), offsets: at(54) },
  { what: 'a FAT file system', magic: latin1('FAT16   '), offsets: at(54) },
  { what: 'a FAT file system', magic: latin1('FAT32   '), offsets: at(82) },
  { what: 'an MBR partition table', magic: Uint8Array.of(0x55, 0xaa), offsets: at(510), confirm: hasMbrPartition },
  { what: 'an ISO 9660 image', magic: latin1('CD001'), offsets: at(32769) },
  { what: 'a squashfs image', magic: latin1('hsqs'), offsets: at(0) },
  { what: 'a tar archive', magic: latin1('ustar'), offsets: at(257) },
  { what: 'a SQLite database', magic: latin1('SQLite format 3\0'), offsets: at(0) },
  { what: 'gzip data', magic: Uint8Array.of(0x1f, 0x8b), offsets: at(0) },
  { what: 'xz data', magic: Uint8Array.of(0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00), offsets: at(0) },
  { what: 'zstd data', magic: Uint8Array.of(0x28, 0xb5, 0x2f, 0xfd), offsets: at(0) },
  { what: 'a zip archive', magic: Uint8Array.of(0x50, 0x4b, 0x03, 0x04), offsets: at(0) },
];

/**
 * What the regions show the device holds, as a phrase for an error ("holds an XFS file system
 * (signature at byte 0)", "holds data: non-zero bytes at offset N"), or undefined when blank.
 */
export function describeContent(regions: readonly ProbeRegion[], deviceBytes: number): string | undefined {
  for (const signature of SIGNATURES) {
    for (const offsetBytes of signature.offsets(deviceBytes)) {
      if (offsetBytes < 0 || offsetBytes + signature.magic.byteLength > deviceBytes) continue;
      if (!bytesEqualAt(regions, offsetBytes, signature.magic)) continue;
      if (signature.confirm && !signature.confirm(regions, offsetBytes)) continue;
      return `holds ${signature.what} (signature at byte ${offsetBytes})`;
    }
  }
  for (const region of regions) {
    const index = region.bytes.findIndex((byte) => byte !== 0);
    if (index >= 0) return `holds data: non-zero bytes at offset ${region.offsetBytes + index}`;
  }
  return undefined;
}

/** The bytes at a device offset, if one region holds all of them. */
function bytesAt(regions: readonly ProbeRegion[], offsetBytes: number, length: number): Uint8Array | undefined {
  for (const region of regions) {
    const start = offsetBytes - region.offsetBytes;
    if (start >= 0 && start + length <= region.bytes.byteLength) return region.bytes.subarray(start, start + length);
  }
  return undefined;
}

function bytesEqualAt(regions: readonly ProbeRegion[], offsetBytes: number, magic: Uint8Array): boolean {
  const found = bytesAt(regions, offsetBytes, magic.byteLength);
  return found !== undefined && Buffer.compare(found, magic) === 0;
}

/** An MBR signature counts as a partition table only with a partition entry in use. */
function hasMbrPartition(regions: readonly ProbeRegion[]): boolean {
  const entries = bytesAt(regions, MBR_ENTRIES_OFFSET, 4 * MBR_ENTRY_BYTES);
  if (entries === undefined) return false;
  for (let entry = 0; entry < 4; entry++) {
    if (entries[entry * MBR_ENTRY_BYTES + 4] !== 0) return true; // the partition type byte
  }
  return false;
}

/**
 * Reads the first and last PROBE_REGION_BYTES of the device (through `scratch`, a multiple of
 * LB_BYTES, LB-aligned for O_DIRECT backends) and describes what they hold; undefined = blank.
 */
export async function probeDeviceContent(device: Device, scratch: Uint8Array): Promise<string | undefined> {
  if (scratch.byteLength === 0 || scratch.byteLength % LB_BYTES !== 0) {
    throw new InvalidArgumentError(`probe scratch must be a positive multiple of ${LB_BYTES} bytes, got ${scratch.byteLength}`);
  }
  const sizeBytes = Math.floor(device.sizeBytes / LB_BYTES) * LB_BYTES;
  const headBytes = Math.min(PROBE_REGION_BYTES, sizeBytes);
  const tailOffsetBytes = Math.max(headBytes, sizeBytes - PROBE_REGION_BYTES);
  const regions: ProbeRegion[] = [{ bytes: await readRange(device, 0, headBytes, scratch), offsetBytes: 0 }];
  if (tailOffsetBytes < sizeBytes) {
    regions.push({ bytes: await readRange(device, tailOffsetBytes, sizeBytes - tailOffsetBytes, scratch), offsetBytes: tailOffsetBytes });
  }
  return describeContent(regions, sizeBytes);
}

/** Copies [offsetBytes, +lengthBytes) of the device into a new Buffer, scratch-sized reads. */
async function readRange(device: Device, offsetBytes: number, lengthBytes: number, scratch: Uint8Array): Promise<Buffer> {
  const target = Buffer.alloc(lengthBytes);
  for (let done = 0; done < lengthBytes; ) {
    const pieceBytes = Math.min(scratch.byteLength, lengthBytes - done);
    const piece = scratch.subarray(0, pieceBytes);
    await readRetrying(device, (offsetBytes + done) / LB_BYTES, piece);
    target.set(piece, done);
    done += pieceBytes;
  }
  return target;
}

async function readRetrying(device: Device, startLb: number, piece: Uint8Array): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await device.read([{ startLb, lengthLb: piece.byteLength / LB_BYTES }], [piece]);
      return;
    } catch (error) {
      if (!(error instanceof DeviceIoError) || attempt >= PROBE_READ_ATTEMPTS || !device.online) throw error;
    }
  }
}

/**
 * Refuses (FOREIGN_DEVICE) a device that holds anything: for devices without an elastripe
 * superblock, when the caller did not force.
 */
export async function refuseForeignContent(device: Device, scratch: Uint8Array): Promise<void> {
  const found = await probeDeviceContent(device, scratch);
  if (found !== undefined) throw ForeignDeviceError.holdingData(device.path, found);
}
