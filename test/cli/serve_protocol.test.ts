// The control socket's framing (src/cli/serve/control_protocol.ts): frames survive any split of
// the byte stream, garbage and oversized frames are refused, errors keep their class and code.
import { describe, expect, it } from 'vitest';
import { AbortedError, ElastripeError, NotFoundError, OutputError } from '../../src/errors.js';
import { UsageError } from '../../src/cli/args.js';
import {
  ControlProtocolError, decodeJson, encodeJsonFrame, FRAME_HEADER_BYTES, FRAME_PAYLOAD_BYTES_MAX, FrameDecoder, frameHeader, FrameType, fromWireError, toWireError,
} from '../../src/cli/serve/control_protocol.js';
import { patternBytes } from '../helpers/temp_array.js';

function dataFrame(type: FrameType, payload: Uint8Array): Buffer {
  return Buffer.concat([frameHeader(type, payload.byteLength), payload]);
}

describe('control protocol framing', () => {
  const payload = patternBytes(70_000, 7);
  const stream = Buffer.concat([
    encodeJsonFrame(FrameType.HELLO, { protocol: 1, line: { verb: 'ls' } }),
    dataFrame(FrameType.STDOUT, payload),
    dataFrame(FrameType.STDERR, new Uint8Array(0)),
    encodeJsonFrame(FrameType.EXIT, { exitCode: 0 }),
  ]);

  function check(frames: ReturnType<FrameDecoder['push']>): void {
    expect(frames.map((frame) => frame.type)).toEqual([FrameType.HELLO, FrameType.STDOUT, FrameType.STDERR, FrameType.EXIT]);
    expect(decodeJson(frames[0]!)).toEqual({ protocol: 1, line: { verb: 'ls' } });
    expect(Buffer.compare(Buffer.from(frames[1]!.payload), payload)).toBe(0);
    expect(frames[2]!.payload.byteLength).toBe(0);
    expect(decodeJson(frames[3]!)).toEqual({ exitCode: 0 });
  }

  it('decodes a stream delivered whole, byte by byte, and in random pieces', () => {
    const whole = new FrameDecoder();
    check(whole.push(stream));
    whole.assertInvariants();
    expect(whole.bufferedBytes).toBe(0);

    const bytewise = new FrameDecoder();
    const frames = [];
    for (let i = 0; i < 200; i++) frames.push(...bytewise.push(stream.subarray(i, i + 1)));
    frames.push(...bytewise.push(stream.subarray(200)));
    bytewise.assertInvariants();
    check(frames);

    let seed = 12345;
    const random = (): number => ((seed = (seed * 1103515245 + 12345) >>> 0) % 9000) + 1;
    for (let round = 0; round < 20; round++) {
      const decoder = new FrameDecoder();
      const got = [];
      for (let offset = 0; offset < stream.byteLength; ) {
        const length = random();
        got.push(...decoder.push(stream.subarray(offset, offset + length)));
        decoder.assertInvariants();
        offset += length;
      }
      check(got);
    }
  });

  it('keeps a partial frame until the rest arrives', () => {
    const decoder = new FrameDecoder();
    const frame = dataFrame(FrameType.TARGET_DATA, payload);
    expect(decoder.push(frame.subarray(0, FRAME_HEADER_BYTES + 10))).toEqual([]);
    expect(decoder.bufferedBytes).toBe(FRAME_HEADER_BYTES + 10);
    decoder.assertInvariants();
    const [only] = decoder.push(frame.subarray(FRAME_HEADER_BYTES + 10));
    expect(Buffer.from(only!.payload).equals(payload)).toBe(true);
  });

  it('refuses unknown frame types and oversized frames, and stays failed', () => {
    const garbage = new FrameDecoder();
    expect(() => garbage.push(Buffer.from([99, 0, 0, 0, 0]))).toThrow(ControlProtocolError);
    expect(() => garbage.push(encodeJsonFrame(FrameType.EXIT, {}))).toThrow(/already failed/);

    const oversized = Buffer.alloc(FRAME_HEADER_BYTES);
    oversized[0] = FrameType.SOURCE_DATA;
    oversized.writeUInt32BE(FRAME_PAYLOAD_BYTES_MAX + 1, 1);
    expect(() => new FrameDecoder().push(oversized)).toThrow(/exceeds the limit/);
    expect(() => frameHeader(FrameType.STDOUT, FRAME_PAYLOAD_BYTES_MAX + 1)).toThrow();
    expect(() => encodeJsonFrame(FrameType.STDOUT, {})).toThrow(/carries bytes/);
  });

  it('refuses a JSON frame that holds no JSON', () => {
    const frame = new FrameDecoder().push(dataFrame(FrameType.EXIT, Buffer.from('{nope')))[0]!;
    expect(() => decodeJson(frame)).toThrow(ControlProtocolError);
  });
});

describe('errors across the socket', () => {
  it('keep their code, message and, where the CLI looks at it, their class', () => {
    const cases: Error[] = [new NotFoundError('no file named "x"'), new OutputError('cannot write out: no space'), new AbortedError('interrupted by the user'), new ElastripeError('NO_SPACE', 'full')];
    for (const error of cases) {
      const back = fromWireError(JSON.parse(JSON.stringify(toWireError(error))));
      expect(back.constructor).toBe(error.constructor);
      expect(back.message).toBe(error.message);
      expect((back as ElastripeError).code).toBe((error as ElastripeError).code);
    }
    const usage = fromWireError(toWireError(new UsageError('bad', 'usage: elastripe get')));
    expect(usage).toBeInstanceOf(UsageError);
    expect((usage as UsageError).usage).toBe('usage: elastripe get');
  });

  it('carry system errors as errno codes and bugs as internal', () => {
    const system = Object.assign(new Error("ENOENT: no such file or directory, open 'x'"), { code: 'ENOENT', syscall: 'open', path: 'x' });
    const back = fromWireError(toWireError(system)) as NodeJS.ErrnoException;
    expect([back.code, back.syscall, back.path, back.message]).toEqual(['ENOENT', 'open', 'x', system.message]);
    const bug = fromWireError(toWireError(new TypeError('x is undefined')));
    expect(bug).not.toBeInstanceOf(ElastripeError);
    expect(bug.message).toBe('x is undefined');
  });
});

describe('control socket end to end (client and server in this process, no array)', () => {
  it('streams an input to a reader that asks for more than the credit window at once (read(n) > window)', async () => {
    const { mkdtempSync, rmSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { createHash } = await import('node:crypto');
    const { PassThrough } = await import('node:stream');
    const { ControlServer } = await import('../../src/cli/serve/control_server.js');
    const { forwardToServe } = await import('../../src/cli/serve/control_client.js');
    const { controlSocketPath } = await import('../../src/cli/serve/socket_path.js');
    const { SOURCE_WINDOW_BYTES } = await import('../../src/cli/serve/control_protocol.js');
    const { parseCommandLine } = await import('../../src/cli/args.js');
    const home = mkdtempSync(join(tmpdir(), 'elastripe-proto-'));
    try {
      const data = patternBytes(6 * SOURCE_WINDOW_BYTES + 12345, 99);
      const input = join(home, 'input.bin');
      writeFileSync(input, data);
      const readBytes = 3 * SOURCE_WINDOW_BYTES; // bigger than the window: the credit must follow it
      const server = await ControlServer.listen(controlSocketPath(home), async (line, io) => {
        const context = { line, io, signal: new AbortController().signal };
        const source = await io.remoteFiles!.openSource(context, line.arguments[1]!);
        const stream = source.input as NodeJS.ReadableStream & { read(n?: number): Buffer | null };
        const hash = createHash('sha256');
        let total = 0;
        await new Promise((resolve, reject) => {
          stream.on('readable', () => {
            for (let chunk = stream.read(readBytes); chunk !== null; chunk = stream.read(readBytes)) {
              hash.update(chunk);
              total += chunk.length;
            }
          });
          stream.on('end', resolve);
          stream.on('error', reject);
        });
        await source.close();
        io.stdout.write(`${total} ${hash.digest('hex')}\n`);
        return 0;
      });
      const stdout = new PassThrough();
      const out: Buffer[] = [];
      stdout.on('data', (chunk: Buffer) => out.push(chunk));
      const io = { stdout, stderr: new PassThrough(), stdin: new PassThrough(), env: {} };
      const line = parseCommandLine(['put', 'x', input, '--home', home], {});
      const exitCode = await forwardToServe(line, io, new AbortController().signal);
      await server.close(new Error('test over'));
      expect(exitCode).toBe(0);
      expect(Buffer.concat(out).toString()).toBe(`${data.length} ${createHash('sha256').update(data).digest('hex')}\n`);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  }, 60_000);
});
