// The on-device metadata journal: every change set the metadata store commits is written to
// the metadata region of every online device (a record in the journal ring) and flushed there
// before the operation that made it is acknowledged, and extents it frees are reused only
// after that. Change sets committed while a record is being written are batched into the next
// record (group commit: one write and one flush per device for many small puts). Puts go one
// step further (group_commit.ts): their store commits wait in a queue that the journal runs
// right before each record, so the puts ready by then share one SQLite transaction and one
// change set — the record. When the
// ring since the last checkpoint passes half full, or a change must reach a device that lacks
// the history (a device added, a device found behind at open), a checkpoint writes a snapshot
// of every journaled row to the other checkpoint slot instead.
//
// States: idle → writing a record | writing a checkpoint → idle. One write at a time, in
// sequence order, so records land in the ring in order and a checkpoint never races a record.
// A record's flush runs behind its write (the next record may be written meanwhile): a flush
// covers every write completed before it starts, and flushes run one after another, so a
// record is durable — and acknowledged — once the flush after its write completes, and every
// record before it is durable too. A device with Device.writeDurable (uring: RWF_DSYNC) takes
// the record as a durable write and is not flushed for it: the record is durable there when the
// write completes, and the records before it were written (durably) before it was issued.
//
// Invariants (assertInvariants):
//  1. durableSeq <= submittedSeq, and every pending change set has seq > durableSeq, in order.
//  2. The ring holds at most ringLb LB of records since the last durable checkpoint
//     (usedLb <= ringLb), so no record a recovery needs is ever overwritten.
//  3. headLb < ringLb.
//  4. A waiter is resolved only when a record or checkpoint covering its seq was flushed on
//     every device it was written to that did not fail meanwhile, and at least one.
//  5. While commits wait in the commit source's queue, a drain is scheduled or running (it
//     commits them before its next record or checkpoint).
import { LB_BYTES } from '../constants.js';
import type { Device } from '../devices/device.js';
import { DeviceFailedError, ElastripeError, NoSpaceError } from '../errors.js';
import type { Arena, ArenaBuffer } from '../kernels/arena.js';
import type { ChangeSet } from '../meta/meta_changes.js';
import type { MetaStore } from '../meta/meta_store.js';
import { encodeCheckpoint, encodeRecord, slotStartLb, type MetadataLayout } from '../meta/journal_format.js';
import type { ArrayDevices } from './array_devices.js';
import type { FlushCoalescer } from './flush_coalescer.js';
import { isHostFull, throwIfHostFull } from './write_path.js';

/** The journal's own arena buffer: records up to this size and checkpoint chunks use it, so
 *  the journal never waits for arena space held by puts that wait for the journal. */
export const JOURNAL_BUFFER_BYTES = 1024 * 1024;
/** Records written but not yet flushed at most: one flushing while the next is written. */
const RECORDS_UNFLUSHED_MAX = 2;

export interface JournalContext {
  arrayUuid: string;
  layout: MetadataLayout;
  arena: Arena;
  devices: ArrayDevices;
  store: MetaStore;
  /** Shares device flushes with the write path. */
  flusher: FlushCoalescer;
  /** A device failed a journal write or flush: the array marks it failed. */
  onDeviceError: (deviceId: number, error: Error) => void;
}

/** Where the journal stands on the devices (from recovery at open, or fresh at create). */
export interface JournalPosition {
  /** Number of the newest durable checkpoint (0: none yet). */
  checkpointNumber: number;
  /** Ring LB (relative to the ring) where the next record goes. */
  headLb: number;
  /** Ring LBs used by records since the newest durable checkpoint. */
  usedLb: number;
  /** Newest change set durable on the devices. */
  durableSeq: number;
}

/** Commits waiting for the next record (group_commit.ts): run synchronously, they submit change sets. */
export interface CommitSource {
  readonly queuedCount: number;
  commitQueued(): void;
}

interface Waiter {
  seq: number;
  resolve: () => void;
  reject: (error: Error) => void;
}

export class MetadataJournal {
  private readonly pending: ChangeSet[] = [];
  private readonly waiters: Waiter[] = [];
  /** Callers of checkpoint(): resolved by the next checkpoint that completes. */
  private checkpointWaiters: Waiter[] = [];
  private submittedSeq: number;
  private checkpointWanted = false;
  private draining: Promise<void> | undefined;
  /** The flushes of written records, chained in order (never rejects: failures go to fail()). */
  private flushing: Promise<void> = Promise.resolve();
  private unflushedRecords = 0;
  /** Bumped by fail(): flushes of records written before a failure acknowledge nothing. */
  private failures = 0;
  private buffer: ArenaBuffer | undefined;
  private commitSource: CommitSource | undefined;
  recordsWritten = 0;
  checkpointsWritten = 0;

  /**
   * `committedSeq` is the store's newest change set; when it is ahead of what the devices hold
   * (the process stopped between a commit and its record), the first write is a checkpoint.
   */
  constructor(
    private readonly context: JournalContext,
    private position: JournalPosition,
    committedSeq: number = position.durableSeq,
  ) {
    if (committedSeq < position.durableSeq) throw new Error(`metadata journal: store at ${committedSeq} behind the devices at ${position.durableSeq}`);
    this.submittedSeq = committedSeq;
    this.checkpointWanted = committedSeq > position.durableSeq;
  }

  get durableSeq(): number {
    return this.position.durableSeq;
  }

  /** Where the puts' commits wait for the next record (see group_commit.ts). */
  setCommitSource(source: CommitSource): void {
    this.commitSource = source;
  }

  /** A commit was queued: the next drain commits it and writes its record. */
  requestRecord(): void {
    this.kick();
  }

  /** Called by the store right after each commit, in order. */
  submit(set: ChangeSet): void {
    if (set.seq !== this.submittedSeq + 1) throw new Error(`metadata journal: change set ${set.seq} after ${this.submittedSeq}`);
    this.submittedSeq = set.seq;
    this.pending.push(set);
    this.kick();
  }

  /** Resolves once every change set up to `seq` (default: all committed so far) is durable on the devices. */
  durable(seq: number = this.submittedSeq): Promise<void> {
    if (seq <= this.position.durableSeq) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.waiters.push({ seq, resolve, reject });
      this.kick();
    });
  }

  /** Writes a checkpoint of everything committed so far (a device joined, or devices disagree). */
  checkpoint(): Promise<void> {
    this.checkpointWanted = true;
    const done = new Promise<void>((resolve, reject) => this.checkpointWaiters.push({ seq: this.submittedSeq, resolve, reject }));
    this.kick();
    return done;
  }

  /** Waits until nothing is pending, then gives the journal's buffer back to the arena. */
  async close(): Promise<void> {
    while (this.draining) await this.draining.catch(() => undefined);
    await this.flushing;
    if (this.buffer) this.context.arena.free(this.buffer);
    this.buffer = undefined;
  }

  /** Throws if an invariant at the top of this file is broken. */
  assertInvariants(): void {
    const { durableSeq, usedLb, headLb } = this.position;
    const check = (ok: boolean, what: string) => {
      if (!ok) throw new Error(`metadata journal invariant broken: ${what}`);
    };
    check(durableSeq <= this.submittedSeq, `durable ${durableSeq} > submitted ${this.submittedSeq}`);
    this.pending.forEach((set, i) => check(set.seq > durableSeq && (i === 0 || set.seq === this.pending[i - 1]!.seq + 1), `pending change set ${set.seq} out of order`));
    check(usedLb <= this.context.layout.ringLb, `ring used ${usedLb} > ${this.context.layout.ringLb}`);
    check(headLb >= 0 && headLb < this.context.layout.ringLb, `ring head ${headLb} outside the ring`);
    check(this.queuedCommits() === 0 || this.draining !== undefined, 'commits queued with no drain to write them');
  }

  private queuedCommits(): number {
    return this.commitSource?.queuedCount ?? 0;
  }

  /** Runs the queued commits (their change sets join `pending`); a failed one fails only its puts. */
  private commitQueued(): void {
    if (this.queuedCommits() > 0) this.commitSource!.commitQueued();
  }

  private kick(): void {
    if (this.draining) return;
    // Let every commit of this tick join the record (group commit).
    this.draining = new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.drain()).finally(() => {
      this.draining = undefined;
      // After a failure only new work tries again (a dead array must not spin); waiters for a
      // record whose flush is running are settled by that flush.
      if (this.pending.length > 0 || this.queuedCommits() > 0 || this.checkpointWaiters.length > 0 || (this.checkpointWanted && this.waiters.length > 0)) this.kick();
    });
  }

  private async drain(): Promise<void> {
    while (this.pending.length > 0 || this.checkpointWanted || this.queuedCommits() > 0) {
      try {
        if (this.checkpointWanted) {
          // Puts ready now commit first, so the checkpoint covers them.
          this.commitQueued();
          await this.writeCheckpoint();
        } else {
          await this.writeRecord();
        }
      } catch (error) {
        this.fail(error as Error);
        return;
      }
      this.settle();
    }
    this.settle();
  }

  /**
   * The devices may hold a torn record now: whatever comes next starts from a checkpoint (which
   * covers the change sets dropped here). Everyone waiting learns of the failure.
   */
  private fail(error: Error): void {
    this.failures++;
    this.checkpointWanted = true;
    this.pending.length = 0;
    for (const waiter of [...this.waiters.splice(0), ...this.checkpointWaiters.splice(0)]) waiter.reject(error);
  }

  /** Resolves every waiter whose change sets are durable. */
  private settle(): void {
    for (let i = this.waiters.length - 1; i >= 0; i--) {
      const waiter = this.waiters[i]!;
      if (waiter.seq > this.position.durableSeq) continue;
      this.waiters.splice(i, 1);
      waiter.resolve();
    }
  }

  private async writeRecord(): Promise<void> {
    if (this.unflushedRecords >= RECORDS_UNFLUSHED_MAX) await this.flushing;
    // The puts ready by now (also those that became ready while the flushes ran) commit in one
    // transaction, whose change set joins this record.
    this.commitQueued();
    // A flush that failed meanwhile emptied the pending list (its waiters learnt why): the next
    // write is a checkpoint.
    if (this.pending.length === 0) return;
    const sets = this.pending.splice(0, this.pending.length);
    const bytes = encodeRecord(this.context.arrayUuid, sets, this.position.checkpointNumber);
    const lengthLb = bytes.byteLength / LB_BYTES;
    const { ringLb } = this.context.layout;
    const atLb = this.position.headLb + lengthLb <= ringLb ? this.position.headLb : 0;
    const usedLb = this.position.usedLb + (atLb === 0 && this.position.headLb !== 0 ? ringLb - this.position.headLb : 0) + lengthLb;
    if (usedLb > ringLb || bytes.byteLength > JOURNAL_BUFFER_BYTES) {
      // No room before the checkpoint's ring head: a checkpoint covers these change sets instead.
      this.pending.unshift(...sets);
      await this.writeCheckpoint();
      return;
    }
    // A record goes out durably (Device.writeDurable) where the device can, and needs no
    // flush there; the devices that cannot are flushed behind the write, and puts whose data
    // writes complete meanwhile share that flush (flush_coalescer.ts).
    const online = this.onlineTargets();
    const release = online.some((target) => !target.device.writeDurable) ? this.context.flusher.hold() : () => undefined;
    let targets: { deviceId: number; device: Device }[];
    try {
      targets = await this.writeTo([{ startLb: this.context.layout.regionStartLb + atLb, bytes }], { durable: true, targets: online });
    } catch (error) {
      release();
      throw error;
    }
    this.recordsWritten++;
    this.position = { ...this.position, headLb: (atLb + lengthLb) % ringLb, usedLb };
    if (usedLb * 2 > ringLb) this.checkpointWanted = true;
    const lastSeq = sets[sets.length - 1]!.seq;
    const failures = this.failures;
    this.unflushedRecords++;
    this.flushing = this.flushing
      .then(async () => {
        if (failures !== this.failures) return;
        // The record's flush requests are made synchronously here; held data flushes join them.
        // Devices that wrote it durably need none.
        const flushed = this.flushAll(targets, { skipDurable: true });
        release();
        await flushed;
        this.position = { ...this.position, durableSeq: Math.max(this.position.durableSeq, lastSeq) };
        this.settle();
      })
      .catch((error: unknown) => this.fail(error as Error))
      .finally(() => {
        release(); // also when a failure meanwhile skipped the flush
        this.unflushedRecords--;
      });
  }

  private async writeCheckpoint(): Promise<void> {
    const waiting = this.checkpointWaiters.splice(0);
    try {
      await this.writeCheckpointNow();
    } catch (error) {
      this.checkpointWaiters.unshift(...waiting);
      throw error;
    }
    for (const waiter of waiting) waiter.resolve();
  }

  private async writeCheckpointNow(): Promise<void> {
    // Records in flight settle first: the checkpoint's ring head is where the next one goes.
    await this.flushing;
    const rows = this.context.store.snapshot();
    const checkpointNumber = this.position.checkpointNumber + 1;
    const bytes = encodeCheckpoint(this.context.arrayUuid, rows, checkpointNumber, this.position.headLb, Date.now());
    const { layout } = this.context;
    if (bytes.byteLength > layout.slotLb * LB_BYTES) {
      throw new NoSpaceError(
        `the metadata region is full: a checkpoint of ${bytes.byteLength} bytes does not fit the ${layout.slotLb * LB_BYTES}-byte slot (create the array on larger devices, or with a larger metadata region)`,
      );
    }
    const startLb = slotStartLb(layout, (checkpointNumber % 2) as 0 | 1);
    const pieces: { startLb: number; bytes: Buffer }[] = [];
    for (let offset = 0; offset < bytes.byteLength; offset += JOURNAL_BUFFER_BYTES) {
      pieces.push({ startLb: startLb + offset / LB_BYTES, bytes: bytes.subarray(offset, offset + JOURNAL_BUFFER_BYTES) });
    }
    await this.flushAll(await this.writeTo(pieces));
    this.checkpointsWritten++;
    // Records from here on are read after this checkpoint; the pending ones it covers are done.
    while (this.pending.length > 0 && this.pending[0]!.seq <= rows.seq) this.pending.shift();
    this.position = { checkpointNumber, headLb: this.position.headLb, usedLb: 0, durableSeq: Math.max(this.position.durableSeq, rows.seq) };
    this.checkpointWanted = false;
  }

  /**
   * Writes the pieces (in order, through the journal's buffer) to every online device and
   * returns the devices that took them all. A device that fails is reported and dropped from
   * this write; the write stands if at least one device took it.
   */
  private async writeTo(
    pieces: readonly { startLb: number; bytes: Uint8Array }[],
    options: { durable?: boolean; targets?: { deviceId: number; device: Device }[] } = {},
  ): Promise<{ deviceId: number; device: Device }[]> {
    let targets = options.targets ?? this.onlineTargets();
    if (targets.length === 0) throw new DeviceFailedError('the array', 'no device is online to hold the metadata');
    const buffer = (this.buffer ??= this.context.arena.alloc(JOURNAL_BUFFER_BYTES));
    for (const piece of pieces) {
      const view = buffer.bytes.subarray(0, piece.bytes.byteLength);
      view.set(piece.bytes);
      const range = [{ startLb: piece.startLb, lengthLb: piece.bytes.byteLength / LB_BYTES }];
      targets = await this.onEach(targets, (device) => (options.durable && device.writeDurable ? device.writeDurable(range, [view]) : device.write(range, [view])));
    }
    return targets;
  }

  private onlineTargets(): { deviceId: number; device: Device }[] {
    return this.context.devices.online().map((entry) => ({ deviceId: entry.row.deviceId, device: entry.device! }));
  }

  /**
   * Flushes the devices a write went to (those still online); at least one must take it. With
   * skipDurable, devices that wrote it durably (writeDurable) are not flushed.
   */
  private async flushAll(targets: { deviceId: number; device: Device }[], options: { skipDurable?: boolean } = {}): Promise<void> {
    const online = new Set(this.context.devices.online().map((entry) => entry.device));
    const still = targets.filter((target) => online.has(target.device));
    if (still.length === 0) throw new DeviceFailedError('the array', 'no device that took the metadata is still online');
    const toFlush = options.skipDurable ? still.filter((target) => !target.device.writeDurable) : still;
    if (toFlush.length === 0) return;
    // Through the array's flush coalescer: a record's flush may share one with the data
    // flushes of the puts behind it (each only needs a flush that started after its write).
    await this.onEach(toFlush, (device) => this.context.flusher.flush(device));
  }

  private async onEach(targets: { deviceId: number; device: Device }[], work: (device: Device) => Promise<void>): Promise<{ deviceId: number; device: Device }[]> {
    const results = await Promise.allSettled(targets.map((target) => work(target.device)));
    const survivors = targets.filter((_, i) => results[i]!.status === 'fulfilled');
    let hostFull: unknown;
    results.forEach((result, i) => {
      if (result.status === 'fulfilled') return;
      // ENOSPC from an image file's full host filesystem is no device failure (as for data
      // writes): the device keeps its place and the change fails with NO_SPACE below.
      if (isHostFull(result.reason)) hostFull ??= result.reason;
      else this.context.onDeviceError(targets[i]!.deviceId, result.reason as Error);
    });
    // The record is torn on that device: the write fails (fail() then wants a checkpoint, which
    // brings every device up to date once space is freed).
    if (hostFull !== undefined) throwIfHostFull(hostFull);
    if (survivors.length === 0) {
      const first = results.find((result) => result.status === 'rejected') as PromiseRejectedResult;
      throw first.reason instanceof ElastripeError ? first.reason : new DeviceFailedError('the array', `no device took the metadata: ${String(first.reason)}`);
    }
    return survivors;
  }
}
