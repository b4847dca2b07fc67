// Jobs tell the truth on the command line (issue 12, section C): a job that leaves work undone
// exits 1 with one `elastripe: CODE: sentence` line, a device being removed stays draining
// until the remove finishes or is cancelled, and status says what is true.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt, parseJson, runCli } from './run_cli.js';

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
