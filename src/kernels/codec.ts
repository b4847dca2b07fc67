// The Codec: what the array layer calls to compute parity, checksums and reconstructions.
// It validates every argument on the coordinator, turns arena views into offsets, cuts the
// work into coarse tasks and runs them inline (small work) or on the worker pool.
//
// Task sizing: work below inlineThresholdBytes runs on the calling thread, where a pool round
// trip (30-90 us here) would cost more than the kernel. Larger work is cut into about
// max(workerCount, total / taskBytesTarget) tasks, whole groups where checksums are wanted
// (fletcher-4 covers a whole block), column slices of LB multiples where only parity is.
// Checksums are written by the kernels into the codec's own checksum area (an arena buffer
// taken at create) and copied out; the area exists because the write path may hold every
// other arena page while it waits, and a checksum must not fail for want of 4 KiB then.
import {
  ARENA_COORDINATOR_SLOT,
  ARENA_MAXIMUM_PAGES_DEFAULT,
  ARENA_TABLES_BYTES,
  ARENA_TABLES_OFFSET_BYTES,
  ARENA_TABLES_READY_INDEX,
  RunAllocator,
  type Arena,
  type ArenaBuffer,
} from './arena.js';
import {
  FLETCHER4_BYTES,
  GF_TABLES_BYTES_MAX,
  KERNEL_MEMORY_PAGES_MAX,
  instantiateKernels,
  kernelVariant,
  loadKernelModule,
} from './kernel_module.js';
import { raid6Recov2Coefficients, reconstructionPlan } from './gf256.js';
import { KernelPool, defaultWorkerCount, type KernelPoolOptions, type KernelPoolStats } from './pool.js';
import { CHECKSUM_BYTES, createTaskContext, executeTask, type EncodeGroupTask, type KernelTask, type TaskContext } from './pool_worker.js';
import { InvalidArgumentError, TooManyErasuresError } from '../errors.js';
import { DATA_COUNT_MAX, LB_BYTES, PARITY_COUNT_MAX } from '../constants.js';

export { CHECKSUM_BYTES };
export const INLINE_THRESHOLD_BYTES_DEFAULT = 256 * 1024;
/**
 * 16 MiB of data is ~3 ms of encode+checksum at ~5 GB/s, so a 50-90 us round trip stays under
 * 3% (bench/kernels/pool_bench.ts sweeps 1..32 MiB); smaller batches still get workerCount tasks.
 */
export const TASK_BYTES_TARGET_DEFAULT = 16 * 1024 * 1024;
/** Room for 8192 checksums in flight (over 800 groups of 8+2); beyond it, plain arena buffers. */
export const CODEC_CHECKSUM_AREA_BYTES = 256 * 1024;

// How the arena's layout and the kernel module's ABI must relate.
if (ARENA_MAXIMUM_PAGES_DEFAULT > KERNEL_MEMORY_PAGES_MAX) throw new Error('codec: the arena may outgrow the kernels\' memory import');
if (ARENA_TABLES_BYTES < GF_TABLES_BYTES_MAX) throw new Error('codec: the arena reserves too little room for the GF tables');
if (CHECKSUM_BYTES !== FLETCHER4_BYTES) throw new Error('codec: checksum size disagrees with the fletcher-4 kernel');
if (CODEC_CHECKSUM_AREA_BYTES % CHECKSUM_BYTES !== 0) throw new Error('codec: the checksum area holds whole checksums');

export interface CodecStats {
  inlineTasks: number;
  /** Absent when the codec has no workers, or has not started them yet (the first large task does). */
  pool: KernelPoolStats | undefined;
}

/** Where one call's checksums land, and how to give the room back. */
interface ChecksumOutput {
  offsetBytes: number;
  release: () => void;
}

export interface CodecOptions {
  arena: Arena;
  /** Pool workers; 0 runs everything inline. Default: available cores. */
  workerCount?: number;
  /** Work with fewer data bytes than this runs on the calling thread. */
  inlineThresholdBytes?: number;
  /** Data bytes one pool task aims for. */
  taskBytesTarget?: number;
  /** Tasks queued per worker at once (see KernelPoolOptions.tasksPerWorker). */
  tasksPerWorker?: number;
}

export interface CodecGroup {
  data: Uint8Array[];
  parity: Uint8Array[];
}

type MemoryParameter = Parameters<typeof instantiateKernels>[1];

export class Codec {
  readonly workerCount: number;
  readonly kernelVariant: string;
  private readonly arena: Arena;
  /** Started by the first dispatch too large to run inline (startPool): a put or get of a
   * small file, and every metadata-only use, never pays for a worker thread. */
  private pool: KernelPool | undefined;
  private readonly poolOptions: KernelPoolOptions | undefined;
  private readonly inline: TaskContext;
  private readonly inlineThresholdBytes: number;
  private readonly taskBytesTarget: number;
  private readonly checksumArea: ArenaBuffer;
  private readonly checksumSlots = new RunAllocator(0, CODEC_CHECKSUM_AREA_BYTES / CHECKSUM_BYTES);
  private closed = false;
  private inlineTasks = 0;

  private constructor(arena: Arena, checksumArea: ArenaBuffer, inline: TaskContext, poolOptions: KernelPoolOptions | undefined, options: CodecOptions) {
    this.arena = arena;
    this.checksumArea = checksumArea;
    this.inline = inline;
    this.poolOptions = poolOptions;
    this.workerCount = poolOptions?.workerCount ?? 0;
    this.kernelVariant = kernelVariant() ?? 'unknown';
    this.inlineThresholdBytes = options.inlineThresholdBytes ?? INLINE_THRESHOLD_BYTES_DEFAULT;
    this.taskBytesTarget = options.taskBytesTarget ?? TASK_BYTES_TARGET_DEFAULT;
  }

  static async create(options: CodecOptions): Promise<Codec> {
    const { arena } = options;
    const workerCount = options.workerCount ?? defaultWorkerCount();
    for (const [name, value] of Object.entries({ inlineThresholdBytes: options.inlineThresholdBytes, taskBytesTarget: options.taskBytesTarget })) {
      if (value !== undefined && (!Number.isInteger(value) || value < 0)) throw new InvalidArgumentError(`${name} ${value} must be a non-negative integer`);
    }
    const module = await loadKernelModule();
    const kernels = instantiateKernels(module, arena.memory as unknown as MemoryParameter);
    initTables(arena, kernels.gfTablesBytes(), kernels.gfTablesInit);
    const inline = createTaskContext(kernels, arena.memory, ARENA_COORDINATOR_SLOT);
    // Bad pool options, or a missing worker file, fail here, not at the first large task.
    const poolOptions = workerCount > 0 ? { arena, module, ...KernelPool.checkOptions({ workerCount, tasksPerWorker: options.tasksPerWorker }) } : undefined;
    const checksumArea = arena.alloc(CODEC_CHECKSUM_AREA_BYTES);
    try {
      return new Codec(arena, checksumArea, inline, poolOptions, options);
    } catch (error) {
      arena.free(checksumArea);
      throw error;
    }
  }

  /** parity.length = m (1..3); all buffers of equal length; views into the arena. */
  async encode(data: Uint8Array[], parity: Uint8Array[]): Promise<void> {
    const group = this.groupTask({ data, parity }, -1);
    const dataBytes = group.lengthBytes * data.length;
    const slices = this.runsInline(dataBytes) ? 1 : this.taskCountFor(dataBytes);
    const tasks = columnSlices(group.lengthBytes, slices).map(([start, end]): KernelTask => ({
      kind: 'encode',
      groups: [sliceGroup(group, start, end)],
    }));
    await this.dispatch(tasks, dataBytes);
  }

  /** encode plus fletcher-4 of every block: k+m checksums, data first, then parity. */
  async encodeWithChecksums(data: Uint8Array[], parity: Uint8Array[]): Promise<Uint8Array[]> {
    const [checksums] = await this.encodeBatch([{ data, parity }]);
    return checksums!;
  }

  /** Many groups in one coarse task, or a few tasks spread over the workers. */
  async encodeBatch(groups: CodecGroup[]): Promise<Uint8Array[][]> {
    if (groups.length === 0) return [];
    const blockCounts = groups.map((group) => group.data.length + group.parity.length);
    const output = this.takeChecksumOutput(sum(blockCounts));
    try {
      let checksumsOffset = output.offsetBytes;
      const tasks = groups.map((group, i) => {
        const task = this.groupTask(group, checksumsOffset);
        checksumsOffset += blockCounts[i]! * CHECKSUM_BYTES;
        return task;
      });
      const dataBytes = sum(tasks.map((task) => task.lengthBytes * task.sourceOffsets.length));
      const chunks = this.runsInline(dataBytes) ? [tasks] : chunkByBytes(tasks, this.taskCountFor(dataBytes));
      await this.dispatch(chunks.map((chunk): KernelTask => ({ kind: 'encode', groups: chunk })), dataBytes);
      let cursor = 0;
      return blockCounts.map((count) => {
        const checksums = this.copyChecksums(output, cursor, count);
        cursor += count;
        return checksums;
      });
    } finally {
      output.release();
    }
  }

  /** blocks = k data then m parity; rebuilds the blocks at `missing` in place from the others. */
  async reconstruct(blocks: Uint8Array[], dataCount: number, missing: number[]): Promise<void> {
    const parityCount = blocks.length - dataCount;
    const { lengthBytes, offsets } = this.checkGeometry(blocks.slice(0, dataCount), blocks.slice(dataCount));
    const unique = new Set(missing);
    if (unique.size !== missing.length || missing.some((index) => !Number.isInteger(index) || index < 0 || index >= blocks.length)) {
      throw new InvalidArgumentError(`missing indices [${missing.join(', ')}] must be distinct block indices below ${blocks.length}`);
    }
    if (missing.length > parityCount) {
      throw new TooManyErasuresError(`${missing.length} blocks are missing but a group with ${parityCount} parity blocks can rebuild at most ${parityCount}`);
    }
    if (missing.length === 0) return;
    checkDisjoint(offsets, lengthBytes, 0, missing);
    const [x, y] = [...missing].sort((first, second) => first - second) as [number, number];
    if (missing.length === 2 && y < dataCount && parityCount >= 2) return this.raid6Recover(offsets, dataCount, x, y, lengthBytes);
    const plan = reconstructionPlan(dataCount, parityCount, missing);
    const sourceOffsets = plan.sources.map((index) => offsets[index]!);
    const targetOffsets = plan.targets.map((index) => offsets[index]!);
    const coefficients = plan.coefficients.flatMap((row) => Array.from(row));
    const dataBytes = lengthBytes * sourceOffsets.length;
    const slices = this.runsInline(dataBytes) ? 1 : this.taskCountFor(dataBytes);
    const tasks = columnSlices(lengthBytes, slices).map(([start, end]): KernelTask => ({
      kind: 'dot_prod',
      sourceOffsets: sourceOffsets.map((offset) => offset + start),
      targetOffsets: targetOffsets.map((offset) => offset + start),
      coefficients,
      lengthBytes: end - start,
    }));
    await this.dispatch(tasks, dataBytes);
  }

  /**
   * Two lost data blocks with P and Q surviving (the commonest double erasure): Linux RAID-6's
   * recovery, one multiply-by-2 per surviving block instead of two table products (about 1.5x
   * the general dot product; bench:kernels reconstruct2_8+2).
   */
  private async raid6Recover(offsets: number[], dataCount: number, x: number, y: number, lengthBytes: number): Promise<void> {
    const { a, b } = raid6Recov2Coefficients(x, y);
    const dataBytes = lengthBytes * dataCount;
    const slices = this.runsInline(dataBytes) ? 1 : this.taskCountFor(dataBytes);
    const tasks = columnSlices(lengthBytes, slices).map(([start, end]): KernelTask => ({
      kind: 'raid6_recov2',
      dataOffsets: offsets.slice(0, dataCount).map((offset) => offset + start),
      x,
      y,
      p: offsets[dataCount]! + start,
      q: offsets[dataCount + 1]! + start,
      a,
      b,
      lengthBytes: end - start,
    }));
    await this.dispatch(tasks, dataBytes);
  }

  /** Fletcher-4 (32 bytes) of each buffer; buffers may differ in length. */
  async checksum(buffers: Uint8Array[]): Promise<Uint8Array[]> {
    if (buffers.length === 0) return [];
    const offsets = buffers.map((buffer) => this.arena.viewOffset(buffer));
    const output = this.takeChecksumOutput(buffers.length);
    try {
      const dataBytes = sum(buffers.map((buffer) => buffer.byteLength));
      const count = this.runsInline(dataBytes) ? 1 : Math.min(buffers.length, this.taskCountFor(dataBytes));
      const tasks = chunkIndices(buffers.length, count).map(([first, end]): KernelTask => ({
        kind: 'checksum',
        offsets: offsets.slice(first, end),
        lengthsBytes: buffers.slice(first, end).map((buffer) => buffer.byteLength),
        checksumsOffset: output.offsetBytes + first * CHECKSUM_BYTES,
      }));
      await this.dispatch(tasks, dataBytes);
      return this.copyChecksums(output, 0, buffers.length);
    } finally {
      output.release();
    }
  }

  /** The indices whose checksum differs from `expected`. */
  async verify(buffers: Uint8Array[], expected: Uint8Array[]): Promise<number[]> {
    assertOneChecksumEach(buffers, expected);
    const actual = await this.checksum(buffers);
    const mismatched: number[] = [];
    actual.forEach((checksum, i) => {
      if (!equalBytes(checksum, expected[i]!)) mismatched.push(i);
    });
    return mismatched;
  }

  /**
   * verify() on the calling thread when the work is small enough to run inline (a small read's
   * blocks): no promise and no copy of each checksum. Undefined when it would go to the pool:
   * call verify() then.
   */
  verifyNow(buffers: readonly Uint8Array[], expected: readonly Uint8Array[]): number[] | undefined {
    if (this.closed) throw new Error('codec: used after close()');
    assertOneChecksumEach(buffers, expected);
    if (buffers.length === 0) return [];
    let dataBytes = 0;
    for (const buffer of buffers) dataBytes += buffer.byteLength;
    if (!this.runsInline(dataBytes)) return undefined;
    const offsets = buffers.map((buffer) => this.arena.viewOffset(buffer));
    const output = this.takeChecksumOutput(buffers.length);
    try {
      executeTask(this.inline, { kind: 'checksum', offsets, lengthsBytes: buffers.map((buffer) => buffer.byteLength), checksumsOffset: output.offsetBytes });
      this.inlineTasks++;
      const memory = this.inline.bytes;
      const mismatched: number[] = [];
      for (let i = 0; i < buffers.length; i++) {
        const at = output.offsetBytes + i * CHECKSUM_BYTES;
        const want = expected[i]!;
        for (let j = 0; j < CHECKSUM_BYTES; j++) {
          if (memory[at + j] !== want[j]) {
            mismatched.push(i);
            break;
          }
        }
      }
      return mismatched;
    } finally {
      output.release();
    }
  }

  /** Waits for in-flight tasks and stops the workers. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool?.close();
    this.arena.free(this.checksumArea);
  }

  assertInvariants(): void {
    this.pool?.assertInvariants();
    this.checksumSlots.assertInvariants();
    if (this.pool !== undefined && this.workerCount !== this.pool.workerCount) throw new Error('codec: worker count disagrees with the pool');
  }

  /** Work done so far: tasks run inline and through the pool, and the workers' compute time. */
  stats(): CodecStats {
    return { inlineTasks: this.inlineTasks, pool: this.pool?.stats() };
  }

  /** Runs the pool's empty task once: the round trip the benchmark measures. */
  async noop(): Promise<void> {
    await this.dispatch([{ kind: 'noop' }], Number.MAX_SAFE_INTEGER);
  }

  /** Room for `count` checksums: from the codec's area, else (rarely) a plain arena buffer. */
  private takeChecksumOutput(count: number): ChecksumOutput {
    const start = this.checksumSlots.take(count);
    if (start !== undefined) {
      return { offsetBytes: this.checksumArea.offsetBytes + start * CHECKSUM_BYTES, release: () => this.checksumSlots.release(start, count) };
    }
    const buffer = this.arena.alloc(count * CHECKSUM_BYTES);
    return { offsetBytes: buffer.offsetBytes, release: () => this.arena.free(buffer) };
  }

  private copyChecksums(output: ChecksumOutput, first: number, count: number): Uint8Array[] {
    const memory = this.inline.bytes;
    const checksums: Uint8Array[] = [];
    for (let i = first; i < first + count; i++) {
      const at = output.offsetBytes + i * CHECKSUM_BYTES;
      checksums.push(memory.slice(at, at + CHECKSUM_BYTES));
    }
    return checksums;
  }

  /** Small work, and all work until a worker has started (a CLI put or get would otherwise
   * stall its first groups for the workers' start-up), runs on the calling thread. The first
   * large work starts the pool. */
  private runsInline(dataBytes: number): boolean {
    if (this.poolOptions === undefined || dataBytes < this.inlineThresholdBytes) return true;
    return !this.startPool().ready;
  }

  private startPool(): KernelPool {
    if (this.closed) throw new Error('codec: used after close()');
    this.pool ??= new KernelPool(this.poolOptions!);
    return this.pool;
  }

  /** Starts the pool (if the codec has workers) and settles once a worker is running: tasks go
   * to the workers from then on. */
  whenWorkersReady(): Promise<void> {
    return this.poolOptions === undefined ? Promise.resolve() : this.startPool().online;
  }

  private taskCountFor(dataBytes: number): number {
    return Math.max(this.workerCount, Math.ceil(dataBytes / Math.max(1, this.taskBytesTarget)));
  }

  private async dispatch(tasks: KernelTask[], dataBytes: number): Promise<void> {
    if (this.closed) throw new Error('codec: used after close()');
    if (this.runsInline(dataBytes)) {
      for (const task of tasks) executeTask(this.inline, task);
      this.inlineTasks += tasks.length;
      return;
    }
    await Promise.all(tasks.map((task) => this.pool!.run(task)));
  }

  private groupTask(group: CodecGroup, checksumsOffset: number): EncodeGroupTask {
    const { lengthBytes, offsets } = this.checkGeometry(group.data, group.parity);
    checkDisjoint(offsets, lengthBytes, group.data.length);
    return {
      sourceOffsets: offsets.slice(0, group.data.length),
      targetOffsets: offsets.slice(group.data.length),
      lengthBytes,
      checksumsOffset,
    };
  }

  /** Checks k, m, equal non-zero lengths and arena membership; returns the length and offsets. */
  private checkGeometry(data: Uint8Array[], parity: Uint8Array[]): { lengthBytes: number; offsets: number[] } {
    if (data.length < 1 || data.length > DATA_COUNT_MAX) throw new InvalidArgumentError(`data count ${data.length} must be 1..${DATA_COUNT_MAX}`);
    if (parity.length < 1 || parity.length > PARITY_COUNT_MAX) {
      throw new InvalidArgumentError(`parity count ${parity.length} must be 1..${PARITY_COUNT_MAX}`);
    }
    const lengthBytes = data[0]!.byteLength;
    if (lengthBytes === 0) throw new InvalidArgumentError('blocks must not be empty');
    const offsets: number[] = [];
    for (const block of [...data, ...parity]) {
      if (block.byteLength !== lengthBytes) throw new InvalidArgumentError(`block lengths differ (${block.byteLength} vs ${lengthBytes})`);
      offsets.push(this.arena.viewOffset(block));
    }
    return { lengthBytes, offsets };
  }
}

/** Writes the GF tables once per arena; every later instance and worker reads them. */
function initTables(arena: Arena, tablesBytes: number, gfTablesInit: (offset: number) => void): void {
  if (tablesBytes > ARENA_TABLES_BYTES) throw new Error(`codec: the kernels need ${tablesBytes} table bytes, the arena reserves ${ARENA_TABLES_BYTES}`);
  const control = arena.controlWords();
  if (Atomics.load(control, ARENA_TABLES_READY_INDEX) === 1) return;
  gfTablesInit(ARENA_TABLES_OFFSET_BYTES);
  Atomics.store(control, ARENA_TABLES_READY_INDEX, 1);
}

/**
 * Targets must not overlap any other block: a kernel would read what it is writing. Blocks
 * are `offsets` of equal length; targets are the indices from firstTarget on, or `targets`.
 */
function checkDisjoint(offsets: number[], lengthBytes: number, firstTarget: number, targets?: number[]): void {
  const targetIndices = targets ?? offsets.map((_, i) => i).slice(firstTarget);
  for (const t of targetIndices) {
    const target = offsets[t]!;
    for (let i = 0; i < offsets.length; i++) {
      if (i !== t && Math.abs(offsets[i]! - target) < lengthBytes) throw new InvalidArgumentError(`block ${t} (a target) overlaps block ${i}`);
    }
  }
}

/** [start, end) column ranges cutting lengthBytes into up to `count` LB-aligned slices. */
export function columnSlices(lengthBytes: number, count: number): [number, number][] {
  const sliceBytes = Math.max(LB_BYTES, Math.ceil(lengthBytes / count / LB_BYTES) * LB_BYTES);
  const slices: [number, number][] = [];
  for (let start = 0; start < lengthBytes; start += sliceBytes) slices.push([start, Math.min(lengthBytes, start + sliceBytes)]);
  return slices;
}

function sliceGroup(group: EncodeGroupTask, start: number, end: number): EncodeGroupTask {
  return {
    sourceOffsets: group.sourceOffsets.map((offset) => offset + start),
    targetOffsets: group.targetOffsets.map((offset) => offset + start),
    lengthBytes: end - start,
    checksumsOffset: group.checksumsOffset,
  };
}

/** Cuts groups, in order, into about `count` runs of similar data bytes. */
function chunkByBytes(groups: EncodeGroupTask[], count: number): EncodeGroupTask[][] {
  const bytesOf = (group: EncodeGroupTask): number => group.lengthBytes * group.sourceOffsets.length;
  const targetBytes = sum(groups.map(bytesOf)) / Math.min(count, groups.length);
  const chunks: EncodeGroupTask[][] = [];
  let current: EncodeGroupTask[] = [];
  let currentBytes = 0;
  for (const group of groups) {
    current.push(group);
    currentBytes += bytesOf(group);
    if (currentBytes >= targetBytes) {
      chunks.push(current);
      current = [];
      currentBytes = 0;
    }
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

function chunkIndices(length: number, count: number): [number, number][] {
  const size = Math.ceil(length / count);
  const chunks: [number, number][] = [];
  for (let first = 0; first < length; first += size) chunks.push([first, Math.min(length, first + size)]);
  return chunks;
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}

function sum(values: number[]): number {
  return values.reduce((total, value) => total + value, 0);
}

/** verify's contract: one CHECKSUM_BYTES checksum per buffer. */
function assertOneChecksumEach(buffers: readonly Uint8Array[], expected: readonly Uint8Array[]): void {
  if (expected.length !== buffers.length || expected.some((checksum) => checksum.byteLength !== CHECKSUM_BYTES)) {
    throw new InvalidArgumentError(`verify needs one ${CHECKSUM_BYTES}-byte checksum per buffer`);
  }
}
