// Import finds an array's devices through the embedder's opener (RuntimeOptions.openDevice),
// as open reaches them: here devices named img://NAME that only the opener knows, backed by
// real image files. Each probe opens read-only and unclaimed, and is closed again.
import { describe, expect, it } from 'vitest';
import { DiskArray } from '../../src/array/disk_array.js';
import type { Device } from '../../src/devices/device.js';
import { createImageFile, openDevice, type OpenDeviceOptions } from '../../src/devices/open_device.js';
import { scanForDevices } from '../../src/devices/device_scan.js';
import { MIB, patternBytes, TEST_RUNTIME, TempDir } from '../helpers/temp_array.js';

describe('import through RuntimeOptions.openDevice', () => {
  it('probes img:// names through the opener, read-only and unclaimed, and imports the array', async () => {
    const dir = new TempDir();
    const opens: { path: string; readOnly: boolean; exclusive: boolean | undefined }[] = [];
    const live = new Set<Device>();
    const opener = async (path: string, options: OpenDeviceOptions): Promise<Device> => {
      const match = /^img:\/\/(\w+)$/.exec(path);
      if (!match) throw new Error(`not an img:// name: ${path}`);
      opens.push({ path, readOnly: options.readOnly ?? false, exclusive: options.exclusive });
      const device = await openDevice(dir.file(`${match[1]}.img`), { ...options, backend: 'fs' });
      live.add(device);
      return new Proxy(device, {
        get: (target, key) => (key === 'path' ? path : key === 'close' ? async () => { live.delete(device); await target.close(); } : Reflect.get(target, key, target)),
      });
    };
    try {
      for (const name of ['a', 'b', 'c', 'd', 'blank']) await createImageFile(dir.file(`${name}.img`), 32 * MIB);
      const names = ['a', 'b', 'c', 'd'].map((name) => `img://${name}`);
      const runtime = { ...TEST_RUNTIME, openDevice: opener, scan: false as const };
      const array = await DiskArray.create({ ...runtime, home: dir.file('home'), devices: names, parityCount: 1 });
      const content = patternBytes(700_000, 3);
      await array.put('kept', content);
      await array.close();
      expect(live.size).toBe(0);

      // The plain scan cannot read img:// names: each is unreadable, and says why.
      const plain = await scanForDevices([...names, 'img://blank']);
      expect(plain.found).toEqual([]);
      expect(plain.probes.every((probe) => probe.kind === 'unreadable' && /no device opener/.test(probe.reason))).toBe(true);

      opens.length = 0;
      const imported = await DiskArray.import({ ...runtime, home: dir.file('home2'), scan: ['img://blank', ...names] });
      try {
        const report = imported.status().opened.imported!;
        expect(report.present.map((device) => device.path).sort()).toEqual(names);
        expect(report.missing).toEqual([]);
        expect((await imported.get('kept')).equals(content)).toBe(true);
        // Every name was probed read-only and unclaimed, then the members opened for use
        // (for their journals, then by the array).
        const probes = opens.filter((open) => open.readOnly);
        expect(probes.map((open) => open.path)).toEqual(['img://blank', ...names]);
        expect(probes.every((open) => open.exclusive === false)).toBe(true);
        expect([...new Set(opens.filter((open) => !open.readOnly).map((open) => open.path))].sort()).toEqual(names);
        expect(live.size).toBe(4);
        expect((await imported.fsck({ deep: true })).problems).toEqual([]);
      } finally {
        await imported.close();
      }
      expect(live.size).toBe(0);
    } finally {
      dir.remove();
    }
  });
});
