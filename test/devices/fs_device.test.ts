// node:fs backend on image files and (as root, with losetup) on a real loop block device.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LB_BYTES } from '../../src/constants.js';
import { DeviceBusyError, DeviceFailedError, DeviceIoError, InvalidArgumentError, MisalignedIoError, NotFoundError } from '../../src/errors.js';
import { openFsDevice } from '../../src/devices/fs_device.js';
import { loopDevicesPrerequisite } from '../helpers/prerequisites.js';

let directory = '';
beforeAll(() => {
  directory = mkdtempSync(join(tmpdir(), 'elastripe-fs-'));
});
afterAll(() => {
  rmSync(directory, { recursive: true, force: true });
});

function image(name: string, sizeBytes: number): string {
  const path = join(directory, name);
  writeFileSync(path, '');
  truncateSync(path, sizeBytes);
  return path;
}

function pattern(lengthBytes: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(lengthBytes);
  for (let i = 0; i < lengthBytes; i++) bytes[i] = (i * 31 + seed * 17 + (i >>> 12)) & 0xff;
  return bytes;
}

describe('fs device on an image file', () => {
  it('round-trips a scattered batch through views of a shared buffer', async () => {
    const device = await openFsDevice(image('a.img', 16 * 1024 * 1024));
    try {
      expect(device.describe()).toMatchObject({ backend: 'fs', kind: 'file', sizeBytes: 16 * 1024 * 1024, online: true });
      const arena = new Uint8Array(new SharedArrayBuffer(64 * LB_BYTES));
      const extents = [{ startLb: 0, lengthLb: 3 }, { startLb: 100, lengthLb: 1 }, { startLb: 4095, lengthLb: 1 }, { startLb: 50, lengthLb: 27 }];
      const sources = extents.map((extent, i) => pattern(extent.lengthLb * LB_BYTES, i));
      await device.write(extents, sources);
      await device.flush();
      let at = 0;
      const targets = extents.map((extent) => arena.subarray(at, (at += extent.lengthLb * LB_BYTES)));
      await device.read(extents, targets);
      for (let i = 0; i < extents.length; i++) expect(Buffer.compare(targets[i]!, sources[i]!), `extent ${i}`).toBe(0);
      await device.trim([{ startLb: 0, lengthLb: 1 }]);
      device.assertInvariants();
    } finally {
      await device.close();
    }
  });

  it('rounds the size down to whole logical blocks', async () => {
    const device = await openFsDevice(image('odd.img', 10 * LB_BYTES + 100));
    try {
      expect(device.sizeBytes).toBe(10 * LB_BYTES);
      await expect(device.read([{ startLb: 10, lengthLb: 1 }], [new Uint8Array(LB_BYTES)])).rejects.toBeInstanceOf(DeviceIoError);
    } finally {
      await device.close();
    }
  });

  it('refuses misaligned buffers, bad extents and I/O past the end, typed', async () => {
    const device = await openFsDevice(image('b.img', 8 * LB_BYTES));
    try {
      await expect(device.write([{ startLb: 0, lengthLb: 1 }], [new Uint8Array(LB_BYTES - 1)])).rejects.toBeInstanceOf(MisalignedIoError);
      await expect(device.read([{ startLb: -1, lengthLb: 1 }], [new Uint8Array(LB_BYTES)])).rejects.toBeInstanceOf(InvalidArgumentError);
      await expect(device.read([{ startLb: 0, lengthLb: 1 }], [])).rejects.toBeInstanceOf(InvalidArgumentError);
      const error = await device.read([{ startLb: 7, lengthLb: 2 }], [new Uint8Array(2 * LB_BYTES)]).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(DeviceIoError);
      expect((error as DeviceIoError).offsetBytes).toBe(7 * LB_BYTES);
      expect(device.online).toBe(true);
    } finally {
      await device.close();
    }
  });

  it('reports a file truncated underneath as an error, not zeros', async () => {
    const path = image('shrink.img', 8 * LB_BYTES);
    const device = await openFsDevice(path);
    try {
      truncateSync(path, 2 * LB_BYTES);
      const error = await device.read([{ startLb: 4, lengthLb: 1 }], [new Uint8Array(LB_BYTES)]).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(DeviceIoError);
      expect((error as DeviceIoError).errno).toBe(5);
    } finally {
      await device.close();
    }
  });

  it('refuses a second open of the same file, and allows it after close', async () => {
    const path = image('c.img', 8 * LB_BYTES);
    const device = await openFsDevice(path);
    await expect(openFsDevice(path)).rejects.toBeInstanceOf(DeviceBusyError);
    await device.close();
    expect(device.online).toBe(false);
    await expect(device.read([{ startLb: 0, lengthLb: 1 }], [new Uint8Array(LB_BYTES)])).rejects.toBeInstanceOf(DeviceFailedError);
    device.assertInvariants();
    const again = await openFsDevice(path);
    await again.close();
  });

  it('reports a missing path as NotFoundError', async () => {
    await expect(openFsDevice(join(directory, 'nope.img'))).rejects.toBeInstanceOf(NotFoundError);
  });
});

loopDevicesPrerequisite().describe('fs device on a loop block device', () => {
  it('sizes it from sysfs, round-trips, and refuses a second exclusive open', async () => {
    const backing = image('loop.img', 32 * 1024 * 1024);
    const loop = execFileSync('losetup', ['--find', '--show', backing], { encoding: 'utf8' }).trim();
    try {
      const device = await openFsDevice(loop);
      try {
        expect(device.describe()).toMatchObject({ kind: 'block', sizeBytes: 32 * 1024 * 1024, backend: 'fs' });
        expect([512, 4096]).toContain(device.logicalBlockBytes);
        const data = pattern(4 * LB_BYTES, 3);
        await device.write([{ startLb: 8191 - 3, lengthLb: 4 }], [data]);
        await device.flush();
        const back = new Uint8Array(4 * LB_BYTES);
        await device.read([{ startLb: 8191 - 3, lengthLb: 4 }], [back]);
        expect(Buffer.compare(back, data)).toBe(0);
        await expect(openFsDevice(loop)).rejects.toBeInstanceOf(DeviceBusyError);
        // Another process is refused by the kernel (O_EXCL), not only by our registry.
        const probe = `const fs = require('node:fs'); try { fs.openSync(${JSON.stringify(loop)}, fs.constants.O_RDWR | fs.constants.O_EXCL); console.log('opened'); } catch (e) { console.log(e.code); }`;
        expect(execFileSync(process.execPath, ['-e', probe], { encoding: 'utf8' }).trim()).toBe('EBUSY');
      } finally {
        await device.close();
      }
    } finally {
      execFileSync('losetup', ['-d', loop]);
    }
  });
});
