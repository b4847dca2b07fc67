// The kernels layer: the shared arena, the worker pool and the Codec the array layer calls.
export * from './arena.js';
export {
  Codec,
  CHECKSUM_BYTES,
  CODEC_CHECKSUM_AREA_BYTES,
  INLINE_THRESHOLD_BYTES_DEFAULT,
  TASK_BYTES_TARGET_DEFAULT,
  type CodecGroup,
  type CodecOptions,
  type CodecStats,
} from './codec.js';
export {
  KernelPool,
  POOL_TASKS_PER_WORKER_DEFAULT,
  POOL_WORKER_COUNT_MAX,
  defaultWorkerCount,
  poolWorkerPath,
  type KernelPoolOptions,
  type KernelPoolStats,
} from './pool.js';
export type { KernelTask, EncodeGroupTask } from './pool_worker.js';
