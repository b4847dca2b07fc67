// The read path of get(): read the data extents a byte range needs straight into the arena,
// verify their checksums, and only where a device is missing or failed, a read errs, or a
// checksum does not match, read just the k blocks a rebuild needs and reconstruct (a degraded
// read): the other data blocks plus one parity row per lost data block, P first.
import { LB_BYTES } from '../constants.js';
import { CorruptBlockError, DeviceFailedError, DeviceIoError, TooManyErasuresError } from '../errors.js';
import type { Device } from '../devices/device.js';
import type { Arena, ArenaBuffer } from '../kernels/arena.js';
import type { Codec } from '../kernels/codec.js';
import type { ExtentRow, GroupWithExtents } from '../meta/rows.js';
import type { ArrayDevices } from './array_devices.js';
import type { FlushCoalescer } from './flush_coalescer.js';
import { groupLabel } from './group_label.js';

export interface ReadContext {
  arena: Arena;
  codec: Codec;
  devices: ArrayDevices;
  /** Called once per group that needed reconstruction, with the rebuilt block indices. */
  onDegradedRead: (group: GroupWithExtents, rebuiltIndices: number[]) => void;
  /** Called when a device failed a read. */
  onDeviceError: (deviceId: number, error: DeviceIoError | DeviceFailedError) => void;
  /** Rewrite rebuilt blocks whose device is still online (bit rot, a bad sector). Default true. */
  repair?: boolean;
  /** Called once per block rewritten in place with its rebuilt content. */
  onRepaired?: (deviceId: number, groupId: number) => void;
  /** The name of a file by id, for the wording of errors (groupLabel); ids when absent. */
  fileNameOf?: (fileId: number) => string | undefined;
  /** Called once per extent read from a device (a job counts where its reads went). */
  onBlockRead?: (deviceId: number) => void;
  /**
   * The array's flushes (flush_coalescer.ts). A repair's flush goes through it, so one that fails
   * poisons the device for every later flush: the writes it covered may be lost, and a job whose
   * unflushed writes to that device it dropped must not see its own flush succeed and commit.
   */
  flusher?: FlushCoalescer;
}

/**
 * Reads of one extent tried before its block counts as lost: a one-off EIO (a flaky cable, an
 * NBD server's hiccup) must cost a retry, not a reconstruction — or, with another device
 * already down, a failed read.
 */
export const READ_ATTEMPTS_MAX = 3;

/** A group's blocks in one arena buffer: block i (data 0..k-1, then parity) at i * extentBytes. */
export interface GroupBlocks {
  buffer: ArenaBuffer;
  extentBytes: number;
  view: (index: number) => Uint8Array;
  release: () => void;
}

/** Position of an extent within its group: data 0..k-1, then parity k..k+m-1. */
export function blockIndex(group: { dataCount: number }, extent: { role: string; index: number }): number {
  return extent.role === 'data' ? extent.index : group.dataCount + extent.index;
}

/** Extents of a group indexed by block position. */
export function extentsByBlock(group: GroupWithExtents): ExtentRow[] {
  const byBlock = new Array<ExtentRow>(group.dataCount + group.parityCount);
  for (const extent of group.extents) byBlock[blockIndex(group, extent)] = extent;
  return byBlock;
}

/**
 * Reads (and where needed reconstructs) the blocks `indices` of a group into one arena
 * buffer, or where `placement` gives a view, into that arena view instead. `spare`: blocks a
 * reconstruction should not read while the others suffice (with m > 1 a rebuild has more
 * survivors than it needs, and the caller picks the least loaded ones); they are rebuilt with
 * the lost ones instead, and read after all if a further block turns out unusable.
 */
export async function readGroupBlocks(
  context: ReadContext,
  group: GroupWithExtents,
  indices: number[],
  placement?: (index: number) => Uint8Array | undefined,
  spare: readonly number[] = [],
): Promise<GroupBlocks> {
  const extentBytes = group.extentLb * LB_BYTES;
  const buffer = await context.arena.acquire((group.dataCount + group.parityCount) * extentBytes);
  // `placement` puts blocks straight into the caller's arena memory (readInto an allocBuffer).
  const view = (index: number) => placement?.(index) ?? buffer.bytes.subarray(index * extentBytes, (index + 1) * extentBytes);
  try {
    const byBlock = extentsByBlock(group);
    const bad = await readBlocks(context, byBlock, indices, view);
    if (bad.length > 0) await reconstruct(context, group, byBlock, indices, bad, view, spare);
  } catch (error) {
    context.arena.free(buffer);
    throw error;
  }
  return { buffer, extentBytes, view, release: () => context.arena.free(buffer) };
}

/** Reads the blocks in one batch and verifies them; returns the indices that are unusable. */
async function readBlocks(
  context: ReadContext,
  byBlock: ExtentRow[],
  indices: number[],
  view: (index: number) => Uint8Array,
): Promise<number[]> {
  const unusable: number[] = [];
  const attempts: { index: number; extent: ExtentRow; done: Promise<void> }[] = [];
  for (const index of indices) {
    const extent = byBlock[index]!;
    const device = context.devices.usable(extent.deviceId);
    if (!device) {
      unusable.push(index);
      continue;
    }
    const done = readRetrying(device, extent, view(index));
    context.onBlockRead?.(extent.deviceId);
    attempts.push({ index, extent, done });
  }
  const outcomes = await Promise.allSettled(attempts.map((attempt) => attempt.done));
  const readOk: typeof attempts = [];
  outcomes.forEach((outcome, i) => {
    const attempt = attempts[i]!;
    if (outcome.status === 'fulfilled') return void readOk.push(attempt);
    const reason: unknown = outcome.reason;
    if (!(reason instanceof DeviceIoError || reason instanceof DeviceFailedError)) throw reason;
    context.onDeviceError(attempt.extent.deviceId, reason);
    unusable.push(attempt.index);
  });
  if (readOk.length > 0) {
    const views = readOk.map((attempt) => view(attempt.index));
    const checksums = readOk.map((attempt) => attempt.extent.checksum);
    // Small blocks are verified right here (inline, no promise); larger work goes to the pool.
    const mismatched = context.codec.verifyNow(views, checksums) ?? (await context.codec.verify(views, checksums));
    for (const i of mismatched) unusable.push(readOk[i]!.index);
  }
  return unusable;
}

/** Reads an extent, retrying an I/O error (not a device gone offline) up to READ_ATTEMPTS_MAX times. */
export async function readRetrying(device: Device, extent: { startLb: number; lengthLb: number }, target: Uint8Array): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await device.read([{ startLb: extent.startLb, lengthLb: extent.lengthLb }], [target]);
      return;
    } catch (error) {
      if (!(error instanceof DeviceIoError) || attempt >= READ_ATTEMPTS_MAX || !device.online) throw error;
    }
  }
}

/**
 * The blocks a rebuild still has to read: every data block not read yet, and one surviving
 * parity row per lost data block, taken in order (P first) — the sources reconstructionPlan
 * uses for this erasure pattern. Lost blocks are never read again.
 */
export function blocksToFetch(dataCount: number, parityCount: number, attempted: ReadonlySet<number>, lost: ReadonlySet<number>): number[] {
  const fetch: number[] = [];
  for (let index = 0; index < dataCount; index++) if (!attempted.has(index)) fetch.push(index);
  let rowsWanted = [...lost].filter((index) => index < dataCount).length;
  for (let row = 0; row < parityCount && rowsWanted > 0; row++) {
    const index = dataCount + row;
    if (lost.has(index)) continue;
    rowsWanted--;
    if (!attempted.has(index)) fetch.push(index);
  }
  return fetch;
}

/**
 * Reads the further blocks a rebuild needs (a block found bad on the way widens the fetch by
 * one more parity row) and rebuilds the unusable ones. A group of k + m blocks costs k reads
 * plus the reads that failed, never the whole group.
 */
async function reconstruct(
  context: ReadContext,
  group: GroupWithExtents,
  byBlock: ExtentRow[],
  alreadyRead: number[],
  bad: number[],
  view: (index: number) => Uint8Array,
  spare: readonly number[],
): Promise<void> {
  const width = group.dataCount + group.parityCount;
  const attempted = new Set(alreadyRead);
  const unusable = new Set(bad);
  // Spared blocks count as erased for the plan (so it reads others in their place) as long as
  // parity covers them with the unusable ones; never a block already read or asked for.
  const spared = new Set(spare.filter((index) => !attempted.has(index) && !unusable.has(index)));
  for (;;) {
    if (unusable.size > group.parityCount) break;
    if (unusable.size + spared.size > group.parityCount) spared.clear();
    const erased = new Set([...unusable, ...spared]);
    const fetch = blocksToFetch(group.dataCount, group.parityCount, new Set([...attempted, ...spared]), erased);
    if (fetch.length === 0) break;
    for (const index of fetch) attempted.add(index);
    for (const index of await readBlocks(context, byBlock, fetch, view)) unusable.add(index);
  }
  const lost = [...unusable].sort((a, b) => a - b);
  if (lost.length > group.parityCount) {
    throw new TooManyErasuresError(
      `${groupLabel(group, context.fileNameOf?.(group.fileId))} has ${lost.length} unreadable blocks; parity ${group.parityCount} rebuilds at most ${group.parityCount}`,
    );
  }
  const rebuilt = [...unusable, ...spared].sort((a, b) => a - b);
  const blocks = [...Array(width).keys()].map(view);
  await context.codec.reconstruct(blocks, group.dataCount, rebuilt);
  // Pair assertion: a rebuilt block must carry the checksum recorded when it was written.
  const mismatched = await context.codec.verify(rebuilt.map(view), rebuilt.map((index) => byBlock[index]!.checksum));
  if (mismatched.length > 0) {
    throw new CorruptBlockError(
      `${groupLabel(group, context.fileNameOf?.(group.fileId))}: rebuilt block ${rebuilt[mismatched[0]!]} does not match its checksum (more corruption than parity covers)`,
    );
  }
  context.onDegradedRead(group, lost);
  if (context.repair ?? true) await repairInPlace(context, byBlock, lost, view);
}

/**
 * Writes rebuilt blocks back to their own extents where the device is still online, so bit
 * rot or a bad sector is healed by the read that found it. Safe under copy-on-write: the block
 * is committed and rewritten with exactly its committed content, and the reader's epoch keeps
 * the extent from being freed and reused meanwhile. A failed repair only loses the repair.
 */
async function repairInPlace(context: ReadContext, byBlock: ExtentRow[], lost: number[], view: (index: number) => Uint8Array): Promise<void> {
  await Promise.all(
    lost.map(async (index) => {
      const extent = byBlock[index]!;
      const device = context.devices.usable(extent.deviceId);
      if (!device) return;
      try {
        await device.write([{ startLb: extent.startLb, lengthLb: extent.lengthLb }], [view(index)]);
        await (context.flusher ? context.flusher.flush(device) : device.flush());
        context.onRepaired?.(extent.deviceId, extent.groupId);
      } catch (error) {
        if (!(error instanceof DeviceIoError || error instanceof DeviceFailedError)) throw error;
        context.onDeviceError(extent.deviceId, error);
      }
    }),
  );
}
