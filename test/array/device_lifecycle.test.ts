// Device lifecycle and heal policies in-process (device_lifecycle.ts, heal_policy.ts,
// health_monitor.ts): resync of a returning device, spares, automatic expansion, periodic
// scrub, a policy job cancelled by close and resumed by the next open.
import { closeSync, mkdirSync, openSync, rmSync, writeSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { LB_BYTES } from '../../src/constants.js';
import { DiskArray } from '../../src/array/disk_array.js';
import type { ArrayEvent } from '../../src/array/array_events.js';
import type { CreateOptions } from '../../src/array/types.js';
import { nextEvent } from '../helpers/array_events.js';
import { LIFECYCLE_TRANSITIONS } from '../../src/array/device_lifecycle.js';
import type { Device, DeviceExtent } from '../../src/devices/device.js';
import { createImageFile, openDevice } from '../../src/devices/open_device.js';
import { DeviceFailedError } from '../../src/errors.js';
import { createTempArray, MIB, patternBytes, TEST_RUNTIME, useArraySuite } from '../helpers/temp_array.js';

const suite = useArraySuite();
const WAIT_MS = 15_000;

/**
 * A real device that, once told to, acknowledges writes without making them (a volatile cache
 * that is then lost) and drops offline at the next flush: a put finishes degraded, with blocks
 * of it committed that never reached this device.
 */
class LossyDevice implements Device {
  lose = false;
  /** Holds each flush this long first (a slow device the put's commit waits for). */
  flushDelayMs = 0;
  private offline = false;
  constructor(private readonly inner: Device) {}
  get path() {
    return this.inner.path;
  }
  get backend() {
    return this.inner.backend;
  }
  get sizeBytes() {
    return this.inner.sizeBytes;
  }
  get logicalBlockBytes() {
    return this.inner.logicalBlockBytes;
  }
  get online() {
    return !this.offline && this.inner.online;
  }
  async read(extents: readonly DeviceExtent[], buffers: readonly Uint8Array[]) {
    if (this.offline) throw new DeviceFailedError(this.path, 'dropped by the test');
    return this.inner.read(extents, buffers);
  }
  async write(extents: readonly DeviceExtent[], buffers: readonly Uint8Array[]) {
    if (this.offline) throw new DeviceFailedError(this.path, 'dropped by the test');
    if (this.lose) return;
    return this.inner.write(extents, buffers);
  }
  async flush() {
    if (this.flushDelayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.flushDelayMs));
    if (this.lose) this.offline = true;
    if (this.offline) throw new DeviceFailedError(this.path, 'dropped by the test');
    return this.inner.flush();
  }
  trim(extents: readonly DeviceExtent[]) {
    return this.inner.trim(extents);
  }
  close() {
    return this.inner.close();
  }
  describe() {
    return this.inner.describe();
  }
}


/** Four 64 MiB image devices, parity 1, each opened as a LossyDevice (the newest per path in `latest`). */
async function createLossyArray(policies?: CreateOptions['policies']): Promise<{ array: DiskArray; home: string; paths: string[]; latest: Map<string, LossyDevice> }> {
  const home = suite.dir.file('home');
  mkdirSync(home);
  const paths = [0, 1, 2, 3].map((i) => suite.dir.file(`dev${i}.img`));
  for (const path of paths) await createImageFile(path, 64 * MIB);
  const latest = new Map<string, LossyDevice>();
  const array = await DiskArray.create({
    ...TEST_RUNTIME,
    home,
    devices: paths,
    parityCount: 1,
    extentLbMax: 16,
    ...(policies ? { policies } : {}),
    openDevice: async (path, options) => {
      const device = new LossyDevice(await openDevice(path, options));
      latest.set(path, device);
      return device;
    },
  });
  suite.array = array;
  return { array, home, paths, latest };
}

function rot(devicePath: string, startLb: number): void {
  const fd = openSync(devicePath, 'r+');
  try {
    writeSync(fd, Buffer.from('bit rot'), 0, 7, startLb * LB_BYTES + 64);
  } finally {
    closeSync(fd);
  }
}

describe('device lifecycle', () => {
  it('the transition table ends in removed and never leaves it', () => {
    expect(LIFECYCLE_TRANSITIONS.removed).toEqual([]);
    for (const [from, targets] of Object.entries(LIFECYCLE_TRANSITIONS)) expect(targets, from).not.toContain(from);
    expect(LIFECYCLE_TRANSITIONS.missing).toContain('online');
    expect(LIFECYCLE_TRANSITIONS.online).not.toContain('removed'); // only through draining or failed
  });

  it('a device that dropped during a put returns: only the groups committed while it was away are resynced, and repaired', async () => {
    const { array, paths, latest } = await createLossyArray({ probeIntervalMs: 100, rebuildDelayMs: Infinity, autoExpand: false });
    const before = patternBytes(3 * MIB, 1);
    await array.put('before', before);
    const events: ArrayEvent[] = [];
    array.on('event', (event) => events.push(event));

    const resynced = nextEvent(array, 'jobFinished', (event) => event.type === 'jobFinished' && event.kind === 'resync 2');
    latest.get(paths[1]!)!.lose = true;
    const content = patternBytes(4 * MIB, 2);
    const stat = await array.put('big', content); // finishes degraded: device 2's blocks never landed
    const onDevice2 = stat.groups.filter((group) => group.extents.some((extent) => extent.deviceId === 2)).length;
    expect(onDevice2).toBeGreaterThan(0);
    const finished = await resynced;
    // The whole event on failure: its detail says what the resync left (seen once under load 5+).
    expect(finished, JSON.stringify(finished)).toMatchObject({ outcome: 'done', trigger: 'policy' });
    const missing = events.find((event) => event.type === 'deviceMissing');
    expect(missing).toMatchObject({ deviceId: 2 });
    const returned = events.find((event) => event.type === 'deviceReturned') as { groupsToCheck: number };
    // Exactly the groups of the put that lost its blocks; 'before' was committed earlier.
    expect(returned.groupsToCheck).toBe(onDevice2);
    const repaired = events.filter((event) => event.type === 'blockRepaired');
    expect(repaired.length).toBe(onDevice2);
    for (const event of repaired) expect(event).toMatchObject({ deviceId: 2 });
    expect(array.status().devices[1]!.state).toBe('online');
    expect(array.status().jobs.some((job) => job.kind === 'rebuild')).toBe(false);
    array.assertInvariants();
    // Every block of it is right now: reads need no reconstruction, a deep fsck finds nothing.
    const degraded = array.status().degradedReads;
    expect((await array.get('big')).equals(content)).toBe(true);
    expect((await array.get('before')).equals(before)).toBe(true);
    expect(array.status().degradedReads).toBe(degraded);
    expect((await array.fsck({ deep: true })).problems).toEqual([]);
  });

  it('a device back before the degraded put that lost its blocks commits: that put\'s groups on it are resynced too', async () => {
    const { array, paths, latest } = await createLossyArray({ probeIntervalMs: 10, rebuildDelayMs: Infinity, autoExpand: false });
    latest.get(paths[1]!)!.lose = true;
    latest.get(paths[2]!)!.flushDelayMs = 500; // the put's commit waits for device 3's flush
    const content = patternBytes(4 * MIB, 21);
    const stat = await array.put('big', content);
    expect(stat.groups.some((group) => group.extents.some((extent) => extent.deviceId === 2))).toBe(true);
    latest.get(paths[2]!)!.flushDelayMs = 0;
    await expect.poll(() => array.status().devices[1]!.state, { timeout: WAIT_MS }).toBe('online');
    await expect.poll(() => array.status().jobs.every((job) => job.state !== 'running'), { timeout: WAIT_MS }).toBe(true);
    const degraded = array.status().degradedReads;
    expect((await array.fsck({ deep: true })).problems).toEqual([]);
    expect((await array.get('big')).equals(content)).toBe(true);
    expect(array.status().degradedReads).toBe(degraded);
  });

  // The away record is persisted (schema 6) and journaled: a device that drops, then is back
  // before the next process starts, is resynced by that open; an import carries it too.
  for (const reopen of ['open', 'import'] as const) {
    it(`a device that dropped during a put and is back at the next ${reopen}: that ${reopen} resyncs exactly the groups owed`, async () => {
      const created = await createLossyArray();
      const { home, paths, latest } = created;
      suite.array = created.array; // (already; narrows the type for what follows)
      const before = patternBytes(3 * MIB, 11);
      await suite.array.put('before', before);
      latest.get(paths[1]!)!.lose = true;
      const content = patternBytes(4 * MIB, 12);
      const stat = await suite.array.put('big', content); // device 2's blocks never landed
      const onDevice2 = stat.groups.filter((group) => group.extents.some((extent) => extent.deviceId === 2)).length;
      expect(onDevice2).toBeGreaterThan(0);
      expect(suite.array.status().devices[1]!.state).toBe('missing');
      suite.array.assertInvariants();
      await suite.array.close();
      suite.array = undefined;

      const events: ArrayEvent[] = [];
      const onEvent = (event: ArrayEvent): void => void events.push(event);
      if (reopen === 'import') {
        rmSync(home, { recursive: true });
        suite.array = await DiskArray.import({ ...TEST_RUNTIME, home: suite.dir.file('home2'), devices: paths, scan: false, onEvent });
      } else {
        suite.array = await DiskArray.open(home, { ...TEST_RUNTIME, scan: false, onEvent });
      }
      const array = suite.array;
      expect(array.status().devices[1]!.state).toBe('online');
      await expect.poll(() => array.status().jobs.find((job) => job.kind === 'resync 2')?.state, { timeout: WAIT_MS }).toBe('done');
      expect(events.find((event) => event.type === 'deviceReturned')).toMatchObject({ deviceId: 2, groupsToCheck: onDevice2 });
      const repaired = events.filter((event) => event.type === 'blockRepaired');
      expect(repaired.length).toBe(onDevice2);
      for (const event of repaired) expect(event).toMatchObject({ deviceId: 2 });
      array.assertInvariants();
      const degraded = array.status().degradedReads;
      expect((await array.get('big')).equals(content)).toBe(true);
      expect((await array.get('before')).equals(before)).toBe(true);
      expect(array.status().degradedReads).toBe(degraded);
      expect((await array.fsck({ deep: true })).problems).toEqual([]);
    });
  }
});

describe('a failed device brought online', () => {
  it('is resynced in full: its blocks are not trusted, whenever they were written', async () => {
    let devices: string[];
    ({ array: suite.array, devices } = await createTempArray(suite.dir, { parityCount: 1, policies: { probeIntervalMs: Infinity, rebuildDelayMs: Infinity, autoExpand: false } }));
    const array = suite.array;
    const content = patternBytes(6 * MIB, 31);
    const stat = await array.put('old', content);
    await array.failDevice(2, 'pulled');
    // While it was failed its image changed under it (a write that never landed is the same):
    // a block of a group committed long before it failed.
    const victim = stat.groups.flatMap((group) => group.extents).find((extent) => extent.deviceId === 2)!;
    rot(devices[1]!, victim.startLb);
    const resynced = nextEvent(array, 'jobFinished', (event) => event.type === 'jobFinished' && event.kind === 'resync 2');
    expect((await array.onlineDevice(2)).state).toBe('online');
    expect(await resynced).toMatchObject({ outcome: 'done' });
    // The resync alone repaired it: a deep fsck before any read finds nothing.
    expect((await array.fsck({ deep: true })).problems).toEqual([]);
    expect((await array.get('old')).equals(content)).toBe(true);
    array.assertInvariants();
  });
});

describe('spares', () => {
  it('a spare takes no new groups, stays a spare across reopen, and a policy rebuild uses it in place of a failed device', async () => {
    let devices: string[];
    ({ array: suite.array, devices } = await createTempArray(suite.dir, { deviceCount: 4, extentLbMax: 16 }));
    const spare = suite.dir.file('spare.img');
    const added = await suite.array.addDevice(spare, { createSizeBytes: 64 * MIB, spare: true });
    expect(added).toMatchObject({ deviceId: 5, state: 'spare', usedBytes: 0 });
    const files = new Map([0, 1, 2].map((i) => [`f${i}`, patternBytes(2 * MIB + i, 10 + i)]));
    for (const [name, content] of files) {
      const stat = await suite.array.put(name, content);
      expect(stat.groups.flatMap((group) => group.extents).some((extent) => extent.deviceId === 5)).toBe(false);
    }
    await suite.array.rebalance();
    expect(suite.array.status().devices[4]).toMatchObject({ state: 'spare', usedBytes: 0 });
    suite.array.assertInvariants();
    const home = suite.array.home;
    await suite.array.close();
    suite.array = await DiskArray.open(home, { ...TEST_RUNTIME, policies: { rebuildDelayMs: 0, probeIntervalMs: Infinity, autoExpand: false } });
    const array = suite.array;
    expect(array.status().devices[4]!.state).toBe('spare');

    const finished = nextEvent(array, 'jobFinished', (event) => event.type === 'jobFinished' && event.kind === 'rebuild');
    const usedOnDevice2 = array.status().devices[1]!.usedBytes;
    await array.failDevice(2, 'pulled');
    expect(await finished).toMatchObject({ outcome: 'done', trigger: 'policy' });
    await expect.poll(() => array.status().devices.map((device) => `${device.deviceId} ${device.state}`)).toEqual(['1 online', '3 online', '4 online', '5 online']);
    // The spare (the emptiest target) took what device 2 held, and is an ordinary device now.
    expect(array.status().devices[3]!.usedBytes).toBe(usedOnDevice2);
    for (const [name, content] of files) expect((await array.get(name)).equals(content), name).toBe(true);
    array.assertInvariants();
    expect((await array.fsck({ deep: true })).problems).toEqual([]);
    void devices;
  });
});

describe('heal policies', () => {
  it('autoExpand: after addDevice a policy job spreads the existing data onto the new device', async () => {
    ({ array: suite.array } = await createTempArray(suite.dir, { deviceCount: 3, extentLbMax: 16, policies: { probeIntervalMs: Infinity, rebuildDelayMs: Infinity, autoExpand: true } }));
    const array = suite.array;
    const files = new Map([0, 1, 2, 3].map((i) => [`f${i}`, patternBytes(3 * MIB + i, 20 + i)]));
    for (const [name, content] of files) await array.put(name, content);
    const finished = nextEvent(array, 'jobFinished', (event) => event.type === 'jobFinished' && event.trigger === 'policy');
    const added = await array.addDevice(suite.dir.file('new.img'), { createSizeBytes: 64 * MIB });
    expect(added.usedBytes).toBe(0);
    expect(await finished).toMatchObject({ outcome: 'done' });
    expect(array.status().devices[3]!.usedBytes).toBeGreaterThan(0);
    for (const [name, content] of files) expect((await array.get(name)).equals(content), name).toBe(true);
    array.assertInvariants();
    expect((await array.fsck()).problems).toEqual([]);
  });

  it('scrubIntervalMs: a periodic policy scrub finds bit rot and repairs it', async () => {
    let devices: string[];
    ({ array: suite.array, devices } = await createTempArray(suite.dir, { deviceCount: 4, extentLbMax: 16, policies: { probeIntervalMs: Infinity, rebuildDelayMs: Infinity, autoExpand: false, scrubIntervalMs: 200 } }));
    const array = suite.array;
    const content = patternBytes(2 * MIB, 30);
    const stat = await array.put('rotting', content);
    const extent = stat.groups[0]!.extents[0]!;
    const repaired = nextEvent(array, 'blockRepaired');
    rot(devices[extent.deviceId - 1]!, extent.startLb);
    expect(await repaired).toMatchObject({ deviceId: extent.deviceId });
    await expect.poll(() => array.status().jobs.find((job) => job.kind === 'scrub')?.state, { timeout: WAIT_MS }).toBe('done');
    expect((await array.fsck({ deep: true })).problems).toEqual([]);
    array.assertInvariants();
  });

  it('close aborts a policy rebuild in flight; the next open with policies resumes it to the end', async () => {
    ({ array: suite.array } = await createTempArray(suite.dir, { deviceCount: 4, extentLbMax: 16, policies: { probeIntervalMs: Infinity, autoExpand: false, rebuildDelayMs: 0, rateBytesPerSec: 2 * MIB } }));
    const files = new Map([0, 1, 2, 3].map((i) => [`f${i}`, patternBytes(3 * MIB + i, 40 + i)]));
    for (const [name, content] of files) await suite.array.put(name, content);
    const progressed = nextEvent(suite.array, 'jobProgress', (event) => event.type === 'jobProgress' && event.kind === 'rebuild');
    await suite.array.failDevice(1);
    await progressed;
    const home = suite.array.home;
    await suite.array.close();
    suite.array = undefined;
    // Without policies the open leaves it as it was: the job aborted, the device failed.
    const quiet = await DiskArray.open(home, TEST_RUNTIME);
    expect(quiet.status().jobs[0]).toMatchObject({ kind: 'rebuild', state: 'aborted' });
    expect(quiet.status().devices[0]!.state).toBe('failed');
    await quiet.close();
    suite.array = await DiskArray.open(home, { ...TEST_RUNTIME, policies: { probeIntervalMs: Infinity, autoExpand: false, rebuildDelayMs: 0 } });
    const array = suite.array;
    await expect.poll(() => array.status().devices.map((device) => device.deviceId), { timeout: WAIT_MS }).toEqual([2, 3, 4]);
    expect(array.status().jobs[0]).toMatchObject({ kind: 'rebuild', state: 'done' });
    for (const [name, content] of files) expect((await array.get(name)).equals(content), name).toBe(true);
    array.assertInvariants();
    expect((await array.fsck()).problems).toEqual([]);
  });
});
