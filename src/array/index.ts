// The array layer: DiskArray (the public API) and its report types.
export { DiskArray, GROUPS_IN_FLIGHT_MAX } from './disk_array.js';
export { EXTENT_LB_MAX_DEFAULT, EXTENT_LB_MAX_LIMIT, MAX_DATA_WIDTH_DEFAULT, DEVICE_MIN_BYTES } from './layout.js';
export type * from './types.js';
export { REBALANCE_TOLERANCE } from './device_jobs.js';
export type { JobOptions, JobReport } from './device_jobs.js';
export type { RestripeReport } from './restripe_job.js';
export type { FilePathSource, PutSource } from './put_source.js';
export { POOLED_CHUNK_RING } from './pooled_chunks.js';
export { ARRAY_EVENT_TYPES, RECENT_EVENTS_MAX } from './array_events.js';
export type * from './array_events.js';
export { DEFAULT_POLICIES, POLICIES_OFF } from './heal_policy_options.js';
export type { ArrayJobOptions } from './disk_array.js';
