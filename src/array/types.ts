// The public shapes of the array layer: options, file and status reports. DiskArray
// (disk_array.ts) implements the operations; the CLI and embedders use these types.
import type { BackendName, Device } from '../devices/device.js';
import type { OpenDeviceOptions } from '../devices/open_device.js';
import type { ArrayEvent } from './array_events.js';
import type { JobClock } from './job_clock.js';

export type ParityCount = 1 | 2 | 3;
export type BackendChoice = 'auto' | 'uring' | 'fs';

export interface RuntimeOptions {
  /** Device backend for paths (nbd:// URLs always use NBD). Default 'auto'. */
  backend?: BackendChoice;
  /** Size of the shared arena that holds every I/O buffer. */
  arenaBytes?: number;
  /** Piscina workers for parity and checksums (0 = all inline). Default: cores. */
  workerCount?: number;
  /**
   * Opens a device by path; the default is the devices layer's openDevice. Embedders can
   * supply their own Device implementations here (tests wrap real devices with fault injection).
   * Import probes the paths it is given through it too ({ readOnly: true, exclusive: false }),
   * so names only this opener knows (say sim://disk3) can be imported.
   */
  openDevice?: (path: string, options: OpenDeviceOptions) => Promise<Device>;
  /**
   * Where open looks for a device that is not at its recorded path (globs, nbd:// URLs);
   * default ELASTRIPE_SCAN, else loop, by-id and nbd devices; false: do not look.
   */
  scan?: string[] | false;
  /**
   * Background jobs back off while puts and gets run (foreground_backoff.ts). Default true;
   * false lets jobs run at full speed beside the foreground (a test that wants the backoff's
   * rests out of its timing).
   */
  jobBackoff?: boolean;
  /**
   * Register the arena with io_uring as fixed buffers (READ_FIXED/WRITE_FIXED: the kernel does
   * not pin each request's pages). true (default): the whole arena when the first device opens;
   * registering pins — so faults in — every page at once (0.15–0.4 s for 256 MiB here), which a
   * long-lived owner pays once. false: never. 'after-large-transfer' (a one-shot process: one
   * CLI put or get): only the arena's first LAZY_FIXED_BUFFER_BYTES, and only once
   * LAZY_FIXED_BUFFER_AFTER_BYTES have gone through the ring, so a small transfer never pays the
   * pinning and a large one runs most of its way on fixed buffers (array_setup.ts has the figures).
   */
  fixedBuffers?: boolean | 'after-large-transfer';
  /**
   * The clock jobs pace themselves by (job_clock.ts): the backoff's quiet window and rests and
   * a job's rate. Default the real clock; the deterministic simulator gives a virtual one, so
   * its runs replay exactly with the backoff on.
   */
  jobClock?: JobClock;
}

/**
 * What a long-lived owner of the array lets it do by itself (heal_policy.ts, health_monitor.ts).
 * Durations in ms; Infinity turns a policy off.
 */
export interface ArrayPolicies {
  /** Start a rebuild this long after redundancy is lost (0: at once; Infinity: never by itself). */
  rebuildDelayMs: number;
  /** After addDevice (without an explicit `expand`), spread the data onto it in the background (the expand job). */
  autoExpand: boolean;
  /** Scrub the whole array this often (Infinity: never by itself). */
  scrubIntervalMs: number;
  /** Probe every device (read its superblock) this often, so a dead one is noticed while idle (Infinity: never). */
  probeIntervalMs: number;
  /** Emit lowSpace when free space falls under this fraction of the capacity. */
  lowSpaceFraction: number;
  /** Rate limit of the jobs the policies start, bytes/s (undefined: unthrottled). */
  rateBytesPerSec?: number;
}

/** Options of an array that lives on: its events and its heal policies. */
export interface LiveOptions {
  /** Called with every event (as array.on('event', ...) is). */
  onEvent?: (event: ArrayEvent) => void;
  /**
   * Heal policies. Off unless given: `true` turns them all on with DEFAULT_POLICIES, an object
   * turns them on with its fields overriding the defaults, `false` (the default) leaves them off
   * (one-shot callers such as the CLI verbs; see ARCHITECTURE.md).
   */
  policies?: boolean | Partial<ArrayPolicies>;
}

export interface OpenOptions extends RuntimeOptions, LiveOptions {
  /**
   * Open without the lock and write nothing: metadata read into memory, devices opened
   * read-only, no repairs; every change is refused with READ_ONLY. Needs the owner stopped
   * (its lock keeps every reader of the database out: ARRAY_LOCKED).
   */
  readOnly?: boolean;
}

export interface CreateOptions extends RuntimeOptions, LiveOptions {
  /** The array's home directory: metadata database and lock live here. */
  home: string;
  /** Device paths (block devices, image files) or nbd://host:port/export URLs. */
  devices: string[];
  /** Parity blocks per group (m). Default 1. */
  parityCount?: ParityCount;
  /** Largest k of a group. Default 8. */
  maxDataWidth?: number;
  /** Largest extent of a group, in logical blocks. Default EXTENT_LB_MAX_DEFAULT. */
  extentLbMax?: number;
  /** Create image files that do not exist yet, with this size. */
  createSizeBytes?: number;
  /** Overwrite devices that carry another array's superblock. */
  force?: boolean;
  /** Size of the on-device metadata region of every device (default: 1/32 of the smallest, 2..256 MiB). */
  metadataRegionBytes?: number;
}

export interface AddDeviceOptions {
  /** Create the image file with this size if it does not exist. */
  createSizeBytes?: number;
  /** Overwrite a device that carries another array's superblock. */
  force?: boolean;
  /**
   * Run the expand job (combine + rebalance) once the device is in; default true. Left unset
   * with the autoExpand policy on, it runs as a background policy job and add returns at once.
   * Never for a spare.
   */
  expand?: boolean;
  /** Progress, cancellation and rate of that expand job. */
  onProgress?: (progress: Progress) => void;
  signal?: AbortSignal;
  rateBytesPerSec?: number;
  /** Add it as a hot spare: it takes no new groups until a rebuild uses it. */
  spare?: boolean;
}

/** 'draining': online and readable, but being removed: no new block goes to it (until the remove finishes or is cancelled). */
/** 'spare': online, takes no new groups; a rebuild may use it (and so makes it online). See device_lifecycle.ts. */
export type DeviceState = 'online' | 'draining' | 'spare' | 'missing' | 'failed';

export interface DeviceStatus {
  deviceId: number;
  path: string;
  uuid: string;
  backend: BackendName | 'none';
  state: DeviceState;
  /** Why a device is missing or failed (absent while it is online). */
  reason?: string;
  capacityBytes: number;
  /** Bytes of it any layout can fill (less than capacityBytes for a device bigger than the others can match). */
  usableBytes: number;
  usedBytes: number;
  usedFraction: number;
  /** Reads of this device that failed (I/O errors), over the array's life in this home. */
  readErrors: number;
}

export interface ArrayStatus {
  home: string;
  /** Opened read-only (OpenOptions.readOnly): a view as of the open; changes are refused. */
  readOnly: boolean;
  arrayUuid: string;
  parityCount: ParityCount;
  maxDataWidth: number;
  extentLbMax: number;
  fileCount: number;
  /** Bytes of user data stored. */
  storedBytes: number;
  /** Bytes of extents allocated on devices (data + parity). */
  allocatedBytes: number;
  capacityBytes: number;
  /**
   * The most file data the devices taking blocks could hold with this parity and data width
   * (capacity_bound.ts: max over g of min(S(g), (kmax+m)g) - m g), whatever is stored now.
   */
  usableDataBytes: number;
  /** A device is missing or failed. */
  degraded: boolean;
  /** Reads that needed reconstruction, over the array's life in this home (kept in its database). */
  degradedReads: number;
  /** Blocks rebuilt from parity and rewritten in place, over the array's life in this home. */
  repairedBlocks: number;
  /**
   * The on-device metadata: newest change set, the newest durable on the devices, and what this
   * process wrote; putTransactions is how many SQLite transactions this process's put commits
   * took (group commit: puts ready together share one), putCommits how many puts they held.
   */
  metadata: { seq: number; durableSeq: number; regionBytes: number; records: number; checkpoints: number; putTransactions: number; putCommits: number };
  /** What open found: devices at other paths than recorded, and whether the home was rolled forward from the devices. */
  opened: {
    movedDevices: { deviceId: number; from: string; to: string }[];
    rolledForward?: [number, number];
    /** Set when this process imported the array from its devices. */
    imported?: { arrayUuid: string; seq: number; sourceDeviceId: number; present: { deviceId: number; path: string }[]; missing: { deviceId: number; lastPath: string }[]; stale: { path: string; deviceId: number; why: string }[] };
  };
  kernelVariant: string;
  workerCount: number;
  devices: DeviceStatus[];
  /** Recent jobs (rebuild, remove, rebalance, restripe, scrub), newest first. */
  jobs: JobStatus[];
}

export interface JobStatus {
  jobId: number;
  kind: string;
  /**
   * 'incomplete': it ran to its end but left problems (groups not moved, damage not repaired);
   * 'interrupted': the process stopped while it ran. Running the job again continues either.
   */
  state: 'running' | 'done' | 'incomplete' | 'aborted' | 'failed' | 'interrupted';
  /** What it had done when last updated (e.g. bytes moved). */
  progress: Progress | null;
  startedMs: number;
  updatedMs: number;
}

export type ExtentRole = 'data' | 'parity';

export interface ExtentInfo {
  deviceId: number;
  startLb: number;
  lengthLb: number;
  role: ExtentRole;
  /** Position within its role: data index 0..k-1 or parity row 0..m-1. */
  index: number;
}

export interface GroupInfo {
  /** Order of the group within its file. */
  sequence: number;
  dataCount: number;
  parityCount: number;
  extentLb: number;
  /** File bytes this group holds (<= dataCount * extentLb * LB_BYTES). */
  lengthBytes: number;
  extents: ExtentInfo[];
}

export interface FileSummary {
  name: string;
  sizeBytes: number;
  groupCount: number;
  createdMs: number;
}

export interface FileStat extends FileSummary {
  groups: GroupInfo[];
}

export interface Progress {
  doneBytes: number;
  /** Undefined where the total is not known in advance (a stream of unknown length). */
  totalBytes?: number;
  /** Scrub: the last group checked (in ascending id order), where a cut-short scrub continues. */
  lastGroupId?: number;
  /** Expand: the step running ('combine', then 'rebalance'). */
  phase?: string;
}

export interface PutOptions {
  onProgress?: (progress: Progress) => void;
  signal?: AbortSignal;
  /**
   * The stream's size, for progress and an early NoSpaceError; a stream that gives another
   * number of bytes fails the put (SOURCE_ERROR) and nothing is stored.
   */
  sizeBytes?: number;
}

export interface GetOptions {
  offset?: number;
  length?: number;
  /** get only: return an arena Buffer (no page faults of a fresh one; read in place). Free it with freeBuffer. */
  inArena?: boolean;
  onProgress?: (progress: Progress) => void;
  signal?: AbortSignal;
}

export interface FsckOptions {
  /** Also read every extent and check its checksum and the parity of every group. */
  deep?: boolean;
}

export interface FsckReport {
  ok: boolean;
  problems: string[];
  checkedGroups: number;
  checkedExtents: number;
}

export interface ScrubReport {
  checkedGroups: number;
  checkedExtents: number;
  /** Blocks rebuilt from parity and rewritten in place by this scrub. */
  repairedBlocks: number;
  /** What was found, repaired or not (blocks on missing devices, parity mismatches, ...). */
  problems: string[];
  /** How many of the problems were left as found (the scrub is then recorded 'incomplete'). */
  unrepairedProblems: number;
  /** Set when this scrub continued an aborted or interrupted one after this group id. */
  resumedAfterGroupId?: number;
}
