// `elastripe create` against what can go wrong with devices: the same device twice, a device too
// small, a device of another array (refused, then accepted with --force), and the demo.
import { mkdir, mkdtemp, readdir, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt, parseJson, runCli } from './run_cli.js';

let rootDir = '';

beforeAll(async () => {
  assertBuilt();
  rootDir = await mkdtemp(join(tmpdir(), 'elastripe-cli-create-'));
});

afterAll(async () => {
  if (rootDir) await rm(rootDir, { recursive: true, force: true });
});

const image = (name: string) => join(rootDir, `${name}.img`);

describe('elastripe create', () => {
  it('creates missing image files of --size, with relative paths made absolute', async () => {
    const created = await runCli(['create', 'r1.img', 'r2.img', 'r3.img', '--home', 'relhome', '--size', '40M', '--json'], { cwd: rootDir });
    expect(created.exitCode).toBe(0);
    expect((await stat(join(rootDir, 'r1.img'))).size).toBe(40 * 2 ** 20);
    const status = parseJson(created) as { devices: Array<{ path: string }> };
    expect(status.devices.map((device) => device.path)).toEqual(['r1', 'r2', 'r3'].map(image));
    // The array opens from another working directory.
    const list = await runCli(['ls', '--home', join(rootDir, 'relhome')]);
    expect(list.exitCode).toBe(0);
    expect(list.stdout.toString()).toBe('(no files)\n');
  });

  it('refuses the same device twice', async () => {
    const result = await runCli(['create', image('s1'), image('s2'), image('s1'), '--home', join(rootDir, 'same'), '--size', '40M']);
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(/^elastripe: INVALID_ARGUMENT: .*same device/);
    await expect(stat(join(rootDir, 'same'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('refuses a device that is too small', async () => {
    await writeFile(image('tiny'), '');
    await truncate(image('tiny'), 64 * 1024);
    const result = await runCli(['create', image('t1'), image('tiny'), '--home', join(rootDir, 'tiny-home'), '--size', '40M']);
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(/^elastripe: DEVICE_TOO_SMALL: /);
  });

  it('refuses a device of another array unless forced', async () => {
    const devices = [image('f1'), image('f2')];
    expect((await runCli(['create', ...devices, '--home', join(rootDir, 'first'), '--size', '40M'])).exitCode).toBe(0);
    const refused = await runCli(['create', ...devices, '--home', join(rootDir, 'second')]);
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).toMatch(/^elastripe: FOREIGN_DEVICE: .*another array/);
    const forced = await runCli(['create', ...devices, '--home', join(rootDir, 'second'), '--force']);
    expect(forced.stderr).toBe('');
    expect(forced.exitCode).toBe(0);
    expect(forced.stdout.toString()).toMatch(/^created array with 2 devices\n/);
    expect((await runCli(['status', '--home', join(rootDir, 'second')])).exitCode).toBe(0);
  });
});

describe('elastripe demo', () => {
  it('runs its steps, verifies every file and cleans up', async () => {
    // A private TMPDIR shows exactly what the demo leaves behind.
    const privateTmp = join(rootDir, 'tmp');
    await mkdir(privateTmp);
    const result = await runCli(['demo', '--size-mib', '6', '--workers', '1'], { env: { TMPDIR: privateTmp } });
    expect(result.stderr).not.toMatch(/elastripe: /);
    expect(result.exitCode).toBe(0);
    const text = result.stdout.toString();
    expect(text).toMatch(/== 1\. create an array/);
    expect(text).toMatch(/all \d+ files match/);
    expect(text).toMatch(/deep fsck: ok/);
    // 6 MiB, then a quarter more after the added device; all of it read back degraded too.
    expect(text).toMatch(/device 5 added/);
    expect(text).toMatch(/DEGRADED/);
    // Healed by the library's policy: no rebuild command in the demo.
    expect(text).toMatch(/rebuilt [\d.]+ [KM]iB by itself, no rebuild command/);
    expect(text).toMatch(/jobStarted rebuild #\d+ \(by policy\)/);
    expect(text).toMatch(/devices\s+4 \(4 online\), healthy/);
    expect(text).toMatch(/^space\s+7\.50 MiB stored in /m);
    expect(result.stderr).toMatch(/^write\s+100% \[#{20}\]  6\.00 MiB \/ 6\.00 MiB/m);
    expect(text).toContain(privateTmp);
    expect(await readdir(privateTmp)).toEqual([]);
  });

  it('prints one JSON summary with --json', async () => {
    const result = await runCli(['demo', '--size-mib', '2', '--json']);
    expect(result.exitCode).toBe(0);
    expect(result.stderr).toBe('');
    expect(parseJson(result)).toMatchObject({
      storedBytes: 2.5 * 2 ** 20,
      fsckOk: true,
      phases: { write: { bytes: 2 * 2 ** 20 }, read: { bytes: 2 * 2 ** 20 }, 'write+': { bytes: 0.5 * 2 ** 20 }, degraded: { bytes: 2.5 * 2 ** 20 }, rebuilt: { bytes: 2.5 * 2 ** 20 } },
    });
  });
});
