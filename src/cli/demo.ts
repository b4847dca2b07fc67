// `elastripe demo` (and `npm start`): a tour of the array on image files in a temporary home,
// with no root needed. The tour is a list of named steps sharing one DemoState: create, write,
// verify, grow online by a larger device with one add that expands onto it (combine + rebalance), pull
// a device and read degraded, let the array heal itself (heal policies, no rebuild command), verify, rot a block and scrub it
// back, deep fsck. Further stages are appended to DEMO_STEPS. The home is removed at the end unless --keep.
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, open, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { LB_BYTES } from '../constants.js';
import { ElastripeError } from '../errors.js';
import type { JobOptions } from '../array/device_jobs.js';
import type { FsckReport } from '../array/types.js';
import type { ArrayEvent, JobFinishedEvent } from '../array/array_events.js';
import { createArray, importArray, openArray, runtimeOptions, type ArrayHandle } from './array_access.js';
import { printJson, printText, startProgress, type CommandContext } from './context.js';
import { generateContent, hashing, planFiles, type DemoFilePlan } from './demo_data.js';
import { formatBytes, formatDuration, formatRate } from './format.js';
import { renderFsckReport, renderStatus } from './render_status.js';

const MIB_BYTES = 1024 * 1024;
const DEMO_SEED = 0x5eed2025;
const DEMO_SIZE_MIB_DEFAULT = 320;
const DEMO_DEVICE_COUNT = 4;
const DEMO_PARITY_COUNT = 1;
const DEVICE_MIB_MIN = 32;
const DEVICE_MIB_STEP = 16;
/** Devices hold 4/5 of the data size each: with 4 devices and parity 1 that is 2.4x the data in
 * usable space, room for parity (m/k = 1/3), short tail groups and later stages' moves. */
const DEVICE_PER_DATA_FRACTION = 0.8;

export interface DemoFile extends DemoFilePlan {
  sha256?: string;
}

export interface PhaseTiming {
  bytes: number;
  elapsedMs: number;
}

export interface DemoState {
  context: CommandContext;
  /** The temporary directory: home/ and images/ live inside it. */
  rootDir: string;
  home: string;
  imagePaths: string[];
  deviceBytes: number;
  array?: ArrayHandle;
  files: DemoFile[];
  timings: Record<string, PhaseTiming>;
  fsck?: FsckReport;
}

export interface DemoStep {
  name: string;
  run(state: DemoState): Promise<void>;
}

export function requireArray(state: DemoState): ArrayHandle {
  if (state.array === undefined) throw new Error('demo: a step needs the array before create ran');
  return state.array;
}

export function imagePath(state: DemoState, index: number): string {
  return join(state.rootDir, 'images', `device${index}.img`);
}

function heading(state: DemoState, index: number, name: string): void {
  if (!state.context.line.json) printText(state.context, `\n== ${index + 1}. ${name} ==`);
}

export const createStep: DemoStep = {
  name: `create an array of ${DEMO_DEVICE_COUNT} image files, parity ${DEMO_PARITY_COUNT}`,
  async run(state) {
    state.imagePaths = Array.from({ length: DEMO_DEVICE_COUNT }, (_, index) => imagePath(state, index));
    state.array = await createArray({
      ...runtimeOptions(state.context.line),
      home: state.home,
      devices: state.imagePaths,
      parityCount: DEMO_PARITY_COUNT,
      createSizeBytes: state.deviceBytes,
    });
    if (!state.context.line.json) printText(state.context, `${DEMO_DEVICE_COUNT} devices of ${formatBytes(state.deviceBytes)} in ${state.rootDir}`);
  },
};

export const writeStep: DemoStep = {
  name: 'write files (1 byte to 64 MiB; random, zeros, text, mixed)',
  run: (state) => writeFiles(state, state.files, 'write'),
};

async function writeFiles(state: DemoState, files: DemoFile[], phase: string): Promise<void> {
  const array = requireArray(state);
  const totalBytes = files.reduce((sum, file) => sum + file.sizeBytes, 0);
  const bar = startProgress(state.context, phase, totalBytes, true);
  const startMs = performance.now();
  let doneBytes = 0;
  for (const file of files) {
    const hash = createHash('sha256');
    const chunks = hashing(generateContent(file), hash, (lengthBytes) => bar?.update((doneBytes += lengthBytes)));
    await array.put(file.name, Readable.from(chunks), { sizeBytes: file.sizeBytes, signal: state.context.signal });
    file.sha256 = hash.digest('hex');
  }
  bar?.finish();
  state.timings[phase] = { bytes: totalBytes, elapsedMs: performance.now() - startMs };
  if (!state.context.line.json) printText(state.context, `${files.length} files, ${formatBytes(totalBytes)}`);
}

/** Grows the array online by a device twice the size of the others with one `add`: its expand
 * job combines the old narrow groups in place (data blocks stay, new parity is written) and
 * rebalances onto the new device, with a progress bar. Then more files are written: their
 * groups are one block wider and every one of them uses the new device. */
export const addDeviceStep: DemoStep = {
  name: 'add a device twice as large, online: one add that expands onto it',
  async run(state) {
    const path = imagePath(state, state.imagePaths.length);
    const added = await timedJob(
      state,
      'expand',
      (array, options) => array.addDevice(path, { createSizeBytes: 2 * state.deviceBytes, ...options }),
      (done) => (done.expand?.combine.storedBytes ?? 0) + (done.expand?.rebalance.movedBytes ?? 0),
    );
    state.imagePaths.push(path);
    const report = added.expand!;
    if (!state.context.line.json) {
      printText(
        state.context,
        `device ${added.deviceId} added; the expand combined ${report.combine.combinedGroups} groups into ${report.combine.newGroups} in place ` +
          `(${formatBytes(report.combine.storedBytes)} of data kept where it was, ${report.combine.movedBlocks} blocks moved, ${formatBytes(report.combine.savedBytes)} of parity freed), ` +
          `rebalance moved ${report.rebalance.movedBlocks} blocks; wrote ${formatBytes(report.writtenBytes)} in all\n\n${renderStatus(requireArray(state).status())}`,
      );
    }
    const more = planFiles(DEMO_SEED + 1, Math.floor(state.files.reduce((sum, file) => sum + file.sizeBytes, 0) / 4))
      .map((file) => ({ ...file, name: `after-add/${file.name}` }));
    await writeFiles(state, more, 'write+');
    state.files.push(...more);
  },
};

/** Takes one device away (its image file disappears, as a pulled disk would) and reopens the
 * array: it opens degraded and every read that needs the device reconstructs from parity. */
export const pullDeviceStep: DemoStep = {
  name: 'pull a device and reopen the array degraded',
  async run(state) {
    await requireArray(state).close();
    state.array = undefined;
    await rename(state.imagePaths[1]!, `${state.imagePaths[1]}.pulled`);
    state.array = await openArray(state.home, runtimeOptions(state.context.line));
    if (!state.context.line.json) printText(state.context, renderStatus(state.array.status()));
  },
};

/**
 * Runs one job of the array with a progress bar, timing it as a phase of the summary that
 * counts `bytesOf(report)`.
 */
async function timedJob<T>(
  state: DemoState,
  phase: string,
  job: (array: ArrayHandle, options: JobOptions) => Promise<T>,
  bytesOf: (report: T) => number,
): Promise<T> {
  const bar = startProgress(state.context, phase, undefined, true);
  const startMs = performance.now();
  const report = await job(requireArray(state), { signal: state.context.signal, onProgress: (p) => bar?.update(p.doneBytes, p.totalBytes) });
  bar?.finish();
  state.timings[phase] = { bytes: bytesOf(report), elapsedMs: performance.now() - startMs };
  return report;
}

/** How long the heal step waits for the array to start healing by itself. */
const HEAL_START_WAIT_MS = 30_000;

/**
 * No rebuild command: the array is reopened with its heal policies on, as a long-lived owner
 * (`elastripe serve`, an embedder) runs it. It finds the pulled device missing and rebuilds
 * its blocks onto the survivors by itself; the step only watches the events.
 */
export const healStep: DemoStep = {
  name: 'let the array heal itself: heal policies on (as `elastripe serve` runs it), no rebuild command',
  async run(state) {
    await requireArray(state).close();
    state.array = undefined;
    const trail: ArrayEvent[] = [];
    const bar = startProgress(state.context, 'rebuild', undefined, true);
    const startMs = performance.now();
    let doneBytes = 0;
    let finish: (event: JobFinishedEvent) => void = () => undefined;
    const finished = new Promise<JobFinishedEvent>((resolve) => (finish = resolve));
    state.array = await openArray(state.home, {
      ...runtimeOptions(state.context.line),
      policies: { rebuildDelayMs: 0, autoExpand: false },
      onEvent: (event) => {
        if (event.type !== 'jobProgress') trail.push(event);
        if (event.type === 'jobProgress' && event.kind === 'rebuild') bar?.update((doneBytes = event.doneBytes), event.totalBytes);
        if (event.type === 'jobFinished' && event.kind === 'rebuild' && event.trigger === 'policy') finish(event);
      },
    });
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      finished,
      new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), HEAL_START_WAIT_MS))),
    ]).finally(() => clearTimeout(timer));
    if (!outcome) throw new ElastripeError('DEMO_REBUILD_FAILED', `the array did not rebuild by itself within ${HEAL_START_WAIT_MS / 1000} s`);
    await state.array.policiesIdle(); // the rebuilt device has left the array
    bar?.finish();
    state.timings['rebuild'] = { bytes: doneBytes, elapsedMs: performance.now() - startMs };
    if (outcome.outcome !== 'done') throw new ElastripeError('DEMO_REBUILD_FAILED', `the policy rebuild ended ${outcome.outcome}: ${outcome.detail ?? ''}`);
    if (!state.context.line.json) {
      const events = trail.map((event) => `  ${describeEvent(event)}`).join('\n');
      printText(state.context, `rebuilt ${formatBytes(doneBytes)} by itself, no rebuild command; its events:\n${events}\n\n${renderStatus(state.array.status())}`);
    }
  },
};

function describeEvent(event: ArrayEvent): string {
  switch (event.type) {
    case 'deviceMissing':
    case 'deviceFailed':
      return `${event.type} device ${event.deviceId}: ${event.reason}`;
    case 'jobStarted':
      return `jobStarted ${event.kind} #${event.jobId} (by ${event.trigger})`;
    case 'jobFinished':
      return `jobFinished ${event.kind} #${event.jobId}: ${event.outcome}`;
    default:
      return event.type;
  }
}

export const statusStep: DemoStep = {
  name: 'status',
  async run(state) {
    if (!state.context.line.json) printText(state.context, renderStatus(requireArray(state).status()));
  },
};

/** Reads every file back and checks it; reusable after later stages (degraded read, rebuild),
 * each under its own phase name in the summary. */
export function verifyStep(phase = 'read', name = 'read every file back and verify its SHA-256'): DemoStep {
  return { name, run: (state) => verifyFiles(state, phase) };
}

async function verifyFiles(state: DemoState, phase: string): Promise<void> {
  const array = requireArray(state);
  const totalBytes = state.files.reduce((sum, file) => sum + file.sizeBytes, 0);
  const bar = startProgress(state.context, phase, totalBytes, true);
  const startMs = performance.now();
  let doneBytes = 0;
  const mismatches: string[] = [];
  for (const file of state.files) {
    const hash = createHash('sha256');
    let fileBytes = 0;
    for await (const chunk of array.createReadStream(file.name, { signal: state.context.signal }) as AsyncIterable<Uint8Array>) {
      hash.update(chunk);
      fileBytes += chunk.byteLength;
      bar?.update((doneBytes += chunk.byteLength));
    }
    const sha256 = hash.digest('hex');
    if (fileBytes !== file.sizeBytes || sha256 !== file.sha256) mismatches.push(`${file.name} (${fileBytes} of ${file.sizeBytes} bytes)`);
  }
  bar?.finish();
  state.timings[phase] = { bytes: totalBytes, elapsedMs: performance.now() - startMs };
  if (mismatches.length > 0) {
    throw new ElastripeError('DEMO_VERIFY_FAILED', `${mismatches.length} file(s) read back differently from what was written: ${mismatches.slice(0, 5).join(', ')}`);
  }
  if (!state.context.line.json) printText(state.context, `all ${state.files.length} files match`);
}

/** Overwrites a few bytes inside one stored block directly in its image file, as bit rot
 * would, then scrubs: the block fails its checksum, is rebuilt from parity and rewritten. */
export const scrubStep: DemoStep = {
  name: 'rot a block on disk, then scrub it back',
  async run(state) {
    const array = requireArray(state);
    const victim = array.stat(state.files.at(-1)!.name).groups[0]!.extents[0]!;
    const device = array.status().devices.find((entry) => entry.deviceId === victim.deviceId)!;
    const handle = await open(device.path, 'r+');
    try {
      await handle.write(Buffer.from('bit rot!'), 0, 8, victim.startLb * LB_BYTES + 100);
    } finally {
      await handle.close();
    }
    const report = await array.scrub({ signal: state.context.signal });
    if (report.repairedBlocks < 1) throw new ElastripeError('DEMO_SCRUB_FAILED', `scrub did not repair the rotten block: ${report.problems.join('; ')}`);
    if (!state.context.line.json) {
      printText(state.context, `rotted device ${victim.deviceId} at LB ${victim.startLb}; scrub checked ${report.checkedGroups} groups and repaired ${report.repairedBlocks} block(s)`);
    }
  },
};

export const fsckStep: DemoStep = {
  name: 'deep fsck',
  async run(state) {
    state.fsck = await requireArray(state).fsck({ deep: true });
    if (!state.context.line.json) printText(state.context, renderFsckReport(state.fsck, true));
    if (!state.fsck.ok) throw new ElastripeError('DEMO_FSCK_FAILED', `fsck found ${state.fsck.problems.length} problem(s)`);
  },
};

/** The home is only an index: delete it and import the array from its devices alone. */
export const importStep: DemoStep = {
  name: 'delete the home and import the array from its devices alone',
  async run(state) {
    await requireArray(state).close();
    state.array = undefined;
    await rm(state.home, { recursive: true, force: true });
    state.array = await importArray(state.home, runtimeOptions(state.context.line), [], [join(state.rootDir, 'images', '*.img')]);
    const report = state.array.status().opened.imported!;
    if (!state.context.line.json) {
      printText(
        state.context,
        `imported array ${report.arrayUuid} at change ${report.seq}: ${state.array.list().length} files, ` +
          `${report.present.length} devices present, ${report.missing.length} missing, ${report.stale.length} stale`,
      );
    }
  },
};

export const summaryStep: DemoStep = {
  name: 'summary',
  async run(state) {
    const status = requireArray(state).status();
    const summary = {
      files: state.files.length,
      storedBytes: status.storedBytes,
      allocatedBytes: status.allocatedBytes,
      phases: Object.fromEntries(Object.entries(state.timings).map(([phase, timing]) => [phase, { ...timing, bytesPerSecond: rate(timing) }])),
      fsckOk: state.fsck?.ok ?? null,
      home: state.context.line.keep ? state.rootDir : null,
    };
    if (state.context.line.json) return printJson(state.context, summary);
    const lines = Object.entries(state.timings).map(
      ([phase, timing]) => `${phase.padEnd(10)} ${formatBytes(timing.bytes)} in ${formatDuration(timing.elapsedMs)}, ${formatRate(rate(timing))}`,
    );
    const overhead = status.storedBytes > 0 ? (status.allocatedBytes / status.storedBytes - 1) * 100 : 0;
    lines.push(`space      ${formatBytes(status.storedBytes)} stored in ${formatBytes(status.allocatedBytes)} (${overhead.toFixed(1)}% overhead)`);
    printText(state.context, lines.join('\n'));
  },
};

function rate(timing: PhaseTiming): number {
  return timing.elapsedMs > 0 ? (timing.bytes * 1000) / timing.elapsedMs : 0;
}

/** The tour, in order; append later stages before `summaryStep`. */
export const DEMO_STEPS: DemoStep[] = [
  createStep,
  writeStep,
  statusStep,
  verifyStep(),
  addDeviceStep,
  pullDeviceStep,
  verifyStep('degraded', 'read every file back with the device gone (degraded reads) and verify it'),
  healStep,
  verifyStep('rebuilt', 'read every file back after the rebuild and verify it'),
  scrubStep,
  fsckStep,
  importStep,
  verifyStep('imported', 'read every file back from the imported array and verify it'),
  summaryStep,
];

export function deviceBytesFor(sizeMib: number): number {
  const deviceMib = Math.max(DEVICE_MIB_MIN, Math.ceil((sizeMib * DEVICE_PER_DATA_FRACTION) / DEVICE_MIB_STEP) * DEVICE_MIB_STEP);
  return deviceMib * MIB_BYTES;
}

/** Closes the array; a close failure is reported only if no step failed before it. */
async function closeQuietlyOnFailure(state: DemoState): Promise<void> {
  const array = state.array;
  state.array = undefined;
  try {
    await array?.close();
  } catch (error) {
    state.context.io.stderr.write(`elastripe: closing the demo array failed: ${error instanceof Error ? error.message : String(error)}\n`);
  }
}

export async function runDemo(context: CommandContext): Promise<void> {
  const sizeMib = context.line.demoSizeMib ?? DEMO_SIZE_MIB_DEFAULT;
  const rootDir = await mkdtemp(join(tmpdir(), 'elastripe-demo-'));
  const state: DemoState = {
    context, rootDir, home: join(rootDir, 'home'), imagePaths: [], deviceBytes: deviceBytesFor(sizeMib),
    files: planFiles(DEMO_SEED, sizeMib * MIB_BYTES), timings: {},
  };
  await mkdir(join(rootDir, 'images'));
  try {
    for (const [index, step] of DEMO_STEPS.entries()) {
      heading(state, index, step.name);
      await step.run(state);
    }
  } finally {
    await closeQuietlyOnFailure(state);
    if (context.line.keep) context.io.stderr.write(`demo home kept at ${rootDir}\n`);
    else await rm(rootDir, { recursive: true, force: true });
  }
}
