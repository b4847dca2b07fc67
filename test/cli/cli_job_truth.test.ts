// Jobs tell the truth on the command line (issue 12, section C): a job that leaves work undone
// exits 1 with one `elastripe: CODE: sentence` line, a device being removed stays draining
// until the remove finishes or is cancelled, and status says what is true.
import { randomBytes } from 'node:crypto';
import { mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt, parseJson, runCli, startCli } from './run_cli.js';

let rootDir = '';

beforeAll(async () => {
  assertBuilt();
  rootDir = await mkdtemp(join(tmpdir(), 'elastripe-cli-truth-'));
});

afterAll(async () => {
  if (rootDir) await rm(rootDir, { recursive: true, force: true });
});

type Job = { kind: string; state: string };
type Status = { jobs: Job[]; devices: Array<{ deviceId: number; state: string }> };

function cliFor(home: string) {
  return (...args: string[]) => runCli([...args, '--home', home, '--workers', '0']);
}

describe('a job that leaves work undone', () => {
  it('rebuild exits 1 with an INCOMPLETE line and is recorded incomplete (item 11)', async () => {
    const home = join(rootDir, 'rebuild');
    const cli = cliFor(home);
    const images = [1, 2, 3].map((i) => join(rootDir, `r${i}.img`));
    expect((await cli('create', ...images, '--size', '32M', '--extent-lb-max', '16')).exitCode).toBe(0);
    const input = join(rootDir, 'four.bin');
    await writeFile(input, randomBytes(4 * 1024 * 1024));
    for (let i = 0; i < 9; i++) expect((await cli('put', `f${i}`, input)).exitCode).toBe(0);
    expect((await cli('fail', '3')).exitCode).toBe(0);
    const rebuild = await cli('rebuild');
    expect(rebuild.exitCode).toBe(1);
    expect(rebuild.stdout.toString()).toMatch(/not moved:/);
    expect(rebuild.stderr).toMatch(/^elastripe: INCOMPLETE: rebuild left \d+ groups? not moved/m);
    expect(rebuild.stderr.trim().split('\n').filter((line) => line.startsWith('elastripe: '))).toHaveLength(1);
    const status = parseJson(await cli('status', '--json')) as Status;
    expect(status.jobs[0]).toMatchObject({ kind: 'rebuild', state: 'incomplete' });
    // With --json the report is still the one document on stdout; the line goes to stderr.
    const again = await cli('rebuild', '--json');
    expect(again.exitCode).toBe(1);
    expect((parseJson(again) as { problems: string[] }).problems.length).toBeGreaterThan(0);
    expect(again.stderr).toMatch(/^elastripe: INCOMPLETE: /m);
  });
});

describe('scrub that repaired everything it found', () => {
  it('exits 1 with one REPAIRED line, recorded done', async () => {
    const home = join(rootDir, 'scrub');
    const cli = cliFor(home);
    expect((await cli('create', join(rootDir, 's1.img'), join(rootDir, 's2.img'), join(rootDir, 's3.img'), '--size', '32M')).exitCode).toBe(0);
    const input = join(rootDir, 'one.bin');
    await writeFile(input, randomBytes(1024 * 1024));
    expect((await cli('put', 'x', input)).exitCode).toBe(0);
    const stat = parseJson(await cli('stat', 'x', '--json')) as { groups: Array<{ extents: Array<{ deviceId: number; startLb: number }> }> };
    const victim = stat.groups[0]!.extents[0]!;
    const handle = await open(join(rootDir, `s${victim.deviceId}.img`), 'r+');
    await handle.write(Buffer.from('rot'), 0, 3, victim.startLb * 4096 + 100);
    await handle.close();
    const scrub = await cli('scrub');
    expect(scrub.exitCode).toBe(1);
    expect(scrub.stderr).toMatch(/^elastripe: REPAIRED: scrub found and repaired 1 block /m);
    expect((parseJson(await cli('status', '--json')) as Status).jobs[0]).toMatchObject({ kind: 'scrub', state: 'done' });
  });
});

describe('remove keeps the device draining until it finishes or is cancelled (item 12)', () => {
  it('a killed remove leaves the device draining; puts avoid it; remove --cancel puts it back; remove finishes', async () => {
    const home = join(rootDir, 'remove');
    const cli = cliFor(home);
    const images = [1, 2, 3, 4].map((i) => join(rootDir, `m${i}.img`));
    expect((await cli('create', ...images, '--size', '40M', '--max-data-width', '2', '--extent-lb-max', '16')).exitCode).toBe(0);
    const input = join(rootDir, 'eight.bin');
    await writeFile(input, randomBytes(8 * 1024 * 1024));
    expect((await cli('put', 'data', input)).exitCode).toBe(0);
    // A slow remove, killed part-way: the process dies, the draining state stays.
    const { child, done } = startCli(['remove', '2', '--rate', '1M', '--home', home, '--workers', '0'], { stdin: Buffer.alloc(0) });
    // Killed once its progress shows blocks moving (so the device is draining), not after a fixed
    // time: a loaded machine may take seconds just to start the process.
    await new Promise<void>((resolve) => {
      let seen = '';
      child.stderr!.on('data', (chunk: Buffer) => {
        seen += chunk.toString('utf8');
        if (/\d+%/.test(seen)) resolve();
      });
      child.on('close', () => resolve());
    });
    child.kill('SIGKILL');
    await done;
    let status = parseJson(await cli('status', '--json')) as Status;
    expect(status.devices.find((device) => device.deviceId === 2)!.state).toBe('draining');
    expect(status.jobs[0]).toMatchObject({ kind: 'remove 2', state: 'interrupted' });
    expect((await cli('status')).stdout.toString()).toMatch(/remove 2 interrupted.*run 'elastripe remove 2' again/);
    expect((await cli('put', 'later', input)).exitCode).toBe(0);
    const later = parseJson(await cli('stat', 'later', '--json')) as { groups: Array<{ extents: Array<{ deviceId: number }> }> };
    expect(later.groups.flatMap((group) => group.extents).some((extent) => extent.deviceId === 2)).toBe(false);

    const cancelled = await cli('remove', '2', '--cancel');
    expect(cancelled.exitCode).toBe(0);
    expect(cancelled.stdout.toString()).toMatch(/remove of device 2 cancelled/);
    status = parseJson(await cli('status', '--json')) as Status;
    expect(status.devices.find((device) => device.deviceId === 2)!.state).toBe('online');
    const notDraining = await cli('remove', '2', '--cancel');
    expect(notDraining.exitCode).toBe(1);
    expect(notDraining.stderr).toMatch(/^elastripe: INVALID_ARGUMENT: device 2 is not being removed/m);

    expect((await cli('remove', '2')).exitCode).toBe(0);
    status = parseJson(await cli('status', '--json')) as Status;
    expect(status.devices.map((device) => device.deviceId)).toEqual([1, 3, 4]);
    // The interrupted run is no longer shown once a later remove 2 finished.
    expect((await cli('status')).stdout.toString()).not.toMatch(/interrupted/);
    expect((await cli('fsck', '--deep')).exitCode).toBe(0);
  });
});
