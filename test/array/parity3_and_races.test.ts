// Parity 3 end to end (three devices lost at once, degraded reads, rebuild) and concurrent puts
// and deletes of one name: whatever order they commit in, the name ends as one whole version
// or absent, and no space leaks.
import { describe, expect, it } from 'vitest';
import { createTempArray, MIB, patternBytes, useArraySuite } from '../helpers/temp_array.js';

const suite = useArraySuite();

describe('parity 3', () => {
  it('reads every file with three devices failed, rebuilds them away, and fscks clean', async () => {
    const { array } = await createTempArray(suite.dir, { deviceCount: 7, parityCount: 3 });
    suite.array = array;
    const files = new Map([0, 1, 2, 3].map((i) => [`p3-${i}`, patternBytes(2 * MIB + i * 12345, 300 + i)]));
    for (const [name, content] of files) await array.put(name, content);
    expect(array.stat('p3-0').groups[0]!.parityCount).toBe(3);
    for (const deviceId of [1, 4, 6]) await array.failDevice(deviceId);
    await expect(array.failDevice(2)).rejects.toMatchObject({ code: 'TOO_MANY_ERASURES' });
    for (const [name, content] of files) expect((await array.get(name)).equals(content), name).toBe(true);
    expect(array.status().degradedReads).toBeGreaterThan(0);
    const report = await array.rebuild();
    expect(report.problems).toEqual([]);
    expect(report.removedDeviceIds.sort()).toEqual([1, 4, 6]);
    for (const [name, content] of files) expect((await array.get(name)).equals(content), name).toBe(true);
    array.assertInvariants();
    expect((await array.fsck({ deep: true })).problems).toEqual([]);
  });
});

describe('concurrent puts and deletes of one name', () => {
  it('end with one whole version or none, and leak nothing', async () => {
    const { array } = await createTempArray(suite.dir, { deviceCount: 4 });
    suite.array = array;
    const versions = Array.from({ length: 12 }, (_, i) => patternBytes(300_000 + i * 50_001, 700 + i));
    const operations = versions.flatMap((content, i) => [
      array.put('contested', content).then(() => 'put'),
      ...(i % 3 === 0 ? [array.delete('contested').then(() => 'delete', (error: { code?: string }) => (error.code === 'NOT_FOUND' ? 'absent' : Promise.reject(error)))] : []),
    ]);
    await Promise.all(operations);
    const listed = array.list().filter((file) => file.name === 'contested');
    if (listed.length === 1) {
      const content = await array.get('contested');
      expect(versions.some((version) => version.equals(content))).toBe(true);
    }
    array.assertInvariants();
    // Only the surviving version's extents are allocated.
    const expectedLb = listed.length === 0 ? 0 : array.stat('contested').groups.reduce((sum, group) => sum + group.extentLb * group.extents.length, 0);
    expect(array.status().allocatedBytes).toBe(expectedLb * 4096);
    expect((await array.fsck({ deep: true })).problems).toEqual([]);
  });
});
