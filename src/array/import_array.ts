// Import: an array rebuilt from its devices alone (the home lost, or moved to another host).
// The superblocks say which array and which device each path is; every device's metadata
// region says what it knows; the device that knows the newest change set gives the rows (its
// checkpoint, then its records), written into a fresh home. Devices the metadata lists but the
// scan did not find are missing (at most m may be), devices it found that the metadata calls
// failed or removed, or does not list at all, are stale: never trusted for data or metadata.
// Devices are found through the runtime's opener when the embedder gave one
// (RuntimeOptions.openDevice: a simulator's disks, fault-injecting wrappers), so an import
// sees the same devices an open would; else by reading the paths themselves (device_scan.ts).
import type { Device } from '../devices/device.js';
import { openDevice as openDeviceByPath } from '../devices/open_device.js';
import { DuplicateDeviceError, scanForDevices, type FoundDevice, type ScanOptions, type ScannedArray } from '../devices/device_scan.js';
import { CorruptMetadataError, InvalidArgumentError, NotFoundError, TooManyErasuresError } from '../errors.js';
import type { MetadataLayout } from '../meta/journal_format.js';
import { MetaStore } from '../meta/meta_store.js';
import type { DeviceRow } from '../meta/rows.js';
import { METADATA_REGION_START_LB } from './layout.js';
import { readCheckpointRows, readDeviceJournal, type DeviceJournalState } from './metadata_recovery.js';
import { newest } from './metadata_open.js';
import { openRecordedDevice, withScratch, type Runtime } from './array_setup.js';

export interface ImportOptions {
  home: string;
  /** The devices, by path (each must carry an elastripe superblock). */
  devices?: string[];
  /**
   * Or patterns to scan (globs, nbd:// URLs); with neither, ELASTRIPE_SCAN or the default patterns.
   * false (with `devices`): the array opened after the import does not look for devices either.
   */
  scan?: string[] | false;
  /** Which array, when the scan finds several. */
  arrayUuid?: string;
}

export interface ImportReport {
  arrayUuid: string;
  /** The newest change set, and the device it was read from. */
  seq: number;
  sourceDeviceId: number;
  present: { deviceId: number; path: string }[];
  missing: { deviceId: number; lastPath: string }[];
  stale: { path: string; deviceId: number; why: string }[];
}

/**
 * Finds the array's devices and writes a fresh home from their newest metadata; returns the
 * home's store, open (and so locked). The home must not hold an array.
 */
export async function importIntoHome(options: ImportOptions, runtime: Runtime): Promise<{ report: ImportReport; store: MetaStore }> {
  const chosen = await withScratch(runtime, (scratch) => findArray(options, probeOptions(runtime, scratch)));
  const layout = layoutOf(chosen.devices);
  const opened: { found: FoundDevice; device: Device; state: DeviceJournalState }[] = [];
  try {
    for (const found of chosen.devices) {
      // Waits a moment for a device a killed owner's ring still holds, as open does.
      const device = await openRecordedDevice(found.path, runtime);
      let state: DeviceJournalState;
      try {
        state = await readDeviceJournal(device, layout, chosen.arrayUuid, runtime.arena);
      } catch {
        // Its metadata region cannot be read (a bad sector that outlived the retries): the other
        // devices' copies describe the array; this one still serves its data blocks.
        state = { checkpoint: undefined, records: [], lastSeq: 0, headLb: 0, usedLb: 0 };
      }
      opened.push({ found, device, state });
    }
    const best = newest(opened);
    if (!best?.state.checkpoint) throw new CorruptMetadataError(`no device of array ${chosen.arrayUuid} carries intact metadata`);
    const rows = await readCheckpointRows(best.device, layout, runtime.arena, best.state.checkpoint);
    if (!rows) throw new CorruptMetadataError(`the metadata checkpoint of ${best.found.path} no longer reads back intact`);
    const store = MetaStore.open(options.home, { create: true });
    try {
      store.loadSnapshot(rows);
      store.applyChangeSets(best.state.records);
      const report = classify(store.devices(), opened.map((entry) => entry.found), chosen.arrayUuid, store.seq, best.found.superblock.deviceId);
      for (const present of report.present) store.setDevicePath(present.deviceId, present.path);
      const parityCount = Number(store.setting('parityCount'));
      const unavailable = store.devices().filter((row) => row.state === 'failed').length + report.missing.length;
      if (unavailable > parityCount) {
        throw new TooManyErasuresError(
          `array ${chosen.arrayUuid} cannot be imported: ${unavailable} devices are missing or failed and parity ${parityCount} tolerates ${parityCount} (missing: ${report.missing.map((entry) => `#${entry.deviceId} last at ${entry.lastPath}`).join(', ')})`,
        );
      }
      return { report, store };
    } catch (error) {
      store.close();
      MetaStore.destroy(options.home);
      throw error;
    }
  } finally {
    await Promise.allSettled(opened.map((entry) => entry.device.close()));
  }
}

/** Probes through the embedder's opener, when the runtime has one: read-only, unclaimed. */
function probeOptions(runtime: Runtime, scratch: Uint8Array): ScanOptions {
  if (runtime.openDevice === openDeviceByPath) return {};
  const { registeredMemory } = runtime;
  return { scratch, openDevice: (path) => runtime.openDevice(path, { backend: runtime.backend, ...(registeredMemory ? { registeredMemory } : {}), readOnly: true, exclusive: false }) };
}

async function findArray(options: ImportOptions, probe: ScanOptions): Promise<ScannedArray> {
  const explicit = options.devices !== undefined && options.devices.length > 0;
  if (!explicit && options.scan === false) throw new InvalidArgumentError('import needs devices to read, or somewhere to scan for them (scan is false)');
  const report = await scanForDevices(explicit ? options.devices : options.scan || undefined, probe);
  if (explicit) {
    const notOurs = report.probes.filter((probe) => probe.kind !== 'elastripe');
    if (notOurs.length > 0) throw new InvalidArgumentError(`${notOurs[0]!.path} is not an elastripe device (${(notOurs[0] as { reason: string }).reason})`);
  }
  const arrays = options.arrayUuid ? report.arrays.filter((array) => array.arrayUuid === options.arrayUuid) : report.arrays;
  if (arrays.length === 0) {
    throw new NotFoundError(`no elastripe devices${options.arrayUuid ? ` of array ${options.arrayUuid}` : ''} found in ${report.patterns.join(', ')}`);
  }
  if (arrays.length > 1) {
    const list = arrays.map((array) => `${array.arrayUuid} (${array.devices.length + array.conflicts.length} devices)`).join(', ');
    throw new InvalidArgumentError(`the devices belong to ${arrays.length} arrays: ${list}; import one at a time: name its devices, narrow --scan or pick one with --array UUID (arrayUuid in the library)`);
  }
  const chosen = arrays[0]!;
  if (chosen.conflicts.length > 0) {
    const conflict = chosen.conflicts[0]!;
    throw new DuplicateDeviceError(conflict.deviceUuid, conflict.copies.map((copy) => copy.path));
  }
  return chosen;
}

/** Every device of one array carries the same metadata region (a setting fixed at create). */
function layoutOf(devices: readonly FoundDevice[]): MetadataLayout {
  const first = devices[0]!.superblock;
  for (const device of devices) {
    const superblock = device.superblock;
    if (superblock.metadataRegionLb !== first.metadataRegionLb || superblock.journalRingLb !== first.journalRingLb || superblock.checkpointSlotLb !== first.checkpointSlotLb) {
      throw new CorruptMetadataError(`${device.path} describes another metadata region than ${devices[0]!.path}`);
    }
  }
  if (first.journalRingLb < 1 || first.checkpointSlotLb < 1) throw new CorruptMetadataError(`${devices[0]!.path} carries no on-device metadata region`);
  return { regionStartLb: METADATA_REGION_START_LB, regionLb: first.metadataRegionLb, ringLb: first.journalRingLb, slotLb: first.checkpointSlotLb };
}

function classify(rows: readonly DeviceRow[], found: readonly FoundDevice[], arrayUuid: string, seq: number, sourceDeviceId: number): ImportReport {
  const byUuid = new Map(found.map((device) => [device.superblock.deviceUuid, device]));
  const report: ImportReport = { arrayUuid, seq, sourceDeviceId, present: [], missing: [], stale: [] };
  const known = new Set(rows.map((row) => row.uuid));
  for (const row of rows) {
    const device = byUuid.get(row.uuid);
    const member = row.state === 'online' || row.state === 'draining' || row.state === 'spare';
    if (member && device) report.present.push({ deviceId: row.deviceId, path: device.path });
    else if (member) report.missing.push({ deviceId: row.deviceId, lastPath: row.path });
    else if (device) report.stale.push({ path: device.path, deviceId: row.deviceId, why: `the array's metadata marks it ${row.state}` });
  }
  for (const device of found) {
    if (!known.has(device.superblock.deviceUuid)) {
      report.stale.push({ path: device.path, deviceId: device.superblock.deviceId, why: 'the array\'s metadata does not list it (it never finished joining)' });
    }
  }
  return report;
}
