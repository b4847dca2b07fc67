// Transient faults must not become permanent (issue 12, section B), with real tools: nbdkit
// servers killed and restarted on the same port, and image files on a tmpfs that fills up.
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, statfsSync } from 'node:fs';
import { afterEach, beforeEach, expect } from 'vitest';
import { DiskArray } from '../../src/array/disk_array.js';
import { createImageFile } from '../../src/devices/open_device.js';
import { NbdkitFileServers, type NbdkitServer } from '../helpers/nbdkit.js';
import { nbdkitPrerequisite, rootPrerequisite } from '../helpers/prerequisites.js';
import { MIB, patternBytes, TempDir, TEST_RUNTIME } from '../helpers/temp_array.js';

const nbdkit = nbdkitPrerequisite();
const root = rootPrerequisite();

let dir: TempDir;
let array: DiskArray | undefined;
const servers = new NbdkitFileServers();
const mounts: string[] = [];

beforeEach(() => {
  dir = new TempDir();
});
afterEach(async () => {
  await array?.close().catch(() => undefined);
  array = undefined;
  await servers.stopAll();
  for (const mount of mounts.splice(0)) execFileSync('umount', ['-l', mount]);
  dir.remove();
});



nbdkit.describe('devices that drop out and come back (nbdkit)', () => {
  nbdkit.it('a killed server fails its device; restarted, `online` brings it back; beyond m, the array still opens and heals', async () => {
    const images = [0, 1, 2, 3].map((i) => dir.file(`nbd${i}.img`));
    for (const image of images) await createImageFile(image, 64 * MIB);
    const started = await Promise.all(images.map((image) => servers.start(image)));
    const home = dir.file('home');
    array = await DiskArray.create({ ...TEST_RUNTIME, home, devices: started.map((server) => server.url), parityCount: 1 });
    const files = new Map([0, 1, 2, 3, 4].map((i) => [`f${i}`, patternBytes(1 * MIB + i * 7777, 50 + i)]));
    for (const [name, content] of files) await array.put(name, content);

    // One server dies: reads reconstruct, the device is marked missing (it stopped answering;
    // what it holds is intact and it may come back: device_lifecycle.ts).
    await started[1]!.killAndWait();
    for (const [name, content] of files) expect((await array.get(name)).equals(content), name).toBe(true);
    expect(array.status().devices[1]!.state).toBe('missing');

    // It comes back on its port: `online` checks its superblock and takes it back, no rebuild.
    await servers.start(images[1]!, started[1]!.port);
    expect((await array.onlineDevice(2)).state).toBe('online');
    const degradedBefore = array.status().degradedReads;
    for (const [name, content] of files) expect((await array.get(name)).equals(content), name).toBe(true);
    expect(array.status().degradedReads).toBe(degradedBefore);
    expect((await array.fsck({ deep: true })).problems).toEqual([]);
    await array.close();
    array = undefined;

    // Two servers down with parity 1: the array still opens; status, ls and fsck work and name
    // the files it cannot read; changes are refused; both come back and everything reads.
    // (By `started`: `servers` is in the order the servers came up, not the devices' order.)
    await started[0]!.killAndWait();
    await started[2]!.killAndWait();
    array = await DiskArray.open(home, { ...TEST_RUNTIME, scan: false });
    expect(array.list().map((file) => file.name).sort()).toEqual([...files.keys()]);
    expect(array.status().devices.filter((device) => device.state !== 'online').map((device) => device.deviceId)).toEqual([1, 3]);
    const fsck = await array.fsck();
    expect(fsck.problems.join('\n')).toMatch(/file "f\d": group 0 has 2 blocks on unavailable devices/);
    await expect(array.put('new', Buffer.from('x'))).rejects.toMatchObject({ code: 'TOO_MANY_ERASURES' });
    await servers.start(images[0]!, started[0]!.port);
    await servers.start(images[2]!, started[2]!.port);
    await array.onlineDevice(1);
    await array.onlineDevice(started[2]!.url);
    for (const [name, content] of files) expect((await array.get(name)).equals(content), name).toBe(true);
    await array.put('new', Buffer.from('x'));
    expect((await array.fsck({ deep: true })).problems).toEqual([]);
  });

  nbdkit.it('a server killed during a put: the put finishes degraded and every byte reads back', async () => {
    const images = [0, 1, 2, 3].map((i) => dir.file(`nbd${i}.img`));
    for (const image of images) await createImageFile(image, 96 * MIB);
    const started = await Promise.all(images.map((image) => servers.start(image)));
    array = await DiskArray.create({ ...TEST_RUNTIME, home: dir.file('home'), devices: started.map((server) => server.url), parityCount: 1 });
    const content = patternBytes(40 * MIB, 77);
    const put = array.put('big', content);
    await new Promise((resolve) => setTimeout(resolve, 150));
    started[3]!.kill();
    await put;
    expect((await array.get('big')).equals(content)).toBe(true);
    expect(array.status().devices[3]!.state).toBe('missing'); // stopped answering: missing, not failed
    await array.rebuild();
    expect((await array.get('big')).equals(content)).toBe(true);
    expect((await array.fsck({ deep: true })).problems).toEqual([]);
  });
});

nbdkit.describe('rebuilds under real faults (nbdkit)', () => {
  nbdkit.it('with parity 2, a second server killed mid-rebuild does not stop it; read errors are retried', async () => {
    const images = [0, 1, 2, 3, 4, 5].map((i) => dir.file(`nbd${i}.img`));
    for (const image of images) await createImageFile(image, 64 * MIB);
    // Device 6 answers 5% of its reads with EIO; devices are slowed so the kill lands mid-rebuild.
    const started: NbdkitServer[] = [];
    for (const [i, image] of images.entries()) {
      const filters = i === 5 ? ['rate', 'error'] : ['rate'];
      const parameters = [image, 'rate=40M', ...(i === 5 ? ['error=EIO', 'error-pread-rate=5%'] : [])];
      started.push(await servers.startWith({ plugin: 'file', parameters, filters }));
    }
    array = await DiskArray.create({ ...TEST_RUNTIME, home: dir.file('home'), devices: started.map((server) => server.url), parityCount: 2 });
    const files = new Map([0, 1, 2, 3, 4, 5].map((i) => [`f${i}`, patternBytes(3 * MIB + i * 4099, 90 + i)]));
    for (const [name, content] of files) await array.put(name, content);
    await array.failDevice(1);
    const rebuild = array.rebuild();
    await new Promise((resolve) => setTimeout(resolve, 120));
    started[2]!.kill();
    await rebuild;
    // Whatever the kill cost, the job went on: no NO_SPACE, and every file still reads.
    for (const [name, content] of files) expect((await array.get(name)).equals(content), name).toBe(true);
    const second = await array.rebuild();
    expect(second.problems).toEqual([]);
    expect(array.status().devices.map((device) => `${device.deviceId} ${device.state}`)).toEqual(['2 online', '4 online', '5 online', '6 online']);
    for (const [name, content] of files) expect((await array.get(name)).equals(content), name).toBe(true);
    expect((await array.fsck({ deep: true })).problems).toEqual([]);
  });
});

/** A 40 MiB tmpfs mounted in the test's directory (unmounted after the test). */
function smallTmpfs(): string {
  const mount = dir.file('small-fs');
  mkdirSync(mount);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=40m', 'tmpfs', mount]);
  mounts.push(mount);
  return mount;
}

root.describe('a full host filesystem (tmpfs) under image files', () => {
  root.it('is NO_SPACE naming the filesystem, marks no device failed, and loses nothing', async () => {
    const mount = smallTmpfs();
    const images = [0, 1, 2].map((i) => `${mount}/d${i}.img`);
    array = await DiskArray.create({ ...TEST_RUNTIME, home: dir.file('home'), devices: images, createSizeBytes: 64 * MIB, parityCount: 1 });
    const precious = patternBytes(2 * MIB, 9);
    await array.put('precious', precious);
    await expect(array.put('too-big', patternBytes(60 * MIB, 10))).rejects.toMatchObject({ code: 'NO_SPACE', message: expect.stringContaining('filesystem holding') });
    expect(array.status().devices.map((device) => device.state)).toEqual(['online', 'online', 'online']);
    expect((await array.get('precious')).equals(precious)).toBe(true);
    await array.close();
    array = undefined;
    array = await DiskArray.open(dir.file('home'), TEST_RUNTIME);
    expect((await array.get('precious')).equals(precious)).toBe(true);
    expect(array.list().map((file) => file.name)).toEqual(['precious']);
    expect((await array.fsck({ deep: true })).problems).toEqual([]);
  });

  root.it('met by a metadata journal write (a delete on a full filesystem) is NO_SPACE too: no device failed, and it works once space is freed', async () => {
    const mount = smallTmpfs();
    const images = [0, 1, 2].map((i) => `${mount}/d${i}.img`);
    array = await DiskArray.create({ ...TEST_RUNTIME, home: dir.file('home'), devices: images, createSizeBytes: 64 * MIB, parityCount: 1 });
    const kept = patternBytes(2 * MIB, 11);
    await array.put('kept', kept);
    await array.put('doomed', patternBytes(1 * MIB, 12));
    // Fill the filesystem to its last page: the journal's next record lands in a hole of every image.
    const filler = `${mount}/filler`;
    const { bavail, bsize } = statfsSync(mount);
    execFileSync('fallocate', ['-l', String(Number(bavail) * Number(bsize)), filler]);
    await expect(array.delete('doomed')).rejects.toMatchObject({ code: 'NO_SPACE', message: expect.stringContaining('filesystem holding') });
    expect(array.status().devices.map((device) => device.state)).toEqual(['online', 'online', 'online']);
    array.assertInvariants();
    rmSync(filler);
    await array.delete('doomed').catch((error: { code?: string }) => expect(error.code).toBe('NOT_FOUND'));
    await array.put('after', patternBytes(1 * MIB, 13));
    expect(array.list().map((file) => file.name).sort()).toEqual(['after', 'kept']);
    expect(array.status().devices.map((device) => device.state)).toEqual(['online', 'online', 'online']);
    await array.close();
    array = await DiskArray.open(dir.file('home'), TEST_RUNTIME);
    expect(array.list().map((file) => file.name).sort()).toEqual(['after', 'kept']);
    expect((await array.get('kept')).equals(kept)).toBe(true);
    expect((await array.fsck({ deep: true })).problems).toEqual([]);
  });
});
