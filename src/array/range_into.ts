// readInto an arena buffer (DiskArray.allocBuffer) without the copy out of the arena: every
// data block the range covers whole, at a 4 KiB-aligned place in the target, is read (and
// checked, and if need be rebuilt) right where it belongs; only blocks the range cuts — its
// first and last, a group's padded tail — pass through a group buffer and are copied.
// Groups are read with several in flight, as range_reader.ts does for a copying read. A readInto
// of one group into a plain Buffer comes here too (every block copied, no ordered read-ahead).
import { LB_BYTES } from '../constants.js';
import { AbortedError } from '../errors.js';
import type { GroupWithExtents } from '../meta/rows.js';
import { slicesOf, type RangeReadOptions, type Slice } from './range_reader.js';
import { readGroupBlocks, type GroupBlocks, type ReadContext } from './read_path.js';

/**
 * Reads the range into `target`. `inArena`: the target is an arena view, so blocks it holds
 * whole go in place; otherwise every block passes through the group buffer and is copied (a
 * readInto of one group into a plain Buffer: no ordered read-ahead needed).
 */
export async function readRangeInPlace(
  context: ReadContext,
  groups: readonly GroupWithExtents[],
  offset: number,
  length: number,
  target: Uint8Array,
  options: RangeReadOptions,
  inArena = true,
): Promise<void> {
  const slices = slicesOf(groups, offset, length, options.groupsStartBytes);
  let doneBytes = 0;
  const readSlice = async (slice: Slice): Promise<void> => {
    await readSliceInto(context, slice, target, inArena);
    doneBytes += slice.toBytes - slice.fromBytes;
    options.onProgress?.({ doneBytes, totalBytes: length });
  };
  // One group (a small file): no in-flight bookkeeping.
  if (slices.length === 1) {
    if (options.signal?.aborted) throw new AbortedError('read was aborted');
    return readSlice(slices[0]!);
  }
  const inFlight = new Set<Promise<void>>();
  let firstError: unknown;
  for (const slice of slices) {
    if (firstError !== undefined) break;
    if (options.signal?.aborted) {
      firstError = new AbortedError('read was aborted');
      break;
    }
    while (inFlight.size >= options.groupsInFlightMax) await Promise.race(inFlight);
    const task = readSlice(slice)
      .catch((error: unknown) => {
        firstError ??= error;
      })
      .finally(() => inFlight.delete(task));
    inFlight.add(task);
  }
  while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
  if (firstError !== undefined) throw firstError;
}

/** Reads one group's slice into its place in the target (in place where it can, else copied). */
async function readSliceInto(context: ReadContext, slice: Slice, target: Uint8Array, inArena: boolean): Promise<void> {
  const extentBytes = slice.group.extentLb * LB_BYTES;
  const first = Math.floor(slice.fromBytes / extentBytes);
  const last = Math.floor((slice.toBytes - 1) / extentBytes);
  /** Where block i's bytes go in the target: i * extentBytes past the group's start there. */
  const groupStartInTarget = slice.outOffset - slice.fromBytes;
  const inPlace = inArena
    ? (index: number): Uint8Array | undefined => {
        const fromBytes = index * extentBytes;
        if (index > last || fromBytes < slice.fromBytes || fromBytes + extentBytes > slice.toBytes) return undefined;
        const at = groupStartInTarget + fromBytes;
        return (target.byteOffset + at) % LB_BYTES === 0 ? target.subarray(at, at + extentBytes) : undefined;
      }
    : undefined;
  const blocks: GroupBlocks = await readGroupBlocks(context, slice.group, range(first, last), inPlace);
  try {
    for (let index = first; index <= last; index++) {
      if (inPlace?.(index) !== undefined) continue;
      const from = Math.max(slice.fromBytes, index * extentBytes);
      const to = Math.min(slice.toBytes, (index + 1) * extentBytes);
      target.set(blocks.view(index).subarray(from - index * extentBytes, to - index * extentBytes), groupStartInTarget + from);
    }
  } finally {
    blocks.release();
  }
}

function range(first: number, last: number): number[] {
  const indices: number[] = [];
  for (let index = first; index <= last; index++) indices.push(index);
  return indices;
}
