// The CLI end to end on image files: create, put, get (files, ranges, stdin/stdout), ls, stat,
// status, fsck, rm, and the failures users meet (missing names and files, a locked home).
import { randomBytes } from 'node:crypto';
import { closeSync, openSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt, parseJson, runCli, startCli } from './run_cli.js';

const MIB = 2 ** 20;
let rootDir = '';
let home = '';
const payload = randomBytes(3 * MIB + 12345);

function inHome(args: string[], options: Parameters<typeof runCli>[1] = {}) {
  return runCli(args, { ...options, env: { ELASTRIPE_HOME: home, ...options.env } });
}

beforeAll(async () => {
  assertBuilt();
  rootDir = await mkdtemp(join(tmpdir(), 'elastripe-cli-test-'));
  home = join(rootDir, 'home');
  const devices = ['a', 'b', 'c', 'd'].map((name) => join(rootDir, `${name}.img`));
  const created = await runCli(['create', ...devices, '--home', home, '--size', '48M', '--parity', '1', '--json']);
  expect(created.stderr).toBe('');
  expect(created.exitCode).toBe(0);
  expect(parseJson(created)).toMatchObject({ parityCount: 1, fileCount: 0, devices: expect.any(Array) });
  await writeFile(join(rootDir, 'payload.bin'), payload);
});

afterAll(async () => {
  if (rootDir) await rm(rootDir, { recursive: true, force: true });
});

describe('elastripe on an array of image files', () => {
  it('puts a file, lists it, stats it and reads it back', async () => {
    const put = await inHome(['put', 'payload', join(rootDir, 'payload.bin')]);
    expect(put.exitCode).toBe(0);
    expect(put.stdout.toString()).toMatch(new RegExp(`^stored payload: ${payload.length} bytes \\(3\\.01 MiB\\) in .*, \\d+ groups\n$`));

    const list = await inHome(['ls']);
    expect(list.stdout.toString()).toMatch(/^payload\s+3158073\s+3\.01 MiB\s+\d+$/m);
    const listJson = parseJson(await inHome(['ls', '--json'])) as Array<{ name: string; sizeBytes: number }>;
    expect(listJson.find((file) => file.name === 'payload')?.sizeBytes).toBe(payload.length);

    const stat = parseJson(await inHome(['stat', 'payload', '--json'])) as { groups: Array<{ dataCount: number; parityCount: number; lengthBytes: number; extents: unknown[] }> };
    expect(stat.groups.reduce((sum, group) => sum + group.lengthBytes, 0)).toBe(payload.length);
    for (const group of stat.groups) expect(group.extents).toHaveLength(group.dataCount + group.parityCount);
    const statText = (await inHome(['stat', 'payload'])).stdout.toString();
    expect(statText).toMatch(/^\s+0\s+3\+1\s+\d+\s+\d+\s+\d+:\d+\+\d+ data 0, /m);

    const target = join(rootDir, 'copy.bin');
    const get = await inHome(['get', 'payload', target]);
    expect(get.exitCode).toBe(0);
    expect((await readFile(target)).equals(payload)).toBe(true);
    expect((await readdir(rootDir)).filter((name) => name.includes('partial'))).toEqual([]);
  });

  it('pipes stdin to a file and the file to stdout', async () => {
    const piped = randomBytes(2 * MIB + 7);
    const put = await inHome(['put', 'from-stdin', '-', '--json'], { stdin: piped });
    expect(put.exitCode).toBe(0);
    expect(parseJson(put)).toMatchObject({ name: 'from-stdin', sizeBytes: piped.length });
    const get = await inHome(['get', 'from-stdin', '-']);
    expect(get.exitCode).toBe(0);
    expect(get.stderr).toBe('');
    expect(get.stdout.equals(piped)).toBe(true);
  });

  // procfs reports size 0 for files that hold bytes: such a put must not store an empty file.
  it('stores a file whose size says 0 to its end: a /proc file, named or on stdin; an empty file stays empty', async () => {
    const expected = await readFile('/proc/version');
    expect(expected.length).toBeGreaterThan(0);
    const stored = await inHome(['put', 'proc-version', '/proc/version']);
    expect(stored.exitCode).toBe(0);
    expect(stored.stdout.toString()).toMatch(/, 1 group\n$/); // one group, not "1 groups"
    expect((await inHome(['get', 'proc-version', '-'])).stdout.equals(expected)).toBe(true);
    const fd = openSync('/proc/version', 'r');
    const redirected = await inHome(['put', 'proc-stdin', '-', '--json'], { stdinFd: fd }).finally(() => closeSync(fd));
    expect(redirected.exitCode, redirected.stderr.toString()).toBe(0);
    expect(parseJson(redirected)).toMatchObject({ sizeBytes: expected.length });
    await writeFile(join(rootDir, 'empty.bin'), '');
    expect((await inHome(['put', 'empty', join(rootDir, 'empty.bin'), '--json'])).exitCode).toBe(0);
    expect((parseJson(await inHome(['stat', 'empty', '--json'])) as { sizeBytes: number }).sizeBytes).toBe(0);
  });

  it('reads byte ranges', async () => {
    for (const [offset, length] of [[0, 1], [4095, 2], [MIB - 3, MIB + 5], [payload.length - 10, 10], [12345, 0]] as const) {
      const get = await inHome(['get', 'payload', '-', '--offset', String(offset), '--length', String(length)]);
      expect(get.exitCode).toBe(0);
      expect(get.stdout.equals(payload.subarray(offset, offset + length))).toBe(true);
    }
    const tail = await inHome(['get', 'payload', '-', '--offset', '3M']);
    expect(tail.stdout.equals(payload.subarray(3 * MIB))).toBe(true);
    // --length past the end stops at the end; an --offset past the end is an error.
    const pastEnd = await inHome(['get', 'payload', '-', '--offset', String(payload.length - 1), '--length', '2']);
    expect(pastEnd.exitCode).toBe(0);
    expect(pastEnd.stdout.equals(payload.subarray(payload.length - 1))).toBe(true);
    const outside = await inHome(['get', 'payload', '-', '--offset', String(payload.length + 1), '--length', '2']);
    expect(outside.exitCode).toBe(1);
    expect(outside.stderr).toMatch(/^elastripe: INVALID_ARGUMENT: /);
    expect(outside.stdout.length).toBe(0);
  });

  it('draws the status picture and checks the array', async () => {
    const status = await inHome(['status']);
    expect(status.exitCode).toBe(0);
    const rows = status.stdout.toString().split('\n').filter((line) => /\.img\s/.test(line));
    expect(rows).toHaveLength(4);
    for (const row of rows) expect(row).toMatch(/online\s+\S+ MiB\s+\S+ (MiB|KiB)\s+\d+\.\d%\s+\[[#.]{20}\]$/);
    expect(status.stdout.toString()).toMatch(/^files\s+\d+$/m);
    const json = parseJson(await inHome(['status', '--json'])) as { devices: unknown[]; storedBytes: number };
    expect(json.devices).toHaveLength(4);
    expect(json.storedBytes).toBeGreaterThanOrEqual(payload.length);

    const fsck = await inHome(['fsck', '--deep']);
    expect(fsck.exitCode).toBe(0);
    expect(fsck.stdout.toString()).toMatch(/^deep fsck: ok; checked \d+ groups, \d+ extents/);
    expect(parseJson(await inHome(['fsck', '--json']))).toMatchObject({ ok: true, problems: [] });
  });

  it('fails cleanly on missing names and files', async () => {
    const missing = await inHome(['get', 'no-such-name', '-']);
    expect(missing.exitCode).toBe(1);
    expect(missing.stderr).toMatch(/^elastripe: NOT_FOUND: .+\n$/);
    expect(missing.stdout.length).toBe(0);
    const missingJson = await inHome(['stat', 'no-such-name', '--json']);
    expect(missingJson.exitCode).toBe(1);
    expect(parseJson(missingJson)).toMatchObject({ error: { code: 'NOT_FOUND', exitCode: 1 } });
    const noInput = await inHome(['put', 'x', join(rootDir, 'does-not-exist.bin')]);
    expect(noInput.exitCode).toBe(1);
    expect(noInput.stderr).toMatch(/^elastripe: NOT_FOUND: cannot read .*does-not-exist\.bin: no such file or directory/);
    const withDebug = await inHome(['rm', 'no-such-name', '--debug']);
    expect(withDebug.exitCode).toBe(1);
    expect(withDebug.stderr).toMatch(/^elastripe: NOT_FOUND: [^\n]+\nNotFoundError: [^\n]+\n\s+at /);
  });

  it('removes files', async () => {
    await inHome(['put', 'doomed', '-'], { stdin: Buffer.from('bye') });
    const removed = await inHome(['rm', 'doomed']);
    expect(removed.exitCode).toBe(0);
    expect(removed.stdout.toString()).toBe('deleted doomed\n');
    expect((await inHome(['stat', 'doomed'])).exitCode).toBe(1);
    expect(parseJson(await inHome(['rm', 'payload', '--json']))).toEqual({ deleted: 'payload' });
  });

  it('stops a put on Ctrl-C and stores nothing', async () => {
    const putter = startCli(['put', 'interrupted', '-'], { env: { ELASTRIPE_HOME: home } });
    try {
      expect(await feedUntilProgress(putter), 'the put showed progress').toBe(true);
      putter.child.kill('SIGINT');
      const result = await putter.done;
      expect(result.exitCode).toBe(1);
      expect(result.stderr).toMatch(/\nelastripe: ABORTED: interrupted by the user\n$/);
    } finally {
      putter.child.stdin!.destroy();
      if (putter.child.exitCode === null) putter.child.kill('SIGKILL');
      await putter.done;
    }
    expect((await inHome(['stat', 'interrupted'])).exitCode).toBe(1);
    expect((await inHome(['fsck', '--deep'])).exitCode).toBe(0);
  });

  it('exits quietly when the reader of stdout goes away', async () => {
    await inHome(['put', 'long', '-'], { stdin: randomBytes(8 * MIB) });
    const getter = startCli(['get', 'long', '-'], { env: { ELASTRIPE_HOME: home } });
    getter.child.stdout!.once('data', () => getter.child.stdout!.destroy());
    const result = await getter.done;
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toBe('');
  });

  it('refuses a second process while one holds the array', async () => {
    // A put from stdin keeps the array open until its input ends.
    const holder = startCli(['put', 'held', '-'], { env: { ELASTRIPE_HOME: home } });
    try {
      expect(await feedUntilProgress(holder), 'the holder showed progress').toBe(true);
      const second = await inHome(['ls']);
      expect(second.exitCode).toBe(1);
      expect(second.stderr).toMatch(/^elastripe: ARRAY_LOCKED: /);
    } finally {
      holder.child.stdin!.end();
    }
    const held = await holder.done;
    expect(held.exitCode).toBe(0);
    expect((await inHome(['ls'])).exitCode).toBe(0);
  });
});

/** Feeds a put from stdin until its progress line appears (after a second of work): by then it
 * holds the array and its Ctrl-C handler is in place. False if it never appeared. */
async function feedUntilProgress(putter: ReturnType<typeof startCli>): Promise<boolean> {
  let drawn = false;
  putter.child.stderr!.once('data', () => (drawn = true));
  for (let round = 0; round < 200 && !drawn && putter.child.exitCode === null; round += 1) {
    putter.child.stdin!.write(randomBytes(256 * 1024));
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return drawn;
}
