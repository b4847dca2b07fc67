// The content probe that keeps create and add from overwriting a device that holds something:
// every signature it knows, placed at its offset in an otherwise blank device image, is named;
// anything else non-zero in the first or last MiB is "holds data: non-zero bytes at offset N";
// an all-zero device (what --size creates) passes. Then the reader, through a real Device.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LB_BYTES } from '../../src/constants.js';
import { describeContent, PROBE_REGION_BYTES, probeDeviceContent, type ProbeRegion } from '../../src/devices/content_probe.js';
import type { Device } from '../../src/devices/device.js';
import { DeviceIoError } from '../../src/errors.js';
import { openDevice } from '../../src/devices/open_device.js';

const MIB = 2 ** 20;
const DEVICE_BYTES = 24 * MIB;

/** The first and last MiB of a blank device of DEVICE_BYTES with `bytes` written at `offset`. */
function regionsWith(offset: number, bytes: Uint8Array | number[], deviceBytes = DEVICE_BYTES): ProbeRegion[] {
  const head = Buffer.alloc(Math.min(PROBE_REGION_BYTES, deviceBytes));
  const tailOffset = Math.max(0, deviceBytes - PROBE_REGION_BYTES);
  const tail = Buffer.alloc(deviceBytes - tailOffset);
  const data = Buffer.from(bytes as Uint8Array);
  for (const [region, start] of [[head, 0], [tail, tailOffset]] as const) {
    for (let i = 0; i < data.length; i++) {
      const at = offset + i - start;
      if (at >= 0 && at < region.length) region[at] = data[i]!;
    }
  }
  return [
    { bytes: head, offsetBytes: 0 },
    { bytes: tail, offsetBytes: tailOffset },
  ];
}

const ascii = (text: string) => Buffer.from(text, 'latin1');
const u32le = (value: number) => {
  const bytes = Buffer.alloc(4);
  bytes.writeUInt32LE(value >>> 0);
  return bytes;
};
function mbrWithPartition(): Buffer {
  const sector = Buffer.alloc(512);
  sector[446 + 4] = 0x83; // a Linux partition in entry 0
  sector.writeUInt32LE(2048, 446 + 8);
  sector.writeUInt32LE(4096, 446 + 12);
  sector[510] = 0x55;
  sector[511] = 0xaa;
  return sector;
}

/** md 0.90 keeps its superblock 64 KiB below the device size rounded down to 64 KiB. */
const md090Offset = (deviceBytes: number) => Math.floor(deviceBytes / 65536) * 65536 - 65536;

describe('describeContent', () => {
  it('passes an all-zero device', () => {
    expect(describeContent(regionsWith(0, []), DEVICE_BYTES)).toBeUndefined();
  });

  it.each([
    ['ext2/3/4', 1080, [0x53, 0xef], /ext2\/3\/4 file system/],
    ['xfs', 0, ascii('XFSB'), /XFS file system/],
    ['btrfs', 65600, ascii('_BHRfS_M'), /btrfs file system/],
    ['swap (new style)', 4096 - 10, ascii('SWAPSPACE2'), /swap space/],
    ['swap (old style)', 4096 - 10, ascii('SWAP-SPACE'), /swap space/],
    ['swap on 64 KiB pages', 65536 - 10, ascii('SWAPSPACE2'), /swap space/],
    ['LUKS', 0, [...ascii('LUKS'), 0xba, 0xbe], /LUKS/],
    ['LVM2 in sector 1', 512, ascii('LABELONE'), /LVM2 physical volume/],
    ['LVM2 in sector 3', 1536, ascii('LABELONE'), /LVM2 physical volume/],
    ['md 1.2', 4096, u32le(0xa92b4efc), /md RAID member \(superblock 1\.2\)/],
    ['md 1.1', 0, u32le(0xa92b4efc), /md RAID member \(superblock 1\.1\)/],
    ['md 0.90', md090Offset(DEVICE_BYTES), u32le(0xa92b4efc), /md RAID member \(superblock 0\.90\)/],
    ['md 1.0', DEVICE_BYTES - 8192, u32le(0xa92b4efc), /md RAID member \(superblock 1\.0\)/],
    ['GPT', 512, ascii('EFI PART'), /GPT partition table/],
    ['an MBR with a partition', 0, mbrWithPartition(), /MBR partition table/],
    ['tar', 257, ascii('ustar'), /tar archive/],
    ['gzip', 0, [0x1f, 0x8b, 0x08], /gzip/],
    ['zip', 0, [...ascii('PK'), 3, 4], /zip/],
    ['SQLite', 0, ascii('SQLite format 3\0'), /SQLite database/],
    ['ISO 9660', 32769, ascii('CD001'), /ISO 9660/],
    ['NTFS', 3, ascii('NTFS    '), /NTFS/],
  ] as const)('names %s', (_label, offset, bytes, expected) => {
    const found = describeContent(regionsWith(offset, bytes as unknown as number[]), DEVICE_BYTES);
    expect(found).toMatch(expected);
  });

  it('finds md 0.90 at the end of a device whose size is not a multiple of 64 KiB', () => {
    const deviceBytes = DEVICE_BYTES + 5 * LB_BYTES;
    expect(describeContent(regionsWith(md090Offset(deviceBytes), u32le(0xa92b4efc), deviceBytes), deviceBytes)).toMatch(/0\.90/);
  });

  it('does not call an MBR signature without partitions a partition table, but still data', () => {
    const sector = Buffer.alloc(512);
    sector[510] = 0x55;
    sector[511] = 0xaa;
    expect(describeContent(regionsWith(0, sector), DEVICE_BYTES)).toBe('holds data: non-zero bytes at offset 510');
  });

  it.each([
    ['the first byte', 0],
    ['the last byte of the first MiB', MIB - 1],
    ['the first byte of the last MiB', DEVICE_BYTES - MIB],
    ['the last byte', DEVICE_BYTES - 1],
  ])('reports any other non-zero byte: %s', (_label, offset) => {
    expect(describeContent(regionsWith(offset, [0x01]), DEVICE_BYTES)).toBe(`holds data: non-zero bytes at offset ${offset}`);
  });

  it('prefers a named signature at the end over unknown bytes at the start', () => {
    const regions = regionsWith(md090Offset(DEVICE_BYTES), u32le(0xa92b4efc));
    regions[0]!.bytes[100] = 7;
    expect(describeContent(regions, DEVICE_BYTES)).toMatch(/md RAID member/);
  });

  it('looks only at the first and last MiB (the middle is not read)', () => {
    expect(describeContent(regionsWith(5 * MIB, [0xff]), DEVICE_BYTES)).toBeUndefined();
  });
});

describe('probeDeviceContent through a Device', () => {
  const dir = mkdtempSync(join(tmpdir(), 'elastripe-probe-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** `failEvery`: every that-many reads fail once with EIO first (a flaky device). */
  async function probeFile(name: string, content: (image: Buffer) => void, scratchBytes = LB_BYTES, failEvery = 0): Promise<string | undefined> {
    const path = join(dir, name);
    const image = Buffer.alloc(DEVICE_BYTES);
    content(image);
    writeFileSync(path, image);
    const device = await openDevice(path, { backend: 'fs' });
    let reads = 0;
    const flaky: Device = Object.create(device, {
      read: {
        value: (extents: Parameters<Device['read']>[0], buffers: Parameters<Device['read']>[1]) => {
          reads += 1;
          if (failEvery > 0 && reads % failEvery === 0) return Promise.reject(new DeviceIoError(path, 'read', extents[0]!.startLb * LB_BYTES, 5));
          return device.read(extents, buffers);
        },
      },
    });
    try {
      // The fs backend takes any buffer; an arena buffer is what O_DIRECT backends need.
      return await probeDeviceContent(flaky, new Uint8Array(scratchBytes));
    } finally {
      await device.close();
    }
  }

  it('reads a blank image as blank, and finds bytes at both ends with a small or a large scratch buffer', async () => {
    expect(await probeFile('blank.img', () => undefined)).toBeUndefined();
    for (const scratchBytes of [LB_BYTES, 256 * 1024]) {
      expect(await probeFile('tail.img', (image) => (image[DEVICE_BYTES - 3] = 9), scratchBytes)).toBe(`holds data: non-zero bytes at offset ${DEVICE_BYTES - 3}`);
      expect(await probeFile('ext.img', (image) => image.writeUInt16LE(0xef53, 1080), scratchBytes)).toMatch(/ext2\/3\/4/);
    }
  });

  it('retries a read that fails once (a flaky device does not fail a create)', async () => {
    expect(await probeFile('flaky.img', (image) => (image[DEVICE_BYTES - 1] = 1), 256 * 1024, 2)).toBe(`holds data: non-zero bytes at offset ${DEVICE_BYTES - 1}`);
    expect(await probeFile('flaky-blank.img', () => undefined, 256 * 1024, 2)).toBeUndefined();
  });
});
