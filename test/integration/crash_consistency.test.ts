// Crash consistency: a child process writes, overwrites and deletes files and rebalances, and
// is killed with SIGKILL at random moments. After every kill the array must reopen, fsck clean
// (deep), keep every put that had resolved, and never show a file mixing two versions. Every
// third kill the home is deleted too and the array is imported from its devices alone: the
// devices' metadata journal must hold every acknowledged change.
import { spawn } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DiskArray } from '../../src/array/disk_array.js';
import { createImageFile } from '../../src/devices/open_device.js';
// @ts-expect-error plain JS helper shared with the child process
import { crashContent, CRASH_NAMES } from '../helpers/crash_content.mjs';
import { MIB, TempDir } from '../helpers/temp_array.js';

const TRIALS = Number(process.env.ELASTRIPE_CRASH_TRIALS ?? 50);
const SEED = Number(process.env.ELASTRIPE_CRASH_SEED ?? Date.now() % 1_000_000);
const CHILD = fileURLToPath(new URL('../helpers/crash_child.mjs', import.meta.url));
const RUNTIME = { workerCount: 0, arenaBytes: 32 * MIB };

type Expectation = { candidates: (string | null)[] };

/** Runs the child until killed; returns its announcement lines. */
async function runUntilKilled(home: string, seed: number, killAfterMs: number): Promise<string[]> {
  const child = spawn(process.execPath, [CHILD, home, String(seed)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  let errors = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (errors += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  // Start the clock once the child has opened the array, so kills land among writes.
  await new Promise<void>((resolve) => {
    const poll = setInterval(() => {
      if (output.includes('ready') || child.exitCode !== null) {
        clearInterval(poll);
        resolve();
      }
    }, 5);
  });
  await new Promise((resolve) => setTimeout(resolve, killAfterMs));
  child.kill('SIGKILL');
  const code = await exited;
  if (code !== null) throw new Error(`crash child exited by itself (${code}): ${errors}`);
  return output.split('\n').filter(Boolean);
}

/** Folds announcements into what each name may now hold: the last resolved state or any later started one. */
function expectations(lines: string[], known: Map<string, Expectation>): void {
  for (const line of lines) {
    const [event, name, version] = line.split(' ');
    if (!name) continue;
    const expectation = known.get(name) ?? { candidates: [null] };
    if (event === 'start-put') expectation.candidates.push(version!);
    if (event === 'start-delete') expectation.candidates.push(null);
    if (event === 'done-put') expectation.candidates = [version!];
    if (event === 'done-delete') expectation.candidates = [null];
    known.set(name, expectation);
  }
}

describe('crash consistency under SIGKILL', () => {
  const dir = new TempDir();
  const home = dir.file('home');
  const known = new Map<string, Expectation>();
  const devices = [0, 1, 2, 3, 4].map((i) => dir.file(`dev${i}.img`));

  beforeAll(async () => {
    mkdirSync(home);
    for (const path of devices) await createImageFile(path, 96 * MIB);
    // Groups of 2+2 on 5 devices leave rebalance a choice of where blocks go.
    const array = await DiskArray.create({ ...RUNTIME, home, devices, parityCount: 2, maxDataWidth: 2, extentLbMax: 64 });
    await array.close();
  });
  afterAll(() => dir.remove());

  it(`keeps the last committed state across ${TRIALS} kills (seed ${SEED})`, async () => {
    console.log(`crash consistency: ${TRIALS} trials, seed ${SEED} (ELASTRIPE_CRASH_SEED to replay)`);
    let random = SEED;
    const next = () => (random = (Math.imul(random, 1103515245) + 12345) >>> 0) / 2 ** 32;
    for (let trial = 0; trial < TRIALS; trial++) {
      const lines = await runUntilKilled(home, SEED * 1000 + trial, 20 + Math.floor(next() * 400));
      expectations(lines, known);
      const imports = trial % 3 === 2;
      if (imports) rmSync(home, { recursive: true });
      const array = imports ? await DiskArray.import({ ...RUNTIME, home, devices }) : await DiskArray.open(home, RUNTIME);
      try {
        array.assertInvariants();
        const offline = array.status().devices.filter((device) => device.state !== 'online');
        expect(offline.map((device) => `${device.path}: ${device.state}`), `trial ${trial}: devices offline after reopen`).toEqual([]);
        // A rebalance cut short by the kill is reported as interrupted, never as still running.
        expect(array.status().jobs.filter((job) => job.state === 'running'), `trial ${trial}`).toEqual([]);
        const report = await array.fsck({ deep: true });
        expect(report.problems.join('\n'), `trial ${trial}${imports ? ' (imported)' : ''}`).toBe('');
        const present = new Set(array.list().map((file) => file.name));
        for (const name of CRASH_NAMES as string[]) {
          const candidates = known.get(name)?.candidates ?? [null];
          if (!present.has(name)) {
            expect(candidates, `trial ${trial}: ${name} vanished`).toContain(null);
            known.set(name, { candidates: [null] });
            continue;
          }
          const content = await array.get(name);
          const match = candidates.find((version) => version !== null && (crashContent(name, version) as Buffer).equals(content));
          expect(match, `trial ${trial}: ${name} holds none of the versions ${candidates.join(', ')}`).toBeDefined();
          known.set(name, { candidates: [match!] });
        }
      } finally {
        await array.close();
      }
    }
  }, 600_000);
});
