// A disk that fills up during each job (issue 11): the array's devices are sparse image files on
// a small tmpfs, which a filler file then fills to the last page, so every write a job makes
// into a hole fails with ENOSPC from the real kernel. Each job (rebuild, remove, rebalance,
// restripe, scrub) must then end with a clear typed error (NO_SPACE) or a correct partial result
// (its job row 'incomplete'), lose nothing (every file reads back, also after a reopen), leave a
// clean deep fsck and leak no space: every device's used bytes equal a recount from the extents,
// in the running array and after a reopen. Once space is freed, running the job again finishes.
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, statfsSync } from 'node:fs';
import { afterEach, beforeEach, expect } from 'vitest';
import { DiskArray } from '../../src/array/disk_array.js';
import { LB_BYTES } from '../../src/constants.js';
import { ElastripeError } from '../../src/errors.js';
import { rootPrerequisite } from '../helpers/prerequisites.js';
import { MIB, patternBytes, TempDir, TEST_RUNTIME } from '../helpers/temp_array.js';

const root = rootPrerequisite();

let dir: TempDir;
let array: DiskArray | undefined;
const mounts: string[] = [];

beforeEach(() => {
  dir = new TempDir();
});
afterEach(async () => {
  await array?.close().catch(() => undefined);
  array = undefined;
  for (const mount of mounts.splice(0)) execFileSync('umount', ['-l', mount]);
  dir.remove();
});

interface FullDisk {
  mount: string;
  images: string[];
  files: Map<string, Buffer>;
  home: string;
}

/** A tmpfs of `fsMib`, sparse images of `imageMib` on it, an array over the first `members`, some files. */
async function arrayOnSmallFs(options: { fsMib: number; imageMib: number; images: number; members: number; parityCount: 1 | 2; fileMib: number; fileCount: number; maxDataWidth?: number }): Promise<FullDisk> {
  const mount = dir.file('small-fs');
  mkdirSync(mount);
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${options.fsMib}m`, 'tmpfs', mount]);
  mounts.push(mount);
  const images = Array.from({ length: options.images }, (_, i) => `${mount}/d${i}.img`);
  const home = dir.file('home');
  for (const image of images) execFileSync('truncate', ['-s', `${options.imageMib}M`, image]);
  array = await DiskArray.create({
    ...TEST_RUNTIME,
    home,
    devices: images.slice(0, options.members),
    parityCount: options.parityCount,
    extentLbMax: 64,
    ...(options.maxDataWidth ? { maxDataWidth: options.maxDataWidth } : {}),
  });
  const files = new Map<string, Buffer>();
  for (let i = 0; i < options.fileCount; i++) {
    const content = patternBytes(options.fileMib * MIB - 1000 * i, 100 + i);
    await array.put(`file${i}`, content);
    files.set(`file${i}`, content);
  }
  return { mount, images, files, home };
}

/**
 * Gives every device's metadata region (superblock, journal ring, checkpoints: everything before
 * its data area) real pages, keeping their bytes (fallocate mode 0), so that only data writes
 * meet the full filesystem. The journal's own ENOSPC is another test's subject.
 */
function allocateMetadataRegions(target: DiskArray): void {
  for (const device of target.status().devices) {
    const dataStartLb = dataArea(target, device.deviceId).startLb;
    execFileSync('fallocate', ['-o', '0', '-l', String(dataStartLb * LB_BYTES), device.path]);
  }
}

function dataArea(target: DiskArray, deviceId: number): { startLb: number; endLb: number } {
  const device = target.status().devices.find((entry) => entry.deviceId === deviceId)!;
  const sizeBytes = Number(execFileSync('stat', ['-c', '%s', device.path], { encoding: 'utf8' }).trim());
  const endLb = sizeBytes / LB_BYTES - 1;
  return { startLb: endLb - device.capacityBytes / LB_BYTES, endLb };
}

/** Fills the filesystem to its last page with a filler file; returns a function that frees it. */
function fillUp(mount: string): () => void {
  const filler = `${mount}/filler`;
  const { bavail, bsize } = statfsSync(mount);
  execFileSync('fallocate', ['-l', String(Number(bavail) * Number(bsize)), filler]);
  expect(Number(statfsSync(mount).bavail)).toBe(0);
  return () => rmSync(filler);
}

/** Every device's used bytes against a recount from the extents (what the allocator must agree with). */
function spaceLeaks(target: DiskArray): string[] {
  const recount = new Map<number, number>();
  for (const file of target.list()) {
    for (const group of target.stat(file.name).groups) {
      for (const extent of group.extents) recount.set(extent.deviceId, (recount.get(extent.deviceId) ?? 0) + extent.lengthLb * LB_BYTES);
    }
  }
  return target
    .status()
    .devices.filter((device) => device.usedBytes !== (recount.get(device.deviceId) ?? 0))
    .map((device) => `device ${device.deviceId}: ${device.usedBytes} bytes used, the extents hold ${recount.get(device.deviceId) ?? 0}`);
}

/**
 * Nothing lost, nothing leaked, fsck clean; then the same after a reopen. With `degraded`, fsck
 * may say what a failed device not yet rebuilt away means (and nothing else).
 */
async function expectIntact(disk: FullDisk, degraded = false): Promise<void> {
  for (let pass = 0; pass < 2; pass++) {
    for (const [name, content] of disk.files) expect((await array!.get(name)).equals(content), name).toBe(true);
    expect(array!.list().map((file) => file.name).sort()).toEqual([...disk.files.keys()].sort());
    expect(spaceLeaks(array!)).toEqual([]);
    const problems = (await array!.fsck({ deep: true })).problems;
    expect(degraded ? problems.filter((problem) => !/ is failed: |blocks [\d, ]+ are on missing or failed devices$/.test(problem)) : problems).toEqual([]);
    array!.assertInvariants();
    if (pass === 0) {
      await array!.close();
      array = await DiskArray.open(disk.home, TEST_RUNTIME);
    }
  }
}

/**
 * Runs a job on the full filesystem: it must end in NO_SPACE (typed, naming the full
 * filesystem) or with problems recorded 'incomplete' — never 'done' having done nothing, never
 * an untyped error, never a device marked failed for a full filesystem.
 */
async function jobOnFullDisk(kind: string, run: () => Promise<{ problems: string[] }>): Promise<'NO_SPACE' | 'incomplete'> {
  const down = () => array!.status().devices.filter((device) => device.state === 'failed' || device.state === 'missing').map((device) => device.deviceId);
  const downBefore = down();
  let outcome: 'NO_SPACE' | 'incomplete';
  try {
    const report = await run();
    expect(report.problems.length, `${kind} on a full disk reported no problem: ${JSON.stringify(report)}`).toBeGreaterThan(0);
    expect(array!.status().jobs[0], JSON.stringify(report)).toMatchObject({ kind, state: 'incomplete' });
    outcome = 'incomplete';
  } catch (error) {
    if (!(error instanceof ElastripeError)) throw error;
    expect(error, String(error)).toMatchObject({ code: 'NO_SPACE' });
    expect((error as Error).message).toMatch(/filesystem holding .* is full/);
    // Recorded as not done: 'failed', or 'incomplete' where the job keeps its state to resume (a remove stays draining).
    const job = array!.status().jobs[0]!;
    expect(job.kind.split(' ')[0]).toBe(kind);
    expect(['failed', 'incomplete']).toContain(job.state);
    outcome = 'NO_SPACE';
  }
  // A full host filesystem is not a broken disk: no device failed or went missing over it.
  expect(down()).toEqual(downBefore);
  return outcome;
}

root.describe('a full disk during each job', () => {
  root.it('rebuild: a typed NO_SPACE or an incomplete rebuild, nothing lost; after freeing space it finishes', async () => {
    const disk = await arrayOnSmallFs({ fsMib: 64, imageMib: 24, images: 4, members: 4, parityCount: 1, fileMib: 3, fileCount: 5 });
    allocateMetadataRegions(array!);
    await array!.failDevice(2);
    const free = fillUp(disk.mount);
    await jobOnFullDisk('rebuild', () => array!.rebuild());
    await expectIntact(disk, true);
    free();
    const report = await array!.rebuild();
    expect(report.problems).toEqual([]);
    expect(report.removedDeviceIds).toEqual([2]);
    await expectIntact(disk);
  });

  root.it('remove: the device stays (draining or online), nothing lost; after freeing space it goes', async () => {
    const disk = await arrayOnSmallFs({ fsMib: 64, imageMib: 24, images: 4, members: 4, parityCount: 1, fileMib: 3, fileCount: 5, maxDataWidth: 2 });
    allocateMetadataRegions(array!);
    const free = fillUp(disk.mount);
    await jobOnFullDisk('remove', () => array!.removeDevice(1));
    expect(array!.status().devices.some((device) => device.deviceId === 1)).toBe(true);
    await expectIntact(disk);
    free();
    await array!.removeDevice(1);
    expect(array!.status().devices.map((device) => device.deviceId)).toEqual([2, 3, 4]);
    await expectIntact(disk);
  });

  root.it('rebalance onto a new device: nothing lost, no space leaked; after freeing space it finishes', async () => {
    const disk = await arrayOnSmallFs({ fsMib: 64, imageMib: 24, images: 4, members: 3, parityCount: 1, fileMib: 3, fileCount: 5, maxDataWidth: 2 });
    await array!.addDevice(disk.images[3]!, { expand: false }); // the parts: rebalance / restripe below
    allocateMetadataRegions(array!);
    const free = fillUp(disk.mount);
    await jobOnFullDisk('rebalance', () => array!.rebalance());
    await expectIntact(disk);
    free();
    expect((await array!.rebalance()).problems).toEqual([]);
    expect(array!.status().devices.find((device) => device.deviceId === 4)!.usedBytes).toBeGreaterThan(0);
    await expectIntact(disk);
  });

  root.it('restripe to a wider width: nothing lost, no space leaked; after freeing space it finishes', async () => {
    const disk = await arrayOnSmallFs({ fsMib: 64, imageMib: 24, images: 5, members: 3, parityCount: 1, fileMib: 3, fileCount: 5 });
    await array!.addDevice(disk.images[3]!, { expand: false }); // the parts: rebalance / restripe below
    await array!.addDevice(disk.images[4]!, { expand: false });
    allocateMetadataRegions(array!);
    const free = fillUp(disk.mount);
    await jobOnFullDisk('restripe', () => array!.restripe());
    await expectIntact(disk);
    free();
    expect((await array!.restripe()).problems).toEqual([]);
    await expectIntact(disk);
  });

  root.it('expand (combine + rebalance) onto new devices: nothing lost, no space leaked; after freeing space it finishes', async () => {
    const disk = await arrayOnSmallFs({ fsMib: 64, imageMib: 24, images: 5, members: 3, parityCount: 1, fileMib: 3, fileCount: 5 });
    await array!.addDevice(disk.images[3]!, { expand: false });
    await array!.addDevice(disk.images[4]!, { expand: false });
    allocateMetadataRegions(array!);
    const free = fillUp(disk.mount);
    await jobOnFullDisk('expand', () => array!.expand());
    await expectIntact(disk);
    free();
    expect((await array!.expand()).problems).toEqual([]);
    await expectIntact(disk);
  });

  root.it('scrub repairing a block whose pages the filesystem dropped: incomplete or NO_SPACE, then repaired', async () => {
    const disk = await arrayOnSmallFs({ fsMib: 64, imageMib: 24, images: 4, members: 4, parityCount: 1, fileMib: 3, fileCount: 5 });
    allocateMetadataRegions(array!);
    // Damage: punch a hole over one data extent (it reads back as zeros), so its repair needs new pages.
    const extent = array!.stat('file0').groups[0]!.extents[0]!;
    const path = array!.status().devices.find((device) => device.deviceId === extent.deviceId)!.path;
    execFileSync('fallocate', ['-p', '-o', String(extent.startLb * LB_BYTES), '-l', String(extent.lengthLb * LB_BYTES), path]);
    const free = fillUp(disk.mount);
    await jobOnFullDisk('scrub', () => array!.scrub());
    // Nothing lost: the damaged block reads through parity, and nothing else changed.
    for (const [name, content] of disk.files) expect((await array!.get(name)).equals(content), name).toBe(true);
    expect(spaceLeaks(array!)).toEqual([]);
    free();
    const report = await array!.scrub();
    expect(report.repairedBlocks).toBeGreaterThan(0);
    expect((await array!.scrub()).problems).toEqual([]);
    await expectIntact(disk);
  });
});
