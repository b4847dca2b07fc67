// Temporary arrays on image files for tests: a home directory and device images under one
// temp directory, removed afterwards.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach } from 'vitest';
import { DiskArray } from '../../src/array/disk_array.js';
import type { CreateOptions } from '../../src/array/types.js';

export const MIB = 1024 * 1024;

export interface TempArrayOptions extends Partial<CreateOptions> {
  deviceCount?: number;
  deviceBytes?: number | number[];
}

export class TempDir {
  readonly path = mkdtempSync(join(tmpdir(), 'elastripe-test-'));
  file(name: string): string {
    return join(this.path, name);
  }
  remove(): void {
    rmSync(this.path, { recursive: true, force: true });
  }
}

/** Small runtime for tests: a 64 MiB arena and one worker keep two test files in parallel cheap. */
export const TEST_RUNTIME = { arenaBytes: 64 * MIB, workerCount: 1 } as const;

export async function createTempArray(dir: TempDir, options: TempArrayOptions = {}): Promise<{ array: DiskArray; devices: string[]; home: string }> {
  const deviceCount = options.deviceCount ?? 4;
  const sizes = Array.isArray(options.deviceBytes)
    ? options.deviceBytes
    : Array.from({ length: deviceCount }, () => (options.deviceBytes as number | undefined) ?? 64 * MIB);
  const devices = sizes.map((_, i) => dir.file(`dev${i}.img`));
  const home = dir.file('home');
  const { mkdirSync } = await import('node:fs');
  mkdirSync(home, { recursive: true });
  const { createImageFile } = await import('../../src/devices/open_device.js');
  for (const [i, path] of devices.entries()) await createImageFile(path, sizes[i]!);
  const array = await DiskArray.create({ ...TEST_RUNTIME, home, devices, ...options });
  return { array, devices, home };
}

/** Deterministic pseudo-random bytes (xorshift32), so failures reproduce from the seed. */
export function patternBytes(length: number, seed: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  let state = seed >>> 0 || 0x9e3779b9;
  for (let i = 0; i < length; i++) {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    out[i] = state & 0xff;
  }
  return out;
}

export interface ArraySuite {
  /** A fresh temporary directory for each test. */
  dir: TempDir;
  /** The array the test opened, if any: closed after the test. */
  array: DiskArray | undefined;
}

/**
 * Registers the per-test hooks every array test file needs: a fresh TempDir before each test,
 * and afterwards the test's array closed and the directory removed (also when the test failed).
 */
export function useArraySuite(): ArraySuite {
  const suite = { array: undefined } as ArraySuite;
  beforeEach(() => {
    suite.dir = new TempDir();
  });
  afterEach(async () => {
    await suite.array?.close();
    suite.array = undefined;
    suite.dir.remove();
  });
  return suite;
}
