// Benchmarks stop with one clear sentence when a prerequisite is missing (bench/common/
// prerequisites.ts): run real benches (the built dist/, as `npm run bench:*` does) with a PATH
// that holds every tool of this machine except fio, and check the sentence and the exit code.
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  commandMissing,
  missingPrerequisites,
  missingSentence,
  PREREQUISITE_MISSING_EXIT,
  spawnMissingReason,
} from '../../bench/common/prerequisites.js';

const root = resolve(import.meta.dirname, '../..');

/** A directory of links to every command on PATH except `left out`: that PATH lacks only them. */
function pathWithout(leftOut: readonly string[]): { path: string; remove: () => void } {
  const directory = mkdtempSync(join(tmpdir(), 'elastripe-path-'));
  for (const entry of (process.env.PATH ?? '').split(delimiter).concat(['/usr/sbin', '/sbin'])) {
    if (!entry || !existsSync(entry)) continue;
    for (const name of readdirSync(entry)) {
      if (leftOut.includes(name) || existsSync(join(directory, name))) continue;
      try {
        if (statSync(join(entry, name)).isFile()) symlinkSync(join(entry, name), join(directory, name));
      } catch {
        // A dangling link or an unreadable entry: not a command this test needs.
      }
    }
  }
  return { path: directory, remove: () => rmSync(directory, { recursive: true, force: true }) };
}

function runBench(script: string, env: NodeJS.ProcessEnv) {
  const built = join(root, 'dist', 'bench', script);
  if (!existsSync(built)) throw new Error(`${built} is missing: run npm run build first (npm test does)`);
  return spawnSync(process.execPath, [built], { cwd: root, env, encoding: 'utf8', timeout: 60_000 });
}

describe('benchmark prerequisites', () => {
  let noFio: { path: string; remove: () => void };
  beforeAll(() => {
    noFio = pathWithout(['fio']);
  });
  afterAll(() => noFio?.remove());

  for (const [script, bench, env] of [
    ['io/io_bench.js', 'io', { ELASTRIPE_IO_SKIP_NBD: '1' }],
    ['array/array_bench.js', 'array', {}],
  ] as const) {
    it(`the ${bench} bench without fio stops with one sentence naming it, exit ${PREREQUISITE_MISSING_EXIT}, no stack trace`, () => {
      const result = runBench(script, { ...process.env, ...env, PATH: noFio.path });
      const stderr = result.stderr.trim();
      expect(result.status, `stdout: ${result.stdout}\nstderr: ${stderr}`).toBe(PREREQUISITE_MISSING_EXIT);
      expect(stderr.split('\n')).toHaveLength(1);
      expect(stderr).toMatch(new RegExp(`^The ${bench} benchmark cannot run: .*fio is not installed \\(install the Debian package fio\\)\\.$`));
      expect(stderr).not.toMatch(/\bat .*:\d+:\d+|ENOENT|Error:/);
      // It stopped before measuring anything: no table, no results file announced.
      expect(result.stdout).not.toMatch(/wrote|results:/);
    });
  }

  it('names the Debian package of a missing command, and says nothing of one that runs', () => {
    expect(commandMissing('elastripe-no-such-tool', ['--version'], 'elastripe-tools')).toBe(
      'elastripe-no-such-tool is not installed (install the Debian package elastripe-tools)',
    );
    expect(commandMissing(process.execPath, ['--version'], 'nodejs')).toBeUndefined();
    expect(commandMissing(process.execPath, ['-e', 'process.exit(4)'], 'nodejs')).toMatch(/does not run \(Command failed/);
  });

  it('joins every missing prerequisite into one sentence, in order, skipping those present', () => {
    const reasons = missingPrerequisites([
      { name: 'a', missing: () => 'a is gone' },
      { name: 'b', missing: () => undefined },
      { name: 'c', missing: () => { throw new Error('probe failed\nsecond line'); } },
    ]);
    expect(reasons).toEqual(['a is gone', 'c cannot be checked (probe failed)']);
    expect(missingSentence('x', reasons)).toBe('The x benchmark cannot run: a is gone; c cannot be checked (probe failed).');
  });

  it('recognises a tool missing at spawn time (the raw spawn ENOENT of before) as a reason', async () => {
    const error = await promisify(execFile)('elastripe-no-such-tool', ['--x']).then(() => undefined, (caught: unknown) => caught);
    expect(spawnMissingReason(error)).toBe('elastripe-no-such-tool is not installed (it was not found on PATH)');
    expect(spawnMissingReason(new Error('other'))).toBeUndefined();
  });
});
