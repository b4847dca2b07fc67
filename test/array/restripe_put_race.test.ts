// Regression (found by the SIGKILL torture, seeds 534538 and 745729): a put of a name while a
// restripe is rewriting it must win. Row ids were reused (no AUTOINCREMENT), so the new version
// got the old version's file and group ids, and the restripe — which checks by ids whether the
// file changed under it — committed the old data over the acknowledged put.
import { createHash } from 'node:crypto';
import { expect, it } from 'vitest';
import { createTempArray, useArraySuite } from '../helpers/temp_array.js';

const suite = useArraySuite();

function bytes(length: number, tag: string): Buffer {
  const out = Buffer.alloc(length);
  for (let offset = 0; offset < length; offset += 32) createHash('sha256').update(`${tag}/${offset}`).digest().copy(out, offset);
  return out;
}

it('a put concurrent with a restripe of the same name is never overwritten by the restripe', async () => {
  const { array } = await createTempArray(suite.dir, { deviceCount: 5, parityCount: 2, maxDataWidth: 3, extentLbMax: 64, workerCount: 0 });
  suite.array = array;
  for (let round = 0; round < 12; round++) {
    const deviceId = 1 + (round % 5);
    await array.failDevice(deviceId);
    await array.put('f', bytes(900_000, `old${round}`)); // narrow: k = 2 while a device is failed
    await array.onlineDevice(deviceId);
    const fresh = bytes(1_300_000, `new${round}`); // k = 3: the same number of groups
    const restriping = array.restripe();
    await new Promise((resolve) => setImmediate(resolve));
    await array.put('f', fresh);
    await restriping;
    const stat = array.stat('f');
    expect(stat.groups.reduce((sum, group) => sum + group.lengthBytes, 0), `round ${round}`).toBe(stat.sizeBytes);
    expect((await array.get('f')).equals(fresh), `round ${round}`).toBe(true);
  }
  array.assertInvariants();
});
