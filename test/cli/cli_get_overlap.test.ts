// get with several output writes in flight (issue 10): the array lends each group's slice until
// its write completes (DiskArray.lendChunks), so a slice must never be reused while held, and a
// failed write must leave no partial file, with the writes still in flight settled first.
import { execFileSync } from 'node:child_process';
import { randomFillSync, createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DiskArray } from '../../src/array/disk_array.js';
import { requirePrerequisite } from '../helpers/prerequisites.js';
import { assertBuilt, runCli } from './run_cli.js';

const MIB = 1024 * 1024;
/** Several groups of 2 MiB (3 devices, parity 1, 1 MiB extents) and an unaligned tail. */
const DATA_BYTES = 24 * MIB + 12345;

let rootDir = '';
let home = '';
let data: Buffer;

const mountTmpfs = requirePrerequisite('mounting a tmpfs (root)', () => (process.getuid?.() === 0 ? null : 'needs root'));

beforeAll(async () => {
  assertBuilt();
  rootDir = await mkdtemp(join(tmpdir(), 'elastripe-get-overlap-'));
  home = join(rootDir, 'home');
  const images = [1, 2, 3].map((i) => join(rootDir, `d${i}.img`));
  const created = await runCli(['create', ...images, '--size', '48M', '--home', home, '--workers', '0']);
  expect(created.exitCode, created.stderr).toBe(0);
  data = randomFillSync(Buffer.allocUnsafe(DATA_BYTES));
  const input = join(rootDir, 'input.bin');
  await writeFile(input, data);
  const put = await runCli(['put', 'big', input, '--home', home, '--workers', '0']);
  expect(put.exitCode, put.stderr).toBe(0);
}, 60_000);

afterAll(async () => {
  if (rootDir) await rm(rootDir, { recursive: true, force: true });
});

describe('DiskArray.lendChunks', () => {
  it('keeps every held slice intact while later groups are read, until its release', async () => {
    const array = await DiskArray.open(home, {});
    try {
      for (const holdMax of [1, 3, 8]) {
        const held: { offset: number; bytes: Uint8Array; release: () => void }[] = [];
        let seen = 0;
        const check = (chunk: (typeof held)[number]): void => {
          // A slice reused before its release would hold a later group's bytes by now.
          expect(Buffer.from(chunk.bytes).equals(data.subarray(chunk.offset, chunk.offset + chunk.bytes.byteLength)), `chunk at ${chunk.offset}, ${holdMax} held`).toBe(true);
          chunk.release();
          chunk.release(); // idempotent
        };
        for await (const chunk of array.lendChunks('big')) {
          expect(chunk.offset).toBe(seen);
          seen += chunk.bytes.byteLength;
          held.push(chunk);
          if (held.length >= holdMax) check(held.shift()!);
        }
        for (const chunk of held.splice(0)) check(chunk);
        expect(seen).toBe(DATA_BYTES);
      }
      // Leaving early with slices held: they stay valid until released, and nothing leaks.
      const kept: { offset: number; bytes: Uint8Array; release: () => void }[] = [];
      for await (const chunk of array.lendChunks('big', { offset: 5 * MIB + 1 })) {
        kept.push(chunk);
        if (kept.length === 3) break;
      }
      for (const chunk of kept) {
        expect(Buffer.from(chunk.bytes).equals(data.subarray(5 * MIB + 1 + chunk.offset, 5 * MIB + 1 + chunk.offset + chunk.bytes.byteLength))).toBe(true);
        chunk.release();
      }
    } finally {
      await array.close();
    }
  });
});

describe('get NAME FILE with writes in flight', () => {
  it('writes every byte in order to a regular file, whole and ranged', async () => {
    const output = join(rootDir, 'out.bin');
    const whole = await runCli(['get', 'big', output, '--home', home, '--workers', '0']);
    expect(whole.exitCode, whole.stderr).toBe(0);
    const written = await readFile(output);
    expect(written.byteLength).toBe(DATA_BYTES);
    expect(digest(written)).toBe(digest(data));
    const ranged = await runCli(['get', 'big', output, '--offset', String(3 * MIB + 7), '--length', String(17 * MIB), '--home', home, '--workers', '0']);
    expect(ranged.exitCode, ranged.stderr).toBe(0);
    expect(digest(await readFile(output))).toBe(digest(data.subarray(3 * MIB + 7, 20 * MIB + 7)));
  });

  mountTmpfs.it('a file system that fills up mid-get: OUTPUT_ERROR, no partial file, the old file kept', async () => {
    const mountPoint = join(rootDir, 'small');
    mkdirSync(mountPoint);
    // Room for some groups, not all: writes fail with ENOSPC while others are in flight.
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=10m', 'tmpfs', mountPoint]);
    try {
      const output = join(mountPoint, 'out.bin');
      await writeFile(output, 'old contents');
      const result = await runCli(['get', 'big', output, '--home', home, '--workers', '0']);
      expect(result.exitCode).toBe(1);
      expect(result.stderr).toMatch(/^elastripe: OUTPUT_ERROR: cannot write .*out\.bin.*(no space|ENOSPC)/m);
      expect(await readdir(mountPoint)).toEqual(['out.bin']);
      expect(await readFile(output, 'utf8')).toBe('old contents');
    } finally {
      execFileSync('umount', [mountPoint]);
    }
  });
});

function digest(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}
