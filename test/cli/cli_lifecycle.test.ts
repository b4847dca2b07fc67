// Process lifecycle from the command line (issue 12, section D): homes the file system refuses
// fail fast, and arrays open read-only.
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt, runCli, startCli } from './run_cli.js';

let rootDir = '';

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
