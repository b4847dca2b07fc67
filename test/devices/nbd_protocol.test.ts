// NBD protocol edge cases a well-behaved nbdkit never produces: a server without NBD_OPT_GO,
// replies out of order, a reply for an unknown handle, export errors, block size limits.
// The server here is a small scripted NBD server speaking the real wire format.
import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { LB_BYTES } from '../../src/constants.js';
import { DeviceFailedError, DeviceIoError } from '../../src/errors.js';
import { openNbdDevice, type NbdDevice } from '../../src/devices/nbd_device.js';
import * as nbd from '../../src/devices/nbd_protocol.js';

interface Script {
  /** Answer NBD_OPT_GO with NBD_REP_ERR_UNSUP, forcing the NBD_OPT_EXPORT_NAME fallback. */
  noGo?: boolean;
  /** Option error to send instead of the export. */
  goError?: number;
  blockBytesMin?: number;
  /** Collect this many requests, then answer them in reverse order. */
  reverseBatch?: number;
  /** Added to every reply handle (a broken server). */
  handleSkew?: number;
}

const EXPORT_BYTES = 4 * 1024 * 1024;
const servers: Server[] = [];
const devices: NbdDevice[] = [];
afterEach(async () => {
  for (const device of devices.splice(0)) await device.close();
  for (const server of servers.splice(0)) {
    await new Promise((resolve) => server.close(resolve));
  }
});

/** Reads exact byte counts from a socket. */
function reader(socket: Socket): (lengthBytes: number) => Promise<Buffer> {
  let buffered = Buffer.alloc(0);
  let waiter: (() => void) | null = null;
  socket.on('data', (chunk: Buffer) => { buffered = Buffer.concat([buffered, chunk]); waiter?.(); });
  return async (lengthBytes) => {
    while (buffered.byteLength < lengthBytes) await new Promise<void>((resolve) => { waiter = resolve; });
    const taken = buffered.subarray(0, lengthBytes);
    buffered = buffered.subarray(lengthBytes);
    return taken;
  };
}

function optionReply(option: number, type: number, data: Buffer): Buffer {
  const header = Buffer.alloc(20);
  header.writeBigUInt64BE(nbd.NBD_OPT_REPLY_MAGIC, 0);
  header.writeUInt32BE(option, 8);
  header.writeUInt32BE(type, 12);
  header.writeUInt32BE(data.byteLength, 16);
  return Buffer.concat([header, data]);
}

async function serve(socket: Socket, script: Script, disk: Uint8Array): Promise<void> {
  const take = reader(socket);
  const greeting = Buffer.alloc(18);
  greeting.writeBigUInt64BE(nbd.NBD_INIT_MAGIC, 0);
  greeting.writeBigUInt64BE(nbd.NBD_OPTS_MAGIC, 8);
  greeting.writeUInt16BE(nbd.NBD_FLAG_FIXED_NEWSTYLE | nbd.NBD_FLAG_NO_ZEROES, 16);
  socket.write(greeting);
  await take(4);
  const flags = nbd.NBD_FLAG_HAS_FLAGS | nbd.NBD_FLAG_SEND_FLUSH;
  for (;;) {
    const header = await take(16);
    const option = header.readUInt32BE(8);
    await take(header.readUInt32BE(12));
    if (option === nbd.NBD_OPT_EXPORT_NAME) {
      const reply = Buffer.alloc(10);
      reply.writeBigUInt64BE(BigInt(EXPORT_BYTES), 0);
      reply.writeUInt16BE(flags, 8);
      socket.write(reply);
      break;
    }
    if (script.noGo) { socket.write(optionReply(option, nbd.NBD_REP_ERR_UNSUP, Buffer.alloc(0))); continue; }
    if (script.goError) { socket.write(optionReply(option, script.goError, Buffer.from('no such export'))); return; }
    const exportInfo = Buffer.alloc(12);
    exportInfo.writeUInt16BE(nbd.NBD_INFO_EXPORT, 0);
    exportInfo.writeBigUInt64BE(BigInt(EXPORT_BYTES), 2);
    exportInfo.writeUInt16BE(flags, 10);
    const blockInfo = Buffer.alloc(14);
    blockInfo.writeUInt16BE(nbd.NBD_INFO_BLOCK_SIZE, 0);
    blockInfo.writeUInt32BE(script.blockBytesMin ?? 1, 2);
    blockInfo.writeUInt32BE(4096, 6);
    blockInfo.writeUInt32BE(64 * 1024, 10);
    socket.write(Buffer.concat([optionReply(option, nbd.NBD_REP_INFO, exportInfo), optionReply(option, nbd.NBD_REP_INFO, blockInfo), optionReply(option, nbd.NBD_REP_ACK, Buffer.alloc(0))]));
    break;
  }
  let pending: Buffer[] = [];
  for (;;) {
    const request = await take(28);
    const command = request.readUInt16BE(6);
    const handle = request.readBigUInt64BE(8);
    const offset = Number(request.readBigUInt64BE(16));
    const length = request.readUInt32BE(24);
    if (command === nbd.NBD_CMD_DISC) { socket.end(); return; }
    let payload = Buffer.alloc(0);
    if (command === nbd.NBD_CMD_WRITE) disk.set(await take(length), offset);
    if (command === nbd.NBD_CMD_READ) payload = Buffer.from(disk.subarray(offset, offset + length));
    const reply = Buffer.alloc(16);
    reply.writeUInt32BE(nbd.NBD_SIMPLE_REPLY_MAGIC, 0);
    reply.writeBigUInt64BE(handle + BigInt(script.handleSkew ?? 0), 8);
    pending.push(Buffer.concat([reply, payload]));
    if (pending.length >= (script.reverseBatch ?? 1)) {
      socket.write(Buffer.concat(pending.reverse()));
      pending = [];
    }
  }
}

async function scripted(script: Script): Promise<{ url: string; disk: Uint8Array }> {
  const disk = new Uint8Array(EXPORT_BYTES);
  const server = createServer((socket) => { serve(socket, script, disk).catch(() => socket.destroy()); });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return { url: `nbd://127.0.0.1:${(server.address() as { port: number }).port}/disk`, disk };
}

describe('NBD protocol edge cases', () => {
  it('encodes 64-bit offsets and handles exactly', () => {
    const header = Buffer.alloc(28);
    nbd.encodeRequestHeader(header, nbd.NBD_CMD_WRITE, 2 ** 40 + 7, 5 * 2 ** 40 + 4096, 1 << 20);
    expect(header.readUInt32BE(0)).toBe(nbd.NBD_REQUEST_MAGIC);
    expect(header.readUInt16BE(6)).toBe(nbd.NBD_CMD_WRITE);
    expect(header.readBigUInt64BE(8)).toBe(2n ** 40n + 7n);
    expect(header.readBigUInt64BE(16)).toBe(5n * 2n ** 40n + 4096n);
    const reply = Buffer.alloc(16);
    reply.writeUInt32BE(nbd.NBD_SIMPLE_REPLY_MAGIC, 0);
    reply.writeUInt32BE(28, 4);
    reply.writeBigUInt64BE(2n ** 40n + 7n, 8);
    expect(nbd.decodeSimpleReply(reply)).toEqual({ magic: nbd.NBD_SIMPLE_REPLY_MAGIC, error: 28, handle: 2 ** 40 + 7 });
    expect(nbd.nbdErrorToErrno(28)).toBe(28);
    expect(nbd.nbdErrorToErrno(9999)).toBe(5);
  });

  it('falls back to NBD_OPT_EXPORT_NAME when the server lacks NBD_OPT_GO', async () => {
    const { url, disk } = await scripted({ noGo: true });
    const device = await openNbdDevice(url);
    devices.push(device);
    expect(device.describe().detail).toMatchObject({ negotiation: 'export_name', exportName: 'disk', flush: true, trim: false });
    const data = new Uint8Array(2 * LB_BYTES).fill(0xab);
    await device.write([{ startLb: 3, lengthLb: 2 }], [data]);
    expect(disk[3 * LB_BYTES]).toBe(0xab);
    await device.flush();
    await device.trim([{ startLb: 3, lengthLb: 1 }]);
  });

  it('matches replies to requests by handle when the server answers out of order', async () => {
    const { url } = await scripted({ reverseBatch: 8 });
    const device = await openNbdDevice(url, { inflightMax: 8 });
    devices.push(device);
    const extents = Array.from({ length: 8 }, (_, i) => ({ startLb: i * 3, lengthLb: 1 + (i % 3) }));
    const sources = extents.map((extent, i) => new Uint8Array(extent.lengthLb * LB_BYTES).fill(i + 1));
    await device.write(extents, sources);
    const targets = extents.map((extent) => new Uint8Array(extent.lengthLb * LB_BYTES));
    await device.read(extents, targets);
    targets.forEach((target, i) => expect(target.every((byte) => byte === i + 1), `extent ${i}`).toBe(true));
    device.assertInvariants();
  });

  it('splits requests at the server maximum block size', async () => {
    const { url } = await scripted({});
    const device = await openNbdDevice(url);
    devices.push(device);
    expect(device.describe().detail['payloadBytesMax']).toBe(64 * 1024);
    const data = new Uint8Array(1024 * 1024).map((_, i) => (i >> 12) + 1);
    await device.write([{ startLb: 0, lengthLb: 256 }], [data]);
    const back = new Uint8Array(1024 * 1024);
    await device.read([{ startLb: 0, lengthLb: 256 }], [back]);
    expect(Buffer.compare(back, data)).toBe(0);
  });

  it('fails the device when a reply names an unknown handle', async () => {
    const { url } = await scripted({ handleSkew: 1000 });
    const device = await openNbdDevice(url);
    devices.push(device);
    const error = await device.read([{ startLb: 0, lengthLb: 1 }], [new Uint8Array(LB_BYTES)]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DeviceIoError);
    expect(String((error as Error).message)).toMatch(/unknown handle/);
    expect(device.online).toBe(false);
    await expect(device.flush()).rejects.toBeInstanceOf(DeviceFailedError);
  });

  it('reports an export the server refuses, with its message', async () => {
    const { url } = await scripted({ goError: nbd.NBD_REP_ERR_UNKNOWN });
    const error = await openNbdDevice(url).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DeviceIoError);
    expect(String((error as Error).message)).toMatch(/NBD_REP_ERR_UNKNOWN.*no such export/);
  });

  it('refuses a server whose minimum block size exceeds the logical block', async () => {
    const { url } = await scripted({ blockBytesMin: 8192 });
    await expect(openNbdDevice(url)).rejects.toBeInstanceOf(DeviceIoError);
  });
});
