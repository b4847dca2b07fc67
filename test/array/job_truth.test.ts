// Jobs must tell the truth (issue 12, section C): a job that leaves work undone is recorded as
// such, a device being removed stays draining until the remove finishes or is cancelled, a
// remove the other devices cannot hold is refused before anything moves, and status counters
// outlive the process.
import { describe, expect, it } from 'vitest';
import { DiskArray } from '../../src/array/disk_array.js';
import { createTempArray, MIB, patternBytes, TEST_RUNTIME, useArraySuite } from '../helpers/temp_array.js';

const suite = useArraySuite();

async function fill(target: DiskArray, count: number, sizeBytes: number, seed: number): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  for (let i = 0; i < count; i++) {
    const content = patternBytes(sizeBytes, seed + i);
    await target.put(`f${seed}-${i}`, content);
    files.set(`f${seed}-${i}`, content);
  }
  return files;
}

async function expectFiles(target: DiskArray, files: Map<string, Buffer>): Promise<void> {
  for (const [name, content] of files) expect((await target.get(name)).equals(content), name).toBe(true);
}

describe('an unfinished job is not recorded as done (item 11)', () => {
  it('a rebuild that leaves groups it cannot move is recorded incomplete, and a later full run is done', async () => {
    let home: string;
    ({ array: suite.array, home } = await createTempArray(suite.dir, { deviceCount: 3, deviceBytes: 32 * MIB, parityCount: 1, extentLbMax: 16 }));
    // 2+1 groups on three devices, about 80% full: with one device gone, no group has a device
    // outside it, and there is not room enough to rewrite every group narrower (1+1).
    const files = await fill(suite.array, 9, 4 * MIB, 1100);
    await suite.array.failDevice(3);
    const report = await suite.array.rebuild();
    expect(report.problems.length).toBeGreaterThan(0);
    expect(report.removedDeviceIds).toEqual([]);
    expect(suite.array.status().jobs[0]).toMatchObject({ kind: 'rebuild', state: 'incomplete' });
    await expectFiles(suite.array, files);
    await suite.array.close();
    suite.array = await DiskArray.open(home, TEST_RUNTIME);
    expect(suite.array.status().jobs[0]).toMatchObject({ kind: 'rebuild', state: 'incomplete' });
    // Freeing space lets the next run finish: recorded done.
    for (const name of [...files.keys()].slice(0, 6)) {
      await suite.array.delete(name);
      files.delete(name);
    }
    const rest = await suite.array.rebuild();
    expect(rest.problems).toEqual([]);
    expect(suite.array.status().jobs[0]).toMatchObject({ kind: 'rebuild', state: 'done' });
    await expectFiles(suite.array, files);
  });
});
