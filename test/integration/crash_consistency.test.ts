// Crash consistency under SIGKILL, inside every job. A child process (test/helpers/crash_child.mjs)
// first finishes what the previous kill interrupted (a rebuild of a failed device, a remove that
// left its device draining, a device to add back, an interrupted job), then spends its life on
// one focus operation — put, delete,
// rebalance, restripe, expand (combine + rebalance), scrub (sometimes after rotting a block), rebuild, remove or add — chosen
// round robin per trial, interleaved with puts. Most kills are timed from the child's phase
// markers (its first committed move of the focus job, or the start of a put, delete or add),
// the rest land at a random moment after spawn, during open and resume too.
//
// After every kill the array must reopen — or, every third trial, be imported from its five
// device images alone after the home is deleted — with its invariants, a clean deep fsck (but
// for devices the child legitimately failed and had not rebuilt yet, and a block it rotted and
// no scrub had repaired yet, which a scrub here must then repair), every acknowledged put, no
// file mixing two versions, and no job left 'running'. Parity 1, 2 and 3, each its own array.
// The kills are counted per job type from the markers, and every job type must have been
// killed inside its moves at least once per parity.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DiskArray } from '../../src/array/disk_array.js';
import { createImageFile } from '../../src/devices/open_device.js';
// @ts-expect-error plain JS helper shared with the child process
import { crashContent, CRASH_NAMES } from '../helpers/crash_content.mjs';
import { MIB, TempDir } from '../helpers/temp_array.js';

/** Trials over the parities (a third each): by default 6 per job type and parity. */
const TRIALS = Number(process.env.ELASTRIPE_CRASH_TRIALS ?? 162);
const SEED = Number(process.env.ELASTRIPE_CRASH_SEED ?? Date.now() % 1_000_000);
const CHILD = fileURLToPath(new URL('../helpers/crash_child.mjs', import.meta.url));
const RUNTIME = { workerCount: 0, arenaBytes: 32 * MIB };
const DEVICE_BYTES = 32 * MIB;
const ALL_FOCI = ['put', 'delete', 'rebalance', 'restripe', 'expand', 'scrub', 'rebuild', 'remove', 'add'] as const;
type Focus = (typeof ALL_FOCI)[number];
/** ELASTRIPE_CRASH_FOCI=restripe,add (say) narrows the round robin, ELASTRIPE_CRASH_PARITIES=2 the parities, to chase a failure. */
const FOCI: Focus[] = process.env.ELASTRIPE_CRASH_FOCI ? (process.env.ELASTRIPE_CRASH_FOCI.split(',') as Focus[]) : [...ALL_FOCI];
const PARITIES = (process.env.ELASTRIPE_CRASH_PARITIES ?? '1,2,3').split(',').map(Number) as (1 | 2 | 3)[];
/** Jobs whose kill counts from their first committed move (inside-JOB); the rest from their start. */
const MOVING = new Set<string>(['rebalance', 'restripe', 'expand', 'scrub', 'rebuild', 'remove']);
/** A targeted kill that finds no target by then (from spawn) is made anyway. */
const TARGET_TIMEOUT_MS = 8_000;
/** ELASTRIPE_CRASH_VERBOSE=1 prints each trial's plan and the child's last announcements. */
const VERBOSE = process.env.ELASTRIPE_CRASH_VERBOSE === '1';
/** ELASTRIPE_CRASH_KEEP=1 copies the home and images before every check, and keeps them all after a failure. */
const KEEP = process.env.ELASTRIPE_CRASH_KEEP === '1';

type Expectation = { candidates: (string | null)[] };
type KillPlan = { targeted: true; occurrence: number; delayMs: number } | { targeted: false; afterSpawnMs: number };

/**
 * Where a kill after these lines landed: the job whose inside- marker is the last one without
 * its done- (a job that has committed at least one move), else the put, delete or add started
 * and not done; 'open' before the array was open, 'other' anywhere else (between operations,
 * failing or onlining a device, a job still scanning).
 */
function landedIn(lines: string[]): string {
  let job: string | undefined;
  let operation: string | undefined;
  let ready = false;
  for (const line of lines) {
    const [event = ''] = line.split(' ');
    if (event === 'ready') ready = true;
    else if (event.startsWith('inside-')) job = event.slice('inside-'.length);
    else if (event === 'start-put' || event === 'start-delete' || event === 'start-add') operation = event.slice('start-'.length);
    else if (event.startsWith('done-')) {
      const kind = event.slice('done-'.length);
      if (job === kind) job = undefined;
      if (operation === kind) operation = undefined;
    }
  }
  return job ?? operation ?? (ready ? 'other' : 'open');
}

/** How many times the focus's target marker appears: inside-JOB for moving jobs, start-OP otherwise. */
function targetCount(lines: string[], focus: Focus): number {
  const marker = MOVING.has(focus) ? `inside-${focus}` : `start-${focus}`;
  return lines.filter((line) => line.split(' ')[0] === marker).length;
}

/** Runs the child on `focus` until killed as planned; returns its announcement lines. */
async function runUntilKilled(home: string, seed: number, focus: Focus, devices: string[], plan: KillPlan): Promise<string[]> {
  const child = spawn(process.execPath, [CHILD, home, String(seed), focus, ...devices], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  let errors = '';
  let armed = false;
  const kill = () => child.kill('SIGKILL');
  const lines = () => output.slice(0, output.lastIndexOf('\n') + 1).split('\n').filter(Boolean);
  const arm = (delayMs: number) => {
    if (armed) return;
    armed = true;
    if (delayMs <= 0) kill();
    else {
      // Still inside the focus after the delay? Otherwise wait for its next occurrence.
      setTimeout(() => {
        if (landedIn(lines()) === focus) kill();
        else armed = false;
      }, delayMs);
    }
  };
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString();
    if (armed || !plan.targeted) return;
    // Armed only while the focus is open at the end of what arrived, so a target that has
    // already finished waits for the next one.
    const sofar = lines();
    if (targetCount(sofar, focus) >= plan.occurrence && landedIn(sofar) === focus) arm(plan.delayMs);
  });
  child.stderr.on('data', (chunk: Buffer) => (errors += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const fallback = setTimeout(() => {
    armed = false;
    arm(0);
  }, plan.targeted ? TARGET_TIMEOUT_MS : plan.afterSpawnMs);
  const code = await exited;
  clearTimeout(fallback);
  if (code !== null) throw new Error(`crash child exited by itself (${code}): ${errors}`);
  return output.split('\n').filter(Boolean);
}

/** Folds announcements into what each name may now hold: the last resolved state or any later started one. */
function expectations(lines: string[], known: Map<string, Expectation>): void {
  for (const line of lines) {
    const [event, name, version] = line.split(' ');
    if (!['start-put', 'done-put', 'start-delete', 'done-delete'].includes(event!)) continue;
    const expectation = known.get(name!) ?? { candidates: [null] };
    if (event === 'start-put') expectation.candidates.push(version!);
    if (event === 'start-delete') expectation.candidates.push(null);
    if (event === 'done-put') expectation.candidates = [version!];
    if (event === 'done-delete') expectation.candidates = [null];
    known.set(name!, expectation);
  }
}

/** What the child left that a check must allow: devices it failed and had not rebuilt yet, a rotted block no scrub repaired yet. */
interface Leftovers {
  mayBeOffline: Set<string>;
  rotPending: boolean;
}

function foldLeftovers(lines: string[], leftovers: Leftovers): void {
  for (const line of lines) {
    const [event, path] = line.split(' ');
    if (event === 'fail') leftovers.mayBeOffline.add(path!);
    if (event === 'done-online') leftovers.mayBeOffline.delete(path!);
    if (event === 'done-rebuild') leftovers.mayBeOffline.clear();
    if (event === 'rot') leftovers.rotPending = true;
    if (event === 'repaired-rot') leftovers.rotPending = false;
  }
}

/** Fsck lines that a legitimately failed device explains. */
function offlineLines(problems: string[], mayBeOffline: Set<string>, offlineCount: number): { rest: string[] } {
  const rest = problems.filter((line) => {
    const device = /^device \d+ \((.*)\) is (failed|missing): /.exec(line);
    if (device) return !mayBeOffline.has(device[1]!);
    return !(offlineCount > 0 && / are on missing or failed devices$/.test(line));
  });
  return { rest };
}

interface Tally {
  trials: number;
  targeted: number;
  imports: number;
  resumed: number;
  kills: Map<string, number>;
}

const tallies = new Map<number, Tally>();

function summary(label: string, tally: Tally): string {
  const kills = [...ALL_FOCI, 'open', 'other'].map((kind) => `${kind} ${tally.kills.get(kind) ?? 0}`).join(', ');
  return `crash consistency ${label}: kills inside ${kills}; ${tally.trials} trials (${tally.targeted} timed from markers), ${tally.imports} imports, ${tally.resumed} children resumed a job; seed ${SEED} (ELASTRIPE_CRASH_SEED to replay)`;
}

afterAll(() => {
  const total: Tally = { trials: 0, targeted: 0, imports: 0, resumed: 0, kills: new Map() };
  for (const tally of tallies.values()) {
    total.trials += tally.trials;
    total.targeted += tally.targeted;
    total.imports += tally.imports;
    total.resumed += tally.resumed;
    for (const [kind, count] of tally.kills) total.kills.set(kind, (total.kills.get(kind) ?? 0) + count);
  }
  if (total.trials > 0) console.log(summary('(all parities)', total));
});

describe.each(PARITIES)('crash consistency under SIGKILL, parity %i', (parity) => {
  const trials = Math.ceil(TRIALS / PARITIES.length);
  const dir = new TempDir();
  const home = dir.file('home');
  const known = new Map<string, Expectation>();
  const leftovers: Leftovers = { mayBeOffline: new Set(), rotPending: false };
  const devices = [0, 1, 2, 3, 4].map((i) => dir.file(`dev${i}.img`));
  const tally: Tally = { trials: 0, targeted: 0, imports: 0, resumed: 0, kills: new Map() };
  tallies.set(parity, tally);

  beforeAll(async () => {
    mkdirSync(home);
    for (const path of devices) await createImageFile(path, DEVICE_BYTES);
    // Groups span all five devices: a device failed or removed makes new groups narrower
    // (restripe's material), and groups on a device that leaves are rewritten narrower by
    // rebuild and remove, which then leaves room for rebalance on the device added back.
    const array = await DiskArray.create({ ...RUNTIME, home, devices, parityCount: parity, maxDataWidth: 5 - parity, extentLbMax: 64 });
    await array.close();
  });
  let failed = false;
  afterAll(() => {
    if (KEEP && failed) console.log(`crash consistency: parity ${parity} left its arrays in ${dir.path} (trial-N: before the check of trial N)`);
    else dir.remove();
  });

  it(`keeps the last committed state across ${trials} kills inside every job (seed ${SEED})`, async () => {
    let random = SEED + parity * 7919;
    const next = () => (random = (Math.imul(random, 1103515245) + 12345) >>> 0) / 2 ** 32;
    for (let trial = 0; trial < trials; trial++) {
      const focus = FOCI[trial % FOCI.length]!;
      // Four in five kills are timed from the focus's markers: at once or a little later, at
      // its first or second occurrence; the rest land anywhere after spawn (open, resume).
      const plan: KillPlan =
        next() < 0.8
          ? { targeted: true, occurrence: 1 + Math.floor(next() * 2), delayMs: next() < 0.5 ? 0 : Math.floor(next() * (MOVING.has(focus) ? 25 : 4)) }
          : { targeted: false, afterSpawnMs: 100 + Math.floor(next() * 900) };
      const lines = await runUntilKilled(home, SEED * 1000 + trial, focus, devices, plan);
      const landed = landedIn(lines);
      tally.trials++;
      if (plan.targeted) tally.targeted++;
      if (lines.some((line) => line.endsWith(' resume'))) tally.resumed++;
      tally.kills.set(landed, (tally.kills.get(landed) ?? 0) + 1);
      expectations(lines, known);
      foldLeftovers(lines, leftovers);

      const imports = trial % 3 === 2;
      const where = `parity ${parity} trial ${trial} (focus ${focus}, killed in ${landed}${imports ? ', imported' : ''})`;
      if (VERBOSE) console.log(`${where}: ${JSON.stringify(plan)}; ${lines.length} lines, last: ${lines.slice(-3).join(' | ')}`);
      if (KEEP) {
        mkdirSync(dir.file(`trial-${trial}`));
        const copy = spawnSync('cp', ['-a', '--sparse=always', home, ...devices, dir.file(`trial-${trial}`)]);
        if (copy.status !== 0) throw new Error(`copying the array failed: ${copy.stderr}`);
      }
      if (imports) {
        rmSync(home, { recursive: true });
        tally.imports++;
      }
      let array: DiskArray | undefined;
      try {
        array = imports ? await DiskArray.import({ ...RUNTIME, home, devices }) : await DiskArray.open(home, RUNTIME);
        array.assertInvariants();
        // A device a remove left draining is online (readable) and legitimate: the next child finishes the remove.
        const offline = array.status().devices.filter((device) => device.state === 'failed' || device.state === 'missing');
        expect(
          offline.filter((device) => !leftovers.mayBeOffline.has(device.path)).map((device) => `${device.path}: ${device.state} (${device.reason})`),
          `${where}: devices offline that the child never failed`,
        ).toEqual([]);
        // A job cut short by the kill is reported as interrupted, never as still running.
        expect(array.status().jobs.filter((job) => job.state === 'running'), where).toEqual([]);
        const report = await array.fsck({ deep: true });
        let rest = offlineLines(report.problems, leftovers.mayBeOffline, offline.length).rest;
        const rotted = rest.filter((line) => leftovers.rotPending && / unreadable or corrupt \(parity can rebuild them\)$/.test(line));
        expect(rotted.length, `${where}: more corrupt blocks than the one rotted on purpose:\n${rotted.join('\n')}`).toBeLessThanOrEqual(1);
        rest = rest.filter((line) => !rotted.includes(line));
        expect(rest.join('\n'), where).toBe('');

        const present = new Set(array.list().map((file) => file.name));
        for (const name of CRASH_NAMES as string[]) {
          const candidates = known.get(name)?.candidates ?? [null];
          if (!present.has(name)) {
            expect(candidates, `${where}: ${name} vanished`).toContain(null);
            known.set(name, { candidates: [null] });
            continue;
          }
          const content = await array.get(name);
          const match = candidates.find((version) => version !== null && (crashContent(name, version) as Buffer).equals(content));
          expect(match, `${where}: ${name} holds none of the versions ${candidates.join(', ')}`).toBeDefined();
          known.set(name, { candidates: [match!] });
        }

        if (leftovers.rotPending) {
          // The rot survived the kill: a scrub now must leave the array clean (a second one when
          // the first continued a scrub cut short and so started after its cursor).
          if ((await array.scrub()).resumedAfterGroupId !== undefined) await array.scrub();
          const after = await array.fsck({ deep: true });
          expect(offlineLines(after.problems, leftovers.mayBeOffline, offline.length).rest.join('\n'), `${where}: after scrubbing the rot`).toBe('');
          leftovers.rotPending = false;
        }
      } catch (error) {
        failed = true;
        console.log(`${where}: the child said\n${lines.join('\n')}`);
        throw error;
      } finally {
        await array?.close();
      }
    }
    console.log(summary(`parity ${parity}`, tally));
    // Coverage is asserted once every job type was the focus at least three times (a short
    // run with ELASTRIPE_CRASH_TRIALS only checks consistency).
    const missed = FOCI.filter((focus) => !(tally.kills.get(focus)! > 0));
    if (trials >= 3 * FOCI.length) expect(missed, `parity ${parity}: job types never killed inside (seed ${SEED})`).toEqual([]);
  }, 900_000);
});
