// The uring backend on image files: round trips, thousands of requests in flight across
// files, fixed vs plain buffers, validation errors, busy files, reads past the end.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { mkdtempSync, rmSync, truncateSync, writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { LB_BYTES } from '../../src/constants.js';
import {
  DeviceBusyError,
  DeviceFailedError,
  DeviceIoError,
  InvalidArgumentError,
  MisalignedIoError,
} from '../../src/errors.js';
import type { Device } from '../../src/devices/device.js';
import {
  addonWritesDurably,
  assertUringRingInvariants,
  openUringDevice,
  registerUringArena,
  uringRingInfo,
} from '../../src/devices/uring_device.js';
import { uringAddon } from '../../src/devices/uring_native.js';
import { uringPrerequisite } from '../helpers/prerequisites.js';

const SEED = Number(process.env.ELASTRIPE_SEED ?? 0x5eed);
const FILE_BYTES = 8 << 20;
const ARENA_PAGES = 512; // 32 MiB of 64 KiB WebAssembly pages

/** xorshift32: fixed-seed pseudo-random numbers, printed seed, reproducible failures. */
function random(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state;
  };
}

/** Fills a block with bytes that identify (file, LB, generation). */
function stamp(buffer: Uint8Array, fileIndex: number, startLb: number, generation: number): void {
  for (let lb = 0; lb < buffer.byteLength / LB_BYTES; lb++) {
    const view = new DataView(buffer.buffer, buffer.byteOffset + lb * LB_BYTES, LB_BYTES);
    for (let word = 0; word < LB_BYTES / 4; word++) {
      view.setUint32(word * 4, ((fileIndex * 0x9e3779b1) ^ ((startLb + lb) * 0x85ebca6b) ^ (generation * 0xc2b2ae35) ^ word) >>> 0);
    }
  }
}

function expectStamped(buffer: Uint8Array, fileIndex: number, startLb: number, generation: number): void {
  const expected = new Uint8Array(buffer.byteLength);
  stamp(expected, fileIndex, startLb, generation);
  expect(Buffer.from(buffer.buffer, buffer.byteOffset, buffer.byteLength).equals(Buffer.from(expected))).toBe(true);
}

uringPrerequisite().describe('uring backend on image files', () => {
  let directory: string;
  const memory = new WebAssembly.Memory({ initial: ARENA_PAGES, maximum: ARENA_PAGES * 4, shared: true });
  const arena = new Uint8Array(memory.buffer);
  const opened: Device[] = [];

  function imageFile(name: string, sizeBytes = FILE_BYTES): string {
    const path = join(directory, name);
    writeFileSync(path, '');
    truncateSync(path, sizeBytes);
    return path;
  }

  async function open(path: string, exclusive = true): Promise<Device> {
    const device = await openUringDevice(path, { registeredMemory: arena, exclusive });
    opened.push(device);
    return device;
  }

  beforeAll(() => {
    console.log(`uring_file seed=${SEED}`);
    directory = mkdtempSync('/dev/shm/elastripe-uring-');
  });

  afterAll(async () => {
    for (const device of opened) await device.close().catch(() => undefined);
    rmSync(directory, { recursive: true, force: true });
  });

  test('write, flush, read back, and the bytes are in the file', async () => {
    const path = imageFile('roundtrip.img');
    const device = await open(path);
    expect(device.describe()).toMatchObject({ backend: 'uring', kind: 'file', sizeBytes: FILE_BYTES, online: true });
    const source = arena.subarray(0, 3 * LB_BYTES);
    stamp(source, 1, 10, 1);
    await device.write([{ startLb: 10, lengthLb: 3 }], [source]);
    await device.flush();
    const target = arena.subarray(LB_BYTES * 16, LB_BYTES * 19);
    target.fill(0);
    await device.read([{ startLb: 10, lengthLb: 3 }], [target]);
    expectStamped(target, 1, 10, 1);
    const onDisk = readFileSync(path).subarray(10 * LB_BYTES, 13 * LB_BYTES);
    expect(onDisk.equals(Buffer.from(source))).toBe(true);
    (device as unknown as { assertInvariants(): void }).assertInvariants();
  });

  test('thousands of requests in flight over four files, data verified', async () => {
    const next = random(SEED);
    const devices = await Promise.all([0, 1, 2, 3].map((i) => open(imageFile(`many${i}.img`))));
    const fileLbs = FILE_BYTES / LB_BYTES;
    const requestCount = 4000;
    // Distinct LBs per file so the final content is known; every request owns its arena slice.
    const plan = Array.from({ length: requestCount }, (_, i) => ({ file: i % 4, startLb: Math.floor(i / 4) * 2, lengthLb: 1 + (next() % 2) }));
    expect(plan.every((p) => p.startLb + p.lengthLb <= fileLbs)).toBe(true);
    const slices = plan.map((p, i) => arena.subarray(i * 2 * LB_BYTES, (i * 2 + p.lengthLb) * LB_BYTES));
    plan.forEach((p, i) => stamp(slices[i]!, p.file, p.startLb, 2));
    const before = uringRingInfo();
    const writes = plan.map((p, i) => devices[p.file]!.write([{ startLb: p.startLb, lengthLb: p.lengthLb }], [slices[i]!]));
    // Backpressure: after the one batched submission, the ring holds its depth and the rest
    // waits in the TypeScript queue.
    expect(uringRingInfo().queued).toBe(requestCount);
    await new Promise((resolve) => process.nextTick(resolve));
    const during = uringRingInfo();
    expect(during.inflight).toBe(during.sqEntries);
    expect(during.queued).toBe(requestCount - during.sqEntries);
    await Promise.all(writes);
    assertUringRingInvariants();
    for (const slice of slices) slice.fill(0);
    await Promise.all(plan.map((p, i) => devices[p.file]!.read([{ startLb: p.startLb, lengthLb: p.lengthLb }], [slices[i]!])));
    plan.forEach((p, i) => expectStamped(slices[i]!, p.file, p.startLb, 2));
    const after = uringRingInfo();
    expect(after.fixedSubmitted - before.fixedSubmitted).toBeGreaterThanOrEqual(2 * requestCount);
    expect(after.inflight).toBe(0);
    assertUringRingInvariants();
  });

  test('buffers outside the registered arena go as plain READ/WRITE and work too', async () => {
    const device = await open(imageFile('plain.img'));
    const outside = new Uint8Array(new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true }).buffer, 0, 2 * LB_BYTES);
    stamp(outside, 7, 4, 3);
    const before = uringRingInfo();
    await device.write([{ startLb: 4, lengthLb: 2 }], [outside]);
    const inside = arena.subarray(0, 2 * LB_BYTES);
    await device.read([{ startLb: 4, lengthLb: 2 }], [inside]);
    const after = uringRingInfo();
    expect(after.plainSubmitted - before.plainSubmitted).toBe(1);
    expect(after.fixedSubmitted - before.fixedSubmitted).toBe(1);
    expectStamped(inside, 7, 4, 3);
  });

  test('a grown arena is registered again and its new pages go as fixed buffers', async () => {
    const device = await open(imageFile('grow.img'));
    memory.grow(ARENA_PAGES);
    const grown = new Uint8Array(memory.buffer);
    expect(registerUringArena(grown)).toBe(true);
    expect(uringRingInfo().registeredBytes).toBe(grown.byteLength);
    const high = grown.subarray(grown.byteLength - LB_BYTES);
    stamp(high, 9, 0, 4);
    const before = uringRingInfo();
    await device.write([{ startLb: 0, lengthLb: 1 }], [high]);
    await device.read([{ startLb: 0, lengthLb: 1 }], [grown.subarray(0, LB_BYTES)]);
    expect(uringRingInfo().fixedSubmitted - before.fixedSubmitted).toBe(2);
    expectStamped(grown.subarray(0, LB_BYTES), 9, 0, 4);
  });

  test('misaligned and malformed requests are refused before submission', async () => {
    const device = await open(imageFile('checks.img'));
    const extent = { startLb: 0, lengthLb: 1 };
    await expect(device.read([extent], [arena.subarray(100, 100 + LB_BYTES)])).rejects.toBeInstanceOf(MisalignedIoError);
    await expect(device.read([extent], [arena.subarray(0, 1000)])).rejects.toBeInstanceOf(MisalignedIoError);
    await expect(device.read([extent], [arena.subarray(0, 2 * LB_BYTES)])).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(device.read([{ startLb: 0.5, lengthLb: 1 }], [arena.subarray(0, LB_BYTES)])).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(device.read([extent], [])).rejects.toBeInstanceOf(InvalidArgumentError);
    const lastLb = FILE_BYTES / LB_BYTES - 1;
    await expect(device.read([{ startLb: lastLb, lengthLb: 2 }], [arena.subarray(0, 2 * LB_BYTES)])).rejects.toThrow(/past the end/);
    await device.read([{ startLb: lastLb, lengthLb: 1 }], [arena.subarray(0, LB_BYTES)]);
    expect(uringRingInfo().inflight).toBe(0);
  });

  test('the kernel returning 0 bytes (file shrank under us) is a typed error, not zeros', async () => {
    const path = imageFile('shrink.img');
    const device = await open(path);
    truncateSync(path, FILE_BYTES / 2);
    const error = await device.read([{ startLb: FILE_BYTES / LB_BYTES - 1, lengthLb: 1 }], [arena.subarray(0, LB_BYTES)]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DeviceIoError);
    expect((error as DeviceIoError).errno).toBe(5);
    expect((error as DeviceIoError).message).toMatch(/past the end/);
  });

  test('a short read is resubmitted for the rest (and the rest, at the new end, fails typed)', async () => {
    const path = imageFile('short.img');
    const device = await open(path);
    truncateSync(path, FILE_BYTES - 2 * LB_BYTES);
    const target = arena.subarray(0, 4 * LB_BYTES);
    const error = await device.read([{ startLb: FILE_BYTES / LB_BYTES - 4, lengthLb: 4 }], [target]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DeviceIoError);
    // The first SQE moved 2 LBs; the resubmission for the other 2 found the end of the file.
    expect((error as DeviceIoError).offsetBytes).toBe(FILE_BYTES - 2 * LB_BYTES);
  });

  test('an image file open exclusively is refused to a second opener', async () => {
    const path = imageFile('busy.img');
    await open(path);
    await expect(openUringDevice(path, { exclusive: true })).rejects.toBeInstanceOf(DeviceBusyError);
    const shared = await open(path, false);
    expect(shared.online).toBe(true);
  });

  test('writeDurable (RWF_DSYNC) writes from fixed and plain buffers, reads back, and is validated like write', async () => {
    const path = imageFile('durable.img');
    const device = await open(path);
    expect(typeof device.writeDurable).toBe('function');
    const fixed = arena.subarray(0, 2 * LB_BYTES);
    stamp(fixed, 7, 20, 1);
    // A plain (not registered) buffer: an aligned view of a memory of its own.
    const plainMemory = new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
    const plain = new Uint8Array(plainMemory.buffer, 0, LB_BYTES);
    stamp(plain, 7, 30, 2);
    await device.writeDurable!([{ startLb: 20, lengthLb: 2 }, { startLb: 30, lengthLb: 1 }], [fixed, plain]);
    const onDisk = readFileSync(path);
    expect(onDisk.subarray(20 * LB_BYTES, 22 * LB_BYTES).equals(Buffer.from(fixed))).toBe(true);
    expect(onDisk.subarray(30 * LB_BYTES, 31 * LB_BYTES).equals(Buffer.from(plain))).toBe(true);
    const target = arena.subarray(8 * LB_BYTES, 10 * LB_BYTES);
    await device.read([{ startLb: 20, lengthLb: 2 }], [target]);
    expectStamped(target, 7, 20, 1);
    await expect(device.writeDurable!([{ startLb: 0, lengthLb: 1 }], [arena.subarray(1, LB_BYTES + 1)])).rejects.toBeInstanceOf(MisalignedIoError);
    await expect(device.writeDurable!([{ startLb: FILE_BYTES / LB_BYTES, lengthLb: 1 }], [fixed.subarray(0, LB_BYTES)])).rejects.toThrow(/past the end/);
    (device as unknown as { assertInvariants(): void }).assertInvariants();
  });

  test('the addon names its durable-write op (an older build has none: no writeDurable) and refuses ops it does not know', async () => {
    await open(imageFile('ops.img')); // the ring is up
    expect(uringAddon().writeDsyncOp).toBe(4);
    expect(addonWritesDurably(uringAddon())).toBe(true);
    expect(addonWritesDurably({})).toBe(false);
    const rows = new Float64Array(6);
    rows.set([99, -1, 0, LB_BYTES, 0, 0]);
    expect(() => uringAddon().submit(rows, [arena.subarray(0, LB_BYTES)], 1)).toThrow(RangeError);
    expect(uringRingInfo().inflight).toBe(0);
  });

  test('a missing path is a DeviceIoError with ENOENT', async () => {
    const error = await openUringDevice(join(directory, 'absent.img')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DeviceIoError);
    expect((error as DeviceIoError).errno).toBe(2);
  });

  test('trim punches a hole; closed devices refuse I/O; close waits for in-flight I/O', async () => {
    const device = await open(imageFile('trim.img'));
    const block = arena.subarray(0, 4 * LB_BYTES);
    block.fill(0xab);
    await device.write([{ startLb: 8, lengthLb: 4 }], [block]);
    await device.trim([{ startLb: 8, lengthLb: 4 }]);
    await device.read([{ startLb: 8, lengthLb: 4 }], [block]);
    expect(block.every((byte) => byte === 0)).toBe(true);
    const pending = device.write([{ startLb: 0, lengthLb: 4 }], [block]);
    await device.close();
    await pending; // close() waited for it
    await expect(device.read([{ startLb: 0, lengthLb: 1 }], [arena.subarray(0, LB_BYTES)])).rejects.toBeInstanceOf(DeviceFailedError);
    expect(device.online).toBe(false);
  });
});
