// Faults that must cost a retry or a degraded operation, not the operation itself (issue 12,
// items 7-9), with the in-process faulty device: a flush that fails on one device, reads that
// fail once, a superblock copy that cannot be read, and writes failing on more than m devices.
import { mkdirSync } from 'node:fs';
import { beforeEach, describe, expect, it } from 'vitest';
import { DiskArray } from '../../src/array/disk_array.js';
import type { CreateOptions } from '../../src/array/types.js';
import type { Device, DeviceExtent } from '../../src/devices/device.js';
import { createImageFile, openDevice } from '../../src/devices/open_device.js';
import { DeviceIoError } from '../../src/errors.js';
import { FaultyDevice } from '../sim/faulty_device.js';
import { MIB, patternBytes, TEST_RUNTIME, useArraySuite } from '../helpers/temp_array.js';

const suite = useArraySuite();
let faulty: FaultyDevice[];
beforeEach(() => {
  faulty = [];
});

async function createFaulty(deviceCount: number, options: Partial<CreateOptions> = {}): Promise<{ array: DiskArray; wrap: (deviceId: number) => FaultyDevice }> {
  const home = suite.dir.file('home');
  mkdirSync(home);
  const devices = Array.from({ length: deviceCount }, (_, i) => suite.dir.file(`dev${i}.img`));
  for (const path of devices) await createImageFile(path, 64 * MIB);
  const array = await DiskArray.create({
    ...TEST_RUNTIME,
    home,
    devices,
    ...options,
    openDevice: async (path, openOptions) => {
      const device = new FaultyDevice(await openDevice(path, openOptions), { seed: 7 + faulty.length });
      faulty.push(device);
      return device;
    },
  });
  return { array, wrap: (deviceId) => faulty.slice(-deviceCount)[deviceId - 1]! };
}

/** A device whose every read fails once per extent with EIO, then succeeds (a flaky path). */
class ReadsFailOnce implements Device {
  private readonly failed = new Set<string>();
  failures = 0;
  constructor(private readonly inner: Device) {}
  get path() { return this.inner.path; }
  get backend() { return this.inner.backend; }
  get sizeBytes() { return this.inner.sizeBytes; }
  get logicalBlockBytes() { return this.inner.logicalBlockBytes; }
  get online() { return this.inner.online; }
  async read(extents: readonly DeviceExtent[], buffers: readonly Uint8Array[]): Promise<void> {
    const key = extents.map((extent) => `${extent.startLb}+${extent.lengthLb}`).join(',');
    if (!this.failed.has(key)) {
      this.failed.add(key);
      this.failures++;
      throw new DeviceIoError(this.path, 'read', extents[0]!.startLb * 4096, 5, 'injected once');
    }
    return this.inner.read(extents, buffers);
  }
  write(extents: readonly DeviceExtent[], buffers: readonly Uint8Array[]) { return this.inner.write(extents, buffers); }
  flush() { return this.inner.flush(); }
  trim(extents: readonly DeviceExtent[]) { return this.inner.trim(extents); }
  close() { return this.inner.close(); }
  describe() { return this.inner.describe(); }
}

describe('degraded I/O', () => {
  it('finishes a put whose flush fails on one device: degraded, that device failed, every byte readable', async () => {
    const { array, wrap } = await createFaulty(4, { parityCount: 1 });
    suite.array = array;
    wrap(3).plan.flushFails = true;
    const content = patternBytes(5 * MIB + 11, 3);
    await array.put('degraded', content);
    expect(array.status().devices[2]!.state).toBe('failed');
    expect((await array.get('degraded')).equals(content)).toBe(true);
    await array.rebuild();
    expect((await array.get('degraded')).equals(content)).toBe(true);
    expect((await array.fsck({ deep: true })).problems).toEqual([]);
  });

  it('marks at most m devices failed on its own when writes fail on more', async () => {
    const { array, wrap } = await createFaulty(5, { parityCount: 1 });
    suite.array = array;
    const kept = patternBytes(MIB, 4);
    await array.put('kept', kept);
    wrap(1).plan.writeErrorRate = 1;
    wrap(2).plan.writeErrorRate = 1;
    wrap(3).plan.writeErrorRate = 1;
    await array.put('during', patternBytes(3 * MIB, 5)).catch(() => undefined);
    expect(array.status().devices.filter((device) => device.state !== 'online').length).toBe(1);
    expect((await array.get('kept')).equals(kept)).toBe(true);
  });

  it('retries a read that fails once instead of losing the block, even with another device down', async () => {
    const home = suite.dir.file('home');
    mkdirSync(home);
    const devices = [0, 1, 2, 3].map((i) => suite.dir.file(`dev${i}.img`));
    for (const path of devices) await createImageFile(path, 64 * MIB);
    const array = await DiskArray.create({ ...TEST_RUNTIME, home, devices, parityCount: 1 });
    const content = patternBytes(6 * MIB + 5, 6);
    await array.put('file', content);
    await array.failDevice(4);
    await array.close();
    let flaky: ReadsFailOnce | undefined;
    suite.array = await DiskArray.open(home, {
      ...TEST_RUNTIME,
      openDevice: async (path, options) => {
        const device = await openDevice(path, options);
        return path === devices[1] ? (flaky = new ReadsFailOnce(device)) : device;
      },
    });
    expect((await suite.array.get('file')).equals(content)).toBe(true);
    expect(flaky!.failures).toBeGreaterThan(0);
    expect(suite.array.status().devices[1]!.state).toBe('online');
  });

  it('opens a device whose primary superblock cannot be read, from the backup copy', async () => {
    const home = suite.dir.file('home');
    mkdirSync(home);
    const devices = [0, 1, 2].map((i) => suite.dir.file(`dev${i}.img`));
    for (const path of devices) await createImageFile(path, 64 * MIB);
    const array = await DiskArray.create({ ...TEST_RUNTIME, home, devices });
    const content = patternBytes(MIB, 8);
    await array.put('file', content);
    await array.close();
    suite.array = await DiskArray.open(home, {
      ...TEST_RUNTIME,
      openDevice: async (path, options) => {
        const device = await openDevice(path, options);
        if (path !== devices[0]) return device;
        const wrapped = new FaultyDevice(device);
        const read = wrapped.read.bind(wrapped);
        wrapped.read = async (extents, buffers) => {
          if (extents[0]!.startLb === 0) throw new DeviceIoError(path, 'read', 0, 5, 'injected: bad sector under the primary');
          return read(extents, buffers);
        };
        return wrapped;
      },
    });
    expect(suite.array.status().devices[0]!.state).toBe('online');
    expect((await suite.array.get('file')).equals(content)).toBe(true);
  });
});
