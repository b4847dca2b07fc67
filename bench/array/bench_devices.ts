// Devices for the array benchmark: RAM-backed loop devices (backing files in /dev/shm), or,
// where losetup cannot make one, the backing files themselves as image files. Everything made
// here (loop devices, backing files, temporary homes) is removed by destroyAll() and, should a
// run die half way, by a process 'exit' hook; SIGINT/SIGTERM exit so that the hook runs.
import { execFileSync } from 'node:child_process';
import { closeSync, ftruncateSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { LoopDeviceSet, loopDevicesAvailable } from '../../test/helpers/loop_devices.js';

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

/** Whether loop devices can be made here, and why not (the run then uses image files). */
export function loopDevicesUsable(): { usable: boolean; reason?: string } {
  const { available, reason } = loopDevicesAvailable();
  return { usable: available, reason };
}

/** Devices, backing files and temporary homes owned by one benchmark run. */
export class BenchDeviceSet {
  private readonly loops = new LoopDeviceSet();
  private readonly directories: string[] = [];

  constructor(readonly kind: DeviceKind) {
    installExitHooks();
    liveSets.add(this);
  }

  /** Makes `count` devices of `sizeBytes` each and returns their paths. */
  create(count: number, sizeBytes: number): string[] {
    return Array.from({ length: count }, () => {
      if (this.kind === 'loop') return this.loops.create(sizeBytes, { directory: RAM_DIRECTORY }).path;
      const backingPath = join(this.tempDirectory('elastripe-bench-dev-'), 'backing.img');
      const fd = openSync(backingPath, 'w');
      try {
        ftruncateSync(fd, sizeBytes);
      } finally {
        closeSync(fd);
      }
      return backingPath;
    });
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
    this.loops.destroyAll();
    for (const directory of this.directories.splice(0)) rmSync(directory, { recursive: true, force: true });
    liveSets.delete(this);
  }
}
