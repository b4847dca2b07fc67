// A create killed with SIGKILL at any moment leaves no array or a whole one (issue 12 item 16):
// never a home that "already exists" yet lacks its settings, nor devices that a second create
// of the same home refuses as another array's.
import { rm, mkdtemp, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt, runCli, startCli } from './run_cli.js';

const TRIALS = Number(process.env.ELASTRIPE_CREATE_KILL_TRIALS ?? 8);
const SEED = Number(process.env.ELASTRIPE_CREATE_KILL_SEED ?? Date.now() % 100_000);
let rootDir = '';

beforeAll(async () => {
  assertBuilt();
  rootDir = await mkdtemp(join(tmpdir(), 'elastripe-create-kill-'));
});
afterAll(async () => {
  if (rootDir) await rm(rootDir, { recursive: true, force: true });
});

describe('create under SIGKILL', () => {
  it(`leaves no array or a whole one, and a second create of the same home succeeds (${TRIALS} kills, seed ${SEED})`, async () => {
    let random = SEED || 1;
    const next = () => (random = (Math.imul(random, 1103515245) + 12345) >>> 0) / 2 ** 32;
    let completed = 0;
    for (let trial = 0; trial < TRIALS; trial++) {
      const home = join(rootDir, `home${trial}`);
      const devices = [0, 1, 2].map((i) => join(rootDir, `t${trial}-d${i}.img`));
      const { child, done } = startCli(['create', ...devices, '--home', home, '--size', '40M']);
      await new Promise((resolve) => setTimeout(resolve, 100 + Math.floor(next() * 1400)));
      child.kill('SIGKILL');
      const killed = await done;
      const hasArray = await stat(join(home, 'elastripe.db')).then(() => true, () => false);
      if (hasArray) {
        completed++;
        const list = await runCli(['ls', '--home', home]);
        expect(list.exitCode, `trial ${trial} (exit ${killed.exitCode}): ${list.stderr}`).toBe(0);
        continue;
      }
      // No array: the same create again, without --force, takes the devices back.
      const again = await runCli(['create', ...devices, '--home', home, '--size', '40M']);
      expect(again.exitCode, `trial ${trial}: ${again.stderr}`).toBe(0);
      expect((await runCli(['fsck', '--home', home])).exitCode).toBe(0);
    }
    console.log(`create kills: ${TRIALS} trials, ${completed} had finished, ${TRIALS - completed} were cut short and created again`);
  }, 300_000);
});
