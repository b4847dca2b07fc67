// Creating an array, atomically: the new home's database is built in a staging directory
// inside the home (`.elastripe-creating/`) and renamed into place only once it is complete, so
// a create killed at any moment leaves either no array at all or a whole one — never a home
// that "already exists" yet lacks its settings. The staging database records the new array's
// UUID before any superblock is written; a later create in the same home takes back devices
// carrying that UUID (they hold no metadata yet: the first open writes it) as if blank.
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { LB_BYTES } from '../constants.js';
import { ArrayLockedError, DeviceTooSmallError, ElastripeError, InvalidArgumentError } from '../errors.js';
import { DATABASE_FILE, MetaStore } from '../meta/meta_store.js';
import * as setup from './array_setup.js';
import { deviceMinBytes, metadataLayoutFor } from './layout.js';
import { withMetadataLayout, type CreateSettings } from './settings.js';
import type { CreateOptions } from './types.js';

export const CREATE_STAGING_DIRECTORY = '.elastripe-creating';

/**
 * Builds the new array's home: claims and checks the devices, writes their superblocks, and
 * records settings and devices; returns the home's store, open (and locked). The caller opens
 * the array on it, which writes the first metadata checkpoint to the devices.
 */
export async function buildNewHome(options: CreateOptions, createSettings: CreateSettings, runtime: setup.Runtime): Promise<MetaStore> {
  const home = options.home;
  if (existsSync(join(home, DATABASE_FILE))) throw new InvalidArgumentError(`an array already exists in ${home}`);
  const staging = join(home, CREATE_STAGING_DIRECTORY);
  const abandonedArrayUuid = clearAbandonedCreate(staging);
  mkdirSync(staging);
  let store: MetaStore | undefined = MetaStore.open(staging, { create: true });
  try {
    const prepared = await setup.prepareNewDevices(options.devices, runtime, {
      ...options,
      arrayUuid: createSettings.arrayUuid,
      ...(abandonedArrayUuid ? { reclaimArrayUuid: abandonedArrayUuid } : {}),
    });
    try {
      const smallestBytes = Math.min(...prepared.map((entry) => entry.capacityLb * LB_BYTES));
      const layout = metadataLayoutFor(smallestBytes, options.metadataRegionBytes);
      const smallest = prepared.find((entry) => entry.capacityLb * LB_BYTES === smallestBytes)!;
      if (smallestBytes < deviceMinBytes(layout)) throw new DeviceTooSmallError(smallest.path, smallestBytes, deviceMinBytes(layout));
      const settings = withMetadataLayout(createSettings, layout);
      // The UUID is on record before any device carries it (see the top of this file).
      store.putSettings({ ...settings });
      const rows = prepared.map((entry, i) => setup.deviceRowFor(entry, i + 1, layout));
      for (const [i, entry] of prepared.entries()) {
        await setup.writeDeviceSuperblock(runtime, entry.device, setup.superblockFor(settings, rows[i]!));
      }
      for (const row of rows) store.addDevice(row);
    } finally {
      await Promise.allSettled(prepared.map((entry) => entry.device.close()));
    }
    // Closing checkpoints the WAL into the database file, so the one file is the whole home.
    store.close();
    store = undefined;
    renameSync(join(staging, DATABASE_FILE), join(home, DATABASE_FILE));
    rmSync(staging, { recursive: true, force: true });
    return MetaStore.open(home, { create: false });
  } catch (error) {
    store?.close();
    rmSync(staging, { recursive: true, force: true });
    throw error;
  }
}

/**
 * Removes what a killed create left in the staging directory and returns that create's array
 * UUID, if it had recorded one. A staging directory still locked belongs to a create running
 * now: ARRAY_LOCKED.
 */
function clearAbandonedCreate(staging: string): string | undefined {
  if (!existsSync(staging)) return undefined;
  let arrayUuid: string | undefined;
  if (existsSync(join(staging, DATABASE_FILE))) {
    try {
      const store = MetaStore.open(staging, { create: false });
      arrayUuid = store.setting('arrayUuid');
      store.close();
    } catch (error) {
      if (error instanceof ArrayLockedError) throw new ArrayLockedError(staging, 'another create of this home that is still running');
      if (!(error instanceof ElastripeError)) throw error;
      // An unreadable or empty staging database: nothing was recorded, nothing to take back.
    }
  }
  rmSync(staging, { recursive: true, force: true });
  return arrayUuid;
}
