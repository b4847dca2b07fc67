// `elastripe add --spare`: a hot spare from the command line (device_lifecycle.ts).
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt, parseJson, runCli } from './run_cli.js';

let rootDir = '';

beforeAll(async () => {
  assertBuilt();
  rootDir = await mkdtemp(join(tmpdir(), 'elastripe-cli-spare-'));
});

afterAll(async () => {
  if (rootDir) await rm(rootDir, { recursive: true, force: true });
});

const image = (name: string) => join(rootDir, `${name}.img`);

describe('elastripe add --spare', () => {
  it('adds a spare: status shows it, new files avoid it, rebuild uses it and it becomes online', async () => {
    const home = join(rootDir, 'spare');
    expect((await runCli(['create', image('a'), image('b'), image('c'), '--home', home, '--size', '40M', '--workers', '0'])).exitCode).toBe(0);
    const added = await runCli(['add', image('s'), '--spare', '--home', home, '--size', '40M', '--workers', '0']);
    expect(added.exitCode).toBe(0);
    expect(added.stdout.toString()).toMatch(/^added 1 spare device/);
    expect(added.stdout.toString()).toMatch(/devices +4 \(3 online, 1 spare\)/);
    const input = join(rootDir, 'input.bin');
    await writeFile(input, Buffer.alloc(2 * 1024 * 1024, 9));
    expect((await runCli(['put', 'f', input, '--home', home, '--workers', '0'])).exitCode).toBe(0);
    const stat = parseJson(await runCli(['stat', 'f', '--home', home, '--json'])) as { groups: Array<{ extents: Array<{ deviceId: number }> }> };
    expect(stat.groups.flatMap((group) => group.extents).some((extent) => extent.deviceId === 4)).toBe(false);
    type Status = { devices: Array<{ deviceId: number; state: string; usedBytes: number }> };
    const before = parseJson(await runCli(['status', '--home', home, '--json', '--workers', '0'])) as Status;
    expect(before.devices.map((device) => device.state)).toEqual(['online', 'online', 'online', 'spare']);
    // A one-shot CLI verb runs no policy: the failed device waits for `rebuild`.
    expect((await runCli(['fail', '2', '--home', home, '--workers', '0'])).exitCode).toBe(0);
    expect((await runCli(['rebuild', '--home', home, '--workers', '0'])).exitCode).toBe(0);
    const after = parseJson(await runCli(['status', '--home', home, '--json', '--workers', '0'])) as Status;
    expect(after.devices.map((device) => `${device.deviceId} ${device.state}`)).toEqual(['1 online', '3 online', '4 online']);
    expect(after.devices[2]!.usedBytes).toBeGreaterThan(0);
    expect((await runCli(['fsck', '--deep', '--home', home, '--workers', '0'])).exitCode).toBe(0);
  });

  it('--spare applies to add only', async () => {
    const wrong = await runCli(['create', image('x'), image('y'), '--spare', '--home', join(rootDir, 'wrong'), '--size', '40M']);
    expect(wrong.exitCode).toBe(2);
    expect(wrong.stderr).toMatch(/--spare does not apply to 'create'/);
  });
});
