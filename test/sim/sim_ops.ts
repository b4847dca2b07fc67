// The simulator's operations and how a seed turns into a list of steps.
//
// A step is a few operations started together (so they run concurrently and interleave through
// the simulated devices' seeded latencies), with optional faults injected first (bit rot, a
// latent sector error, a disk vanishing or returning), in-I/O faults on the fault atlas while
// it runs, and an optional power loss at its n-th request completion. Operations name their
// targets by stable keys or by fractions ("the device at 37% of the eligible list"), resolved
// against the state when the step runs, so any sub-list of steps still means something: that
// is what lets a failing run be shrunk by deleting steps.
import { SimRng } from './sim_rng.js';

/** Names files are drawn from: few enough that overwrites and deletes hit existing files. */
export const FILE_NAMES = Array.from({ length: 16 }, (_, i) => `f${String(i).padStart(2, '0')}`);

/** How a get reads: a Buffer, a stream, or the caller's own buffer. */
export type ReadVia = 'get' | 'stream' | 'readInto';

export type SimOp =
  | { kind: 'put'; name: string; sizeBytes: number; contentSeed: number; stream: boolean; abortAfterTurns?: number }
  | { kind: 'get'; name: string; offsetFraction: number; lengthFraction: number; via?: ReadVia }
  | { kind: 'delete'; name: string }
  | { kind: 'rename'; name: string; to: string; replace: boolean }
  | { kind: 'addDevice'; sizeMib: number; reuseSpare: boolean; noExpand?: boolean }
  | { kind: 'failDevice'; pick: number }
  | { kind: 'removeDevice'; pick: number }
  | { kind: 'rebuild'; abortAfterTurns?: number }
  | { kind: 'rebalance'; abortAfterTurns?: number }
  | { kind: 'restripe'; abortAfterTurns?: number }
  | { kind: 'scrub'; abortAfterTurns?: number }
  | { kind: 'expand'; abortAfterTurns?: number }
  | { kind: 'reopen' };

/** Faults applied before a step's operations start. */
export type SimFault =
  | { kind: 'rot'; pick: number; pagePick: number; latent: boolean; superblock: boolean }
  | { kind: 'vanish'; pick: number }
  | { kind: 'return'; pick: number };

export interface SimStep {
  /** Seeds the step's latencies and fault rolls (per disk) and its power-loss outcome. */
  seed: number;
  faults: SimFault[];
  ops: SimOp[];
  /** In-I/O faults (EIO, latent errors, misdirected writes, vanishing) on the fault atlas. */
  ioFaults: boolean;
  /** Power loss at this request completion of the step (or at its end if it has fewer). */
  crashAt?: number;
}

export type OpKind = SimOp['kind'];
export type FaultKind = SimFault['kind'];

export interface GeneratorOptions {
  /** Probability that a step ends in a power loss. */
  crashChance: number;
  /** Probability that a step runs with in-I/O faults on. */
  ioFaultChance: number;
  /** Largest file a put writes. */
  putBytesMax: number;
  /** Relative weights of the kinds of step (see generateStep). */
  shapes: Record<StepShape, number>;
  /** Foreground operations at most beside a device step (addDevice with its expand, failDevice). */
  foregroundBesideDeviceMax: number;
}

export type StepShape = 'single' | 'concurrent' | 'job' | 'device' | 'reopen';

export const GENERATOR_DEFAULTS: GeneratorOptions = {
  crashChance: 0.045,
  ioFaultChance: 0.3,
  putBytesMax: 1536 * 1024,
  shapes: { single: 40, concurrent: 26, job: 20, device: 11, reopen: 3 },
  foregroundBesideDeviceMax: 1,
};

/**
 * Plans heavy in growth under load (ELASTRIPE_SIM_PLAN=grow): adds with their expand job and
 * other jobs, with puts, gets and deletes beside them, in-I/O faults in most steps — where the
 * jobs' foreground backoff interleaves moves with the foreground the most.
 */
export const GENERATOR_GROW: GeneratorOptions = {
  ...GENERATOR_DEFAULTS,
  ioFaultChance: 0.6,
  shapes: { single: 20, concurrent: 15, job: 25, device: 35, reopen: 2 },
  foregroundBesideDeviceMax: 3,
};

/** Steps until they hold at least `opCount` operations. */
export function generateSteps(seed: number, opCount: number, options: GeneratorOptions = GENERATOR_DEFAULTS): SimStep[] {
  const rng = new SimRng(seed).fork('steps');
  const steps: SimStep[] = [];
  let ops = 0;
  while (ops < opCount) {
    const step = generateStep(rng, options);
    ops += step.ops.length;
    steps.push(step);
  }
  return steps;
}

function generateStep(rng: SimRng, options: GeneratorOptions): SimStep {
  const shape = rng.weighted(options.shapes);
  const ops: SimOp[] = [];
  if (shape === 'single') ops.push(foregroundOp(rng, options));
  if (shape === 'concurrent') for (let i = rng.between(2, 4); i > 0; i--) ops.push(foregroundOp(rng, options));
  if (shape === 'job') {
    ops.push(jobOp(rng));
    if (rng.chance(0.15)) ops.push(jobOp(rng));
    for (let i = rng.int(3); i > 0; i--) ops.push(foregroundOp(rng, options));
  }
  if (shape === 'device') {
    ops.push(deviceOp(rng));
    for (let i = rng.int(options.foregroundBesideDeviceMax + 1); i > 0; i--) ops.push(foregroundOp(rng, options));
  }
  if (shape === 'reopen') ops.push({ kind: 'reopen' });
  const step: SimStep = { seed: rng.u32(), faults: stepFaults(rng), ops, ioFaults: rng.chance(options.ioFaultChance) };
  if (rng.chance(options.crashChance)) step.crashAt = rng.chance(0.7) ? rng.between(1, 40) : rng.between(1, 400);
  return step;
}

function foregroundOp(rng: SimRng, options: GeneratorOptions): SimOp {
  const name = rng.pick(FILE_NAMES);
  const kind = rng.weighted({ put: 48, get: 30, delete: 14, rename: 8 });
  if (kind === 'get') {
    const via = rng.weighted<ReadVia>({ get: 6, stream: 2, readInto: 2 });
    return { kind, name, offsetFraction: rng.chance(0.4) ? 0 : rng.next(), lengthFraction: rng.chance(0.4) ? 1 : rng.next(), via };
  }
  if (kind === 'delete') return { kind, name };
  if (kind === 'rename') return { kind, name, to: rng.pick(FILE_NAMES), replace: rng.chance(0.6) };
  const put: SimOp = { kind, name, sizeBytes: putSize(rng, options.putBytesMax), contentSeed: rng.u32(), stream: rng.chance(0.2) };
  if (rng.chance(0.06)) put.abortAfterTurns = abortTurns(rng);
  return put;
}

/** Sizes that matter: empty, one byte, sub-LB, exact LB multiples, one group, many groups. */
function putSize(rng: SimRng, bytesMax: number): number {
  const kind = rng.weighted({ empty: 3, one: 5, small: 15, lbs: 10, medium: 27, large: 28, huge: 12 });
  switch (kind) {
    case 'empty':
      return 0;
    case 'one':
      return 1;
    case 'small':
      return rng.between(2, 4095);
    case 'lbs':
      return 4096 * rng.between(1, 24);
    case 'medium':
      return rng.between(4097, 96 * 1024);
    case 'large':
      return rng.between(96 * 1024, bytesMax / 3);
    case 'huge':
      return rng.between(bytesMax / 3, bytesMax);
  }
}

function jobOp(rng: SimRng): SimOp {
  const kind = rng.weighted({ rebuild: 30, rebalance: 18, restripe: 18, expand: 14, scrub: 14, removeDevice: 12 });
  if (kind === 'removeDevice') return { kind, pick: rng.next() };
  return rng.chance(0.1) ? { kind, abortAfterTurns: abortTurns(rng) } : { kind };
}

/** When an abort fires: after this many event-loop turns (early, middle or late in the work). */
function abortTurns(rng: SimRng): number {
  return rng.chance(0.5) ? rng.between(0, 10) : rng.between(10, 400);
}

function deviceOp(rng: SimRng): SimOp {
  // Devices leave often (failures rebuilt away, removals): adding is the common device step.
  const kind = rng.weighted({ addDevice: 72, failDevice: 28 });
  if (kind === 'failDevice') return { kind, pick: rng.next() };
  // addDevice runs the expand job (combine, then rebalance) unless told not to.
  const add: SimOp = { kind, sizeMib: rng.pick([32, 48, 64, 96, 128]), reuseSpare: rng.chance(0.5) };
  if (rng.chance(0.3)) add.noExpand = true;
  return add;
}

function stepFaults(rng: SimRng): SimFault[] {
  const faults: SimFault[] = [];
  if (rng.chance(0.06)) faults.push({ kind: 'rot', pick: rng.next(), pagePick: rng.next(), latent: rng.chance(0.4), superblock: rng.chance(0.05) });
  if (rng.chance(0.015)) faults.push({ kind: 'vanish', pick: rng.next() });
  if (rng.chance(0.03)) faults.push({ kind: 'return', pick: rng.next() });
  return faults;
}

/** Operations in a list of steps. */
export function opCount(steps: readonly SimStep[]): number {
  return steps.reduce((sum, step) => sum + step.ops.length, 0);
}
