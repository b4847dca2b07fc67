// The deterministic whole-system simulator (after TigerBeetle's VOPR): a real DiskArray on
// simulated disks (sim_device.ts), driven by seeded steps of concurrent operations with
// faults and power losses injected, checked after every step against a model and oracles
// that do not trust the array's own accounting (sim_oracle.ts).
//
// Determinism: the array runs with no worker threads (every kernel inline) on simulated disks
// whose completion order comes from seeded setImmediate hops, SQLite is synchronous, and UUIDs
// and the clock are seeded (sim_determinism.ts), so the same steps replay the same interleaving
// (the report's fingerprint proves it). Each step reseeds every disk's stream from the step's
// seed, so a step behaves the same with or without the steps around it as far as its own
// randomness goes (what shrinking needs).
//
// A step: faults first (rot, latent errors, disks vanishing or returning, within the budget),
// then its operations start together; in-I/O faults are on for the disks of the fault atlas;
// a power loss may fire at its n-th request completion. Power loss = at that instant, copy the
// home's SQLite files (every commit is synchronous and fsync'd, so they are its durable state,
// as SQLite's own crash tests copy the database), make every disk drop, tear or reorder its
// unflushed writes and kill its handles, and end the process (it can open nothing more). The
// abandoned array then fails fast and is closed, and the array comes back (RecoveryMode) from
// that home, from an old copy of the home (open rolls it forward from the devices), or by
// import from the devices alone.
//
// Fault budget: at most parityCount disks are "afflicted" (down, gone, or holding a damaged
// block or reserved page) at once — TigerBeetle's fault atlas at disk granularity: faults land
// only on afflicted disks plus chosen ones up to that count, so every group keeps enough blocks
// and every failure the checker sees is the array's.
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DiskArray } from '../../src/array/disk_array.js';
import { ElastripeError } from '../../src/errors.js';
import type { RuntimeOptions } from '../../src/array/types.js';
import { SimClock } from './sim_clock.js';
import { SimStorage, type SimFaultCounts } from './sim_device.js';
import { ratesFor, type RecoveryMode, type SimConfig, type SimFailure, type SimReport } from './sim_config.js';
import { matchVersion, SimModel, statesAfterStep, describeMismatch, type FileState, type Version } from './sim_model.js';
import { checkDisks, ParityCache, spaceProblems, takeSnapshot, unexpectedFsckProblems, type LayoutSnapshot } from './sim_oracle.js';
import { opCount, type SimFault, type SimStep } from './sim_ops.js';
import { budgetAllows, planOp, type DevicePromise, type Outcome, type PlanContext, type PlannedOp, type StepFacts } from './sim_plan.js';
import { mixSeed, SimRng } from './sim_rng.js';
import { beginDeterministicRun, cryptoMockInstalled } from './sim_determinism.js';
// Modules the array loads on first use (disk_array.ts: create, import, the jobs), loaded here
// up front: a cold load takes real I/O, during which a varying number of the simulation's
// event-loop turns pass, so the first run in a process interleaved differently from a replay.
import '../../src/array/array_create.js';
import '../../src/array/import_array.js';
import '../../src/array/expand_job.js';
import '../../src/array/device_jobs.js';
import '../../src/array/resync_job.js';
import '../../src/array/restripe_job.js';
import '../../src/array/scrub_job.js';

/** A copy of the home is kept every this many checks (an old home restored after a power loss). */
const HOME_SNAPSHOT_EVERY_CHECKS = 12;
const HOME_SNAPSHOTS_KEPT = 3;

/** Event-loop turns the checker waits for the journal to catch up before calling it stuck. */
const QUIET_HOPS_MAX = 100_000;
/** A step that has not settled after this long (wall clock) is reported as a hang. */
const STEP_HANG_MS = 60_000;

class SimFailureError extends Error {
  constructor(readonly failure: Omit<SimFailure, 'stepIndex'>) {
    super(`${failure.kind}: ${failure.message}`);
  }
}

function fail(kind: string, message: string): never {
  throw new SimFailureError({ kind, message });
}

export class Simulation {
  readonly storage: SimStorage;
  readonly model = new SimModel();
  readonly report: SimReport;
  /** Homes live on tmpfs where there is one: SQLite's fsyncs cost nothing there (no real disk is simulated). */
  private readonly root = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'elastripe-sim-'));
  /** Runtime options without openDevice: each simulated process gets its own (processRuntime). */
  private readonly runtime: RuntimeOptions;
  private readonly parity = new ParityCache();
  private home = '';
  private homeCount = 0;
  private array!: DiskArray;
  /** Arrays opened during the current step (a power loss abandons all of them). */
  private stepArrays: DiskArray[] = [];
  private crashHome: string | undefined;
  /** Every operation's kind and outcome, in order (for the fingerprint). */
  private readonly outcomeLog: string[] = [];
  /** Copies of the home taken at quiet moments, oldest first. */
  private homeSnapshots: string[] = [];
  /** How the last power loss was recovered from (the model's rules depend on it). */
  private recovery: RecoveryMode | undefined;
  private afflicted = new Set<string>();
  private snapshot!: LayoutSnapshot;
  private diskCount = 0;
  private readonly startMs = performance.now();

  constructor(readonly config: SimConfig) {
    this.storage = new SimStorage(new SimClock(config.clockRequestUs, config.clockHopUs));
    // Jobs back off for puts and gets as they do by default, resting by the disks' virtual clock
    // (sim_clock.ts), not the wall clock, so the interleaving is the seed's.
    this.runtime = { workerCount: 0, arenaBytes: config.arenaBytes, scan: false, jobBackoff: config.jobBackoff ?? true, jobClock: this.storage.clock };
    this.report = {
      seed: config.seed,
      config,
      steps: 0,
      ops: 0,
      opsByKind: {},
      skippedByKind: {},
      errorsByCode: {},
      errorExamples: {},
      fingerprint: '',
      powerLosses: 0,
      recoveries: { home: 0, 'stale-home': 0, import: 0 },
      reopens: 0,
      faults: this.storage.counts,
      checks: 0,
      acknowledgedPuts: 0,
      acknowledgedBytes: 0,
      elapsedMs: 0,
      jobRests: 0,
      jobRestMs: 0,
      timeMs: {},
    };
  }

  /** Runs the steps, stopping at the first failure (recorded in the report). */
  async run(steps: readonly SimStep[], onProgress?: (stepIndex: number) => void): Promise<SimReport> {
    let index = -1;
    const endDeterministicRun = beginDeterministicRun(this.config.seed);
    if (!cryptoMockInstalled) console.warn('simulator: node:crypto is not mocked (see sim_determinism.ts): runs will not replay exactly');
    // A promise the array let reject unobserved ends a real Node process: a failure of the step
    // it happened in (the event fires at the end of the tick, long before the step's checks end).
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      await this.start();
      await this.check();
      for (index = 0; index < steps.length; index++) {
        await this.timed('steps', () => this.runStep(steps[index]!));
        await this.check();
        if (unhandled.length > 0) fail('unhandled-rejection', `a promise rejected with nobody to handle it: ${(unhandled[0] as Error)?.stack ?? String(unhandled[0])}`);
        onProgress?.(index);
      }
    } catch (error) {
      const failure = error instanceof SimFailureError ? error.failure : { kind: 'crash-of-simulator', message: (error as Error)?.stack ?? String(error) };
      this.report.failure = { stepIndex: index, ...failure };
    } finally {
      process.off('unhandledRejection', onUnhandled);
      this.report.elapsedMs = performance.now() - this.startMs;
      this.report.jobRests = this.storage.clock.sleeps;
      this.report.jobRestMs = this.storage.clock.sleptMs;
      await this.cleanUp();
      endDeterministicRun();
    }
    return this.report;
  }

  private async start(): Promise<void> {
    const devices = this.config.deviceMib.map((mib) => this.createDisk(mib));
    this.home = this.newHome();
    this.array = await DiskArray.create({
      ...this.processRuntime(),
      home: this.home,
      devices,
      parityCount: this.config.parityCount,
      maxDataWidth: this.config.maxDataWidth,
      extentLbMax: this.config.extentLbMax,
    });
  }

  /** Runtime options for a new simulated process: it dies (can open nothing) at the next power loss. */
  private processRuntime(): RuntimeOptions {
    return { ...this.runtime, openDevice: this.storage.processOpener() };
  }

  private createDisk(mib: number): string {
    const path = `sim://dev${this.diskCount++}`;
    this.storage.createDisk(path, mib * 1024 * 1024, ratesFor(this.config.seed, path), mixSeed(this.config.seed, path));
    return path;
  }

  private newHome(): string {
    const home = join(this.root, `home-${this.homeCount++}`);
    mkdirSync(home);
    return home;
  }

  /** Request completions and a digest of outcomes and disk contents (what an exact replay repeats). */
  private fingerprint(): string {
    const hash = createHash('sha256').update(this.outcomeLog.join('\n'));
    for (const [path, disk] of this.storage.disks) hash.update(`${path}:${disk.contentDigest()}`);
    return `${this.storage.ioEvents} requests, ${hash.digest('hex').slice(0, 16)}`;
  }

  private async cleanUp(): Promise<void> {
    this.report.fingerprint = this.fingerprint();
    this.storage.disarmCrash();
    this.storage.setFaulty(undefined);
    await Promise.race([this.array?.close().catch(() => undefined), new Promise((resolve) => setTimeout(resolve, 5000).unref())]);
    rmSync(this.root, { recursive: true, force: true });
  }

  /** Runs `work`, adding its duration to report.timeMs[what]. */
  private async timed<T>(what: string, work: () => Promise<T> | T): Promise<T> {
    const start = performance.now();
    try {
      return await work();
    } finally {
      this.report.timeMs[what] = (this.report.timeMs[what] ?? 0) + performance.now() - start;
    }
  }

  // --- one step ---

  private async runStep(step: SimStep): Promise<void> {
    this.report.steps++;
    if (process.env.ELASTRIPE_SIM_TRACE) console.log(`step ${this.report.steps - 1}: ${JSON.stringify(step)}`);
    for (const [path, disk] of this.storage.disks) disk.rng = new SimRng(mixSeed(step.seed, path));
    const countsBefore = { ...this.storage.counts };
    for (const fault of step.faults) this.applyFault(fault, new SimRng(mixSeed(step.seed, `fault ${fault.kind}`)));
    const context = this.planContext(step);
    const planned = step.ops.map((op, i) => {
      context.opIndex = i;
      return planOp(context, op);
    });
    if (step.ioFaults) this.storage.setFaulty(this.atlas(new SimRng(mixSeed(step.seed, 'atlas'))));
    this.stepArrays = [this.array];
    this.crashHome = undefined;
    this.recovery = undefined;
    if (step.crashAt !== undefined) this.storage.armCrash(step.crashAt, () => this.powerLoss(step));
    const outcomes = await this.runConcurrently(planned);
    this.storage.setFaulty(undefined);
    if (this.storage.crashArmed) {
      this.storage.disarmCrash();
      this.powerLoss(step);
    }
    if (this.crashHome !== undefined) await this.recover(new SimRng(mixSeed(step.seed, 'recovery')));
    const facts = this.facts(planned, countsBefore, step);
    this.judge(planned, outcomes, facts);
    this.applyToModel(planned, outcomes, context);
  }

  private planContext(step: SimStep): PlanContext {
    return {
      array: () => this.array,
      model: this.model,
      storage: this.storage,
      snapshot: this.snapshot,
      parityCount: this.config.parityCount,
      storedBytesMax: this.config.storedBytesMax,
      afflicted: this.afflicted,
      visible: new Map(),
      syncOps: [],
      opIndex: 0,
      rng: new SimRng(mixSeed(step.seed, 'plan')),
      reopen: () => this.reopen(),
      newDiskPath: () => `sim://dev${this.diskCount++}`,
      ratesFor: (path) => ratesFor(this.config.seed, path),
      diskSeedFor: (path) => mixSeed(this.config.seed, path),
    };
  }

  /** Starts every planned operation in order (same tick) and waits for all to settle. */
  private async runConcurrently(planned: PlannedOp[]): Promise<Outcome[]> {
    const outcomes: Outcome[] = planned.map(() => ({ ok: false, afterCrash: false }));
    const settled = planned.map((plan, i) => {
      const record = outcomes[i]!;
      if (plan.skipped) {
        record.ok = true;
        return Promise.resolve();
      }
      let promise: Promise<unknown>;
      try {
        promise = plan.start();
      } catch (error) {
        promise = Promise.reject(error);
      }
      return promise.then(
        (value) => Object.assign(record, { ok: true, value, afterCrash: this.crashHome !== undefined }),
        (error: unknown) => Object.assign(record, { ok: false, error, afterCrash: this.crashHome !== undefined }),
      );
    });
    let timer: NodeJS.Timeout | undefined;
    const hang = new Promise<'hang'>((resolve) => (timer = setTimeout(() => resolve('hang'), STEP_HANG_MS)));
    const result = await Promise.race([Promise.all(settled), hang]);
    clearTimeout(timer);
    if (result === 'hang') {
      const pending = planned.filter((_, i) => !outcomes[i]!.ok && outcomes[i]!.error === undefined).map((plan) => plan.op.kind);
      fail('hang', `operations did not settle within ${STEP_HANG_MS} ms: ${pending.join(', ')}`);
    }
    return outcomes;
  }

  private facts(planned: PlannedOp[], countsBefore: SimFaultCounts, step: SimStep): StepFacts {
    const counts = this.storage.counts;
    const injected = (Object.keys(counts) as (keyof SimFaultCounts)[]).some(
      (key) => key !== 'powerLosses' && key !== 'droppedPageWrites' && key !== 'appliedPageWrites' && counts[key] !== countsBefore[key],
    );
    const disturbed = injected || planned.some((plan) => plan.disturbs && !plan.skipped) || step.faults.length > 0;
    const online = [...this.snapshot.devices.values()].filter((device) => device.online);
    const lowSpace =
      online.length < this.config.parityCount + 3 ||
      online.some((device) => device.usedLb > 0.7 * (device.dataEndLb - device.dataStartLb)) ||
      this.snapshot.devices.size !== online.length;
    return { disturbed, lowSpace };
  }

  /** Device changes acknowledged in the last step, checked by the next check. */
  private devicePromises: { promise: DevicePromise; by: string }[] = [];

  private judge(planned: PlannedOp[], outcomes: Outcome[], facts: StepFacts): void {
    planned.forEach((plan, i) => {
      const kind = plan.op.kind;
      if (plan.skipped) {
        this.report.skippedByKind[kind] = (this.report.skippedByKind[kind] ?? 0) + 1;
        return;
      }
      this.report.ops++;
      this.report.opsByKind[kind] = (this.report.opsByKind[kind] ?? 0) + 1;
      const outcome = outcomes[i]!;
      this.outcomeLog.push(`${kind} ${outcome.ok ? 'ok' : ((outcome.error as { code?: string })?.code ?? 'untyped')}${outcome.afterCrash ? ' after power loss' : ''}`);
      if (!outcome.ok) {
        const code = (outcome.error as { code?: string })?.code ?? 'untyped';
        const key = outcome.afterCrash ? `${code} (after power loss)` : code;
        this.report.errorsByCode[key] = (this.report.errorsByCode[key] ?? 0) + 1;
        // An untyped error is a bug in itself (even after a power loss): keep where it came from.
        const where = code === 'untyped' ? ` ${((outcome.error as Error)?.stack ?? '').split('\n').slice(1, 5).join(' |')}` : '';
        this.report.errorExamples[key] ??= `${kind}: ${(outcome.error as Error)?.message ?? String(outcome.error)}${where}`;
      }
      const problem = plan.judge(outcome, facts);
      if (problem) fail('op', `${kind} ${JSON.stringify(plan.op)}: ${problem}`);
      // Every error elastripe raises is typed (STYLE.md), also while its devices die under it.
      if (!outcome.ok && !(outcome.error instanceof ElastripeError)) {
        fail('untyped', `${kind} ${JSON.stringify(plan.op)} failed with an untyped error${outcome.afterCrash ? ' (after a power loss)' : ''}: ${this.report.errorExamples[`untyped${outcome.afterCrash ? ' (after power loss)' : ''}`]}`);
      }
      if (outcome.ok && !outcome.afterCrash && plan.put) {
        this.report.acknowledgedPuts++;
        this.report.acknowledgedBytes += plan.put.version.bytes.length;
      }
      if (outcome.ok && !outcome.afterCrash && plan.promises) {
        for (const promise of plan.promises(outcome.value)) this.devicePromises.push({ promise, by: kind });
      }
    });
  }

  /**
   * The states each touched name may be in now. After a power loss, a put that settled later
   * (either way) may or may not have committed. When the state came back from the devices
   * (stale home, import), their journal holds a gap-free prefix of the change sets that at
   * least reaches the last acknowledged one: the step's deletes and renames (committed when
   * called, before any put) count only up to the last acknowledged one, or all of them once a
   * put was acknowledged.
   */
  private applyToModel(planned: PlannedOp[], outcomes: Outcome[], context: PlanContext): void {
    const acked = (i: number) => outcomes[i]!.ok && !outcomes[i]!.afterCrash;
    let certainSyncOps = context.syncOps.length;
    if (this.recovery === 'stale-home' || this.recovery === 'import') {
      const putAcked = planned.some((plan, i) => plan.put && !plan.skipped && acked(i));
      if (!putAcked) certainSyncOps = context.syncOps.reduce((last, sync, t) => (acked(sync.opIndex) ? t + 1 : last), 0);
    }
    const names = new Set([...context.visible.keys(), ...planned.flatMap((plan) => (plan.put ? [plan.put.name] : []))]);
    for (const name of names) {
      const acknowledged: Version[] = [];
      const uncertain: Version[] = [];
      planned.forEach((plan, i) => {
        if (plan.put?.name !== name || plan.skipped) return;
        if (outcomes[i]!.afterCrash) uncertain.push(plan.put.version);
        else if (outcomes[i]!.ok) acknowledged.push(plan.put.version);
      });
      const afterDeletes = new Set<FileState>();
      for (let cut = certainSyncOps; cut <= context.syncOps.length; cut++) {
        for (const state of this.stateAfterSyncOps(context, cut, name)) afterDeletes.add(state);
      }
      this.model.set(name, statesAfterStep({ afterDeletes, acknowledged, uncertain }));
    }
  }

  /** A name's states once the step's first `cut` synchronous changes are applied. */
  private stateAfterSyncOps(context: PlanContext, cut: number, name: string): ReadonlySet<FileState> {
    for (let t = cut - 1; t >= 0; t--) {
      const states = context.syncOps[t]!.after.get(name);
      if (states) return states;
    }
    return this.model.possible(name);
  }

  // --- faults and the budget ---

  private applyFault(fault: SimFault, rng: SimRng): void {
    const devices = [...this.snapshot.devices.values()].filter((device) => device.online && this.storage.disk(device.path).present);
    if (fault.kind === 'return') {
      const gone = [...this.storage.disks.values()].filter((disk) => !disk.present);
      if (gone.length > 0) gone[Math.floor(fault.pick * gone.length)]!.returnDisk();
      return;
    }
    const eligible = devices.filter((device) => budgetAllows({ afflicted: this.afflicted, parityCount: this.config.parityCount }, device.path));
    if (eligible.length === 0) return;
    const target = eligible[Math.floor(fault.pick * eligible.length)]!;
    const disk = this.storage.disk(target.path);
    if (fault.kind === 'vanish') {
      if (devices.length < this.config.parityCount + 3) return;
      disk.vanish();
      this.afflicted.add(target.path);
      return;
    }
    const page = fault.superblock ? (fault.pagePick < 0.5 ? 0 : disk.pageCount - 1) : this.committedPage(target.deviceId, fault.pagePick);
    if (page === undefined) return;
    if (fault.latent ? disk.makeLatent(page) : disk.rot(page, rng)) this.afflicted.add(target.path);
  }

  /** A page inside a committed extent of the device, chosen by a fraction. */
  private committedPage(deviceId: number, pick: number): number | undefined {
    const pages: [number, number][] = [];
    for (const file of this.snapshot.files.values()) {
      for (const group of file.groups) {
        for (const extent of group.extents) if (extent.deviceId === deviceId) pages.push([extent.startLb, extent.lengthLb]);
      }
    }
    if (pages.length === 0) return undefined;
    const [startLb, lengthLb] = pages[Math.floor(pick * pages.length)]!;
    return startLb + Math.floor(((pick * pages.length) % 1) * lengthLb);
  }

  /** Disks that may fail during the step: the afflicted ones plus others up to parityCount. */
  private atlas(rng: SimRng): Set<string> {
    const atlas = new Set(this.afflicted);
    const others = [...this.snapshot.devices.values()].filter((device) => device.online && !atlas.has(device.path));
    for (const device of rng.shuffle(others)) {
      if (atlas.size >= this.config.parityCount) break;
      atlas.add(device.path);
    }
    return atlas;
  }

  // --- power loss, reopen ---

  /** The instant of power loss (called synchronously from a request completion). */
  private powerLoss(step: SimStep): void {
    this.report.powerLosses++;
    this.crashHome = this.copyHome(this.home);
    this.storage.powerLoss(new SimRng(mixSeed(step.seed, 'power')));
  }

  /** After a power loss: close every abandoned array, then bring the array back (see RecoveryMode). */
  private async recover(rng: SimRng): Promise<void> {
    for (const array of this.stepArrays) {
      const closing = array.close().catch(() => undefined);
      const closed = await Promise.race([closing.then(() => true), new Promise<false>((resolve) => setTimeout(() => resolve(false), STEP_HANG_MS).unref())]);
      if (!closed) fail('hang', 'an array abandoned at a power loss did not close');
    }
    const mode = this.config.recovery ?? rng.weighted<RecoveryMode>({
      home: 2,
      'stale-home': this.homeSnapshots.length > 0 ? 1 : 0,
      import: 1,
    });
    this.recovery = mode;
    this.report.recoveries[mode]++;
    try {
      if (mode === 'home') {
        this.home = this.crashHome!;
        this.array = await DiskArray.open(this.home, this.processRuntime());
      } else if (mode === 'stale-home') {
        this.home = this.copyHome(rng.pick(this.homeSnapshots));
        this.array = await DiskArray.open(this.home, this.processRuntime());
      } else {
        this.home = this.newHome();
        // Import probes every simulated disk through the runtime's opener (import_array.ts).
        this.array = await DiskArray.import({ ...this.processRuntime(), home: this.home, scan: [...this.storage.disks.keys()] });
      }
    } catch (error) {
      fail('crash-reopen', `the array did not come back (${mode}) after a power loss: ${(error as Error).message}`);
    }
  }

  private copyHome(from: string): string {
    const home = this.newHome();
    for (const name of readdirSync(from)) copyFileSync(join(from, name), join(home, name));
    return home;
  }

  /** Keeps a copy of the (quiet) home now and then, for the stale-home recovery. */
  private snapshotHome(): void {
    if (this.report.checks % HOME_SNAPSHOT_EVERY_CHECKS !== 1) return;
    this.homeSnapshots.push(this.copyHome(this.home));
    if (this.homeSnapshots.length > HOME_SNAPSHOTS_KEPT) rmSync(this.homeSnapshots.shift()!, { recursive: true, force: true });
  }

  private async reopen(): Promise<void> {
    this.report.reopens++;
    await this.array.close();
    const array = await DiskArray.open(this.home, this.processRuntime());
    this.stepArrays.push(array);
    this.array = array;
  }

  // --- checks after every step ---

  private async check(): Promise<void> {
    this.report.checks++;
    for (const [path, disk] of this.storage.disks) disk.rng = new SimRng(mixSeed(this.report.checks, `check ${path}`));
    await this.timed('quiet', () => this.waitUntilQuiet());
    try {
      this.array.assertInvariants();
      this.storage.clock.assertInvariants();
    } catch (error) {
      fail('invariants', (error as Error).message);
    }
    // Quiet means no job is running, so none can be resting either.
    if (this.storage.clock.waiting > 0) fail('jobs', `the array is quiet but ${this.storage.clock.waiting} sleeps on the jobs' clock are pending`);
    const snapshot = takeSnapshot(this.array, this.storage);
    const space = spaceProblems(snapshot);
    if (space.length > 0) fail('space', `${space.join('\n')}\n${this.quietness()}`);
    const findings = await this.timed('disks', () => checkDisks(snapshot, this.storage, this.model, this.parity));
    if (findings.problems.length > 0) fail('disk', findings.problems.join('\n'));
    const fsck = await this.timed('fsck', () => this.array.fsck({ deep: true }));
    const unexpected = unexpectedFsckProblems(fsck.problems, snapshot, findings);
    if (unexpected.length > 0) fail('fsck', `${unexpected.join('\n')}\nfsck said:\n${fsck.problems.join('\n')}`);
    await this.timed('readback', () => this.readBack(snapshot));
    this.checkDevicePromises(snapshot);
    const running = snapshot.status.jobs.filter((job) => job.state === 'running');
    if (running.length > 0) fail('jobs', `the array is quiet but jobs are still 'running': ${running.map((job) => `#${job.jobId} ${job.kind}`).join(', ')}`);
    this.parity.sweep();
    if (findings.afflicted.size > this.config.parityCount) {
      fail('budget', `${findings.afflicted.size} disks are down or damaged (${[...findings.afflicted].join(', ')}), parity ${this.config.parityCount}`);
    }
    this.afflicted = findings.afflicted;
    this.snapshot = takeSnapshot(this.array, this.storage);
    this.snapshotHome();
    if (process.env.ELASTRIPE_SIM_TRACE) this.trace();
  }

  /**
   * Waits for work the array finishes in the background after a call returned (a failed job's
   * committed moves still being journaled, and the frees waiting for that; the resync an open
   * starts by itself for a device that came back while no process ran), through status():
   * quiet once every committed change set is durable on the devices and no job runs — and still
   * so a few turns later (a job an open started may not have its row yet).
   */
  private async waitUntilQuiet(): Promise<void> {
    const hop = () => new Promise<void>((resolve) => setImmediate(resolve));
    for (let hops = 0; hops < QUIET_HOPS_MAX; hops++) {
      if (this.quietNow()) {
        for (let i = 0; i < 3; i++) await hop();
        if (this.quietNow()) return;
      }
      await hop();
    }
    const { seq, durableSeq } = this.array.status().metadata;
    if (seq !== durableSeq) fail('journal', `change sets ${durableSeq + 1}..${seq} are committed but never became durable on the devices`);
    fail('jobs', `jobs still run after ${QUIET_HOPS_MAX} event-loop turns: ${this.array.status().jobs.filter((job) => job.state === 'running').map((job) => `#${job.jobId} ${job.kind}`).join(', ')}`);
  }

  /** Every committed change set durable on the devices, and no job running. */
  private quietNow(): boolean {
    const status = this.array.status();
    return status.metadata.seq === status.metadata.durableSeq && !status.jobs.some((job) => job.state === 'running');
  }

  /** One line per check: device states, files, afflicted disks (ELASTRIPE_SIM_TRACE=1). */
  private trace(): void {
    const status = this.snapshot.status;
    const devices = status.devices.map((device) => `#${device.deviceId}=${device.path.slice(6)}:${device.state}`).join(' ');
    console.log(`check ${this.report.checks}: ${devices} | files ${status.fileCount} | afflicted ${[...this.afflicted].map((path) => path.slice(6)).join(',')} | seq ${status.metadata.seq}`);
  }

  /** The array's private counters that say whether it is quiet (for failure reports only). */
  private quietness(): string {
    const internals = this.array as unknown as { writesInFlight?: number; freesAwaitingJournal?: number; epochs?: { pendingCount?: number }; journal?: { durableSeq?: number } };
    const devices = this.array.status().devices.map((device) => `#${device.deviceId} ${device.path} ${device.state}${device.reason ? ` (${device.reason})` : ''}`).join('; ');
    return `devices: ${devices}\narray internals: writesInFlight ${internals.writesInFlight}, freesAwaitingJournal ${internals.freesAwaitingJournal}, epochs pending ${internals.epochs?.pendingCount}, journal durableSeq ${internals.journal?.durableSeq}, journal ${JSON.stringify(internals.journal, (key, value) => (key === 'context' || key === 'buffer' ? undefined : value))}, store seq ${(this.array as unknown as { store: { seq: number } }).store.seq}`;
  }

  /** Acknowledged device changes hold: added devices are there, failed ones down, removed ones gone. */
  private checkDevicePromises(snapshot: LayoutSnapshot): void {
    for (const { promise, by } of this.devicePromises.splice(0)) {
      const device = snapshot.devices.get(promise.deviceId);
      const holds = promise.is === 'present' ? device !== undefined : promise.is === 'absent' ? device === undefined : !device?.online;
      if (!holds) fail('devices', `${by} was acknowledged, so device ${promise.deviceId} should be ${promise.is}, but status says ${device ? (device.online ? 'online' : 'down') : 'absent'}`);
    }
  }

  /** Reads every file and collapses the model to what is stored (which must be allowed). */
  private async readBack(snapshot: LayoutSnapshot): Promise<void> {
    const names = new Set([...this.model.names(), ...snapshot.files.keys()]);
    for (const name of names) {
      const possible = this.model.possible(name);
      if (!snapshot.files.has(name)) {
        if (!possible.has(null)) fail('model', `${name} is gone; ${describeMismatch(possible, new Uint8Array(0))}`);
        this.model.set(name, [null]);
        continue;
      }
      let bytes: Buffer;
      try {
        bytes = await this.array.get(name);
      } catch (error) {
        fail('model', `${name} cannot be read: ${(error as Error).message}`);
      }
      const version = matchVersion(possible, bytes);
      if (!version) fail('model', `${name} holds bytes of no allowed version: ${describeMismatch(possible, bytes)}`);
      this.model.set(name, [version satisfies FileState]);
    }
  }
}

/** Runs a list of steps on a fresh simulation. */
export async function runSteps(config: SimConfig, steps: readonly SimStep[], onProgress?: (stepIndex: number) => void): Promise<SimReport> {
  return new Simulation(config).run(steps, onProgress);
}

export { opCount };
export { configFor, type RecoveryMode, type SimConfig, type SimFailure, type SimReport } from './sim_config.js';
