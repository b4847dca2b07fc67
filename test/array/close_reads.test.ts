// close() while reads are in flight (issue 12 item 17): a get() in flight finishes before the
// devices close, a stream still open is ended with ARRAY_CLOSED (not a misleading
// TOO_MANY_ERASURES), and reads started after close() reject with ARRAY_CLOSED.
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { createTempArray, MIB, patternBytes, useArraySuite } from '../helpers/temp_array.js';

const suite = useArraySuite();

describe('close() with reads in flight', () => {
  it('waits for a get() in flight, which returns the right bytes', async () => {
    const { array } = await createTempArray(suite.dir, { deviceCount: 4, parityCount: 1, extentLbMax: 16 });
    suite.array = array;
    const content = patternBytes(24 * MIB, 1701);
    await array.put('big', content);
    const reading = array.get('big');
    const closing = array.close();
    expect((await reading).equals(content)).toBe(true);
    await closing;
    await expect(array.get('big')).rejects.toMatchObject({ code: 'ARRAY_CLOSED' });
    await expect(array.readInto('big', Buffer.alloc(10))).rejects.toMatchObject({ code: 'ARRAY_CLOSED' });
    expect(() => array.createReadStream('big')).toThrow(expect.objectContaining({ code: 'ARRAY_CLOSED' }));
  });

  it('ends an open stream with ARRAY_CLOSED, a paused one too, and then closes', async () => {
    const { array } = await createTempArray(suite.dir, { deviceCount: 4, parityCount: 1, extentLbMax: 16 });
    suite.array = array;
    await array.put('big', patternBytes(24 * MIB, 1702));
    const flowing = array.createReadStream('big');
    const paused = array.createReadStream('big');
    const errors = [once(flowing, 'error'), once(paused, 'error')];
    flowing.on('data', () => undefined);
    await once(paused, 'readable');
    await array.close();
    for (const [error] of (await Promise.all(errors)) as [Error & { code?: string }][]) {
      expect(error).toMatchObject({ code: 'ARRAY_CLOSED' });
    }
    expect(flowing.destroyed && paused.destroyed).toBe(true);
  });

  it('a stream that ended before close() is not disturbed, and a never-read stream does not block close()', async () => {
    const { array } = await createTempArray(suite.dir, { deviceCount: 3, parityCount: 1, extentLbMax: 16 });
    suite.array = array;
    const content = patternBytes(3 * MIB, 1703);
    await array.put('small', content);
    const chunks: Buffer[] = [];
    for await (const chunk of array.createReadStream('small')) chunks.push(chunk as Buffer);
    expect(Buffer.concat(chunks).equals(content)).toBe(true);
    const untouched = array.createReadStream('small');
    const untouchedError = once(untouched, 'error');
    await array.close();
    expect((await untouchedError)[0]).toMatchObject({ code: 'ARRAY_CLOSED' });
  });
});
