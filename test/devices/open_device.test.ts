// The factory: backend choice and report, image creation, NBD routing. Each case states the
// backend it expects: the addon is loaded (a prerequisite: under CI it must load), and whether
// a filesystem takes O_DIRECT is asked of the kernel directly (open(2) with O_DIRECT), or is
// known (tmpfs since Linux 6.6, never ramfs).
import { execFileSync } from 'node:child_process';
import { closeSync, constants as fsConstants, existsSync, mkdtempSync, openSync, rmSync, statfsSync, statSync, writeFileSync } from 'node:fs';
import { release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { LB_BYTES } from '../../src/constants.js';
import { InvalidArgumentError, NotFoundError } from '../../src/errors.js';
import { backendReport, createImageFile, openDevice } from '../../src/devices/open_device.js';
import { URING_ADDON_PATH_ENV, URING_DISABLE_ENV } from '../../src/devices/uring_native.js';
import { startNbdkit } from '../helpers/nbdkit.js';
import { nbdkitPrerequisite, requirePrerequisite, uringPrerequisite } from '../helpers/prerequisites.js';

let directory = '';
beforeAll(() => { directory = mkdtempSync(join(tmpdir(), 'elastripe-open-')); });
afterAll(() => rmSync(directory, { recursive: true, force: true }));

describe('createImageFile', () => {
  it('creates a sparse file of the asked size and refuses to clobber one', async () => {
    const path = join(directory, 'new.img');
    await createImageFile(path, 64 * 1024 * 1024);
    const info = statSync(path);
    expect(info.size).toBe(64 * 1024 * 1024);
    expect(info.blocks * 512).toBeLessThan(1024 * 1024);
    await expect(createImageFile(path, LB_BYTES)).rejects.toBeInstanceOf(InvalidArgumentError);
    expect(statSync(path).size).toBe(64 * 1024 * 1024);
    await createImageFile(path, 2 * LB_BYTES, { overwrite: true });
    expect(statSync(path).size).toBe(2 * LB_BYTES);
  });

  it('refuses sizes that are not whole logical blocks', async () => {
    const path = join(directory, 'bad.img');
    await expect(createImageFile(path, 1000)).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(createImageFile(path, 0)).rejects.toBeInstanceOf(InvalidArgumentError);
    expect(existsSync(path)).toBe(false);
  });
});

/** Null when files in `directory` open with O_DIRECT, else why not: the kernel's answer, asked without our code. */
function oDirectRefusal(directory: string): string | null {
  const probe = join(directory, `.elastripe-odirect-probe-${process.pid}`);
  try {
    writeFileSync(probe, '');
    closeSync(openSync(probe, fsConstants.O_RDWR | fsConstants.O_DIRECT));
    return null;
  } catch (error) {
    return `${directory}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`;
  } finally {
    rmSync(probe, { force: true });
  }
}

const uring = uringPrerequisite();
/** A directory on a filesystem that takes O_DIRECT (ext4, xfs, btrfs, tmpfs >= 6.6, ...). */
const O_DIRECT_CANDIDATES = [tmpdir(), '/var/tmp'];
const oDirectDirectory = O_DIRECT_CANDIDATES.find((candidate) => existsSync(candidate) && oDirectRefusal(candidate) === null);
const oDirect = requirePrerequisite('a temp directory whose filesystem takes O_DIRECT', () =>
  oDirectDirectory ? null : O_DIRECT_CANDIDATES.map(oDirectRefusal).join('; '));
const TMPFS_MAGIC = 0x01021994;
const shmTmpfs = requirePrerequisite('/dev/shm on tmpfs', () => {
  if (!existsSync('/dev/shm')) return '/dev/shm is missing';
  return statfsSync('/dev/shm').type === TMPFS_MAGIC ? null : '/dev/shm is not tmpfs';
});
const [kernelMajor = 0, kernelMinor = 0] = release().split(/[.-]/).map(Number);
/** tmpfs takes O_DIRECT since Linux 6.6. */
const tmpfsTakesODirect = kernelMajor > 6 || (kernelMajor === 6 && kernelMinor >= 6);

describe('openDevice', () => {
  uring.it('with the addon loaded: uring is available and auto means uring', () => {
    expect(backendReport()).toEqual({ uring: { available: true }, fs: { available: true }, nbd: { available: true }, auto: 'uring' });
  });

  it('without a loadable addon: auto means fs, the reason is reported, and image files open on fs saying why', async () => {
    const saved = { path: process.env[URING_ADDON_PATH_ENV], disable: process.env[URING_DISABLE_ENV] };
    process.env[URING_ADDON_PATH_ENV] = join(directory, 'no-such-addon.node');
    delete process.env[URING_DISABLE_ENV];
    vi.resetModules();
    try {
      // A fresh module graph: the addon loader has not cached an answer yet.
      const fresh = await import('../../src/devices/open_device.js');
      const report = fresh.backendReport();
      expect(report.auto).toBe('fs');
      expect(report.uring.available).toBe(false);
      expect(report.uring.reason).toMatch(/no-such-addon\.node failed to load/);
      const path = join(directory, 'no-addon.img');
      await fresh.createImageFile(path, 1024 * 1024);
      const device = await fresh.openDevice(path);
      try {
        expect(device.backend).toBe('fs');
        expect(device.describe().backend).toBe('fs');
        expect(String(device.describe().detail['fallbackReason'])).toMatch(/^uring unavailable: .*no-such-addon\.node failed to load/);
      } finally {
        await device.close();
      }
    } finally {
      if (saved.path === undefined) delete process.env[URING_ADDON_PATH_ENV];
      else process.env[URING_ADDON_PATH_ENV] = saved.path;
      if (saved.disable !== undefined) process.env[URING_DISABLE_ENV] = saved.disable;
      vi.resetModules();
    }
  });

  uring.and(oDirect).it('auto opens an image file on a filesystem that takes O_DIRECT with uring', async () => {
    const place = mkdtempSync(join(oDirectDirectory!, 'elastripe-open-odirect-'));
    try {
      const path = join(place, 'auto.img');
      await createImageFile(path, 4 * 1024 * 1024);
      const device = await openDevice(path);
      try {
        expect(device.backend).toBe('uring');
        expect(device.describe().backend).toBe('uring');
        expect(device.describe().detail['fallbackReason']).toBeUndefined();
        // Buffers from a shared WebAssembly memory, like the arena: its base is 64 KiB aligned,
        // so O_DIRECT (uring) accepts them.
        const memory = new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
        const aligned = new Uint8Array(memory.buffer, 0, 2 * LB_BYTES).fill(9);
        await device.write([{ startLb: 3, lengthLb: 2 }], [aligned]);
        const back = new Uint8Array(memory.buffer, 4 * LB_BYTES, 2 * LB_BYTES);
        await device.read([{ startLb: 3, lengthLb: 2 }], [back]);
        expect(back.every((byte) => byte === 9)).toBe(true);
      } finally {
        await device.close();
      }
    } finally {
      rmSync(place, { recursive: true, force: true });
    }
  });

  uring.and(shmTmpfs).it(`on tmpfs: ${tmpfsTakesODirect ? 'uring (Linux >= 6.6 takes O_DIRECT there)' : 'fs with the reason (tmpfs refuses O_DIRECT before Linux 6.6)'}`, async () => {
    const shm = mkdtempSync('/dev/shm/elastripe-open-');
    try {
      const path = join(shm, 'tmpfs.img');
      await createImageFile(path, 1024 * 1024);
      const device = await openDevice(path);
      try {
        if (tmpfsTakesODirect) {
          expect(device.backend).toBe('uring');
        } else {
          expect(device.backend).toBe('fs');
          expect(String(device.describe().detail['fallbackReason'])).toMatch(/uring could not open/);
        }
      } finally {
        await device.close();
      }
    } finally {
      rmSync(shm, { recursive: true, force: true });
    }
  });

  uring.it('on ramfs, which refuses O_DIRECT: fs, with the reason', async (context) => {
    const mountPoint = mkdtempSync(join(tmpdir(), 'elastripe-open-ramfs-'));
    let mounted = false;
    try {
      requirePrerequisite('mounting a ramfs (root)', () => {
        if (process.getuid?.() !== 0) return 'not root';
        execFileSync('mount', ['-t', 'ramfs', 'elastripe-test', mountPoint], { stdio: 'pipe' });
        mounted = true;
        return null;
      }).need(context);
      expect(oDirectRefusal(mountPoint)).toMatch(/EINVAL/);
      const path = join(mountPoint, 'ramfs.img');
      await createImageFile(path, 1024 * 1024);
      const device = await openDevice(path);
      try {
        expect(device.backend).toBe('fs');
        expect(String(device.describe().detail['fallbackReason'])).toMatch(/^uring could not open it: /);
      } finally {
        await device.close();
      }
    } finally {
      if (mounted) execFileSync('umount', [mountPoint], { stdio: 'pipe' });
      rmSync(mountPoint, { recursive: true, force: true });
    }
  });

  it('honours an explicit fs backend', async () => {
    const path = join(directory, 'fs.img');
    await createImageFile(path, 1024 * 1024);
    const device = await openDevice(path, { backend: 'fs' });
    try {
      expect(device.describe()).toMatchObject({ backend: 'fs', kind: 'file', sizeBytes: 1024 * 1024 });
    } finally {
      await device.close();
    }
  });

  it('reports a missing path typed', async () => {
    await expect(openDevice(join(directory, 'missing.img'), { backend: 'fs' })).rejects.toBeInstanceOf(NotFoundError);
  });

  it('refuses a local backend for an nbd:// URL', async () => {
    await expect(openDevice('nbd://127.0.0.1:1/x', { backend: 'fs' })).rejects.toBeInstanceOf(InvalidArgumentError);
  });

  nbdkitPrerequisite().it('routes nbd:// URLs to the NBD backend', async () => {
    const server = await startNbdkit({ plugin: 'memory', parameters: ['size=8M'] });
    try {
      const device = await openDevice(server.url, { nbd: { requestTimeoutMs: 5000 } });
      expect(device.describe()).toMatchObject({ backend: 'nbd', kind: 'nbd', sizeBytes: 8 * 1024 * 1024 });
      await device.close();
    } finally {
      await server.stop();
    }
  });
});
