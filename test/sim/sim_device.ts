// Simulated storage for the deterministic simulator: a Device over sparse in-memory pages with a
// volatile write cache, seeded faults and power loss, as TigerBeetle's testing/storage.zig does
// for its VOPR (written afresh for our Device contract).
//
// Model of one disk (SimDisk, survives crashes; SimDevice is an open handle to it):
//  - Pages are 4 KiB (LB_BYTES), stored sparsely: a Map from page number to its state, so a
//    256 MiB disk costs only what was written. A page never written reads as zeros.
//  - A completed write lands in the volatile cache: reads see it at once, but it is durable only
//    after a flush that *started after the write completed* (a flush's watermark is the write
//    sequence number when it starts). Writes completing during a flush stay volatile. A durable
//    write (writeDurable: FUA, RWF_DSYNC) is durable once it completes, its pages only.
//  - powerLoss(rng): every handle dies; the unflushed writes (completed ones and those still in
//    flight) are dropped, torn (applied in order up to a random page, so a multi-page write
//    lands partly), or reordered (a random subset applied in a random order), at random.
//  - Faults, each rolled from the disk's own seeded stream and only while the simulator lets
//    this disk be faulty (its fault atlas): EIO on read, write or flush (a failed write lands
//    nothing; a failed flush keeps the cache, or on some disks loses the writes it covered, as
//    Linux's page cache does after a writeback error), latent sector errors (a written page reads EIO
//    until rewritten), misdirected writes (the data lands a few LBs away: the target keeps its
//    old content, the other place is overwritten), and the disk vanishing (every handle drops
//    like an NBD connection: requests in flight fail with ECONNRESET, later ones with
//    DEVICE_FAILED; a handle opened after `returnDisk` works again). Bit rot and latent errors
//    can also be injected directly into durable pages (`rot`, `makeLatent`).
//  - Every page records why it is bad, if it is ('latent', 'rot', 'stale': a misdirected write
//    missed it, 'foreign': a misdirected write hit it); a write landing on it clears that. The
//    simulator's oracle uses these marks to tell injected damage from silent corruption.
//  - Requests follow the Device contract and the real backends' errors: batches validated like
//    fs/nbd (validateBatch), buffers LB-aligned as O_DIRECT demands (MisalignedIoError), a
//    batch finishes every request before reporting its first failure, DeviceIoError with an
//    errno, DeviceFailedError once offline. Completion order is randomised by a seeded number
//    of setImmediate hops per request, which is deterministic for a given seed.
import { createHash } from 'node:crypto';
import { LB_BYTES } from '../../src/constants.js';
import type { Device, DeviceDescription, DeviceExtent } from '../../src/devices/device.js';
import { ERRNO, validateBatch } from '../../src/devices/device_batch.js';
import type { OpenDeviceOptions } from '../../src/devices/open_device.js';
import { DeviceBusyError, DeviceFailedError, DeviceIoError, MisalignedIoError, NotFoundError, ReadOnlyError } from '../../src/errors.js';
import { SimClock } from './sim_clock.js';
import { SimRng } from './sim_rng.js';

export const SIM_PAGE_BYTES = LB_BYTES;
/** A misdirected write lands at most this many LBs away from where it was aimed. */
const MISDIRECT_DISTANCE_LB_MAX = 64;
/** Latency of one request, in setImmediate hops: 0..LATENCY_HOPS_MAX, now and then a long one. */
const LATENCY_HOPS_MAX = 3;
const LATENCY_LONG_HOPS = 12;
const LATENCY_LONG_CHANCE = 0.02;

export type BadKind = 'latent' | 'rot' | 'stale' | 'foreign';
export type PowerLossMode = 'drop' | 'torn' | 'reorder';

export interface PageState {
  /** undefined = zeros (never written). */
  readonly data: Uint8Array | undefined;
  readonly bad?: BadKind;
}

/** Per-disk fault probabilities (per request, or per page for latent errors). */
export interface SimFaultRates {
  readErrorRate: number;
  writeErrorRate: number;
  flushErrorRate: number;
  latentErrorRate: number;
  misdirectRate: number;
  vanishRate: number;
  /** A failed flush also loses the cached writes it covered (Linux's writeback-error behaviour). */
  flushErrorDropsCache: boolean;
}

export const NO_FAULTS: SimFaultRates = {
  readErrorRate: 0,
  writeErrorRate: 0,
  flushErrorRate: 0,
  latentErrorRate: 0,
  misdirectRate: 0,
  vanishRate: 0,
  flushErrorDropsCache: false,
};

/** What the storage has injected so far (the simulator reports these). */
export interface SimFaultCounts {
  readErrors: number;
  writeErrors: number;
  flushErrors: number;
  latentSectors: number;
  bitRot: number;
  misdirectedWrites: number;
  vanished: number;
  returned: number;
  powerLosses: number;
  /** Unflushed page writes lost, torn off or applied out of order at power losses. */
  droppedPageWrites: number;
  appliedPageWrites: number;
}

interface CachedWrite {
  seq: number;
  page: number;
  state: PageState;
}

interface PendingWrite {
  extents: readonly DeviceExtent[];
  buffers: readonly Uint8Array[];
}

export class SimDisk {
  present = true;
  /** Bumped by power loss and vanishing: handles of an older generation are dead. */
  generation = 0;
  /** Whether the simulator's fault atlas lets this disk fail right now. */
  faultsEnabled = false;
  rates: SimFaultRates;
  /** Latencies and fault rolls; the simulator reseeds it per step so steps replay alone. */
  rng: SimRng;
  readonly handles = new Set<SimDevice>();
  readonly pending = new Set<PendingWrite>();
  private readonly durable = new Map<number, PageState>();
  /** Newest completed, unflushed write of each page (what reads see over `durable`). */
  private readonly volatile = new Map<number, CachedWrite>();
  /** Completed, unflushed page writes in completion order. */
  private log: CachedWrite[] = [];
  private seq = 0;

  constructor(
    readonly path: string,
    readonly sizeBytes: number,
    rates: SimFaultRates,
    seed: number,
    private readonly counts: SimFaultCounts,
  ) {
    if (sizeBytes % SIM_PAGE_BYTES !== 0 || sizeBytes <= 0) throw new Error(`sim disk ${path}: size ${sizeBytes} is not whole pages`);
    this.rates = rates;
    this.rng = new SimRng(seed);
  }

  get pageCount(): number {
    return this.sizeBytes / SIM_PAGE_BYTES;
  }

  /** The page as reads see it now (volatile over durable), or undefined if never written. */
  current(page: number): PageState | undefined {
    return this.volatile.get(page)?.state ?? this.durable.get(page);
  }

  /** Copies the page's current bytes into target (4 KiB); returns the page's bad mark. */
  copyPage(page: number, target: Uint8Array): BadKind | undefined {
    const state = this.current(page);
    if (state?.data) target.set(state.data);
    else target.fill(0);
    return state?.bad;
  }

  /** Pages whose current state carries a bad mark (volatile shadows durable). */
  badPages(): Map<number, BadKind> {
    const bad = new Map<number, BadKind>();
    for (const [page, state] of this.durable) if (state.bad && !this.volatile.has(page)) bad.set(page, state.bad);
    for (const [page, cached] of this.volatile) if (cached.state.bad) bad.set(page, cached.state.bad);
    return bad;
  }

  /** A digest of every page as reads see it now, and of its bad mark (for replay fingerprints). */
  contentDigest(): string {
    const hash = createHash('sha256');
    const pages = new Set([...this.durable.keys(), ...this.volatile.keys()]);
    for (const page of [...pages].sort((a, b) => a - b)) {
      const state = this.current(page);
      hash.update(`${page}:${state?.bad ?? ''}:`);
      if (state?.data) hash.update(state.data);
    }
    return hash.digest('hex').slice(0, 16);
  }

  /** A write completing: the page lands in the volatile cache. */
  landPage(page: number, state: PageState): void {
    const cached = { seq: ++this.seq, page, state };
    this.log.push(cached);
    this.volatile.set(page, cached);
  }

  /**
   * A durable write (FUA, RWF_DSYNC) completing: the page is durable at once, and older cached
   * writes of it are gone (a disk's cache holds one version of a block; a flush or a power loss
   * never brings an older one back over it).
   */
  landPageDurable(page: number, state: PageState): void {
    if (this.volatile.has(page)) {
      this.log = this.log.filter((cached) => cached.page !== page);
      this.volatile.delete(page);
    }
    this.durable.set(page, state);
  }

  /** A flush starting: it will cover every write completed so far. */
  flushWatermark(): number {
    return this.seq;
  }

  /** A flush completing: writes up to the watermark become durable, in order. */
  flushComplete(watermark: number): void {
    const keep: CachedWrite[] = [];
    for (const cached of this.log) {
      if (cached.seq <= watermark) this.durable.set(cached.page, cached.state);
      else keep.push(cached);
    }
    this.log = keep;
    for (const [page, cached] of this.volatile) if (cached.seq <= watermark) this.volatile.delete(page);
  }

  /** A failed flush that loses what it covered: those writes are gone (reads see the durable pages). */
  dropCovered(watermark: number): number {
    const before = this.log.length;
    this.log = this.log.filter((cached) => cached.seq > watermark);
    for (const [page, cached] of this.volatile) if (cached.seq <= watermark) this.volatile.delete(page);
    return before - this.log.length;
  }

  /** Unflushed page writes, completed or in flight (what a power loss decides about). */
  unflushedPageCount(): number {
    let count = this.log.length;
    for (const write of this.pending) for (const extent of write.extents) count += extent.lengthLb;
    return count;
  }

  /**
   * Power loss: every handle dies; the cache's writes (and those in flight) are dropped, torn or
   * reordered; reads then see only what became durable. Returns the mode chosen.
   */
  powerLoss(rng: SimRng): PowerLossMode {
    const candidates = [...this.log.map((cached) => ({ page: cached.page, state: cached.state })), ...this.pendingPages()];
    const mode = rng.weighted<PowerLossMode>({ drop: 1, torn: 1, reorder: 1 });
    let applied: typeof candidates = [];
    if (mode === 'torn') applied = candidates.slice(0, rng.int(candidates.length + 1));
    if (mode === 'reorder') applied = rng.shuffle(candidates.filter(() => rng.chance(0.5)));
    for (const { page, state } of applied) this.durable.set(page, state);
    this.counts.appliedPageWrites += applied.length;
    this.counts.droppedPageWrites += candidates.length - applied.length;
    this.log = [];
    this.volatile.clear();
    this.pending.clear();
    this.killHandles();
    return mode;
  }

  /** The disk drops off the bus (or its NBD server goes away); its cache survives. */
  vanish(): void {
    if (!this.present) return;
    this.present = false;
    this.counts.vanished++;
    this.killHandles();
  }

  /** The disk is back: handles opened from now on work (old ones stay dead, as NBD's do). */
  returnDisk(): void {
    if (this.present) return;
    this.present = true;
    this.counts.returned++;
  }

  /** Bit rot in a durable page: one to three bits flip. Only pages no cached write shadows. */
  rot(page: number, rng: SimRng): boolean {
    if (this.volatile.has(page)) return false;
    const data = new Uint8Array(SIM_PAGE_BYTES);
    const state = this.durable.get(page);
    if (state?.data) data.set(state.data);
    const flips = rng.between(1, 3);
    for (let i = 0; i < flips; i++) data[rng.int(SIM_PAGE_BYTES)]! ^= 1 << rng.int(8);
    this.durable.set(page, { data, bad: 'rot' });
    this.counts.bitRot++;
    return true;
  }

  /** A latent sector error in a durable page: reads of it fail with EIO until it is rewritten. */
  makeLatent(page: number): boolean {
    if (this.volatile.has(page)) return false;
    this.durable.set(page, { data: this.durable.get(page)?.data, bad: 'latent' });
    this.counts.latentSectors++;
    return true;
  }

  private pendingPages(): { page: number; state: PageState }[] {
    const pages: { page: number; state: PageState }[] = [];
    for (const write of this.pending) {
      write.extents.forEach((extent, i) => {
        for (let lb = 0; lb < extent.lengthLb; lb++) {
          const bytes = write.buffers[i]!.subarray(lb * SIM_PAGE_BYTES, (lb + 1) * SIM_PAGE_BYTES);
          pages.push({ page: extent.startLb + lb, state: { data: bytes.slice() } });
        }
      });
    }
    return pages;
  }

  private killHandles(): void {
    this.generation++;
    this.handles.clear();
  }
}

/** The registry of simulated disks by path ('sim://dev0'); survives crashes, opens handles. */
export class SimStorage {
  readonly disks = new Map<string, SimDisk>();
  readonly counts: SimFaultCounts = {
    readErrors: 0,
    writeErrors: 0,
    flushErrors: 0,
    latentSectors: 0,
    bitRot: 0,
    misdirectedWrites: 0,
    vanished: 0,
    returned: 0,
    powerLosses: 0,
    droppedPageWrites: 0,
    appliedPageWrites: 0,
  };
  /** Request completions so far (the simulator's clock for placing crashes). */
  ioEvents = 0;
  private crash: { remaining: number; fire: () => void } | undefined;

  constructor(
    /** The jobs' virtual clock (RuntimeOptions.jobClock): each request completion moves it on. */
    readonly clock = new SimClock(),
  ) {}

  createDisk(path: string, sizeBytes: number, rates: SimFaultRates = NO_FAULTS, seed = 1): SimDisk {
    if (this.disks.has(path)) throw new Error(`sim storage: ${path} exists`);
    const disk = new SimDisk(path, sizeBytes, rates, seed, this.counts);
    this.disks.set(path, disk);
    return disk;
  }

  disk(path: string): SimDisk {
    const disk = this.disks.get(path);
    if (!disk) throw new Error(`sim storage: no disk ${path}`);
    return disk;
  }

  /** Power losses so far: a process that lived before the last one is dead and opens nothing. */
  private powerEpoch = 0;

  /** For RuntimeOptions.openDevice: a fresh handle over the disk's surviving state. */
  readonly openDevice = async (path: string, options?: OpenDeviceOptions): Promise<Device> => this.openIn(this.powerEpoch, path, options);

  /**
   * An openDevice for one simulated process (one DiskArray's runtime): after a power loss it
   * refuses, so an array abandoned at the crash cannot reach the disks through new handles.
   */
  processOpener(): (path: string, options?: OpenDeviceOptions) => Promise<Device> {
    const epoch = this.powerEpoch;
    return (path, options) => this.openIn(epoch, path, options);
  }

  private async openIn(epoch: number, path: string, options?: OpenDeviceOptions): Promise<Device> {
    const disk = this.disks.get(path);
    if (!disk) throw new NotFoundError(`device ${path} does not exist`);
    await this.latency(disk);
    if (epoch !== this.powerEpoch) throw new DeviceFailedError(path, 'the process opening it did not survive the power loss (simulated)');
    if (!disk.present) throw new DeviceIoError(path, 'open', 0, ERRNO.ENXIO, 'the simulated disk is gone');
    // A read-only open claims nothing (as the real one: O_RDONLY, no O_EXCL): an import's probe.
    if (options?.readOnly) return new SimDevice(this, disk, true);
    if (disk.handles.size > 0) throw new DeviceBusyError(path, 'already open in this process');
    const device = new SimDevice(this, disk);
    disk.handles.add(device);
    return device;
  }

  /** Calls `fire` synchronously at the `afterEvents`-th request completion from now (>= 1). */
  armCrash(afterEvents: number, fire: () => void): void {
    this.crash = { remaining: Math.max(1, afterEvents), fire };
  }

  disarmCrash(): void {
    this.crash = undefined;
  }

  get crashArmed(): boolean {
    return this.crash !== undefined;
  }

  /** Power loss on every disk at once. */
  powerLoss(rng: SimRng): Record<string, PowerLossMode> {
    this.counts.powerLosses++;
    this.powerEpoch++;
    const modes: Record<string, PowerLossMode> = {};
    for (const [path, disk] of this.disks) modes[path] = disk.powerLoss(rng.fork(path));
    return modes;
  }

  /** Chooses which disks may be faulty (the fault atlas); undefined disables every fault. */
  setFaulty(paths: ReadonlySet<string> | undefined): void {
    for (const [path, disk] of this.disks) disk.faultsEnabled = paths?.has(path) ?? false;
  }

  /** A request completing: counts the event and fires an armed crash when it is due. */
  ioEvent(): void {
    this.ioEvents++;
    this.clock.requestCompleted();
    if (this.crash && --this.crash.remaining <= 0) {
      const { fire } = this.crash;
      this.crash = undefined;
      fire();
    }
  }

  /** A seeded number of event-loop hops, so requests complete in a seeded order. */
  async latency(disk: SimDisk): Promise<void> {
    let hops = disk.rng.int(LATENCY_HOPS_MAX + 1);
    if (disk.rng.chance(LATENCY_LONG_CHANCE)) hops = LATENCY_LONG_HOPS;
    for (let i = 0; i < hops; i++) await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

/** An open handle to a SimDisk: the Device the array uses. */
export class SimDevice implements Device {
  readonly backend = 'nbd' as const;
  readonly logicalBlockBytes = LB_BYTES;
  private closed = false;
  private inflight = 0;
  private drained: (() => void)[] = [];
  private readonly generation: number;
  /**
   * A flush through this handle failed (injected): the array's FlushCoalescer fails every later
   * flush of the device, so it fails the device at its next metadata write however clean the
   * disk is by then. The checker counts such a disk as afflicted while this handle lives.
   */
  flushFailed = false;

  constructor(
    private readonly storage: SimStorage,
    private readonly disk: SimDisk,
    private readonly readOnly = false,
  ) {
    this.generation = disk.generation;
  }

  get path(): string {
    return this.disk.path;
  }

  get sizeBytes(): number {
    return this.disk.sizeBytes;
  }

  get online(): boolean {
    return !this.closed && this.alive();
  }

  async read(extents: readonly DeviceExtent[], buffers: readonly Uint8Array[]): Promise<void> {
    this.checkRequest('read', extents, buffers);
    await this.inFlight(async () => {
      this.maybeVanish();
      await this.storage.latency(this.disk);
      this.complete('read', extents);
      if (this.roll(this.disk.rates.readErrorRate)) {
        this.storage.counts.readErrors++;
        throw new DeviceIoError(this.path, 'read', extents[0]!.startLb * LB_BYTES, ERRNO.EIO, 'simulated read error');
      }
      let failure: DeviceIoError | undefined;
      extents.forEach((extent, i) => {
        for (let lb = 0; lb < extent.lengthLb; lb++) {
          const bad = this.disk.copyPage(extent.startLb + lb, buffers[i]!.subarray(lb * LB_BYTES, (lb + 1) * LB_BYTES));
          if (bad === 'latent') failure ??= new DeviceIoError(this.path, 'read', (extent.startLb + lb) * LB_BYTES, ERRNO.EIO, 'simulated latent sector error');
        }
      });
      if (failure) throw failure;
    });
  }

  write(extents: readonly DeviceExtent[], buffers: readonly Uint8Array[]): Promise<void> {
    return this.writeWith(extents, buffers, false);
  }

  /** A FUA write: its pages are durable when it completes (faults as for write). */
  writeDurable(extents: readonly DeviceExtent[], buffers: readonly Uint8Array[]): Promise<void> {
    return this.writeWith(extents, buffers, true);
  }

  private async writeWith(extents: readonly DeviceExtent[], buffers: readonly Uint8Array[], durable: boolean): Promise<void> {
    this.checkRequest('write', extents, buffers);
    this.checkWritable('write');
    const pending: PendingWrite = { extents, buffers };
    this.disk.pending.add(pending);
    try {
      await this.inFlight(async () => {
        this.maybeVanish();
        await this.storage.latency(this.disk);
        this.complete('write', extents);
        if (this.roll(this.disk.rates.writeErrorRate)) {
          this.storage.counts.writeErrors++;
          throw new DeviceIoError(this.path, 'write', extents[0]!.startLb * LB_BYTES, ERRNO.EIO, 'simulated write error');
        }
        // The bytes are taken at completion, as DMA would: a caller reusing a buffer early is caught.
        extents.forEach((extent, i) => this.land(extent, buffers[i]!, durable));
      });
    } finally {
      this.disk.pending.delete(pending);
    }
  }

  async flush(): Promise<void> {
    this.checkUsable();
    this.checkWritable('flush');
    const watermark = this.disk.flushWatermark();
    await this.inFlight(async () => {
      this.maybeVanish();
      await this.storage.latency(this.disk);
      this.complete('flush', []);
      if (this.roll(this.disk.rates.flushErrorRate)) {
        this.storage.counts.flushErrors++;
        this.flushFailed = true;
        if (this.disk.rates.flushErrorDropsCache) this.storage.counts.droppedPageWrites += this.disk.dropCovered(watermark);
        throw new DeviceIoError(this.path, 'flush', 0, ERRNO.EIO, 'simulated flush error');
      }
      this.disk.flushComplete(watermark);
    });
  }

  /** Discard is advisory (the contract allows a no-op); the pages keep their bytes. */
  async trim(extents: readonly DeviceExtent[]): Promise<void> {
    this.checkUsable();
    this.checkWritable('trim');
    validateBatch(this.path, 'trim', extents, null, this.sizeBytes);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.inflight > 0) await new Promise<void>((resolve) => this.drained.push(resolve));
    this.disk.handles.delete(this);
  }

  describe(): DeviceDescription {
    return {
      path: this.path,
      backend: this.backend,
      sizeBytes: this.sizeBytes,
      logicalBlockBytes: this.logicalBlockBytes,
      kind: 'nbd',
      online: this.online,
      detail: { simulated: true, generation: this.generation },
    };
  }

  private alive(): boolean {
    return this.disk.present && this.disk.generation === this.generation;
  }

  private checkUsable(): void {
    if (this.closed) throw new DeviceFailedError(this.path, 'the device is closed');
    if (!this.alive()) throw new DeviceFailedError(this.path, this.disk.present ? 'power was lost (simulated)' : 'the disk vanished (simulated)');
  }

  private checkWritable(operation: string): void {
    if (this.readOnly) throw new ReadOnlyError(`${operation} on ${this.path}: the device is open read-only`);
  }

  private checkRequest(operation: string, extents: readonly DeviceExtent[], buffers: readonly Uint8Array[]): void {
    this.checkUsable();
    validateBatch(this.path, operation, extents, buffers, this.sizeBytes);
    buffers.forEach((buffer, i) => {
      if (buffer.byteOffset % LB_BYTES !== 0) {
        throw new MisalignedIoError(`${operation} on ${this.path} at LB ${extents[i]!.startLb}: buffer address is ${buffer.byteOffset % LB_BYTES} bytes past a ${LB_BYTES}-byte boundary`);
      }
    });
  }

  /** Counts the request while it runs, so close() can wait for it. */
  private async inFlight(work: () => Promise<void>): Promise<void> {
    this.inflight++;
    try {
      await work();
    } finally {
      if (--this.inflight === 0) for (const wake of this.drained.splice(0)) wake();
    }
  }

  /** A request completing: the clock ticks (a crash may fire here), then a dead handle fails it. */
  private complete(operation: string, extents: readonly DeviceExtent[]): void {
    this.storage.ioEvent();
    if (!this.alive()) {
      const offset = (extents[0]?.startLb ?? 0) * LB_BYTES;
      throw new DeviceIoError(this.path, operation, offset, ERRNO.ECONNRESET, this.disk.present ? 'power was lost (simulated)' : 'the disk vanished (simulated)');
    }
  }

  private maybeVanish(): void {
    if (this.roll(this.disk.rates.vanishRate)) this.disk.vanish();
  }

  /** Lands one extent's pages, possibly misdirected, possibly with a latent error. */
  private land(extent: DeviceExtent, buffer: Uint8Array, durable = false): void {
    const landPage = (page: number, state: PageState): void => (durable ? this.disk.landPageDurable(page, state) : this.disk.landPage(page, state));
    let startLb = extent.startLb;
    if (this.roll(this.disk.rates.misdirectRate)) {
      this.storage.counts.misdirectedWrites++;
      const distance = this.disk.rng.between(1, MISDIRECT_DISTANCE_LB_MAX) * (this.disk.rng.chance(0.5) ? -1 : 1);
      startLb = Math.min(Math.max(0, startLb + distance), this.disk.pageCount - extent.lengthLb);
      if (startLb === extent.startLb) startLb = extent.startLb > 0 ? extent.startLb - 1 : extent.startLb + 1;
      // The aimed-at pages keep their old bytes but no longer hold what the writer believes.
      for (let lb = 0; lb < extent.lengthLb; lb++) {
        const page = extent.startLb + lb;
        landPage(page, { data: this.disk.current(page)?.data, bad: 'stale' });
      }
    }
    for (let lb = 0; lb < extent.lengthLb; lb++) {
      const data = buffer.slice(lb * LB_BYTES, (lb + 1) * LB_BYTES);
      const latent = this.roll(this.disk.rates.latentErrorRate);
      if (latent) this.storage.counts.latentSectors++;
      const bad: BadKind | undefined = latent ? 'latent' : startLb !== extent.startLb ? 'foreign' : undefined;
      landPage(startLb + lb, bad ? { data, bad } : { data });
    }
  }

  private roll(probability: number): boolean {
    return this.disk.faultsEnabled && this.disk.rng.chance(probability);
  }
}
