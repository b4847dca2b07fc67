// The launcher runs the bundled tool (dist/bundle/elastripe.cjs, issue 10) and the bundle stands
// on its own: in a runnable copy of the package without dist/src/cli, a put large enough to
// start the kernel worker (dist/src/kernels/pool_worker.js, found from the bundle's own URL) and
// a get of it round-trip through the io_uring addon and SQLite; without the bundle the launcher
// says NOT_BUILT.
import { spawn } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uringAvailable } from '../../src/devices/uring_native.js';
import { copyRunnablePackage, type RunnableCopy } from '../helpers/runnable_copy.js';
import { assertBuilt, collectOutput, type CliResult } from './run_cli.js';

let runnable: RunnableCopy;
let scratch: string;

beforeAll(() => {
  assertBuilt();
  runnable = copyRunnablePackage();
  scratch = mkdtempSync(join(tmpdir(), 'elastripe-bundle-test-'));
}, 120_000);

afterAll(() => {
  runnable?.remove();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

function run(args: readonly string[]): Promise<CliResult> {
  const env: Record<string, string | undefined> = { ...process.env, ELASTRIPE_HOME: undefined };
  const child = spawn(process.execPath, [runnable.binPath, ...args], { cwd: scratch, env, stdio: ['ignore', 'pipe', 'pipe'] });
  return collectOutput(child);
}

describe('the bundled command-line tool', () => {
  it('runs without the unbundled CLI modules: create, a put that starts the worker, get', async () => {
    rmSync(join(runnable.root, 'dist', 'src', 'cli'), { recursive: true, force: true });
    expect(existsSync(join(runnable.root, 'dist', 'bundle', 'elastripe.cjs'))).toBe(true);
    const home = join(scratch, 'home');
    const devices = [0, 1, 2].map((i) => join(scratch, `d${i}.img`));
    const created = await run(['create', ...devices, '--size', '64M', '--home', home, '--quiet']);
    expect(created.stderr).toBe('');
    expect(created.exitCode).toBe(0);
    const source = join(scratch, 'source.bin');
    const data = randomFillSync(Buffer.alloc(24 * 1024 * 1024 + 123));
    writeFileSync(source, data);
    const put = await run(['put', 'f', source, '--home', home, '--workers', '1', '--quiet', '--json']);
    expect(put.stderr).toBe('');
    expect(put.exitCode).toBe(0);
    const out = join(scratch, 'out.bin');
    const get = await run(['get', 'f', out, '--home', home, '--quiet']);
    expect(get.stderr).toBe('');
    expect(get.exitCode).toBe(0);
    expect(readFileSync(out).equals(data)).toBe(true);
    const status = await run(['status', '--home', home, '--json']);
    expect(status.exitCode).toBe(0);
    // The io_uring addon was found from the bundle (where this host has it).
    const { devices: opened } = JSON.parse(status.stdout.toString('utf8')) as { devices: { backend: string }[] };
    expect(opened.map((device) => device.backend)).toEqual(devices.map(() => (uringAvailable().available ? 'uring' : 'fs')));
  }, 120_000);

  it('says NOT_BUILT (exit 70) when the bundle is missing', async () => {
    rmSync(join(runnable.root, 'dist', 'bundle'), { recursive: true, force: true });
    const result = await run(['--version']);
    expect(result.exitCode).toBe(70);
    expect(result.stderr).toMatch(/^elastripe: NOT_BUILT: /);
  });
});
