// Scrub: read everything, verify checksums and parity, rewrite what parity rebuilt.
import { closeSync, openSync, writeSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { LB_BYTES } from '../../src/constants.js';
import { createTempArray, MIB, patternBytes, useArraySuite } from '../helpers/temp_array.js';

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
    const controller = new AbortController();
    controller.abort();
    await expect(suite.array.scrub({ signal: controller.signal })).rejects.toMatchObject({ code: 'ABORTED' });
  });
});
