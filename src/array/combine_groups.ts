// In-place combine (the patent's claim 10): after the array has grown, consecutive narrow
// groups of a file become fewer, wider groups without rewriting their data. A file's data
// blocks, in order, are one sequence of equal extents; a run of groups is cut anew into groups
// of today's width K. Data extents stay where they are — only a block whose device another
// block of its new group already uses (the distinct-devices rule) is copied to a device
// outside the group, the emptiest first (a device just added) — and the new parity is computed
// from the data blocks read, written to free extents, flushed, and committed with the new
// group rows in one metadata transaction (journaled to the devices like every change). Then
// the old parity, and the old places of copied blocks, are freed once no reader can see them.
// For equal devices a combine writes about parity + moved blocks, not the file.
//
// Theory statement (which layout a reader uses): a read looks its groups up in one tick and
// registers with the reader epochs; before the commit it sees the old groups, whose data
// extents are the very extents the new groups keep and whose parity is freed only after every
// such reader left; after the commit it sees the new groups. Both describe the same bytes.
// The kept extents' places outlive the old groups' rows, so the commit makes the new groups
// heirs of the old ones (ReaderEpochs.inherit): freeing a kept place later waits for the
// readers of the old groups too.
//
// Crash safety: copy-on-write. Until the commit nothing committed changed (new parity and
// copies live in extents the metadata does not reference: free after a reopen); the commit
// swaps old groups for new ones atomically, and kept extents are referenced by one or the
// other, never freed. A crash at any instant leaves the old groups or the new ones, no leak.
//
// Units of work: a run (consecutive groups of a file with the same extent length and parity,
// narrower than K, full except maybe the last) is cut into units whose block count is a
// multiple of K where possible (so 4 groups of 3 become 3 groups of 4), at most UNIT_BLOCKS_MAX
// blocks; a unit is combined only if it needs fewer groups than it has. Each unit is atomic on
// its own: an interrupted combine resumes with the units left (they are still narrow).
//
// Batches, as the movers (move_batch.ts): up to COMBINE_BATCH_UNITS_MAX units (of any files;
// fewer in a small job, so that every lane gets two batches) are built one after another — data read, parity encoded, parity and copies written — then
// every device written is flushed once and all the units commit in ONE metadata transaction
// (one SQLite commit, one journal change set), each in its own savepoint: a unit whose file
// changed meanwhile is left out (stale) and the others commit. UNITS_IN_FLIGHT batches run at
// once, so one batch's reads overlap another's writes and flush.
//
// Groups of different files are not combined: a group belongs to one file (its rows, its
// sequence, its deletion with the file), so a cross-file group would keep a deleted file's
// blocks alive as parity inputs and make every delete a rewrite. Tails stay narrow instead;
// they cost at most one short group per file.
import { LB_BYTES } from '../constants.js';
import { settleBatch } from '../devices/device_batch.js';
import { AbortedError, DeviceFailedError, ElastripeError, NoSpaceError } from '../errors.js';
import type { MetaStore } from '../meta/meta_store.js';
import type { ExtentRow, GroupWithExtents, NewExtent, NewGroup } from '../meta/rows.js';
import type { ArenaBuffer } from '../kernels/arena.js';
import { assertDistinct, type PlacementCandidate } from './placement.js';
import { readGroupBlocks, readRetrying } from './read_path.js';
import type { RestripeContext } from './restripe_group.js';
import type { ForegroundBackoff } from './foreground_backoff.js';
import { Throttle } from './throttle.js';
import { flushEachOnce } from './batch_flush.js';
import type { JobOptions } from './device_jobs.js';

/** Most data blocks one unit (one commit) covers: lcm(k, K) for k, K <= 8 is at most 56. */
export const UNIT_BLOCKS_MAX = 64;
/** Batches combined at once: one batch's reads overlap another's writes and flush. */
const UNITS_IN_FLIGHT = 3;
/** Units in one batch (one flush per device written and one metadata commit for all of them). */
export const COMBINE_BATCH_UNITS_MAX = 8;

export interface CombineContext extends RestripeContext {
  /** Registers a read of these groups (ReaderEpochs.enter); returns its end. */
  enterReader: (groupIds: readonly number[]) => () => void;
  /**
   * The new groups keep places of the old ones (ReaderEpochs.inherit): a later free of those
   * places must also wait for reads that looked up the old groups. Called in the commit's tick.
   */
  inheritReaders: (newGroupIds: readonly number[], oldGroupIds: readonly number[]) => void;
  /** Puts and gets in flight: a batch is admitted as the movers' are (foreground_backoff.ts). */
  backoff?: ForegroundBackoff;
}

export interface CombineReport {
  /** Old groups replaced, and the wider groups that replaced them. */
  combinedGroups: number;
  newGroups: number;
  /** Data blocks copied to another device because the distinct-devices rule forced it. */
  movedBlocks: number;
  readBytes: number;
  /** New parity plus copied blocks. */
  writtenBytes: number;
  /** File bytes now held by the new groups. */
  storedBytes: number;
  /** Parity bytes freed minus parity bytes written. */
  savedBytes: number;
  /** Batches committed, device flushes and metadata commits they cost (per batch, not per unit). */
  batches: number;
  flushes: number;
  commits: number;
  /** Times a batch waited for foreground puts and gets (foreground_backoff.ts). */
  foregroundYields: number;
  problems: string[];
}

/** One data block of a run, in file order. */
interface DataBlock {
  extent: ExtentRow;
  /** File bytes in this block (only a run's last block may hold less than an extent). */
  bytes: number;
}

/** Cuts a file's groups into units worth combining to groups of `targetDataCount` data blocks. */
export function planCombineUnits(groups: readonly GroupWithExtents[], targetDataCount: number, parityCount: number): GroupWithExtents[][] {
  const units: GroupWithExtents[][] = [];
  let run: GroupWithExtents[] = [];
  const closeRun = () => {
    units.push(...cutRun(run, targetDataCount));
    run = [];
  };
  for (const group of groups) {
    const fits = group.dataCount < targetDataCount && group.parityCount === parityCount;
    const previous = run.at(-1);
    const joins = fits && previous !== undefined && previous.extentLb === group.extentLb && isFull(previous);
    if (!joins) closeRun();
    if (fits) run.push(group);
  }
  closeRun();
  return units;
}

function isFull(group: GroupWithExtents): boolean {
  return group.lengthBytes === group.dataCount * group.extentLb * LB_BYTES;
}

/** Units of a run: block counts a multiple of K where possible; only units that save groups. */
function cutRun(run: readonly GroupWithExtents[], targetDataCount: number): GroupWithExtents[][] {
  const units: GroupWithExtents[][] = [];
  let unit: GroupWithExtents[] = [];
  let blocks = 0;
  const closeUnit = () => {
    if (unit.length > 1 && Math.ceil(blocks / targetDataCount) < unit.length) units.push(unit);
    unit = [];
    blocks = 0;
  };
  for (const group of run) {
    if (blocks + group.dataCount > UNIT_BLOCKS_MAX) closeUnit();
    unit.push(group);
    blocks += group.dataCount;
    if (blocks % targetDataCount === 0) closeUnit();
  }
  closeUnit();
  return units;
}

/**
 * Combines every file's narrow groups into groups of `targetDataCount` data blocks, unit by
 * unit (each its own commit). Groups that cannot be combined now (no room, a device down) are
 * reported in `problems`; running it again continues with what is left.
 */
export async function combineGroups(context: CombineContext, targetDataCount: number, options: JobOptions): Promise<CombineReport> {
  const report: CombineReport = { combinedGroups: 0, newGroups: 0, movedBlocks: 0, readBytes: 0, writtenBytes: 0, storedBytes: 0, savedBytes: 0, batches: 0, flushes: 0, commits: 0, foregroundYields: 0, problems: [] };
  const yieldsBefore = context.backoff?.yields ?? 0;
  if (targetDataCount < 2) return report;
  const files = context.store.files();
  const { bytes: totalBytes, units: totalUnits } = combineTotals(context, files.map((file) => file.fileId), targetDataCount);
  // Batches as large as COMBINE_BATCH_UNITS_MAX, but at least two per lane, so a small job
  // still keeps every lane busy and stops at an abort after a part of its units.
  const batchUnitsMax = Math.max(1, Math.min(COMBINE_BATCH_UNITS_MAX, Math.ceil(totalUnits / (2 * UNITS_IN_FLIGHT))));
  const throttle = new Throttle(options.rateBytesPerSec, options.clock);
  const work: WorkItem[] = [];
  let nextFile = 0;
  // Files are planned lazily, one at a time: a file's lookup and its reader registration
  // happen in the same tick, and batches (of units of several files) run UNITS_IN_FLIGHT at once.
  const take = (): WorkItem | undefined => {
    while (work.length === 0 && nextFile < files.length) {
      const file = files[nextFile++]!;
      const units = planCombineUnits(context.store.groupsOf(file.fileId), targetDataCount, context.parityCount);
      for (const unit of units) work.push({ fileId: file.fileId, name: file.name, unit, leave: context.enterReader(unit.map((group) => group.groupId)) });
    }
    return work.shift();
  };
  // A batch: up to COMBINE_BATCH_UNITS_MAX units and, under a rate, about a quarter second of it.
  const takeBatch = (): WorkItem[] => {
    const batch: WorkItem[] = [];
    let bytes = 0;
    while (batch.length < batchUnitsMax) {
      if (batch.length > 0 && bytes >= throttle.batchBytesMax) break;
      const item = take();
      if (!item) break;
      batch.push(item);
      bytes += unitIoBytes(item.unit, targetDataCount, context.parityCount);
    }
    return batch;
  };
  let failure: unknown;
  const lane = async (): Promise<void> => {
    for (;;) {
      if (failure !== undefined) return;
      const batch = takeBatch();
      if (batch.length === 0) return;
      try {
        if (options.signal?.aborted) throw new AbortedError('the combine was aborted; run it again to continue where it stopped');
        await throttle.admit(batch.reduce((sum, item) => sum + unitIoBytes(item.unit, targetDataCount, context.parityCount), 0), options.signal);
        const foregroundDone = await context.backoff?.admit(options.signal);
        let outcomes: Awaited<ReturnType<typeof combineBatch>>;
        try {
          if (options.signal?.aborted) throw new AbortedError('the combine was aborted; run it again to continue where it stopped');
          outcomes = await combineBatch(context, batch.map((item) => ({ fileId: item.fileId, unit: item.unit })), targetDataCount, report);
        } finally {
          foregroundDone?.();
        }
        outcomes.forEach((outcome, i) => {
          const item = batch[i]!;
          if (outcome.kind === 'stale') report.problems.push(`file ${item.name} changed during its combine; run it again`);
          else if (outcome.kind === 'failed') report.problems.push(`file ${item.name}: groups ${item.unit.map((group) => group.sequence).join(',')} not combined: ${(outcome.error as Error).message}`);
          else addUp(report, outcome.result);
        });
        options.onProgress?.({ doneBytes: report.storedBytes, totalBytes });
      } catch (error) {
        failure ??= error;
      } finally {
        for (const item of batch) item.leave();
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: UNITS_IN_FLIGHT }, lane));
  } finally {
    for (const item of work.splice(0)) item.leave();
  }
  report.foregroundYields = (context.backoff?.yields ?? 0) - yieldsBefore;
  if (failure !== undefined) throw failure;
  return report;
}

interface WorkItem {
  fileId: number;
  name: string;
  unit: GroupWithExtents[];
  leave: () => void;
}

/** Bytes a unit reads and writes, about (its data blocks, and the new groups' parity): what a rate counts. */
function unitIoBytes(unit: readonly GroupWithExtents[], targetDataCount: number, parityCount: number): number {
  const blocks = unit.reduce((sum, group) => sum + group.dataCount, 0);
  return (blocks + Math.ceil(blocks / targetDataCount) * parityCount) * unit[0]!.extentLb * LB_BYTES;
}

/** File bytes in units a combine would take on (for progress), and how many units. */
function combineTotals(context: Pick<CombineContext, 'store' | 'parityCount'>, fileIds: readonly number[], targetDataCount: number): { bytes: number; units: number } {
  let bytes = 0;
  let units = 0;
  for (const fileId of fileIds) {
    for (const unit of planCombineUnits(context.store.groupsOf(fileId), targetDataCount, context.parityCount)) {
      bytes += unit.reduce((sum, group) => sum + group.lengthBytes, 0);
      units++;
    }
  }
  return { bytes, units };
}

type UnitResult = Omit<CombineReport, 'problems' | 'batches' | 'flushes' | 'commits' | 'foregroundYields'>;

function addUp(report: CombineReport, result: UnitResult): void {
  report.combinedGroups += result.combinedGroups;
  report.newGroups += result.newGroups;
  report.movedBlocks += result.movedBlocks;
  report.readBytes += result.readBytes;
  report.writtenBytes += result.writtenBytes;
  report.storedBytes += result.storedBytes;
  report.savedBytes += result.savedBytes;
}

/** Errors that concern one unit (reported; the job goes on), not the job. */
function isUnitProblem(error: unknown): boolean {
  return error instanceof ElastripeError && ['NO_SPACE', 'TOO_MANY_ERASURES', 'CORRUPT_BLOCK', 'DEVICE_IO', 'DEVICE_FAILED'].includes(error.code);
}

/** A new group being built: its data blocks, where each goes, its parity's extents. */
interface NewGroupPlan {
  blocks: DataBlock[];
  /** Per data block: where it will live (its own extent, or a new one it is copied to). */
  places: { deviceId: number; startLb: number; moved: boolean }[];
  parity: { deviceId: number; startLb: number }[];
}

/** Per unit of a batch: combined (committed), stale (its file changed: nothing committed), or why it failed. */
export type UnitOutcome = { kind: 'combined'; result: UnitResult } | { kind: 'stale' } | { kind: 'failed'; error: unknown };

/** A unit built and written, waiting for the batch's flush and commit. */
interface PreparedUnit {
  fileId: number;
  unit: readonly GroupWithExtents[];
  plans: NewGroupPlan[];
  newGroups: NewGroup[];
  extentLb: number;
  /** New extents (parity, copies) not yet committed: released if the unit does not commit. */
  reserved: { deviceId: number; startLb: number }[];
  result: UnitResult;
}

/**
 * Combines a batch of units: builds each (read, encode, write parity and copies), flushes every
 * device written once, commits every unit still standing in one transaction (a savepoint each),
 * then frees the old parity and the old places of copied blocks once unread. One outcome per
 * request, in order. A unit problem (no room, a device down) fails that unit only; anything
 * else is thrown, after every uncommitted extent is released.
 */
export async function combineBatch(
  context: CombineContext,
  requests: readonly { fileId: number; unit: readonly GroupWithExtents[] }[],
  targetDataCount: number,
  counters?: Pick<CombineReport, 'batches' | 'flushes' | 'commits'>,
): Promise<UnitOutcome[]> {
  const outcomes: UnitOutcome[] = requests.map(() => ({ kind: 'stale' }));
  const prepared: (PreparedUnit | undefined)[] = requests.map(() => undefined);
  const release = (i: number) => {
    const item = prepared[i];
    if (!item) return;
    for (const place of item.reserved) context.allocator.release(place.deviceId, place.startLb, item.extentLb);
    prepared[i] = undefined;
  };
  try {
    for (const [i, request] of requests.entries()) {
      try {
        prepared[i] = await prepareUnit(context, request.fileId, request.unit, targetDataCount);
      } catch (error) {
        if (!isUnitProblem(error)) throw error;
        outcomes[i] = { kind: 'failed', error };
      }
    }
    const flushed = await flushWritten(context, prepared, outcomes, release);
    if (counters) {
      counters.batches++;
      counters.flushes += flushed;
    }
    const ready = prepared.flatMap((item, i) => (item ? [i] : []));
    if (ready.length === 0) return outcomes;
    const olds = new Map<number, ReturnType<MetaStore['combineGroups']>>();
    context.store.batch(() => {
      for (const i of ready) olds.set(i, context.store.combineGroups(prepared[i]!.fileId, prepared[i]!.unit, prepared[i]!.newGroups));
    });
    if (counters) counters.commits++;
    for (const i of ready) {
      const item = prepared[i]!;
      const committed = olds.get(i);
      if (!committed) {
        release(i); // stale: its file changed while it was built
        continue;
      }
      // Kept data blocks now belong to the new groups' rows, at places a read of the old groups
      // (looked up before this commit) may still be about to read: their next free (a delete,
      // a move) waits for those reads too, or the place could be reused under them.
      context.inheritReaders(committed.newGroupIds, item.unit.map((group) => group.groupId));
      const kept = new Set(item.plans.flatMap((plan) => plan.blocks.filter((_, b) => !plan.places[b]!.moved).map((block) => block.extent.extentId)));
      context.freeWhenUnread(committed.oldExtents.filter((extent) => !kept.has(extent.extentId)));
      prepared[i] = undefined; // committed: its new extents are referenced now
      outcomes[i] = { kind: 'combined', result: item.result };
    }
    return outcomes;
  } finally {
    for (let i = 0; i < prepared.length; i++) release(i);
  }
}

/** Flushes each device the batch's units wrote once; a unit that wrote to a device whose flush failed fails. Returns the flushes asked for. */
async function flushWritten(context: CombineContext, prepared: (PreparedUnit | undefined)[], outcomes: UnitOutcome[], release: (i: number) => void): Promise<number> {
  const deviceIds = [...new Set(prepared.flatMap((item) => item?.reserved.map((place) => place.deviceId) ?? []))];
  const failures = await flushEachOnce(context, deviceIds, 'it went offline while groups were combined');
  for (const error of failures.values()) if (!isUnitProblem(error)) throw error;
  prepared.forEach((item, i) => {
    const failed = item?.reserved.find((place) => failures.has(place.deviceId));
    if (!failed) return;
    outcomes[i] = { kind: 'failed', error: failures.get(failed.deviceId) };
    release(i);
  });
  return deviceIds.length;
}

/** Builds one unit: plans its new groups, reads their data, writes new parity and copies (not flushed, not committed). */
async function prepareUnit(context: CombineContext, fileId: number, unit: readonly GroupWithExtents[], targetDataCount: number): Promise<PreparedUnit> {
  const extentLb = unit[0]!.extentLb;
  const extentBytes = extentLb * LB_BYTES;
  // A group's last data blocks may hold no file byte at all (a tail group wider than its
  // bytes need): they are padding, left out of the combination (and freed with the old rows).
  const blocks = unit.flatMap((group) =>
    group.extents
      .filter((extent) => extent.role === 'data')
      .sort((a, b) => a.index - b.index)
      .map((extent) => ({ extent, bytes: Math.min(extentBytes, group.lengthBytes - extent.index * extentBytes) }))
      .filter((block) => block.bytes > 0),
  );
  const reserved: { deviceId: number; startLb: number }[] = [];
  const reserve = (deviceId: number): { deviceId: number; startLb: number } => {
    const startLb = context.allocator.allocate(deviceId, extentLb);
    if (startLb === undefined) throw new NoSpaceError(`device ${deviceId} has no free run of ${extentLb} LB`);
    const place = { deviceId, startLb };
    reserved.push(place);
    return place;
  };
  try {
    const plans: NewGroupPlan[] = [];
    for (let first = 0; first < blocks.length; first += targetDataCount) {
      plans.push(planNewGroup(context, blocks.slice(first, first + targetDataCount), extentLb, reserve));
    }
    // One new group at a time: a lane holds at most one arena buffer, so lanes never wait on
    // each other for arena space.
    const newGroups: NewGroup[] = [];
    for (const [i, plan] of plans.entries()) newGroups.push(await buildGroup(context, unit, plan, unit[i]!.sequence, extentLb));
    // Pair assertion: the new groups hold exactly the file bytes the old ones held.
    const unitBytes = unit.reduce((sum, group) => sum + group.lengthBytes, 0);
    const newBytes = newGroups.reduce((sum, group) => sum + group.lengthBytes, 0);
    if (unitBytes !== newBytes) throw new Error(`combine: groups ${unit.map((group) => group.groupId).join(',')} held ${unitBytes} bytes, their combination ${newBytes}`);
    const movedBlocks = plans.reduce((sum, plan) => sum + plan.places.filter((place) => place.moved).length, 0);
    const parityBlocks = plans.length * context.parityCount;
    const result: UnitResult = {
      combinedGroups: unit.length,
      newGroups: plans.length,
      movedBlocks,
      readBytes: blocks.length * extentBytes,
      writtenBytes: (movedBlocks + parityBlocks) * extentBytes,
      storedBytes: blocks.reduce((sum, block) => sum + block.bytes, 0),
      savedBytes: (unit.length - plans.length) * context.parityCount * extentBytes,
    };
    return { fileId, unit, plans, newGroups, extentLb, reserved, result };
  } catch (error) {
    for (const place of reserved) context.allocator.release(place.deviceId, place.startLb, extentLb);
    throw error;
  }
}

/**
 * Where a new group's blocks go: each block stays on its device unless another block of the
 * group already stays there (or its device takes no blocks now: draining, down) — then it is
 * copied to the emptiest device outside the group with room. Parity goes to the emptiest
 * devices outside the group.
 */
function planNewGroup(context: CombineContext, blocks: DataBlock[], extentLb: number, reserve: (deviceId: number) => { deviceId: number; startLb: number }): NewGroupPlan {
  const placeable = new Set(context.candidates().map((candidate) => candidate.deviceId));
  const used = new Set<number>();
  const places: NewGroupPlan['places'] = blocks.map((block) => {
    const deviceId = block.extent.deviceId;
    if (!placeable.has(deviceId) || used.has(deviceId)) return undefined!;
    used.add(deviceId);
    return { deviceId, startLb: block.extent.startLb, moved: false };
  });
  // Blocks kept are all claimed first, so a copy never takes a device a later block stays on.
  for (const [i, place] of places.entries()) {
    if (place) continue;
    const target = emptiestOutside(context.candidates(), used, extentLb, `block ${i} of a combined group`);
    used.add(target);
    places[i] = { ...reserve(target), moved: true };
  }
  const parity = Array.from({ length: context.parityCount }, (_, row) => {
    const target = emptiestOutside(context.candidates(), used, extentLb, `parity ${row} of a combined group`);
    used.add(target);
    return reserve(target);
  });
  assertDistinct({ dataDeviceIds: places.map((place) => place.deviceId), parityDeviceIds: parity.map((place) => place.deviceId) });
  return { blocks, places, parity };
}

function emptiestOutside(candidates: readonly PlacementCandidate[], used: ReadonlySet<number>, extentLb: number, what: string): number {
  const target = candidates
    .filter((candidate) => !used.has(candidate.deviceId) && candidate.largestFreeLb >= extentLb)
    .sort((a, b) => a.usedLb / a.dataAreaLb - b.usedLb / b.dataAreaLb || a.deviceId - b.deviceId)[0];
  if (!target) throw new NoSpaceError(`no device outside the group has ${extentLb} LB free for ${what}`);
  return target.deviceId;
}

/** Reads a new group's data, computes its parity, writes parity and copies; returns its rows. */
async function buildGroup(
  context: CombineContext,
  unit: readonly GroupWithExtents[],
  plan: NewGroupPlan,
  sequence: number,
  extentLb: number,
): Promise<NewGroup> {
  const extentBytes = extentLb * LB_BYTES;
  const dataCount = plan.blocks.length;
  const buffer = await context.arena.acquire((dataCount + context.parityCount) * extentBytes);
  try {
    return await encodeAndWrite(context, unit, plan, sequence, extentLb, buffer);
  } finally {
    context.arena.free(buffer);
  }
}

async function encodeAndWrite(
  context: CombineContext,
  unit: readonly GroupWithExtents[],
  plan: NewGroupPlan,
  sequence: number,
  extentLb: number,
  buffer: ArenaBuffer,
): Promise<NewGroup> {
  const extentBytes = extentLb * LB_BYTES;
  const dataCount = plan.blocks.length;
  const view = (index: number) => buffer.bytes.subarray(index * extentBytes, (index + 1) * extentBytes);
  const data = [...Array(dataCount).keys()].map(view);
  const parity = Array.from({ length: context.parityCount }, (_, row) => view(dataCount + row));
  const unreadable = await readData(context, plan.blocks, data);
  for (const index of unreadable) await readThroughGroup(context, unit, plan.blocks[index]!.extent, data[index]!);
  const checksums = await context.codec.encodeWithChecksums(data, parity);
  // Pair assertion: the data encoded is the data committed (the checksum recorded at its write).
  const mismatched = plan.blocks.findIndex((block, i) => !Buffer.from(checksums[i]!).equals(block.extent.checksum));
  if (mismatched >= 0) throw new Error(`combine: block ${mismatched} read does not match its recorded checksum after verification`);
  // Each write starts inside an async function, so a device found offline is that write's
  // rejection, not a throw that would leave the writes already started unawaited (an unhandled
  // rejection, and extents released while a write to them is in flight).
  const write = async (deviceId: number, startLb: number, bytes: Uint8Array): Promise<void> =>
    onlineDevice(context, deviceId).write([{ startLb, lengthLb: extentLb }], [bytes]);
  const writes: Promise<void>[] = [];
  plan.places.forEach((place, i) => {
    if (place.moved) writes.push(write(place.deviceId, place.startLb, data[i]!));
  });
  plan.parity.forEach((place, row) => writes.push(write(place.deviceId, place.startLb, parity[row]!)));
  // Every write settles before a failure is reported: the extents are released by the caller.
  await settleBatch(writes);
  const extents: NewExtent[] = [
    ...plan.places.map((place, index) => ({ deviceId: place.deviceId, startLb: place.startLb, lengthLb: extentLb, role: 'data' as const, index, checksum: plan.blocks[index]!.extent.checksum })),
    ...plan.parity.map((place, index) => ({ deviceId: place.deviceId, startLb: place.startLb, lengthLb: extentLb, role: 'parity' as const, index, checksum: checksums[dataCount + index]! })),
  ];
  const lengthBytes = plan.blocks.reduce((sum, block) => sum + block.bytes, 0);
  return { sequence, dataCount, parityCount: context.parityCount, extentLb, lengthBytes, extents };
}

/** Reads each block into its view and verifies it; returns the indices that need their old group. */
async function readData(context: CombineContext, blocks: readonly DataBlock[], views: readonly Uint8Array[]): Promise<number[]> {
  const outcomes = await Promise.allSettled(
    blocks.map(async (block, i) => {
      const device = context.devices.usable(block.extent.deviceId);
      if (!device) throw new DeviceFailedError(`#${block.extent.deviceId}`, 'not online');
      await readRetrying(device, block.extent, views[i]!);
    }),
  );
  const bad: number[] = [];
  const good: number[] = [];
  outcomes.forEach((outcome, i) => (outcome.status === 'fulfilled' ? good : bad).push(i));
  if (good.length > 0) {
    const mismatched = await context.codec.verify(good.map((i) => views[i]!), good.map((i) => blocks[i]!.extent.checksum));
    for (const i of mismatched) bad.push(good[i]!);
  }
  return bad;
}

/** A block its device could not give: read through its old group (reconstructing it) and copy it in. */
async function readThroughGroup(context: CombineContext, unit: readonly GroupWithExtents[], extent: ExtentRow, target: Uint8Array): Promise<void> {
  const group = unit.find((candidate) => candidate.groupId === extent.groupId)!;
  const read = await readGroupBlocks(context, group, [extent.index]);
  try {
    target.set(read.view(extent.index));
  } finally {
    read.release();
  }
}

function onlineDevice(context: CombineContext, deviceId: number) {
  const device = context.devices.usable(deviceId);
  if (!device) throw new DeviceFailedError(`#${deviceId}`, 'it went offline while groups were combined');
  return device;
}

