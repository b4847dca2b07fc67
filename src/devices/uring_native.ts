// Loads the io_uring N-API addon (native/build/Release/elastripe_uring.node) and says why it
// is unavailable when it is: not built, failed to load, or the kernel refuses io_uring. The
// factory in open_device.ts asks uringAvailable() and falls back to the fs backend.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { errnoName } from '../errors.js';

/** Counters and geometry of this thread's ring, as the addon reports them. */
export interface UringInfo {
  ready: number;
  sqEntries: number;
  cqEntries: number;
  features: number;
  setupFlags: number;
  inflight: number;
  registeredBytes: number;
  fixedSubmitted: number;
  plainSubmitted: number;
}

/** The addon's functions. I/O results are -errno, never exceptions. */
export interface UringAddon {
  /** Creates this thread's ring; returns its SQE count or -errno. */
  init(depth: number, pairs: Int32Array, onComplete: (count: number) => void): number;
  /** Opens with O_DIRECT: [fd, sizeBytes, logicalBlockBytes, isBlock (0/1)] or -errno. */
  open(path: string, exclusive: boolean): number | [number, number, number, number];
  close(fd: number): number;
  /** Rows of 6 doubles (op, fd, bufferOffsetBytes, lengthBytes, fileOffsetBytes, tag). */
  submit(rows: Float64Array, buffers: readonly (Uint8Array | undefined)[], count: number): number;
  registerMemory(memory: Uint8Array): number;
  unregisterMemory(): number;
  addressOf(view: Uint8Array): number;
  probe(): number;
  info(): UringInfo;
  /** syncfs(2) of fd's file system on the thread pool: 0 or -errno. Absent from addons built before it. */
  syncfs?(fd: number): Promise<number>;
  /** The op number of a write with RWF_DSYNC; absent in addons built before it (then unused). */
  readonly writeDsyncOp?: number;
}

/** Overrides where the addon is loaded from (tests of the fallback, custom builds). */
export const URING_ADDON_PATH_ENV = 'ELASTRIPE_URING_ADDON';
/** Set to 1 to refuse the uring backend, e.g. to exercise the fs fallback. */
export const URING_DISABLE_ENV = 'ELASTRIPE_DISABLE_URING';

const ADDON_RELATIVE_PATH = join('native', 'build', 'Release', 'elastripe_uring.node');

type LoadResult = { addon: UringAddon; reason?: undefined } | { addon?: undefined; reason: string };
let loaded: LoadResult | undefined;

/** Climbs from this module (src/devices or dist/src/devices) to the built addon. */
function findAddonPath(): string | undefined {
  const override = process.env[URING_ADDON_PATH_ENV];
  if (override) return override;
  let directory = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(directory, ADDON_RELATIVE_PATH);
    if (existsSync(candidate)) return candidate;
    const parent = dirname(directory);
    if (parent === directory) return undefined;
    directory = parent;
  }
}

function load(): LoadResult {
  if (process.platform !== 'linux') return { reason: `io_uring needs Linux (this is ${process.platform})` };
  if (process.env[URING_DISABLE_ENV] === '1') return { reason: `disabled by ${URING_DISABLE_ENV}=1` };
  const path = findAddonPath();
  if (!path) return { reason: `the addon is not built (${ADDON_RELATIVE_PATH} missing; run npm run build:native)` };
  let addon: UringAddon;
  try {
    addon = createRequire(import.meta.url)(path) as UringAddon;
  } catch (error) {
    return { reason: `the addon at ${path} failed to load: ${(error as Error).message}` };
  }
  const probed = addon.probe();
  if (probed < 0) return { reason: `the kernel refuses io_uring_setup: ${errnoName(-probed)}` };
  return { addon };
}

/** Whether the uring backend can run in this thread, and if not, why. Cached. */
export function uringAvailable(): { available: boolean; reason?: string } {
  loaded ??= load();
  return loaded.addon ? { available: true } : { available: false, reason: loaded.reason };
}

/** The loaded addon; throws (a programming error) when uringAvailable() said no. */
export function uringAddon(): UringAddon {
  loaded ??= load();
  if (!loaded.addon) throw new Error(`uring backend unavailable: ${loaded.reason}`);
  return loaded.addon;
}
