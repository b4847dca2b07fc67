// A stand-in for the devices layer's scanForDevices over simulated disks, so DiskArray.import
// can find them. Needed because import discovers devices by probing paths itself (it opens
// real files and NBD servers) instead of through RuntimeOptions.openDevice; the rest of import
// (reading every device's journal through openDevice, choosing the newest metadata, writing the
// home) runs unchanged. Test files that want the import variant install it with vi.mock (see
// simulation.test.ts); the simulator checks `simScanInstalled` and otherwise does without.
import { LB_BYTES } from '../../src/constants.js';
import type { FoundDevice, ScanConflict, ScanReport, ProbeResult } from '../../src/devices/device_scan.js';
import { decodeSuperblock, type Superblock } from '../../src/devices/superblock.js';
import type { SimStorage } from './sim_device.js';

/** The storage the stand-in scans (set by the simulator while it runs). */
let activeStorage: SimStorage | undefined;
/** Set by the vi.mock factory that routes scanForDevices here. */
export let simScanInstalled = false;

export function setScannedStorage(storage: SimStorage | undefined): void {
  activeStorage = storage;
}

export function markSimScanInstalled(): void {
  simScanInstalled = true;
}

type ScanModule = typeof import('../../src/devices/device_scan.js');

/** The devices layer's scan module with scans of sim:// paths routed here (for vi.mock's factory). */
export function scanMock(original: ScanModule): ScanModule {
  markSimScanInstalled();
  return {
    ...original,
    scanForDevices: async (patterns, options) => (isSimScan(patterns) ? simScanForDevices(patterns!, options) : original.scanForDevices(patterns, options)),
  };
}

/** Whether the scan patterns name simulated disks (sim://...). */
export function isSimScan(patterns: readonly string[] | undefined): boolean {
  return patterns !== undefined && patterns.length > 0 && patterns.every((pattern) => pattern.startsWith('sim://'));
}

/** What a probe of each simulated disk finds; 'sim://*' matches every disk. */
export function simScanForDevices(patterns: readonly string[], options: { arrayUuid?: string } = {}): ScanReport {
  const storage = activeStorage;
  if (!storage) throw new Error('sim scan: no simulated storage is active');
  const paths = patterns.includes('sim://*') ? [...storage.disks.keys()] : [...patterns];
  const probes = paths.map((path) => probe(storage, path));
  const found: FoundDevice[] = [];
  for (const result of probes) {
    if (result.kind !== 'elastripe') continue;
    if (options.arrayUuid !== undefined && result.superblock.arrayUuid !== options.arrayUuid) continue;
    found.push({ path: result.path, superblock: result.superblock, copy: result.copy, sizeBytes: result.sizeBytes });
  }
  const byUuid = new Map<string, FoundDevice[]>();
  for (const device of found) byUuid.set(device.superblock.deviceUuid, [...(byUuid.get(device.superblock.deviceUuid) ?? []), device]);
  const conflicts: ScanConflict[] = [...byUuid].filter(([, copies]) => copies.length > 1).map(([deviceUuid, copies]) => ({ deviceUuid, copies }));
  const arrays = new Map<string, { devices: FoundDevice[]; conflicts: ScanConflict[] }>();
  for (const device of found) {
    const array = arrays.get(device.superblock.arrayUuid) ?? { devices: [], conflicts: [] };
    if (byUuid.get(device.superblock.deviceUuid)!.length === 1) array.devices.push(device);
    arrays.set(device.superblock.arrayUuid, array);
  }
  for (const conflict of conflicts) arrays.get(conflict.copies[0]!.superblock.arrayUuid)?.conflicts.push(conflict);
  return {
    patterns: [...patterns],
    probes,
    found,
    arrays: [...arrays].map(([arrayUuid, array]) => ({
      arrayUuid,
      devices: array.devices.sort((a, b) => a.superblock.deviceId - b.superblock.deviceId),
      conflicts: array.conflicts,
    })),
    conflicts,
  };
}

/** Reads LB 0, then the last LB, as the real probe does (without claiming the disk). */
function probe(storage: SimStorage, path: string): ProbeResult {
  const disk = storage.disks.get(path);
  if (!disk) return { path, kind: 'unreadable', reason: 'no such simulated disk' };
  if (!disk.present) return { path, kind: 'unreadable', reason: 'the simulated disk is gone' };
  const copies: ['primary' | 'backup', number][] = [
    ['primary', 0],
    ['backup', disk.pageCount - 1],
  ];
  for (const [copy, page] of copies) {
    const bytes = new Uint8Array(LB_BYTES);
    if (disk.copyPage(page, bytes) === 'latent') continue;
    let superblock: Superblock | null = null;
    try {
      superblock = decodeSuperblock(bytes);
    } catch {
      continue;
    }
    if (superblock) return { path, kind: 'elastripe', superblock, copy, sizeBytes: disk.sizeBytes };
  }
  return { path, kind: 'other', reason: 'no valid elastripe superblock', sizeBytes: disk.sizeBytes };
}
