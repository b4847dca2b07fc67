// The array's settings: validated from create options, stored in the metadata's settings
// table, and read back (and checked) at open.
import { randomUUID } from 'node:crypto';
import { PARITY_COUNT_MAX } from '../constants.js';
import { CorruptMetadataError, InvalidArgumentError } from '../errors.js';
import type { MetaStore } from '../meta/meta_store.js';
import { EXTENT_LB_MAX_DEFAULT, EXTENT_LB_MAX_LIMIT, MAX_DATA_WIDTH_DEFAULT } from './layout.js';
import type { CreateOptions, ParityCount } from './types.js';

export interface Settings {
  arrayUuid: string;
  parityCount: ParityCount;
  maxDataWidth: number;
  extentLbMax: number;
}

export function validateCreateOptions(options: CreateOptions): Settings {
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
  if (!arrayUuid || !(parityCount >= 1 && parityCount <= 3) || !(maxDataWidth >= 1) || !(extentLbMax >= 1)) {
    throw new CorruptMetadataError(`metadata in ${store.home} lacks the array settings`);
  }
  return { arrayUuid, parityCount: parityCount as ParityCount, maxDataWidth, extentLbMax };
}
