// The factory: backend choice and report, image creation, NBD routing.
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LB_BYTES } from '../../src/constants.js';
import { InvalidArgumentError, NotFoundError } from '../../src/errors.js';
import { backendReport, createImageFile, openDevice } from '../../src/devices/open_device.js';
import { nbdkitMissingReason, startNbdkit } from '../helpers/nbdkit.js';

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

describe('openDevice', () => {
  it('reports every backend, with a reason where one is unavailable', () => {
    const report = backendReport();
    expect(report.fs.available).toBe(true);
    expect(report.nbd.available).toBe(true);
    if (!report.uring.available) expect(report.uring.reason).toMatch(/./);
    expect(report.auto).toBe(report.uring.available ? 'uring' : 'fs');
  });

  it('auto picks the reported backend and it shows in describe()', async () => {
    const path = join(directory, 'auto.img');
    await createImageFile(path, 4 * 1024 * 1024);
    const device = await openDevice(path);
    try {
      expect(device.describe().backend).toBe(device.backend);
      if (backendReport().auto === 'fs') expect(device.backend).toBe('fs');
      else expect(['uring', 'fs']).toContain(device.backend);
      if (device.backend === 'fs' && backendReport().auto === 'uring') expect(device.describe().detail['fallbackReason']).toMatch(/uring/);
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
  });

  it.skipIf(!backendReport().uring.available || !existsSync('/dev/shm'))('on tmpfs: uring where O_DIRECT works (Linux >= 6.6), else fs with the reason', async () => {
    const shm = mkdtempSync('/dev/shm/elastripe-open-');
    try {
      const path = join(shm, 'tmpfs.img');
      await createImageFile(path, 1024 * 1024);
      const device = await openDevice(path);
      try {
        // tmpfs refused O_DIRECT before Linux 6.6; there auto must fall back and say why.
        if (device.backend === 'fs') expect(String(device.describe().detail['fallbackReason'])).toMatch(/uring could not open/);
        else expect(device.backend).toBe('uring');
      } finally {
        await device.close();
      }
    } finally {
      rmSync(shm, { recursive: true, force: true });
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

  it.skipIf(nbdkitMissingReason() !== null)('routes nbd:// URLs to the NBD backend', async () => {
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
