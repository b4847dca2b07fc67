// The whole-system simulation (see simulator.ts): seeded operations, faults and power losses
// against a real DiskArray on simulated disks, checked after every step.
//
//   npm test           a short run: fixed seeds, one per parity count (under a minute)
//   npm run sim:ci     the CI run (.ci/run): the fixed seeds of sim_ci_seeds.ts, at least
//                      10,000 operations and 200 power losses (asserted), totals printed
//   npm run sim        a long run: ELASTRIPE_SIM_OPS operations per seed (default 10,000) on
//                      ELASTRIPE_SIM_SEEDS seeds (default 3) from a random base seed
//   ELASTRIPE_SIM_SEED=n   replays seed n exactly (with ELASTRIPE_SIM_OPS as long as before)
//   ELASTRIPE_SIM_MINUTES=m      runs fresh seeds of ELASTRIPE_SIM_OPS operations each until m
//                                minutes have passed (a CI budget), then reports the totals
//   ELASTRIPE_SIM_PLAN=grow      plans heavy in addDevice + expand and jobs beside puts and gets,
//                                under in-I/O faults (GENERATOR_GROW); a replay needs it too
//
// A failing run is shrunk (ELASTRIPE_SIM_SHRINK_MS of delta debugging) and the short list of
// steps is printed, ready to paste into a regression case below.
import { describe, expect, it, vi } from 'vitest';
// Determinism for the simulator: seeded UUIDs (sim_determinism.ts).
vi.mock('node:crypto', async (importOriginal) => (await import('./sim_determinism.js')).cryptoMock(await importOriginal<object>()));
import { GENERATOR_DEFAULTS, GENERATOR_GROW, generateSteps, opCount, type SimStep } from './sim_ops.js';
import { SIM_CI_OPS_PER_SEED, SIM_CI_SEEDS, SIM_CI_TARGETS } from './sim_ci_seeds.js';
import { formatReport, formatSteps, shrink } from './sim_shrink.js';
import { configFor, runSteps, type SimConfig, type SimReport } from './simulator.js';


const LONG = process.env.ELASTRIPE_SIM_LONG === '1';
/** The CI run: the fixed seeds of sim_ci_seeds.ts (ELASTRIPE_SIM_CI=1, npm run sim:ci). */
const CI_RUN = process.env.ELASTRIPE_SIM_CI === '1' && !process.env.ELASTRIPE_SIM_SEED;
const OPS_PER_SEED = Number(process.env.ELASTRIPE_SIM_OPS ?? (CI_RUN ? SIM_CI_OPS_PER_SEED : LONG ? 10_000 : 500));
const SHRINK_MS = Number(process.env.ELASTRIPE_SIM_SHRINK_MS ?? (LONG ? 600_000 : 60_000));
const SEEDS = seedsToRun();
const PLAN = process.env.ELASTRIPE_SIM_PLAN === 'grow' ? GENERATOR_GROW : GENERATOR_DEFAULTS;
/** A time budget: seeds run one after another until it is spent (0: the fixed list of seeds). */
const MINUTES = process.env.ELASTRIPE_SIM_SEED ? 0 : Number(process.env.ELASTRIPE_SIM_MINUTES ?? 0);

function configOf(seed: number): SimConfig {
  return configFor(seed);
}

function seedsToRun(): number[] {
  if (process.env.ELASTRIPE_SIM_SEED) return [Number(process.env.ELASTRIPE_SIM_SEED)];
  if (CI_RUN) return [...SIM_CI_SEEDS];
  const count = Number(process.env.ELASTRIPE_SIM_SEEDS ?? 3);
  const base = LONG ? Math.floor(Math.random() * 1_000_000) * 3 : 3000;
  return Array.from({ length: count }, (_, i) => base + i);
}

const totals = { seeds: 0, ops: 0, powerLosses: 0, faults: 0, ms: 0, checks: 0, acknowledgedPuts: 0, acknowledgedBytes: 0, failures: 0, recoveries: { home: 0, 'stale-home': 0, import: 0 } as Record<string, number>, faultsByKind: {} as Record<string, number> };

async function simulate(seed: number): Promise<SimReport> {
  const steps = generateSteps(seed, OPS_PER_SEED, PLAN);
  const replay = `ELASTRIPE_SIM_SEED=${seed} ELASTRIPE_SIM_OPS=${OPS_PER_SEED}${PLAN === GENERATOR_GROW ? ' ELASTRIPE_SIM_PLAN=grow' : ''}`;
  console.log(`simulation seed ${seed}: ${opCount(steps)} ops in ${steps.length} steps (${replay} to replay)`);
  const report = await runSteps(configOf(seed), steps);
  console.log(formatReport(report));
  totals.seeds++;
  totals.ops += report.ops;
  totals.powerLosses += report.powerLosses;
  for (const [key, count] of Object.entries(report.faults)) {
    // Dropped and applied page writes are what power losses did, not faults of their own.
    if (key.endsWith('PageWrites') || key === 'powerLosses') continue;
    totals.faults += count;
    totals.faultsByKind[key] = (totals.faultsByKind[key] ?? 0) + count;
  }
  for (const [mode, count] of Object.entries(report.recoveries)) totals.recoveries[mode] = (totals.recoveries[mode] ?? 0) + count;
  totals.checks += report.checks;
  totals.acknowledgedPuts += report.acknowledgedPuts;
  totals.acknowledgedBytes += report.acknowledgedBytes;
  if (report.failure) totals.failures++;
  totals.ms += report.elapsedMs;
  if (report.failure) await shrinkAndPrint(seed, steps, report);
  return report;
}

async function shrinkAndPrint(seed: number, steps: SimStep[], report: SimReport): Promise<void> {
  console.log(`seed ${seed} failed at step ${report.failure!.stepIndex}; shrinking for up to ${SHRINK_MS} ms ...`);
  const shrunk = await shrink(configOf(seed), steps, report.failure!, SHRINK_MS);
  console.log(
    `shrunk to ${shrunk.steps.length} steps (${opCount(shrunk.steps)} ops) in ${shrunk.trials} trials${shrunk.complete ? '' : ' (time ran out)'}:\n` +
      `failure: ${shrunk.failure.kind}: ${shrunk.failure.message}\n` +
      `regression case: runSteps(configFor(${seed}), ${formatSteps(shrunk.steps)})`,
  );
}

describe('deterministic simulation', () => {
  if (MINUTES > 0) {
    it(`fresh seeds for ${MINUTES} minutes`, { timeout: MINUTES * 60_000 + 3_600_000 + SHRINK_MS }, async () => {
      const deadlineMs = performance.now() + MINUTES * 60_000;
      for (let seed = SEEDS[0]!; performance.now() < deadlineMs; seed++) {
        const report = await simulate(seed);
        expect(report.failure, report.failure && `${report.failure.kind}: ${report.failure.message}`).toBeUndefined();
      }
    });
  }
  for (const seed of MINUTES > 0 ? [] : SEEDS) {
    it(`seed ${seed} (parity ${configFor(seed).parityCount})`, { timeout: (LONG ? 3_600_000 : CI_RUN ? 900_000 : Math.max(120_000, OPS_PER_SEED * 250)) + SHRINK_MS }, async () => {
      const report = await simulate(seed);
      expect(report.failure, report.failure && `${report.failure.kind}: ${report.failure.message}`).toBeUndefined();
    });
  }

  // Replays are only as good as the determinism under them: UUIDs, the clock, completion order,
  // and the jobs' foreground backoff, which rests by the disks' virtual clock (sim_clock.ts).
  // Seed 30's 60 operations include jobs that rest for puts and gets beside them.
  it('replays exactly: the same steps give the same requests, outcomes and disk contents, backoff rests included', { timeout: 120_000 }, async () => {
    const steps = generateSteps(30, 60);
    const first = await runSteps(configFor(30), steps);
    const second = await runSteps(configFor(30), steps);
    expect(first.failure).toBeUndefined();
    expect(first.jobRests).toBeGreaterThan(0);
    expect(second.jobRests).toBe(first.jobRests);
    expect(second.fingerprint).toBe(first.fingerprint);
    // The rests shape the interleaving: without them the same steps run differently.
    const unpaced = await runSteps({ ...configFor(30), jobBackoff: false }, steps);
    expect(unpaced.jobRests).toBe(0);
    expect(unpaced.fingerprint).not.toBe(first.fingerprint);
  });

  it('reports what it explored', () => {
    const list = (counts: Record<string, number>) => Object.entries(counts).filter(([, count]) => count > 0).map(([key, count]) => `${key} ${count}`).join(', ');
    console.log(
      `simulation total: ${totals.seeds} seeds, ${totals.ops} ops, ${totals.powerLosses} power losses (recovered: ${list(totals.recoveries)}), ` +
        `${totals.faults} injected faults (${list(totals.faultsByKind) || 'none'}), ${totals.checks} checks, ` +
        `${totals.acknowledgedPuts} acknowledged puts (${(totals.acknowledgedBytes / 1024 / 1024).toFixed(1)} MiB) of which ${totals.failures === 0 ? '0 bytes were lost' : 'some may be lost: a seed FAILED'}, ` +
        `in ${(totals.ms / 1000).toFixed(1)} s (${(totals.ops / (totals.ms / 1000)).toFixed(0)} ops/s, ${(totals.powerLosses / (totals.ms / 60_000)).toFixed(0)} power losses/min)`,
    );
    if (CI_RUN) {
      // The fixed list must keep reaching the figures issue 11 asks of every CI run.
      expect(totals.ops).toBeGreaterThanOrEqual(SIM_CI_TARGETS.ops);
      expect(totals.powerLosses).toBeGreaterThanOrEqual(SIM_CI_TARGETS.powerLosses);
      expect(totals.failures).toBe(0);
    }
  });
});
