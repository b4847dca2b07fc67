// Arena-resident buffers for embedders (DiskArray.allocBuffer / freeBuffer): Buffers whose
// memory is the arena itself, so `put` encodes them in place (the kernels and io_uring work on
// the caller's bytes, no copy into a group buffer) and `readInto` reads whole blocks straight
// into them. Each is 4 KiB aligned (O_DIRECT), taken from the same slab allocator as the
// array's own group buffers, and must be given back with freeBuffer (close frees what is left).
//
// Invariants (assertInvariants):
//  1. Every lent buffer is a live arena buffer, and lent buffers do not overlap.
//  2. A lent Buffer covers its arena buffer's start, no more than its length.
//  3. A lent Buffer a put or readInto is using (pinned) is not freed: freeBuffer refuses it, for
//     the arena would hand its memory on while that call still reads or writes it.
import { InvalidArgumentError } from '../errors.js';
import { ARENA_PAGE_BYTES, type Arena, type ArenaBuffer } from '../kernels/arena.js';

function check(condition: boolean, message: string): asserts condition {
  if (!condition) throw new Error(`arena_buffers: ${message}`);
}

export class ArenaBuffers {
  /** byteOffset of each lent Buffer -> its arena buffer. */
  private readonly lent = new Map<number, { buffer: ArenaBuffer; lengthBytes: number; pins: number }>();

  constructor(private readonly arena: Arena) {}

  get lentCount(): number {
    return this.lent.size;
  }

  /**
   * A Buffer of `lengthBytes` in the arena (ArenaExhaustedError when no run that long is free:
   * the arena is sized by OpenOptions.arenaBytes, and group buffers of puts and gets share it).
   */
  alloc(lengthBytes: number): Buffer {
    if (!Number.isSafeInteger(lengthBytes) || lengthBytes <= 0) {
      throw new InvalidArgumentError(`allocBuffer needs a positive whole number of bytes, not ${String(lengthBytes)}`);
    }
    const buffer = this.arena.alloc(lengthBytes);
    this.lent.set(buffer.offsetBytes, { buffer, lengthBytes, pins: 0 });
    return Buffer.from(buffer.bytes.buffer, buffer.offsetBytes, lengthBytes);
  }

  /** Gives a Buffer from alloc back; anything else (a view into it, a second free) is refused. */
  free(view: Uint8Array): void {
    const entry = view instanceof Uint8Array && this.isArenaView(view) ? this.lent.get(view.byteOffset) : undefined;
    if (entry === undefined || entry.lengthBytes !== view.byteLength) {
      throw new InvalidArgumentError('freeBuffer takes a Buffer that allocBuffer returned and that is not freed yet');
    }
    if (entry.pins > 0) {
      throw new InvalidArgumentError('freeBuffer of a Buffer that a put or readInto in flight still uses: free it once that call has settled');
    }
    this.lent.delete(view.byteOffset);
    this.arena.free(entry.buffer);
  }

  /** Whether `view` is arena memory aligned for in-place I/O (a lent buffer or a 4 KiB-aligned view of one). */
  isAlignedArenaView(view: Uint8Array): boolean {
    return this.isArenaView(view) && view.byteOffset % ARENA_PAGE_BYTES === 0;
  }

  isArenaView(view: Uint8Array): boolean {
    return view.buffer === this.arena.memory.buffer;
  }

  /** Whether `view` lies inside one Buffer lent by alloc and not freed yet (a part of one counts). */
  isLentView(view: Uint8Array): boolean {
    return this.lentEntryOf(view) !== undefined;
  }

  /**
   * Marks the lent Buffer `view` lies in as used by a call in flight (a put of it, a readInto
   * into it) until the returned function runs: freeBuffer refuses it meanwhile. A view outside
   * every lent Buffer (not the embedder's) needs no pin.
   */
  pin(view: Uint8Array): () => void {
    const entry = this.lentEntryOf(view);
    if (entry === undefined) return () => undefined;
    entry.pins++;
    let pinned = true;
    return () => {
      if (!pinned) return;
      pinned = false;
      entry.pins--;
    };
  }

  private lentEntryOf(view: Uint8Array): { lengthBytes: number; pins: number } | undefined {
    if (!this.isArenaView(view)) return undefined;
    const endBytes = view.byteOffset + view.byteLength;
    for (const [offsetBytes, entry] of this.lent) {
      if (offsetBytes <= view.byteOffset && endBytes <= offsetBytes + entry.lengthBytes) return entry;
    }
    return undefined;
  }

  /** At close: whatever embedders still hold goes back (their views read zeros or stale bytes after). */
  releaseAll(): void {
    for (const { buffer } of this.lent.values()) this.arena.free(buffer);
    this.lent.clear();
  }

  assertInvariants(): void {
    const spans = [...this.lent.values()].map(({ buffer, lengthBytes, pins }) => {
      check(lengthBytes > 0 && lengthBytes <= buffer.lengthBytes, 'a lent Buffer lies within its arena buffer');
      check(Number.isInteger(pins) && pins >= 0, 'a lent Buffer is pinned a whole number of times');
      return buffer;
    });
    spans.sort((a, b) => a.offsetBytes - b.offsetBytes);
    for (let i = 1; i < spans.length; i++) check(spans[i - 1]!.offsetBytes + spans[i - 1]!.lengthBytes <= spans[i]!.offsetBytes, 'lent buffers do not overlap');
  }
}
