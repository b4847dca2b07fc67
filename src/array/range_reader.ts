// Reading a byte range of a file: the groups it overlaps are read with several in flight, and
// each group's slice is handed to a sink in file order, straight out of the arena buffer.
import { AbortedError } from '../errors.js';
import type { Arena } from '../kernels/arena.js';
import type { GroupWithExtents } from '../meta/rows.js';
import { LB_BYTES } from '../constants.js';
import { readGroupBlocks, type GroupBlocks, type ReadContext } from './read_path.js';
import type { Progress } from './types.js';

export interface RangeReadOptions {
  groupsInFlightMax: number;
  /** Where groups[0] starts in the file (default 0: the groups are the file's from its first). */
  groupsStartBytes?: number;
  onProgress?: (progress: Progress) => void;
  signal?: AbortSignal;
  /**
   * The consumer keeps each slice until it calls the slice's `release` (readRangeSlices then
   * does not release it when the next one is asked for): several slices may be held at once,
   * e.g. while writes of them are in flight. Every slice yielded must be released, also after
   * an error; slices read but never yielded are released here.
   */
  lend?: boolean;
  /**
   * Each group's slice is copied out of the arena into a Buffer of its own as soon as its read
   * completes, and the arena buffer goes back at once (createReadStream, which copies anyway):
   * the read-ahead a paused consumer leaves waiting then holds heap, not the shared arena that
   * every other get and put needs (a few paused streams used to take all of it, and every other
   * read and write waited for them). The yielded bytes are then Buffers, never released.
   */
  copyOut?: boolean;
}

/** A group's read, done: its slice's bytes, and how to give back what holds them. */
interface LoadedSlice {
  bytes: Uint8Array;
  release: () => void;
}

const NOTHING_TO_RELEASE = (): void => undefined;

export interface Slice {
  group: GroupWithExtents;
  /** Byte range within the group's data. */
  fromBytes: number;
  toBytes: number;
  outOffset: number;
}

/** The slices of a run of consecutive groups (the first starting at groupsStartBytes in the file) that the range covers. */
export function slicesOf(groups: readonly GroupWithExtents[], offset: number, length: number, groupsStartBytes = 0): Slice[] {
  const slices: Slice[] = [];
  let groupStart = groupsStartBytes;
  for (const group of groups) {
    const groupEnd = groupStart + group.lengthBytes;
    const from = Math.max(offset, groupStart);
    const to = Math.min(offset + length, groupEnd);
    if (from < to) slices.push({ group, fromBytes: from - groupStart, toBytes: to - groupStart, outOffset: from - offset });
    groupStart = groupEnd;
  }
  return slices;
}

/**
 * Yields the range's bytes group by group, in file order, with up to groupsInFlightMax groups
 * being read ahead. Each yielded view points into the arena and is valid until the consumer
 * asks for the next one (the buffer is released then, or when the consumer stops early); with
 * copyOut it is a Buffer of its own.
 */
export async function* readRangeSlices(
  context: ReadContext,
  groups: readonly GroupWithExtents[],
  offset: number,
  length: number,
  options: RangeReadOptions,
): AsyncGenerator<{ outOffset: number; bytes: Uint8Array; release?: () => void }> {
  const slices = slicesOf(groups, offset, length, options.groupsStartBytes);
  const pending: Promise<LoadedSlice>[] = [];
  let launched = 0;
  let doneBytes = 0;
  const launch = () => {
    while (pending.length < options.groupsInFlightMax && launched < slices.length) {
      // Look-ahead takes only spare arena: a consumer that needs arena space to take the next
      // slice (a put fed from this stream) must never wait for buffers this read holds.
      if (pending.length > 0 && !hasHeadroom(context.arena)) break;
      const slice = slices[launched++]!;
      const extentBytes = slice.group.extentLb * LB_BYTES;
      const first = Math.floor(slice.fromBytes / extentBytes);
      const last = Math.floor((slice.toBytes - 1) / extentBytes);
      const read = readGroupBlocks(context, slice.group, range(first, last)).then((blocks) => loaded(blocks, slice, options.copyOut === true));
      read.catch(() => undefined); // awaited in order below; this only stops an early unhandled report
      pending.push(read);
    }
  };
  try {
    launch();
    for (const slice of slices) {
      if (options.signal?.aborted) throw new AbortedError('read was aborted');
      const read = await pending.shift()!;
      const bytes = read.bytes;
      if (options.lend) {
        let held = true;
        yield { outOffset: slice.outOffset, bytes, release: () => void (held && ((held = false), read.release())) };
      } else {
        try {
          yield { outOffset: slice.outOffset, bytes };
        } finally {
          read.release();
        }
      }
      doneBytes += slice.toBytes - slice.fromBytes;
      options.onProgress?.({ doneBytes, totalBytes: length });
      launch();
    }
  } finally {
    // Reads still in flight (the consumer stopped early, or a group failed) settle before the
    // generator ends, so a reader that is done holds no device I/O and no arena buffer: close()
    // may close the devices once every reader has ended.
    const left = pending.splice(0);
    for (const read of left) read.then((done) => done.release(), () => undefined);
    await Promise.allSettled(left);
  }
}

/** The slice's bytes in the group's arena buffer, or (copyOut) copied out with the buffer given back. */
function loaded(blocks: GroupBlocks, slice: Slice, copyOut: boolean): LoadedSlice {
  const bytes = blocks.buffer.bytes.subarray(slice.fromBytes, slice.toBytes);
  if (!copyOut) return { bytes, release: () => blocks.release() };
  try {
    return { bytes: Buffer.from(bytes), release: NOTHING_TO_RELEASE };
  } finally {
    blocks.release();
  }
}

function range(first: number, last: number): number[] {
  return Array.from({ length: last - first + 1 }, (_, i) => first + i);
}

/** Read-ahead beyond the next group only while more than half of the arena is free. */
function hasHeadroom(arena: Arena): boolean {
  const stats = arena.stats();
  return stats.freeBytes * 2 > stats.heapBytes;
}
