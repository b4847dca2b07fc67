// Devices are known by UUID, not by path (issue 7), on real devices: loop devices re-attached
// in another order, as after a reboot, and an array on NBD servers imported through nbd:// URLs.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { afterEach, beforeEach, expect } from 'vitest';
import { DiskArray } from '../../src/array/disk_array.js';
import { createImageFile } from '../../src/devices/open_device.js';
import type { ArrayEvent } from '../../src/array/array_events.js';
import { nextEvent } from '../helpers/array_events.js';
import { expectFiles, putFiles } from '../helpers/file_sets.js';
import { LoopDeviceSet } from '../helpers/loop_devices.js';
import { startNbdkit, type NbdkitServer } from '../helpers/nbdkit.js';
import { loopDevicesPrerequisite, nbdkitPrerequisite } from '../helpers/prerequisites.js';
import { MIB, patternBytes, TempDir, TEST_RUNTIME } from '../helpers/temp_array.js';

const loops = loopDevicesPrerequisite();
const nbdkit = nbdkitPrerequisite();

let dir: TempDir;
let array: DiskArray | undefined;
const loopSet = new LoopDeviceSet();
/** Loop devices this file attached by hand (re-attachments), detached afterwards. */
const attached: string[] = [];
const servers: NbdkitServer[] = [];

beforeEach(() => {
  dir = new TempDir();
});
afterEach(async () => {
  await array?.close().catch(() => undefined);
  array = undefined;
  for (const path of attached.splice(0)) execFileSync('losetup', ['--detach', path], { stdio: 'ignore' });
  await Promise.allSettled(servers.splice(0).map((server) => server.stop()));
  loopSet.destroyAll();
  dir.remove();
});

loops.describe('loop devices re-attached in another order', () => {
  loops.it('open finds every device by UUID, records the new paths, and status says what moved', async () => {
    const devices = [0, 1, 2, 3].map(() => loopSet.create(64 * MIB));
    const home = dir.file('home');
    array = await DiskArray.create({ ...TEST_RUNTIME, home, devices: devices.map((device) => device.path) });
    const content = patternBytes(9 * MIB + 17, 61);
    await array.put('file', content);
    await array.close();
    array = undefined;
    // Detach all, then attach the backing files in reverse order: the numbers get shuffled.
    for (const device of devices) loopSet.detach(device);
    const reattached = [...devices].reverse().map((device) => execFileSync('losetup', ['--find', '--show', device.backingPath], { encoding: 'utf8' }).trim());
    attached.push(...reattached);
    const moved = devices.filter((device, i) => reattached[devices.length - 1 - i] !== device.path);
    expect(moved.length).toBeGreaterThan(0);
    array = await DiskArray.open(home, { ...TEST_RUNTIME, scan: ['/dev/loop*'] });
    expect(array.status().devices.every((device) => device.state === 'online')).toBe(true);
    const now = new Map(array.status().devices.map((device) => [device.deviceId, device.path]));
    devices.forEach((_, i) => expect(now.get(i + 1)).toBe(reattached[devices.length - 1 - i]));
    expect(array.status().opened.movedDevices.length).toBe(moved.length);
    expect((await array.get('file')).equals(content)).toBe(true);
    expect((await array.fsck({ deep: true })).problems).toEqual([]);
  });
});

/** Attaches an image as a loop device numbered otherwise than `notPath` (a placeholder takes that number when the kernel would hand it out again). */
function attachElsewhere(image: string, notPath: string): string {
  for (let attempt = 0; attempt < 5; attempt++) {
    const path = execFileSync('losetup', ['--find', '--show', image], { encoding: 'utf8' }).trim();
    if (path !== notPath) {
      attached.push(path);
      return path;
    }
    execFileSync('losetup', ['--detach', path], { stdio: 'ignore' });
    loopSet.create(1 * MIB); // holds the number that kept coming back
  }
  throw new Error(`the kernel kept attaching ${image} as ${notPath}`);
}

/** Heal policies that probe often and never rebuild within a test: a returning device must come back by itself. */
const PROBING = { probeIntervalMs: 200, rebuildDelayMs: 600_000, autoExpand: false } as const;

// A loop device cannot vanish while the array holds it open (the kernel defers the detach to
// the last close), so the member is detached while the array is closed and the array opens
// with it missing; the health monitor then finds it again while the array runs.
loops.describe('a missing member that returns as another loop device while the array runs', () => {
  loops.it('the health monitor finds it by UUID, it rejoins at its new path without a rebuild, and the path holds after reopen', async () => {
    const devices = [0, 1, 2, 3].map(() => loopSet.create(48 * MIB));
    const home = dir.file('home');
    array = await DiskArray.create({ ...TEST_RUNTIME, home, devices: devices.map((device) => device.path), parityCount: 1 });
    const files = await putFiles(array, 4, 2 * MIB, 31);
    await array.close();
    array = undefined;
    const member = devices[1]!;
    loopSet.detach(member);

    const events: ArrayEvent[] = [];
    array = await DiskArray.open(home, { ...TEST_RUNTIME, scan: ['/dev/loop*'], policies: PROBING, onEvent: (event) => events.push(event) });
    // Said as what it is: nothing at the path now, not a device without its superblock.
    expect(array.status().devices[1]).toMatchObject({ deviceId: 2, state: 'missing', path: member.path, reason: expect.stringMatching(/is empty \(size 0\): a detached loop device/) });
    const whileAway = await putFiles(array, 2, 1 * MIB, 37, 'away-');
    array.assertInvariants();

    const returned = nextEvent(array, 'deviceReturned');
    const newPath = attachElsewhere(member.backingPath, member.path);
    expect(await returned).toMatchObject({ deviceId: 2, path: newPath, previousPath: member.path, groupsToCheck: 0 });
    expect(array.status().devices[1]).toMatchObject({ state: 'online', path: newPath });
    expect(array.status().degraded).toBe(false);
    expect(array.status().jobs.some((job) => job.kind === 'rebuild' || job.kind.startsWith('resync'))).toBe(false);
    expect(events.some((event) => event.type === 'jobStarted')).toBe(false);
    // Its blocks are read from it again, not reconstructed.
    const degradedBefore = array.status().degradedReads;
    await expectFiles(array, files);
    await expectFiles(array, whileAway);
    expect(array.status().degradedReads).toBe(degradedBefore);
    array.assertInvariants();
    expect((await array.fsck({ deep: true })).problems).toEqual([]);
    await array.close();

    // The home recorded the new path: found there with scanning off.
    array = await DiskArray.open(home, { ...TEST_RUNTIME, scan: false });
    expect(array.status().devices.map((device) => [device.state, device.path])).toEqual(
      [devices[0]!.path, newPath, devices[2]!.path, devices[3]!.path].map((path) => ['online', path]),
    );
    await expectFiles(array, files);
    await expectFiles(array, whileAway);
    expect((await array.fsck({ deep: true })).problems).toEqual([]);
  });

  loops.it('another array\'s device and two copies of the member at scanned paths are not taken; the member alone is', async () => {
    const devices = [0, 1, 2, 3].map(() => loopSet.create(48 * MIB));
    const home = dir.file('home');
    array = await DiskArray.create({ ...TEST_RUNTIME, home, devices: devices.map((device) => device.path), parityCount: 1 });
    const files = await putFiles(array, 3, 2 * MIB, 41);
    await array.close();
    array = undefined;
    // Another array on loop devices of its own: its superblocks are at scanned paths too.
    const others = [0, 1, 2].map(() => loopSet.create(48 * MIB));
    mkdirSync(dir.file('other-home'));
    const other = await DiskArray.create({ ...TEST_RUNTIME, home: dir.file('other-home'), devices: others.map((device) => device.path), parityCount: 1 });
    await other.close();
    // The member is detached; its image comes back twice (the image and a copy of it, as a dd
    // copy or a snapshot beside its origin): a device UUID on two paths is never taken.
    const member = devices[2]!;
    loopSet.detach(member);
    const copy = dir.file('member-copy.img');
    copyFileSync(member.backingPath, copy);
    const originPath = attachElsewhere(member.backingPath, member.path);
    const copyPath = attachElsewhere(copy, member.path);

    array = await DiskArray.open(home, { ...TEST_RUNTIME, scan: ['/dev/loop*'], policies: PROBING });
    expect(array.status().devices[2]).toMatchObject({ deviceId: 3, state: 'missing' });
    let returnedEarly: ArrayEvent | undefined;
    array.on('deviceReturned', (event) => (returnedEarly ??= event));
    // Attempts (each with a scan) at about 0.2, 0.4, 0.8, 1.6 and 3.2 s after open.
    await new Promise((resolve) => setTimeout(resolve, 3500));
    expect(returnedEarly).toBeUndefined();
    expect(array.status().devices[2]!.state).toBe('missing');
    expect(array.status().devices.map((device) => device.path)).not.toContain(copyPath);
    array.assertInvariants();

    // The copy goes: the member alone carries its UUID, and the next attempt takes it.
    const returned = nextEvent(array, 'deviceReturned');
    execFileSync('losetup', ['--detach', copyPath], { stdio: 'ignore' });
    attached.splice(attached.indexOf(copyPath), 1);
    expect(await returned).toMatchObject({ deviceId: 3, path: originPath, previousPath: member.path });
    await expectFiles(array, files);
    array.assertInvariants();
    expect((await array.fsck({ deep: true })).problems).toEqual([]);
  });
});

nbdkit.describe('an array on NBD servers', () => {
  nbdkit.it('imports from nbd:// URLs after the home is lost', async () => {
    const images = [0, 1, 2].map((i) => dir.file(`nbd${i}.img`));
    for (const image of images) await createImageFile(image, 64 * MIB);
    for (const image of images) servers.push(await startNbdkit({ plugin: 'file', parameters: [image] }));
    const home = dir.file('home');
    mkdirSync(home);
    array = await DiskArray.create({ ...TEST_RUNTIME, home, devices: servers.map((server) => server.url) });
    const content = patternBytes(5 * MIB, 62);
    await array.put('over-nbd', content);
    await array.close();
    array = undefined;
    rmSync(home, { recursive: true });
    array = await DiskArray.import({ ...TEST_RUNTIME, home, scan: servers.map((server) => server.url) });
    expect(array.status().opened.imported!.present.length).toBe(3);
    expect((await array.get('over-nbd')).equals(content)).toBe(true);
  });
});
