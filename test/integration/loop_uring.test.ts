// The uring backend on real loop block devices (files in /dev/shm): round trips with many
// requests in flight, O_EXCL refusal of a second opener, alignment to the device's own
// logical block size, reads past the end, and a device detached or shrunk while open and
// mid-I/O. Needs root, loop devices and the io_uring addon (see test/helpers/prerequisites.ts).
import { afterAll, beforeAll, expect, test } from 'vitest';
import { execFileSync } from 'node:child_process';
import { openSync, readSync, closeSync, truncateSync } from 'node:fs';
import { LB_BYTES } from '../../src/constants.js';
import { DeviceBusyError, DeviceFailedError, DeviceIoError, InvalidArgumentError, MisalignedIoError } from '../../src/errors.js';
import type { Device } from '../../src/devices/device.js';
import { assertUringRingInvariants, openUringDevice, uringRingInfo } from '../../src/devices/uring_device.js';
import { LoopDeviceSet, type LoopDevice } from '../helpers/loop_devices.js';
import { loopDevicesPrerequisite, uringPrerequisite } from '../helpers/prerequisites.js';

const prerequisites = uringPrerequisite().and(loopDevicesPrerequisite());
const DEVICE_BYTES = 32 << 20;
const SEED = Number(process.env.ELASTRIPE_SEED ?? 0x10b);

function fillPattern(buffer: Uint8Array, salt: number): void {
  for (let i = 0; i < buffer.length; i += 4) {
    const value = Math.imul(i + salt, 0x9e3779b1) >>> 0;
    buffer[i] = value & 255;
    buffer[i + 1] = (value >>> 8) & 255;
    buffer[i + 2] = (value >>> 16) & 255;
    buffer[i + 3] = value >>> 24;
  }
}

function readBacking(loop: LoopDevice, offsetBytes: number, lengthBytes: number): Buffer {
  const fd = openSync(loop.backingPath, 'r');
  try {
    const bytes = Buffer.alloc(lengthBytes);
    readSync(fd, bytes, 0, lengthBytes, offsetBytes);
    return bytes;
  } finally {
    closeSync(fd);
  }
}

prerequisites.describe('uring backend on loop devices', () => {
  const set = new LoopDeviceSet();
  const memory = new WebAssembly.Memory({ initial: 1024, maximum: 1024, shared: true });
  const arena = new Uint8Array(memory.buffer);
  const opened: Device[] = [];

  async function open(path: string): Promise<Device> {
    const device = await openUringDevice(path, { registeredMemory: arena });
    opened.push(device);
    return device;
  }

  beforeAll(() => console.log(`loop_uring seed=${SEED}`));

  afterAll(async () => {
    try {
      for (const device of opened) await device.close().catch(() => undefined);
    } finally {
      set.destroyAll();
    }
  });

  test('three loop devices: 3000 requests in flight, data verified on the devices and in the backing files', async () => {
    const loopsMade = [0, 1, 2].map(() => set.create(DEVICE_BYTES));
    const devices = await Promise.all(loopsMade.map((loop) => open(loop.path)));
    for (const device of devices) expect(device.describe()).toMatchObject({ kind: 'block', sizeBytes: DEVICE_BYTES, logicalBlockBytes: 512 });
    const perDevice = 1000;
    const source = arena.subarray(0, perDevice * 3 * LB_BYTES);
    fillPattern(source, SEED);
    const extentOf = (i: number) => ({ startLb: (i * 7) % (DEVICE_BYTES / LB_BYTES), lengthLb: 1 });
    const slice = (buffer: Uint8Array, n: number) => buffer.subarray(n * LB_BYTES, (n + 1) * LB_BYTES);
    await Promise.all(devices.flatMap((device, d) => Array.from({ length: perDevice }, (_, i) =>
      device.write([extentOf(i)], [slice(source, d * perDevice + i)]))));
    await Promise.all(devices.map((device) => device.flush()));
    const target = arena.subarray(source.length, 2 * source.length);
    await Promise.all(devices.flatMap((device, d) => Array.from({ length: perDevice }, (_, i) =>
      device.read([extentOf(i)], [slice(target, d * perDevice + i)]))));
    expect(Buffer.from(target).equals(Buffer.from(source))).toBe(true);
    assertUringRingInvariants();
    const backing = readBacking(loopsMade[2]!, extentOf(5).startLb * LB_BYTES, LB_BYTES);
    expect(backing.equals(Buffer.from(slice(source, 2 * perDevice + 5)))).toBe(true);
    expect(uringRingInfo().fixedBuffersRegistered).toBe(true);
  });

  test('a loop device open exclusively is refused to a second opener (O_EXCL)', async () => {
    const loop = set.create(DEVICE_BYTES);
    await open(loop.path);
    await expect(openUringDevice(loop.path, {})).rejects.toBeInstanceOf(DeviceBusyError);
  });

  test('alignment follows the device: 4096-byte sectors refuse a 512-aligned buffer', async () => {
    const loop = set.create(DEVICE_BYTES, { sectorBytes: 4096 });
    const device = await open(loop.path);
    expect(device.logicalBlockBytes).toBe(4096);
    const misaligned = arena.subarray(512, 512 + LB_BYTES);
    await expect(device.write([{ startLb: 0, lengthLb: 1 }], [misaligned])).rejects.toBeInstanceOf(MisalignedIoError);
    await expect(device.read([{ startLb: 0, lengthLb: 1 }], [arena.subarray(0, 2048)])).rejects.toBeInstanceOf(MisalignedIoError);
  });

  test('trim discards on a loop device (fallocate punch hole): the range reads back as zeros', async () => {
    const loop = set.create(DEVICE_BYTES);
    const device = await open(loop.path);
    const block = arena.subarray(0, 8 * LB_BYTES);
    fillPattern(block, 5);
    await device.write([{ startLb: 16, lengthLb: 8 }], [block]);
    await device.trim([{ startLb: 18, lengthLb: 4 }]);
    await device.read([{ startLb: 16, lengthLb: 8 }], [block]);
    const expected = new Uint8Array(8 * LB_BYTES);
    fillPattern(expected, 5);
    expected.fill(0, 2 * LB_BYTES, 6 * LB_BYTES);
    expect(Buffer.from(block).equals(Buffer.from(expected))).toBe(true);
  });

  test('reads past the end are refused, typed', async () => {
    const loop = set.create(DEVICE_BYTES);
    const device = await open(loop.path);
    const lastLb = DEVICE_BYTES / LB_BYTES - 1;
    await expect(device.read([{ startLb: lastLb + 1, lengthLb: 1 }], [arena.subarray(0, LB_BYTES)])).rejects.toBeInstanceOf(InvalidArgumentError);
    await device.read([{ startLb: lastLb, lengthLb: 1 }], [arena.subarray(0, LB_BYTES)]);
  });

  test('detached while open: I/O continues until close, then the device goes away', async () => {
    const loop = set.create(DEVICE_BYTES);
    const device = await open(loop.path);
    set.detach(loop); // the kernel defers it (autoclear) while we hold the device open
    const block = arena.subarray(0, LB_BYTES);
    fillPattern(block, 77);
    await device.write([{ startLb: 3, lengthLb: 1 }], [block]);
    block.fill(0);
    await device.read([{ startLb: 3, lengthLb: 1 }], [block]);
    const expected = new Uint8Array(LB_BYTES);
    fillPattern(expected, 77);
    expect(Buffer.from(block).equals(Buffer.from(expected))).toBe(true);
    await device.close();
    for (let attempt = 0; attempt < 50 && set.isAttached(loop); attempt++) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(set.isAttached(loop)).toBe(false);
  });

  test('detached and shrunk mid-I/O: every request settles, typed, nothing hangs', async () => {
    const loop = set.create(DEVICE_BYTES);
    const device = await open(loop.path);
    const count = 2000;
    const buffers = Array.from({ length: count }, (_, i) => arena.subarray((i % 4096) * LB_BYTES, (i % 4096 + 1) * LB_BYTES));
    const requests = buffers.map((buffer, i) => device.read([{ startLb: i % (DEVICE_BYTES / LB_BYTES), lengthLb: 1 }], [buffer]));
    await new Promise((resolve) => process.nextTick(resolve)); // the first batch is in the kernel
    set.detach(loop);
    truncateSync(loop.backingPath, 0);
    execFileSync('losetup', ['--set-capacity', loop.path], { stdio: 'pipe' });
    const results = await Promise.allSettled(requests);
    for (const result of results) {
      if (result.status === 'rejected') expect(result.reason).toBeInstanceOf(DeviceIoError);
    }
    // From now on the device has no bytes: the kernel's 0-byte read is an error, not zeros.
    const error = await device.read([{ startLb: 1, lengthLb: 1 }], [buffers[0]!]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DeviceIoError);
    expect((error as DeviceIoError).errno).toBe(5);
    expect(uringRingInfo().inflight).toBe(0);
    assertUringRingInvariants();
    await device.close();
    await expect(device.flush()).rejects.toBeInstanceOf(DeviceFailedError);
  });
});
