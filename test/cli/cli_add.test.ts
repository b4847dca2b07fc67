// `elastripe add DEVICE...`: growing an array from the command line.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt, parseJson, runCli } from './run_cli.js';

let rootDir = '';

beforeAll(async () => {
  assertBuilt();
  rootDir = await mkdtemp(join(tmpdir(), 'elastripe-cli-add-'));
});

afterAll(async () => {
  if (rootDir) await rm(rootDir, { recursive: true, force: true });
});

const image = (name: string) => join(rootDir, `${name}.img`);

describe('elastripe add', () => {
  it('adds devices online: new files get wider groups that use them', async () => {
    const home = join(rootDir, 'grow');
    expect((await runCli(['create', image('a'), image('b'), image('c'), '--home', home, '--size', '40M', '--workers', '0'])).exitCode).toBe(0);
    const added = await runCli(['add', image('d'), image('e'), '--home', home, '--size', '80M', '--json', '--workers', '0']);
    expect(added.exitCode).toBe(0);
    const status = parseJson(added) as { devices: Array<{ deviceId: number; path: string; state: string }> };
    expect(status.devices.map((device) => [device.deviceId, device.path, device.state])).toEqual([
      [1, image('a'), 'online'], [2, image('b'), 'online'], [3, image('c'), 'online'], [4, image('d'), 'online'], [5, image('e'), 'online'],
    ]);
    const input = join(rootDir, 'input.bin');
    await writeFile(input, Buffer.alloc(3 * 1024 * 1024, 7));
    expect((await runCli(['put', 'wide', input, '--home', home, '--workers', '0'])).exitCode).toBe(0);
    const stat = parseJson(await runCli(['stat', 'wide', '--home', home, '--json'])) as { groups: Array<{ dataCount: number }> };
    expect(stat.groups[0]!.dataCount).toBe(4);
  });

  it('refuses a device the array has, with nothing added', async () => {
    const home = join(rootDir, 'twice');
    expect((await runCli(['create', image('t1'), image('t2'), '--home', home, '--size', '40M', '--workers', '0'])).exitCode).toBe(0);
    const again = await runCli(['add', image('t2'), '--home', home]);
    expect(again.exitCode).toBe(1);
    expect(again.stderr).toMatch(/^elastripe: INVALID_ARGUMENT: .*same device/);
    const status = parseJson(await runCli(['status', '--home', home, '--json', '--workers', '0'])) as { devices: unknown[] };
    expect(status.devices).toHaveLength(2);
    expect((await runCli(['add', '--home', home])).exitCode).toBe(2);
  });
});

describe('elastripe restripe', () => {
  it('rewrites a file stored narrow before the array grew', async () => {
    const home = join(rootDir, 'restripe');
    const cli = (...args: string[]) => runCli([...args, '--home', home, '--workers', '0']);
    expect((await cli('create', image('r1'), image('r2'), image('r3'), '--size', '40M')).exitCode).toBe(0);
    const input = join(rootDir, 'narrow.bin');
    await writeFile(input, Buffer.alloc(4 * 1024 * 1024, 9));
    expect((await cli('put', 'narrow', input)).exitCode).toBe(0);
    expect((await cli('add', image('r4'), image('r5'), '--size', '40M')).exitCode).toBe(0);
    const restriped = await cli('restripe');
    expect(restriped.exitCode).toBe(0);
    expect(restriped.stdout.toString()).toMatch(/^restripe: rewrote 1 files \(4\.00 MiB\), freeing [\d.]+ [KM]iB of parity/);
    const stat = parseJson(await cli('stat', 'narrow', '--json')) as { groups: Array<{ dataCount: number }> };
    expect(stat.groups.every((group) => group.dataCount === 4)).toBe(true);
    expect((await cli('fsck', '--deep')).exitCode).toBe(0);
  });
});
