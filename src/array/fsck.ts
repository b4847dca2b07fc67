// The verifier. checkMetadata proves the structural invariants from the metadata alone and
// compares the live allocator with one derived afresh; deepCheck reads every block of every
// group, checks its checksum, and recomputes each group's parity.
import { LB_BYTES } from '../constants.js';
import { ExtentAllocator } from '../meta/extent_allocator.js';
import { freeSpaceMapProblems } from '../meta/free_space_map.js';
import type { MetaStore } from '../meta/meta_store.js';
import type { ExtentRow, GroupWithExtents } from '../meta/rows.js';
import { AbortedError } from '../errors.js';
import type { Runtime } from './array_setup.js';
import type { Progress } from './types.js';
import { blockIndex, readGroupBlocks, type ReadContext } from './read_path.js';
import { groupLabel } from './group_label.js';
import { Throttle } from './throttle.js';

export function checkMetadata(store: MetaStore, liveAllocator: ExtentAllocator | undefined, parityCount: number): string[] {
  const problems: string[] = [...store.integrityProblems()];
  const devices = new Map(store.devices().map((row) => [row.deviceId, row]));
  const extents = store.allExtents();
  const extentsByGroup = new Map<number, ExtentRow[]>();
  for (const extent of extents) {
    const list = extentsByGroup.get(extent.groupId) ?? [];
    list.push(extent);
    extentsByGroup.set(extent.groupId, list);
  }
  const groupLengthByFile = new Map<number, number>();
  const files = store.files();
  const fileNames = new Map(files.map((file) => [file.fileId, file.name]));
  for (const group of store.allGroups()) {
    groupLengthByFile.set(group.fileId, (groupLengthByFile.get(group.fileId) ?? 0) + group.lengthBytes);
    const label = groupLabel(group, fileNames.get(group.fileId));
    problems.push(...groupProblems({ ...group, extents: extentsByGroup.get(group.groupId) ?? [] }, parityCount, label));
  }
  for (const group of store.misplacedGroups()) {
    problems.push(`${groupLabel(group, fileNames.get(group.fileId))}: byte offset ${group.fileOffset} recorded, its file's groups before it hold ${group.expected}`);
  }
  for (const file of files) {
    const stored = groupLengthByFile.get(file.fileId) ?? 0;
    if (stored !== file.sizeBytes) problems.push(`file ${file.name}: groups hold ${stored} bytes, size is ${file.sizeBytes}`);
  }
  // Deriving an allocator checks bounds and overlaps: claim() refuses a range that is not free.
  const derived = new ExtentAllocator();
  for (const row of devices.values()) derived.addDevice(row.deviceId, row.dataStartLb, row.dataEndLb);
  for (const extent of extents) {
    if (!devices.has(extent.deviceId)) {
      problems.push(`extent ${extent.extentId} is on unknown device ${extent.deviceId}`);
      continue;
    }
    if (devices.get(extent.deviceId)!.state === 'removed') problems.push(`extent ${extent.extentId} is on removed device ${extent.deviceId}`);
    try {
      derived.claim(extent.deviceId, extent.startLb, extent.lengthLb);
    } catch {
      problems.push(`extent ${extent.extentId} (device ${extent.deviceId} ${extent.startLb}+${extent.lengthLb}) overlaps another or leaves the data area`);
    }
  }
  if (liveAllocator) problems.push(...compareAllocators(derived, liveAllocator));
  problems.push(...freeSpaceMapProblems(store, derived));
  return problems;
}

function groupProblems(group: GroupWithExtents, parityCount: number, name: string): string[] {
  const problems: string[] = [];
  const width = group.dataCount + group.parityCount;
  if (group.parityCount !== parityCount) problems.push(`${name}: parity ${group.parityCount}, the array uses ${parityCount}`);
  if (group.extents.length !== width) problems.push(`${name}: ${group.extents.length} extents for ${group.dataCount}+${group.parityCount}`);
  const positions = new Set(group.extents.map((extent) => blockIndex(group, extent)));
  for (let index = 0; index < width; index++) if (!positions.has(index)) problems.push(`${name}: block ${index} has no extent`);
  if (new Set(group.extents.map((extent) => extent.deviceId)).size !== group.extents.length) {
    problems.push(`${name}: two blocks share a device`);
  }
  for (const extent of group.extents) {
    if (extent.lengthLb !== group.extentLb) problems.push(`${name}: extent ${extent.extentId} is ${extent.lengthLb} LB, not ${group.extentLb}`);
  }
  if (group.lengthBytes > group.dataCount * group.extentLb * LB_BYTES) problems.push(`${name}: ${group.lengthBytes} bytes exceed its data blocks`);
  return problems;
}

function compareAllocators(derived: ExtentAllocator, live: ExtentAllocator): string[] {
  const problems: string[] = [];
  for (const deviceId of derived.deviceIds()) {
    const expected = JSON.stringify(derived.freeRanges(deviceId));
    const actual = live.hasDevice(deviceId) ? JSON.stringify(live.freeRanges(deviceId)) : 'missing';
    if (expected !== actual) problems.push(`device ${deviceId}: allocator free space disagrees with metadata (leak or double use)`);
  }
  return problems;
}

export interface DeepCheckOptions {
  /** Rewrite blocks rebuilt from parity where their device is online (scrub); fsck only reports. */
  repair?: boolean;
  onProgress?: (progress: Progress) => void;
  signal?: AbortSignal;
  /** Upper bound on bytes checked per second (scrub in the background). */
  rateBytesPerSec?: number;
  /** The name of a file by id, for the problems' wording (groupLabel). */
  fileNameOf?: (fileId: number) => string | undefined;
}

/**
 * Reads every block of every group; reports unreadable or corrupt blocks and wrong parity, and
 * with `repair` rewrites what parity rebuilt (the report then says so).
 */
export async function deepCheck(
  context: ReadContext,
  runtime: Runtime,
  groups: GroupWithExtents[],
  options: DeepCheckOptions = {},
): Promise<{ problems: string[]; checkedExtents: number; unrepairedProblems: number }> {
  const problems: string[] = [];
  let checkedExtents = 0;
  let unrepairedProblems = 0;
  let checkedBytes = 0;
  const totalBytes = groups.reduce((sum, group) => sum + groupBytes(group), 0);
  const throttle = new Throttle(options.rateBytesPerSec, runtime.clock);
  for (const group of groups) {
    if (options.signal?.aborted) throw new AbortedError('the check was aborted');
    const checked = await checkGroup(context, runtime, group, options.repair ?? false, groupLabel(group, options.fileNameOf?.(group.fileId)));
    problems.push(...checked.problems);
    unrepairedProblems += checked.unrepairedProblems;
    checkedExtents += checked.checkedExtents;
    if (checked.checkedExtents === 0) continue;
    checkedBytes += groupBytes(group);
    options.onProgress?.({ doneBytes: checkedBytes, totalBytes });
    await throttle.pace(groupBytes(group), options.signal);
  }
  return { problems, checkedExtents, unrepairedProblems };
}

/** Bytes of all of a group's blocks (what a deep check reads). */
export function groupBytes(group: { dataCount: number; parityCount: number; extentLb: number }): number {
  return (group.dataCount + group.parityCount) * group.extentLb * LB_BYTES;
}

export interface GroupCheck {
  problems: string[];
  /** Problems left as found (blocks on missing devices, more damage than parity rebuilds, wrong parity). */
  unrepairedProblems: number;
  /** Blocks read and checked: the group's width, or 0 when it could not be read. */
  checkedExtents: number;
}

/**
 * Reads every block of one group, verifies every checksum and the parity; with `repair`,
 * rewrites in place the blocks parity rebuilt.
 */
export async function checkGroup(context: ReadContext, runtime: Runtime, group: GroupWithExtents, repair: boolean, name: string): Promise<GroupCheck> {
  const problems: string[] = [];
  let unrepairedProblems = 0;
  const width = group.dataCount + group.parityCount;
  const offline = group.extents
    .filter((extent) => !context.devices.usable(extent.deviceId))
    .map((extent) => blockIndex(group, extent));
  if (offline.length > 0) {
    problems.push(`${name}: blocks ${offline.join(',')} are on missing or failed devices`);
    unrepairedProblems++;
  }
  // Rebuilt blocks of online devices, and how many of them the repair rewrote: a rewrite that
  // failed (EIO, a full host filesystem) leaves the damage, and the scrub must say so.
  let rebuiltOnline = 0;
  let rewritten = 0;
  const reporting: ReadContext = {
    ...context,
    repair,
    onDegradedRead: (degraded, rebuilt) => {
      context.onDegradedRead(degraded, rebuilt);
      const corrupt = rebuilt.filter((index) => !offline.includes(index));
      const what = repair ? 'rebuilt from parity and rewritten' : 'parity can rebuild them';
      if (corrupt.length > 0) {
        problems.push(`${name}: blocks ${corrupt.join(',')} unreadable or corrupt (${what})`);
        if (!repair) unrepairedProblems++;
        rebuiltOnline += corrupt.length;
      }
    },
    onRepaired: (deviceId, groupId) => {
      rewritten++;
      context.onRepaired?.(deviceId, groupId);
    },
  };
  let blocks;
  try {
    blocks = await readGroupBlocks(reporting, group, [...Array(width).keys()]);
  } catch (error) {
    problems.push(`${name}: ${(error as Error).message}`);
    return { problems, unrepairedProblems: unrepairedProblems + 1, checkedExtents: 0 };
  }
  if (repair && rewritten < rebuiltOnline) {
    problems.push(`${name}: ${rebuiltOnline - rewritten} rebuilt blocks could not be rewritten (they still read through parity; scrub again once their device takes writes)`);
    unrepairedProblems++;
  }
  try {
    const parity = await parityProblems(runtime, group, blocks.view, blocks.extentBytes, name);
    problems.push(...parity);
    unrepairedProblems += parity.length;
  } finally {
    blocks.release();
  }
  return { problems, unrepairedProblems, checkedExtents: width };
}

async function parityProblems(
  runtime: Runtime,
  group: GroupWithExtents,
  view: (index: number) => Uint8Array,
  extentBytes: number,
  name: string,
): Promise<string[]> {
  const scratch = await runtime.arena.acquire(group.parityCount * extentBytes);
  try {
    const data = [...Array(group.dataCount).keys()].map(view);
    const parity = [...Array(group.parityCount).keys()].map((row) => scratch.bytes.subarray(row * extentBytes, (row + 1) * extentBytes));
    await runtime.codec.encode(data, parity);
    const problems: string[] = [];
    parity.forEach((computed, row) => {
      if (Buffer.compare(computed, view(group.dataCount + row)) !== 0) problems.push(`${name}: parity row ${row} does not match the data`);
    });
    return problems;
  } finally {
    runtime.arena.free(scratch);
  }
}
