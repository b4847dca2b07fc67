// Moving blocks of a committed group to other devices: the one primitive under rebuild,
// evacuate (remove) and rebalance. Copy-on-write like every write: the block is read (or, when
// its device is gone or the block is bad, reconstructed from the group) and checked against its
// recorded checksum, written to a newly allocated extent, flushed, and only then does one
// transaction point the extent row at the new place. The old extent is freed once no reader
// can still see it. A crash at any point leaves either the old or the new place committed,
// never both and never neither; the unreferenced copy is free space after reopen.
import { settleBatch } from '../devices/device_batch.js';
import { DeviceFailedError, NoSpaceError } from '../errors.js';
import type { ExtentAllocator } from '../meta/extent_allocator.js';
import type { MetaStore } from '../meta/meta_store.js';
import type { ExtentMove, ExtentRow, GroupWithExtents } from '../meta/rows.js';
import type { FlushCoalescer } from './flush_coalescer.js';
import { extentsByBlock, readGroupBlocks, type ReadContext } from './read_path.js';
import { throwIfHostFull } from './write_path.js';

export interface RelocateContext extends ReadContext {
  store: MetaStore;
  allocator: ExtentAllocator;
  flusher: FlushCoalescer;
  /** Frees extents once every read that could see them has finished. */
  freeWhenUnread: (extents: ExtentRow[]) => void;
}

export interface BlockMove {
  /** Block position in the group: data 0..k-1, then parity. */
  index: number;
  targetDeviceId: number;
}

/**
 * Moves the given blocks of a group. Returns false when the group changed under the move (its
 * file was replaced or deleted): nothing is committed then and the new extents are released.
 */
export async function relocateBlocks(context: RelocateContext, group: GroupWithExtents, moves: readonly BlockMove[]): Promise<boolean> {
  const byBlock = extentsByBlock(group);
  const blocks = await readGroupBlocks(context, group, moves.map((move) => move.index));
  const placed: ExtentMove[] = [];
  try {
    for (const move of moves) {
      const startLb = context.allocator.allocate(move.targetDeviceId, group.extentLb);
      if (startLb === undefined) throw new NoSpaceError(`device ${move.targetDeviceId} has no free run of ${group.extentLb} LB`);
      const from = byBlock[move.index]!;
      placed.push({ extentId: from.extentId, fromDeviceId: from.deviceId, fromStartLb: from.startLb, toDeviceId: move.targetDeviceId, toStartLb: startLb });
    }
    // Every write settles before a failure is reported: the extents are released (and the arena
    // buffer reused) below, and a write still in flight would land on whatever takes them next.
    await settleBatch(
      placed.map(async (extent, i) => {
        const device = context.devices.usable(extent.toDeviceId);
        if (!device) throw new NoSpaceError(`target device ${extent.toDeviceId} is not online`);
        await device.write([{ startLb: extent.toStartLb, lengthLb: group.extentLb }], [blocks.view(moves[i]!.index)]);
      }),
    );
    await settleBatch(
      [...new Set(placed.map((extent) => extent.toDeviceId))].map(async (deviceId) => {
        const device = context.devices.usable(deviceId);
        if (!device) throw new DeviceFailedError(`#${deviceId}`, 'it went offline before a moved block was flushed');
        return context.flusher.flush(device);
      }),
    );
    // Another job may have moved a block of this group onto a target meanwhile (a rebalance
    // beside a rebuild): checked in the same tick as the commit, so nothing slips in between.
    if (targetTaken(context, group.groupId, placed)) throw new StaleGroupError();
    if (!context.store.relocateExtents(placed)) throw new StaleGroupError();
  } catch (error) {
    for (const extent of placed) context.allocator.release(extent.toDeviceId, extent.toStartLb, group.extentLb);
    if (error instanceof StaleGroupError) return false;
    // A target image file whose host filesystem is full: NO_SPACE, as for a put, not DEVICE_IO.
    throwIfHostFull(error);
    throw error;
  } finally {
    blocks.release();
  }
  context.freeWhenUnread(moves.map((move) => byBlock[move.index]!));
  return true;
}

/** Whether a target device now holds a block of the group other than the ones being moved. */
function targetTaken(context: RelocateContext, groupId: number, placed: readonly ExtentMove[]): boolean {
  const current = context.store.group(groupId);
  if (!current) return false; // deleted: relocateExtents reports it stale
  const moving = new Set(placed.map((extent) => extent.extentId));
  const others = new Set(current.extents.filter((extent) => !moving.has(extent.extentId)).map((extent) => extent.deviceId));
  return placed.some((extent) => others.has(extent.toDeviceId));
}

class StaleGroupError extends Error {}
