// Moving blocks of a committed group to other devices: the one primitive under rebuild,
// evacuate (remove) and rebalance. Jobs move many groups at once through relocateBatch
// (move_batch.ts), which shares the flushes and the metadata commit; relocateBlocks is its batch
// of one. Copy-on-write like every write: the block is read (or, when its device is gone or the
// block is bad, reconstructed from the group) and checked against its recorded checksum,
// written to a newly allocated extent, flushed, and only then does one transaction point the
// extent row at the new place. The old extent is freed once no reader can still see it. A crash
// at any point leaves either the old or the new place committed, never both and never neither;
// the unreferenced copy is free space after reopen.
import type { ExtentAllocator } from '../meta/extent_allocator.js';
import type { MetaStore } from '../meta/meta_store.js';
import type { ExtentRow, GroupWithExtents } from '../meta/rows.js';
import type { FlushCoalescer } from './flush_coalescer.js';
import { relocateBatch } from './move_batch.js';
import type { ReadContext } from './read_path.js';

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
 * Moves the given blocks of a group (a batch of one: see move_batch.ts). Returns false when the
 * group changed under the move (its file was replaced or deleted): nothing is committed then
 * and the new extents are released. A read, write or flush failure is thrown.
 */
export async function relocateBlocks(context: RelocateContext, group: GroupWithExtents, moves: readonly BlockMove[]): Promise<boolean> {
  const [outcome] = await relocateBatch(context, [{ group, moves }]);
  if (outcome!.kind === 'failed') throw outcome.error;
  return outcome!.kind === 'moved';
}
