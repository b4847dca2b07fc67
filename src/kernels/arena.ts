// The arena: the one shared WebAssembly memory that holds every I/O buffer and in which every
// kernel works, plus the slab allocator that hands out its 4 KiB-aligned buffers.
//
// Layout (byte offsets into memory.buffer):
//   [0, ARENA_TABLES_BYTES)                  GF(2^8) multiplication tables, written once
//   [ARENA_CONTROL_OFFSET_BYTES, +2 KiB)      control words (i32): scratch-slot claims, flags
//   [ARENA_SCRATCH_OFFSET_BYTES, 64 KiB)      ARENA_SCRATCH_SLOT_COUNT scratch slots, one per
//                                            thread, for the pointer and coefficient arrays a
//                                            kernel call reads; slot 0 is the coordinator's
//   [ARENA_RESERVED_BYTES, capacity)          buffers handed out by alloc()/acquire()
//
// Allocator: a first-fit free list of page extents, kept sorted by start page and fully
// coalesced (no two free extents touch). First fit over a coalesced list keeps long runs at
// the top of the arena for big group buffers, and the list stays short because the array
// layer frees whole groups. Size classes were rejected: group buffers vary in length with k
// and extent length, and classes would strand memory of one size while another starves.
//
// Invariants (checked by assertInvariants()):
//   1. Free extents are sorted, non-empty, pairwise non-adjacent and inside the heap.
//   2. Live buffers and free extents are disjoint and together cover the heap exactly.
//   3. The allocator's used pages equal the sum of live buffer lengths.
//   4. A waiter is queued only while it cannot be served in FIFO order.
//
// The memory is created at its full size and never grows, so `memory.buffer` and every view
// over it stay valid for the arena's life.
import { ArenaExhaustedError, AbortedError, InvalidArgumentError } from '../errors.js';
import { LB_BYTES } from '../constants.js';

/**
 * The part of a shared WebAssembly.Memory the kernels layer uses. Our compile settings (lib
 * ES2022 + @types/node 20) declare no WebAssembly namespace, so this file declares, locally,
 * exactly what it calls; at run time the name is Node's global.
 */
export interface SharedMemory {
  readonly buffer: SharedArrayBuffer;
  grow(deltaPages: number): number;
}
declare const WebAssembly: {
  Memory: new (descriptor: { initial: number; maximum: number; shared: true }) => SharedMemory;
};

export const WASM_PAGE_BYTES = 65536;
/** Buffers are aligned to and rounded up to this many bytes (O_DIRECT needs LB alignment). */
export const ARENA_PAGE_BYTES = LB_BYTES;
/** The head of the memory that the allocator never hands out. */
export const ARENA_RESERVED_BYTES = 65536;
export const ARENA_TABLES_OFFSET_BYTES = 0;
/** Room for gf_tables_bytes(); the kernel module promises at most this much. */
export const ARENA_TABLES_BYTES = 16384;
export const ARENA_CONTROL_OFFSET_BYTES = ARENA_TABLES_OFFSET_BYTES + ARENA_TABLES_BYTES;
export const ARENA_CONTROL_BYTES = 2048;
export const ARENA_SCRATCH_OFFSET_BYTES = ARENA_CONTROL_OFFSET_BYTES + ARENA_CONTROL_BYTES;
/** One slot holds 256 u32 source offsets, 4 u32 target offsets and 3 x 256 coefficients. */
export const ARENA_SCRATCH_SLOT_BYTES = 2048;
export const ARENA_SCRATCH_SLOT_COUNT = (ARENA_RESERVED_BYTES - ARENA_SCRATCH_OFFSET_BYTES) / ARENA_SCRATCH_SLOT_BYTES;
/** The coordinator's inline path uses slot 0; workers claim slots 1.. */
export const ARENA_COORDINATOR_SLOT = 0;
/** i32 index (into an Int32Array over the memory) of the claim word of scratch slot 0. */
export const ARENA_SLOT_CLAIMS_INDEX = ARENA_CONTROL_OFFSET_BYTES / 4;
/** i32 index of the word that counts pool ids (slot claims carry their pool id). */
export const ARENA_POOL_ID_INDEX = ARENA_SLOT_CLAIMS_INDEX + ARENA_SCRATCH_SLOT_COUNT;
/** i32 index of the flag set once the GF tables are written. */
export const ARENA_TABLES_READY_INDEX = ARENA_POOL_ID_INDEX + 1;
export const ARENA_CAPACITY_BYTES_DEFAULT = 256 * 1024 * 1024;
/** Must not exceed the maximum the kernel module declares for its imported memory. */
export const ARENA_MAXIMUM_PAGES_DEFAULT = 65536;

function check(condition: boolean, message: string): asserts condition {
  if (!condition) throw new Error(`arena: ${message}`);
}
check(ARENA_RESERVED_BYTES % ARENA_PAGE_BYTES === 0, 'reserved region is page aligned');
check(ARENA_SCRATCH_OFFSET_BYTES % 64 === 0, 'scratch slots are 64-byte aligned');
check(Number.isInteger(ARENA_SCRATCH_SLOT_COUNT) && ARENA_SCRATCH_SLOT_COUNT >= 2, 'scratch slots fit exactly');
check((ARENA_TABLES_READY_INDEX + 1) * 4 <= ARENA_CONTROL_OFFSET_BYTES + ARENA_CONTROL_BYTES, 'control words fit');
check(WASM_PAGE_BYTES % ARENA_PAGE_BYTES === 0, 'wasm pages hold whole arena pages');

export interface ArenaOptions {
  /** Total memory size, reserved head included; a multiple of 64 KiB. */
  capacityBytes?: number;
  /** Declared maximum of the shared memory in wasm pages; must match the kernel module. */
  maximumPages?: number;
}

export interface ArenaBuffer {
  readonly offsetBytes: number;
  readonly lengthBytes: number;
  /** A view over memory.buffer at offsetBytes, lengthBytes long. */
  readonly bytes: Uint8Array;
}

export interface ArenaStats {
  capacityBytes: number;
  heapBytes: number;
  usedBytes: number;
  freeBytes: number;
  largestFreeBytes: number;
  liveBuffers: number;
  freeExtents: number;
  waiters: number;
}

interface FreeRun {
  start: number;
  count: number;
}

/**
 * First-fit allocation of runs of units in [firstUnit, endUnit), over a free list kept sorted
 * and coalesced. The arena uses it for 4 KiB pages; the codec for 32-byte checksum slots.
 */
export class RunAllocator {
  readonly firstUnit: number;
  readonly endUnit: number;
  /** Sorted by start; no two runs touch. */
  private readonly runs: FreeRun[] = [];
  private usedUnits = 0;

  constructor(firstUnit: number, endUnit: number) {
    check(Number.isInteger(firstUnit) && Number.isInteger(endUnit) && firstUnit < endUnit, 'a run allocator needs a non-empty range');
    this.firstUnit = firstUnit;
    this.endUnit = endUnit;
    this.runs.push({ start: firstUnit, count: endUnit - firstUnit });
  }

  get used(): number {
    return this.usedUnits;
  }

  get free(): number {
    return this.endUnit - this.firstUnit - this.usedUnits;
  }

  get freeRunCount(): number {
    return this.runs.length;
  }

  largestFreeRun(): number {
    let largest = 0;
    for (const run of this.runs) largest = Math.max(largest, run.count);
    return largest;
  }

  freeRuns(): readonly Readonly<FreeRun>[] {
    return this.runs;
  }

  fits(count: number): boolean {
    return this.runs.some((run) => run.count >= count);
  }

  /** The start of a run of `count` units taken from the first free run that holds it. */
  take(count: number): number | undefined {
    const index = this.runs.findIndex((run) => run.count >= count);
    if (index === -1) return undefined;
    const run = this.runs[index]!;
    const start = run.start;
    if (run.count === count) this.runs.splice(index, 1);
    else {
      run.start += count;
      run.count -= count;
    }
    this.usedUnits += count;
    return start;
  }

  /** Returns a run, merging it with the free neighbours it touches. */
  release(start: number, count: number): void {
    check(start >= this.firstUnit && start + count <= this.endUnit && count > 0, `release of [${start}, ${start + count}) outside the range`);
    let low = 0;
    let high = this.runs.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (this.runs[middle]!.start < start) low = middle + 1;
      else high = middle;
    }
    const before = this.runs[low - 1];
    const after = this.runs[low];
    check(before === undefined || before.start + before.count <= start, `release of [${start}, ${start + count}) overlaps a free run`);
    check(after === undefined || start + count <= after.start, `release of [${start}, ${start + count}) overlaps a free run`);
    const touchesBefore = before !== undefined && before.start + before.count === start;
    const touchesAfter = after !== undefined && start + count === after.start;
    if (touchesBefore && touchesAfter) {
      before.count += count + after.count;
      this.runs.splice(low, 1);
    } else if (touchesBefore) before.count += count;
    else if (touchesAfter) {
      after.start = start;
      after.count += count;
    } else this.runs.splice(low, 0, { start, count });
    this.usedUnits -= count;
  }

  assertInvariants(): void {
    let previousEnd = this.firstUnit - 1;
    let freeUnits = 0;
    for (const run of this.runs) {
      check(run.count > 0, 'free runs are not empty');
      check(run.start > previousEnd, 'free runs are sorted and coalesced (no touching neighbours)');
      previousEnd = run.start + run.count;
      freeUnits += run.count;
    }
    check(previousEnd <= this.endUnit, 'free runs end inside the range');
    check(freeUnits === this.free, 'free units add up');
  }
}

interface Waiter {
  pageCount: number;
  resolve: (buffer: ArenaBuffer) => void;
  reject: (error: Error) => void;
  detach: () => void;
}

export class Arena {
  readonly memory: SharedMemory;
  readonly capacityBytes: number;
  /** memory.buffer, read once: the memory never grows, and the getter is not free. */
  private readonly sharedBuffer: SharedArrayBuffer;
  private readonly heapFirstPage: number;
  private readonly heapEndPage: number;
  private readonly pages: RunAllocator;
  /** offsetBytes -> pageCount of every live buffer. */
  private readonly liveBuffers = new Map<number, number>();
  private readonly waiters: Waiter[] = [];

  constructor(options: ArenaOptions = {}) {
    const capacityBytes = options.capacityBytes ?? ARENA_CAPACITY_BYTES_DEFAULT;
    const maximumPages = options.maximumPages ?? ARENA_MAXIMUM_PAGES_DEFAULT;
    if (!Number.isInteger(capacityBytes) || capacityBytes % WASM_PAGE_BYTES !== 0 || capacityBytes <= ARENA_RESERVED_BYTES) {
      throw new InvalidArgumentError(`arena capacity ${capacityBytes} must be a multiple of 64 KiB above ${ARENA_RESERVED_BYTES}`);
    }
    const initialPages = capacityBytes / WASM_PAGE_BYTES;
    if (!Number.isInteger(maximumPages) || maximumPages < initialPages || maximumPages > 65536) {
      throw new InvalidArgumentError(`arena maximum of ${maximumPages} wasm pages cannot hold ${initialPages} pages`);
    }
    this.memory = new WebAssembly.Memory({ initial: initialPages, maximum: maximumPages, shared: true });
    this.capacityBytes = capacityBytes;
    this.sharedBuffer = this.memory.buffer;
    this.heapFirstPage = ARENA_RESERVED_BYTES / ARENA_PAGE_BYTES;
    this.heapEndPage = capacityBytes / ARENA_PAGE_BYTES;
    this.pages = new RunAllocator(this.heapFirstPage, this.heapEndPage);
  }

  /** Bytes the allocator can hand out in total (capacity minus the reserved head). */
  get heapBytes(): number {
    return (this.heapEndPage - this.heapFirstPage) * ARENA_PAGE_BYTES;
  }

  /** An Int32Array over the whole memory, for Atomics on the control words. */
  controlWords(): Int32Array {
    return new Int32Array(this.memory.buffer, 0, ARENA_RESERVED_BYTES / 4);
  }

  /**
   * Takes a buffer at once, or throws ArenaExhaustedError. alloc() does not queue behind
   * acquire() callers: it is for short-lived buffers (checksum outputs, scratch) that must not
   * fail merely because a large request is waiting.
   */
  alloc(lengthBytes: number): ArenaBuffer {
    const pageCount = this.pagesFor(lengthBytes);
    const buffer = this.take(pageCount);
    if (buffer === undefined) {
      throw new ArenaExhaustedError(
        `arena has no free run of ${pageCount * ARENA_PAGE_BYTES} bytes (${this.stats().freeBytes} bytes free in ${this.pages.freeRunCount} runs)`,
      );
    }
    return buffer;
  }

  /**
   * Takes a buffer, waiting in FIFO order until enough is freed. Rejects at once with
   * ArenaExhaustedError when the request exceeds the heap, and with AbortedError on abort.
   */
  acquire(lengthBytes: number, signal?: AbortSignal): Promise<ArenaBuffer> {
    let pageCount: number;
    try {
      pageCount = this.pagesFor(lengthBytes);
    } catch (error) {
      return Promise.reject(error);
    }
    if (signal?.aborted) return Promise.reject(new AbortedError('arena acquire was aborted before it started'));
    if (this.waiters.length === 0) {
      const buffer = this.take(pageCount);
      if (buffer !== undefined) return Promise.resolve(buffer);
    }
    return new Promise<ArenaBuffer>((resolve, reject) => this.enqueue(pageCount, resolve, reject, signal));
  }

  /** Returns a buffer to the arena and serves waiters. A double free is a programmer error. */
  free(buffer: ArenaBuffer): void {
    const pageCount = this.liveBuffers.get(buffer.offsetBytes);
    check(pageCount !== undefined, `free of a buffer that is not live (offset ${buffer.offsetBytes}): double free?`);
    check(pageCount * ARENA_PAGE_BYTES === buffer.lengthBytes, `free with a wrong length at offset ${buffer.offsetBytes}`);
    this.liveBuffers.delete(buffer.offsetBytes);
    this.pages.release(buffer.offsetBytes / ARENA_PAGE_BYTES, pageCount);
    this.serveWaiters();
  }

  /** The byte offset of a view that lies inside this arena's heap; throws otherwise. */
  viewOffset(view: Uint8Array): number {
    if (view.buffer !== this.sharedBuffer) {
      throw new InvalidArgumentError('buffer is not a view into the arena memory');
    }
    const endBytes = view.byteOffset + view.byteLength;
    if (view.byteOffset < ARENA_RESERVED_BYTES || endBytes > this.capacityBytes) {
      throw new InvalidArgumentError(`view [${view.byteOffset}, ${endBytes}) lies outside the arena heap`);
    }
    return view.byteOffset;
  }

  stats(): ArenaStats {
    return {
      capacityBytes: this.capacityBytes,
      heapBytes: this.heapBytes,
      usedBytes: this.pages.used * ARENA_PAGE_BYTES,
      freeBytes: this.pages.free * ARENA_PAGE_BYTES,
      largestFreeBytes: this.pages.largestFreeRun() * ARENA_PAGE_BYTES,
      liveBuffers: this.liveBuffers.size,
      freeExtents: this.pages.freeRunCount,
      waiters: this.waiters.length,
    };
  }

  assertInvariants(): void {
    check(this.memory.buffer === this.sharedBuffer && this.sharedBuffer.byteLength === this.capacityBytes, 'the memory never grows');
    this.pages.assertInvariants();
    const spans: FreeRun[] = this.pages.freeRuns().map((run) => ({ ...run }));
    let livePages = 0;
    for (const [offsetBytes, pageCount] of this.liveBuffers) {
      check(offsetBytes % ARENA_PAGE_BYTES === 0 && pageCount > 0, 'live buffers are page aligned and non-empty');
      spans.push({ start: offsetBytes / ARENA_PAGE_BYTES, count: pageCount });
      livePages += pageCount;
    }
    check(livePages === this.pages.used, 'used pages equal the sum of live buffers');
    spans.sort((a, b) => a.start - b.start);
    let cursor = this.heapFirstPage;
    for (const span of spans) {
      check(span.start === cursor, `heap covered exactly once (gap or overlap at page ${cursor})`);
      cursor += span.count;
    }
    check(cursor === this.heapEndPage, 'live and free spans end at the heap end');
    if (this.waiters.length > 0) {
      check(!this.pages.fits(this.waiters[0]!.pageCount), 'the head waiter is queued only while it cannot fit');
    }
  }

  private pagesFor(lengthBytes: number): number {
    if (!Number.isInteger(lengthBytes) || lengthBytes <= 0) {
      throw new InvalidArgumentError(`arena buffer length ${lengthBytes} must be a positive integer`);
    }
    const pageCount = Math.ceil(lengthBytes / ARENA_PAGE_BYTES);
    if (pageCount > this.heapEndPage - this.heapFirstPage) {
      throw new ArenaExhaustedError(`a buffer of ${lengthBytes} bytes exceeds the arena heap of ${this.heapBytes} bytes`);
    }
    return pageCount;
  }

  private take(pageCount: number): ArenaBuffer | undefined {
    const startPage = this.pages.take(pageCount);
    if (startPage === undefined) return undefined;
    const offsetBytes = startPage * ARENA_PAGE_BYTES;
    const lengthBytes = pageCount * ARENA_PAGE_BYTES;
    this.liveBuffers.set(offsetBytes, pageCount);
    return { offsetBytes, lengthBytes, bytes: new Uint8Array(this.sharedBuffer, offsetBytes, lengthBytes) };
  }

  private enqueue(
    pageCount: number,
    resolve: (buffer: ArenaBuffer) => void,
    reject: (error: Error) => void,
    signal: AbortSignal | undefined,
  ): void {
    const onAbort = (): void => {
      const index = this.waiters.indexOf(waiter);
      if (index === -1) return;
      this.waiters.splice(index, 1);
      reject(new AbortedError('arena acquire was aborted while waiting for space'));
      // The aborted request may have blocked smaller ones behind it.
      this.serveWaiters();
    };
    const waiter: Waiter = {
      pageCount,
      resolve,
      reject,
      detach: () => signal?.removeEventListener('abort', onAbort),
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    this.waiters.push(waiter);
  }

  /** Serves queued requests strictly in order; stops at the first that does not fit. */
  private serveWaiters(): void {
    while (this.waiters.length > 0) {
      const buffer = this.take(this.waiters[0]!.pageCount);
      if (buffer === undefined) return;
      const waiter = this.waiters.shift()!;
      waiter.detach();
      waiter.resolve(buffer);
    }
  }
}
