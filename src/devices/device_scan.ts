// Finding elastripe devices by their superblock, not by path: for `elastripe import --scan`
// and for a device whose recorded path changed (loop devices re-attached in another order,
// image files moved, disks renumbered). Devices are identified by UUID; a path is a hint.
//
// Three steps, each usable alone:
//  1. scanPatterns / expandScanPatterns: which paths to look at. Patterns are absolute or
//     relative paths whose components may hold `*` (any run of characters) and `?` (one
//     character), matched with fs.readdir (no dependency; Node 20 has no fs.glob). `*` and `?`
//     never match a leading dot or a `/`; `[...]` is not special. nbd:// URLs pass through.
//     Matches are deduplicated by identity, so /dev/disk/by-id links and the /dev/sdX they
//     point at, hard links of one image file, and a loop device and its backing file count once.
//  2. probeSuperblock: what one path holds, read-only and without claiming it.
//  3. scanForDevices / findDeviceByUuid: probe many paths, group by array, flag duplicates.
//
// Probing never writes and never claims: local paths are opened O_RDONLY without O_EXCL, so a
// device that is mounted or owned by a running array can still be read; NBD exports get a
// connection of their own that only sends READ and DISC (our client has no read-only mode, and
// none is needed). Reads are buffered; the kernel invalidates the page cache over a range after
// an O_DIRECT write to it, so an array writing with O_DIRECT is still seen current. A single
// path's problem is a result, never an exception, and every probe is time-bound.
//
// An embedder with its own devices (RuntimeOptions.openDevice: a simulator, a fault-injecting
// wrapper, another transport) probes through them instead: ProbeOptions.openDevice opens each
// path (read-only, unclaimed) and LB 0 and the last LB are read through Device.read into the
// caller's LB-aligned scratch buffer. Paths of another scheme (scheme://...) pass through the
// expansion as written, like nbd:// URLs, for such an opener to resolve.
import { constants as fsConstants, type BigIntStats } from 'node:fs';
import { open, readdir, readFile, stat } from 'node:fs/promises';
import { join, resolve, sep } from 'node:path';
import { LB_BYTES } from '../constants.js';
import type { Device } from './device.js';
import { CorruptMetadataError, ElastripeError } from '../errors.js';
import { isNbdUrl } from './open_device.js';
import { loopSysfsDirectory, majorMinor } from './loop_backing.js';
import { SUPERBLOCK_BYTES, SUPERBLOCK_DEVICE_BYTES_MIN, SUPERBLOCK_FORMAT_VERSION, SUPERBLOCK_MAGIC, decodeSuperblock, type Superblock } from './superblock.js';

/**
 * Where `elastripe import --scan` looks when told nothing else:
 *  - /dev/loop*        loop devices (image files attached with losetup). /dev/loop-control is
 *                      a character device and is skipped; partitions (/dev/loop0p1) are
 *                      block devices and are probed like any other.
 *  - /dev/disk/by-id/* every disk and partition the kernel knows, under names that survive
 *                      reboots and renumbering (sdb may become sdc; its by-id name stays).
 *                      Several links per disk (ata-, wwn-, nvme-eui.) count once.
 *  - /dev/nbd*         kernel NBD client devices (nbd-client, qemu-nbd --connect).
 * Unattached loop devices and unconnected /dev/nbdN have size 0 and probe as 'other'.
 * Image files and nbd:// URLs have no standard place: name them (patterns or ELASTRIPE_SCAN).
 */
export const DEFAULT_SCAN_PATTERNS: readonly string[] = Object.freeze(['/dev/loop*', '/dev/disk/by-id/*', '/dev/nbd*']);

/**
 * Environment variable replacing DEFAULT_SCAN_PATTERNS: a **comma**-separated list (not colon:
 * nbd://host:port URLs contain colons). Blank entries are ignored, spaces around entries trimmed.
 * Example: ELASTRIPE_SCAN='/dev/loop*,/srv/images/*.img,nbd://10.0.0.5:10809/disk3'
 */
export const SCAN_PATTERNS_ENV = 'ELASTRIPE_SCAN';

/** A probe of a local path gives up after this long (a sleeping disk may take seconds to spin up). */
export const PROBE_TIMEOUT_MS_LOCAL_DEFAULT = 15_000;
/** A probe of an nbd:// URL (connect, handshake, two reads) gives up after this long. */
export const PROBE_TIMEOUT_MS_NBD_DEFAULT = 3_000;
/** Probes in flight at once during a scan. */
export const SCAN_CONCURRENCY_DEFAULT = 8;

/** What probeSuperblock found at one path. */
export type ProbeResult = ProbeFound | ProbeNotFound;

export interface ProbeFound {
  readonly path: string;
  readonly kind: 'elastripe';
  readonly superblock: Superblock;
  /** Which copy was valid: LB 0, or (when LB 0 was not) the last LB. */
  readonly copy: 'primary' | 'backup';
  /** The device's size, whole LBs. */
  readonly sizeBytes: number;
  /** Set when something is off though a copy is valid: why the primary was not used, or a capacity beyond the device. */
  readonly warning?: string;
}

export interface ProbeNotFound {
  readonly path: string;
  /**
   * blank: LB 0 and the last LB are all zeros (a fresh image, a zeroed disk).
   * other: anything else that is not a valid superblock: foreign data (a filesystem, a
   *        partition table, random bytes), a damaged elastripe superblock with no valid copy,
   *        an elastripe superblock of a format version this build does not read, a device
   *        under 3 LB, not a file or block device. Never treat 'other' as free space.
   * unreadable: it could not be read (missing, permission, I/O error, NBD server down, timeout).
   */
  readonly kind: 'blank' | 'other' | 'unreadable';
  readonly reason: string;
  /** The device's size when it was learnt. */
  readonly sizeBytes?: number;
}

export interface ProbeOptions {
  /** Overrides PROBE_TIMEOUT_MS_LOCAL_DEFAULT / PROBE_TIMEOUT_MS_NBD_DEFAULT. */
  readonly timeoutMs?: number;
  /**
   * Probe through this opener instead of reading the path itself (an embedder's own devices,
   * see RuntimeOptions.openDevice). It should open read-only and without claiming the device;
   * the probe closes what it opened. Needs `scratch`; a scan with an opener probes one path at
   * a time (they share the scratch).
   */
  readonly openDevice?: (path: string) => Promise<Device>;
  /** An LB_BYTES buffer at an LB-aligned address (O_DIRECT), for reads through openDevice. */
  readonly scratch?: Uint8Array;
}

export interface ScanOptions extends ProbeOptions {
  /** Report only devices of this array. */
  readonly arrayUuid?: string;
  /** Probes in flight at once (default SCAN_CONCURRENCY_DEFAULT). */
  readonly concurrency?: number;
}

/** A device found by a scan. */
export interface FoundDevice {
  readonly path: string;
  readonly superblock: Superblock;
  readonly copy: 'primary' | 'backup';
  readonly sizeBytes: number;
  readonly warning?: string;
}

/**
 * Two or more distinct devices (after deduplication by identity) carrying one device UUID:
 * a dd/cp copy, or a snapshot attached next to its origin. Never resolved silently.
 */
export interface ScanConflict {
  readonly deviceUuid: string;
  /** Every copy, in scan order. */
  readonly copies: readonly FoundDevice[];
  /**
   * The path whose superblock has the strictly newest createdTimeMs, when one does; undefined
   * when they tie (an exact copy). Superblocks carry no generation number, so a tie cannot be
   * broken from them: the caller (or the user) must choose.
   */
  readonly newestPath?: string;
}

export interface ScannedArray {
  readonly arrayUuid: string;
  /** One per device UUID, sorted by deviceId; device UUIDs in conflict are left out. */
  readonly devices: readonly FoundDevice[];
  readonly conflicts: readonly ScanConflict[];
}

export interface ScanReport {
  /** The patterns used (after ELASTRIPE_SCAN and defaults were applied). */
  readonly patterns: readonly string[];
  /** Every path probed, in scan order, whatever it held (for `--json` and troubleshooting). */
  readonly probes: readonly ProbeResult[];
  /** Every elastripe device found (of arrayUuid, when given), in scan order, conflicts included. */
  readonly found: readonly FoundDevice[];
  /** Found devices grouped by array, arrays in order of first appearance. */
  readonly arrays: readonly ScannedArray[];
  /** Every conflict of every array. */
  readonly conflicts: readonly ScanConflict[];
}

/** Two distinct devices carry the UUID findDeviceByUuid looked for. */
export class DuplicateDeviceError extends ElastripeError {
  readonly deviceUuid: string;
  readonly paths: readonly string[];
  constructor(deviceUuid: string, paths: readonly string[]) {
    super('DUPLICATE_DEVICE', `device ${deviceUuid} was found at ${paths.length} distinct devices (${paths.join(', ')}); a copy must be removed or chosen explicitly`);
    this.deviceUuid = deviceUuid;
    this.paths = paths;
  }
}

/**
 * The patterns to scan: explicit ones when given (non-empty), else ELASTRIPE_SCAN when set and
 * non-blank (comma-separated), else DEFAULT_SCAN_PATTERNS.
 */
export function scanPatterns(explicit?: readonly string[], env: NodeJS.ProcessEnv = process.env): string[] {
  if (explicit !== undefined && explicit.length > 0) return [...explicit];
  const fromEnv = (env[SCAN_PATTERNS_ENV] ?? '').split(',').map((entry) => entry.trim()).filter((entry) => entry !== '');
  return fromEnv.length > 0 ? fromEnv : [...DEFAULT_SCAN_PATTERNS];
}

/**
 * Expands patterns into the paths to probe, in pattern order (matches of one pattern in natural
 * order: loop2 before loop10), each device once. Glob matches keep only regular files and block
 * devices (directories, character devices such as /dev/loop-control, sockets and dangling
 * links are dropped); a literal path (no `*` or `?`) is kept whatever it is, even missing, so
 * its probe can say what is wrong with it. nbd:// URLs pass through as written (once each).
 *
 * Identity: block devices by device number (st_rdev), files by st_dev:st_ino, so symlinks
 * (by-id names) and hard links count once: the first path seen is kept. A loop device whose
 * backing file is also matched (whole file, offset 0, no size limit) counts once too, as the
 * loop device, wherever either appears. Paths are absolute; symlinks are not resolved (a
 * by-id name is the better path to record).
 */
export async function expandScanPatterns(patterns: readonly string[]): Promise<string[]> {
  return dedupeEntries(await expandEntries(patterns.map((pattern) => ({ pattern, literal: false }))));
}

/** Entries for patterns (or, with literal, paths taken as written even with `*` or `?`). */
async function expandEntries(items: readonly { pattern: string; literal: boolean }[]): Promise<ScanEntry[]> {
  const entries: ScanEntry[] = [];
  for (const { pattern, literal } of items) {
    if (isNbdUrl(pattern) || isOtherUrl(pattern)) {
      entries.push({ path: pattern, identity: `url:${pattern}`, backingIdentity: null });
      continue;
    }
    const absolute = resolve(pattern);
    if (literal || !hasWildcard(absolute)) {
      entries.push(await describeEntry(absolute, true));
      continue;
    }
    const matches = await globPaths(absolute);
    const described = await Promise.all(matches.map((path) => describeEntry(path, false)));
    for (const entry of described) if (entry !== null) entries.push(entry);
  }
  return entries;
}

/**
 * Reads LB 0 of path (a file, block device or nbd:// URL) and, when that is not a valid
 * superblock (blank, foreign, damaged or unreadable), the last LB of the device for the backup
 * copy; when a damaged primary still names a plausible capacity, the last LB of that capacity
 * is tried as well (the device may have grown since the superblock was written). A read error
 * on one copy falls back to the other. Never writes, never claims, never throws.
 *
 * Note: a device whose LB 0 holds other data (say a new filesystem) but whose last LB still
 * holds a valid superblock is reported as elastripe from the backup, with a warning saying so.
 */
export async function probeSuperblock(path: string, options: ProbeOptions = {}): Promise<ProbeResult> {
  const nbdUrl = isNbdUrl(path);
  const timeoutMs = options.timeoutMs ?? (nbdUrl ? PROBE_TIMEOUT_MS_NBD_DEFAULT : PROBE_TIMEOUT_MS_LOCAL_DEFAULT);
  let work: Promise<ProbeResult>;
  if (options.openDevice) work = probeThrough(path, options.openDevice, options.scratch);
  else if (nbdUrl) work = probeNbd(path, timeoutMs);
  else if (isOtherUrl(path)) return { path, kind: 'unreadable', reason: 'no device opener for this kind of URL (elastripe reads paths and nbd:// URLs)' };
  else work = probeLocal(path);
  try {
    return await withDeadline(work, timeoutMs, path);
  } catch (error) {
    return { path, kind: 'unreadable', reason: describeError(error) };
  }
}

/**
 * Expands the patterns (scanPatterns(patterns) when patterns is undefined or empty), probes every
 * path with bounded concurrency, and reports the elastripe devices found, grouped by array,
 * with duplicated device UUIDs flagged as conflicts.
 */
export async function scanForDevices(patterns?: readonly string[], options: ScanOptions = {}): Promise<ScanReport> {
  const used = scanPatterns(patterns);
  const paths = await expandScanPatterns(used);
  const concurrency = options.openDevice ? 1 : (options.concurrency ?? SCAN_CONCURRENCY_DEFAULT);
  const probes = await mapBounded(paths, concurrency, (path) => probeSuperblock(path, options));
  const found: FoundDevice[] = [];
  for (const probe of probes) {
    if (probe.kind !== 'elastripe') continue;
    if (options.arrayUuid !== undefined && probe.superblock.arrayUuid !== options.arrayUuid) continue;
    found.push(foundDevice(probe));
  }
  const byDevice = new Map<string, FoundDevice[]>();
  for (const device of found) {
    const copies = byDevice.get(device.superblock.deviceUuid) ?? [];
    copies.push(device);
    byDevice.set(device.superblock.deviceUuid, copies);
  }
  const conflicts: ScanConflict[] = [];
  for (const [deviceUuid, copies] of byDevice) if (copies.length > 1) conflicts.push(conflictOf(deviceUuid, copies));
  const arrays = new Map<string, { devices: FoundDevice[]; conflicts: ScanConflict[] }>();
  const arrayOf = (arrayUuid: string) => {
    let array = arrays.get(arrayUuid);
    if (array === undefined) arrays.set(arrayUuid, (array = { devices: [], conflicts: [] }));
    return array;
  };
  for (const device of found) {
    const array = arrayOf(device.superblock.arrayUuid);
    if (byDevice.get(device.superblock.deviceUuid)!.length === 1) array.devices.push(device);
  }
  for (const conflict of conflicts) {
    // Copies of one device UUID normally name one array; list the conflict under each they name.
    for (const arrayUuid of new Set(conflict.copies.map((copy) => copy.superblock.arrayUuid))) arrayOf(arrayUuid).conflicts.push(conflict);
  }
  return {
    patterns: used,
    probes,
    found,
    arrays: [...arrays].map(([arrayUuid, array]) => ({
      arrayUuid,
      devices: array.devices.sort((a, b) => a.superblock.deviceId - b.superblock.deviceId),
      conflicts: array.conflicts,
    })),
    conflicts,
  };
}

/**
 * Where the device with this UUID (of this array) is now. First the candidate paths, in order
 * (the array's recorded paths: a device re-attached in another order is usually among them;
 * taken literally, never as globs): the first that carries the UUID wins, without a scan. Then
 * the scan patterns, skipping the candidates: scanPatterns(patterns), so undefined or [] means
 * ELASTRIPE_SCAN or the defaults (to look at the candidates only, probe them directly).
 * Returns the path (absolute; relative candidates are resolved against the working directory;
 * nbd:// URLs as written), or undefined when nothing carries it; throws DuplicateDeviceError
 * when the scan finds it on more than one distinct device (a copy), rather than picking one.
 */
export async function findDeviceByUuid(
  deviceUuid: string,
  arrayUuid: string,
  candidatePaths: readonly string[],
  patterns?: readonly string[],
  options: Omit<ScanOptions, 'arrayUuid'> = {},
): Promise<string | undefined> {
  const matches = (probe: ProbeResult): boolean =>
    probe.kind === 'elastripe' && probe.superblock.deviceUuid === deviceUuid && probe.superblock.arrayUuid === arrayUuid;
  const candidateItems = candidatePaths.map((pattern) => ({ pattern, literal: true }));
  const candidates = dedupeEntries(await expandEntries(candidateItems));
  const concurrency = options.concurrency ?? SCAN_CONCURRENCY_DEFAULT;
  const candidateProbes = await mapBounded(candidates, concurrency, (path) => probeSuperblock(path, options));
  const hit = candidateProbes.find(matches);
  if (hit !== undefined) return hit.path;
  // Candidates first, so an alias of a candidate (same identity) is dropped by deduplication.
  const scanItems = scanPatterns(patterns).map((pattern) => ({ pattern, literal: false }));
  const expanded = dedupeEntries(await expandEntries([...candidateItems, ...scanItems]));
  const probed = new Set(candidates);
  const rest = expanded.filter((path) => !probed.has(path));
  const probes = await mapBounded(rest, concurrency, (path) => probeSuperblock(path, options));
  const paths = probes.filter(matches).map((probe) => probe.path);
  if (paths.length > 1) throw new DuplicateDeviceError(deviceUuid, paths);
  return paths[0];
}

// ---- expansion -------------------------------------------------------------------------------

interface ScanEntry {
  readonly path: string;
  /** block:<rdev>, file:<dev>:<ino>, url:<url>, or path:<path> when it cannot be stat'ed. */
  readonly identity: string;
  /** For a loop device over a whole file: that file's identity (file:<dev>:<ino>). */
  readonly backingIdentity: string | null;
}

/** A URL of a scheme other than nbd (scheme://...): an embedder's device name, not a local path. */
function isOtherUrl(pattern: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(pattern) && !isNbdUrl(pattern);
}

function hasWildcard(pattern: string): boolean {
  return pattern.includes('*') || pattern.includes('?');
}

/** The paths matching an absolute pattern, component by component; unreadable directories match nothing. */
async function globPaths(pattern: string): Promise<string[]> {
  const components = pattern.split(sep).filter((component) => component !== '');
  let bases: string[] = [sep];
  for (const component of components) {
    const next: string[] = [];
    for (const base of bases) {
      if (!hasWildcard(component)) {
        next.push(join(base, component));
        continue;
      }
      const matcher = componentMatcher(component);
      let names: string[];
      try {
        names = await readdir(base);
      } catch {
        continue;
      }
      for (const name of names.filter((candidate) => matcher.test(candidate)).sort(naturalCompare)) next.push(join(base, name));
    }
    // A match that is not a directory fails readdir at the next wildcard and drops out.
    bases = next;
  }
  return bases;
}

/** `*` = any run, `?` = one character, neither matching a leading dot; everything else literal. */
function componentMatcher(component: string): RegExp {
  let source = '';
  for (const char of component) {
    if (char === '*') source += '[^/]*';
    else if (char === '?') source += '[^/]';
    else source += char.replace(/[\\^$.|+()[\]{}]/g, '\\$&');
  }
  const dotGuard = component.startsWith('.') ? '' : '(?!\\.)';
  return new RegExp(`^${dotGuard}${source}$`, 's');
}

function naturalCompare(a: string, b: string): number {
  const split = (text: string) => text.split(/(\d+)/);
  const left = split(a);
  const right = split(b);
  for (let i = 0; i < Math.min(left.length, right.length); i++) {
    const x = left[i]!;
    const y = right[i]!;
    if (x === y) continue;
    if (i % 2 === 1) {
      const difference = Number(x) - Number(y);
      if (difference !== 0) return difference;
    }
    return x < y ? -1 : 1;
  }
  return left.length - right.length;
}

/** The entry for a path, or null for a glob match that is not a file or block device. */
async function describeEntry(path: string, literal: true): Promise<ScanEntry>;
async function describeEntry(path: string, literal: false): Promise<ScanEntry | null>;
async function describeEntry(path: string, literal: boolean): Promise<ScanEntry | null> {
  let info: BigIntStats;
  try {
    info = await stat(path, { bigint: true });
  } catch {
    return literal ? { path, identity: `path:${path}`, backingIdentity: null } : null;
  }
  if (info.isBlockDevice()) return { path, identity: `block:${info.rdev}`, backingIdentity: await loopBackingIdentity(info.rdev) };
  if (info.isFile()) return { path, identity: `file:${info.dev}:${info.ino}`, backingIdentity: null };
  return literal ? { path, identity: `path:${path}`, backingIdentity: null } : null;
}

function dedupeEntries(entries: readonly ScanEntry[]): string[] {
  const shadowedByLoop = new Set<string>();
  for (const entry of entries) if (entry.backingIdentity !== null) shadowedByLoop.add(entry.backingIdentity);
  const seen = new Set<string>();
  const paths: string[] = [];
  for (const entry of entries) {
    if (seen.has(entry.identity) || shadowedByLoop.has(entry.identity)) continue;
    seen.add(entry.identity);
    paths.push(entry.path);
  }
  return paths;
}

/**
 * A loop device's backing file identity, when the loop shows the whole file (offset 0, no size
 * limit), from sysfs (loop/backing_file is the file's current path; it follows renames).
 */
async function loopBackingIdentity(rdev: bigint): Promise<string | null> {
  const base = loopSysfsDirectory(rdev);
  try {
    const [backing, offset, sizeLimit] = await Promise.all(
      ['backing_file', 'offset', 'sizelimit'].map((name) => readFile(`${base}/${name}`, 'utf8').then((text) => text.replace(/\n$/, ''))),
    );
    if (Number(offset) !== 0 || Number(sizeLimit) !== 0 || backing!.endsWith(' (deleted)')) return null;
    const info = await stat(backing!, { bigint: true });
    return info.isFile() ? `file:${info.dev}:${info.ino}` : null;
  } catch {
    return null;
  }
}

// ---- probing ---------------------------------------------------------------------------------

/** What one superblock copy turned out to be. */
type CopyState =
  | { readonly state: 'valid'; readonly superblock: Superblock }
  | { readonly state: 'zero' }
  | { readonly state: 'foreign' }
  | { readonly state: 'damaged'; readonly reason: string; readonly capacityHintBytes: number | null }
  /** Magic present, format version not the one this build reads (its layout may differ). */
  | { readonly state: 'unsupported'; readonly reason: string }
  | { readonly state: 'error'; readonly reason: string };

type ReadLb = (lb: number) => Promise<Uint8Array>;

async function probeLocal(path: string): Promise<ProbeResult> {
  let info: BigIntStats;
  try {
    info = await stat(path, { bigint: true });
  } catch (error) {
    return { path, kind: 'unreadable', reason: describeError(error) };
  }
  const isBlock = info.isBlockDevice();
  if (!isBlock && !info.isFile()) return { path, kind: 'other', reason: 'not a regular file or block device' };
  let rawBytes: number;
  if (isBlock) {
    // fstat gives 0 for block devices; sysfs counts 512-byte sectors whatever the block size.
    const sysfs = `/sys/dev/block/${majorMinor(info.rdev)}/size`;
    try {
      rawBytes = Number((await readFile(sysfs, 'utf8')).trim()) * 512;
    } catch (error) {
      return { path, kind: 'unreadable', reason: `cannot learn the size from ${sysfs}: ${describeError(error)}` };
    }
  } else {
    rawBytes = Number(info.size);
  }
  const sizeBytes = rawBytes - (rawBytes % LB_BYTES);
  if (sizeBytes < SUPERBLOCK_DEVICE_BYTES_MIN) return tooSmall(path, rawBytes, isBlock);
  let handle;
  try {
    handle = await open(path, fsConstants.O_RDONLY);
  } catch (error) {
    return { path, kind: 'unreadable', reason: describeError(error), sizeBytes };
  }
  try {
    return await probeCopies(path, sizeBytes, async (lb) => {
      const buffer = Buffer.alloc(SUPERBLOCK_BYTES);
      let filled = 0;
      while (filled < buffer.byteLength) {
        const { bytesRead } = await handle.read(buffer, filled, buffer.byteLength - filled, lb * LB_BYTES + filled);
        if (bytesRead === 0) throw new Error(`LB ${lb} lies past the end (the device shrank?)`);
        filled += bytesRead;
      }
      return buffer;
    });
  } finally {
    await handle.close().catch(() => undefined);
  }
}

async function probeNbd(url: string, timeoutMs: number): Promise<ProbeResult> {
  const { openNbdDevice } = await import('./nbd_device.js'); // node:net only when an NBD URL is probed
  const device = await openNbdDevice(url, { connectTimeoutMs: timeoutMs, requestTimeoutMs: timeoutMs, inflightMax: 2 });
  try {
    if (device.sizeBytes < SUPERBLOCK_DEVICE_BYTES_MIN) return tooSmall(url, device.sizeBytes, true);
    return await probeCopies(url, device.sizeBytes, async (lb) => {
      const buffer = new Uint8Array(SUPERBLOCK_BYTES);
      await device.read([{ startLb: lb, lengthLb: 1 }], [buffer]);
      return buffer;
    });
  } finally {
    await device.close().catch(() => undefined);
  }
}

/** Probes through an embedder's opener (ProbeOptions.openDevice): its Device's size and reads. */
async function probeThrough(path: string, openDevice: (path: string) => Promise<Device>, scratch: Uint8Array | undefined): Promise<ProbeResult> {
  if (!scratch || scratch.byteLength < SUPERBLOCK_BYTES) throw new Error('a probe through openDevice needs an LB-sized scratch buffer');
  const buffer = scratch.subarray(0, SUPERBLOCK_BYTES);
  const device = await openDevice(path);
  try {
    if (device.sizeBytes < SUPERBLOCK_DEVICE_BYTES_MIN) return tooSmall(path, device.sizeBytes, true);
    return await probeCopies(path, device.sizeBytes, async (lb) => {
      await device.read([{ startLb: lb, lengthLb: 1 }], [buffer]);
      // A copy: the scratch is read into again for the next copy.
      return buffer.slice();
    });
  } finally {
    await device.close().catch(() => undefined);
  }
}

function tooSmall(path: string, rawBytes: number, isBlock: boolean): ProbeNotFound {
  const hint = rawBytes === 0 && isBlock ? ' (an unattached loop or unconnected NBD device?)' : '';
  return { path, kind: 'other', reason: `${rawBytes} bytes${hint}, under the ${SUPERBLOCK_DEVICE_BYTES_MIN} an elastripe device needs`, sizeBytes: rawBytes };
}

async function probeCopies(path: string, sizeBytes: number, readLb: ReadLb): Promise<ProbeResult> {
  const lastLb = sizeBytes / LB_BYTES - 1;
  const primary = await readCopy(readLb, 0);
  if (primary.state === 'valid') return found(path, primary.superblock, 'primary', sizeBytes, undefined);
  const backupLbs = [lastLb];
  if (primary.state === 'damaged' && primary.capacityHintBytes !== null && primary.capacityHintBytes <= sizeBytes) {
    const hintLb = primary.capacityHintBytes / LB_BYTES - 1;
    if (hintLb !== lastLb) backupLbs.push(hintLb);
  }
  const backups: CopyState[] = [];
  for (const lb of backupLbs) {
    const backup = await readCopy(readLb, lb);
    if (backup.state === 'valid') return found(path, backup.superblock, 'backup', sizeBytes, `primary (LB 0) ${copyProblem(primary)}; using the backup in LB ${lb}`);
    backups.push(backup);
  }
  const backup = backups[0]!;
  const unsupported = [primary, backup].find((copy) => copy.state === 'unsupported');
  if (unsupported !== undefined) {
    return { path, kind: 'other', reason: `elastripe superblock of an unsupported format: primary ${copyProblem(primary)}, backup ${copyProblem(backup)}`, sizeBytes };
  }
  const damaged = [primary, backup].find((copy) => copy.state === 'damaged');
  if (damaged !== undefined) {
    return { path, kind: 'other', reason: `damaged elastripe superblock and no valid copy: primary ${copyProblem(primary)}, backup ${copyProblem(backup)}`, sizeBytes };
  }
  if (primary.state === 'error' || backup.state === 'error') {
    return { path, kind: 'unreadable', reason: `primary ${copyProblem(primary)}, backup ${copyProblem(backup)}`, sizeBytes };
  }
  if (primary.state === 'foreign' || backup.state === 'foreign') {
    return { path, kind: 'other', reason: `no elastripe superblock: primary ${copyProblem(primary)}, backup ${copyProblem(backup)}`, sizeBytes };
  }
  return { path, kind: 'blank', reason: 'the first and last logical blocks are all zeros', sizeBytes };
}

function found(path: string, superblock: Superblock, copy: 'primary' | 'backup', sizeBytes: number, warning: string | undefined): ProbeFound {
  const warnings = warning === undefined ? [] : [warning];
  if (superblock.capacityBytes > sizeBytes) warnings.push(`its superblock records ${superblock.capacityBytes} bytes but the device has ${sizeBytes}`);
  return warnings.length === 0 ? { path, kind: 'elastripe', superblock, copy, sizeBytes } : { path, kind: 'elastripe', superblock, copy, sizeBytes, warning: warnings.join('; ') };
}

async function readCopy(readLb: ReadLb, lb: number): Promise<CopyState> {
  let bytes: Uint8Array;
  try {
    bytes = await readLb(lb);
  } catch (error) {
    return { state: 'error', reason: describeError(error) };
  }
  try {
    const superblock = decodeSuperblock(bytes);
    if (superblock !== null) return { state: 'valid', superblock };
  } catch (error) {
    if (!(error instanceof CorruptMetadataError)) return { state: 'error', reason: describeError(error) };
    const formatVersion = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(8, true);
    if (formatVersion !== SUPERBLOCK_FORMAT_VERSION) return { state: 'unsupported', reason: error.message };
    return { state: 'damaged', reason: error.message, capacityHintBytes: capacityHint(bytes) };
  }
  return bytes.every((byte) => byte === 0) ? { state: 'zero' } : { state: 'foreign' };
}

/** The capacity a damaged copy (magic present) still names, when it is a plausible one. */
function capacityHint(bytes: Uint8Array): number | null {
  const capacityBytes = Number(new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigUint64(56, true));
  const plausible = Number.isSafeInteger(capacityBytes) && capacityBytes % LB_BYTES === 0 && capacityBytes >= SUPERBLOCK_DEVICE_BYTES_MIN;
  return plausible ? capacityBytes : null;
}

function copyProblem(copy: CopyState): string {
  switch (copy.state) {
    case 'valid':
      return 'is valid';
    case 'zero':
      return 'is blank';
    case 'foreign':
      return `holds other data (no ${SUPERBLOCK_MAGIC} magic)`;
    case 'damaged':
      return `is damaged (${copy.reason})`;
    case 'unsupported':
      return `is unsupported (${copy.reason})`;
    case 'error':
      return `could not be read (${copy.reason})`;
  }
}

// ---- plumbing --------------------------------------------------------------------------------

function foundDevice(probe: ProbeFound): FoundDevice {
  const { path, superblock, copy, sizeBytes, warning } = probe;
  return warning === undefined ? { path, superblock, copy, sizeBytes } : { path, superblock, copy, sizeBytes, warning };
}

function conflictOf(deviceUuid: string, copies: readonly FoundDevice[]): ScanConflict {
  const newest = Math.max(...copies.map((copy) => copy.superblock.createdTimeMs));
  const newestCopies = copies.filter((copy) => copy.superblock.createdTimeMs === newest);
  return newestCopies.length === 1 ? { deviceUuid, copies, newestPath: newestCopies[0]!.path } : { deviceUuid, copies };
}

/**
 * Settles with work's outcome, or rejects after timeoutMs. Work that outlives the deadline is
 * left to finish on its own (each probe closes what it opened), its outcome ignored.
 */
function withDeadline<T>(work: Promise<T>, timeoutMs: number, path: string): Promise<T> {
  return new Promise<T>((resolvePromise, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    work.then(
      (value) => {
        clearTimeout(timer);
        resolvePromise(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error instanceof Error ? error : new Error(`${path}: ${String(error)}`));
      },
    );
  });
}

/** Maps items with at most `limit` calls in flight; results in input order. */
async function mapBounded<T, R>(items: readonly T[], limit: number, task: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      results[index] = await task(items[index]!);
    }
  };
  const workers = Math.max(1, Math.min(Math.floor(limit) || 1, items.length));
  await Promise.all(Array.from({ length: workers }, worker));
  return results;
}

function describeError(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return typeof code === 'string' && !error.message.startsWith(code) && !(error instanceof ElastripeError) ? `${code}: ${error.message}` : error.message;
  }
  return String(error);
}
