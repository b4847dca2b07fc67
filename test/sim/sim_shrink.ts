// Shrinking a failing run to a short list of steps (delta debugging, Zeller's ddmin): drop
// chunks of steps while the run still fails the same way (same failure kind), halving the
// chunk size when no chunk can go; then drop single operations and injected faults inside the
// remaining steps. Every trial is a fresh simulation, so a shrunk list replays on its own.
// Bounded by wall time: it returns the shortest list found so far.
import type { SimOp, SimStep } from './sim_ops.js';
import { opCount } from './sim_ops.js';
import { runSteps, type SimConfig, type SimFailure, type SimReport } from './simulator.js';

export interface ShrinkResult {
  steps: SimStep[];
  failure: SimFailure;
  trials: number;
  complete: boolean;
}

export async function shrink(config: SimConfig, steps: readonly SimStep[], failure: SimFailure, budgetMs: number): Promise<ShrinkResult> {
  const deadline = performance.now() + budgetMs;
  let best = { steps: steps.slice(0, failure.stepIndex + 1), failure };
  let trials = 0;
  const stillFails = async (candidate: SimStep[]): Promise<SimFailure | undefined> => {
    trials++;
    const report: SimReport = await runSteps(config, candidate);
    return report.failure && signature(report.failure) === signature(failure) ? report.failure : undefined;
  };
  const timeLeft = () => performance.now() < deadline;
  // Chunks of steps.
  let chunks = 2;
  while (timeLeft() && best.steps.length > 1) {
    const size = Math.ceil(best.steps.length / chunks);
    let removed = false;
    for (let start = 0; start < best.steps.length && timeLeft(); start += size) {
      const candidate = [...best.steps.slice(0, start), ...best.steps.slice(start + size)];
      const found = await stillFails(candidate);
      if (found) {
        best = { steps: candidate.slice(0, found.stepIndex + 1), failure: found };
        chunks = Math.max(chunks - 1, 2);
        removed = true;
        break;
      }
    }
    if (!removed) {
      if (size === 1) break;
      chunks = Math.min(chunks * 2, best.steps.length);
    }
  }
  // Operations and faults inside steps.
  for (let i = 0; i < best.steps.length && timeLeft(); i++) {
    for (const variant of stepVariants(best.steps[i]!)) {
      if (!timeLeft()) break;
      const candidate = best.steps.map((step, j) => (j === i ? variant : step));
      const found = await stillFails(candidate);
      if (found) best = { steps: candidate.slice(0, found.stepIndex + 1), failure: found };
    }
  }
  return { ...best, trials, complete: timeLeft() };
}

/**
 * What makes two failures "the same": the kind and the first lines of the message (with the
 * stack frames an untyped error carries), numbers blurred so ids and offsets may differ.
 */
export function signature(failure: Pick<SimFailure, 'kind' | 'message'>): string {
  return `${failure.kind}: ${failure.message.split('\n').slice(0, 4).join('\n').replace(/\d+/g, '#')}`;
}

/** Smaller versions of one step: without one op, without one fault, without io faults. */
function stepVariants(step: SimStep): SimStep[] {
  const variants: SimStep[] = [];
  if (step.ops.length > 1) step.ops.forEach((_, i) => variants.push({ ...step, ops: step.ops.filter((__, j) => j !== i) }));
  step.faults.forEach((_, i) => variants.push({ ...step, faults: step.faults.filter((__, j) => j !== i) }));
  if (step.ioFaults) variants.push({ ...step, ioFaults: false });
  return variants;
}

/** One line per step, short enough to read and valid JSON to paste into a regression test. */
export function formatSteps(steps: readonly SimStep[]): string {
  return `[\n${steps.map((step) => `  ${JSON.stringify(step)},`).join('\n')}\n]`;
}

export function describeOp(op: SimOp): string {
  switch (op.kind) {
    case 'put':
      return `put ${op.name} ${op.sizeBytes}B${op.stream ? ' (stream)' : ''}`;
    case 'get':
      return `get ${op.name}`;
    case 'delete':
      return `delete ${op.name}`;
    default:
      return op.kind;
  }
}

/** The report as a few readable lines. */
export function formatReport(report: SimReport): string {
  const seconds = report.elapsedMs / 1000;
  const faults = Object.entries(report.faults)
    .filter(([, count]) => count > 0)
    .map(([name, count]) => `${name} ${count}`)
    .join(', ');
  const lines = [
    `seed ${report.seed}: parity ${report.config.parityCount}, ${report.config.deviceMib.length} devices, k<=${report.config.maxDataWidth}, extents<=${report.config.extentLbMax} LB`,
    `  ${report.ops} ops in ${report.steps} steps, ${seconds.toFixed(1)} s (${(report.ops / seconds).toFixed(0)} ops/s), ${report.powerLosses} power losses (recovered: ${Object.entries(report.recoveries).map(([mode, count]) => `${mode} ${count}`).join(', ')}), ${report.reopens} reopens, ${report.checks} checks, ${report.acknowledgedPuts} puts acknowledged (${report.acknowledgedBytes} bytes), ${report.jobRests} job rests (${report.jobRestMs.toFixed(0)} virtual ms)`,
    `  time (ms): ${Object.entries(report.timeMs).map(([what, ms]) => `${what} ${ms.toFixed(0)}`).join(', ')}`,
    `  ops: ${Object.entries(report.opsByKind).map(([kind, count]) => `${kind} ${count}`).join(', ')}`,
    `  skipped: ${Object.entries(report.skippedByKind).map(([kind, count]) => `${kind} ${count}`).join(', ') || 'none'}`,
    `  faults: ${faults || 'none'}`,
    `  allowed errors: ${Object.entries(report.errorsByCode).map(([code, count]) => `${code} ${count}`).join(', ') || 'none'}`,
  ];
  if (process.env.ELASTRIPE_SIM_VERBOSE) for (const [code, example] of Object.entries(report.errorExamples)) lines.push(`    ${code}: ${example}`);
  if (report.failure) lines.push(`  FAILED at step ${report.failure.stepIndex} (${report.failure.kind}): ${report.failure.message}`);
  return lines.join('\n');
}

export { opCount };
