// Devices for the array benchmark: RAM-backed loop devices (backing files in /dev/shm), or,
// where losetup cannot make one, the backing files themselves as image files. Everything made
// here (loop devices, backing files, temporary homes) is removed by destroyAll() and, should a
// run die half way, by a process 'exit' hook; SIGINT/SIGTERM exit so that the hook runs.
import { execFileSync } from 'node:child_process';
import { closeSync, existsSync, ftruncateSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { join } from 'node:path';

export type DeviceKind = 'loop' | 'image';

export const RAM_DIRECTORY = '/dev/shm';

const liveSets = new Set<BenchDeviceSet>();
let hooksInstalled = false;

function installExitHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', () => {
    for (const set of liveSets) set.destroyAll();
  });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => process.exit(128 + (signal === 'SIGINT' ? 2 : 15)));
  }
}

function losetup(args: string[]): string {
  return execFileSync('losetup', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

/** Whether loop devices can be made here, and why not (the run then uses image files). */
export function loopDevicesUsable(): { usable: boolean; reason?: string } {
  if (process.platform !== 'linux') return { usable: false, reason: 'loop devices need Linux' };
  if (!existsSync('/dev/loop-control')) return { usable: false, reason: '/dev/loop-control is missing' };
  const probe = new BenchDeviceSet('loop');
  try {
    probe.create(1, 1 << 20);
    return { usable: true };
  } catch (error) {
    return { usable: false, reason: `losetup cannot make a device: ${(error as Error).message.split('\n')[0]}` };
  } finally {
    probe.destroyAll();
  }
}

/** Devices, backing files and temporary homes owned by one benchmark run. */
export class BenchDeviceSet {
  private readonly loopPaths: string[] = [];
  private readonly directories: string[] = [];

  constructor(readonly kind: DeviceKind) {
    installExitHooks();
    liveSets.add(this);
  }

  /** Makes `count` devices of `sizeBytes` each and returns their paths. */
  create(count: number, sizeBytes: number): string[] {
    const paths: string[] = [];
    for (let i = 0; i < count; i++) {
      const directory = this.tempDirectory('elastripe-bench-dev-');
      const backingPath = join(directory, 'backing.img');
      const fd = openSync(backingPath, 'w');
      try {
        ftruncateSync(fd, sizeBytes);
      } finally {
        closeSync(fd);
      }
      if (this.kind === 'image') {
        paths.push(backingPath);
        continue;
      }
      const loopPath = losetup(['--find', '--show', backingPath]);
      this.loopPaths.push(loopPath);
      paths.push(loopPath);
    }
    return paths;
  }

  /** A fresh directory in RAM (array homes live here, so metadata fsyncs cost no disk). */
  tempDirectory(prefix: string): string {
    const directory = mkdtempSync(join(RAM_DIRECTORY, prefix));
    this.directories.push(directory);
    return directory;
  }

  /** Drops the loop devices' page cache, so no read is served from what a write cached. */
  flushBuffers(paths: readonly string[]): void {
    if (this.kind !== 'loop') return;
    for (const path of paths) execFileSync('blockdev', ['--flushbufs', path], { stdio: 'ignore' });
  }

  destroyAll(): void {
    for (const path of this.loopPaths.splice(0)) {
      try {
        losetup(['--detach', path]);
      } catch {
        // Already detached.
      }
    }
    for (const directory of this.directories.splice(0)) rmSync(directory, { recursive: true, force: true });
    liveSets.delete(this);
  }
}
