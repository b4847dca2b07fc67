// Sets of files a test stores and later reads back: name -> exact content.
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
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

/**
 * Every file under `directory` (hidden ones too), relative path -> sha256; with `regularOnly`,
 * only regular files (not FIFOs, sockets or links).
 */
export async function treeDigest(directory: string, options: { regularOnly?: boolean } = {}): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const visit = async (at: string): Promise<void> => {
    for (const entry of await readdir(at, { withFileTypes: true })) {
      const path = join(at, entry.name);
      if (entry.isDirectory()) await visit(path);
      else if (!options.regularOnly || entry.isFile()) out[relative(directory, path)] = createHash('sha256').update(await readFile(path)).digest('hex');
    }
  };
  await visit(directory);
  return out;
}
