// Devices are known by UUID, not by path (issue 7), on real devices: loop devices re-attached
// in another order, as after a reboot, and an array on NBD servers imported through nbd:// URLs.
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { afterEach, beforeEach, expect } from 'vitest';
import { DiskArray } from '../../src/array/disk_array.js';
import { createImageFile } from '../../src/devices/open_device.js';
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
