// NBD client against a real nbdkit: handshake, round trips with many requests in flight,
// flush/trim, injected error replies, a server killed mid-batch, request timeouts, durable
// (FUA) writes seen on the wire by nbdkit's log filter.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { LB_BYTES } from '../../src/constants.js';
import { DeviceFailedError, DeviceIoError, InvalidArgumentError, MisalignedIoError } from '../../src/errors.js';
import { openNbdDevice, parseNbdUrl, type NbdDevice } from '../../src/devices/nbd_device.js';
import { startNbdkit, type NbdkitServer } from '../helpers/nbdkit.js';
import { nbdkitPrerequisite } from '../helpers/prerequisites.js';

/** Deterministic bytes that differ per block and per seed, so misplaced data is caught. */
function pattern(lengthBytes: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(lengthBytes);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < lengthBytes; i++) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    bytes[i] = x & 0xff;
  }
  return bytes;
}

const servers: NbdkitServer[] = [];
const devices: NbdDevice[] = [];
async function server(plugin: string, parameters: string[], filters: string[] = []): Promise<NbdkitServer> {
  const started = await startNbdkit({ plugin, parameters, filters });
  servers.push(started);
  return started;
}
async function open(url: string, options = {}): Promise<NbdDevice> {
  const device = await openNbdDevice(url, options);
  devices.push(device);
  return device;
}
const logDirs: string[] = [];
/** A fresh path for nbdkit's log filter (logfile=), removed after the test. */
function logFile(): string {
  const dir = mkdtempSync(join(tmpdir(), 'elastripe-nbdlog-'));
  logDirs.push(dir);
  return join(dir, 'nbdkit.log');
}
afterEach(async () => {
  for (const device of devices.splice(0)) await device.close();
  for (const started of servers.splice(0)) await started.stop();
  for (const dir of logDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('parseNbdUrl', () => {
  it('reads host, port and export, with defaults', () => {
    expect(parseNbdUrl('nbd://10.0.0.1:10900/disk%201')).toEqual({ host: '10.0.0.1', port: 10900, exportName: 'disk 1' });
    expect(parseNbdUrl('nbd://server')).toEqual({ host: 'server', port: 10809, exportName: '' });
    expect(() => parseNbdUrl('http://x')).toThrow(InvalidArgumentError);
  });
});

nbdkitPrerequisite().describe('NBD device on nbdkit', () => {
  it('negotiates with NBD_OPT_GO and reports the export', async () => {
    const started = await server('memory', ['size=256M']);
    const device = await open(started.url);
    const description = device.describe();
    expect(description).toMatchObject({ backend: 'nbd', kind: 'nbd', sizeBytes: 256 * 1024 * 1024, online: true });
    expect(description.detail).toMatchObject({ negotiation: 'go', flush: true, trim: true, readOnly: false });
    device.assertInvariants();
  });

  it('round-trips a large batch with many requests in flight (memory plugin)', async () => {
    const started = await server('memory', ['size=256M']);
    const device = await open(started.url, { inflightMax: 16 });
    // 200 extents of varied length, scattered, non-overlapping; more than inflightMax at once.
    const extents = Array.from({ length: 200 }, (_, i) => ({ startLb: i * 97 + 3, lengthLb: 1 + (i % 40) }));
    const written = extents.map((extent, i) => pattern(extent.lengthLb * LB_BYTES, i + 1));
    await device.write(extents, written);
    device.assertInvariants();
    await device.flush();
    const read = extents.map((extent) => new Uint8Array(extent.lengthLb * LB_BYTES));
    await device.read(extents, read);
    for (let i = 0; i < extents.length; i++) expect(Buffer.compare(read[i]!, written[i]!), `extent ${i}`).toBe(0);
    device.assertInvariants();
  });

  it('splits extents larger than the payload limit and reads into views of a shared buffer', async () => {
    const started = await server('memory', ['size=256M']);
    const device = await open(started.url);
    const arena = new Uint8Array(new SharedArrayBuffer(80 * 1024 * 1024));
    const source = arena.subarray(0, 40 * 1024 * 1024);
    source.set(pattern(source.byteLength, 99));
    const extent = { startLb: 1000, lengthLb: source.byteLength / LB_BYTES };
    await device.write([extent], [source]);
    const target = arena.subarray(40 * 1024 * 1024);
    await device.read([extent], [target]);
    expect(Buffer.compare(target, source)).toBe(0);
  });

  it('round-trips through the file plugin and keeps data across connections; trim zeroes', async () => {
    const { mkdtempSync, rmSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const directory = mkdtempSync(`${tmpdir()}/elastripe-nbd-`);
    try {
      writeFileSync(`${directory}/disk.img`, '');
      const { truncateSync } = await import('node:fs');
      truncateSync(`${directory}/disk.img`, 64 * 1024 * 1024);
      const started = await server('file', [`${directory}/disk.img`]);
      const first = await openNbdDevice(started.url);
      const data = pattern(8 * LB_BYTES, 7);
      await first.write([{ startLb: 5, lengthLb: 8 }], [data]);
      await first.flush();
      await first.close();
      expect(first.online).toBe(false);
      await expect(first.read([{ startLb: 5, lengthLb: 1 }], [new Uint8Array(LB_BYTES)])).rejects.toBeInstanceOf(DeviceFailedError);
      const second = await open(started.url);
      const back = new Uint8Array(8 * LB_BYTES);
      await second.read([{ startLb: 5, lengthLb: 8 }], [back]);
      expect(Buffer.compare(back, data)).toBe(0);
      if (second.describe().detail['trim'] === true) {
        await second.trim([{ startLb: 5, lengthLb: 8 }]);
        await second.read([{ startLb: 5, lengthLb: 8 }], [back]);
        expect(back.every((byte) => byte === 0)).toBe(true);
      }
    } finally {
      for (const device of devices.splice(0)) await device.close();
      for (const started of servers.splice(0)) await started.stop();
      rmSync(directory, { recursive: true, force: true });
    }
  });

  it('refuses misaligned buffers and extents past the end, typed', async () => {
    const started = await server('memory', ['size=1M']);
    const device = await open(started.url);
    await expect(device.read([{ startLb: 0, lengthLb: 1 }], [new Uint8Array(100)])).rejects.toBeInstanceOf(MisalignedIoError);
    const error = await device.read([{ startLb: 255, lengthLb: 2 }], [new Uint8Array(2 * LB_BYTES)]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DeviceIoError);
    expect((error as DeviceIoError).errno).toBe(22);
    expect(device.online).toBe(true);
  });

  it('surfaces injected error replies as DeviceIoError with the mapped errno, and stays usable', async () => {
    const started = await server('memory', ['size=64M', 'error=ENOSPC', 'error-pwrite-rate=30%'], ['error']);
    const device = await open(started.url, { inflightMax: 8 });
    const extents = Array.from({ length: 64 }, (_, i) => ({ startLb: i, lengthLb: 1 }));
    const results = await Promise.allSettled(extents.map((extent, i) => device.write([extent], [pattern(LB_BYTES, i)])));
    const failures = results.filter((result) => result.status === 'rejected');
    expect(failures.length).toBeGreaterThan(0);
    expect(failures.length).toBeLessThan(64);
    for (const failure of failures) {
      const reason = (failure as PromiseRejectedResult).reason as DeviceIoError;
      expect(reason).toBeInstanceOf(DeviceIoError);
      expect(reason.errno).toBe(28);
      expect(reason.operation).toBe('write');
    }
    // A batch with a failure still rejects with the first failure after all complete.
    await expect(device.write(extents, extents.map((_, i) => pattern(LB_BYTES, i)))).rejects.toBeInstanceOf(DeviceIoError);
    expect(device.online).toBe(true);
    await device.read([{ startLb: 0, lengthLb: 4 }], [new Uint8Array(4 * LB_BYTES)]);
    device.assertInvariants();
  });

  it('rejects every pending request typed when the server is killed mid-batch, then reports offline', async () => {
    const started = await server('memory', ['size=64M', 'rdelay=2'], ['delay']);
    const device = await open(started.url, { inflightMax: 8 });
    const extents = Array.from({ length: 40 }, (_, i) => ({ startLb: i * 4, lengthLb: 4 }));
    const singles = extents.slice(0, 10).map((extent) => device.read([extent], [new Uint8Array(4 * LB_BYTES)]));
    const batch = device.read(extents, extents.map(() => new Uint8Array(4 * LB_BYTES)));
    await new Promise((resolve) => setTimeout(resolve, 200));
    const killedAtMs = Date.now();
    started.kill();
    const outcomes = await Promise.allSettled([batch, ...singles]);
    expect(Date.now() - killedAtMs).toBeLessThan(1500);
    for (const outcome of outcomes) {
      expect(outcome.status).toBe('rejected');
      expect((outcome as PromiseRejectedResult).reason).toBeInstanceOf(DeviceIoError);
    }
    expect(device.online).toBe(false);
    device.assertInvariants();
    await expect(device.write([{ startLb: 0, lengthLb: 1 }], [new Uint8Array(LB_BYTES)])).rejects.toBeInstanceOf(DeviceFailedError);
    await expect(device.flush()).rejects.toBeInstanceOf(DeviceFailedError);
  });

  it('writes durably with NBD_CMD_FLAG_FUA when the export offers it (seen by the log filter)', async () => {
    const log = logFile();
    const started = await server('memory', ['size=16M', `logfile=${log}`], ['log']);
    const device = await open(started.url);
    expect(typeof device.writeDurable).toBe('function');
    expect(device.describe().detail).toMatchObject({ fua: true, flush: true });
    const plain = pattern(LB_BYTES, 1);
    const durable = pattern(2 * LB_BYTES, 2);
    await device.write([{ startLb: 0, lengthLb: 1 }], [plain]);
    await device.writeDurable!([{ startLb: 4, lengthLb: 2 }], [durable]);
    const back = new Uint8Array(6 * LB_BYTES);
    await device.read([{ startLb: 0, lengthLb: 6 }], [back]);
    expect(Buffer.from(back.subarray(0, LB_BYTES)).equals(plain)).toBe(true);
    expect(Buffer.from(back.subarray(4 * LB_BYTES)).equals(durable)).toBe(true);
    await expect(device.writeDurable!([{ startLb: 16 * 256, lengthLb: 1 }], [plain])).rejects.toThrow(/beyond the device/);
    await device.close();
    const writes = readFileSync(log, 'utf8').split('\n').filter((line) => /\bWrite id=\d+ offset=/.test(line));
    expect(writes).toHaveLength(2);
    expect(writes[0]).toMatch(/offset=0x0 .*fua=0/);
    expect(writes[1]).toMatch(new RegExp(`offset=0x${(4 * LB_BYTES).toString(16)} .*fua=1`));
    expect(readFileSync(log, 'utf8')).not.toMatch(/\bFlush id=/);
  });

  it('offers no writeDurable when the export does not advertise FUA (fua filter, its default mode none)', async () => {
    // nbdkit 1.32 takes no literal fuamode=none: none is the mode without the parameter.
    const started = await server('memory', ['size=16M'], ['fua']);
    const device = await open(started.url);
    expect(device.writeDurable).toBeUndefined();
    expect(device.describe().detail).toMatchObject({ fua: false, flush: true });
    await device.write([{ startLb: 0, lengthLb: 1 }], [pattern(LB_BYTES, 3)]);
    await device.flush();
  });

  it('rejects durable writes pending when the server is killed: none is reported durable', async () => {
    const started = await server('memory', ['size=64M', 'wdelay=2'], ['delay']);
    const device = await open(started.url, { inflightMax: 8 });
    const extents = Array.from({ length: 20 }, (_, i) => ({ startLb: i * 4, lengthLb: 4 }));
    const batch = device.writeDurable!(extents, extents.map((_, i) => pattern(4 * LB_BYTES, i)));
    const singles = extents.slice(0, 6).map((extent, i) => device.writeDurable!([extent], [pattern(4 * LB_BYTES, 50 + i)]));
    await new Promise((resolve) => setTimeout(resolve, 200));
    started.kill();
    const outcomes = await Promise.allSettled([batch, ...singles]);
    for (const outcome of outcomes) {
      expect(outcome.status).toBe('rejected');
      expect((outcome as PromiseRejectedResult).reason).toBeInstanceOf(DeviceIoError);
    }
    expect(device.online).toBe(false);
    device.assertInvariants();
    await expect(device.writeDurable!([{ startLb: 0, lengthLb: 1 }], [new Uint8Array(LB_BYTES)])).rejects.toBeInstanceOf(DeviceFailedError);
  });

  it('takes an ESHUTDOWN reply (the server stopping, SIGTERM) as the connection going: offline before the request rejects', async () => {
    const started = await server('memory', ['size=64M', 'wdelay=2'], ['delay']);
    const device = await open(started.url);
    const write = device.write([{ startLb: 0, lengthLb: 1 }], [pattern(LB_BYTES, 7)]);
    await new Promise((resolve) => setTimeout(resolve, 200));
    started.process.kill('SIGTERM');
    // The array judges the device in the rejection's own turn: it must be offline (missing,
    // its blocks intact), not an answering device that failed a write.
    const onlineAtRejection = await write.then(() => 'resolved', () => device.online);
    expect(onlineAtRejection).toBe(false);
    await expect(device.write([{ startLb: 0, lengthLb: 1 }], [pattern(LB_BYTES, 8)])).rejects.toBeInstanceOf(DeviceFailedError);
    device.assertInvariants();
  });

  it('times a request out, fails the device and rejects with ETIMEDOUT', async () => {
    const started = await server('memory', ['size=16M', 'rdelay=5'], ['delay']);
    const device = await open(started.url, { requestTimeoutMs: 300 });
    const startedAtMs = Date.now();
    const error = await device.read([{ startLb: 0, lengthLb: 1 }], [new Uint8Array(LB_BYTES)]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DeviceIoError);
    expect((error as DeviceIoError).errno).toBe(110);
    expect(Date.now() - startedAtMs).toBeLessThan(2000);
    expect(device.online).toBe(false);
  });

  it('fails to connect typed: refused port, and connect timeout on a silent server', async () => {
    const started = await server('memory', ['size=1M']);
    const port = started.port;
    await started.stop();
    const refused = await openNbdDevice(`nbd://127.0.0.1:${port}`).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(DeviceIoError);
    expect((refused as DeviceIoError).errno).toBe(111);
    const { createServer } = await import('node:net');
    const silent = createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', () => resolve()));
    try {
      const address = silent.address() as { port: number };
      const timedOut = await openNbdDevice(`nbd://127.0.0.1:${address.port}`, { connectTimeoutMs: 200 }).catch((e: unknown) => e);
      expect(timedOut).toBeInstanceOf(DeviceIoError);
      expect((timedOut as DeviceIoError).errno).toBe(110);
    } finally {
      await new Promise((resolve) => silent.close(resolve));
    }
  });
});

afterAll(async () => {
  for (const started of servers.splice(0)) await started.stop();
});
