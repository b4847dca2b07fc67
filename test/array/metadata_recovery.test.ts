// Reading a device's journal for open: records the home already holds are verified by their
// checksums but not decoded (readDeviceJournal's decodeAfterSeq), and that must neither change
// where the device's history ends nor let a damaged record through.
import { closeSync, openSync, readSync, writeSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { LB_BYTES } from '../../src/constants.js';
import { DelegatingDevice } from '../../src/devices/delegating_device.js';
import type { Device, DeviceExtent } from '../../src/devices/device.js';
import { openDevice } from '../../src/devices/open_device.js';
import { DeviceIoError } from '../../src/errors.js';
import { Arena } from '../../src/kernels/arena.js';
import { MetaStore } from '../../src/meta/meta_store.js';
import { HEADER_BYTES } from '../../src/meta/journal_format.js';
import { readDeviceJournal } from '../../src/array/metadata_recovery.js';
import { metadataLayoutOf, readSettings } from '../../src/array/settings.js';
import { createTempArray, MIB, patternBytes, useArraySuite } from '../helpers/temp_array.js';

const suite = useArraySuite();

/** Fails every read that covers `badLb` (EIO), as a bad sector would. */
class BadSectorDevice extends DelegatingDevice {
  badReads = 0;
  constructor(inner: Device, private readonly badLb: number) {
    super(inner);
  }
  override read(extents: readonly DeviceExtent[], buffers: readonly Uint8Array[]): Promise<void> {
    if (extents.some((extent) => extent.startLb <= this.badLb && this.badLb < extent.startLb + extent.lengthLb)) {
      this.badReads++;
      return Promise.reject(new DeviceIoError(this.path, 'read', this.badLb * LB_BYTES, 5));
    }
    return super.read(extents, buffers);
  }
}

describe('readDeviceJournal with decodeAfterSeq', () => {
  it('decodes only the records past the known change set, ends where a full read ends, and still stops at a damaged record', async () => {
    const { array, devices, home } = await createTempArray(suite.dir, { deviceCount: 4 });
    for (let i = 0; i < 12; i++) await array.put(`f${i}`, patternBytes(1000 + i * 5000, i));
    await array.close();
    const store = MetaStore.open(home, { create: false });
    const settings = readSettings(store);
    store.close();
    const layout = metadataLayoutOf(settings);
    const arena = new Arena({ capacityBytes: 16 * MIB });
    const device = await openDevice(devices[0]!, { backend: 'fs' });
    try {
      const full = await readDeviceJournal(device, layout, settings.arrayUuid, arena);
      expect(full.checkpoint).toBeDefined();
      expect(full.records.length).toBeGreaterThan(4);
      const seqs = full.records.map((set) => set.seq);
      const known = seqs[Math.floor(seqs.length / 2)]!;
      const partial = await readDeviceJournal(device, layout, settings.arrayUuid, arena, known);
      // Same history end and ring position as the full read.
      expect({ lastSeq: partial.lastSeq, headLb: partial.headLb, usedLb: partial.usedLb }).toEqual({ lastSeq: full.lastSeq, headLb: full.headLb, usedLb: full.usedLb });
      // Every change set past `known` is there, in order, and nothing from a record wholly at or below it.
      const partialSeqs = partial.records.map((set) => set.seq);
      expect(partialSeqs).toEqual(seqs.slice(seqs.indexOf(partialSeqs[0]!)));
      expect(partialSeqs[0]!).toBeLessThanOrEqual(known + 1);
      expect(partialSeqs.length).toBeLessThan(seqs.length);
      expect(partial.records).toEqual(full.records.slice(seqs.indexOf(partialSeqs[0]!)));
      const none = await readDeviceJournal(device, layout, settings.arrayUuid, arena, full.lastSeq);
      expect(none.records).toEqual([]);
      expect(none.lastSeq).toBe(full.lastSeq);

      // A flipped payload byte in the first record (one that is not decoded) still ends the history there.
      const firstRecordBytes = (layout.regionStartLb + full.checkpoint!.ringHeadLb) * LB_BYTES;
      const fd = openSync(devices[0]!, 'r+');
      try {
        const original = Buffer.alloc(1);
        readSync(fd, original, 0, 1, firstRecordBytes + HEADER_BYTES);
        writeSync(fd, Buffer.from([original[0]! ^ 0xff]), 0, 1, firstRecordBytes + HEADER_BYTES);
      } finally {
        closeSync(fd);
      }
      const damaged = await readDeviceJournal(device, layout, settings.arrayUuid, arena, full.lastSeq);
      expect(damaged.lastSeq).toBe(full.checkpoint!.seq);
      expect(damaged.records).toEqual([]);
    } finally {
      await device.close();
    }
  });

  it('reads the ring a window at a time, and a bad LB past the last record costs no record', async () => {
    const { array, devices, home } = await createTempArray(suite.dir, { deviceCount: 4 });
    for (let i = 0; i < 6; i++) await array.put(`f${i}`, patternBytes(2000 + i * 3000, i));
    await array.close();
    const store = MetaStore.open(home, { create: false });
    const settings = readSettings(store);
    store.close();
    const layout = metadataLayoutOf(settings);
    const arena = new Arena({ capacityBytes: 16 * MIB });
    const device = await openDevice(devices[1]!, { backend: 'fs' });
    try {
      const full = await readDeviceJournal(device, layout, settings.arrayUuid, arena);
      expect(full.usedLb).toBeGreaterThan(0);
      // One LB after the last record (the scan's first window covers it): the window read fails,
      // the scan reads just the records, and finds the same history.
      const headLb = (full.checkpoint!.ringHeadLb + full.usedLb) % layout.ringLb;
      const bad = new BadSectorDevice(device, layout.regionStartLb + headLb + 1);
      const scanned = await readDeviceJournal(bad, layout, settings.arrayUuid, arena);
      expect(bad.badReads).toBeGreaterThan(0);
      expect({ lastSeq: scanned.lastSeq, headLb: scanned.headLb, usedLb: scanned.usedLb }).toEqual({ lastSeq: full.lastSeq, headLb: full.headLb, usedLb: full.usedLb });
      expect(scanned.records).toEqual(full.records);
    } finally {
      await device.close();
    }
  });
});
