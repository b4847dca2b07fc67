// Pre-touching RAM-backed devices: on this kind of VM a first-touch page fault behind a tmpfs
// image costs more than the I/O being measured, so every benchmark writes its devices through
// once before anything is timed.
import { closeSync, fsyncSync, openSync, writeSync } from 'node:fs';

const CHUNK_BYTES = 16 * 2 ** 20;

/**
 * Writes zeros over the first `sizeBytes` of each path (image files, their loop devices, or a
 * loop device's backing file) and syncs it, so the pages behind it exist when timing starts.
 */
export function preTouch(paths: readonly string[], sizeBytes: number): void {
  const zeros = Buffer.alloc(CHUNK_BYTES);
  for (const path of paths) {
    const fd = openSync(path, 'r+');
    try {
      for (let offset = 0; offset < sizeBytes; offset += zeros.length) writeSync(fd, zeros, 0, Math.min(zeros.length, sizeBytes - offset), offset);
      fsyncSync(fd); // a loop device's dirty pages reach its backing file only when written back
    } finally {
      closeSync(fd);
    }
  }
}
