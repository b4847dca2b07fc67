// Kernel tasks: what one coarse task asks for, and how any thread runs it against the arena.
// The same executeTask() serves the Piscina workers (default export, loaded from dist/) and the
// coordinator's inline path. A task carries buffer offsets and small integer arrays, never
// data; the thread writes the pointer and coefficient arrays the kernels read into its own
// scratch slot of the arena's reserved head, so threads never share a pointer array.
import { endianness } from 'node:os';
import { createRequire } from 'node:module';
import {
  ARENA_RESERVED_BYTES,
  ARENA_SCRATCH_OFFSET_BYTES,
  ARENA_SCRATCH_SLOT_BYTES,
  ARENA_SCRATCH_SLOT_COUNT,
  ARENA_SLOT_CLAIMS_INDEX,
  ARENA_TABLES_OFFSET_BYTES,
  type SharedMemory,
} from './arena.js';
import { instantiateKernels, type Kernels } from './kernel_module.js';

/** Scratch slot layout: source offsets, then target offsets, then the coefficient rows (up to 3). */
const SCRATCH_SOURCES_OFFSET_BYTES = 0;
const SCRATCH_SOURCES_MAX = 256;
const SCRATCH_TARGETS_OFFSET_BYTES = SCRATCH_SOURCES_OFFSET_BYTES + SCRATCH_SOURCES_MAX * 4;
const SCRATCH_TARGETS_MAX = 16;
const SCRATCH_COEFFICIENTS_OFFSET_BYTES = SCRATCH_TARGETS_OFFSET_BYTES + SCRATCH_TARGETS_MAX * 4;
const SCRATCH_COEFFICIENTS_MAX = 3 * 256;
export const CHECKSUM_BYTES = 32;

if (SCRATCH_COEFFICIENTS_OFFSET_BYTES + SCRATCH_COEFFICIENTS_MAX > ARENA_SCRATCH_SLOT_BYTES) {
  throw new Error('pool_worker: the scratch layout overflows one slot');
}
// Pointer arrays are written with Uint32Array; the kernels read them as little-endian u32.
if (endianness() !== 'LE') throw new Error('pool_worker: the kernels layer needs a little-endian host');

/** One parity group (or a column slice of one): k sources, m targets, optional checksums. */
export interface EncodeGroupTask {
  sourceOffsets: number[];
  targetOffsets: number[];
  lengthBytes: number;
  /** Where encode_checksum writes (k+m) x 32 bytes, or -1 for parity only. */
  checksumsOffset: number;
}

export type KernelTask =
  | { kind: 'encode'; groups: EncodeGroupTask[] }
  | { kind: 'checksum'; offsets: number[]; lengthsBytes: number[]; checksumsOffset: number }
  /** targets[t] = sum over s of coefficients[t * sourceCount + s] * sources[s]. */
  | { kind: 'dot_prod'; sourceOffsets: number[]; targetOffsets: number[]; coefficients: number[]; lengthBytes: number }
  /** Data blocks x < y rebuilt from the other data and P, Q (dataOffsets has k entries; x and y are written). */
  | { kind: 'raid6_recov2'; dataOffsets: number[]; x: number; y: number; p: number; q: number; a: number; b: number; lengthBytes: number }
  /** Does nothing: measures the pool's round trip. */
  | { kind: 'noop' };

export interface TaskContext {
  kernels: Kernels;
  words: Uint32Array;
  bytes: Uint8Array;
  slotOffsetBytes: number;
}

export function scratchSlotOffset(slot: number): number {
  if (!Number.isInteger(slot) || slot < 0 || slot >= ARENA_SCRATCH_SLOT_COUNT) throw new Error(`pool_worker: no scratch slot ${slot}`);
  return ARENA_SCRATCH_OFFSET_BYTES + slot * ARENA_SCRATCH_SLOT_BYTES;
}

export function createTaskContext(kernels: Kernels, memory: SharedMemory, slot: number): TaskContext {
  return {
    kernels,
    words: new Uint32Array(memory.buffer),
    bytes: new Uint8Array(memory.buffer),
    slotOffsetBytes: scratchSlotOffset(slot),
  };
}

export function executeTask(context: TaskContext, task: KernelTask): void {
  switch (task.kind) {
    case 'encode':
      for (const group of task.groups) encodeGroup(context, group);
      return;
    case 'checksum':
      for (let i = 0; i < task.offsets.length; i++) {
        context.kernels.fletcher4(task.offsets[i]!, task.lengthsBytes[i]!, task.checksumsOffset + i * CHECKSUM_BYTES);
      }
      return;
    case 'dot_prod':
      dotProd(context, task);
      return;
    case 'raid6_recov2': {
      const data = writeOffsets(context, SCRATCH_SOURCES_OFFSET_BYTES, task.dataOffsets, SCRATCH_SOURCES_MAX);
      context.kernels.raid6Recov2(data, task.dataOffsets.length, task.x, task.y, task.p, task.q, task.lengthBytes, task.a, task.b, ARENA_TABLES_OFFSET_BYTES);
      return;
    }
    case 'noop':
      return;
  }
}

function writeOffsets(context: TaskContext, atBytes: number, offsets: number[], max: number): number {
  if (offsets.length > max) throw new Error(`pool_worker: ${offsets.length} offsets exceed the scratch room of ${max}`);
  const address = context.slotOffsetBytes + atBytes;
  context.words.set(offsets, address >>> 2);
  return address;
}

function encodeGroup(context: TaskContext, group: EncodeGroupTask): void {
  const { kernels } = context;
  const k = group.sourceOffsets.length;
  const m = group.targetOffsets.length;
  const sources = writeOffsets(context, SCRATCH_SOURCES_OFFSET_BYTES, group.sourceOffsets, SCRATCH_SOURCES_MAX);
  const length = group.lengthBytes;
  if (group.checksumsOffset >= 0) {
    const targets = writeOffsets(context, SCRATCH_TARGETS_OFFSET_BYTES, group.targetOffsets, SCRATCH_TARGETS_MAX);
    kernels.encodeChecksum(sources, k, targets, m, length, group.checksumsOffset, ARENA_TABLES_OFFSET_BYTES);
    return;
  }
  const [p, q, r] = group.targetOffsets;
  if (m === 1) kernels.xorGen(sources, k, p!, length);
  else if (m === 2) kernels.pqGen(sources, k, p!, q!, length);
  else if (m === 3) kernels.pqrGen(sources, k, p!, q!, r!, length, ARENA_TABLES_OFFSET_BYTES);
  else throw new Error(`pool_worker: parity count ${m} is not 1..3`);
}

/** Every target in one kernel call: the sources are read once for all of them. */
function dotProd(context: TaskContext, task: Extract<KernelTask, { kind: 'dot_prod' }>): void {
  const sourceCount = task.sourceOffsets.length;
  const targetCount = task.targetOffsets.length;
  if (task.coefficients.length !== sourceCount * targetCount || task.coefficients.length > SCRATCH_COEFFICIENTS_MAX) {
    throw new Error(`pool_worker: ${targetCount} coefficient rows of ${sourceCount} do not fit the scratch room of ${SCRATCH_COEFFICIENTS_MAX}`);
  }
  const sources = writeOffsets(context, SCRATCH_SOURCES_OFFSET_BYTES, task.sourceOffsets, SCRATCH_SOURCES_MAX);
  const targets = writeOffsets(context, SCRATCH_TARGETS_OFFSET_BYTES, task.targetOffsets, SCRATCH_TARGETS_MAX);
  const coefficients = context.slotOffsetBytes + SCRATCH_COEFFICIENTS_OFFSET_BYTES;
  context.bytes.set(task.coefficients, coefficients);
  context.kernels.gfVectDotProd(sources, coefficients, sourceCount, targets, targetCount, task.lengthBytes, ARENA_TABLES_OFFSET_BYTES);
}

// ---- worker side -------------------------------------------------------------------------

/** The compiled kernel module, as the loader hands it out (a WebAssembly.Module). */
export type KernelModule = Parameters<typeof instantiateKernels>[0];

export interface PoolWorkerData {
  memory: SharedMemory;
  module: KernelModule;
  /** Claims of scratch slots carry this id, so the pool can release them on close. */
  poolId: number;
}

let workerContext: TaskContext | undefined;

/** Claims the first free scratch slot (1..) for this worker by compare-and-swap. */
function claimSlot(memory: SharedMemory, poolId: number): number {
  const control = new Int32Array(memory.buffer, 0, ARENA_RESERVED_BYTES / 4);
  for (let slot = 1; slot < ARENA_SCRATCH_SLOT_COUNT; slot++) {
    if (Atomics.compareExchange(control, ARENA_SLOT_CLAIMS_INDEX + slot, 0, poolId) === 0) return slot;
  }
  throw new Error('pool_worker: every scratch slot of the arena is claimed');
}

/** Piscina's view of this thread, required only in a worker: the coordinator imports this
 * module for executeTask() and must not load Piscina with it (see loadPiscina in pool.ts). */
function piscinaWorker(): { isWorkerThread: boolean; workerData: unknown } {
  return createRequire(import.meta.url)('piscina') as { isWorkerThread: boolean; workerData: unknown };
}

function initWorker(): TaskContext {
  const data = piscinaWorker().workerData as PoolWorkerData;
  const kernels = instantiateKernels(data.module, data.memory);
  return createTaskContext(kernels, data.memory, claimSlot(data.memory, data.poolId));
}

/** Piscina's entry point. Returns the task's compute time in microseconds, for pool statistics. */
export default function runTask(task: KernelTask): number {
  if (workerContext === undefined) {
    if (!piscinaWorker().isWorkerThread) throw new Error('pool_worker: the default export runs in pool workers only');
    workerContext = initWorker();
  }
  const start = performance.now();
  executeTask(workerContext, task);
  return (performance.now() - start) * 1000;
}
