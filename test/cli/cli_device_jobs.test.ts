// `elastripe fail | rebuild | remove | rebalance | restripe | scrub`: failure, shrinking and balancing from the
// command line, with the data checked after each.
import { mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt, parseJson, runCli } from './run_cli.js';

let rootDir = '';

beforeAll(async () => {
  assertBuilt();
  rootDir = await mkdtemp(join(tmpdir(), 'elastripe-cli-jobs-'));
});

afterAll(async () => {
  if (rootDir) await rm(rootDir, { recursive: true, force: true });
});

type Status = { degraded: boolean; devices: Array<{ deviceId: number; state: string; usedFraction: number }> };
type Report = { movedBlocks: number; problems: string[]; status: Status };

describe('elastripe fail, rebuild, remove, rebalance', () => {
  it('fails a device, rebuilds onto the survivors, removes one, rebalances onto a new one', async () => {
    const home = join(rootDir, 'home');
    const cli = (...args: string[]) => runCli([...args, '--home', home, '--workers', '0']);
    const images = [0, 1, 2, 3, 4].map((i) => join(rootDir, `d${i}.img`));
    expect((await cli('create', ...images, '--size', '48M', '--max-data-width', '2')).exitCode).toBe(0);
    const input = join(rootDir, 'input.bin');
    const content = randomBytes(6 * 1024 * 1024);
    await writeFile(input, content);
    expect((await cli('put', 'data', input)).exitCode).toBe(0);
    const output = join(rootDir, 'output.bin');
    const readBack = async () => {
      await rm(output, { force: true });
      expect((await cli('get', 'data', output)).exitCode).toBe(0);
      expect((await readFile(output)).equals(content)).toBe(true);
    };

    const failed = await cli('fail', '2', '--json');
    expect(failed.exitCode).toBe(0);
    expect((parseJson(failed) as Status).devices[1]!.state).toBe('failed');
    await readBack();

    const rebuilt = parseJson(await cli('rebuild', '--json')) as Report;
    expect(rebuilt.movedBlocks).toBeGreaterThan(0);
    expect(rebuilt.problems).toEqual([]);
    expect(rebuilt.status.degraded).toBe(false);
    expect(rebuilt.status.devices.map((device) => device.deviceId)).toEqual([1, 3, 4, 5]);
    await readBack();

    const removed = parseJson(await cli('remove', '4', '--json')) as Report;
    expect(removed.status.devices.map((device) => device.deviceId)).toEqual([1, 3, 5]);
    await readBack();

    expect((await cli('add', join(rootDir, 'new.img'), '--size', '96M', '--no-expand')).exitCode).toBe(0);
    const balanced = parseJson(await cli('rebalance', '--json')) as Report;
    expect(balanced.movedBlocks).toBeGreaterThan(0);
    const fractions = balanced.status.devices.map((device) => device.usedFraction);
    expect(Math.max(...fractions) - Math.min(...fractions)).toBeLessThan(0.05);
    await readBack();

    // --max-data-width 2 caps groups at 2+1, which the file already has: nothing to rewrite.
    const restriped = await cli('restripe', '--json');
    expect(restriped.exitCode).toBe(0);
    expect(parseJson(restriped)).toMatchObject({ restripedFiles: 0, savedBytes: 0, problems: [] });
    await readBack();
    expect((await cli('fsck', '--deep')).exitCode).toBe(0);

    // Rot one stored block in its image file: scrub finds it (exit 1), rebuilds and rewrites it.
    const stat = parseJson(await cli('stat', 'data', '--json')) as { groups: Array<{ extents: Array<{ deviceId: number; startLb: number }> }> };
    const victim = stat.groups[0]!.extents[0]!;
    const devices = (parseJson(await cli('status', '--json')) as { devices: Array<{ deviceId: number; path: string }> }).devices;
    const handle = await open(devices.find((device) => device.deviceId === victim.deviceId)!.path, 'r+');
    await handle.write(Buffer.from('rot'), 0, 3, victim.startLb * 4096 + 10);
    await handle.close();
    const scrubbed = await cli('scrub', '--json');
    expect(scrubbed.exitCode).toBe(1);
    expect(parseJson(scrubbed)).toMatchObject({ repairedBlocks: 1 });
    const clean = await cli('scrub', '--rate', '1G');
    expect(clean.exitCode).toBe(0);
    expect(clean.stdout.toString()).toMatch(/^scrub: checked \d+ groups \(\d+ blocks\), repaired 0 blocks$/m);
    await readBack();
  });

  it('refuses bad device ids with a usage error and unknown ids and paths with NOT_FOUND', async () => {
    const home = join(rootDir, 'ids');
    const cli = (...args: string[]) => runCli([...args, '--home', home, '--workers', '0']);
    expect((await cli('create', join(rootDir, 'i1.img'), join(rootDir, 'i2.img'), '--size', '40M')).exitCode).toBe(0);
    for (const verb of ['fail', 'remove']) {
      expect((await cli(verb, '0')).exitCode).toBe(2);
      expect((await cli(verb)).exitCode).toBe(2);
      const notMember = await cli(verb, 'x');
      expect(notMember.exitCode).toBe(1);
      expect(notMember.stderr).toMatch(/^elastripe: NOT_FOUND: no device of this array is at x/);
      const unknown = await cli(verb, '7');
      expect(unknown.exitCode).toBe(1);
      expect(unknown.stderr).toMatch(/^elastripe: NOT_FOUND: /);
    }
    expect((await cli('rebuild', 'extra')).exitCode).toBe(2);
  });
});
