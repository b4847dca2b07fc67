// Deferred fixed-buffer registration (RuntimeOptions.fixedBuffers 'after-large-transfer'): the
// ring registers the arena's low part only once enough bytes have moved, also while plain
// requests are still in flight, and every byte stays right across the switch. Its own file:
// the ring is per thread, and a vitest file gets a fresh thread, so nothing is registered yet.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LB_BYTES } from '../../src/constants.js';
import type { Device } from '../../src/devices/device.js';
import { assertUringRingInvariants, openUringDevice, uringRingInfo } from '../../src/devices/uring_device.js';
import { uringPrerequisite } from '../helpers/prerequisites.js';

const ARENA_PAGES = 64; // 4 MiB of 64 KiB WebAssembly pages
const REGISTERED_BYTES = 2 << 20; // the low half is registered...
const AFTER_BYTES = 2 << 20; // ...once 2 MiB have moved (reads count too)
const CHUNK_BYTES = 64 << 10;

function fill(buffer: Uint8Array, seed: number): void {
  for (let i = 0; i < buffer.byteLength; i += 4) new DataView(buffer.buffer, buffer.byteOffset + i, 4).setUint32(0, (seed * 0x9e3779b1 + i * 0x85ebca6b) >>> 0);
}

uringPrerequisite().describe('uring: fixed buffers registered after a large transfer', () => {
  let directory: string;
  let device: Device;
  const memory = new WebAssembly.Memory({ initial: ARENA_PAGES, maximum: ARENA_PAGES, shared: true });
  const arena = new Uint8Array(memory.buffer);

  beforeAll(async () => {
    directory = mkdtempSync('/dev/shm/elastripe-uring-lazy-');
    const path = join(directory, 'lazy.img');
    writeFileSync(path, '');
    truncateSync(path, 16 << 20);
    device = await openUringDevice(path, { registeredMemory: arena.subarray(0, REGISTERED_BYTES), registerAfterBytes: AFTER_BYTES });
  });

  afterAll(async () => {
    await device?.close().catch(() => undefined);
    rmSync(directory, { recursive: true, force: true });
  });

  /** Writes `count` chunks from arena offset `from` at device chunk `at`, all in one tick. */
  function writeChunks(from: number, at: number, count: number, seed: number): Promise<void>[] {
    return Array.from({ length: count }, (_, i) => {
      const source = arena.subarray(from + i * CHUNK_BYTES, from + (i + 1) * CHUNK_BYTES);
      fill(source, seed + i);
      return device.write([{ startLb: ((at + i) * CHUNK_BYTES) / LB_BYTES, lengthLb: CHUNK_BYTES / LB_BYTES }], [source]);
    });
  }

  async function expectChunks(at: number, count: number, seed: number): Promise<void> {
    const target = arena.subarray(3 << 20, (3 << 20) + CHUNK_BYTES); // outside the registered part: plain
    const expected = new Uint8Array(CHUNK_BYTES);
    for (let i = 0; i < count; i++) {
      await device.read([{ startLb: ((at + i) * CHUNK_BYTES) / LB_BYTES, lengthLb: CHUNK_BYTES / LB_BYTES }], [target]);
      fill(expected, seed + i);
      expect(Buffer.from(target).equals(Buffer.from(expected))).toBe(true);
    }
  }

  test('small transfers stay on plain buffers: nothing is pinned', async () => {
    await Promise.all(writeChunks(0, 0, 4, 100)); // 256 KiB
    const info = uringRingInfo();
    expect(info.fixedBuffersRegistered).toBe(false);
    expect(info.registeredBytes).toBe(0);
    expect(info.fixedSubmitted).toBe(0);
    await expectChunks(0, 4, 100);
  });

  test('passing the mark registers the low part, with plain writes still in flight, and the bytes stay right', async () => {
    const plainBefore = uringRingInfo().plainSubmitted;
    // 512 KiB moved so far (the first test's writes and reads). 8 chunks (512 KiB, plain) go out
    // in one tick; 20 more (1.25 MiB) in the next pass the 2 MiB mark while the first ones may
    // still be in flight, and go out as fixed buffers.
    const first = writeChunks(0, 8, 8, 200);
    await new Promise((resolve) => process.nextTick(resolve));
    expect(uringRingInfo().fixedBuffersRegistered).toBe(false);
    const second = writeChunks(8 * CHUNK_BYTES, 16, 20, 300);
    await Promise.all([...first, ...second]);
    const info = uringRingInfo();
    expect(info.fixedBuffersRegistered).toBe(true);
    expect(info.registeredBytes).toBe(REGISTERED_BYTES);
    expect(info.plainSubmitted - plainBefore).toBe(8);
    expect(info.fixedSubmitted).toBe(20);
    assertUringRingInvariants();
    await expectChunks(8, 8, 200);
    await expectChunks(16, 20, 300);
  });

  test('after it, buffers in the registered part go fixed and the rest plain', async () => {
    const before = uringRingInfo();
    await Promise.all(writeChunks(0, 40, 2, 400)); // registered part
    await Promise.all(writeChunks(REGISTERED_BYTES, 42, 2, 500)); // above it
    const after = uringRingInfo();
    expect(after.fixedSubmitted - before.fixedSubmitted).toBe(2);
    expect(after.plainSubmitted - before.plainSubmitted).toBe(2);
    await expectChunks(40, 2, 400);
    await expectChunks(42, 2, 500);
  });
});
