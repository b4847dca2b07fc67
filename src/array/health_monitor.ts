// Health monitoring: a cheap periodic probe of every device, so a dead device is noticed within
// seconds even when no put or get touches it, and a device that went missing is tried again
// (with backoff) until it answers with its own superblock and rejoins.
//
// One tick every probeIntervalMs (the timer is unref'd: it never keeps a process alive):
//  - an online device (spares and draining ones too) gets its superblocks read (both copies,
//    2 x 4 KiB, each read retried as every superblock read is) within PROBE_TIMEOUT_MS:
//      * the Device reports it no longer answers, or the read times out -> lost (missing);
//      * the read fails while the Device still answers, or the superblock is gone or another
//        device's (an image truncated or overwritten)                  -> corrupt (failed);
//  - a missing device is reopened at its recorded path once its backoff has passed
//    (nbdReconnectDelayMs: doubling from the base, with jitter): a device whose superblock names
//    this array and this slot returns (the array rejoins it). When the recorded path does not
//    hold it, it is looked for by UUID with the scan open uses (context.locate: the recorded
//    paths and RuntimeOptions.scan / ELASTRIPE_SCAN; none with scan: false), so a loop device
//    re-attached as another /dev/loopN or a renumbered disk returns too, at its new path. The
//    scan runs only on these backed-off attempts (at most one per device per backoff step, the
//    steps growing to 30 s), never on every probe. Otherwise the attempt count grows;
//  - a failed device is left alone (a rebuild or an explicit online decides its fate);
//  - a device a policy rebuild took out of the array after a fault (context.rebuiltAway: it went
//    missing or failed an I/O, nobody failed it by request) is tried at its recorded path with
//    the same backoff: once it answers with its old superblock (this array, its UUID) it is added
//    back as a new member (context.reinstate), so a fault that outlasted the rebuild delay costs
//    a rebuild and an expand, never the device.
// Ticks never overlap: a slow probe delays the next tick instead of stacking up.
//
// Invariants (assertInvariants):
//  1. At most one tick runs at a time.
//  2. Backoff state exists only for devices that are away (missing, or rebuilt away), never for
//     online ones.
//  3. An online device answers at its recorded path: one that returned elsewhere (found by
//     UUID) had its new path recorded as it rejoined. It returns only at a path whose superblock
//     names this array and the device's UUID (openAsRecorded checks both after a scan found it; a
//     UUID the scan finds on two paths, a copy beside its origin, is never taken).
import type { Device } from '../devices/device.js';
import { isNbdUrl } from '../devices/open_device.js';
import { chooseSuperblock, readSuperblocks, SUPERBLOCK_BYTES } from '../devices/superblock.js';
import { nbdReconnectDelayMs, NBD_RECONNECT_BASE_MS } from '../devices/nbd_reconnect.js';
import type { DeviceRow } from '../meta/rows.js';
import type { ArrayDevice, ArrayDevices } from './array_devices.js';
import { openAsRecorded, type Runtime } from './array_setup.js';

/** A probe that takes longer than this counts as the device not answering. */
export const PROBE_TIMEOUT_MS = 5000;
/** The longest wait between two tries of a missing local device. */
const LOCAL_RETRY_MAX_MS = 30_000;

export interface HealthContext {
  devices: ArrayDevices;
  runtime: Runtime;
  arrayUuid: string;
  /** The device stopped answering: mark it missing. */
  lost: (entry: ArrayDevice, reason: string) => void;
  /** The device answers but its content is gone or another's: mark it failed. */
  corrupt: (entry: ArrayDevice, reason: string) => void;
  /** Whether a missing device may try to rejoin now (not while a requested rebuild is taking it). */
  mayRejoin: (entry: ArrayDevice) => boolean;
  /**
   * Where a missing device's UUID is now, when its recorded path does not hold it: the scan
   * open uses (undefined when not found, when found twice, or when scanning is off).
   */
  locate: (entry: ArrayDevice) => Promise<string | undefined>;
  /** Devices a policy rebuild took out of the array after a fault that may pass (rows as they were). */
  rebuiltAway: () => readonly DeviceRow[];
  /** A rebuilt-away device answers with its old superblock at its path: add it back (throws when that fails, e.g. its writes still fail). */
  reinstate: (row: DeviceRow) => Promise<void>;
  /** A missing device answered with its own superblock (at `path`, its recorded one or where the scan found it): rejoin it (the array takes the Device, or closes it if it may not rejoin after all). */
  returned: (entry: ArrayDevice, device: Device, path: string) => Promise<void>;
}

interface Backoff {
  attempt: number;
  nextTryMs: number;
}

export class HealthMonitor {
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> | undefined;
  private stopped = false;
  private readonly backoff = new Map<number, Backoff>();
  /** Probes run (for status and tests). */
  probes = 0;

  constructor(
    private readonly context: HealthContext,
    private readonly intervalMs: number,
  ) {}

  start(): void {
    if (!Number.isFinite(this.intervalMs) || this.timer || this.stopped) return;
    this.timer = setInterval(() => {
      if (!this.ticking) this.ticking = this.tick().finally(() => (this.ticking = undefined));
    }, this.intervalMs).unref();
  }

  /** Stops the timer and waits for a tick in flight. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.ticking;
  }

  /** One pass over every device (also callable directly, e.g. right after open). */
  async tick(): Promise<void> {
    for (const entry of this.context.devices.all()) {
      if (this.stopped) return;
      try {
        if (entry.state === 'online') await this.probe(entry);
        else if (entry.state === 'missing') await this.retry(entry);
      } catch {
        // A probe never fails the monitor: what it found was reported through the context.
      }
    }
    for (const row of this.context.rebuiltAway()) {
      if (this.stopped) return;
      await this.retryRebuiltAway(row).catch(() => undefined);
    }
  }

  /** Tries a rebuilt-away device at its recorded path (backed off as a missing one): back in as a new member once it answers as itself. */
  private async retryRebuiltAway(row: DeviceRow): Promise<void> {
    if (!this.due(row.deviceId)) return;
    const opened = await openAsRecorded(row.path, row, this.context.arrayUuid, this.context.runtime);
    await opened.device?.close().catch(() => undefined);
    if (opened.device && !this.stopped) {
      try {
        await this.context.reinstate(row);
        this.backoff.delete(row.deviceId);
        return;
      } catch {
        // Its superblock reads but adding it failed (a write still fails): try again later.
      }
    }
    this.backOff(row.deviceId, row.path);
  }

  /** Whether the device's next backed-off attempt is due (its first one is at once). */
  private due(deviceId: number): boolean {
    const now = Date.now();
    const backoff = this.backoff.get(deviceId) ?? { attempt: 0, nextTryMs: now };
    this.backoff.set(deviceId, backoff);
    return now >= backoff.nextTryMs;
  }

  /** An attempt failed: the next one waits longer (doubling from the base, with jitter). */
  private backOff(deviceId: number, path: string): void {
    const backoff = this.backoff.get(deviceId)!;
    const baseMs = isNbdUrl(path) ? NBD_RECONNECT_BASE_MS : this.intervalMs;
    backoff.nextTryMs = Date.now() + nbdReconnectDelayMs(backoff.attempt++, baseMs, LOCAL_RETRY_MAX_MS);
  }

  private async probe(entry: ArrayDevice): Promise<void> {
    this.backoff.delete(entry.row.deviceId);
    const device = entry.device;
    if (!device || !device.online) {
      this.context.lost(entry, 'the device stopped answering');
      return;
    }
    this.probes++;
    // The clock starts once the buffer is ours: waiting for arena room under a busy put is no
    // sign of a dead device. A read that times out keeps its buffer until it settles.
    const { arena } = this.context.runtime;
    const scratch = await arena.acquire(SUPERBLOCK_BYTES);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), PROBE_TIMEOUT_MS)));
    const read = readSuperblocks(device, scratch.bytes)
      .then((copies) => ({ superblock: chooseSuperblock(copies) })) // throws when neither copy could be read
      .catch((error: unknown) => ({ error: error as Error }))
      .finally(() => arena.free(scratch));
    const outcome = await Promise.race([read, timedOut]);
    clearTimeout(timer);
    if (entry.device !== device || entry.state !== 'online') return; // changed meanwhile (failed by an I/O, rejoined)
    if (outcome === 'timeout') {
      this.context.lost(entry, `the device did not answer a probe within ${PROBE_TIMEOUT_MS} ms`);
      // The read still holds its arena buffer until the device gives up on it.
      return;
    }
    if ('error' in outcome) {
      if (!device.online) this.context.lost(entry, `the device stopped answering: ${outcome.error.message}`);
      else this.context.corrupt(entry, `its superblock cannot be read: ${outcome.error.message}`);
      return;
    }
    const { superblock } = outcome;
    if (!superblock) this.context.corrupt(entry, 'its superblock is gone (the device was truncated or overwritten)');
    else if (superblock.arrayUuid !== this.context.arrayUuid || superblock.deviceUuid !== entry.row.uuid) {
      this.context.corrupt(entry, `its superblock now names device ${superblock.deviceUuid} of array ${superblock.arrayUuid}`);
    }
  }

  private async retry(entry: ArrayDevice): Promise<void> {
    const id = entry.row.deviceId;
    if (!this.due(id) || !this.context.mayRejoin(entry)) return;
    let path = entry.row.path;
    let opened = await openAsRecorded(path, entry.row, this.context.arrayUuid, this.context.runtime);
    if (!opened.device && entry.state === 'missing' && !this.stopped) {
      const found = await this.context.locate(entry).catch(() => undefined);
      if (found !== undefined && found !== path && entry.state === 'missing' && !this.stopped) {
        path = found;
        opened = await openAsRecorded(path, entry.row, this.context.arrayUuid, this.context.runtime);
      }
    }
    if (opened.device && entry.state === 'missing' && !this.stopped) {
      this.backoff.delete(id);
      await this.context.returned(entry, opened.device, path);
      return;
    }
    await opened.device?.close().catch(() => undefined);
    this.backOff(id, entry.row.path);
  }

  /** A device rejoined or left by other means (onlineDevice, removal): its backoff ends. */
  forget(deviceId: number): void {
    this.backoff.delete(deviceId);
  }

  assertInvariants(): void {
    for (const id of this.backoff.keys()) {
      const entry = this.context.devices.all().find((candidate) => candidate.row.deviceId === id);
      if (entry && this.context.devices.isOnline(entry)) throw new Error(`health monitor: backoff kept for device ${id}, which is online`);
    }
    for (const entry of this.context.devices.all()) {
      if (this.context.devices.isOnline(entry) && entry.device!.path !== entry.row.path) {
        throw new Error(`health monitor: device ${entry.row.deviceId} answers at ${entry.device!.path} but is recorded at ${entry.row.path}`);
      }
    }
  }
}
