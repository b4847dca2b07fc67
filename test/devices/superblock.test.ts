// Superblocks: encoding round trip, corruption detection, backup recovery, foreign arrays.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { LB_BYTES } from '../../src/constants.js';
import { CorruptMetadataError, ForeignDeviceError, InvalidArgumentError } from '../../src/errors.js';
import type { Device } from '../../src/devices/device.js';
import { createImageFile } from '../../src/devices/open_device.js';
import { openFsDevice } from '../../src/devices/fs_device.js';
import {
  SUPERBLOCK_BYTES,
  chooseSuperblock,
  claimDevice,
  dataRangeLb,
  decodeSuperblock,
  encodeSuperblock,
  newSuperblock,
  readSuperblocks,
  writeSuperblocks,
} from '../../src/devices/superblock.js';

let directory = '';
const opened: Device[] = [];
beforeAll(() => { directory = mkdtempSync(join(tmpdir(), 'elastripe-sb-')); });
afterEach(async () => { for (const device of opened.splice(0)) await device.close(); });
afterAll(() => rmSync(directory, { recursive: true, force: true }));

/** An LB-aligned scratch LB, as the arena would hand out. */
function scratch(): Uint8Array {
  return new Uint8Array(new SharedArrayBuffer(SUPERBLOCK_BYTES));
}

async function freshDevice(name: string, sizeBytes = 1024 * LB_BYTES): Promise<Device> {
  const path = join(directory, name);
  await createImageFile(path, sizeBytes);
  const device = await openFsDevice(path);
  opened.push(device);
  return device;
}

const sample = newSuperblock({ arrayUuid: randomUUID(), deviceId: 7, capacityBytes: 1024 * LB_BYTES, createdTimeMs: 1_700_000_000_123 });

describe('superblock encoding', () => {
  it('round-trips every field', () => {
    const bytes = scratch();
    encodeSuperblock(sample, bytes);
    expect(Buffer.from(bytes.subarray(0, 8)).toString()).toBe('ELSTRIPE');
    expect(decodeSuperblock(bytes)).toEqual(sample);
  });

  it('returns null for a blank block and for foreign data without magic', () => {
    expect(decodeSuperblock(new Uint8Array(SUPERBLOCK_BYTES))).toBeNull();
    expect(decodeSuperblock(new Uint8Array(SUPERBLOCK_BYTES).fill(0x5a))).toBeNull();
  });

  it('detects a flipped byte anywhere after the magic', () => {
    const bytes = scratch();
    encodeSuperblock(sample, bytes);
    for (const offset of [8, 20, 48, 57, 64, 100, 2000, 4063, 4064, 4095]) {
      const damaged = Uint8Array.from(bytes);
      damaged[offset]! ^= 0x01;
      expect(() => decodeSuperblock(damaged), `offset ${offset}`).toThrow(CorruptMetadataError);
    }
  });

  it('refuses invalid fields and wrong buffer sizes', () => {
    expect(() => encodeSuperblock({ ...sample, arrayUuid: 'nope' }, scratch())).toThrow(InvalidArgumentError);
    expect(() => encodeSuperblock({ ...sample, capacityBytes: 1000 }, scratch())).toThrow(InvalidArgumentError);
    expect(() => encodeSuperblock(sample, new Uint8Array(512))).toThrow(InvalidArgumentError);
  });

  it('names the data range between the two copies', () => {
    expect(dataRangeLb(1024 * LB_BYTES)).toEqual({ startLb: 1, endLb: 1023 });
  });
});

describe('superblocks on a device', () => {
  it('writes both copies and reads them back', async () => {
    const device = await freshDevice('both.img');
    await writeSuperblocks(device, sample, scratch());
    const copies = await readSuperblocks(device, scratch());
    expect(copies.primary).toEqual(sample);
    expect(copies.backup).toEqual(sample);
    // The backup sits in the very last LB.
    const last = new Uint8Array(LB_BYTES);
    await device.read([{ startLb: 1023, lengthLb: 1 }], [last]);
    expect(decodeSuperblock(last)).toEqual(sample);
  });

  it('uses the backup when the primary is destroyed or damaged', async () => {
    const device = await freshDevice('backup.img');
    await writeSuperblocks(device, sample, scratch());
    await device.write([{ startLb: 0, lengthLb: 1 }], [new Uint8Array(LB_BYTES)]);
    let copies = await readSuperblocks(device, scratch());
    expect(copies.primary).toBeNull();
    expect(chooseSuperblock(copies)).toEqual(sample);
    const damaged = scratch();
    encodeSuperblock(sample, damaged);
    damaged[60]! ^= 0xff;
    await device.write([{ startLb: 0, lengthLb: 1 }], [damaged]);
    copies = await readSuperblocks(device, scratch());
    expect(copies.primary).toBeInstanceOf(CorruptMetadataError);
    expect(chooseSuperblock(copies)).toEqual(sample);
    expect(await claimDevice(device, { arrayUuid: sample.arrayUuid }, scratch(), false)).toEqual(sample);
  });

  it('claims a blank device, and a device of the same array', async () => {
    const device = await freshDevice('blank.img');
    expect(await claimDevice(device, { arrayUuid: sample.arrayUuid }, scratch(), false)).toBeNull();
    await writeSuperblocks(device, sample, scratch());
    expect(await claimDevice(device, { arrayUuid: sample.arrayUuid }, scratch(), false)).toEqual(sample);
  });

  it('refuses a device of another array unless forced', async () => {
    const device = await freshDevice('foreign.img');
    await writeSuperblocks(device, sample, scratch());
    const other = randomUUID();
    await expect(claimDevice(device, { arrayUuid: other }, scratch(), false)).rejects.toBeInstanceOf(ForeignDeviceError);
    expect(await claimDevice(device, { arrayUuid: other }, scratch(), true)).toBeNull();
    await writeSuperblocks(device, { ...sample, arrayUuid: other }, scratch());
    expect((await claimDevice(device, { arrayUuid: other }, scratch(), false))?.arrayUuid).toBe(other);
  });

  it('refuses a device whose both copies are damaged unless forced', async () => {
    const device = await freshDevice('ruined.img');
    const damaged = scratch();
    encodeSuperblock(sample, damaged);
    damaged[30]! ^= 0x10;
    await device.write([{ startLb: 0, lengthLb: 1 }, { startLb: 1023, lengthLb: 1 }], [damaged, damaged]);
    await expect(claimDevice(device, { arrayUuid: sample.arrayUuid }, scratch(), false)).rejects.toBeInstanceOf(ForeignDeviceError);
    expect(await claimDevice(device, { arrayUuid: sample.arrayUuid }, scratch(), true)).toBeNull();
  });

  it('finds the backup at the recorded capacity after the device grew', async () => {
    const device = await freshDevice('grown.img', 2048 * LB_BYTES);
    await writeSuperblocks(device, sample, scratch());
    const copies = await readSuperblocks(device, scratch());
    expect(copies.backup).toEqual(sample);
  });
});
