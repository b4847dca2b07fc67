// close() while reads are in flight (issue 12 item 17): a get() in flight finishes before the
// devices close, a stream still open is ended with ARRAY_CLOSED (not a misleading
// TOO_MANY_ERASURES), and reads started after close() reject with ARRAY_CLOSED. A readChunks or
// lendChunks loop left paused (or dropped without return()) is ended the same way: close()
// waited for it forever.
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { DiskArray } from '../../src/array/disk_array.js';
import { createTempArray, MIB, patternBytes, TEST_RUNTIME, useArraySuite } from '../helpers/temp_array.js';

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

  it('ends a paused readChunks or lendChunks loop with ARRAY_CLOSED; the chunk it holds stays intact', async () => {
    const { array } = await createTempArray(suite.dir, { deviceCount: 4, parityCount: 1, extentLbMax: 16 });
    suite.array = array;
    const content = patternBytes(6 * MIB, 1704);
    await array.put('big', content);
    const copying = array.readChunks('big');
    const first = await copying.next();
    const lending = array.lendChunks('big', { offset: 5 });
    const lent = await lending.next();
    const inFlight = array.readChunks('big');
    const pending = inFlight.next(); // a step still reading when close() comes
    const dropped = array.readChunks('big');
    await dropped.next(); // never continued nor returned
    const closing = array.close();
    const closed = await Promise.race([closing.then(() => 'closed'), new Promise((resolve) => setTimeout(() => resolve('still waiting'), 10_000))]);
    expect(closed).toBe('closed');
    expect(first.done).toBe(false);
    const { offset, bytes } = first.value!;
    expect(Buffer.from(bytes).equals(content.subarray(offset, offset + bytes.byteLength)), 'the chunk held across close is intact').toBe(true);
    expect(Buffer.from(lent.value!.bytes).equals(content.subarray(5, 5 + lent.value!.bytes.byteLength))).toBe(true);
    lent.value!.release();
    await expect(copying.next()).rejects.toMatchObject({ code: 'ARRAY_CLOSED' });
    await expect(lending.next()).rejects.toMatchObject({ code: 'ARRAY_CLOSED' });
    await expect(pending.then(() => inFlight.next())).rejects.toMatchObject({ code: 'ARRAY_CLOSED' });
    await expect(array.readChunks('big').next()).rejects.toMatchObject({ code: 'ARRAY_CLOSED' });
  });

  it('a readChunks loop that ran to its end or stopped early is not disturbed by close()', async () => {
    const { array } = await createTempArray(suite.dir, { deviceCount: 4, parityCount: 1, extentLbMax: 16 });
    suite.array = array;
    const content = patternBytes(3 * MIB + 11, 1705);
    await array.put('f', content);
    const parts: Buffer[] = [];
    for await (const { bytes } of array.readChunks('f')) parts.push(Buffer.from(bytes));
    expect(Buffer.concat(parts).equals(content)).toBe(true);
    for await (const chunk of array.lendChunks('f')) {
      chunk.release();
      break;
    }
    array.assertInvariants();
    await array.close();
  });

  it('a second close() settles only when the array is closed: a reopen right after it finds no lock', async () => {
    const { array, home } = await createTempArray(suite.dir, { deviceCount: 4, parityCount: 1, extentLbMax: 16 });
    suite.array = array;
    const content = patternBytes(16 * MIB, 1706);
    await array.put('big', content);
    const reading = array.get('big'); // keeps the first close() busy for a while
    const first = array.close();
    let firstSettled = false;
    void first.then(() => (firstSettled = true));
    await array.close();
    expect(firstSettled, 'the second close() waited for the first').toBe(true);
    const reopened = await DiskArray.open(home, TEST_RUNTIME);
    try {
      expect((await reopened.get('big')).equals(content)).toBe(true);
    } finally {
      await reopened.close();
    }
    expect((await reading).equals(content)).toBe(true);
  });
});
