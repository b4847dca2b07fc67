// The array's settings: validated from create options, stored in the metadata's settings
// table, and read back (and checked) at open.
import { randomUUID } from 'node:crypto';
import { PARITY_COUNT_MAX } from '../constants.js';
import { CorruptMetadataError, InvalidArgumentError } from '../errors.js';
import type { MetadataLayout } from '../meta/journal_format.js';
import type { MetaStore } from '../meta/meta_store.js';
import { EXTENT_LB_MAX_DEFAULT, EXTENT_LB_MAX_LIMIT, MAX_DATA_WIDTH_DEFAULT, METADATA_REGION_BYTES_MAX, METADATA_REGION_BYTES_MIN, METADATA_REGION_START_LB } from './layout.js';
import type { CreateOptions, ParityCount } from './types.js';

export interface Settings {
  arrayUuid: string;
  parityCount: ParityCount;
  maxDataWidth: number;
  extentLbMax: number;
  /** The on-device metadata region of every device (LB), cut into a ring and two slots. */
  metadataRegionLb: number;
  journalRingLb: number;
  checkpointSlotLb: number;
}

/** Settings known before the devices are opened (the metadata region depends on their sizes). */
export type CreateSettings = Omit<Settings, 'metadataRegionLb' | 'journalRingLb' | 'checkpointSlotLb'>;

export function metadataLayoutOf(settings: Settings): MetadataLayout {
  return { regionStartLb: METADATA_REGION_START_LB, regionLb: settings.metadataRegionLb, ringLb: settings.journalRingLb, slotLb: settings.checkpointSlotLb };
}

export function withMetadataLayout(settings: CreateSettings, layout: MetadataLayout): Settings {
  return { ...settings, metadataRegionLb: layout.regionLb, journalRingLb: layout.ringLb, checkpointSlotLb: layout.slotLb };
}

export function validateCreateOptions(options: CreateOptions): CreateSettings {
  const region = options.metadataRegionBytes;
  if (region !== undefined && !(Number.isInteger(region) && region >= METADATA_REGION_BYTES_MIN && region <= METADATA_REGION_BYTES_MAX && region % (64 * 1024) === 0)) {
    throw new InvalidArgumentError(`the metadata region must be ${METADATA_REGION_BYTES_MIN}..${METADATA_REGION_BYTES_MAX} bytes, a multiple of 64 KiB, not ${region}`);
  }
  const parityCount = options.parityCount ?? 1;
  const maxDataWidth = options.maxDataWidth ?? MAX_DATA_WIDTH_DEFAULT;
  const extentLbMax = options.extentLbMax ?? EXTENT_LB_MAX_DEFAULT;
  if (!Number.isInteger(parityCount) || parityCount < 1 || parityCount > PARITY_COUNT_MAX) {
    throw new InvalidArgumentError(`parity must be 1, 2 or 3, not ${options.parityCount}`);
  }
  if (!Number.isInteger(maxDataWidth) || maxDataWidth < 1 || maxDataWidth > 255) {
    throw new InvalidArgumentError(`max data width must be 1..255, not ${options.maxDataWidth}`);
  }
  if (!Number.isInteger(extentLbMax) || extentLbMax < 1 || extentLbMax > EXTENT_LB_MAX_LIMIT) {
    throw new InvalidArgumentError(`extent length must be 1..${EXTENT_LB_MAX_LIMIT} LB, not ${options.extentLbMax}`);
  }
  if (!Array.isArray(options.devices) || options.devices.length < parityCount + 1) {
    throw new InvalidArgumentError(`parity ${parityCount} needs at least ${parityCount + 1} devices, got ${options.devices?.length ?? 0}`);
  }
  return { arrayUuid: randomUUID(), parityCount: parityCount as ParityCount, maxDataWidth, extentLbMax };
}

export function readSettings(store: MetaStore): Settings {
  const arrayUuid = store.setting('arrayUuid');
  const parityCount = Number(store.setting('parityCount'));
  const maxDataWidth = Number(store.setting('maxDataWidth'));
  const extentLbMax = Number(store.setting('extentLbMax'));
  const metadataRegionLb = Number(store.setting('metadataRegionLb'));
  const journalRingLb = Number(store.setting('journalRingLb'));
  const checkpointSlotLb = Number(store.setting('checkpointSlotLb'));
  if (!arrayUuid || !(parityCount >= 1 && parityCount <= 3) || !(maxDataWidth >= 1) || !(extentLbMax >= 1)) {
    throw new CorruptMetadataError(`metadata in ${store.home} lacks the array settings`);
  }
  if (!(journalRingLb >= 1 && checkpointSlotLb >= 1 && journalRingLb + 2 * checkpointSlotLb <= metadataRegionLb)) {
    throw new CorruptMetadataError(`metadata in ${store.home} lacks the on-device metadata region settings`);
  }
  return { arrayUuid, parityCount: parityCount as ParityCount, maxDataWidth, extentLbMax, metadataRegionLb, journalRingLb, checkpointSlotLb };
}
