// The simulator's configuration and report: the array geometry and per-disk fault rates a seed
// gives, the ways back from a power loss, and what a run reports (operations, power losses,
// faults, where the time went, the failure).
import type { ParityCount } from '../../src/array/types.js';
import type { SimFaultCounts, SimFaultRates } from './sim_device.js';
import { mixSeed, SimRng } from './sim_rng.js';

/**
 * How the array comes back after a power loss: the home as it was at that instant; an old copy
 * of the home, which open must roll forward from the devices' journals; or a fresh home
 * imported from the devices alone. The last two must find every acknowledged change.
 */
export type RecoveryMode = 'home' | 'stale-home' | 'import';

export interface SimConfig {
  seed: number;
  parityCount: ParityCount;
  deviceMib: number[];
  maxDataWidth: number;
  extentLbMax: number;
  /** The model keeps at most this many bytes stored (puts are cut to fit). */
  storedBytesMax: number;
  arenaBytes: number;
  /** Force one way of coming back from power losses (default: each at random). */
  recovery?: RecoveryMode;
  /** Jobs back off for puts and gets (RuntimeOptions.jobBackoff; default on, by the virtual clock). */
  jobBackoff?: boolean;
  /** The virtual clock's rates (sim_clock.ts): µs per request completion and per idle turn. */
  clockRequestUs: number;
  clockHopUs: number;
}

/** The array geometry a seed runs (parity 1, 2 and 3 in turn). */
export function configFor(seed: number): SimConfig {
  const rng = new SimRng(seed).fork('config');
  const parityCount = ((seed % 3) + 1) as ParityCount;
  const deviceCount = parityCount + rng.between(3, 5);
  return {
    seed,
    parityCount,
    deviceMib: Array.from({ length: deviceCount }, () => rng.pick([32, 48, 64, 96])),
    maxDataWidth: rng.pick([3, 4, 6, 8]),
    extentLbMax: rng.pick([4, 8, 16, 32]),
    storedBytesMax: 6 * 1024 * 1024,
    arenaBytes: 48 * 1024 * 1024,
    ...clockFor(seed),
  };
}

/**
 * The virtual clock's rates for a seed (from their own stream, so the geometry above is what it
 * was before they existed): a fifth to five times the defaults, so seeds differ in how much
 * foreground work a job's rest lets by.
 */
function clockFor(seed: number): Pick<SimConfig, 'clockRequestUs' | 'clockHopUs'> {
  const rng = new SimRng(seed).fork('clock');
  return { clockRequestUs: rng.pick([20, 100, 100, 500]), clockHopUs: rng.pick([20, 100, 100, 500]) };
}

/** Per-disk fault probabilities: some disks clean, some flaky, from the seed. */
export function ratesFor(seed: number, path: string): SimFaultRates {
  const rng = new SimRng(mixSeed(seed, `rates ${path}`));
  const level = () => rng.pick([0, 1, 1, 2]);
  return {
    readErrorRate: [0, 0.02, 0.08][level()]!,
    writeErrorRate: [0, 0.004, 0.015][level()]!,
    flushErrorRate: [0, 0.01, 0.04][level()]!,
    latentErrorRate: [0, 0.0005, 0.003][level()]!,
    misdirectRate: [0, 0.003, 0.012][level()]!,
    vanishRate: [0, 0.001, 0.005][level()]!,
    flushErrorDropsCache: rng.chance(0.5),
  };
}

export interface SimFailure {
  stepIndex: number;
  /** A category (model, fsck, space, disk, invariants, op, reopen, budget, hang, crash-reopen, unhandled-rejection). */
  kind: string;
  message: string;
}

export interface SimReport {
  seed: number;
  config: SimConfig;
  steps: number;
  ops: number;
  opsByKind: Record<string, number>;
  skippedByKind: Record<string, number>;
  /** Operations that ended in an (allowed) error, by error code. */
  errorsByCode: Record<string, number>;
  /** The first message of each error code (to see what the allowed errors were). */
  errorExamples: Record<string, string>;
  /**
   * What a replay must reproduce exactly: request completions, and a digest of every
   * operation's outcome and of every disk's final contents (see Simulation.fingerprint).
   */
  fingerprint: string;
  powerLosses: number;
  /** Recoveries after power losses, by mode. */
  recoveries: Record<RecoveryMode, number>;
  reopens: number;
  faults: SimFaultCounts;
  checks: number;
  /** Puts acknowledged (resolved before any power loss) and their bytes: each read back after every later step until replaced. */
  acknowledgedPuts: number;
  acknowledgedBytes: number;
  elapsedMs: number;
  /** Rests jobs took on the virtual clock (the foreground backoff at work) and their virtual ms. */
  jobRests: number;
  jobRestMs: number;
  /** Where the time went (ms): running steps, and each part of the checks. */
  timeMs: Record<string, number>;
  failure?: SimFailure;
}
