// Reads and writes share the arena. A read's look-ahead must never take the space a concurrent
// put needs to make progress: piping a file from one name into another on a small arena, and
// running many gets and puts at once, must finish. Streams whose consumers pause (slow clients)
// hold no arena while they wait: their read-ahead is copied out as it completes.
import { once } from 'node:events';
import type { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createTempArray, MIB, patternBytes, useArraySuite } from '../helpers/temp_array.js';

const suite = useArraySuite();

describe('arena pressure', () => {
  it('pipes a stream of one file into a put of another on an arena smaller than both pipelines', async () => {
    ({ array: suite.array } = await createTempArray(suite.dir, { arenaBytes: 24 * MIB, extentLbMax: 256, deviceBytes: 96 * MIB }));
    const content = patternBytes(40 * MIB, 31);
    await suite.array.put('source', content);
    await suite.array.put('copy', suite.array.createReadStream('source'));
    expect((await suite.array.get('copy')).equals(content)).toBe(true);
    suite.array.assertInvariants();
  }, 60_000);

  it('finishes many concurrent gets and puts on a small arena', async () => {
    ({ array: suite.array } = await createTempArray(suite.dir, { arenaBytes: 24 * MIB, extentLbMax: 256, deviceBytes: 96 * MIB }));
    const files = [0, 1, 2, 3].map((i) => patternBytes(6 * MIB + i, 40 + i));
    await Promise.all(files.map((content, i) => suite.array!.put(`f${i}`, content)));
    const results = await Promise.all([
      ...files.map((_, i) => suite.array!.get(`f${i}`)),
      ...files.map((content, i) => suite.array!.put(`g${i}`, suite.array!.createReadStream(`f${i}`)).then(() => content)),
    ]);
    for (const [i, content] of files.entries()) expect((results[i] as Buffer).equals(content)).toBe(true);
    for (const [i, content] of files.entries()) expect((await suite.array.get(`g${i}`)).equals(content)).toBe(true);
  }, 60_000);

  it('paused streams hold no arena: gets and puts go on beside twenty of them', async () => {
    ({ array: suite.array } = await createTempArray(suite.dir, { arenaBytes: 24 * MIB, extentLbMax: 64, deviceBytes: 96 * MIB }));
    const array = suite.array;
    const content = patternBytes(12 * MIB + 5, 32);
    await array.put('f', content);
    const streams: Readable[] = [];
    for (let i = 0; i < 20; i++) {
      const stream = array.createReadStream('f');
      streams.push(stream);
      // Each has read ahead and waits for its consumer (a paused stream buffers one chunk).
      await Promise.race([once(stream, 'readable'), new Promise((resolve) => setTimeout(resolve, 2000))]);
    }
    const within = <T>(work: Promise<T>): Promise<T | 'waited for the paused streams'> =>
      Promise.race([work, new Promise<'waited for the paused streams'>((resolve) => setTimeout(() => resolve('waited for the paused streams'), 10_000))]);
    expect(await within(array.get('f').then((bytes) => bytes.equals(content)))).toBe(true);
    expect(await within(array.put('g', patternBytes(4 * MIB, 33)).then((stat) => stat.sizeBytes))).toBe(4 * MIB);
    // Every paused stream still delivers its whole file.
    for (const stream of streams) {
      const chunks: Buffer[] = [];
      for await (const chunk of stream) chunks.push(chunk as Buffer);
      expect(Buffer.concat(chunks).equals(content)).toBe(true);
    }
    array.assertInvariants();
  }, 60_000);
});
