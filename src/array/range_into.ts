// readInto an arena buffer (DiskArray.allocBuffer) without the copy out of the arena: every
// data block the range covers whole, at a 4 KiB-aligned place in the target, is read (and
// checked, and if need be rebuilt) right where it belongs; only blocks the range cuts — its
// first and last, a group's padded tail — pass through a group buffer and are copied.
// Groups are read with several in flight, as range_reader.ts does for a copying read.
import { LB_BYTES } from '../constants.js';
import { AbortedError } from '../errors.js';
import type { GroupWithExtents } from '../meta/rows.js';
import { slicesOf, type RangeReadOptions } from './range_reader.js';
import { readGroupBlocks, type GroupBlocks, type ReadContext } from './read_path.js';

export async function readRangeInPlace(
  context: ReadContext,
  groups: readonly GroupWithExtents[],
  offset: number,
  length: number,
  target: Uint8Array,
  options: RangeReadOptions,
): Promise<void> {
  const slices = slicesOf(groups, offset, length, options.groupsStartBytes);
  const inFlight = new Set<Promise<void>>();
  let firstError: unknown;
  let doneBytes = 0;
  for (const slice of slices) {
    if (firstError !== undefined) break;
    if (options.signal?.aborted) {
      firstError = new AbortedError('read was aborted');
      break;
    }
    while (inFlight.size >= options.groupsInFlightMax) await Promise.race(inFlight);
    const extentBytes = slice.group.extentLb * LB_BYTES;
    const first = Math.floor(slice.fromBytes / extentBytes);
    const last = Math.floor((slice.toBytes - 1) / extentBytes);
    /** Where block i's bytes go in the target: i * extentBytes past the group's start there. */
    const groupStartInTarget = slice.outOffset - slice.fromBytes;
    const inPlace = (index: number): Uint8Array | undefined => {
      const fromBytes = index * extentBytes;
      if (index > last || fromBytes < slice.fromBytes || fromBytes + extentBytes > slice.toBytes) return undefined;
      const at = groupStartInTarget + fromBytes;
      return (target.byteOffset + at) % LB_BYTES === 0 ? target.subarray(at, at + extentBytes) : undefined;
    };
    const task = readGroupBlocks(context, slice.group, range(first, last), inPlace)
      .then((blocks: GroupBlocks) => {
        try {
          for (let index = first; index <= last; index++) {
            if (inPlace(index) !== undefined) continue;
            const from = Math.max(slice.fromBytes, index * extentBytes);
            const to = Math.min(slice.toBytes, (index + 1) * extentBytes);
            target.set(blocks.view(index).subarray(from - index * extentBytes, to - index * extentBytes), groupStartInTarget + from);
          }
        } finally {
          blocks.release();
        }
        doneBytes += slice.toBytes - slice.fromBytes;
        options.onProgress?.({ doneBytes, totalBytes: length });
      })
      .catch((error: unknown) => {
        firstError ??= error;
      })
      .finally(() => inFlight.delete(task));
    inFlight.add(task);
  }
  while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
  if (firstError !== undefined) throw firstError;
}

function range(first: number, last: number): number[] {
  return Array.from({ length: last - first + 1 }, (_, i) => first + i);
}
