// Loop block devices over files in /dev/shm (RAM) or a disk directory, for integration tests
// and benchmarks. Every device made here is detached and its file deleted by destroyAll(),
// and, should a test forget, by a process 'exit' hook.
import { execFileSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, rmSync, ftruncateSync } from 'node:fs';
import { join } from 'node:path';

export interface LoopDevice {
  /** /dev/loopN */
  readonly path: string;
  readonly backingPath: string;
  readonly sizeBytes: number;
}

export interface LoopCreateOptions {
  /** Directory for the backing file; default /dev/shm. */
  directory?: string;
  /** losetup --direct-io=on (loop bypasses the page cache of the backing file). */
  directIo?: boolean;
  /** losetup --sector-size (512 or 4096). */
  sectorBytes?: number;
}

const LOSETUP = 'losetup';

function losetup(args: string[]): string {
  return execFileSync(LOSETUP, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

/** Whether loop devices can be made here; the reason when not (tests skip with it). */
export function loopDevicesAvailable(): { available: boolean; reason?: string } {
  if (process.platform !== 'linux') return { available: false, reason: 'loop devices need Linux' };
  if (!existsSync('/dev/loop-control')) return { available: false, reason: '/dev/loop-control is missing' };
  const set = new LoopDeviceSet();
  try {
    set.create(1 << 20);
    return { available: true };
  } catch (error) {
    return { available: false, reason: `losetup cannot make a device: ${(error as Error).message.split('\n')[0]}` };
  } finally {
    set.destroyAll();
  }
}

const liveSets = new Set<LoopDeviceSet>();
process.on('exit', () => {
  for (const set of liveSets) set.destroyAll();
});

/** Loop devices owned by one test file or benchmark run. */
export class LoopDeviceSet {
  private readonly devices: LoopDevice[] = [];
  private readonly directories: string[] = [];

  constructor() {
    liveSets.add(this);
  }

  get all(): readonly LoopDevice[] {
    return this.devices;
  }

  create(sizeBytes: number, options: LoopCreateOptions = {}): LoopDevice {
    const directory = mkdtempSync(join(options.directory ?? '/dev/shm', 'elastripe-loop-'));
    this.directories.push(directory);
    const backingPath = join(directory, 'backing.img');
    const fd = openSync(backingPath, 'w');
    try {
      ftruncateSync(fd, sizeBytes);
    } finally {
      closeSync(fd);
    }
    const args = ['--find', '--show'];
    if (options.directIo) args.push('--direct-io=on');
    if (options.sectorBytes) args.push('--sector-size', String(options.sectorBytes));
    const path = losetup([...args, backingPath]);
    const device = { path, backingPath, sizeBytes };
    this.devices.push(device);
    return device;
  }

  /** Detaches one device now (the kernel defers it while the device is open). */
  /**
   * Detaches a device of this set, once: only while it still carries this set's backing file,
   * because after a detach the kernel may hand the same /dev/loopN to another test process.
   */
  detach(device: LoopDevice): void {
    const index = this.devices.indexOf(device);
    if (index >= 0) this.devices.splice(index, 1);
    if (!this.isAttached(device)) return;
    try {
      losetup(['--detach', device.path]);
    } catch {
      // Already gone.
    }
  }

  /** Whether the loop device still has a backing file attached. */
  isAttached(device: LoopDevice): boolean {
    try {
      return losetup(['--noheadings', '--output', 'BACK-FILE', device.path]).includes(device.backingPath);
    } catch {
      return false;
    }
  }

  destroyAll(): void {
    for (const device of [...this.devices]) this.detach(device);
    for (const directory of this.directories.splice(0)) rmSync(directory, { recursive: true, force: true });
    liveSets.delete(this);
  }
}
