// In-place combine after growth: narrow groups become wider ones while their data extents stay
// where they are; only blocks the distinct-devices rule forces move, and the bytes written are
// the new parity plus those blocks, not the file.
import { describe, expect, it } from 'vitest';
import { LB_BYTES } from '../../src/constants.js';
import { createTempArray, MIB, patternBytes, useArraySuite } from '../helpers/temp_array.js';

const suite = useArraySuite();
const EXTENT_LB = 16;
const EXTENT_BYTES = EXTENT_LB * LB_BYTES;

function dataPlaces(array: NonNullable<typeof suite.array>, name: string): string[] {
  return array.stat(name).groups.flatMap((group) => group.extents.filter((extent) => extent.role === 'data').map((extent) => `${extent.deviceId}:${extent.startLb}`));
}

describe('combine groups in place (expand)', () => {
  it('keeps data extents where they are and writes about parity + moved blocks', async () => {
    ({ array: suite.array } = await createTempArray(suite.dir, { deviceCount: 4, parityCount: 1, extentLbMax: EXTENT_LB }));
    const array = suite.array;
    // 24 full groups of 3 data blocks each, then a few odd sizes.
    const files = new Map([
      ['big', patternBytes(72 * EXTENT_BYTES, 1)],
      ['odd', patternBytes(12 * EXTENT_BYTES + 777, 2)],
      ['tiny', patternBytes(5, 3)],
    ]);
    for (const [name, content] of files) await array.put(name, content);
    expect(array.stat('big').groups.every((group) => group.dataCount === 3)).toBe(true);
    const before = new Map([...files.keys()].map((name) => [name, dataPlaces(array, name)]));
    const allocatedBefore = array.status().allocatedBytes;

    await array.addDevice(suite.dir.file('new.img'), { createSizeBytes: 64 * MIB, expand: false });
    array.assertInvariants();
    const phases = new Set<string>();
    const report = await array.expand({ onProgress: (progress) => phases.add(progress.phase ?? '') });
    array.assertInvariants();
    expect(report.problems).toEqual([]);
    expect(phases.has('combine')).toBe(true);

    const groups = array.stat('big').groups;
    expect(groups.length).toBe(18);
    expect(groups.every((group) => group.dataCount === 4)).toBe(true);
    // Every data block of 'big' is still at its address unless the combine reports it moved.
    const after = dataPlaces(array, 'big');
    const survived = before.get('big')!.filter((place) => after.includes(place)).length;
    expect(after.length).toBe(before.get('big')!.length);
    // A file's data continues round the devices from group to group (write_path rotationFor),
    // so every run of 4 consecutive blocks is on 4 distinct devices: nothing has to move.
    expect(report.combine.movedBlocks).toBe(0);
    expect(survived).toBe(before.get('big')!.length);
    for (const name of ['odd', 'tiny']) expect(dataPlaces(array, name).filter((place) => before.get(name)!.includes(place)).length, name).toBe(before.get(name)!.length);
    // Written = new parity + moved blocks; read = the data once.
    expect(report.combine.writtenBytes).toBe((report.combine.newGroups + report.combine.movedBlocks) * EXTENT_BYTES);
    // Only the new parity: one extent per 4 data extents.
    expect(report.combine.writtenBytes).toBeLessThanOrEqual(0.26 * report.combine.storedBytes);
    expect(report.combine.savedBytes).toBeGreaterThan(0);
    // Nothing moved on by the rebalance: the combined groups span every device already.
    expect(report.usageSpread).toBeLessThanOrEqual(0.02);
    expect(report.balanced).toBe(true);
    for (const [name, content] of files) expect((await array.get(name)).equals(content), name).toBe(true);
    const deep = await array.fsck({ deep: true });
    expect(deep.problems).toEqual([]);
    // Old parity is freed once the commit is durable and no reader holds it.
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(array.status().allocatedBytes).toBe(allocatedBefore - report.combine.savedBytes + 0 * report.rebalance.movedBytes);
    array.assertInvariants();
    // Nothing left to do: a second expand combines nothing.
    const again = await array.expand();
    expect(again.combine.combinedGroups).toBe(0);
  });

  it('moves exactly the blocks the distinct-devices rule forces, onto the new devices, and nothing else', async () => {
    ({ array: suite.array } = await createTempArray(suite.dir, { deviceCount: 3, parityCount: 1, extentLbMax: EXTENT_LB }));
    const array = suite.array;
    // 2+1 groups over 3 devices: 4 consecutive blocks always repeat a device.
    const content = patternBytes(48 * EXTENT_BYTES, 9);
    await array.put('wide', content);
    const before = dataPlaces(array, 'wide');
    await array.addDevice(suite.dir.file('n1.img'), { createSizeBytes: 64 * MIB, expand: false });
    await array.addDevice(suite.dir.file('n2.img'), { createSizeBytes: 64 * MIB, expand: false });
    const report = await array.expand();
    expect(report.problems).toEqual([]);
    expect(array.stat('wide').groups.every((group) => group.dataCount === 4)).toBe(true);
    expect(report.combine.newGroups).toBe(12);
    expect(report.combine.movedBlocks).toBeGreaterThanOrEqual(12);
    const after = array.stat('wide').groups.flatMap((group) => group.extents.filter((extent) => extent.role === 'data'));
    const survived = after.filter((extent) => before.includes(`${extent.deviceId}:${extent.startLb}`));
    expect(survived.length).toBe(before.length - report.combine.movedBlocks);
    // Every moved block went to a new device.
    expect(after.filter((extent) => !before.includes(`${extent.deviceId}:${extent.startLb}`)).every((extent) => extent.deviceId >= 4)).toBe(true);
    expect(report.combine.writtenBytes).toBe((report.combine.newGroups + report.combine.movedBlocks) * EXTENT_BYTES);
    expect(report.combine.readBytes).toBe(48 * EXTENT_BYTES);
    expect((await array.get('wide')).equals(content)).toBe(true);
    array.assertInvariants();
    expect((await array.fsck({ deep: true })).problems).toEqual([]);
  });

  it('batches its units like the movers: one flush per device written and one metadata commit per batch', async () => {
    ({ array: suite.array } = await createTempArray(suite.dir, { deviceCount: 4, parityCount: 1, extentLbMax: EXTENT_LB }));
    const array = suite.array;
    // 24 files of 12 blocks: each is one unit (4 groups of 3 become 3 groups of 4).
    const files = new Map<string, Buffer>();
    for (let i = 0; i < 24; i++) files.set(`f${i}`, patternBytes(12 * EXTENT_BYTES, 50 + i));
    for (const [name, content] of files) await array.put(name, content);
    const allocatedBefore = array.status().allocatedBytes;
    await array.addDevice(suite.dir.file('new.img'), { createSizeBytes: 64 * MIB, expand: false });
    const report = await array.expand();
    expect(report.problems).toEqual([]);
    const units = files.size;
    expect(report.combine.combinedGroups).toBe(4 * units);
    expect(report.combine.newGroups).toBe(3 * units);
    // Several units per batch, each batch one commit and at most one flush per device.
    expect(report.combine.batches).toBeGreaterThan(1);
    expect(report.combine.batches).toBeLessThanOrEqual(units / 2);
    expect(report.combine.commits).toBe(report.combine.batches);
    expect(report.combine.flushes).toBeLessThanOrEqual(5 * report.combine.batches);
    for (const [name, content] of files) {
      expect(array.stat(name).groups.every((group) => group.dataCount === 4), name).toBe(true);
      expect((await array.get(name)).equals(content), name).toBe(true);
    }
    array.assertInvariants();
    expect((await array.fsck({ deep: true })).problems).toEqual([]);
    // The old parity of every unit is freed (once unread), nothing else leaks.
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(array.status().allocatedBytes).toBe(allocatedBefore - report.combine.savedBytes);
  });
});

