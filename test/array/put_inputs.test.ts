// What DiskArray.put accepts as a source and as a name. Every ArrayBufferView (any TypedArray,
// DataView) and ArrayBuffer/SharedArrayBuffer is stored by its bytes; anything else — a plain
// array, null, a number, a string, a stream yielding numbers or objects — is INVALID_ARGUMENT
// with nothing committed (an older file of the same name survives). Names are well-formed
// Unicode: a lone surrogate could be stored but never found again, so it is refused.
import { addAbortSignal, Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { DiskArray } from '../../src/array/disk_array.js';
import { AbortedError, ElastripeError } from '../../src/errors.js';
import { createTempArray, useArraySuite } from '../helpers/temp_array.js';

const suite = useArraySuite();

async function open(): Promise<DiskArray> {
  ({ array: suite.array } = await createTempArray(suite.dir, { deviceCount: 3 }));
  return suite.array;
}

/** The bytes a view covers, copied out for comparison. */
function bytesOf(view: ArrayBufferView): Buffer {
  return Buffer.from(new Uint8Array(view.buffer, view.byteOffset, view.byteLength));
}

async function expectInvalid(promise: Promise<unknown>, message?: RegExp): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error, 'the put must fail').toBeInstanceOf(ElastripeError);
  expect((error as ElastripeError).code).toBe('INVALID_ARGUMENT');
  if (message) expect((error as Error).message).toMatch(message);
}

describe('put sources stored by their bytes', () => {
  const backing = new ArrayBuffer(64);
  new Uint8Array(backing).forEach((_, i, all) => (all[i] = (i * 37 + 11) & 0xff));
  const VIEWS: Array<[string, () => ArrayBufferView]> = [
    ['Int16Array', () => new Int16Array([1, 2, 3, 4])],
    ['Float64Array', () => new Float64Array([Math.PI, -0, 1e300])],
    ['Uint32Array over part of a buffer', () => new Uint32Array(backing, 8, 5)],
    ['BigInt64Array', () => new BigInt64Array([1n, -2n])],
    ['Uint8ClampedArray', () => new Uint8ClampedArray([0, 255, 7])],
    ['DataView over part of a buffer', () => new DataView(backing, 3, 29)],
    ['Buffer slice', () => Buffer.from('hello, world').subarray(7)],
  ];

  it.each(VIEWS)('%s', async (_label, make) => {
    const array = await open();
    const view = make();
    const stat = await array.put('x', view);
    expect(stat.sizeBytes).toBe(view.byteLength);
    expect((await array.get('x')).equals(bytesOf(view))).toBe(true);
    array.assertInvariants();
  });

  it('ArrayBuffer and SharedArrayBuffer', async () => {
    const array = await open();
    await array.put('plain', backing);
    expect((await array.get('plain')).equals(Buffer.from(backing))).toBe(true);
    const shared = new SharedArrayBuffer(10_000);
    new Uint8Array(shared).fill(0xab, 100);
    await array.put('shared', shared);
    expect((await array.get('shared')).equals(Buffer.from(new Uint8Array(shared)))).toBe(true);
    array.assertInvariants();
  });
});

describe('put sources refused with INVALID_ARGUMENT, nothing committed', () => {
  const REFUSED: Array<[string, () => unknown]> = [
    ['a plain array of numbers', () => [1, 2, 3]],
    ['null', () => null],
    ['undefined', () => undefined],
    ['a number', () => 42],
    ['a string', () => 'text'],
    ['a plain object', () => ({ length: 3 })],
    ['a sync iterable of buffers', () => new Set([Buffer.from('a')])],
    ['an object-mode stream of numbers', () => Readable.from([1, 2, 3])],
    ['a stream whose later chunk is an object', () => Readable.from([Buffer.alloc(5000, 1), { bytes: 3 }])],
    ['a stream of Int16Arrays', () => Readable.from([new Int16Array([1, 2])])],
    ['a stream of nulls in an array', () => Readable.from([[null]])],
  ];

  it.each(REFUSED)('%s', async (_label, make) => {
    const array = await open();
    await array.put('kept', Buffer.from('old content'));
    await expectInvalid(array.put('new', make() as Uint8Array), /source|chunk/);
    await expectInvalid(array.put('kept', make() as Uint8Array), /source|chunk/);
    expect(array.list().map((file) => file.name)).toEqual(['kept']);
    expect((await array.get('kept')).toString()).toBe('old content');
    array.assertInvariants();
    expect((await array.fsck()).problems).toEqual([]);
  });
});

describe('file names', () => {
  it.each([
    ['a lone high surrogate', 'a\uD800b'],
    ['a lone low surrogate', 'a\uDC00b'],
    ['a reversed pair', '\uDC00\uD800'],
    ['a trailing high surrogate', 'name\uD83D'],
  ])('refuses %s', async (_label, name) => {
    const array = await open();
    await expectInvalid(array.put(name, Buffer.from('x')), /Unicode|surrogate/);
    expect(array.list()).toEqual([]);
  });

  it('accepts names with surrogate pairs, control characters and U+FFFD, and finds them again', async () => {
    const array = await open();
    const names = ['emoji \u{1F600}', 'tab\there', 'line\nbreak', 'esc\x1b[31mred', 'replacement \uFFFD'];
    for (const name of names) await array.put(name, Buffer.from(name));
    expect(array.list().map((file) => file.name).sort()).toEqual([...names].sort());
    for (const name of names) {
      expect((await array.get(name)).toString()).toBe(name);
      await array.delete(name);
    }
    expect(array.list()).toEqual([]);
  });
});

describe('put streams that fail', () => {
  async function failure(promise: Promise<unknown>): Promise<ElastripeError> {
    const error = await promise.then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(error, 'the put must fail with a typed error').toBeInstanceOf(ElastripeError);
    return error as ElastripeError;
  }

  it('a stream that errors or is destroyed midway is SOURCE_ERROR with its cause; nothing is stored, the old file stays', async () => {
    const array = await open();
    const old = Buffer.from('the old bytes');
    await array.put('f', old);
    const boom = new Error('upstream reset');
    const erroring = new Readable({ read() {} });
    erroring.push(Buffer.alloc(300_000, 1));
    setImmediate(() => erroring.destroy(boom));
    const streamError = await failure(array.put('f', erroring));
    expect(streamError).toMatchObject({ code: 'SOURCE_ERROR', cause: boom });
    expect(streamError.message).toMatch(/upstream reset/);
    async function* throwing(): AsyncGenerator<Buffer> {
      yield Buffer.alloc(300_000, 2);
      throw boom;
    }
    expect(await failure(array.put('f', throwing()))).toMatchObject({ code: 'SOURCE_ERROR', cause: boom });
    const destroyed = new Readable({ read() {} });
    destroyed.push(Buffer.alloc(1000, 3));
    setImmediate(() => destroyed.destroy());
    expect(await failure(array.put('f', destroyed))).toMatchObject({ code: 'SOURCE_ERROR', message: expect.stringMatching(/destroyed before its end/) });
    expect((await array.get('f')).equals(old)).toBe(true);
    expect(array.list().map((file) => file.name)).toEqual(['f']);
    array.assertInvariants();
  });

  it('a stream aborted through addAbortSignal is ABORTED, with the reason when it is ours', async () => {
    const array = await open();
    const controller = new AbortController();
    const idle = addAbortSignal(controller.signal, new Readable({ read() {} }));
    const putting = array.put('f', idle);
    setImmediate(() => controller.abort(new AbortedError('interrupted by the user')));
    expect(await failure(putting)).toMatchObject({ code: 'ABORTED', message: 'interrupted by the user' });
    const other = new AbortController();
    const plain = addAbortSignal(other.signal, new Readable({ read() {} }));
    const plainPut = array.put('g', plain);
    setImmediate(() => other.abort());
    expect((await failure(plainPut)).code).toBe('ABORTED');
    expect(array.list()).toEqual([]);
    array.assertInvariants();
  });

  it('an abort ends a put waiting on an idle async generator or web ReadableStream at once, and close() is not held', async () => {
    const array = await open();
    async function* idle(): AsyncGenerator<Buffer> {
      yield Buffer.from('a first chunk');
      await new Promise(() => undefined); // the next chunk never comes
    }
    const web = new ReadableStream<Uint8Array>({ start: (controller) => controller.enqueue(new Uint8Array([1, 2, 3])) });
    for (const source of [idle(), web as unknown as AsyncIterable<Uint8Array>]) {
      const controller = new AbortController();
      const put = array.put('idle', source, { signal: controller.signal });
      setTimeout(() => controller.abort(), 50);
      const outcome = await Promise.race([put.then(() => 'stored', (error: ElastripeError) => error.code), new Promise((resolve) => setTimeout(() => resolve('still waiting'), 5000))]);
      expect(outcome).toBe('ABORTED');
    }
    expect(array.list()).toEqual([]);
    array.assertInvariants();
    const closed = await Promise.race([array.close().then(() => 'closed'), new Promise((resolve) => setTimeout(() => resolve('still waiting'), 5000))]);
    expect(closed).toBe('closed');
  });

  it('a stream that gives another length than its declared sizeBytes is SOURCE_ERROR, not a truncated file', async () => {
    const array = await open();
    const bytes = Buffer.alloc(100_000, 7);
    const short = await failure(array.put('short', Readable.from([bytes.subarray(0, 1000)]), { sizeBytes: bytes.byteLength }));
    expect(short).toMatchObject({ code: 'SOURCE_ERROR', message: expect.stringMatching(/ended after 1000 bytes; its sizeBytes declared 100000/) });
    const long = await failure(array.put('long', Readable.from([bytes, bytes]), { sizeBytes: bytes.byteLength }));
    expect(long).toMatchObject({ code: 'SOURCE_ERROR', message: expect.stringMatching(/more than the 100000 bytes/) });
    expect(array.list()).toEqual([]);
    expect((await array.put('exact', Readable.from([bytes.subarray(0, 10), bytes.subarray(10)]), { sizeBytes: bytes.byteLength })).sizeBytes).toBe(bytes.byteLength);
    expect((await array.put('empty', Readable.from([]), { sizeBytes: 0 })).sizeBytes).toBe(0);
    for (const sizeBytes of [-1, 1.5, Number.NaN, Infinity, '5']) {
      await expectInvalid(array.put('bad', Readable.from([bytes]), { sizeBytes: sizeBytes as number }), /sizeBytes/);
    }
    expect(array.list().map((file) => file.name).sort()).toEqual(['empty', 'exact']);
    array.assertInvariants();
  });
});
