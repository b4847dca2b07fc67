// Re-cutting committed groups into a new shape: the primitive under "rebuild narrower" (when a
// lost block has no device outside its group to go to, the whole group is rewritten with fewer
// data blocks across the devices that are left). Each group's bytes are read (reconstructing
// what is lost), copied once into a buffer of the new shape, encoded with fresh parity and
// checksums, and written to newly placed extents. Batched like the movers (move_batch.ts): the
// groups of a batch are written one after another, then every device written is flushed once
// and one transaction swaps every old group for its new one at the same place in its file,
// each in its own savepoint (a group whose file changed meanwhile is left out: stale).
// restripeGroup is the batch of one.
import { LB_BYTES } from '../constants.js';
import { settleBatch } from '../devices/device_batch.js';
import { DeviceFailedError, NoSpaceError } from '../errors.js';
import type { Device } from '../devices/device.js';
import type { NewExtent, NewGroup } from '../meta/rows.js';
import type { GroupWithExtents } from '../meta/rows.js';
import type { GroupShape } from './layout.js';
import type { PartnerCounts } from './partner_counts.js';
import { placeGroup, type PlacementCandidate } from './placement.js';
import { readGroupBlocks } from './read_path.js';
import type { RelocateContext } from './relocate.js';
import type { Codec } from '../kernels/codec.js';
import type { Arena } from '../kernels/arena.js';
import { flushEachOnce } from './batch_flush.js';

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

/** Per request: restriped (committed), stale (its group changed: nothing committed), or why it failed. */
export type RestripeOutcome = { kind: 'restriped' } | { kind: 'stale' } | { kind: 'failed'; error: unknown };

/** Work a batch did (flushes and commits are per batch, not per group). */
export interface RestripeCounters {
  batches: number;
  flushes: number;
  commits: number;
}

/** A group rewritten on new extents (written, not flushed, not committed). */
interface Prepared {
  group: GroupWithExtents;
  replacement: NewGroup;
}

/** Rewrites `group` as a group of `shape`. False when the group changed under us (nothing committed). */
export async function restripeGroup(context: RestripeContext, group: GroupWithExtents, shape: GroupShape): Promise<boolean> {
  const [outcome] = await restripeBatch(context, [{ group, shape }]);
  if (outcome!.kind === 'failed') throw outcome!.error;
  return outcome!.kind === 'restriped';
}

/**
 * Rewrites every request's group in its shape: write each, flush every device written once,
 * commit all in one transaction (a savepoint each), free the old extents once unread. One
 * outcome per request, in order; errors of a group (a read, a placement, a write, a flush) fail
 * that group only, and its new extents are released.
 */
export async function restripeBatch(
  context: RestripeContext,
  requests: readonly { group: GroupWithExtents; shape: GroupShape }[],
  counters?: RestripeCounters,
): Promise<RestripeOutcome[]> {
  const outcomes: RestripeOutcome[] = requests.map(() => ({ kind: 'stale' }));
  const prepared: (Prepared | undefined)[] = requests.map(() => undefined);
  const release = (i: number) => {
    for (const extent of prepared[i]?.replacement.extents ?? []) context.allocator.release(extent.deviceId, extent.startLb, extent.lengthLb);
    prepared[i] = undefined;
  };
  try {
    for (const [i, request] of requests.entries()) {
      try {
        prepared[i] = await writeRestriped(context, request.group, request.shape);
      } catch (error) {
        outcomes[i] = { kind: 'failed', error };
      }
    }
    const deviceIds = [...new Set(prepared.flatMap((item) => item?.replacement.extents.map((extent) => extent.deviceId) ?? []))];
    const failures = await flushEachOnce(context, deviceIds, 'it went offline while a restriped group was written');
    prepared.forEach((item, i) => {
      const failed = item?.replacement.extents.find((extent) => failures.has(extent.deviceId));
      if (!failed) return;
      outcomes[i] = { kind: 'failed', error: failures.get(failed.deviceId) };
      release(i);
    });
    if (counters) {
      counters.batches++;
      counters.flushes += deviceIds.length;
    }
    const ready = prepared.flatMap((item, i) => (item ? [i] : []));
    if (ready.length === 0) return outcomes;
    const swapped = new Set<number>();
    context.store.batch(() => {
      for (const i of ready) {
        const { group, replacement } = prepared[i]!;
        // replaceGroup's guard compares extent ids, but a move elsewhere (a rebalance) keeps the
        // ids and changes where they are: then the extents to free are not the group's any more.
        if (movedSinceRead(context, group)) continue;
        if (context.store.replaceGroup(group.groupId, group.extents.map((extent) => extent.extentId), replacement)) swapped.add(i);
      }
    });
    if (counters) counters.commits++;
    for (const i of ready) {
      if (!swapped.has(i)) continue; // stale: released below
      context.freeWhenUnread(prepared[i]!.group.extents);
      prepared[i] = undefined; // committed: its new extents are referenced now
      outcomes[i] = { kind: 'restriped' };
    }
    return outcomes;
  } finally {
    for (let i = 0; i < prepared.length; i++) release(i);
  }
}

/** Reads `group`, encodes it in `shape` and writes it to newly placed extents (not flushed). */
async function writeRestriped(context: RestripeContext, group: GroupWithExtents, shape: GroupShape): Promise<Prepared> {
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
    return { group, replacement: { sequence: group.sequence, ...shape, parityCount: context.parityCount, lengthBytes: group.lengthBytes, extents: reserved } };
  } catch (error) {
    for (const extent of reserved) context.allocator.release(extent.deviceId, extent.startLb, extent.lengthLb);
    throw error;
  } finally {
    context.arena.free(target);
  }
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

