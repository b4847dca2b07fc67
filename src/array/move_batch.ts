// Moving blocks of many committed groups at once: the primitive under rebuild, remove and
// rebalance (relocateBlocks is the batch of one). Copy-on-write like every write, with the
// fixed costs shared by the whole batch:
//   1. read the blocks of every group (reconstructing where a device is gone or a block is bad;
//      checksums checked either way), issued in the order of their device offsets;
//   2. reserve new extents and write them, one submission per target device in offset order;
//   3. flush every target device once;
//   4. commit every group's move in ONE metadata transaction (one SQLite commit, one change set
//      for the journal), each group atomic on its own (a savepoint): a group whose file changed
//      meanwhile is left out and reported stale, the others commit;
//   5. free the old extents once that commit is durable on the devices and no reader can still
//      see them (freeWhenUnread: the journal, then the reader epochs).
// A crash at any instant leaves the last committed state: before step 4 the new extents are
// referenced by nothing and are free again after reopen; after it the old ones are. A group
// whose read, write or flush failed is reported with its error and its new extents are
// released once every write of the batch has settled (a write still in flight would land on
// whatever takes them next).
import { NoSpaceError } from '../errors.js';
import type { ExtentMove, ExtentRow, GroupWithExtents } from '../meta/rows.js';
import { extentsByBlock, readGroupBlocks, type GroupBlocks } from './read_path.js';
import type { BlockMove, RelocateContext } from './relocate.js';
import { throwIfHostFull } from './write_path.js';
import { flushEachOnce } from './batch_flush.js';

/** One group and the blocks of it to move. */
export interface GroupMoveRequest {
  group: GroupWithExtents;
  moves: readonly BlockMove[];
  /** Blocks to leave unread if the others suffice to reconstruct (the busier survivors; see readGroupBlocks). */
  spareReads?: readonly number[];
}

/** Per request: moved (committed), stale (its file changed: nothing committed), or why it failed. */
export type GroupMoveOutcome = { kind: 'moved' } | { kind: 'stale' } | { kind: 'failed'; error: unknown };

/** Work a batch did, for tests and benchmarks (flushes and commits are per batch, not per block). */
export interface BatchCounters {
  batches: number;
  flushes: number;
  commits: number;
}

interface Planned {
  request: GroupMoveRequest;
  blocks?: GroupBlocks;
  placed: ExtentMove[];
  error?: unknown;
}

/** Moves the blocks of every request; one outcome per request, in order. */
export async function relocateBatch(context: RelocateContext, requests: readonly GroupMoveRequest[], counters?: BatchCounters): Promise<GroupMoveOutcome[]> {
  const planned: Planned[] = requests.map((request) => ({ request, placed: [] }));
  try {
    await readAll(context, planned);
    reserveTargets(context, planned);
    await writeAll(context, planned);
    const flushed = await flushTargets(context, planned);
    if (counters) {
      counters.batches++;
      counters.flushes += flushed;
    }
    const outcomes = commitAll(context, planned, counters);
    // A group whose file was replaced or deleted while it was read may fail its read (its old
    // extents hold someone else's data by now): that is a stale group, not a failure.
    return outcomes.map((outcome, i) => (outcome.kind === 'failed' && groupChanged(context, planned[i]!.request.group) ? { kind: 'stale' } : outcome));
  } finally {
    for (const item of planned) item.blocks?.release();
  }
}

/** Reads every group's blocks, the groups in the order of their first moved block's offset. */
async function readAll(context: RelocateContext, planned: Planned[]): Promise<void> {
  const order = [...planned].sort((a, b) => sourceKey(a.request) - sourceKey(b.request));
  await Promise.all(
    order.map(async (item) => {
      try {
        item.blocks = await readGroupBlocks(context, item.request.group, item.request.moves.map((move) => move.index), undefined, item.request.spareReads);
      } catch (error) {
        item.error = error;
      }
    }),
  );
}

function sourceKey(request: GroupMoveRequest): number {
  const byBlock = extentsByBlock(request.group);
  return Math.min(...request.moves.map((move) => byBlock[move.index]!.startLb));
}

/** Reserves a new extent on each target; a group that finds no room is failed with NO_SPACE. */
function reserveTargets(context: RelocateContext, planned: Planned[]): void {
  for (const item of planned) {
    if (item.error !== undefined) continue;
    const { group, moves } = item.request;
    const byBlock = extentsByBlock(group);
    for (const move of moves) {
      const startLb = context.allocator.allocate(move.targetDeviceId, group.extentLb);
      if (startLb === undefined) {
        item.error = new NoSpaceError(`device ${move.targetDeviceId} has no free run of ${group.extentLb} LB`);
        break;
      }
      const from = byBlock[move.index]!;
      item.placed.push({ extentId: from.extentId, fromDeviceId: from.deviceId, fromStartLb: from.startLb, toDeviceId: move.targetDeviceId, toStartLb: startLb });
    }
    if (item.error !== undefined) releasePlaced(context, item);
  }
}

/** One write submission per target device, its extents in offset order; a failure fails the groups that wrote there. */
async function writeAll(context: RelocateContext, planned: Planned[]): Promise<void> {
  const byDevice = new Map<number, { item: Planned; startLb: number; lengthLb: number; view: Uint8Array }[]>();
  for (const item of planned) {
    if (item.error !== undefined) continue;
    item.placed.forEach((extent, i) => {
      const list = byDevice.get(extent.toDeviceId) ?? [];
      list.push({ item, startLb: extent.toStartLb, lengthLb: item.request.group.extentLb, view: item.blocks!.view(item.request.moves[i]!.index) });
      byDevice.set(extent.toDeviceId, list);
    });
  }
  // Every write settles before any failure is acted on (extents are released afterwards).
  await Promise.all(
    [...byDevice].map(async ([deviceId, writes]) => {
      writes.sort((a, b) => a.startLb - b.startLb);
      try {
        const device = context.devices.usable(deviceId);
        if (!device) throw new NoSpaceError(`target device ${deviceId} is not online`);
        await device.write(
          writes.map((write) => ({ startLb: write.startLb, lengthLb: write.lengthLb })),
          writes.map((write) => write.view),
        );
      } catch (error) {
        // A target image file whose host filesystem is full: NO_SPACE, as for a put, not DEVICE_IO.
        const reason = hostFullAsNoSpace(error);
        for (const write of writes) write.item.error ??= reason;
      }
    }),
  );
  for (const item of planned) if (item.error !== undefined) releasePlaced(context, item);
}

/** Flushes each target device once; returns how many flushes were asked for. */
async function flushTargets(context: RelocateContext, planned: Planned[]): Promise<number> {
  const deviceIds = [...new Set(planned.filter((item) => item.error === undefined).flatMap((item) => item.placed.map((extent) => extent.toDeviceId)))];
  const failures = await flushEachOnce(context, deviceIds, 'it went offline before a moved block was flushed');
  for (const item of planned) {
    if (item.error !== undefined) continue;
    const failed = item.placed.find((extent) => failures.has(extent.toDeviceId));
    if (failed) {
      item.error = failures.get(failed.toDeviceId);
      releasePlaced(context, item);
    }
  }
  return deviceIds.length;
}

/**
 * Commits every group still standing in one transaction, each in its own savepoint; then hands
 * the old extents of the moved groups to freeWhenUnread. Runs synchronously: nothing else
 * commits between the checks and the commit.
 */
function commitAll(context: RelocateContext, planned: Planned[], counters?: BatchCounters): GroupMoveOutcome[] {
  const outcomes: GroupMoveOutcome[] = planned.map((item) => (item.error !== undefined ? { kind: 'failed', error: item.error } : { kind: 'stale' }));
  const ready = planned.map((item, i) => ({ item, i })).filter(({ item }) => item.error === undefined);
  if (ready.length > 0) {
    try {
      context.store.batch(() => {
        for (const { item, i } of ready) {
          // Another job may have moved a block of this group onto a target meanwhile (a
          // rebalance beside a rebuild), or the file changed: then this group is stale.
          if (targetTaken(context, item.request.group.groupId, item.placed)) continue;
          if (context.store.relocateExtents(item.placed)) outcomes[i] = { kind: 'moved' };
        }
      });
      if (counters) counters.commits++;
    } catch (error) {
      for (const { i } of ready) outcomes[i] = { kind: 'failed', error };
    }
  }
  const freed: ExtentRow[] = [];
  for (const { item, i } of ready) {
    if (outcomes[i]!.kind !== 'moved') {
      releasePlaced(context, item);
      continue;
    }
    const byBlock = extentsByBlock(item.request.group);
    for (const move of item.request.moves) freed.push(byBlock[move.index]!);
  }
  context.freeWhenUnread(freed);
  return outcomes;
}

function releasePlaced(context: RelocateContext, item: Planned): void {
  for (const extent of item.placed) context.allocator.release(extent.toDeviceId, extent.toStartLb, item.request.group.extentLb);
  item.placed = [];
}

/** Whether a target device now holds a block of the group other than the ones being moved. */
function targetTaken(context: RelocateContext, groupId: number, placed: readonly ExtentMove[]): boolean {
  const current = context.store.group(groupId);
  if (!current) return false; // deleted: relocateExtents reports it stale
  const moving = new Set(placed.map((extent) => extent.extentId));
  const others = new Set(current.extents.filter((extent) => !moving.has(extent.extentId)).map((extent) => extent.deviceId));
  return placed.some((extent) => others.has(extent.toDeviceId));
}

/** Whether the group is gone or any of its extents lies elsewhere than when it was looked up. */
function groupChanged(context: RelocateContext, group: GroupWithExtents): boolean {
  const current = context.store.group(group.groupId);
  if (!current) return true;
  const was = new Map(group.extents.map((extent) => [extent.extentId, `${extent.deviceId}:${extent.startLb}`]));
  return current.extents.length !== group.extents.length || current.extents.some((extent) => was.get(extent.extentId) !== `${extent.deviceId}:${extent.startLb}`);
}

/** The error as NO_SPACE when it is the host filesystem of an image file that is full. */
function hostFullAsNoSpace(error: unknown): unknown {
  try {
    throwIfHostFull(error);
  } catch (converted) {
    return converted;
  }
  return error;
}
