// Process lifecycle from the command line (issue 12, section D): homes the file system refuses
// fail fast, and arrays open read-only.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requirePrerequisite } from '../helpers/prerequisites.js';
import { assertBuilt, parseJson, runCli, startCli } from './run_cli.js';

let rootDir = '';

const mountTmpfs = requirePrerequisite('mounting a tmpfs (root)', () => (process.getuid?.() === 0 ? null : 'needs root'));

beforeAll(async () => {
  assertBuilt();
  rootDir = await mkdtemp(join(tmpdir(), 'elastripe-cli-lifecycle-'));
});

afterAll(async () => {
  if (rootDir) await rm(rootDir, { recursive: true, force: true });
});

describe('create on a home the file system refuses', () => {
  it('create --home /proc/h fails at once with INVALID_ARGUMENT instead of hanging (item 20)', async () => {
    const images = [join(rootDir, 'p1.img'), join(rootDir, 'p2.img')];
    const { child, done } = startCli(['create', '--home', '/proc/h', ...images, '--size', '48M', '--workers', '0'], { stdin: Buffer.alloc(0) });
    const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    const result = await done.finally(() => clearTimeout(killer));
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(/^elastripe: INVALID_ARGUMENT: cannot create the array home \/proc\/h/m);
    for (const image of images) expect(existsSync(image)).toBe(false);
  });
});

describe('--read-only (item 19)', () => {
  it('ls, stat, status, get and fsck open read-only; a read-only open while the owner runs gets a clear ARRAY_LOCKED', async () => {
    const home = join(rootDir, 'ro');
    const cli = (...args: string[]) => runCli([...args, '--home', home, '--workers', '0']);
    expect((await cli('create', join(rootDir, 'ro1.img'), join(rootDir, 'ro2.img'), '--size', '32M')).exitCode).toBe(0);
    const input = join(rootDir, 'ro-input.bin');
    await writeFile(input, 'read me');
    expect((await cli('put', 'f', input)).exitCode).toBe(0);

    expect((await cli('ls', '--read-only')).stdout.toString()).toMatch(/^f\s+7\s/m);
    expect((await cli('stat', 'f', '--read-only')).exitCode).toBe(0);
    const status = await cli('status', '--read-only');
    expect(status.stdout.toString()).toMatch(/^array \S+ at .* \(read-only\)$/m);
    expect(parseJson(await cli('status', '--read-only', '--json'))).toMatchObject({ readOnly: true });
    const output = join(rootDir, 'ro-output.bin');
    expect((await cli('get', 'f', output, '--read-only')).exitCode).toBe(0);
    expect(await readFile(output, 'utf8')).toBe('read me');
    expect((await cli('fsck', '--deep', '--read-only')).exitCode).toBe(0);
    const put = await cli('put', 'g', input, '--read-only');
    expect(put.exitCode).toBe(2);
    expect(put.stderr).toMatch(/--read-only does not apply to 'put'/);

    // An owner that holds the array (a put waiting for its input).
    const owner = startCli(['put', 'slow', '-', '--home', home, '--workers', '0']);
    try {
      // Wait for the owner's lock without racing it for the lock (a polling open could take it
      // first and make the owner fail): the holder file names the owner once it holds the lock.
      await waitFor(async () => (await readFile(join(home, 'holder'), 'utf8').catch(() => '')).includes(`pid ${owner.child.pid}`));
      const locked = await cli('status', '--read-only');
      expect(locked.exitCode).toBe(1);
      expect(locked.stderr).toMatch(/^elastripe: ARRAY_LOCKED: .*not even a read-only open can read it/m);
    } finally {
      owner.child.stdin!.end('done');
      const ended = await owner.done;
      expect(ended.exitCode, ended.stderr).toBe(0);
    }
  });

  mountTmpfs.it('a home on a read-only file system: READ_ONLY for writing, --read-only works', async () => {
    const mountPoint = join(rootDir, 'rofs');
    mkdirSync(mountPoint);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16m', 'tmpfs', mountPoint]);
    try {
      const home = join(mountPoint, 'home');
      const cli = (...args: string[]) => runCli([...args, '--home', home, '--workers', '0']);
      expect((await cli('create', join(rootDir, 'rofs1.img'), join(rootDir, 'rofs2.img'), '--size', '32M')).exitCode).toBe(0);
      execFileSync('mount', ['-o', 'remount,ro', mountPoint]);
      const refused = await cli('ls');
      expect(refused.exitCode).toBe(1);
      expect(refused.stderr).toMatch(/^elastripe: READ_ONLY: the array home .* cannot be written .*--read-only/m);
      expect(refused.stderr).not.toMatch(/CORRUPT_METADATA/);
      const listed = await cli('ls', '--read-only');
      expect(listed.exitCode).toBe(0);
      expect(listed.stdout.toString()).toMatch(/no files/);
    } finally {
      execFileSync('umount', [mountPoint]);
    }
  });
});

async function waitFor(check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
