// DiskArray: the public API of elastripe. It owns the metadata store (and with it the
// array's lock), the runtime (arena + worker pool), the open devices and the allocator; it runs
// put/get/delete over the write and read paths, and the jobs that change where data lives
// (addDevice, rebuild, removeDevice, rebalance, restripe) or check it (fsck, scrub).
//
// States: open → closing (close(): new calls refused, puts and jobs in flight finish) → closed.
//
// Invariants (assertInvariants, run after every mutation in tests):
//  1. Every group has dataCount data and parityCount parity extents, on distinct devices.
//  2. No two extents overlap, and every extent lies inside its device's data area.
//  3. The allocator's free space is exactly the data areas minus committed extents, minus the
//     extents reserved by writes in flight and those waiting for readers before being freed.
//  4. Every committed change set is durable on the devices' metadata journal before the call
//     that made it returns, and an extent it frees is reused only after that (the devices
//     hold the truth; the home's database is their local index).
import { existsSync, rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { Readable } from 'node:stream';
import { LB_BYTES } from '../constants.js';
import { isNbdUrl, openDevice } from '../devices/open_device.js';
import { AbortedError, DeviceFailedError, ElastripeError, InvalidArgumentError, NoSpaceError, NotFoundError, ReadOnlyError, TooManyErasuresError } from '../errors.js';
import { ReadOnlyDevice } from '../devices/read_only_device.js';
import { ExtentAllocator } from '../meta/extent_allocator.js';
import { DATABASE_FILE, MetaStore } from '../meta/meta_store.js';
import { join } from 'node:path';
import type { ImportOptions, ImportReport } from './import_array.js';
import type { DeviceAwayRow, DeviceRow, ExtentRow, GroupWithExtents, NewExtent, NewGroup } from '../meta/rows.js';
import type { ArrayDevice, ArrayDevices } from './array_devices.js';
import type { JobContext, JobOptions, JobReport } from './device_jobs.js';
import * as setup from './array_setup.js';
import { abortSourceOnSignal, describeValue, isFilePathSource, normalizeSource, toChunks, validateName, type PutSource } from './put_source.js';
import { ArenaBuffers } from './arena_buffers.js';
import { openFileSource } from './file_source.js';
import { readRangeInPlace } from './range_into.js';
import { pooledChunks } from './pooled_chunks.js';
import { PacedReads, type LentChunk } from './paced_reads.js';
import { checkCallOptions } from './call_options.js';
import { metadataLayoutOf, readSettings, validateCreateOptions, type Settings } from './settings.js';
import { deviceMinBytes } from './layout.js';
import { MetadataJournal } from './metadata_journal.js';
import { GroupCommit } from './group_commit.js';
import { ForegroundBackoff } from './foreground_backoff.js';
import { recoverMetadata } from './metadata_open.js';
import { readDeviceJournal } from './metadata_recovery.js';
import { checkMetadata, deepCheck } from './fsck.js';
import { openAllocator, saveFreeSpaceMap } from '../meta/free_space_map.js';
import { readRangeSlices } from './range_reader.js';
import type { ReadContext } from './read_path.js';
import { FlushCoalescer } from './flush_coalescer.js';
import type { RestripeReport } from './restripe_job.js';
import type { CombineContext } from './combine_groups.js';
import type { ExpandReport } from './expand_job.js';
import { dataCapacity } from './capacity_bound.js';
import { ReaderEpochs } from './reader_epochs.js';
import { removalProblem } from './remove_check.js';
import { DEGRADED_READS, readErrorsKey, REPAIRED_BLOCKS, UsageCounters } from './usage_counters.js';
import { makeHomeDirectory } from './home_directory.js';
import { ArrayEventBus, type ArrayEvent, type ArrayEventInput, type ArrayEventListener, type ArrayEventType, type JobTrigger } from './array_events.js';
import { POLICIES_OFF, resolvePolicies } from './heal_policy_options.js';
import { DeviceLifecycle, lifecycleState } from './device_lifecycle.js';
import { HealthMonitor } from './health_monitor.js';
import { HealPolicy } from './heal_policy.js';
import type { ResyncReport } from './resync_job.js';
import { PartnerCounts } from './partner_counts.js';
import type { Device } from '../devices/device.js';
import type {
  AddDeviceOptions, ArrayStatus, ScrubReport, CreateOptions, DeviceStatus, FileStat, FileSummary, FsckOptions, FsckReport, GetOptions, OpenOptions, Progress, PutOptions, RuntimeOptions,
  ArrayPolicies, LiveOptions,
} from './types.js';
import { writeFile, type WriteContext, type WriteInput, type WrittenFile } from './write_path.js';

/**
 * Groups in flight per put or get: parity of group n+1 overlaps the I/O of group n, and every
 * device sees several requests at once (8 groups of 1 MiB extents keep ~8 MiB queued per
 * device, near fio's QD16 plateau on these machines).
 */
export const GROUPS_IN_FLIGHT_MAX = 8;
/** Passes a remove makes over its device (blocks another job moved onto it meanwhile). */
const REMOVE_PASSES_MAX = 4;
/** Jobs listed in status(). */
const RECENT_JOBS_SHOWN = 5;
/** Times one path rebuilt away by the policy is added back in one process (a device that keeps failing then stays out). */
const REINSTATES_PER_PATH_MAX = 3;

/** A job's options, plus who started it (a heal policy passes 'policy'; events carry it). */
export type ArrayJobOptions = JobOptions & { trigger?: JobTrigger };

export class DiskArray {
  private closed = false;
  /** The close in progress or done: every close() call settles with it. */
  private closing: Promise<void> | undefined;
  private rotation = 0;
  /** Groups each pair of devices shares, of the groups this process placed (placement declusters with it). */
  private readonly partners = new PartnerCounts();
  private writesInFlight = 0;
  /** Puts, jobs and reads in flight (close waits for them). */
  private callsInFlight = 0;
  /** Opened read-only: every change is refused, reads never repair. */
  private readOnly = false;
  /** Devices a removeDevice call of this process is emptying right now. */
  private readonly removesRunning = new Set<number>();
  /** Streams still open: close() ends them with ARRAY_CLOSED (a paused one would never finish). */
  private readonly openStreams = new Set<Readable>();
  /** readChunks/lendChunks loops still open: close() ends them with ARRAY_CLOSED, as it does streams. */
  private readonly pacedReads = new PacedReads();
  /** Settles when the last put, job or read in flight has finished (close waits for it). */
  private idle: Promise<void> = Promise.resolve();
  private markIdle: () => void = () => undefined;
  /** Degraded reads, repairs and read errors per device, kept in the home (see usage_counters.ts). */
  private counters!: UsageCounters;
  private readonly epochs = new ReaderEpochs();
  private cachedReadContext: ReadContext | undefined;
  /** Puts and gets in flight, which background jobs back off for (foreground_backoff.ts). */
  private readonly foreground: ForegroundBackoff;
  /** Puts' commits waiting for the journal's next record, to share one transaction (group_commit.ts). */
  private readonly commits: GroupCommit;
  /** Frees waiting for their change set to be durable on the devices. */
  private freesAwaitingJournal = 0;
  /** What open found: devices at new paths, a home rolled forward from the devices. */
  private openReport: ArrayStatus['opened'] = { movedDevices: [] };

  /** Where to look for a device that is not at its recorded path (see RuntimeOptions.scan). */
  private scan: string[] | false | undefined;
  /** Events of this array (array_events.ts): listeners, the onEvent option, the recent log. */
  private events = new ArrayEventBus();
  /** The heal policies this open runs with (LiveOptions.policies; all off unless asked). */
  private policies: ArrayPolicies = { ...POLICIES_OFF };
  /** lowSpace fires once per crossing under the threshold; re-armed once free space is back above it. */
  private lowSpaceArmed = true;
  /** Arena buffers lent to the embedder (allocBuffer); created on first use. */
  private lentBuffers: ArenaBuffers | undefined;
  /**
   * Puts in flight (each settles when the put returns or throws) by the number they started
   * with, and the number of the newest put started when each missing device left: a returning
   * device waits for the puts that may have written to its old handle (rejoin).
   */
  private readonly putsInFlight = new Map<Promise<void>, number>();
  private putsStarted = 0;
  private readonly putsStartedAtLoss = new Map<number, number>();
  /**
   * Devices that failed an I/O or a probe in this process (not failDevice, not found failed at
   * open, whose cause is not known): with the missing ones, a policy rebuild that takes them out
   * lets them come back (rebuiltAway).
   */
  private readonly failedByFault = new Set<number>();
  /**
   * Devices a policy rebuild took out after a fault that may pass (missing, or failed by an
   * I/O error), by their old id: the health monitor adds each back as a new member once it
   * answers as itself again (reinstate). In memory only: after a restart it is a stale member
   * (`add --force`). At most REINSTATES_PER_PATH_MAX times per path in one process, so a device
   * that keeps failing stops costing rebuilds.
   */
  private readonly rebuiltAway = new Map<number, DeviceRow>();
  private readonly reinstatesByPath = new Map<string, number>();
  /** Device states and the bookkeeping of devices that are away (device_lifecycle.ts). */
  private lifecycle!: DeviceLifecycle;
  /** Probes devices and brings missing ones back (health_monitor.ts); only with probeIntervalMs. */
  private monitor: HealthMonitor | undefined;
  /** Automatic rebuild, expansion and scrub (heal_policy.ts); undefined for a read-only open. */
  private policy: HealPolicy | undefined;
  /** The rebuild running now, and who started it: a second rebuild call joins it. */
  private rebuildInFlight: { done: Promise<JobReport & { removedDeviceIds: number[] }>; trigger: JobTrigger } | undefined;

  private constructor(
    readonly home: string,
    private readonly store: MetaStore,
    private readonly runtime: setup.Runtime,
    private readonly devices: ArrayDevices,
    private readonly allocator: ExtentAllocator,
    private readonly settings: Settings,
    private readonly journal: MetadataJournal,
    private readonly flusher: FlushCoalescer,
  ) {
    this.foreground = new ForegroundBackoff(runtime.clock);
    this.commits = new GroupCommit(store);
    this.commits.attach(journal);
    journal.setCommitSource(this.commits);
  }

  static async create(options: CreateOptions): Promise<DiskArray> {
    const createSettings = validateCreateOptions(options);
    setup.checkRuntimeOptions(options);
    // Image files this call creates are removed again if the create fails.
    const createdImages = options.createSizeBytes === undefined ? [] : options.devices.filter((path) => !isNbdUrl(path) && !existsSync(path));
    if (typeof options.home === 'string') makeHomeDirectory(options.home);
    let runtime: setup.Runtime | undefined;
    let store: MetaStore | undefined;
    try {
      runtime = await setup.startRuntime(options);
      store = await (await import('./array_create.js')).buildNewHome(options, createSettings, runtime);
      // The new array opens on the same runtime: no second arena registration or pool start.
      // Its devices hold no metadata yet, so open writes the first checkpoint to all of them.
      return await DiskArray.openWith(store, runtime, { onEvent: options.onEvent, policies: options.policies });
    } catch (error) {
      if (store) {
        store.close();
        MetaStore.destroy(options.home);
      }
      for (const path of createdImages) rmSync(path, { force: true });
      if (runtime) await setup.stopRuntime(runtime);
      throw error;
    }
  }

  /**
   * Rebuilds an array's home from its devices alone (`devices`, or a `scan` of patterns) and
   * opens it: the newest metadata any device holds wins; at most m devices may be missing.
   * status().opened.imported reports which devices were present, missing or stale.
   */
  static async import(options: ImportOptions & RuntimeOptions & LiveOptions): Promise<DiskArray> {
    if (typeof options.home !== 'string' || options.home === '') throw new InvalidArgumentError('import needs a home directory');
    setup.checkRuntimeOptions(options);
    if (existsSync(join(options.home, DATABASE_FILE))) {
      throw new InvalidArgumentError(`${options.home} already holds an array; import into a new home (or open that one)`);
    }
    makeHomeDirectory(options.home);
    const runtime = await setup.startRuntime(options);
    let store: MetaStore | undefined;
    try {
      let report: ImportReport;
      ({ report, store } = await (await import('./import_array.js')).importIntoHome(options, runtime));
      const array = await DiskArray.openWith(store, runtime, options);
      array.openReport = { ...array.openReport, imported: report };
      return array;
    } catch (error) {
      if (store) {
        store.close();
        MetaStore.destroy(options.home);
      }
      await setup.stopRuntime(runtime);
      throw error;
    }
  }

  /**
   * Opens an array. With `readOnly`, no lock is taken and nothing is ever written: the home's
   * metadata is read into memory (so the owner may start meanwhile; the view is then as of the
   * open), devices open read-only and unclaimed, reads never repair, and every change is
   * refused with READ_ONLY. A read-only open while the owner has the array open gets
   * ARRAY_LOCKED (the owner's lock keeps every reader of the database out).
   */
  static async open(home: string, options: OpenOptions = {}): Promise<DiskArray> {
    setup.checkRuntimeOptions(options);
    const store = options.readOnly ? MetaStore.openReadOnly(home) : MetaStore.open(home, { create: false });
    let runtime: setup.Runtime | undefined;
    try {
      readSettings(store); // corrupt settings fail before workers start
      runtime = await setup.startRuntime(options.readOnly ? readOnlyRuntime(options) : options);
      return await DiskArray.openWith(store, runtime, options);
    } catch (error) {
      store.close();
      if (runtime) await setup.stopRuntime(runtime);
      throw error;
    }
  }

  /**
   * Opens every recorded device on `runtime`, brings the home and the devices' metadata to the
   * same, newest state (rolling the home forward, or checkpointing it onto devices that lag),
   * and derives the allocator; the caller cleans up on failure.
   */
  private static async openWith(store: MetaStore, runtime: setup.Runtime, options: Pick<OpenOptions, 'scan' | 'readOnly'> & LiveOptions = {}): Promise<DiskArray> {
    // Bad policies fail before anything is opened; a read-only open never heals (it writes nothing).
    const policies = store.readOnly ? { ...POLICIES_OFF } : resolvePolicies(options.policies);
    const recovered = await recoverMetadata(store, runtime, options);
    const { devices, settings } = recovered;
    let array: DiskArray | undefined;
    // A failed flush loses what it covered: the device is failed, whichever caller saw it. The
    // devices whose flushes fail in one turn of the event loop are judged together, as a put
    // judges its own: more than m at once is more likely the host than the devices, so none is
    // marked and the operations that saw it fail (recordFailure caps a lone device at m too).
    const flushFailures = new Map<number, string>();
    const flusher = new FlushCoalescer((device, error) => {
      const entry = devices.all().find((candidate) => candidate.device === device);
      if (!entry) return;
      if (flushFailures.size === 0) {
        setImmediate(() => {
          const failures = [...flushFailures];
          flushFailures.clear();
          if (failures.length > settings.parityCount) return;
          for (const [deviceId, message] of failures) array?.recordFailure(deviceId, `a flush failed: ${message}`);
        });
      }
      flushFailures.set(entry.row.deviceId, error.message);
    });
    const journal = new MetadataJournal(
      {
        arrayUuid: settings.arrayUuid,
        layout: metadataLayoutOf(settings),
        arena: runtime.arena,
        devices,
        store,
        flusher,
        onDeviceError: (deviceId, error) => array?.recordFailure(deviceId, `a metadata write failed: ${error.message}`),
      },
      recovered.position,
      store.seq,
    );
    if (!store.readOnly) store.onCommit = (set) => journal.submit(set);
    try {
      // Read-only: the devices are left as they are (the view in memory is up to date anyway).
      if (recovered.checkpointNeeded && !store.readOnly) await journal.checkpoint();
    } catch (error) {
      store.onCommit = undefined;
      await journal.close();
      await devices.closeAll();
      throw error;
    }
    store.markInterruptedJobs(Date.now());
    array = new DiskArray(store.home, store, runtime, devices, openAllocator(store).allocator, settings, journal, flusher);
    array.scan = options.scan;
    array.readOnly = store.readOnly;
    array.events = new ArrayEventBus(options.onEvent);
    array.policies = policies;
    // Away records are kept in the home and journaled (schema 6); a read-only open keeps them in memory only.
    const persistence = store.readOnly
      ? undefined
      : {
          rows: () => store.deviceAwayRows(),
          save: (row: DeviceAwayRow) => array!.closed || store.setDeviceAway(row),
          clear: (deviceId: number) => array!.closed || store.clearDeviceAway(deviceId),
        };
    array.lifecycle = new DeviceLifecycle(devices, () => ({ groupId: store.lastGroupId(), seq: journal.durableSeq }), persistence);
    // What open found is news to the owner too (the onEvent option is its listener by now).
    for (const entry of devices.all()) {
      if (entry.state === 'missing') array.emit({ type: 'deviceMissing', deviceId: entry.row.deviceId, path: entry.row.path, reason: entry.reason ?? 'not found at open' });
      if (entry.state === 'failed') array.emit({ type: 'deviceFailed', deviceId: entry.row.deviceId, path: entry.row.path, reason: entry.reason ?? 'marked failed' });
    }
    if (!store.readOnly) array.startPolicies();
    // Devices that came back while no process ran (or whose resync was cut short), and older
    // copies of a device put in its place meanwhile: their resync runs now, in the background
    // (close() waits for it; the record stays until it finishes).
    if (!store.readOnly) {
      const staleCopies = array.lifecycle.staleCopiesAtOpen(recovered.journalEnds, store.durableSeqAtClose());
      for (const record of array.lifecycle.pendingResyncs()) {
        const entry = array.knownDevice(record.deviceId);
        const staleCopy = staleCopies.includes(record.deviceId);
        array.resyncReturned(record.deviceId, record.watermarkGroupId, entry.row.path, entry.row.path, 'policy', staleCopy).catch(() => undefined);
      }
    }
    array.counters = new UsageCounters(store.readOnly ? { counters: () => store.counters(), addCounters: () => undefined } : store);
    array.openReport = { movedDevices: recovered.moved, ...(recovered.rolledForward ? { rolledForward: recovered.rolledForward } : {}) };
    return array;
  }

  /**
   * Adds a device while the array stays online: checks it (size, not another array's unless
   * forced, not a device the array already has), writes its superblock, records it, and makes
   * it eligible for new groups at once (new groups get wider where k was capped by the device
   * count). Then, unless `expand: false`, the expand job runs (see expand()): narrow groups
   * are combined in place and blocks rebalanced onto the new device; its report is `expand`.
   * An expand that is aborted or fails leaves the device added (run expand() to continue).
   */
  async addDevice(path: string, options: AddDeviceOptions = {}): Promise<DeviceStatus & { expand?: ExpandReport }> {
    this.assertOpen();
    this.assertWritable();
    this.assertRedundant();
    setup.assertDistinctPaths([...this.devices.all().map((entry) => entry.row.path), path]);
    const createsImage = options.createSizeBytes !== undefined && !isNbdUrl(path) && !existsSync(path);
    let entry: setup.NewDevice | undefined;
    let deviceId = 0;
    try {
      const layout = metadataLayoutOf(this.settings);
      [entry] = await setup.prepareNewDevices([path], this.runtime, { ...options, arrayUuid: this.settings.arrayUuid, minBytes: deviceMinBytes(layout), members: this.store.devices() });
      deviceId = Math.max(0, ...this.store.devices().map((row) => row.deviceId)) + 1;
      const row = { ...setup.deviceRowFor(entry!, deviceId, layout), ...(options.spare ? { state: 'spare' as const } : {}) };
      await setup.writeDeviceSuperblock(this.runtime, entry!.device, setup.superblockFor(this.settings, row));
      this.store.addDevice(row);
      this.allocator.addDevice(row.deviceId, row.dataStartLb, row.dataEndLb);
      this.devices.add({ row, device: entry!.device, state: 'online', ioErrors: 0, ...(options.spare ? { spare: true } : {}) });
      // The new device has none of the journal's history: a checkpoint gives it (and every
      // device) the whole state, so any device can describe the array from here on.
      await this.journal.checkpoint();
    } catch (error) {
      await entry?.device.close().catch(() => undefined);
      if (createsImage) rmSync(path, { force: true });
      throw error;
    }
    // A spare takes no groups: nothing to expand onto. With the autoExpand policy (and no
    // explicit `expand`), the expand runs as a background policy job and add returns at once.
    if (options.spare || options.expand === false) return this.statusReport().devices.find((device) => device.deviceId === deviceId)!;
    if (options.expand === undefined && this.policies.autoExpand && this.policy) {
      this.policy.deviceAdded();
      return this.statusReport().devices.find((device) => device.deviceId === deviceId)!;
    }
    const expand = await this.expand({ onProgress: options.onProgress, signal: options.signal, rateBytesPerSec: options.rateBytesPerSec });
    const added = this.statusReport().devices.find((device) => device.deviceId === deviceId)!;
    return expand ? { ...added, expand } : added;
  }

  /**
   * The expand job (expand_job.ts): combines narrow groups in place into groups of today's
   * width (only blocks the distinct-devices rule forces move, new parity is written, old parity
   * freed), then rebalances until capacity-weighted usage is within 2% — or, where the device
   * mix makes that impossible, leaves every group as wide as the devices allow. Online,
   * throttled (`rateBytesPerSec`), cancellable (`signal`), resumable after a crash or an abort
   * (run it again). `addDevice` runs it by default.
   */
  async expand(options: JobOptions = {}): Promise<ExpandReport> {
    this.assertOpen();
    this.assertWritable();
    this.assertRedundant();
    const [{ expand: expandJob }, { rebalance: rebalanceJob }] = await Promise.all([import('./expand_job.js'), import('./device_jobs.js')]);
    return this.runJob('expand', options, (tracked) =>
      expandJob(
        {
          ...this.combineContext(),
          targetDataCount: () => this.writeContext().maxDataWidth,
          rebalance: (rebalanceOptions) => rebalanceJob(this.jobContext(), rebalanceOptions),
        },
        tracked,
      ),
    );
  }

  /**
   * Brings a failed or missing device back (as `zpool online`/`clear`): it must still carry
   * this array's and this device's UUIDs, at its recorded path or (found by UUID) elsewhere.
   * Safe without a rebuild: while it was away no write went to it and copy-on-write never
   * rewrote a committed block, so every block the metadata still places on it is the one
   * written there; blocks rebuilt or moved meanwhile are no longer referenced on it. Checksums
   * still guard every read (a scrub verifies it all). A checkpoint then brings its metadata
   * region up to date.
   */
  async onlineDevice(ref: number | string): Promise<DeviceStatus> {
    this.assertOpen();
    this.assertWritable();
    const { entry, carriedAt } = await this.deviceToBringOnline(ref);
    if (!this.devices.isOnline(entry)) {
      const { row } = entry;
      let path = carriedAt ?? row.path;
      let opened = await setup.openAsRecorded(path, row, this.settings.arrayUuid, this.runtime);
      if (!opened.device) {
        const found = await this.locateMoved(row);
        if (found !== undefined) {
          opened = await setup.openAsRecorded(found, row, this.settings.arrayUuid, this.runtime);
          path = found;
        }
      }
      if (!opened.device) throw new DeviceFailedError(row.path, `it cannot be brought back: ${opened.reason}`);
      await this.rejoin(entry, opened.device, path, 'request');
    }
    return this.statusReport().devices.find((device) => device.deviceId === entry.row.deviceId)!;
  }

  /**
   * The device `onlineDevice(ref)` means: one known by id, recorded path or UUID, or else the
   * member away whose superblock the path `ref` carries (`carriedAt`): a loop device attached
   * again as another /dev/loopN, an NBD export on another port, a moved image file. Naming the
   * new path is how one says where it came back; the default scan patterns may not reach it.
   */
  private async deviceToBringOnline(ref: number | string): Promise<{ entry: ArrayDevice; carriedAt?: string }> {
    try {
      return { entry: this.deviceByRef(ref) };
    } catch (error) {
      if (typeof ref === 'number' || !(error instanceof NotFoundError)) throw error;
      const path = isNbdUrl(ref) ? ref : resolve(ref);
      const away = this.devices.all().filter((candidate) => !this.devices.isOnline(candidate));
      const found = await setup.locateByUuid(away.map((candidate) => candidate.row), [], this.settings.arrayUuid, [path]);
      const entry = away.find((candidate) => found.get(candidate.row.uuid) === path);
      if (!entry) throw new NotFoundError(`the array has no device ${ref} (no member away carries its superblock there)`);
      return { entry, carriedAt: path };
    }
  }

  /**
   * Where a device not at its recorded path carries its UUID now: the scan open uses (the
   * recorded paths, then `scan` / ELASTRIPE_SCAN / the defaults), undefined when scanning is
   * off (`scan: false`), when nothing carries it, or when two paths do (a copy beside its
   * origin is never resolved silently). The caller opens the path with openAsRecorded, which
   * checks the array's and the device's UUIDs again.
   */
  private async locateMoved(row: DeviceRow): Promise<string | undefined> {
    if (this.scan === false) return undefined;
    return (await setup.locateByUuid([row], this.store.devices(), this.settings.arrayUuid, this.scan)).get(row.uuid);
  }

  /**
   * A device that was away answers again with its own superblock (onlineDevice, or the health
   * monitor): it takes its place again, its metadata region gets a checkpoint, and the groups
   * committed while it was away that have a block on it are checked and repaired (the resync
   * job; device_lifecycle.ts says why nothing else needs attention).
   */
  private async rejoin(entry: ArrayDevice, device: Device, path: string, trigger: JobTrigger): Promise<ResyncReport | undefined> {
    // A put in flight may have written blocks to this device's old handle that never became
    // durable. It first commits them (groups committed while the device was away, which the
    // resync below then checks) or fails: a resync list taken before its commit would miss
    // them, and its late report of the old handle's failure would fail the returned device.
    const lastPutBeforeLoss = this.putsStartedAtLoss.get(entry.row.deviceId) ?? 0;
    const owed = [...this.putsInFlight].filter(([, started]) => started <= lastPutBeforeLoss).map(([settled]) => settled);
    if (owed.length > 0) {
      await Promise.all(owed);
      if (this.closed || this.devices.isOnline(entry) || !this.devices.all().includes(entry)) {
        await device.close().catch(() => undefined);
        return undefined;
      }
    }
    const { row } = entry;
    await entry.device?.close().catch(() => undefined);
    entry.device = device;
    entry.state = 'online';
    entry.reason = undefined;
    // A device that was being removed when it dropped out stays draining; a spare stays a spare.
    const recorded = this.store.devices().find((candidate) => candidate.deviceId === row.deviceId)!.state;
    entry.draining = recorded === 'draining';
    entry.spare = recorded === 'spare';
    const previousPath = row.path;
    if (path !== row.path) {
      this.store.setDevicePath(row.deviceId, path);
      entry.row = { ...row, path };
    }
    if (recorded === 'failed') this.store.setDeviceState(row.deviceId, 'online');
    const away = this.lifecycle.returned(row.deviceId);
    this.failedByFault.delete(row.deviceId);
    this.monitor?.forget(row.deviceId);
    // Read before the checkpoint below overwrites its metadata region.
    const staleCopy = away !== undefined && (await this.journalBehind(device, away.sinceSeq));
    // A failed device's blocks are not trusted (a write to it failed, or puts went on without
    // it, committing groups whose block on it was never written): every one is checked.
    const checkEverything = staleCopy || recorded === 'failed';
    if (checkEverything) this.lifecycle.resyncEverything(row.deviceId);
    await this.journal.checkpoint();
    return this.resyncReturned(row.deviceId, checkEverything ? 0 : away?.watermarkGroupId, path, previousPath, trigger, staleCopy);
  }

  /**
   * Whether a returning device's metadata journal ends before the change sets that were durable
   * on the devices when it left: it is an older copy of itself (an image restored, a snapshot
   * attached in its place) that missed writes made before it left too, so the groups above its
   * watermark are not the only ones that may be wrong on it. Unreadable counts as behind.
   */
  private async journalBehind(device: Device, durableSeqAtLeave: number): Promise<boolean> {
    try {
      const state = await readDeviceJournal(device, metadataLayoutOf(this.settings), this.settings.arrayUuid, this.runtime.arena, durableSeqAtLeave);
      return state.lastSeq < durableSeqAtLeave;
    } catch {
      return true;
    }
  }

  /**
   * Announces a returned device and checks the groups committed after its watermark that have a
   * block on it (the resync job). Its persisted away record ends once nothing is left to repair;
   * until then a restart resyncs it again at open.
   */
  private async resyncReturned(deviceId: number, watermarkGroupId: number | undefined, path: string, previousPath: string, trigger: JobTrigger, staleCopy = false): Promise<ResyncReport | undefined> {
    const toCheck = watermarkGroupId === undefined ? [] : this.store.groupIdsOnDeviceAfter(deviceId, watermarkGroupId);
    this.emit({ type: 'deviceReturned', deviceId, path, ...(path !== previousPath ? { previousPath } : {}), groupsToCheck: toCheck.length, ...(staleCopy ? { staleCopy } : {}) });
    this.policy?.deviceReturned();
    if (toCheck.length === 0) {
      this.lifecycle.resynced(deviceId);
      return undefined;
    }
    const context = { store: this.store, readContext: this.readContext(), runtime: this.runtime, enterReader: (groupIds: readonly number[]) => this.epochs.enter(groupIds) };
    // Counted as a write from here, so a close() right after (an open that resumes a resync)
    // waits for the job instead of racing its start.
    this.beginWrite();
    try {
      const { resync: resyncJob } = await import('./resync_job.js');
      const report = await this.runJob(`resync ${deviceId}`, { trigger }, (tracked) => resyncJob(context, deviceId, toCheck, tracked), (result) => result.unrepairedProblems > 0);
      if (report.unrepairedProblems === 0) this.lifecycle.resynced(deviceId);
      return report;
    } finally {
      this.endWrite();
    }
  }

  /**
   * Marks a device failed (it stays failed across reopen): reads of its blocks reconstruct
   * from parity and no new block goes to it. `rebuild` then moves its blocks to survivors.
   */
  async failDevice(deviceId: number, reason = 'failed by request'): Promise<void> {
    this.assertOpen();
    this.assertWritable();
    const entry = this.knownDevice(deviceId);
    // A device still 'online' whose handle already stopped answering (not yet marked missing)
    // is counted unavailable already: failing it takes nothing more away.
    const unavailableAfter = this.devices.unavailableCount() + (this.devices.isOnline(entry) ? 1 : 0);
    if (entry.state === 'online' && unavailableAfter > this.settings.parityCount) {
      throw new TooManyErasuresError(
        `failing device ${deviceId} would leave ${unavailableAfter} devices unavailable; parity ${this.settings.parityCount} tolerates ${this.settings.parityCount}`,
      );
    }
    const wasOnline = entry.state === 'online';
    this.failedByFault.delete(deviceId); // the operator's choice now
    if (this.lifecycle.markFailed(entry, wasOnline ? reason : (entry.reason ?? reason))) {
      this.emit({ type: 'deviceFailed', deviceId, path: entry.row.path, reason: entry.reason! });
      this.policy?.redundancyLost();
    }
    this.store.setDeviceState(deviceId, 'failed');
    await entry.device?.close().catch(() => undefined);
    entry.device = undefined;
    await this.journal.durable();
  }

  /**
   * Rebuilds every block of failed and missing devices onto the surviving devices (each block
   * to the least-used device not yet in its group, so the writes spread over all survivors),
   * then removes those devices from the array. Online; resumable (run it again after a crash or
   * an abort); groups that cannot be placed are reported in `problems`.
   */
  async rebuild(options: ArrayJobOptions = {}): Promise<JobReport & { removedDeviceIds: number[] }> {
    this.assertOpen();
    this.assertWritable();
    // A rebuild already running (a heal policy's, or another caller's) is joined: its report
    // answers this call too when it left nothing away; otherwise this call rebuilds what is left.
    const running = this.rebuildInFlight;
    if (running) {
      const joined = await running.done.catch(() => undefined);
      this.assertOpen();
      if (joined && this.lifecycle.unavailable().length === 0) return joined;
    }
    const done = this.runRebuild(options);
    const inFlight = { done, trigger: options.trigger ?? 'request' };
    this.rebuildInFlight = inFlight;
    try {
      return await done;
    } finally {
      if (this.rebuildInFlight === inFlight) this.rebuildInFlight = undefined;
    }
  }

  private async runRebuild(options: ArrayJobOptions): Promise<JobReport & { removedDeviceIds: number[] }> {
    const lostRows = new Map(this.lifecycle.unavailable().map((entry) => [entry.row.deviceId, entry.row]));
    const lost = [...lostRows.keys()];
    const lostToFault = new Set(this.lifecycle.unavailable().filter((entry) => entry.state === 'missing' || this.failedByFault.has(entry.row.deviceId)).map((entry) => entry.row.deviceId));
    for (const deviceId of lost) this.devices.markFailed(deviceId, 'being rebuilt');
    // Spares are targets too, and being the emptiest they take the rebuilt blocks first.
    const { moveBlocksOff } = await import('./device_jobs.js');
    const report = await this.runJob('rebuild', options, (tracked) => moveBlocksOff(this.jobContext(() => this.devices.rebuildTargets()), lost, tracked));
    this.promoteUsedSpares();
    const removedDeviceIds = await this.removeEmptied(lost);
    if (options.trigger === 'policy') this.noteRebuiltAway(removedDeviceIds.filter((deviceId) => lostToFault.has(deviceId)).map((deviceId) => lostRows.get(deviceId)!));
    return { ...report, removedDeviceIds };
  }

  /** A policy rebuild took these devices, lost to a fault, out: they may come back (rebuiltAway). */
  private noteRebuiltAway(rows: readonly DeviceRow[]): void {
    for (const row of rows) {
      this.failedByFault.delete(row.deviceId);
      if ((this.reinstatesByPath.get(row.path) ?? 0) >= REINSTATES_PER_PATH_MAX) continue;
      this.rebuiltAway.set(row.deviceId, row);
    }
  }

  /**
   * A device a policy rebuild took out answers as itself again (the health monitor checked its
   * superblock at its recorded path): it is added back as a new member — it holds no block of
   * the array any more — and, with autoExpand, the expand spreads data onto it. Throws when the
   * add fails (a write still fails): the monitor tries again later.
   */
  private async reinstate(row: DeviceRow): Promise<void> {
    if (this.closed || !this.rebuiltAway.has(row.deviceId)) return;
    const added = await this.addDevice(row.path, { force: true, ...(this.policies.autoExpand ? {} : { expand: false }) });
    this.rebuiltAway.delete(row.deviceId);
    this.reinstatesByPath.set(row.path, (this.reinstatesByPath.get(row.path) ?? 0) + 1);
    this.emit({ type: 'deviceReturned', deviceId: added.deviceId, path: row.path, previousDeviceId: row.deviceId, groupsToCheck: 0 });
  }

  /** A spare a rebuild wrote to has replaced a lost device: it becomes an ordinary online device. */
  private promoteUsedSpares(): void {
    for (const entry of this.devices.all()) {
      if (!entry.spare || !this.devices.isOnline(entry) || this.store.extentsOnDevice(entry.row.deviceId).length === 0) continue;
      entry.spare = false;
      this.store.setDeviceState(entry.row.deviceId, 'online');
    }
  }

  /**
   * Removes a healthy device (shrinks the array): its blocks are copied to the other devices
   * first, then it is forgotten and its superblock stays as it was. Refused up front with
   * NO_SPACE, nothing moved, when the others cannot hold its blocks (remove_check.ts).
   *
   * From the start until the remove finishes, the device is 'draining' — readable, but no new
   * block goes to it — and that state is journaled, so it holds across a crash, an abort or a
   * remove that could not finish: run removeDevice again to finish, or cancelRemove to keep it.
   */
  async removeDevice(deviceId: number, options: JobOptions = {}): Promise<JobReport> {
    this.assertOpen();
    this.assertWritable();
    this.assertRedundant();
    const entry = this.knownDevice(deviceId);
    const problem = removalProblem(this.store, this.jobContext().candidates(), deviceId, this.settings.parityCount);
    if (problem) throw new NoSpaceError(problem);
    entry.draining = true;
    if (this.devices.isOnline(entry)) {
      this.store.setDeviceState(deviceId, 'draining');
      await this.journal.durable();
    }
    this.removesRunning.add(deviceId);
    try {
      const { moveBlocksOff } = await import('./device_jobs.js');
      const report = await this.runJob(`remove ${deviceId}`, options, async (tracked) => {
        const done = await moveBlocksOff(this.jobContext(), [deviceId], tracked, { narrowWhenFull: false });
        // A job running beside this one (a rebuild that chose the device as a target before it
        // was draining) may have committed blocks onto it after the list was made: go again.
        for (let pass = 1; pass < REMOVE_PASSES_MAX && done.problems.length === 0 && this.store.groupIdsOnDevices([deviceId]).length > 0; pass++) {
          const again = await moveBlocksOff(this.jobContext(), [deviceId], tracked, { narrowWhenFull: false });
          done.movedBlocks += again.movedBlocks;
          done.movedBytes += again.movedBytes;
          done.problems.push(...again.problems);
        }
        if (done.problems.length === 0 && this.store.groupIdsOnDevices([deviceId]).length > 0) {
          done.problems.push(`blocks kept arriving on device ${deviceId} from a job running beside the remove`);
        }
        return done;
      });
      if (report.problems.length > 0) {
        throw new NoSpaceError(
          `device ${deviceId} cannot be emptied: ${report.problems[0]}${report.problems.length > 1 ? ` (and ${report.problems.length - 1} more)` : ''}; ` +
            `it stays draining: run remove again once there is room, or cancel the remove`,
        );
      }
      await this.removeEmptied([deviceId]);
      return report;
    } finally {
      this.removesRunning.delete(deviceId);
    }
  }

  /**
   * Cancels the remove of a device that is draining (a remove that was aborted, interrupted or
   * could not finish): it takes new blocks again. The blocks already moved off it stay where
   * they went. Refused while a remove of the device is running (abort that first).
   */
  async cancelRemove(deviceId: number): Promise<DeviceStatus> {
    this.assertOpen();
    this.assertWritable();
    const entry = this.knownDevice(deviceId);
    if (!entry.draining) throw new InvalidArgumentError(`device ${deviceId} is not being removed`);
    if (this.removesRunning.has(deviceId)) throw new InvalidArgumentError(`a remove of device ${deviceId} is running; abort it first`);
    entry.draining = false;
    if (this.devices.isOnline(entry)) {
      this.store.setDeviceState(deviceId, 'online');
      await this.journal.durable();
    }
    return this.statusReport().devices.find((device) => device.deviceId === deviceId)!;
  }

  /**
   * Rewrites files whose groups are narrower than today's device count allows (written before
   * the array grew) as groups of today's width: old data gets today's parity overhead. Online,
   * copy-on-write, resumable (run it again after a crash or an abort).
   */
  async restripe(options: JobOptions = {}): Promise<RestripeReport> {
    this.assertOpen();
    this.assertWritable();
    this.assertRedundant();
    const [{ restripe: restripeJob }, { combineGroups }] = await Promise.all([import('./restripe_job.js'), import('./combine_groups.js')]);
    return this.runJob('restripe', options, (tracked) =>
      restripeJob(
        {
          store: this.store,
          combine: (combineOptions) => combineGroups(this.combineContext(), this.writeContext().maxDataWidth, combineOptions),
          readContext: this.readContext(),
          writeContext: () => this.writeContext(),
          freeWhenUnread: (extents) => this.freeWhenUnread(extents),
          enterReader: (groupIds) => this.epochs.enter(groupIds),
        },
        tracked,
      ),
    );
  }

  /** Moves blocks from over-full to under-full devices until used fractions are within 2%. */
  async rebalance(options: JobOptions = {}): Promise<JobReport> {
    this.assertOpen();
    this.assertWritable();
    this.assertRedundant();
    const { rebalance: rebalanceJob } = await import('./device_jobs.js');
    return this.runJob('rebalance', options, (tracked) => rebalanceJob(this.jobContext(), tracked));
  }

  /**
   * Stores `source` under `name`, replacing any previous file atomically. A Buffer from
   * allocBuffer is encoded and written in place; `{ path }` reads a file or block device by
   * position straight into the arena (io_uring, O_DIRECT where aligned).
   */
  async put(name: string, input: PutSource, options: PutOptions = {}): Promise<FileStat> {
    this.assertOpen();
    options = checkCallOptions(options, 'put');
    this.assertWritable();
    this.assertRedundant();
    validateName(name);
    const normalized = normalizeSource(input, options.sizeBytes);
    const opened = isFilePathSource(normalized.source)
      ? await openFileSource(normalized.source.path, { direct: this.runtime.backend !== 'fs', signal: options.signal })
      : undefined;
    if (opened && this.closed) {
      // close() came while the source was being opened (a FIFO waits for its writer).
      await (opened.kind === 'reader' ? opened.reader.close() : opened.close());
      this.assertOpen();
    }
    const source = opened?.kind === 'stream' ? opened.stream : normalized.source;
    const sizeBytes = opened?.kind === 'reader' ? opened.reader.sizeBytes : normalized.sizeBytes;
    const stopWaiting = abortSourceOnSignal(source, options.signal);
    this.beginWrite();
    let written: WrittenFile;
    let createdMs: number;
    const endForeground = this.foreground.begin();
    let putSettled!: () => void;
    const inFlight = new Promise<void>((resolve) => (putSettled = resolve));
    this.putsInFlight.set(inFlight, ++this.putsStarted);
    // An allocBuffer source is read (encoded in place) until the put settles: not freed meanwhile.
    const unpin = source instanceof Uint8Array ? this.arenaBuffers().pin(source) : () => undefined;
    try {
      let writeInput: WriteInput;
      if (opened?.kind === 'reader') writeInput = { kind: 'reader', reader: opened.reader };
      else if (opened?.kind === 'sequential') writeInput = { kind: 'sequential', reader: opened.reader };
      else if (source instanceof Uint8Array && this.arenaBuffers().isAlignedArenaView(source)) writeInput = { kind: 'arena', bytes: source };
      else writeInput = { kind: 'chunks', chunks: toChunks(source as Exclude<typeof source, { path: string }>, { sizeBytes, signal: options.signal }) };
      written = await writeFile(this.writeContext(), writeInput, { ...options, sizeBytes });
      let replaced: ExtentRow[];
      createdMs = Date.now();
      try {
        replaced = await this.commits.run(() => this.store.commitFile(name, written.sizeBytes, written.groups, createdMs));
      } catch (error) {
        written.releaseExtents();
        throw error;
      }
      this.freeWhenUnread(replaced);
      await this.journal.durable();
    } finally {
      unpin();
      this.putsInFlight.delete(inFlight);
      putSettled();
      endForeground();
      this.endWrite();
      stopWaiting();
      this.checkLowSpace(); // also after a put refused for want of room
      if (opened?.kind === 'reader') await opened.reader.close();
      else if (opened?.kind === 'stream' || opened?.kind === 'sequential') await opened.close();
    }
    // What this put committed (no second look-up: a small put's metadata work stays its commit).
    return fileStatOf(name, written.sizeBytes, createdMs, written.groups);
  }

  /**
   * A Buffer in the arena, for put and readInto without a copy (the kernels and io_uring work
   * on it in place). Give it back with freeBuffer; close() frees what is still held. It comes
   * out of the arena's capacity (OpenOptions.arenaBytes), shared with reads and writes in flight.
   */
  allocBuffer(lengthBytes: number): Buffer {
    this.assertOpen();
    return this.arenaBuffers().alloc(lengthBytes);
  }

  /**
   * Returns a Buffer from allocBuffer (or get's inArena result) to the arena. An empty Buffer
   * is taken and ignored: get({ inArena }) of an empty range returns one that holds no arena.
   * After close() it does nothing: close gave every lent Buffer back already, and a cleanup
   * path (a finally) racing a close must not throw.
   */
  freeBuffer(buffer: Uint8Array): void {
    if (this.closed) return;
    if (buffer instanceof Uint8Array && buffer.byteLength === 0) return;
    this.arenaBuffers().free(buffer);
  }

  private arenaBuffers(): ArenaBuffers {
    this.lentBuffers ??= new ArenaBuffers(this.runtime.arena);
    return this.lentBuffers;
  }

  /** Reads a whole file, or the byte range offset..offset+length, into a new Buffer. */
  async get(name: string, options: GetOptions = {}): Promise<Buffer> {
    this.assertOpen();
    options = checkCallOptions(options, 'get');
    const range = this.resolveRange(name, options);
    const leave = this.beginRead(range.groups);
    try {
      // inArena: a Buffer from the arena (already touched, read in place), freed with freeBuffer.
      const target = options.inArena && range.length > 0 ? this.arenaBuffers().alloc(range.length) : Buffer.allocUnsafe(range.length);
      try {
        await this.readRangeInto(range, target, options);
      } catch (error) {
        if (options.inArena && range.length > 0) this.arenaBuffers().free(target);
        throw error;
      }
      return target;
    } finally {
      leave();
    }
  }

  /**
   * Reads from `offset` into `target` (as many bytes as fit, up to the end of the file) and
   * returns how many were read. Any TypedArray or DataView is filled by the bytes it covers. For callers that reuse one buffer: a fresh multi-MiB Buffer
   * costs a page fault per 4 KiB on first touch, often more than the read itself.
   */
  async readInto(name: string, target: ArrayBufferView, options: Omit<GetOptions, 'length'> = {}): Promise<number> {
    this.assertOpen();
    options = checkCallOptions(options, 'readInto');
    const bytes = this.readTarget(target);
    const range = this.resolveRange(name, options, bytes.byteLength);
    const leave = this.beginRead(range.groups);
    const unpin = this.arenaBuffers().pin(bytes); // reads land in it until this call settles
    try {
      await this.readRangeInto(range, bytes, options);
      return range.length;
    } finally {
      unpin();
      leave();
    }
  }

  /**
   * readInto's target as bytes: any ArrayBufferView by the bytes it covers, as put takes them
   * (a Uint16Array was filled element by element, one byte per element). Arena memory only
   * inside a Buffer allocBuffer lent and not yet freed: the reads land there in place, and a
   * freed one may be a put's or a get's group buffer by now (their bytes would be overwritten).
   */
  private readTarget(target: unknown): Uint8Array {
    if (!ArrayBuffer.isView(target)) {
      throw new InvalidArgumentError(`readInto reads into a Buffer, TypedArray or DataView, not ${describeValue(target)}`);
    }
    const bytes = target instanceof Uint8Array ? target : new Uint8Array(target.buffer, target.byteOffset, target.byteLength);
    const arena = this.arenaBuffers();
    if (arena.isArenaView(bytes) && !arena.isLentView(bytes)) {
      throw new InvalidArgumentError('readInto into arena memory takes a Buffer from allocBuffer (or a part of one) that is not freed yet');
    }
    return bytes;
  }

  private async readRangeInto(range: ResolvedRange, target: Uint8Array, options: GetOptions): Promise<void> {
    const rangeOptions = { ...options, groupsInFlightMax: GROUPS_IN_FLIGHT_MAX, groupsStartBytes: range.groupsStartBytes };
    const inArena = this.arenaBuffers().isArenaView(target);
    // One group (every small file): read it and copy its slice, without the ordered
    // read-ahead of readRangeSlices (an async generator and its promises per read).
    if (inArena || range.groups.length === 1) {
      return readRangeInPlace(this.readContext(), range.groups, range.offset, range.length, target.subarray(0, range.length), rangeOptions, inArena);
    }
    const slices = readRangeSlices(this.readContext(), range.groups, range.offset, range.length, rangeOptions);
    for await (const slice of slices) target.set(slice.bytes, slice.outOffset);
  }

  /**
   * The file (or range) as arena views lent in file order, read with several groups in flight:
   * each `bytes` is valid only until the loop asks for the next chunk (it is released then, or
   * when the loop ends). Nothing is copied or allocated per chunk; copy what must be kept.
   * close() ends a loop still open: its next step fails with ARRAY_CLOSED.
   */
  readChunks(name: string, options: GetOptions = {}): AsyncGenerator<{ offset: number; bytes: Uint8Array }> {
    return this.pacedReads.track(this.lentChunks(name, options), false, ({ offset, bytes }) => ({ offset, bytes }));
  }

  /**
   * As readChunks, but each `bytes` stays valid until its `release()` (not only until the next
   * iteration), so a consumer may keep several at once — writes of them in flight while the
   * next groups are read. Release every chunk taken, also after an error or an early exit; the
   * consumer bounds how many it holds (they come out of the arena, beside the reads ahead).
   */
  lendChunks(name: string, options: GetOptions = {}): AsyncGenerator<{ offset: number; bytes: Uint8Array; release: () => void }> {
    return this.pacedReads.track(this.lentChunks(name, options), true, (chunk) => chunk);
  }

  private async *lentChunks(name: string, options: GetOptions): AsyncGenerator<LentChunk> {
    this.assertOpen();
    options = checkCallOptions(options, 'readChunks');
    const range = this.resolveRange(name, options);
    const leave = this.beginRead(range.groups);
    try {
      const slices = readRangeSlices(this.readContext(), range.groups, range.offset, range.length, { ...options, lend: true, groupsInFlightMax: GROUPS_IN_FLIGHT_MAX, groupsStartBytes: range.groupsStartBytes });
      for await (const slice of slices) yield { offset: slice.outOffset, bytes: slice.bytes, release: slice.release! };
    } finally {
      leave();
    }
  }

  /**
   * A stream of the file (or range), read group by group with several groups in flight. Each
   * chunk is a fresh Buffer by default; with `pooledChunks` the chunks come from a small ring
   * of reused, pre-touched Buffers (see pooled_chunks.ts for when a chunk may be reused).
   */
  createReadStream(name: string, options: GetOptions & { pooledChunks?: boolean } = {}): Readable {
    this.assertOpen();
    options = checkCallOptions(options, 'createReadStream');
    const range = this.resolveRange(name, options);
    const leave = this.beginRead(range.groups);
    const pool = options.pooledChunks ? pooledChunks() : undefined;
    // The copy out of the arena is the one copy a stream consumer needs; made as each group's
    // read completes (copyOut), so a paused stream's read-ahead holds no arena.
    const slices = readRangeSlices(this.readContext(), range.groups, range.offset, range.length, {
      ...options,
      groupsInFlightMax: GROUPS_IN_FLIGHT_MAX,
      groupsStartBytes: range.groupsStartBytes,
      copyOut: pool === undefined,
    });
    async function* chunks(): AsyncGenerator<Buffer> {
      try {
        for await (const slice of slices) yield pool ? pool.copy(slice.bytes) : (slice.bytes as Buffer);
      } finally {
        leave();
      }
    }
    // A stream destroyed before its first read never runs the generator's finally. A pooled
    // stream buffers at most one chunk ahead (highWaterMark 1 byte): see pooled_chunks.ts.
    const stream = Readable.from(chunks(), { objectMode: false, ...(pool ? { highWaterMark: 1 } : {}) });
    this.openStreams.add(stream);
    stream.once('close', () => {
      this.openStreams.delete(stream);
      leave();
    });
    return stream;
  }

  async delete(name: string): Promise<void> {
    this.assertOpen();
    this.assertWritable();
    this.assertRedundant();
    this.beginWrite();
    try {
      this.freeWhenUnread(this.store.deleteFile(name));
      await this.journal.durable();
    } finally {
      this.endWrite();
    }
  }

  /** Renames a file (atomically replacing a file of the new name only when `replace` is set). */
  async rename(from: string, to: string, options: { replace?: boolean } = {}): Promise<void> {
    this.assertOpen();
    this.assertWritable();
    this.assertRedundant();
    validateName(to);
    this.beginWrite();
    try {
      this.freeWhenUnread(this.store.renameFile(from, to, options));
      await this.journal.durable();
    } finally {
      this.endWrite();
    }
  }

  list(): FileSummary[] {
    this.assertOpen();
    return this.store.files().map(({ name, sizeBytes, groupCount, createdMs }) => ({ name, sizeBytes, groupCount, createdMs }));
  }

  stat(name: string): FileStat {
    this.assertOpen();
    return this.fileStat(name);
  }

  private fileStat(name: string): FileStat {
    const file = this.store.file(name);
    if (!file) throw new NotFoundError(`no file named ${JSON.stringify(name)}`);
    return fileStatOf(file.name, file.sizeBytes, file.createdMs, this.store.groupsOf(file.fileId));
  }

  status(): ArrayStatus {
    this.assertOpen();
    return this.statusReport();
  }

  /**
   * Listens to one type of event, or to every event with 'event' (see array_events.ts for the
   * events and what a listener may do). Listeners stay until off() or close().
   */
  on<T extends ArrayEventType | 'event'>(type: T, listener: ArrayEventListener<T>): this {
    this.events.on(type, listener);
    return this;
  }

  once<T extends ArrayEventType | 'event'>(type: T, listener: ArrayEventListener<T>): this {
    this.events.once(type, listener);
    return this;
  }

  off<T extends ArrayEventType | 'event'>(type: T, listener: ArrayEventListener<T>): this {
    this.events.off(type, listener);
    return this;
  }

  /**
   * Resolves once no heal-policy job is queued or running (a policy rebuild has finished,
   * devices it emptied are gone). Immediately when policies are off or nothing is due.
   */
  async policiesIdle(): Promise<void> {
    await this.policy?.settled();
  }

  /** The last ~100 events of this open (jobProgress left out), oldest first. */
  recentEvents(): ArrayEvent[] {
    return this.events.recentEvents();
  }

  private statusReport(): ArrayStatus {
    const files = this.store.files();
    const bound = this.capacityBound();
    const devices = this.devices.all().map((entry) => {
      const { row } = entry;
      const dataAreaLb = this.allocator.dataAreaLb(row.deviceId);
      const usedLb = dataAreaLb - this.allocator.freeLb(row.deviceId);
      return {
        deviceId: row.deviceId,
        path: row.path,
        uuid: row.uuid,
        backend: entry.device?.backend ?? ('none' as const),
        state: lifecycleState(entry, this.devices),
        ...(this.devices.isOnline(entry) ? {} : { reason: entry.reason ?? 'the device went offline' }),
        capacityBytes: dataAreaLb * LB_BYTES,
        usableBytes: (bound.usableLbByDevice.get(row.deviceId) ?? 0) * LB_BYTES,
        usedBytes: usedLb * LB_BYTES,
        usedFraction: usedLb / dataAreaLb,
        readErrors: this.counters.get(readErrorsKey(row.deviceId)),
      };
    });
    return {
      home: this.home,
      readOnly: this.readOnly,
      ...this.settings,
      fileCount: files.length,
      storedBytes: files.reduce((sum, file) => sum + file.sizeBytes, 0),
      allocatedBytes: devices.reduce((sum, device) => sum + device.usedBytes, 0),
      capacityBytes: devices.reduce((sum, device) => sum + device.capacityBytes, 0),
      usableDataBytes: bound.dataLb * LB_BYTES,
      degraded: devices.some((device) => device.state === 'missing' || device.state === 'failed'),
      degradedReads: this.counters.get(DEGRADED_READS),
      repairedBlocks: this.counters.get(REPAIRED_BLOCKS),
      metadata: {
        seq: this.store.seq,
        durableSeq: this.journal.durableSeq,
        regionBytes: this.settings.metadataRegionLb * LB_BYTES,
        records: this.journal.recordsWritten,
        checkpoints: this.journal.checkpointsWritten,
        putTransactions: this.commits.transactions,
        putCommits: this.commits.commits,
      },
      opened: this.openReport,
      kernelVariant: this.runtime.codec.kernelVariant,
      workerCount: this.runtime.codec.workerCount,
      devices,
      jobs: this.store.recentJobs(RECENT_JOBS_SHOWN).map((row) => ({
        jobId: row.jobId,
        kind: row.kind,
        state: row.state,
        progress: row.cursor === null ? null : (JSON.parse(row.cursor) as Progress),
        startedMs: row.createdMs,
        updatedMs: row.updatedMs,
      })),
    };
  }

  /**
   * The capacity bound (capacity_bound.ts) of the devices taking blocks, counted in extents
   * of extentLbMax LB (fractions included: tail groups use shorter extents), returned in LB.
   */
  private capacityBound(): { dataLb: number; usableLbByDevice: Map<number, number> } {
    const placeable = this.devices.placeable();
    const extentLb = this.settings.extentLbMax;
    const blocks = placeable.map(({ row }) => this.allocator.dataAreaLb(row.deviceId) / extentLb);
    const bound = dataCapacity(blocks, this.settings.parityCount, this.settings.maxDataWidth);
    return {
      dataLb: Math.floor(bound.dataBlocks * extentLb),
      // A device the optimum fills entirely counts whole; a larger one up to g* extents.
      usableLbByDevice: new Map(
        placeable.map(({ row }, i) => [row.deviceId, blocks[i]! <= bound.groups ? this.allocator.dataAreaLb(row.deviceId) : Math.floor(bound.groups * extentLb)]),
      ),
    };
  }

  /** Checks metadata against the allocator; with deep, every checksum and every group's parity. */
  async fsck(options: FsckOptions = {}): Promise<FsckReport> {
    this.assertOpen();
    const problems = this.metadataProblems();
    for (const device of this.statusReport().devices) {
      if (device.state === 'missing' || device.state === 'failed') problems.push(`device ${device.deviceId} (${device.path}) is ${device.state}: ${device.reason}`);
    }
    problems.push(...this.unreadableFiles());
    let checkedExtents = 0;
    const groups = this.store.allGroups();
    if (options.deep) {
      const leave = this.beginRead(); // every group: frees made meanwhile wait for the check
      try {
        const deep = await deepCheck(this.readContext(), this.runtime, this.allGroupsWithExtents(), { fileNameOf: (fileId) => this.store.fileNameOf(fileId) });
        problems.push(...deep.problems);
        checkedExtents = deep.checkedExtents;
      } finally {
        leave();
      }
    }
    return { ok: problems.length === 0, problems, checkedGroups: groups.length, checkedExtents };
  }

  /**
   * Scrub: reads every block of every group, verifies every checksum and every group's parity,
   * and rewrites in place what parity rebuilt (bit rot, bad sectors). Online; the report lists
   * what was found, `repairedBlocks` in status counts the rewrites. Resumable: after an aborted
   * or interrupted scrub, the next one continues from the last group it checked.
   */
  async scrub(options: JobOptions = {}): Promise<ScrubReport> {
    this.assertOpen();
    this.assertWritable();
    const { scrub: scrubJob, scrubResumePoint } = await import('./scrub_job.js');
    const afterGroupId = scrubResumePoint(this.store.lastJob('scrub'));
    const context = { store: this.store, readContext: this.readContext(), runtime: this.runtime, enterReader: (groupIds: readonly number[]) => this.epochs.enter(groupIds) };
    return this.runJob('scrub', options, (tracked) => scrubJob(context, { ...tracked, afterGroupId }), (report) => report.unrepairedProblems > 0);
  }

  /** Files with a group that lost more blocks than parity rebuilds, to unavailable devices. */
  private unreadableFiles(): string[] {
    const unavailable = this.devices.all().filter((entry) => !this.devices.isOnline(entry)).map((entry) => entry.row.deviceId);
    if (unavailable.length <= this.settings.parityCount) return [];
    const down = new Set(unavailable);
    const names = new Map(this.store.files().map((file) => [file.fileId, file.name]));
    const problems: string[] = [];
    for (const groupId of this.store.groupIdsOnDevices(unavailable)) {
      const group = this.store.group(groupId)!;
      const lost = group.extents.filter((extent) => down.has(extent.deviceId)).length;
      if (lost > group.parityCount) {
        problems.push(
          `file ${JSON.stringify(names.get(group.fileId))}: group ${group.sequence} has ${lost} blocks on unavailable devices and parity ${group.parityCount}: unreadable until a device returns`,
        );
      }
    }
    return problems;
  }

  /** Throws if any invariant of the array is broken (see the top of this file). */
  assertInvariants(): void {
    this.assertOpen();
    this.lentBuffers?.assertInvariants();
    this.allocator.assertInvariants();
    this.partners.assertInvariants();
    this.journal.assertInvariants();
    this.commits.assertInvariants();
    this.flusher.assertInvariants();
    this.epochs.assertInvariants();
    this.foreground.assertInvariants();
    this.events.assertInvariants();
    this.lifecycle.assertInvariants();
    this.monitor?.assertInvariants();
    this.policy?.assertInvariants();
    const problems = this.metadataProblems();
    if (problems.length > 0) throw new Error(`array invariants broken:\n${problems.join('\n')}`);
  }

  /**
   * Closes the array: new calls are refused at once (ARRAY_CLOSED), puts, jobs and reads in
   * flight finish first (abort a long job through its signal to close sooner), streams and
   * readChunks/lendChunks loops still open end with an ARRAY_CLOSED error, then devices,
   * workers and the lock go.
   */
  close(): Promise<void> {
    // A second call (a shutdown hook beside the owner's own close) settles with the first: it
    // used to resolve at once, while the lock and the devices were still held.
    return (this.closing ??= this.closeOnce());
  }

  private async closeOnce(): Promise<void> {
    this.closed = true;
    // Policies first: no probe or policy job starts from here; the one in flight is aborted
    // (resumable) rather than waited for to its end.
    await this.monitor?.stop();
    await this.policy?.close();
    for (const stream of this.openStreams) stream.destroy(new ElastripeError('ARRAY_CLOSED', 'the array was closed while this stream was open'));
    this.pacedReads.endAll();
    await this.idle;
    this.lentBuffers?.releaseAll();
    this.counters.save();
    await this.journal.close();
    // Every online device holds the change sets durable now: one found behind this at the next
    // open is an older copy of itself (staleCopiesAtOpen).
    if (!this.readOnly) this.store.setDurableSeqAtClose(this.journal.durableSeq);
    // A quiet allocator equals free space derived from the extents: the next open loads it.
    if (!this.readOnly && this.writesInFlight === 0 && this.epochs.pendingCount === 0 && this.freesAwaitingJournal === 0) saveFreeSpaceMap(this.store, this.allocator);
    this.store.onCommit = undefined;
    await this.devices.closeAll();
    await setup.stopRuntime(this.runtime);
    this.store.close();
  }

  // --- internals ---

  /**
   * A device that failed a write or dropped offline stays failed, also across reopen, until a
   * rebuild moves its blocks away: new data must not land on it again. (A read error alone only
   * costs a reconstruction and a rewrite of that block.)
   */
  private recordFailure(deviceId: number, reason: string): void {
    // A device dropped from the array meanwhile (removed, or rebuilt away) fails the writes
    // still in flight to it, the journal's among them: that is no failure of the array.
    const entry = this.devices.all().find((candidate) => candidate.row.deviceId === deviceId);
    if (!entry || entry.state !== 'online') return;
    entry.ioErrors++;
    // Never more than m on its own: past that a failure is not survivable, and a transient
    // fault of several devices at once (a host hiccup) must not brick an intact array. The
    // operation that saw the error fails instead; `fail` can still mark it by request.
    if (this.devices.isOnline(entry) && this.devices.unavailableCount() >= this.settings.parityCount) return;
    // A device that stopped answering (connection dropped, detached) is missing: what it holds
    // is intact and it may come back. One that answers with errors is failed.
    if (entry.device && !entry.device.online) this.markMissing(entry, reason);
    else this.markFailed(entry, reason);
  }

  /** online -> missing (device_lifecycle.ts): the state is not persisted, its away record is; the health monitor tries it again. */
  private markMissing(entry: ArrayDevice, reason: string): void {
    if (!this.lifecycle.markMissing(entry, reason)) return;
    this.putsStartedAtLoss.set(entry.row.deviceId, this.putsStarted);
    const device = entry.device;
    entry.device = undefined;
    void device?.close().catch(() => undefined);
    this.emit({ type: 'deviceMissing', deviceId: entry.row.deviceId, path: entry.row.path, reason });
    this.policy?.redundancyLost();
  }

  /** online or missing -> failed, persistently (until a rebuild takes it or it is brought online). */
  private markFailed(entry: ArrayDevice, reason: string): void {
    if (!this.lifecycle.markFailed(entry, reason)) return;
    this.failedByFault.add(entry.row.deviceId);
    if (!this.closed && !this.readOnly) this.store.setDeviceState(entry.row.deviceId, 'failed');
    this.emit({ type: 'deviceFailed', deviceId: entry.row.deviceId, path: entry.row.path, reason });
    this.policy?.redundancyLost();
  }

  /** Starts the health monitor and the heal policies this open asked for (LiveOptions.policies). */
  private startPolicies(): void {
    const { parityCount } = this.settings;
    this.policy = new HealPolicy(
      {
        lost: () => {
          const count = this.lifecycle.unavailable().length;
          return { count, coveredByParity: count <= parityCount };
        },
        degraded: () => this.lifecycle.unavailable().length > 0,
        rebuild: (options) => this.rebuild(options),
        expand: (options) => this.spreadOntoNewDevices(options),
        scrub: (options) => this.scrub(options),
      },
      this.policies,
    );
    this.policy.start();
    if (!Number.isFinite(this.policies.probeIntervalMs)) return;
    this.monitor = new HealthMonitor(
      {
        devices: this.devices,
        runtime: this.runtime,
        arrayUuid: this.settings.arrayUuid,
        lost: (entry, reason) => {
          if (this.devices.unavailableCount() < parityCount || !this.devices.isOnline(entry)) this.markMissing(entry, reason);
        },
        corrupt: (entry, reason) => {
          // As recordFailure: never more than m on its own.
          if (this.devices.unavailableCount() < parityCount) this.markFailed(entry, reason);
        },
        mayRejoin: (entry) => this.mayRejoin(entry),
        rebuiltAway: () => [...this.rebuiltAway.values()],
        reinstate: (row) => this.reinstate(row),
        locate: (entry) => this.locateMoved(entry.row),
        returned: async (entry, device, path) => {
          // A policy rebuild taking its blocks is aborted (resumable; the device's return makes
          // most of its work unnecessary) before the device rejoins.
          if (this.rebuildInFlight?.trigger === 'policy') await this.policy?.abortRebuild();
          if (!this.mayRejoin(entry) || this.rebuildInFlight) {
            await device.close().catch(() => undefined);
            return;
          }
          await this.rejoin(entry, device, path, 'policy').catch(() => undefined);
        },
      },
      this.policies.probeIntervalMs,
    );
    this.monitor.start();
  }

  /**
   * Whether a missing device may try to rejoin: not while a requested rebuild is taking its
   * blocks (the operator chose to rebuild). A policy rebuild does not stop it: once the device
   * answers, that rebuild is aborted and the device rejoins (see the monitor's `returned`).
   */
  private mayRejoin(entry: ArrayDevice): boolean {
    // Still a member: a rebuild that finished while the device's return was being checked has
    // removed it (its entry, dropped, still says missing); it comes back as a new member then.
    const member = this.devices.all().includes(entry);
    return !this.closed && member && entry.state === 'missing' && this.rebuildInFlight?.trigger !== 'request';
  }

  /** Spreads existing data onto devices just added: the expand job (combine + rebalance). */
  private spreadOntoNewDevices(options: ArrayJobOptions): Promise<unknown> {
    return this.expand(options);
  }

  /** A device by id, or by path (as recorded or as found), or by UUID. */
  private deviceByRef(ref: number | string): ArrayDevice {
    if (typeof ref === 'number') return this.knownDevice(ref);
    const resolved = isNbdUrl(ref) ? ref : resolve(ref);
    const entry = this.devices.all().find((candidate) => candidate.row.path === resolved || candidate.row.path === ref || candidate.row.uuid === ref);
    if (!entry) throw new NotFoundError(`the array has no device ${ref}`);
    return entry;
  }

  /**
   * Changes are refused while more than m devices are unavailable: some files are unreadable
   * then, and the array waits for devices to return rather than build on a broken state.
   */
  private assertRedundant(): void {
    const lost = this.devices.all().filter((entry) => !this.devices.isOnline(entry));
    if (lost.length <= this.settings.parityCount) return;
    throw new TooManyErasuresError(
      `${lost.length} devices are missing or failed and parity ${this.settings.parityCount} tolerates ${this.settings.parityCount}: ` +
        lost.map((entry) => `#${entry.row.deviceId} ${entry.row.path} (${entry.reason ?? entry.state})`).join('; ') +
        '; the array takes no changes until devices return (elastripe online DEVICE; --scan PATTERNS if they moved)',
    );
  }

  private knownDevice(deviceId: number): ArrayDevice {
    if (!Number.isInteger(deviceId) || !this.devices.all().some((entry) => entry.row.deviceId === deviceId)) {
      throw new NotFoundError(`the array has no device ${deviceId}`);
    }
    return this.devices.get(deviceId);
  }

  /**
   * Runs a job with its row in the jobs table: 'running' with a progress cursor updated as it
   * goes, then 'done', 'incomplete' (it left problems), 'aborted' or 'failed'; a crash leaves it 'running', which the next open
   * turns into 'interrupted' (running the job again continues it).
   */
  private async runJob<T extends { problems: string[] }>(kind: string, options: ArrayJobOptions, job: (tracked: JobOptions) => Promise<T>, unfinished: (result: T) => boolean = (result) => result.problems.length > 0): Promise<T> {
    options = checkCallOptions(options, kind);
    const jobId = this.store.startJob(kind, Date.now());
    const { trigger = 'request', ...jobOptions } = options;
    const tracked: JobOptions = {
      ...jobOptions,
      clock: this.runtime.clock,
      onProgress: (progress) => {
        this.store.updateJob(jobId, JSON.stringify(progress), Date.now());
        this.emit({ type: 'jobProgress', jobId, kind, doneBytes: progress.doneBytes, ...(progress.totalBytes === undefined ? {} : { totalBytes: progress.totalBytes }) });
        options.onProgress?.(progress);
      },
    };
    this.beginWrite();
    this.emit({ type: 'jobStarted', jobId, kind, trigger });
    try {
      const result = await job(tracked);
      await this.journal.durable();
      // A job that ran to its end but left problems (groups it could not move, files that
      // changed under it, damage a scrub could not repair) did not do its work: 'incomplete'.
      const outcome = unfinished(result) ? 'incomplete' : 'done';
      this.store.finishJob(jobId, outcome, Date.now());
      this.emit({ type: 'jobFinished', jobId, kind, trigger, outcome, ...(result.problems.length > 0 ? { detail: result.problems[0]! } : {}) });
      this.checkLowSpace();
      return result;
    } catch (error) {
      // Moves the job committed before it failed are on the devices before it reports (a
      // journal failure would already be the job's error).
      await this.journal.durable().catch(() => undefined);
      // The store is still open: close() waits for jobs in flight before closing it.
      const outcome = error instanceof AbortedError ? 'aborted' : 'failed';
      this.store.finishJob(jobId, outcome, Date.now());
      this.emit({ type: 'jobFinished', jobId, kind, trigger, outcome, detail: error instanceof Error ? error.message : String(error) });
      throw error;
    } finally {
      this.endWrite();
    }
  }

  /** Emits an event of this array (array_events.ts). */
  private emit(event: ArrayEventInput): void {
    this.events.emit(event);
  }

  /** Emits lowSpace when free space has fallen under the policy's fraction of the capacity (once per crossing). */
  private checkLowSpace(): void {
    let freeLb = 0;
    let areaLb = 0;
    for (const { row } of this.devices.placeable()) {
      freeLb += this.allocator.freeLb(row.deviceId);
      areaLb += this.allocator.dataAreaLb(row.deviceId);
    }
    if (areaLb === 0) return;
    const low = freeLb < areaLb * this.policies.lowSpaceFraction;
    if (low && this.lowSpaceArmed) {
      this.lowSpaceArmed = false;
      this.emit({ type: 'lowSpace', freeBytes: freeLb * LB_BYTES, capacityBytes: areaLb * LB_BYTES });
    } else if (!low) {
      this.lowSpaceArmed = true;
    }
  }

  private beginWrite(): void {
    this.writesInFlight++;
    this.beginCall();
  }

  private endWrite(): void {
    this.writesInFlight--;
    this.endCall();
  }

  private beginCall(): void {
    if (this.callsInFlight++ === 0) this.idle = new Promise((resolve) => (this.markIdle = resolve));
  }

  private endCall(): void {
    if (--this.callsInFlight === 0) this.markIdle();
  }

  /**
   * Registers a read of `groups` — with the reader epochs, so extents freed meanwhile wait for
   * it, and with close(), which waits for it. Call it in the same tick as the groups' lookup;
   * the returned function (idempotent) ends the read.
   */
  private beginRead(groups?: readonly { groupId: number }[]): () => void {
    const leaveEpoch = this.epochs.enter(groups?.map((group) => group.groupId));
    // A read of a file's groups is a foreground get: jobs back off while it runs.
    const endForeground = groups ? this.foreground.begin() : () => undefined;
    this.beginCall();
    let left = false;
    return () => {
      if (left) return;
      left = true;
      endForeground();
      leaveEpoch();
      this.endCall();
    };
  }


  /** Devices left without blocks leave the array for good (state 'removed'). */
  private async removeEmptied(deviceIds: number[]): Promise<number[]> {
    const emptied: number[] = [];
    for (const deviceId of deviceIds) {
      // A device another job (a concurrent rebuild) removed meanwhile — also while this loop
      // awaited a drop — is gone already: checked for each device, right before it is dropped.
      if (!this.devices.all().some((entry) => entry.row.deviceId === deviceId)) continue;
      if (this.store.groupIdsOnDevices([deviceId]).length > 0) continue;
      this.store.setDeviceState(deviceId, 'removed');
      emptied.push(deviceId);
      this.lifecycle.forget(deviceId);
      this.monitor?.forget(deviceId);
      await this.devices.drop(deviceId);
    }
    await this.journal.durable();
    return emptied;
  }

  /** What a job needs; its blocks may go to `targets` (placeable devices unless told: a rebuild adds spares). */
  private jobContext(targets: () => ArrayDevice[] = () => this.devices.placeable()): JobContext {
    return {
      ...this.readContext(),
      store: this.store,
      allocator: this.allocator,
      flusher: this.flusher,
      arena: this.runtime.arena,
      codec: this.runtime.codec,
      parityCount: this.settings.parityCount,
      nextRotation: () => this.rotation++,
      partners: this.partners,
      freeWhenUnread: (extents) => this.freeWhenUnread(extents),
      backoff: this.runtime.jobBackoff ? this.foreground : undefined,
      enterReader: (groupIds) => this.epochs.enter(groupIds),
      candidates: () =>
        targets().map(({ row }) => ({
          deviceId: row.deviceId,
          usedLb: this.allocator.dataAreaLb(row.deviceId) - this.allocator.freeLb(row.deviceId),
          dataAreaLb: this.allocator.dataAreaLb(row.deviceId),
          largestFreeLb: this.allocator.largestFreeLb(row.deviceId),
        })),
    };
  }

  /** What the in-place combine needs beyond a job's context: the reader epochs of the groups it replaces. */
  private combineContext(): CombineContext {
    return {
      ...this.jobContext(),
      enterReader: (groupIds) => this.epochs.enter(groupIds),
      inheritReaders: (newGroupIds, oldGroupIds) => this.epochs.inherit(newGroupIds, oldGroupIds),
    };
  }

  private metadataProblems(): string[] {
    const quiet = this.writesInFlight === 0 && this.epochs.pendingCount === 0 && this.freesAwaitingJournal === 0;
    return checkMetadata(this.store, quiet ? this.allocator : undefined, this.settings.parityCount);
  }

  /** Every group with its extents (one indexed query per group: extents are keyed by group). */
  private allGroupsWithExtents(): GroupWithExtents[] {
    return this.store.allGroups().flatMap((group) => this.store.group(group.groupId) ?? []);
  }

  /**
   * The groups a range overlaps (found by offset in O(log groups)), and where the first starts:
   * one query for the file and its groups' extents (MetaStore.fileRange). `maxLength` (readInto:
   * the target's size) reads up to the end of the file instead of a strict `options.length`.
   */
  private resolveRange(name: string, options: GetOptions, maxLength?: number): ResolvedRange {
    const offset = options.offset ?? 0;
    const offsetValid = Number.isSafeInteger(offset) && offset >= 0;
    const wanted = options.length;
    const lookupLength = maxLength ?? (wanted !== undefined && Number.isSafeInteger(wanted) && wanted >= 0 ? wanted : Number.MAX_SAFE_INTEGER);
    const found = this.store.fileRange(name, offsetValid ? offset : 0, lookupLength);
    if (!found) throw new NotFoundError(`no file named ${JSON.stringify(name)}`);
    const size = found.file.sizeBytes;
    if (!offsetValid || offset > size) {
      throw new InvalidArgumentError(`offset ${options.offset} is outside ${name} (${size} bytes)`);
    }
    const length = maxLength !== undefined ? Math.max(0, Math.min(maxLength, size - offset)) : (wanted ?? size - offset);
    if (!Number.isSafeInteger(length) || length < 0 || offset + length > size) {
      throw new InvalidArgumentError(`range ${offset}+${options.length} is outside ${name} (${size} bytes)`);
    }
    const groups = found.groups;
    return { groups, offset, length, groupsStartBytes: groups[0]?.fileOffset ?? offset };
  }

  /**
   * Frees extents a commit let go of, once that commit is durable on the devices (until then
   * the devices' metadata still references them) and no read that could see them is running.
   * Should the journal fail, they stay allocated: reopening derives them free again.
   */
  private freeWhenUnread(extents: ExtentRow[]): void {
    if (extents.length === 0) return;
    this.freesAwaitingJournal++;
    this.journal.durable(this.store.seq).then(
      () => {
        this.freesAwaitingJournal--;
        this.epochs.deferFree(new Set(extents.map((extent) => extent.groupId)), () => {
          for (const extent of extents) this.allocator.release(extent.deviceId, extent.startLb, extent.lengthLb);
        });
      },
      // The commit may not be on the devices: the extents stay allocated (and the array is no
      // longer quiet, so the allocator check stands aside) until a reopen derives them free.
      () => undefined,
    );
  }

  private writeContext(): WriteContext {
    const online = this.devices.placeable().length;
    return {
      arena: this.runtime.arena,
      codec: this.runtime.codec,
      allocator: this.allocator,
      devices: this.devices,
      parityCount: this.settings.parityCount,
      maxDataWidth: Math.min(this.settings.maxDataWidth, Math.max(1, online - this.settings.parityCount)),
      extentLbMax: this.settings.extentLbMax,
      groupsInFlightMax: GROUPS_IN_FLIGHT_MAX,
      nextRotation: () => this.rotation++,
      partners: this.partners,
      flusher: this.flusher,
      onWriteError: (deviceId, error) => this.recordFailure(deviceId, `a write failed: ${error.message}`),
    };
  }

  /** Built once: a small read would otherwise allocate it and its callbacks every time. */
  private readContext(): ReadContext {
    return (this.cachedReadContext ??= {
      arena: this.runtime.arena,
      codec: this.runtime.codec,
      devices: this.devices,
      flusher: this.flusher,
      fileNameOf: (fileId) => this.store.fileNameOf(fileId),
      ...(this.readOnly ? { repair: false } : {}),
      onDegradedRead: () => this.counters.bump(DEGRADED_READS),
      onRepaired: (deviceId, groupId) => {
        this.counters.bump(REPAIRED_BLOCKS);
        this.emit({ type: 'blockRepaired', groupId, deviceId });
      },
      onDeviceError: (deviceId) => {
        const entry = this.devices.get(deviceId);
        entry.ioErrors++;
        this.counters.bump(readErrorsKey(deviceId));
        if (entry.device && !entry.device.online) this.recordFailure(deviceId, 'the device went offline');
      },
    });
  }

  private assertOpen(): void {
    if (this.closed) throw new ElastripeError('ARRAY_CLOSED', 'the array is closed');
  }

  private assertWritable(): void {
    if (this.readOnly) throw new ReadOnlyError(`the array at ${this.home} is open read-only: changes are refused`);
  }
}

function fileStatOf(name: string, sizeBytes: number, createdMs: number, groups: readonly (Omit<NewGroup, 'extents'> & { extents: readonly Omit<NewExtent, 'checksum'>[] })[]): FileStat {
  return {
    name,
    sizeBytes,
    createdMs,
    groupCount: groups.length,
    groups: groups.map((group) => ({
      sequence: group.sequence,
      dataCount: group.dataCount,
      parityCount: group.parityCount,
      extentLb: group.extentLb,
      lengthBytes: group.lengthBytes,
      // Data blocks by index, then parity by index (as the store lists them).
      extents: group.extents
        .map(({ deviceId, startLb, lengthLb, role, index }) => ({ deviceId, startLb, lengthLb, role, index }))
        .sort((a, b) => Number(a.role === 'parity') - Number(b.role === 'parity') || a.index - b.index),
    })),
  };
}

/** A byte range of a file and the groups it overlaps; groups[0] starts at groupsStartBytes in the file. */
interface ResolvedRange {
  groups: GroupWithExtents[];
  offset: number;
  length: number;
  groupsStartBytes: number;
}

/** The runtime of a read-only open: every device opens read-only (writes refused before they reach it). */
function readOnlyRuntime(options: OpenOptions): RuntimeOptions {
  const open = options.openDevice ?? openDevice;
  return { ...options, openDevice: async (path, deviceOptions) => new ReadOnlyDevice(await open(path, { ...deviceOptions, readOnly: true })) };
}
