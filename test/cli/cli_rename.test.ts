// `elastripe rename OLD NEW`: renames, refuses to clobber without --replace, and the rename is
// durable on the devices (it survives the home being lost and the array imported).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt, runCli } from './run_cli.js';

let rootDir = '';
beforeAll(async () => {
  assertBuilt();
  rootDir = await mkdtemp(join(tmpdir(), 'elastripe-cli-rename-'));
});
afterAll(async () => {
  if (rootDir) await rm(rootDir, { recursive: true, force: true });
});

describe('elastripe rename', () => {
  it('renames, refuses an existing target without --replace, and survives an import', async () => {
    const home = join(rootDir, 'home');
    const devices = [0, 1, 2].map((i) => join(rootDir, `d${i}.img`));
    expect((await runCli(['create', ...devices, '--home', home, '--size', '40M'])).exitCode).toBe(0);
    expect((await runCli(['put', 'a', '-', '--home', home], { stdin: Buffer.from('first') })).exitCode).toBe(0);
    expect((await runCli(['put', 'b', '-', '--home', home], { stdin: Buffer.from('second') })).exitCode).toBe(0);
    const clash = await runCli(['rename', 'a', 'b', '--home', home]);
    expect(clash.exitCode).toBe(1);
    expect(clash.stderr).toMatch(/^elastripe: INVALID_ARGUMENT: .*exists already/);
    const missing = await runCli(['rename', 'nope', 'c', '--home', home]);
    expect(missing.stderr).toMatch(/^elastripe: NOT_FOUND: /);
    expect((await runCli(['rename', 'a', 'c', '--home', home])).stdout.toString()).toBe('renamed a to c\n');
    expect((await runCli(['rename', 'c', 'b', '--replace', '--home', home])).exitCode).toBe(0);
    await rm(home, { recursive: true });
    expect((await runCli(['import', ...devices, '--home', home])).exitCode).toBe(0);
    expect((await runCli(['ls', '--home', home, '--json'])).stdout.toString()).toMatch(/"name": "b"/);
    expect((await runCli(['get', 'b', '-', '--home', home])).stdout.toString()).toBe('first');
  });
});
