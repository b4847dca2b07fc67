// Re-cutting one committed group into a new shape: the primitive under "rebuild narrower"
// (when a lost block has no device outside its group to go to, the whole group is rewritten
// with fewer data blocks across the devices that are left) and, later, under restripe. The
// group's bytes are read (reconstructing what is lost), copied once into a buffer of the new
// shape, encoded with fresh parity and checksums, written to newly placed extents and flushed;
// then one transaction swaps the old group for the new one at the same place in the file.
import { LB_BYTES } from '../constants.js';
import { settleBatch } from '../devices/device_batch.js';
import { DeviceFailedError, NoSpaceError } from '../errors.js';
import type { Device } from '../devices/device.js';
import type { NewExtent } from '../meta/rows.js';
import type { GroupWithExtents } from '../meta/rows.js';
import type { GroupShape } from './layout.js';
import type { PartnerCounts } from './partner_counts.js';
import { placeGroup, type PlacementCandidate } from './placement.js';
import { readGroupBlocks } from './read_path.js';
import type { RelocateContext } from './relocate.js';
import type { Codec } from '../kernels/codec.js';
import type { Arena } from '../kernels/arena.js';

export interface RestripeContext extends RelocateContext {
  arena: Arena;
  codec: Codec;
  parityCount: number;
  /** Devices new extents may go to. */
  candidates: () => PlacementCandidate[];
  nextRotation: () => number;
  /** Groups each pair of devices shares (placement declusters with it). */
  partners?: PartnerCounts;
}

/** Rewrites `group` as a group of `shape`. False when the group changed under us (nothing committed). */
export async function restripeGroup(context: RestripeContext, group: GroupWithExtents, shape: GroupShape): Promise<boolean> {
  const source = await readGroupBlocks(context, group, [...Array(group.dataCount).keys()]);
  const extentBytes = shape.extentLb * LB_BYTES;
  let target;
  try {
    target = await context.arena.acquire((shape.dataCount + context.parityCount) * extentBytes);
    // The group's data is contiguous in the source buffer (block i at i * extentBytes).
    target.bytes.set(source.buffer.bytes.subarray(0, group.lengthBytes));
  } finally {
    source.release();
  }
  const reserved: NewExtent[] = [];
  try {
    target.bytes.fill(0, group.lengthBytes, shape.dataCount * extentBytes);
    const blocks = Array.from({ length: shape.dataCount + context.parityCount }, (_, i) => target!.bytes.subarray(i * extentBytes, (i + 1) * extentBytes));
    const checksums = await context.codec.encodeWithChecksums(blocks.slice(0, shape.dataCount), blocks.slice(shape.dataCount));
    const placement = placeGroup(context.candidates(), shape.dataCount, context.parityCount, shape.extentLb, context.nextRotation(), context.partners);
    const positions = [
      ...placement.dataDeviceIds.map((deviceId, index) => ({ deviceId, role: 'data' as const, index })),
      ...placement.parityDeviceIds.map((deviceId, index) => ({ deviceId, role: 'parity' as const, index })),
    ];
    for (const [i, position] of positions.entries()) {
      const startLb = context.allocator.allocate(position.deviceId, shape.extentLb);
      if (startLb === undefined) throw new NoSpaceError(`device ${position.deviceId} has no free run of ${shape.extentLb} LB`);
      reserved.push({ ...position, startLb, lengthLb: shape.extentLb, checksum: checksums[i]! });
    }
    // Every write settles before a failure is reported: the extents are released below, and a
    // write still in flight would land on whatever takes them next.
    await settleBatch(reserved.map(async (extent, i) => onlineDevice(context, extent.deviceId).write([{ startLb: extent.startLb, lengthLb: extent.lengthLb }], [blocks[i]!])));
    await settleBatch([...new Set(reserved.map((extent) => extent.deviceId))].map(async (deviceId) => context.flusher.flush(onlineDevice(context, deviceId))));
    const replacement = { sequence: group.sequence, ...shape, parityCount: context.parityCount, lengthBytes: group.lengthBytes, extents: reserved };
    // replaceGroup's guard compares extent ids, but a move elsewhere (a rebalance) keeps the ids
    // and changes where they are: then the extents to free below are not the group's any more.
    if (movedSinceRead(context, group)) throw new StaleRestripeError();
    if (!context.store.replaceGroup(group.groupId, group.extents.map((extent) => extent.extentId), replacement)) {
      throw new StaleRestripeError();
    }
  } catch (error) {
    for (const extent of reserved) context.allocator.release(extent.deviceId, extent.startLb, extent.lengthLb);
    if (error instanceof StaleRestripeError) return false;
    throw error;
  } finally {
    context.arena.free(target);
  }
  context.freeWhenUnread(group.extents);
  return true;
}

/** The device of an online device, or DEVICE_FAILED (it went offline while the group was written). */
function onlineDevice(context: RestripeContext, deviceId: number): Device {
  const device = context.devices.usable(deviceId);
  if (!device) throw new DeviceFailedError(`#${deviceId}`, 'it went offline while a restriped group was written');
  return device;
}

/** Whether a block of the group lies elsewhere than when it was read (checked in the commit's tick). */
function movedSinceRead(context: RestripeContext, group: GroupWithExtents): boolean {
  const current = context.store.group(group.groupId);
  if (!current) return false; // gone: replaceGroup reports it stale
  const readAt = new Map(group.extents.map((extent) => [extent.extentId, `${extent.deviceId}:${extent.startLb}`]));
  return current.extents.some((extent) => readAt.get(extent.extentId) !== `${extent.deviceId}:${extent.startLb}`);
}

class StaleRestripeError extends Error {}
