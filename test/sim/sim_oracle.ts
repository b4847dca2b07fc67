// The simulator's oracles: checks of the array that do not trust the array's own accounting.
//  - Space: recount used LBs per device from the extents every file's stat() reports and
//    compare with status() (which the allocator answers); check no two extents overlap, every
//    extent lies in its device's data area, and every group is well formed.
//  - Disks: read the simulated disks directly and compare every block of every group with
//    what the model says it holds: data blocks from the file's bytes, parity blocks from an
//    independent encoder. A block that differs must carry a fault the storage injected
//    (otherwise it is silent corruption); the blocks that differ, and those on devices that
//    are down, are exactly what a deep fsck must report.
//  - fsck: the deep fsck's problems must be exactly the expected ones (devices down, their
//    blocks, and the injected corruption), nothing more and nothing less.
// It also reports which disks are "afflicted" (down, gone, or holding a damaged block or a
// damaged reserved page): the fault budget allows at most parityCount of them at a time.
import { LB_BYTES } from '../../src/constants.js';
import type { DiskArray } from '../../src/array/disk_array.js';
import type { ArrayStatus, FileStat, GroupInfo } from '../../src/array/types.js';
import type { SimModel, Version } from './sim_model.js';
import { referenceParity } from './sim_parity.js';
import type { SimStorage } from './sim_device.js';

export interface DeviceView {
  deviceId: number;
  path: string;
  /** Readable in the array's view (status: online or draining). */
  online: boolean;
  dataStartLb: number;
  dataEndLb: number;
  usedLb: number;
}

/** The array's layout when it is quiet: devices from status(), every file's stat(). */
export interface LayoutSnapshot {
  status: ArrayStatus;
  devices: Map<number, DeviceView>;
  files: Map<string, FileStat>;
}

export function takeSnapshot(array: DiskArray, storage: SimStorage): LayoutSnapshot {
  const status = array.status();
  const devices = new Map<number, DeviceView>();
  for (const device of status.devices) {
    const capacityLb = storage.disk(device.path).sizeBytes / LB_BYTES;
    const dataEndLb = capacityLb - 1;
    devices.set(device.deviceId, {
      deviceId: device.deviceId,
      path: device.path,
      // A draining device (being removed) is readable: only missing and failed ones are down.
      online: device.state !== 'missing' && device.state !== 'failed',
      dataStartLb: dataEndLb - device.capacityBytes / LB_BYTES,
      dataEndLb,
      usedLb: device.usedBytes / LB_BYTES,
    });
  }
  const files = new Map(array.list().map((file) => [file.name, array.stat(file.name)]));
  return { status, devices, files };
}

/** Space and structure, recounted from the extents (problems as sentences). */
export function spaceProblems(snapshot: LayoutSnapshot): string[] {
  const problems: string[] = [];
  const byDevice = new Map<number, { startLb: number; lengthLb: number; owner: string }[]>();
  for (const [name, file] of snapshot.files) {
    const stored = file.groups.reduce((sum, group) => sum + group.lengthBytes, 0);
    if (stored !== file.sizeBytes) problems.push(`${name}: groups hold ${stored} bytes, size ${file.sizeBytes}`);
    for (const group of file.groups) {
      const owner = `${name}#${group.sequence}`;
      problems.push(...groupShapeProblems(owner, group));
      for (const extent of group.extents) {
        const list = byDevice.get(extent.deviceId) ?? [];
        list.push({ startLb: extent.startLb, lengthLb: extent.lengthLb, owner });
        byDevice.set(extent.deviceId, list);
      }
    }
  }
  for (const [deviceId, extents] of byDevice) {
    const device = snapshot.devices.get(deviceId);
    if (!device) {
      problems.push(`${extents.length} extents on device ${deviceId}, which the array does not list`);
      continue;
    }
    extents.sort((a, b) => a.startLb - b.startLb);
    let endLb = device.dataStartLb;
    for (const extent of extents) {
      if (extent.startLb < endLb) problems.push(`device ${deviceId}: ${extent.owner} at LB ${extent.startLb} overlaps the previous extent or the reserve (ends ${endLb})`);
      endLb = Math.max(endLb, extent.startLb + extent.lengthLb);
    }
    if (endLb > device.dataEndLb) problems.push(`device ${deviceId}: an extent ends at LB ${endLb}, past the data area (${device.dataEndLb})`);
  }
  for (const device of snapshot.devices.values()) {
    const countedLb = (byDevice.get(device.deviceId) ?? []).reduce((sum, extent) => sum + extent.lengthLb, 0);
    if (countedLb !== device.usedLb) problems.push(`device ${device.deviceId}: extents use ${countedLb} LB, status says ${device.usedLb} LB used`);
  }
  const storedBytes = [...snapshot.files.values()].reduce((sum, file) => sum + file.sizeBytes, 0);
  if (storedBytes !== snapshot.status.storedBytes) problems.push(`files hold ${storedBytes} bytes, status says ${snapshot.status.storedBytes}`);
  return problems;
}

function groupShapeProblems(owner: string, group: GroupInfo): string[] {
  const problems: string[] = [];
  const width = group.dataCount + group.parityCount;
  if (group.extents.length !== width) problems.push(`${owner}: ${group.extents.length} extents for ${group.dataCount}+${group.parityCount}`);
  if (new Set(group.extents.map((extent) => extent.deviceId)).size !== group.extents.length) problems.push(`${owner}: two blocks on one device`);
  const positions = new Set(group.extents.map((extent) => blockPosition(group, extent)));
  if (positions.size !== width) problems.push(`${owner}: block positions ${[...positions].join(',')} do not cover 0..${width - 1}`);
  if (group.extents.some((extent) => extent.lengthLb !== group.extentLb)) problems.push(`${owner}: an extent is not ${group.extentLb} LB`);
  if (group.lengthBytes <= 0 || group.lengthBytes > group.dataCount * group.extentLb * LB_BYTES) problems.push(`${owner}: ${group.lengthBytes} bytes in ${group.dataCount} x ${group.extentLb} LB`);
  return problems;
}

function blockPosition(group: { dataCount: number }, extent: { role: string; index: number }): number {
  return extent.role === 'data' ? extent.index : group.dataCount + extent.index;
}

export interface DiskFindings {
  /** Problems no injected fault explains (silent corruption, a file matching no version). */
  problems: string[];
  /** Per group with blocks on down devices: the sorted block positions (fsck lists them). */
  downBlockLists: string[];
  /** Per group with damaged blocks on online devices: the sorted positions. */
  corruptBlockLists: string[];
  /** The version each existing file's blocks hold. */
  versions: Map<string, Version>;
  /** Disks that are down, gone, or hold damage that matters (the fault budget counts them). */
  afflicted: Set<string>;
}

/** Expected parity per (version, group geometry): independent of where the blocks lie. */
export class ParityCache {
  private entries = new Map<string, Uint8Array[]>();
  private used = new Set<string>();

  get(version: Version, group: GroupInfo, offsetBytes: number): Uint8Array[] {
    const key = `${version.id}:${offsetBytes}:${group.dataCount}:${group.parityCount}:${group.extentLb}:${group.lengthBytes}`;
    this.used.add(key);
    let parity = this.entries.get(key);
    if (!parity) {
      const data = Array.from({ length: group.dataCount }, (_, i) => expectedData(version, group, offsetBytes, i));
      parity = referenceParity(data, group.parityCount);
      this.entries.set(key, parity);
    }
    return parity;
  }

  /** Forgets entries not used since the last call (files overwritten or deleted). */
  sweep(): void {
    for (const key of this.entries.keys()) if (!this.used.has(key)) this.entries.delete(key);
    this.used = new Set();
  }
}

function expectedData(version: Version, group: GroupInfo, offsetBytes: number, index: number): Uint8Array {
  const extentBytes = group.extentLb * LB_BYTES;
  const block = new Uint8Array(extentBytes);
  const from = offsetBytes + index * extentBytes;
  const to = Math.min(offsetBytes + group.lengthBytes, from + extentBytes);
  if (to > from) block.set(version.bytes.subarray(from, to));
  return block;
}

/** Compares every block on the simulated disks with the model (see the header). */
export function checkDisks(snapshot: LayoutSnapshot, storage: SimStorage, model: SimModel, parity: ParityCache): DiskFindings {
  const findings: DiskFindings = { problems: [], downBlockLists: [], corruptBlockLists: [], versions: new Map(), afflicted: new Set() };
  for (const device of snapshot.devices.values()) {
    const disk = storage.disk(device.path);
    if (!device.online || !disk.present) findings.afflicted.add(device.path);
    // A failed flush poisons the device for the process that saw it (see SimDevice.flushFailed).
    if ([...disk.handles].some((handle) => handle.flushFailed)) findings.afflicted.add(device.path);
    for (const page of disk.badPages().keys()) {
      if (page < device.dataStartLb || page >= device.dataEndLb) findings.afflicted.add(device.path);
    }
  }
  for (const [name, file] of snapshot.files) {
    const candidates = [...model.possible(name)].filter((state): state is Version => state !== null && state.bytes.length === file.sizeBytes);
    if (candidates.length === 0) {
      findings.problems.push(`${name}: ${file.sizeBytes} bytes stored, no allowed version has that size`);
      continue;
    }
    const version = candidates.length === 1 ? candidates[0]! : bestMatch(snapshot, storage, file, candidates, parity);
    findings.versions.set(name, version);
    let offsetBytes = 0;
    for (const group of file.groups) {
      checkGroup(snapshot, storage, name, version, group, offsetBytes, parity, findings);
      offsetBytes += group.lengthBytes;
    }
  }
  return findings;
}

function checkGroup(
  snapshot: LayoutSnapshot,
  storage: SimStorage,
  name: string,
  version: Version,
  group: GroupInfo,
  offsetBytes: number,
  parity: ParityCache,
  findings: DiskFindings,
): void {
  const down: number[] = [];
  const corrupt: number[] = [];
  const expectedParity = parity.get(version, group, offsetBytes);
  for (const extent of group.extents) {
    const position = blockPosition(group, extent);
    const device = snapshot.devices.get(extent.deviceId)!;
    const disk = storage.disk(device.path);
    if (!device.online || !disk.present) {
      down.push(position);
      continue;
    }
    const expected = extent.role === 'data' ? expectedData(version, group, offsetBytes, extent.index) : expectedParity[extent.index]!;
    const found = blockState(storage, device.path, extent.startLb, extent.lengthLb, expected);
    if (found === 'intact') continue;
    corrupt.push(position);
    findings.afflicted.add(device.path);
    if (found === 'unexplained') {
      findings.problems.push(`${name}#${group.sequence} block ${position} (device ${extent.deviceId} LB ${extent.startLb}+${extent.lengthLb}) differs from the model and no fault was injected there`);
    }
  }
  if (down.length > 0) findings.downBlockLists.push(down.sort((a, b) => a - b).join(','));
  if (corrupt.length > 0) findings.corruptBlockLists.push(corrupt.sort((a, b) => a - b).join(','));
}

/** 'intact', 'damaged' (differs or unreadable, with an injected fault on it) or 'unexplained'. */
function blockState(storage: SimStorage, path: string, startLb: number, lengthLb: number, expected: Uint8Array): 'intact' | 'damaged' | 'unexplained' {
  const disk = storage.disk(path);
  let differs = false;
  let marked = false;
  for (let lb = 0; lb < lengthLb; lb++) {
    const state = disk.current(startLb + lb);
    if (state?.bad) marked = true;
    if (state?.bad === 'latent') differs = true;
    else if (!differs && !samePage(state?.data, expected, lb * LB_BYTES)) differs = true;
  }
  if (!differs) return 'intact';
  return marked ? 'damaged' : 'unexplained';
}

const ZERO_PAGE = Buffer.alloc(LB_BYTES);

/** Whether a page (undefined = zeros) equals expected[offset, offset + LB_BYTES), without copying. */
function samePage(data: Uint8Array | undefined, expected: Uint8Array, offset: number): boolean {
  const want = Buffer.from(expected.buffer, expected.byteOffset + offset, LB_BYTES);
  const have = data ? Buffer.from(data.buffer, data.byteOffset, LB_BYTES) : ZERO_PAGE;
  return have.equals(want);
}

/**
 * After a power loss a file may hold either of two versions of one size: the one the disks hold
 * most blocks of. Parity blocks count too: a group whose data
 * blocks are all on devices that are down (a 1+m group of a tiny file) tells its version only by
 * its parity, and scoring data alone would pick the first candidate and call the parity of the
 * other one (the version an interrupted rename or put left) a difference nothing explains.
 */
function bestMatch(snapshot: LayoutSnapshot, storage: SimStorage, file: FileStat, candidates: Version[], parity: ParityCache): Version {
  let best = candidates[0]!;
  let bestScore = -1;
  for (const version of candidates) {
    let score = 0;
    let offsetBytes = 0;
    for (const group of file.groups) {
      const expectedParity = parity.get(version, group, offsetBytes);
      for (const extent of group.extents) {
        const device = snapshot.devices.get(extent.deviceId);
        if (!device?.online) continue;
        const expected = extent.role === 'data' ? expectedData(version, group, offsetBytes, extent.index) : expectedParity[extent.index]!;
        if (blockState(storage, device.path, extent.startLb, extent.lengthLb, expected) === 'intact') score++;
      }
      offsetBytes += group.lengthBytes;
    }
    if (score > bestScore) [best, bestScore] = [version, score];
  }
  return best;
}

const DEVICE_DOWN = /^device \d+ \(.*\) is (missing|failed)/;
const BLOCKS_DOWN = /: blocks ([\d,]+) are on missing or failed devices$/;
const BLOCKS_CORRUPT = /: blocks ([\d,]+) unreadable or corrupt \(parity can rebuild them\)$/;

/** The deep fsck's problems that the disk oracle does not expect, and expected ones it missed. */
export function unexpectedFsckProblems(problems: readonly string[], snapshot: LayoutSnapshot, findings: DiskFindings): string[] {
  const unexpected: string[] = [];
  const down: string[] = [];
  const corrupt: string[] = [];
  let devicesDown = 0;
  for (const problem of problems) {
    const blocksDown = BLOCKS_DOWN.exec(problem);
    const blocksCorrupt = BLOCKS_CORRUPT.exec(problem);
    if (DEVICE_DOWN.test(problem)) devicesDown++;
    else if (blocksDown) down.push(blocksDown[1]!);
    else if (blocksCorrupt) corrupt.push(blocksCorrupt[1]!);
    else unexpected.push(problem);
  }
  const expectedDown = [...snapshot.devices.values()].filter((device) => !device.online).length;
  if (devicesDown !== expectedDown) unexpected.push(`fsck lists ${devicesDown} devices down, status ${expectedDown}`);
  unexpected.push(...multisetDifference('blocks on down devices', down, findings.downBlockLists));
  unexpected.push(...multisetDifference('damaged blocks', corrupt, findings.corruptBlockLists));
  return unexpected;
}

function multisetDifference(what: string, reported: string[], expected: string[]): string[] {
  const a = [...reported].sort().join(' ');
  const b = [...expected].sort().join(' ');
  return a === b ? [] : [`fsck reports ${what} [${a}], the disks hold [${b}]`];
}
