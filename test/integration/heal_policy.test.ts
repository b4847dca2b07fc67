// The array heals by itself (issue 9), on real parts: nbdkit servers killed and restarted on
// their port, a loop device's backing image truncated. With policies on, nobody calls rebuild:
// the health monitor notices the device within seconds, the policy rebuilds, every byte
// verifies; a missing device that comes back rejoins without a rebuild.
import { closeSync, copyFileSync, openSync, readSync, rmSync, truncateSync, writeSync } from 'node:fs';
import { Readable } from 'node:stream';
import { afterAll, afterEach, beforeEach, expect } from 'vitest';
import { LB_BYTES } from '../../src/constants.js';
import { DiskArray } from '../../src/array/disk_array.js';
import type { ArrayEvent } from '../../src/array/array_events.js';
import type { ArrayPolicies } from '../../src/array/types.js';
import { EVENT_WAIT_MS as WAIT_MS, nextEvent } from '../helpers/array_events.js';
import { createImageFile } from '../../src/devices/open_device.js';
import { LoopDeviceSet } from '../helpers/loop_devices.js';
import { NbdkitFileServers, type NbdkitServer } from '../helpers/nbdkit.js';
import { loopDevicesPrerequisite, nbdkitPrerequisite } from '../helpers/prerequisites.js';
import { MIB, patternBytes, TempDir, TEST_RUNTIME } from '../helpers/temp_array.js';
import { expectFiles } from '../helpers/file_sets.js';

const nbdkit = nbdkitPrerequisite();
const loops = loopDevicesPrerequisite();
const loopSet = new LoopDeviceSet();

/** Probes every 200 ms: a dead device is noticed well within a second here. */
const FAST_PROBES = { probeIntervalMs: 200, autoExpand: false } as const;

let dir: TempDir;
let array: DiskArray | undefined;
const servers = new NbdkitFileServers();

beforeEach(() => {
  dir = new TempDir();
});
afterEach(async () => {
  await array?.close().catch(() => undefined);
  array = undefined;
  await servers.stopAll();
  for (const device of [...loopSet.all]) loopSet.detach(device);
  dir.remove();
});
afterAll(() => loopSet.destroyAll());

/** An array of parity 1 on the servers' exports with the given heal policies. */
function createOnServers(started: readonly NbdkitServer[], policies: Partial<ArrayPolicies>): Promise<DiskArray> {
  return DiskArray.create({ ...TEST_RUNTIME, home: dir.file('home'), devices: started.map((server) => server.url), parityCount: 1, policies });
}

/** Four 64 MiB images in the test's directory, each served by its own nbdkit. */
async function fourServedImages(): Promise<{ images: string[]; started: NbdkitServer[] }> {
  const images = [0, 1, 2, 3].map((i) => dir.file(`nbd${i}.img`));
  for (const image of images) await createImageFile(image, 64 * MIB);
  return { images, started: await Promise.all(images.map((image) => servers.start(image))) };
}

/** A put source that yields `content`'s first `firstBytes`, then holds the rest until released. */
function heldBackSource(content: Buffer, firstBytes: number): { source: Readable; release: () => void } {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const source = Readable.from((async function* () {
    yield content.subarray(0, firstBytes);
    await released;
    yield content.subarray(firstBytes);
  })());
  return { source, release };
}

function someFiles(count: number, seed: number): Map<string, Buffer> {
  return new Map(Array.from({ length: count }, (_, i) => [`f${i}`, patternBytes(2 * MIB + i * 4099, seed + i)]));
}

nbdkit.describe('heal policies on nbdkit servers', () => {
  nbdkit.it('a killed server: within seconds the device is missing and a policy rebuild runs, then done; no rebuild call', async () => {
    const images = [0, 1, 2, 3, 4].map((i) => dir.file(`nbd${i}.img`));
    for (const image of images) await createImageFile(image, 64 * MIB);
    const started = await Promise.all(images.map((image) => servers.start(image)));
    const events: ArrayEvent[] = [];
    // The rebuild is throttled so the test can see it running.
    array = await DiskArray.create({
      ...TEST_RUNTIME,
      home: dir.file('home'),
      devices: started.map((server) => server.url),
      parityCount: 1,
      onEvent: (event) => events.push(event),
      policies: { ...FAST_PROBES, rebuildDelayMs: 300, rateBytesPerSec: 16 * MIB },
    });
    const files = someFiles(5, 10);
    for (const [name, content] of files) await array.put(name, content);
    array.assertInvariants();

    const killedAt = Date.now();
    const missing = nextEvent(array, 'deviceMissing');
    const running = nextEvent(array, 'jobStarted', (event) => event.type === 'jobStarted' && event.kind === 'rebuild');
    const finished = nextEvent(array, 'jobFinished', (event) => event.type === 'jobFinished' && event.kind === 'rebuild');
    await started[2]!.killAndWait();
    // Idle: no put or get touches the device; the probe notices it.
    expect(await missing).toMatchObject({ deviceId: 3, path: started[2]!.url });
    const noticedMs = Date.now() - killedAt;
    expect(noticedMs).toBeLessThan(5000);
    expect(await running).toMatchObject({ trigger: 'policy' });
    const during = array.status();
    expect(during.devices.find((device) => device.deviceId === 3)?.state).toBe('missing');
    expect(during.jobs[0]).toMatchObject({ kind: 'rebuild', state: 'running' });
    expect(await finished).toMatchObject({ outcome: 'done', trigger: 'policy' });
    // Its blocks are on the survivors and it left the array.
    await expect.poll(() => array!.status().devices.map((device) => device.deviceId), { timeout: WAIT_MS }).toEqual([1, 2, 4, 5]);
    expect(array.status().degraded).toBe(false);
    await expectFiles(array, files);
    array.assertInvariants();
    expect((await array.fsck({ deep: true })).problems).toEqual([]);
    // In order: missing, then the rebuild's start, progress and end.
    const order = events.filter((event) => ['deviceMissing', 'jobStarted', 'jobFinished'].includes(event.type)).map((event) => event.type);
    expect(order).toEqual(['deviceMissing', 'jobStarted', 'jobFinished']);
    expect(events.some((event) => event.type === 'jobProgress')).toBe(true);
    console.log(`killed nbdkit server noticed by the probe after ${noticedMs} ms`);
  });

  nbdkit.it('a missing device that comes back (restarted on its port) rejoins without a rebuild and its data verifies', async () => {
    const { images, started } = await fourServedImages();
    array = await createOnServers(started, { ...FAST_PROBES, rebuildDelayMs: 60_000 });
    const files = someFiles(4, 20);
    for (const [name, content] of files) await array.put(name, content);

    const missing = nextEvent(array, 'deviceMissing');
    await started[1]!.killAndWait();
    await missing;
    expect(array.status().devices[1]!.state).toBe('missing');
    // While it is away, new data goes to the others.
    const later = patternBytes(3 * MIB, 29);
    const stat = await array.put('while-away', later);
    expect(stat.groups.flatMap((group) => group.extents).some((extent) => extent.deviceId === 2)).toBe(false);
    array.assertInvariants();

    const returned = nextEvent(array, 'deviceReturned');
    await servers.start(images[1]!, started[1]!.port);
    // Nothing was committed with a block of it while it was away: nothing to resync.
    expect(await returned).toMatchObject({ deviceId: 2, groupsToCheck: 0 });
    expect(array.status().devices[1]!.state).toBe('online');
    expect(array.status().jobs.some((job) => job.kind === 'rebuild' || job.kind.startsWith('resync'))).toBe(false);
    // Its blocks are read from it again, not reconstructed: the data on it was intact.
    const degradedBefore = array.status().degradedReads;
    await expectFiles(array, files);
    expect(array.status().degradedReads).toBe(degradedBefore);
    expect((await array.get('while-away')).equals(later)).toBe(true);
    array.assertInvariants();
    expect((await array.fsck({ deep: true })).problems).toEqual([]);
  });

  nbdkit.it('a server killed during a put: when it returns only groups of that put are checked, not the whole device', async () => {
    const images = [0, 1, 2, 3].map((i) => dir.file(`nbd${i}.img`));
    for (const image of images) await createImageFile(image, 96 * MIB);
    const started = await Promise.all(images.map((image) => servers.start(image)));
    array = await createOnServers(started, { ...FAST_PROBES, rebuildDelayMs: 60_000 });
    const before = someFiles(3, 40);
    for (const [name, content] of before) await array.put(name, content);
    const groupsBefore = array.stat('f0').groupCount + array.stat('f1').groupCount + array.stat('f2').groupCount;
    const content = patternBytes(40 * MIB, 47);
    // The put's source holds back its second half until the server is dead, so the kill lands
    // inside the put however fast the machine is.
    const { source, release: markKilled } = heldBackSource(content, 20 * MIB);
    const put = array.put('big', source);
    await new Promise((resolve) => setTimeout(resolve, 150));
    const image = images[3]!;
    await started[3]!.killAndWait();
    markKilled();
    await put;
    // Missing: found by the put's failed write or flush, or else by the next probe.
    await expect.poll(() => array!.status().devices[3]!.state, { timeout: WAIT_MS }).toBe('missing');

    const returned = nextEvent(array, 'deviceReturned');
    await servers.start(image, started[3]!.port);
    const back = (await returned) as { groupsToCheck: number };
    // Only groups of the put that was running when it dropped can need a check, never the
    // files from before (how many depends on where the kill landed: a group whose write to it
    // failed was placed again elsewhere; one whose flush failed was committed degraded).
    const bigGroups = array.stat('big').groupCount;
    expect(groupsBefore).toBeGreaterThan(0);
    expect(back.groupsToCheck).toBeLessThanOrEqual(bigGroups);
    if (back.groupsToCheck > 0) {
      await expect.poll(() => array!.status().jobs.find((job) => job.kind === 'resync 4')?.state, { timeout: WAIT_MS }).toBe('done');
    }
    expect(array.status().jobs.some((job) => job.kind === 'rebuild')).toBe(false);
    expect(array.status().devices[3]!.state).toBe('online');
    expect((await array.get('big')).equals(content)).toBe(true);
    await expectFiles(array, before);
    array.assertInvariants();
    expect((await array.fsck({ deep: true })).problems).toEqual([]);
  });

  nbdkit.it('the away record survives a restart: a device dropped during a put, still missing at reopen, is resynced exactly where it was owed', async () => {
    const images = [0, 1, 2, 3].map((i) => dir.file(`nbd${i}.img`));
    for (const image of images) await createImageFile(image, 96 * MIB);
    const started = await Promise.all(images.map((image) => servers.start(image)));
    const home = dir.file('home');
    const policies = { ...FAST_PROBES, rebuildDelayMs: 600_000 };
    array = await DiskArray.create({ ...TEST_RUNTIME, home, devices: started.map((server) => server.url), parityCount: 1, policies });
    const before = someFiles(3, 80);
    for (const [name, content] of before) await array.put(name, content);
    // As in the test above: the server dies inside a put, so groups with a block on it are
    // committed after it left (their block there may never have become durable).
    const content = patternBytes(40 * MIB, 87);
    const { source, release: markKilled } = heldBackSource(content, 20 * MIB);
    const put = array.put('big', source);
    await new Promise((resolve) => setTimeout(resolve, 500));
    const port = started[3]!.port;
    await started[3]!.killAndWait();
    markKilled();
    await put;
    await expect.poll(() => array!.status().devices[3]!.state, { timeout: WAIT_MS }).toBe('missing');
    const later = patternBytes(3 * MIB, 88);
    await array.put('later', later);
    const owed = array.stat('big').groups.flatMap((group) => group.extents.filter((extent) => extent.deviceId === 4));
    expect(owed.length).toBeGreaterThan(0);
    array.assertInvariants();
    await array.close();
    array = undefined;

    // What the device's volatile cache held when it dropped is lost: its blocks of those groups
    // are zeros now (the server is down; its image is written directly).
    const fd = openSync(images[3]!, 'r+');
    try {
      for (const extent of owed) writeSync(fd, Buffer.alloc(extent.lengthLb * LB_BYTES), 0, extent.lengthLb * LB_BYTES, extent.startLb * LB_BYTES);
    } finally {
      closeSync(fd);
    }

    // A new process: the device is still missing, and its watermark is the one it left with.
    const events: ArrayEvent[] = [];
    array = await DiskArray.open(home, { ...TEST_RUNTIME, scan: false, policies, onEvent: (event) => events.push(event) });
    expect(array.status().devices[3]!.state).toBe('missing');
    await array.put('while-still-away', patternBytes(1 * MIB, 89));
    array.assertInvariants();
    const returned = nextEvent(array, 'deviceReturned');
    const resynced = nextEvent(array, 'jobFinished', (event) => event.type === 'jobFinished' && event.kind === 'resync 4');
    await servers.start(images[3]!, port);
    expect(await returned).toMatchObject({ deviceId: 4, groupsToCheck: owed.length });
    expect(await resynced).toMatchObject({ outcome: 'done', trigger: 'policy' });
    // Exactly the zeroed blocks were rewritten from parity, on the device.
    const repaired = events.filter((event) => event.type === 'blockRepaired');
    expect(repaired.length).toBe(owed.length);
    expect(repaired.every((event) => event.type === 'blockRepaired' && event.deviceId === 4)).toBe(true);
    const check = openSync(images[3]!, 'r');
    try {
      for (const extent of owed) {
        const bytes = Buffer.alloc(extent.lengthLb * LB_BYTES);
        readSync(check, bytes, 0, bytes.length, extent.startLb * LB_BYTES);
        expect(bytes.equals(Buffer.alloc(bytes.length))).toBe(false);
      }
    } finally {
      closeSync(check);
    }
    expect(array.status().jobs.some((job) => job.kind === 'rebuild')).toBe(false);
    // Everything reads back without a degraded read: the device holds what it should.
    const degradedBefore = array.status().degradedReads;
    expect((await array.get('big')).equals(content)).toBe(true);
    expect((await array.get('later')).equals(later)).toBe(true);
    await expectFiles(array, before);
    expect(array.status().degradedReads).toBe(degradedBefore);
    array.assertInvariants();
    expect((await array.fsck({ deep: true })).problems).toEqual([]);
    await array.close();

    // The record ended with the resync: the next open owes nothing.
    const reopened: ArrayEvent[] = [];
    array = await DiskArray.open(home, { ...TEST_RUNTIME, scan: false, policies, onEvent: (event) => reopened.push(event) });
    await array.policiesIdle();
    expect(reopened.some((event) => event.type === 'deviceReturned' || event.type === 'jobStarted')).toBe(false);
    array.assertInvariants();
  });

  nbdkit.it('a device that comes back while the policy rebuild takes its blocks: the rebuild is aborted and it rejoins', async () => {
    const { images, started } = await fourServedImages();
    array = await DiskArray.create({
      ...TEST_RUNTIME,
      home: dir.file('home'),
      devices: started.map((server) => server.url),
      parityCount: 1,
      // Slow enough that the device is back long before the rebuild could finish.
      policies: { ...FAST_PROBES, rebuildDelayMs: 0, rateBytesPerSec: 256 * 1024 },
    });
    const files = someFiles(4, 70);
    for (const [name, content] of files) await array.put(name, content);
    const running = nextEvent(array, 'jobStarted', (event) => event.type === 'jobStarted' && event.kind === 'rebuild');
    const aborted = nextEvent(array, 'jobFinished', (event) => event.type === 'jobFinished' && event.kind === 'rebuild');
    const returned = nextEvent(array, 'deviceReturned');
    await started[1]!.killAndWait();
    await running;
    await servers.start(images[1]!, started[1]!.port);
    expect(await aborted).toMatchObject({ outcome: 'aborted', trigger: 'policy' });
    expect(await returned).toMatchObject({ deviceId: 2 });
    expect(array.status().devices.map((device) => device.state)).toEqual(['online', 'online', 'online', 'online']);
    await array.policiesIdle();
    const degradedBefore = array.status().degradedReads;
    await expectFiles(array, files);
    expect(array.status().degradedReads).toBe(degradedBefore);
    array.assertInvariants();
    expect((await array.fsck({ deep: true })).problems).toEqual([]);
  });

  nbdkit.it('a manual rebuild while a policy rebuild runs joins it instead of failing', async () => {
    const { started } = await fourServedImages();
    array = await createOnServers(started, { ...FAST_PROBES, rebuildDelayMs: 0, rateBytesPerSec: 8 * MIB });
    const files = someFiles(4, 60);
    for (const [name, content] of files) await array.put(name, content);
    const running = nextEvent(array, 'jobStarted', (event) => event.type === 'jobStarted' && event.kind === 'rebuild');
    await started[0]!.killAndWait();
    await running;
    const report = await array.rebuild();
    expect(report.removedDeviceIds).toEqual([1]);
    expect(array.status().jobs.filter((job) => job.kind === 'rebuild').map((job) => job.state)).toEqual(['done']);
    await expectFiles(array, files);
    array.assertInvariants();
    expect((await array.fsck()).problems).toEqual([]);
  });

  nbdkit.it('a device that returns as an older copy of itself (it missed writes made before it left) has every group on it checked and repaired', async () => {
    const { images, started } = await fourServedImages();
    array = await createOnServers(started, { ...FAST_PROBES, rebuildDelayMs: 60_000 });
    const files = someFiles(3, 80);
    for (const [name, content] of files) await array.put(name, content);
    const snapshot = dir.file('nbd1.snapshot');
    copyFileSync(images[1]!, snapshot);
    // Written while device 2 answered, so not above its watermark when it leaves; the copy lacks them.
    const later = someFiles(3, 85);
    for (const [name, content] of later) {
      const stat = await array.put(`later-${name}`, content);
      expect(stat.groups.some((group) => group.extents.some((extent) => extent.deviceId === 2))).toBe(true);
      files.set(`later-${name}`, content);
    }
    const missing = nextEvent(array, 'deviceMissing');
    await started[1]!.killAndWait();
    await missing;
    copyFileSync(snapshot, images[1]!);
    const returned = nextEvent(array, 'deviceReturned');
    const resynced = nextEvent(array, 'jobFinished', (event) => event.type === 'jobFinished' && event.kind === 'resync 2');
    await servers.start(images[1]!, started[1]!.port);
    const event = await returned;
    expect(event).toMatchObject({ deviceId: 2, staleCopy: true });
    expect(event.type === 'deviceReturned' && event.groupsToCheck).toBeGreaterThanOrEqual(6);
    expect(await resynced).toMatchObject({ outcome: 'done' });
    // Nothing read the files in between: the resync alone left every block and parity right.
    expect((await array.fsck({ deep: true })).problems).toEqual([]);
    await expectFiles(array, files);
    array.assertInvariants();
  });

  nbdkit.it('a device that blinks is not taken for an older copy: only the groups above its watermark are checked', async () => {
    const { images, started } = await fourServedImages();
    array = await createOnServers(started, { ...FAST_PROBES, rebuildDelayMs: 60_000 });
    const files = someFiles(4, 87);
    for (const [name, content] of files) await array.put(name, content);
    const missing = nextEvent(array, 'deviceMissing');
    await started[1]!.killAndWait();
    await missing;
    const returned = nextEvent(array, 'deviceReturned');
    await servers.start(images[1]!, started[1]!.port);
    const event = await returned;
    expect(event).toMatchObject({ deviceId: 2, groupsToCheck: 0 });
    expect(event).not.toHaveProperty('staleCopy');
    await expectFiles(array, files);
  });

  nbdkit.it('a device whose slow return outlasts the policy rebuild that removes it does not rejoin as its removed self', async () => {
    const { images, started } = await fourServedImages();
    const events: ArrayEvent[] = [];
    array = await DiskArray.create({
      ...TEST_RUNTIME,
      home: dir.file('home'),
      devices: started.map((server) => server.url),
      parityCount: 1,
      onEvent: (event) => events.push(event),
      // The rebuild starts at once and takes about a second; the returning device answers each
      // read after 2 s, so its superblock check starts while the rebuild runs and ends after
      // the rebuild removed it.
      policies: { probeIntervalMs: 200, autoExpand: false, rebuildDelayMs: 0, rateBytesPerSec: 4 * MIB },
    });
    const files = someFiles(2, 99);
    for (const [name, content] of files) await array.put(name, content);
    const missing = nextEvent(array, 'deviceMissing');
    await started[1]!.killAndWait();
    await missing;
    await servers.startWith({ plugin: 'file', parameters: [images[1]!, 'rdelay=2'], filters: ['delay'], port: started[1]!.port });
    // It comes back as a new member (reinstated), never as device 2, which the rebuild removed.
    const back = await nextEvent(array, 'deviceReturned');
    expect(back).toMatchObject({ previousDeviceId: 2 });
    expect(events.filter((event) => event.type === 'deviceReturned' && event.deviceId === 2)).toEqual([]);
    expect(events.filter((event) => event.type === 'jobFinished' && event.kind === 'rebuild')).toMatchObject([{ outcome: 'done' }]);
    array.assertInvariants();
    await expectFiles(array, files);
  });

  nbdkit.it('a few seconds of EIO outlast the rebuild delay: the device is rebuilt away, then added back by itself once it answers, and data spreads onto it', async () => {
    const images = [0, 1, 2, 3].map((i) => dir.file(`nbd${i}.img`));
    for (const image of images) await createImageFile(image, 64 * MIB);
    // nbdkit's error filter fails every request of device 2 while the flag file exists.
    const flag = dir.file('eio-flag');
    const started = await Promise.all(images.map((image, i) => servers.startWith({
      plugin: 'file', filters: ['error'],
      parameters: [image, 'error=EIO', 'error-rate=100%', `error-file=${i === 1 ? flag : dir.file('never')}`],
    })));
    array = await createOnServers(started, { probeIntervalMs: 200, autoExpand: true, rebuildDelayMs: 0 });
    const files = someFiles(4, 90);
    for (const [name, content] of files) await array.put(name, content);

    const failed = nextEvent(array, 'deviceFailed');
    const rebuilt = nextEvent(array, 'jobFinished', (event) => event.type === 'jobFinished' && event.kind === 'rebuild');
    closeSync(openSync(flag, 'w'));
    // Written during the fault: its group avoids the failing device.
    const during = patternBytes(3 * MIB, 91);
    await array.put('during', during);
    files.set('during', during);
    expect(await failed).toMatchObject({ deviceId: 2 });
    expect(await rebuilt).toMatchObject({ outcome: 'done', trigger: 'policy' });
    await expect.poll(() => array!.status().devices.map((device) => device.deviceId), { timeout: WAIT_MS }).toEqual([1, 3, 4]);

    const returned = nextEvent(array, 'deviceReturned');
    rmSync(flag);
    expect(await returned).toMatchObject({ deviceId: 5, path: started[1]!.url, previousDeviceId: 2 });
    await array.policiesIdle();
    const status = array.status();
    expect(status.devices.map((device) => [device.deviceId, device.state])).toEqual([[1, 'online'], [3, 'online'], [4, 'online'], [5, 'online']]);
    expect(status.devices.find((device) => device.deviceId === 5)!.usedBytes).toBeGreaterThan(0);
    expect(status.jobs.find((job) => job.kind === 'expand')).toMatchObject({ state: 'done' });
    await expectFiles(array, files);
    array.assertInvariants();
    expect((await array.fsck({ deep: true })).problems).toEqual([]);
  });

  nbdkit.it('a device found failed at open (its cause unknown: failed by request before) and rebuilt by the policy stays out', async () => {
    const { started } = await fourServedImages();
    const home = dir.file('home');
    array = await DiskArray.create({ ...TEST_RUNTIME, home, devices: started.map((server) => server.url), parityCount: 1 });
    const files = someFiles(3, 97);
    for (const [name, content] of files) await array.put(name, content);
    await array.failDevice(2);
    await array.close();
    const rebuilt = new Promise<ArrayEvent>((resolve) => {
      void DiskArray.open(home, {
        ...TEST_RUNTIME,
        policies: { probeIntervalMs: 200, autoExpand: true, rebuildDelayMs: 0 },
        onEvent: (event) => event.type === 'jobFinished' && event.kind === 'rebuild' && resolve(event),
      }).then((opened) => (array = opened));
    });
    expect(await rebuilt).toMatchObject({ outcome: 'done', trigger: 'policy' });
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(array!.status().devices.map((device) => device.deviceId)).toEqual([1, 3, 4]);
    await expectFiles(array!, files);
  });

  nbdkit.it('a device failed by request and rebuilt by the policy stays out when it answers (the operator chose)', async () => {
    const { started } = await fourServedImages();
    array = await createOnServers(started, { probeIntervalMs: 200, autoExpand: true, rebuildDelayMs: 0 });
    const files = someFiles(3, 95);
    for (const [name, content] of files) await array.put(name, content);
    const rebuilt = nextEvent(array, 'jobFinished', (event) => event.type === 'jobFinished' && event.kind === 'rebuild');
    await array.failDevice(3);
    expect(await rebuilt).toMatchObject({ outcome: 'done', trigger: 'policy' });
    // Several probe rounds with the device answering at its path: it is not added back.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(array.status().devices.map((device) => device.deviceId)).toEqual([1, 2, 4]);
    expect(array.recentEvents().some((event) => event.type === 'deviceReturned')).toBe(false);
    await expectFiles(array, files);
    array.assertInvariants();
  });
});

loops.describe('heal policies on loop devices', () => {
  loops.it('a loop device whose image is truncated: the probe finds it failed and the policy rebuilds it away', async () => {
    const devices = [0, 1, 2, 3].map(() => loopSet.create(48 * MIB));
    array = await DiskArray.create({
      ...TEST_RUNTIME,
      home: dir.file('home'),
      devices: devices.map((device) => device.path),
      parityCount: 1,
      policies: { ...FAST_PROBES, rebuildDelayMs: 0 },
    });
    const files = someFiles(4, 80);
    for (const [name, content] of files) await array.put(name, content);
    const failed = nextEvent(array, 'deviceFailed');
    const finished = nextEvent(array, 'jobFinished', (event) => event.type === 'jobFinished' && event.kind === 'rebuild');
    truncateSync(devices[1]!.backingPath, 0);
    expect(await failed).toMatchObject({ deviceId: 2, reason: expect.stringMatching(/superblock/) });
    expect(await finished).toMatchObject({ outcome: 'done', trigger: 'policy' });
    await expect.poll(() => array!.status().devices.map((device) => `${device.deviceId} ${device.state}`), { timeout: WAIT_MS }).toEqual(['1 online', '3 online', '4 online']);
    await expectFiles(array, files);
    array.assertInvariants();
    expect((await array.fsck({ deep: true })).problems).toEqual([]);
  });
});
