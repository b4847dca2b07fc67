// Sets of files a test stores and later reads back: name -> exact content.
import { expect } from 'vitest';
import type { DiskArray } from '../../src/array/disk_array.js';
import { patternBytes } from './temp_array.js';

/** Puts `count` files named `${prefix}${seed}-${i}`, of sizeBytes + i * 4099 bytes (so tails vary). */
export async function putFiles(target: DiskArray, count: number, sizeBytes: number, seed: number, prefix = 'file-'): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  for (let i = 0; i < count; i++) {
    const name = `${prefix}${seed}-${i}`;
    const content = patternBytes(sizeBytes + i * 4099, seed + i);
    await target.put(name, content);
    files.set(name, content);
  }
  return files;
}

/** Every file reads back byte for byte. */
export async function expectFiles(target: DiskArray, files: ReadonlyMap<string, Buffer>): Promise<void> {
  for (const [name, content] of files) expect((await target.get(name)).equals(content), name).toBe(true);
}
