// Model-based property test: random sequences of put, overwrite, delete, ranged get and
// reopen, checked against a Map after every step, with every invariant asserted. A fixed number
// of runs, no time limit: a slow machine checks as many sequences as a fast one. The seed is
// printed; ELASTRIPE_MODEL_SEED replays a run and ELASTRIPE_MODEL_RUNS lengthens it.
import fc from 'fast-check';
import { mkdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DiskArray } from '../../src/array/disk_array.js';
import { createImageFile } from '../../src/devices/open_device.js';
import { MIB, patternBytes, TempDir, TEST_RUNTIME } from '../helpers/temp_array.js';

const SEED = Number(process.env.ELASTRIPE_MODEL_SEED ?? Date.now() % 1_000_000);
const NUM_RUNS = Number(process.env.ELASTRIPE_MODEL_RUNS ?? 30);
const NAMES = ['a', 'b', 'c', 'd', 'e'];

type Operation =
  | { kind: 'put'; name: string; sizeBytes: number; seed: number }
  | { kind: 'delete'; name: string }
  | { kind: 'get'; name: string; from: number; to: number }
  | { kind: 'reopen' };

const operation: fc.Arbitrary<Operation> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('put' as const), name: fc.constantFrom(...NAMES), sizeBytes: fc.oneof(fc.integer({ min: 0, max: 9000 }), fc.integer({ min: 0, max: 3 * MIB })), seed: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('delete' as const), name: fc.constantFrom(...NAMES) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('get' as const), name: fc.constantFrom(...NAMES), from: fc.double({ min: 0, max: 1, noNaN: true }), to: fc.double({ min: 0, max: 1, noNaN: true }) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'reopen' as const }) },
);

describe('DiskArray against a model', () => {
  it('agrees with a Map over random operation sequences', async () => {
    console.log(`array model test: seed ${SEED}, ${NUM_RUNS} runs (ELASTRIPE_MODEL_SEED to replay, ELASTRIPE_MODEL_RUNS to lengthen)`);
    await fc.assert(
      fc.asyncProperty(fc.array(operation, { minLength: 1, maxLength: 25 }), fc.constantFrom(1, 2), async (operations, parityCount) => {
        const dir = new TempDir();
        const home = dir.file('home');
        mkdirSync(home);
        const devices = [0, 1, 2, 3, 4].map((i) => dir.file(`d${i}.img`));
        for (const path of devices) await createImageFile(path, 48 * MIB);
        let array = await DiskArray.create({ ...TEST_RUNTIME, workerCount: 0, home, devices, parityCount: parityCount as 1 | 2, extentLbMax: 32 });
        const model = new Map<string, Buffer>();
        try {
          for (const op of operations) {
            await apply(array, model, op).then((reopened) => (array = reopened ?? array));
            array.assertInvariants();
            expect(array.list().map((file) => file.name)).toEqual([...model.keys()].sort());
          }
          expect((await array.fsck({ deep: true })).problems).toEqual([]);
        } finally {
          await array.close();
          dir.remove();
        }
      }),
      { seed: SEED, numRuns: NUM_RUNS },
    );
  }, 300_000);
});

async function apply(array: DiskArray, model: Map<string, Buffer>, op: Operation): Promise<DiskArray | undefined> {
  switch (op.kind) {
    case 'put': {
      const content = patternBytes(op.sizeBytes, op.seed);
      const stat = await array.put(op.name, content);
      expect(stat.sizeBytes).toBe(op.sizeBytes);
      model.set(op.name, content);
      return undefined;
    }
    case 'delete':
      if (model.has(op.name)) {
        await array.delete(op.name);
        model.delete(op.name);
      } else {
        await expect(array.delete(op.name)).rejects.toMatchObject({ code: 'NOT_FOUND' });
      }
      return undefined;
    case 'get': {
      const content = model.get(op.name);
      if (!content) {
        await expect(array.get(op.name)).rejects.toMatchObject({ code: 'NOT_FOUND' });
        return undefined;
      }
      const offset = Math.floor(Math.min(op.from, op.to) * content.length);
      const length = Math.floor(Math.max(op.from, op.to) * content.length) - offset;
      expect((await array.get(op.name, { offset, length })).equals(content.subarray(offset, offset + length))).toBe(true);
      return undefined;
    }
    case 'reopen': {
      await array.close();
      return DiskArray.open(array.home, { ...TEST_RUNTIME, workerCount: 0 });
    }
  }
}
