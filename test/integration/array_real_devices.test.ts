// The array end to end on real devices: loop block devices (uring and fs backends) and NBD
// servers (nbdkit), with faults injected by real tools: a detached loop device, nbdkit's
// error filter and a server killed mid-read.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { afterAll, afterEach, beforeEach, expect, it } from 'vitest';
import { DiskArray } from '../../src/array/disk_array.js';
import type { BackendChoice } from '../../src/array/types.js';
import { LoopDeviceSet } from '../helpers/loop_devices.js';
import { startNbdkit, type NbdkitServer } from '../helpers/nbdkit.js';
import { loopDevicesPrerequisite, nbdkitPrerequisite, uringPrerequisite } from '../helpers/prerequisites.js';
import { MIB, patternBytes, TempDir, TEST_RUNTIME } from '../helpers/temp_array.js';

const loops = loopDevicesPrerequisite();
// The uring backend is asked for explicitly below: without the addon those tests could not pass.
const uringLoops = loops.and(uringPrerequisite());

let dir: TempDir;
let array: DiskArray | undefined;
const loopSet = new LoopDeviceSet();
const servers: NbdkitServer[] = [];

beforeEach(() => {
  dir = new TempDir();
});
afterEach(async () => {
  await array?.close();
  array = undefined;
  await Promise.allSettled(servers.splice(0).map((server) => server.stop()));
  loopSet.destroyAll();
  dir.remove();
});
afterAll(() => loopSet.destroyAll());

async function createOn(devices: string[], options: { backend?: BackendChoice; parityCount?: 1 | 2 } = {}): Promise<DiskArray> {
  const home = dir.file('home');
  mkdirSync(home, { recursive: true });
  return DiskArray.create({ ...TEST_RUNTIME, home, devices, ...options });
}

loops.describe('array on loop block devices', () => {
  for (const backend of ['uring', 'fs'] as const) {
    (backend === 'uring' ? uringLoops : loops).it(`stores, verifies and survives a detached device (${backend} backend)`, async () => {
      const devices = [0, 1, 2, 3].map(() => loopSet.create(64 * MIB).path);
      array = await createOn(devices, { backend });
      expect(array.status().devices.every((device) => device.backend === backend)).toBe(true);
      const content = patternBytes(12 * MIB + 321, 41);
      await array.put('on-loop', content);
      expect((await array.get('on-loop')).equals(content)).toBe(true);
      expect((await array.fsck({ deep: true })).problems).toEqual([]);
      array.assertInvariants();
      await array.close();
      loopSet.detach(loopSet.all[2]!);
      array = await DiskArray.open(dir.file('home'), { ...TEST_RUNTIME, backend });
      expect(array.status().devices[2]!.state).toBe('missing');
      expect((await array.get('on-loop')).equals(content)).toBe(true);
      expect(array.status().degradedReads).toBeGreaterThan(0);
    });
  }

  uringLoops.it('refuses a loop device below the minimum size, and leaves the other devices unclaimed', async () => {
    const devices = [loopSet.create(64 * MIB).path, loopSet.create(64 * MIB).path, loopSet.create(8 * MIB).path];
    await expect(createOn(devices, { backend: 'uring' })).rejects.toMatchObject({ code: 'DEVICE_TOO_SMALL' });
    // The failed create wrote no superblock: a new array takes the healthy devices without --force.
    array = await createOn(devices.slice(0, 2).concat(loopSet.create(64 * MIB).path), { backend: 'uring' });
    await array.put('fits', patternBytes(MIB, 45));
    expect((await array.get('fits')).equals(patternBytes(MIB, 45))).toBe(true);
  });

  uringLoops.it('refuses a loop device that another array holds open', async () => {
    const devices = [0, 1, 2].map(() => loopSet.create(64 * MIB).path);
    array = await createOn(devices, { backend: 'uring' });
    const home2 = dir.file('home2');
    mkdirSync(home2);
    const other = loopSet.create(64 * MIB).path;
    await expect(
      DiskArray.create({ ...TEST_RUNTIME, home: home2, devices: [devices[0]!, other], backend: 'uring', force: true }),
    ).rejects.toMatchObject({ code: 'DEVICE_BUSY' });
  });
});

nbdkitPrerequisite().describe('array on NBD devices', () => {
  async function memoryServer(extra: Partial<Parameters<typeof startNbdkit>[0]> = {}): Promise<NbdkitServer> {
    const server = await startNbdkit({ plugin: 'memory', parameters: ['size=96M', ...(extra.parameters ?? [])], filters: extra.filters });
    servers.push(server);
    return server;
  }

  it('mixes NBD servers with an image file and reads through a killed server', async () => {
    const nbd = [await memoryServer(), await memoryServer(), await memoryServer()];
    const image = dir.file('local.img');
    const home = dir.file('home');
    mkdirSync(home);
    array = await DiskArray.create({ ...TEST_RUNTIME, home, devices: [...nbd.map((server) => server.url), image], createSizeBytes: 96 * MIB });
    expect(array.status().devices.map((device) => device.backend)).toEqual(['nbd', 'nbd', 'nbd', expect.stringMatching(/^(uring|fs)$/)]);
    const content = patternBytes(10 * MIB + 5, 42);
    await array.put('networked', content);
    expect((await array.get('networked')).equals(content)).toBe(true);
    nbd[1]!.kill();
    expect((await array.get('networked')).equals(content)).toBe(true);
    const status = array.status();
    expect(status.degradedReads).toBeGreaterThan(0);
    // It stopped answering: missing (not failed; it may come back, device_lifecycle.ts).
    expect(status.devices.find((device) => device.path === nbd[1]!.url)!.state).toBe('missing');
    // Writes avoid the failed device: new groups are placed on the three that are left.
    const later = await array.put('after-failure', patternBytes(3 * MIB, 43));
    const failedId = status.devices.find((device) => device.path === nbd[1]!.url)!.deviceId;
    expect(later.groups.flatMap((group) => group.extents).some((extent) => extent.deviceId === failedId)).toBe(false);
    expect((await array.get('after-failure')).equals(patternBytes(3 * MIB, 43))).toBe(true);
  });

  it('reconstructs around read errors injected by the nbdkit error filter', async () => {
    const trigger = dir.file('inject-read-errors');
    const faulty = await memoryServer({ filters: ['error'], parameters: ['error-pread=EIO', 'error-pread-rate=100%', `error-pread-file=${trigger}`] });
    const healthy = [await memoryServer(), await memoryServer()];
    array = await createOn([faulty.url, ...healthy.map((server) => server.url)]);
    const content = patternBytes(4 * MIB, 44);
    await array.put('flaky', content);
    writeFileSync(trigger, 'on');
    expect((await array.get('flaky')).equals(content)).toBe(true);
    expect(array.status().degradedReads).toBeGreaterThan(0);
    rmSync(trigger);
    expect((await array.get('flaky')).equals(content)).toBe(true);
  });
});
