// Opening an array's metadata: the home's database and the devices' journals are brought to
// the same, newest state before anything else runs.
//  - devices ahead of the home (an old home, restored from a backup, or one that lost its
//    last commits): the home is rolled forward from the device that knows the most — by its
//    records when they start where the home stops, else from its checkpoint and records;
//  - the home ahead of the devices (the process stopped between a commit and its record), or
//    devices that disagree (one was offline, or is new): the journal starts with a checkpoint;
//  - a home whose devices all belong to another array is refused (a foreign home).
// More than m devices missing does not stop the open: status, ls, stat, fsck and reads of the
// files not affected still work, and DiskArray refuses changes until devices return.
import type { Device } from '../devices/device.js';
import { CorruptMetadataError } from '../errors.js';
import { changeSetDigest, encodeChanges } from '../meta/meta_changes.js';
import type { MetaStore } from '../meta/meta_store.js';
import type { ArrayDevices } from './array_devices.js';
import { openRecordedDevices, type MovedDevice, type Runtime } from './array_setup.js';
import type { JournalPosition } from './metadata_journal.js';
import { journalPositionOf, readCheckpointRows, readDeviceJournal, type DeviceJournalState } from './metadata_recovery.js';
import { metadataLayoutOf, readSettings, type Settings } from './settings.js';

export interface RecoveredMetadata {
  settings: Settings;
  devices: ArrayDevices;
  /** Where the journal writer goes on from. */
  position: JournalPosition;
  /** The devices do not all hold the home's newest state: write a checkpoint first. */
  checkpointNeeded: boolean;
  /** Devices found at another path than recorded (their new paths are recorded). */
  moved: MovedDevice[];
  /** The change sets the home was rolled forward by: [from, to], when it was. */
  rolledForward?: [number, number];
  /**
   * Where each online device's journal ended as found, before an open's checkpoint rewrote
   * it: a device that ends before what was durable on it is an older copy (staleCopies).
   */
  journalEnds: ReadonlyMap<number, number>;
}

export interface OpenMetadataOptions {
  /** Where to look for devices that are not at their recorded paths (see openRecordedDevices). */
  scan?: readonly string[] | false;
}

export async function recoverMetadata(store: MetaStore, runtime: Runtime, options: OpenMetadataOptions = {}): Promise<RecoveredMetadata> {
  let settings = readSettings(store);
  let { devices, moved } = await openRecordedDevices(store.devices(), settings.arrayUuid, runtime, options);
  try {
    assertNotForeignHome(store, devices, settings);
    // The home's newest change set is decoded too, for assertSameHistory.
    let journals = await readJournals(devices, settings, runtime, Math.max(0, store.seq - 1));
    await assertSameHistory(store, journals, (journal, afterSeq) => readDeviceJournal(journal.device, metadataLayoutOf(settings), settings.arrayUuid, runtime.arena, afterSeq));
    let best = newest(journals);
    let rolledForward: [number, number] | undefined;
    // Each roll forward may name devices the home did not know (added since), whose journals go
    // further still — when every device it knew was removed since, the newest it knows stops at
    // its own removal — so it repeats until no device is ahead. Each round moves the store
    // strictly forward, so it ends.
    while (best && best.state.lastSeq > store.seq) {
      const from = rolledForward?.[0] ?? store.seq;
      await rollForward(store, best, settings, runtime);
      rolledForward = [from, store.seq];
      settings = readSettings(store);
      await devices.closeAll();
      ({ devices, moved } = await openRecordedDevices(store.devices(), settings.arrayUuid, runtime, options));
      journals = await readJournals(devices, settings, runtime, store.seq);
      best = newest(journals);
    }
    for (const entry of moved) store.setDevicePath(entry.deviceId, entry.to);
    const position = best ? journalPositionOf(best.state) : { checkpointNumber: 0, headLb: 0, usedLb: 0, durableSeq: 0 };
    // With no device online (every one missing: status and ls still work from the home) there is
    // nowhere to write; the journal checkpoints when a device comes back.
    const checkpointNeeded =
      devices.online().length > 0 &&
      (store.seq !== position.durableSeq || journals.some(({ state }) => state.lastSeq !== position.durableSeq || state.headLb !== position.headLb));
    const journalEnds = new Map(journals.map(({ deviceId, state }) => [deviceId, state.lastSeq]));
    return { settings, devices, position, checkpointNeeded, moved, journalEnds, ...(rolledForward ? { rolledForward } : {}) };
  } catch (error) {
    await devices.closeAll();
    throw error;
  }
}

export interface DeviceJournal {
  deviceId: number;
  device: Device;
  state: DeviceJournalState;
}

/**
 * The journal state of every online device (a device whose region cannot be read is taken
 * offline). `knownSeq`: the change sets the home holds, whose records are verified, not decoded.
 */
export async function readJournals(devices: ArrayDevices, settings: Settings, runtime: Runtime, knownSeq = 0): Promise<DeviceJournal[]> {
  const layout = metadataLayoutOf(settings);
  // All devices at once: each reads and verifies its newest checkpoint, which grows with the array.
  const online = devices.online();
  const states = await Promise.allSettled(online.map((entry) => readDeviceJournal(entry.device!, layout, settings.arrayUuid, runtime.arena, knownSeq)));
  const journals: DeviceJournal[] = [];
  for (const [i, entry] of online.entries()) {
    const state = states[i]!;
    if (state.status === 'fulfilled') {
      journals.push({ deviceId: entry.row.deviceId, device: entry.device!, state: state.value });
      continue;
    }
    await entry.device?.close().catch(() => undefined);
    entry.device = undefined;
    entry.state = 'missing';
    entry.reason = `its metadata region cannot be read: ${(state.reason as Error).message}`;
  }
  return journals;
}

/** The device that knows the newest change set (ties: the lowest device id). */
export function newest<T extends { state: DeviceJournalState }>(journals: readonly T[]): T | undefined {
  return journals.reduce<T | undefined>((best, journal) => (!best || journal.state.lastSeq > best.state.lastSeq ? journal : best), undefined);
}

async function rollForward(store: MetaStore, best: DeviceJournal, settings: Settings, runtime: Runtime): Promise<void> {
  const { state } = best;
  if (!state.checkpoint) return;
  // The records start right after the checkpoint: past the home's newest change set, only the
  // checkpoint's rows can bridge the gap.
  if (state.checkpoint.seq > store.seq) {
    const rows = await readCheckpointRows(best.device, metadataLayoutOf(settings), runtime.arena, state.checkpoint);
    if (!rows) throw new CorruptMetadataError(`device ${best.deviceId}'s metadata checkpoint no longer reads back intact`);
    if (rows.settings.find(([key]) => key === 'arrayUuid')?.[1] !== settings.arrayUuid) throw new CorruptMetadataError('the devices\' metadata names another array');
    store.loadSnapshot(rows);
  }
  store.applyChangeSets(state.records);
}

/**
 * The home and the devices share one history: at the newest change set both hold, the home's
 * digest of it matches the device's record. A home whose history forked from the devices' — an
 * older home used again after an import made another one that wrote on (both numbered their
 * next change sets alike), or a copy of such a home — was taken for theirs: rolled forward over
 * changes made on another base, or checkpointed over the devices' own, and its next change
 * (files are matched by row id) could delete an acknowledged file of the other line. Nothing is
 * written before this check.
 */
async function assertSameHistory(
  store: MetaStore,
  journals: readonly DeviceJournal[],
  reread: (journal: DeviceJournal, afterSeq: number) => Promise<DeviceJournalState>,
): Promise<void> {
  for (const journal of journals) {
    const { deviceId, state } = journal;
    const seq = Math.min(store.seq, state.lastSeq);
    const homeDigest = seq > 0 ? store.changeDigest(seq) : undefined;
    if (homeDigest === undefined) continue;
    // Only the record of the home's newest change set was decoded: a device behind the home
    // (after a crash, or a forked history) is read again for the record of its own newest.
    const records = seq < store.seq ? (await reread(journal, seq - 1)).records : state.records;
    const recorded = records.find((set) => set.seq === seq);
    if (recorded === undefined || changeSetDigest(encodeChanges(recorded.changes)) === homeDigest) continue;
    throw new CorruptMetadataError(
      `the home ${store.home} and device ${deviceId} disagree about change ${seq}: the home's history forked from the devices' ` +
        `(an older home used again after the array was imported into another one, or a copy of such a home). ` +
        `Nothing was changed; move this home aside and import the array from its devices`,
    );
  }
}

function assertNotForeignHome(store: MetaStore, devices: ArrayDevices, settings: Settings): void {
  const all = devices.all();
  const foreign = all.filter((entry) => entry.foreignArrayUuid !== undefined);
  if (devices.online().length === 0 && foreign.length > 0) {
    throw new CorruptMetadataError(
      `the home ${store.home} describes array ${settings.arrayUuid}, but its devices belong to array ${foreign[0]!.foreignArrayUuid} ` +
        `(a home of another array?); import the devices into a new home instead`,
    );
  }
}
