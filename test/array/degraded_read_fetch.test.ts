// A degraded read fetches only the k blocks a rebuild needs (issue 10): the data blocks plus
// one parity row per lost data block, P first; never the whole group. Counted on the devices:
// every device is a FaultyDevice (real image files underneath) that counts the extents it reads.
import { mkdirSync } from 'node:fs';
import { beforeEach, describe, expect, it } from 'vitest';
import { DiskArray } from '../../src/array/disk_array.js';
import { blocksToFetch } from '../../src/array/read_path.js';
import type { CreateOptions, GroupInfo } from '../../src/array/types.js';
import type { DeviceExtent } from '../../src/devices/device.js';
import { createImageFile, openDevice } from '../../src/devices/open_device.js';
import { FaultyDevice } from '../sim/faulty_device.js';
import { MIB, patternBytes, TEST_RUNTIME, useArraySuite } from '../helpers/temp_array.js';

/** A faulty device that also counts the extents read from it. */
class CountingDevice extends FaultyDevice {
  extentsRead = 0;
  override async read(extents: readonly DeviceExtent[], buffers: readonly Uint8Array[]): Promise<void> {
    this.extentsRead += extents.length;
    return super.read(extents, buffers);
  }
}

const suite = useArraySuite();
let devices: CountingDevice[];
beforeEach(() => {
  devices = [];
});

/** An array on `count` image files opened as CountingDevices; devices[i] has deviceId i + 1. */
async function createCounting(count: number, options: Partial<CreateOptions>): Promise<DiskArray> {
  const home = suite.dir.file('home');
  mkdirSync(home);
  const paths = Array.from({ length: count }, (_, i) => suite.dir.file(`dev${i}.img`));
  for (const path of paths) await createImageFile(path, 64 * MIB);
  const array = await DiskArray.create({
    ...TEST_RUNTIME,
    home,
    devices: paths,
    ...options,
    openDevice: async (path, openOptions) => {
      const device = new CountingDevice(await openDevice(path, openOptions), { seed: 11 + devices.length });
      devices.push(device);
      return device;
    },
  });
  suite.array = array;
  devices = devices.slice(-count); // create opens the devices more than once; the open array holds the last ones
  return array;
}

function deviceOf(group: GroupInfo, role: 'data' | 'parity', index: number): CountingDevice {
  const extent = group.extents.find((candidate) => candidate.role === role && candidate.index === index)!;
  return devices[extent.deviceId - 1]!;
}

function resetCounts(): void {
  for (const device of devices) device.extentsRead = 0;
}

function totalRead(): number {
  return devices.reduce((sum, device) => sum + device.extentsRead, 0);
}

describe('degraded reads fetch only the blocks the rebuild needs', () => {
  it('blocksToFetch: the unread data blocks, then one surviving parity row per lost data block, P first', () => {
    expect(blocksToFetch(4, 2, new Set([0, 1, 2, 3]), new Set([1]))).toEqual([4]);
    expect(blocksToFetch(4, 2, new Set([1]), new Set([1]))).toEqual([0, 2, 3, 4]);
    expect(blocksToFetch(4, 2, new Set([0, 1, 2, 3, 4]), new Set([1, 4]))).toEqual([5]);
    expect(blocksToFetch(4, 3, new Set([0, 1]), new Set([0, 1]))).toEqual([2, 3, 4, 5]);
    expect(blocksToFetch(4, 2, new Set([5]), new Set([5]))).toEqual([0, 1, 2, 3]); // a lost parity block: from the data alone
    expect(blocksToFetch(4, 2, new Set([0, 1, 2, 3, 4]), new Set())).toEqual([]);
  });

  it('4+2 with a data device pulled: k reads per group (3 data + P), Q never read, bytes intact', async () => {
    const array = await createCounting(6, { parityCount: 2, maxDataWidth: 4 });
    const content = patternBytes(3 * MIB + 5, 21);
    await array.put('file', content);
    const groups = array.stat('file').groups;
    expect(groups.every((group) => group.dataCount === 4 && group.parityCount === 2)).toBe(true);
    // Every group spans all 6 devices; pull the one holding data block 1 of the first group.
    const pulled = deviceOf(groups[0]!, 'data', 1);
    pulled.pull();
    resetCounts();
    expect((await array.get('file')).equals(content)).toBe(true);
    for (const group of groups) expect(deviceOf(group, 'parity', 1).extentsRead).toBe(0);
    expect(pulled.extentsRead).toBe(0);
    const lostData = groups.filter((group) => group.extents.some((extent) => extent.role === 'data' && devices[extent.deviceId - 1] === pulled)).length;
    const lostParity = groups.length - lostData;
    // a group that lost data: 3 data + P; a group that lost only a parity block: its 4 data blocks
    expect(totalRead()).toBe(groups.length * 4);
    expect(lostData + lostParity).toBe(groups.length);
    expect(array.status().degradedReads).toBeGreaterThanOrEqual(lostData);
    array.assertInvariants();
  });

  it('4+2 with bit rot in one data block and EIO on P: reads widen to Q, never beyond k + the bad ones', async () => {
    const array = await createCounting(6, { parityCount: 2, maxDataWidth: 4 });
    const content = patternBytes(700 * 1024, 22);
    await array.put('one-group', content);
    const [group] = array.stat('one-group').groups;
    expect(group!.dataCount).toBe(4);
    deviceOf(group!, 'data', 2).plan.readCorruptRate = 1;
    deviceOf(group!, 'parity', 0).plan.readErrorRate = 1;
    resetCounts();
    expect((await array.get('one-group')).equals(content)).toBe(true);
    // 4 data (one corrupt) + P (3 attempts: EIO is retried) + Q: 5 reads that count, P's retries aside
    expect(deviceOf(group!, 'parity', 0).extentsRead).toBe(3);
    expect(deviceOf(group!, 'parity', 1).extentsRead).toBe(1);
    expect(totalRead()).toBe(4 + 3 + 1);
    // both bad blocks (the rotten one and P, whose device is still online) were rebuilt and rewritten
    deviceOf(group!, 'data', 2).plan.readCorruptRate = 0;
    deviceOf(group!, 'parity', 0).plan.readErrorRate = 0;
    expect(array.status().repairedBlocks).toBe(2);
    resetCounts();
    expect((await array.get('one-group')).equals(content)).toBe(true);
    expect(totalRead()).toBe(4);
  });

  it('a ranged read inside one data block that is lost reads k blocks, not k + m', async () => {
    const array = await createCounting(6, { parityCount: 2, maxDataWidth: 4 });
    const content = patternBytes(2 * MIB, 23);
    await array.put('ranged', content);
    const [group] = array.stat('ranged').groups;
    const extentBytes = group!.extentLb * 4096;
    deviceOf(group!, 'data', 3).pull();
    resetCounts();
    const slice = await array.get('ranged', { offset: 3 * extentBytes + 100, length: 4096 });
    expect(slice.equals(content.subarray(3 * extentBytes + 100, 3 * extentBytes + 100 + 4096))).toBe(true);
    expect(totalRead()).toBe(4);
    expect(deviceOf(group!, 'parity', 1).extentsRead).toBe(0);
  });

  it('a rebuild with m = 2 spares the busier survivor, and reads it after all when a chosen one is corrupt', async () => {
    const array = await createCounting(6, { parityCount: 2, maxDataWidth: 2, extentLbMax: 16 });
    const files = new Map<string, Buffer>();
    for (let i = 0; i < 6; i++) {
      const content = patternBytes(MIB + i * 777, 40 + i);
      await array.put(`f${i}`, content);
      files.set(`f${i}`, content);
    }
    const lostId = 2;
    const rottenId = 5;
    const groups = [...files.keys()].flatMap((name) => array.stat(name).groups).map((group) => group.extents.map((extent) => extent.deviceId));
    const lostBlocks = groups.filter((ids) => ids.includes(lostId)).length;
    const withRotten = groups.filter((ids) => ids.includes(lostId) && ids.includes(rottenId)).length;
    expect(withRotten).toBeGreaterThan(4);
    await array.failDevice(lostId);
    devices[rottenId - 1]!.plan.readCorruptRate = 1;
    resetCounts();
    const report = await array.rebuild();
    devices[rottenId - 1]!.plan.readCorruptRate = 0;
    expect(report.problems).toEqual([]);
    expect(report.movedBlocks).toBe(lostBlocks);
    // k = 2 reads per lost block, plus one for each group whose chosen survivor was the rotten
    // one (its spared survivor is read after all); a group that spared the rotten one never read it.
    const reads = Object.values(report.blocksReadByDevice).reduce((sum, n) => sum + n, 0);
    const rottenReads = report.blocksReadByDevice[rottenId] ?? 0;
    expect(rottenReads).toBeGreaterThan(0);
    expect(rottenReads).toBeLessThan(withRotten);
    expect(reads).toBe(2 * lostBlocks + rottenReads);
    expect(totalRead()).toBe(reads);
    for (const [name, content] of files) expect((await array.get(name)).equals(content), name).toBe(true);
    array.assertInvariants();
    expect((await array.fsck({ deep: true })).problems).toEqual([]);
  });
});

