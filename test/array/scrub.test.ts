// Scrub: read everything, verify checksums and parity, rewrite what parity rebuilt.
import { closeSync, openSync, writeSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { LB_BYTES } from '../../src/constants.js';
import { DiskArray } from '../../src/array/disk_array.js';
import { createTempArray, MIB, patternBytes, TEST_RUNTIME, useArraySuite } from '../helpers/temp_array.js';

const suite = useArraySuite();

function rot(devicePath: string, startLb: number): void {
  const fd = openSync(devicePath, 'r+');
  try {
    writeSync(fd, Buffer.from('bit rot'), 0, 7, startLb * LB_BYTES + 1234);
  } finally {
    closeSync(fd);
  }
}

describe('scrub', () => {
  it('finds rotten data and parity blocks, rewrites them from parity, and leaves the array clean', async () => {
    let devices: string[];
    ({ array: suite.array, devices } = await createTempArray(suite.dir, { deviceCount: 5, parityCount: 2, extentLbMax: 16 }));
    const content = patternBytes(3 * MIB, 77);
    const stat = await suite.array.put('scrubbed', content);
    const data = stat.groups[0]!.extents.find((extent) => extent.role === 'data')!;
    const parity = stat.groups[1]!.extents.find((extent) => extent.role === 'parity')!;
    rot(devices[data.deviceId - 1]!, data.startLb);
    rot(devices[parity.deviceId - 1]!, parity.startLb);

    const progress: number[] = [];
    const report = await suite.array.scrub({ onProgress: (p) => progress.push(p.doneBytes) });
    expect(report.repairedBlocks).toBe(2);
    expect(report.problems).toHaveLength(2);
    expect(report.problems.join('\n')).toMatch(/rebuilt from parity and rewritten/);
    expect(report.checkedGroups).toBe(stat.groups.length);
    expect(progress).toHaveLength(stat.groups.length);
    // Everything it found it repaired: the job did its work.
    expect(suite.array.status().jobs[0]).toMatchObject({ kind: 'scrub', state: 'done' });

    const again = await suite.array.scrub();
    expect(again).toMatchObject({ repairedBlocks: 0, problems: [] });
    expect((await suite.array.fsck({ deep: true })).problems).toEqual([]);
    expect((await suite.array.get('scrubbed')).equals(content)).toBe(true);
  });

  it('reports what it cannot repair, and stops at an abort', async () => {
    let devices: string[];
    ({ array: suite.array, devices } = await createTempArray(suite.dir, { deviceCount: 3, parityCount: 1, extentLbMax: 16 }));
    const stat = await suite.array.put('lost', patternBytes(MIB, 78));
    for (const extent of stat.groups[0]!.extents.slice(0, 2)) rot(devices[extent.deviceId - 1]!, extent.startLb);
    const report = await suite.array.scrub();
    expect(report.repairedBlocks).toBe(0);
    expect(report.problems.join('\n')).toMatch(/unreadable blocks|TOO_MANY|rebuilds at most/);
    expect(report.unrepairedProblems).toBeGreaterThan(0);
    // Damage it could not repair: the job is not recorded as done (issue 12 item 11).
    expect(suite.array.status().jobs[0]).toMatchObject({ kind: 'scrub', state: 'incomplete' });
    const controller = new AbortController();
    controller.abort();
    await expect(suite.array.scrub({ signal: controller.signal })).rejects.toMatchObject({ code: 'ABORTED' });
  });

  // Issue 12 item 14: an interrupted scrub restarted from 0%.
  it('continues an aborted or interrupted scrub from the last group it checked, across reopen', async () => {
    let home: string;
    ({ array: suite.array, home } = await createTempArray(suite.dir, { deviceCount: 4, parityCount: 1, extentLbMax: 4 }));
    for (let i = 0; i < 4; i++) await suite.array.put(`f${i}`, patternBytes(MIB, 90 + i));
    const groupCount = suite.array.list().reduce((sum, file) => sum + file.groupCount, 0);
    expect(groupCount).toBeGreaterThan(20);
    const controller = new AbortController();
    let seen = 0;
    await expect(suite.array.scrub({ signal: controller.signal, onProgress: () => ++seen === 10 && controller.abort() })).rejects.toMatchObject({ code: 'ABORTED' });
    const aborted = suite.array.status().jobs[0]!;
    expect(aborted).toMatchObject({ kind: 'scrub', state: 'aborted' });
    const cursor = aborted.progress!.lastGroupId!;
    expect(cursor).toBeGreaterThan(0);
    await suite.array.close();
    suite.array = await DiskArray.open(home, TEST_RUNTIME);

    const progress: number[] = [];
    const resumed = await suite.array.scrub({ onProgress: (p) => progress.push(p.doneBytes / p.totalBytes!) });
    expect(resumed.resumedAfterGroupId).toBe(cursor);
    expect(resumed.checkedGroups).toBe(groupCount - 10);
    expect(progress[0]).toBeGreaterThanOrEqual(9 / groupCount); // continues where it stopped, not from 0%
    expect(progress.at(-1)).toBe(1);
    expect(suite.array.status().jobs[0]).toMatchObject({ kind: 'scrub', state: 'done' });
    // After a scrub that finished, the next one checks everything again.
    const full = await suite.array.scrub();
    expect(full.resumedAfterGroupId).toBeUndefined();
    expect(full.checkedGroups).toBe(groupCount);
  });
});
