// An older copy of a member put in its place while no process ran (an image restored from a
// backup or snapshot, a disk swapped back): it answers with its own superblock, so open takes
// it as online, but it missed writes of any age. Its journal ends before the change sets that
// were durable at the last clean close; open resyncs every group with a block on it, so the
// array is whole before any read or scrub happens to find the damage (and before a second
// fault turns stale blocks into lost data).
import { copyFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DiskArray } from '../../src/array/disk_array.js';
import type { ArrayEvent } from '../../src/array/array_events.js';
import { createTempArray, MIB, patternBytes, TEST_RUNTIME, useArraySuite } from '../helpers/temp_array.js';

const suite = useArraySuite();

/** Opens the array, collecting its events; returns once open (the resync may still run). */
async function openCollecting(home: string, events: ArrayEvent[]): Promise<DiskArray> {
  return DiskArray.open(home, { ...TEST_RUNTIME, onEvent: (event) => events.push(event) });
}

describe('an older copy of a device found at open', () => {
  it('is resynced in full at open: every group with a block on it is checked and repaired', async () => {
    const created = await createTempArray(suite.dir, { parityCount: 1 });
    suite.array = created.array;
    await suite.array.put('kept', patternBytes(6 * MIB, 1));
    await suite.array.put('replaced', patternBytes(6 * MIB, 2));
    await suite.array.close();
    const snapshot = suite.dir.file('dev0.snapshot');
    copyFileSync(created.devices[0]!, snapshot);

    suite.array = await DiskArray.open(created.home, TEST_RUNTIME);
    await suite.array.delete('replaced');
    const replaced = patternBytes(6 * MIB, 3);
    await suite.array.put('replaced', replaced); // reuses the freed extents: the snapshot holds the old bytes there
    const added = patternBytes(4 * MIB, 4);
    await suite.array.put('added', added);
    await suite.array.close();
    copyFileSync(snapshot, created.devices[0]!);

    const events: ArrayEvent[] = [];
    suite.array = await openCollecting(created.home, events);
    await suite.array.close(); // waits for the resync open started
    const returned = events.find((event) => event.type === 'deviceReturned');
    expect(returned).toMatchObject({ deviceId: 1, staleCopy: true });
    expect(returned?.type === 'deviceReturned' && returned.groupsToCheck).toBeGreaterThan(0);
    expect(events.find((event) => event.type === 'jobFinished' && event.kind === 'resync 1')).toMatchObject({ outcome: 'done' });

    // Nothing read the files in between: the resync alone made every block and parity right.
    suite.array = await DiskArray.open(created.home, TEST_RUNTIME);
    expect((await suite.array.fsck({ deep: true })).problems).toEqual([]);
    expect((await suite.array.get('kept')).equals(patternBytes(6 * MIB, 1))).toBe(true);
    expect((await suite.array.get('replaced')).equals(replaced)).toBe(true);
    expect((await suite.array.get('added')).equals(added)).toBe(true);
    suite.array.assertInvariants();
  });

  it('is not claimed of current devices: a clean close and open resync nothing', async () => {
    const created = await createTempArray(suite.dir, { parityCount: 1 });
    suite.array = created.array;
    await suite.array.put('f', patternBytes(3 * MIB, 5));
    await suite.array.close();
    for (let round = 0; round < 2; round++) {
      const events: ArrayEvent[] = [];
      suite.array = await openCollecting(created.home, events);
      await suite.array.put(`g${round}`, patternBytes(MIB, 6 + round));
      await suite.array.close();
      expect(events.filter((event) => event.type === 'deviceReturned' || event.type === 'jobStarted')).toEqual([]);
    }
    suite.array = undefined;
  });
});
