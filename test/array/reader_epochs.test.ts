// Deferred freeing: extents a commit frees wait for the readers that could still see them —
// readers of the same groups that started before the free — and for no one else (issue 12
// item 18: one paused stream held the space of every file deleted after it started).
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { ReaderEpochs } from '../../src/array/reader_epochs.js';
import { createTempArray, MIB, patternBytes, useArraySuite } from '../helpers/temp_array.js';

describe('ReaderEpochs', () => {
  it('a free waits for earlier readers of its groups only', () => {
    const epochs = new ReaderEpochs();
    const released: string[] = [];
    const leaveA = epochs.enter([1, 2]);
    const leaveB = epochs.enter([3]);
    epochs.deferFree([3], () => released.push('group 3'));
    epochs.deferFree([4], () => released.push('group 4'));
    expect(released).toEqual(['group 4']); // nobody reads group 4
    epochs.deferFree([2], () => released.push('group 2'));
    expect(released).toEqual(['group 4']);
    leaveB();
    expect(released).toEqual(['group 4', 'group 3']);
    // A reader that starts after a free never delays it.
    const leaveLate = epochs.enter([2]);
    leaveA();
    expect(released).toEqual(['group 4', 'group 3', 'group 2']);
    expect(epochs.pendingCount).toBe(0);
    leaveLate();
    epochs.assertInvariants();
  });

  // An in-place combine keeps places under new groups: their frees wait for readers of the old ones.
  it('frees of a group that inherited places wait for the readers of the groups it inherited from', () => {
    const epochs = new ReaderEpochs();
    const released: string[] = [];
    const leaveOld = epochs.enter([1]); // looked up group 1 before the combine
    epochs.inherit([5], [1, 2]); // groups 1 and 2 combined into 5 (nobody reads 2)
    epochs.inherit([9], [5]); // 5 combined again into 9: 9 inherits 1 through 5
    epochs.inherit([7], [3]); // nobody reads 3: nothing inherited
    epochs.deferFree([9], () => released.push('group 9'));
    epochs.deferFree([7], () => released.push('group 7'));
    expect(released).toEqual(['group 7']);
    epochs.assertInvariants();
    leaveOld();
    expect(released).toEqual(['group 7', 'group 9']);
    // Once group 1's readers are gone the inheritance is forgotten: a new free of 9 goes at once.
    epochs.deferFree([9], () => released.push('group 9 again'));
    expect(released.at(-1)).toBe('group 9 again');
    epochs.assertInvariants();
  });

  it('a reader of every group (no list) holds every later free; leaving twice is a bug', () => {
    const epochs = new ReaderEpochs();
    const released: number[] = [];
    const leaveAll = epochs.enter();
    epochs.deferFree([7], () => released.push(7));
    epochs.deferFree([8, 9], () => released.push(8));
    expect(epochs.pendingCount).toBe(2);
    leaveAll();
    expect(released).toEqual([7, 8]);
    expect(() => leaveAll()).toThrow(/left twice/);
    epochs.assertInvariants();
  });
});

const suite = useArraySuite();

describe('a paused reader and deleted files', () => {
  it('deleting a large file frees its space at once while a stream of another file is paused', async () => {
    ({ array: suite.array } = await createTempArray(suite.dir, { deviceCount: 4, deviceBytes: 32 * MIB, parityCount: 1, extentLbMax: 64 }));
    const small = patternBytes(2 * MIB, 1801);
    await suite.array.put('small', small);
    await suite.array.put('large', patternBytes(56 * MIB, 1802));
    const stream = suite.array.createReadStream('small');
    try {
      const [first] = (await once(stream, 'data')) as [Buffer];
      stream.pause();
      expect(first.length).toBeGreaterThan(0);
      await suite.array.delete('large');
      // The space of 'large' is free again although the paused stream started before the delete.
      await suite.array.put('next', patternBytes(56 * MIB, 1803));
      suite.array.assertInvariants();
      // The paused stream still reads 'small' correctly to its end.
      const rest: Buffer[] = [first];
      stream.on('data', (chunk: Buffer) => rest.push(chunk));
      stream.resume();
      await once(stream, 'end');
      expect(Buffer.concat(rest).equals(small)).toBe(true);
    } finally {
      stream.destroy();
    }
    expect((await suite.array.fsck({ deep: true })).problems).toEqual([]);
  });
});
