// Turning a step's operations into calls on the array, and judging their outcomes.
//
// Planning runs synchronously, in the step's order, against the state at the step's start:
// it resolves fractions to devices and names to sizes and ranges, and tracks what a delete or
// a get will see when called (both act before their first await). Judging decides which
// outcomes are allowed: an operation that settled after a power loss may end any way; an I/O
// error or NO_SPACE is allowed only when the step injected faults or took devices away (or
// space is low); a get must return the bytes of a version the name held when it was called.
import { Readable } from 'node:stream';
import type { DiskArray } from '../../src/array/disk_array.js';
import { ElastripeError } from '../../src/errors.js';
import { NO_FAULTS, type SimFaultRates, type SimStorage } from './sim_device.js';
import { describeMismatch, type FileState, type SimModel, type Version } from './sim_model.js';
import type { LayoutSnapshot } from './sim_oracle.js';
import type { ReadVia, SimOp } from './sim_ops.js';
import { contentBytes, SimRng } from './sim_rng.js';

/** Devices an array keeps at most (addDevice is skipped beyond). */
export const DEVICES_MAX = 9;

export interface PlanContext {
  array: () => DiskArray;
  model: SimModel;
  storage: SimStorage;
  snapshot: LayoutSnapshot;
  parityCount: number;
  storedBytesMax: number;
  /** Disks the fault budget already counts (down, gone or damaged); planning adds to it. */
  afflicted: Set<string>;
  /** What a synchronous call on a name sees right now (planning updates it as deletes run). */
  visible: Map<string, ReadonlySet<FileState>>;
  /**
   * The step's synchronous metadata changes (deletes, renames) in call order, each with the
   * states it left: they commit when called, before any put of the step commits.
   */
  syncOps: { opIndex: number; after: Map<string, ReadonlySet<FileState>> }[];
  /** Index of the operation being planned (set by the caller). */
  opIndex: number;
  rng: SimRng;
  reopen: () => Promise<void>;
  newDiskPath: () => string;
  ratesFor: (path: string) => SimFaultRates;
  diskSeedFor: (path: string) => number;
}

export interface Outcome {
  ok: boolean;
  value?: unknown;
  error?: unknown;
  /** Settled after a power loss in this step: it may have taken effect or not. */
  afterCrash: boolean;
}

/** What else happened in the step, for judging. */
export interface StepFacts {
  /** Faults were injected while it ran, or devices were failed, removed or lost. */
  disturbed: boolean;
  /** Few devices left or some device nearly full: NO_SPACE is plausible. */
  lowSpace: boolean;
}

export interface PlannedOp {
  op: SimOp;
  /** Why the operation was not run (no eligible target, over a limit). */
  skipped?: string;
  start: () => Promise<unknown>;
  /** A failure message, or undefined when the outcome is allowed. */
  judge: (outcome: Outcome, facts: StepFacts) => string | undefined;
  /** For puts: the name and the version it writes. */
  put?: { name: string; version: Version };
  /** Takes devices away (or may): errors elsewhere in the step are then plausible. */
  disturbs?: boolean;
  /** What an acknowledged outcome promises about the array's devices (checked after the step). */
  promises?: (value: unknown) => DevicePromise[];
}

/** A device change an acknowledged call made, which must survive (power losses included). */
export type DevicePromise = { deviceId: number; is: 'present' | 'absent' | 'down' };

export function planOp(context: PlanContext, op: SimOp): PlannedOp {
  switch (op.kind) {
    case 'put':
      return planPut(context, op);
    case 'get':
      return planGet(context, op);
    case 'delete':
      return planDelete(context, op);
    case 'rename':
      return planRename(context, op);
    case 'addDevice':
      return planAddDevice(context, op);
    case 'failDevice':
      return planFailDevice(context, op);
    case 'removeDevice':
      return planRemoveDevice(context, op);
    case 'reopen':
      return { op, start: () => context.reopen(), judge: judgeStrict };
    case 'rebuild':
      return {
        op,
        start: () => context.array().rebuild({ signal: abortSignal(op.abortAfterTurns) }),
        judge: judgeAbortable(op.abortAfterTurns),
        promises: (value) => (value as { removedDeviceIds: number[] }).removedDeviceIds.map((deviceId) => ({ deviceId, is: 'absent' as const })),
      };
    case 'rebalance':
      return { op, start: () => context.array().rebalance({ signal: abortSignal(op.abortAfterTurns) }), judge: judgeAbortable(op.abortAfterTurns) };
    case 'restripe':
      return { op, start: () => context.array().restripe({ signal: abortSignal(op.abortAfterTurns) }), judge: judgeAbortable(op.abortAfterTurns) };
    case 'scrub':
      return { op, start: () => context.array().scrub({ signal: abortSignal(op.abortAfterTurns) }), judge: judgeAbortable(op.abortAfterTurns) };
    case 'expand':
      return { op, start: () => context.array().expand({ signal: abortSignal(op.abortAfterTurns) }), judge: judgeAbortable(op.abortAfterTurns) };
  }
}

function skip(op: SimOp, why: string): PlannedOp {
  return { op, skipped: why, start: async () => undefined, judge: () => undefined };
}

function codeOf(error: unknown): string {
  return error instanceof ElastripeError ? error.code : `untyped ${(error as Error)?.name ?? typeof error}`;
}

function describeError(error: unknown): string {
  // An untyped error is a bug in itself: keep where it came from.
  const where = error instanceof ElastripeError ? '' : `\n${((error as Error)?.stack ?? '').split('\n').slice(1, 6).join('\n')}`;
  return `${codeOf(error)}: ${(error as Error)?.message ?? String(error)}${where}`;
}

/** Errors a disturbed step (or a full array) may cause; anything else is a failure. */
function plausible(error: unknown, facts: StepFacts): boolean {
  const code = codeOf(error);
  if (code === 'NO_SPACE') return facts.disturbed || facts.lowSpace;
  return (code === 'DEVICE_IO' || code === 'DEVICE_FAILED') && facts.disturbed;
}

/** A signal aborted after `turns` event-loop turns (setImmediate: deterministic), or none. */
function abortSignal(turns: number | undefined): AbortSignal | undefined {
  if (turns === undefined) return undefined;
  const controller = new AbortController();
  let left = turns;
  const turn = () => (left-- <= 0 ? controller.abort() : setImmediate(turn));
  setImmediate(turn);
  return controller.signal;
}

/** A job or put that was asked to abort may end ABORTED (and a job resumes on its next run). */
function judgeAbortable(abortAfterTurns: number | undefined): PlannedOp['judge'] {
  return (outcome, facts) => (abortAfterTurns !== undefined && codeOf(outcome.error) === 'ABORTED' ? undefined : judgeJob(outcome, facts));
}

function judgeStrict(outcome: Outcome): string | undefined {
  if (outcome.ok || outcome.afterCrash) return undefined;
  return `failed: ${describeError(outcome.error)}`;
}

function judgeJob(outcome: Outcome, facts: StepFacts): string | undefined {
  if (outcome.ok || outcome.afterCrash || plausible(outcome.error, facts)) return undefined;
  return `failed: ${describeError(outcome.error)}`;
}

function visibleOf(context: PlanContext, name: string): ReadonlySet<FileState> {
  return context.visible.get(name) ?? context.model.possible(name);
}

function planPut(context: PlanContext, op: Extract<SimOp, { kind: 'put' }>): PlannedOp {
  const room = Math.max(0, context.storedBytesMax - context.model.storedBytesMax());
  const bytes = contentBytes(Math.min(op.sizeBytes, room), op.contentSeed);
  const version = context.model.newVersion(bytes);
  const chunkRng = context.rng.fork(`put-${op.contentSeed}`);
  return {
    op,
    put: { name: op.name, version },
    start: () => context.array().put(op.name, op.stream ? Readable.from(chunked(bytes, chunkRng)) : bytes, { signal: abortSignal(op.abortAfterTurns) }),
    judge: judgeAbortable(op.abortAfterTurns),
  };
}

/** A stream's chunks: random sizes from one byte to a few hundred KiB. */
function chunked(bytes: Buffer, rng: SimRng): Buffer[] {
  const chunks: Buffer[] = [];
  for (let at = 0; at < bytes.length; ) {
    const length = Math.min(bytes.length - at, rng.chance(0.2) ? rng.between(1, 4096) : rng.between(4096, 300 * 1024));
    chunks.push(bytes.subarray(at, at + length));
    at += length;
  }
  return chunks;
}

function planGet(context: PlanContext, op: Extract<SimOp, { kind: 'get' }>): PlannedOp {
  const visible = visibleOf(context, op.name);
  const version = [...visible].find((state): state is Version => state !== null);
  let range: { offset: number; length: number } | undefined;
  if (version) {
    const offset = Math.floor(op.offsetFraction * version.bytes.length);
    range = { offset, length: Math.floor(op.lengthFraction * (version.bytes.length - offset)) };
  }
  return {
    op,
    start: () => readVia(context.array(), op.name, range, op.via ?? 'get'),
    judge: (outcome) => {
      if (outcome.afterCrash) return undefined;
      if (!outcome.ok) {
        if (codeOf(outcome.error) === 'NOT_FOUND' && visible.has(null)) return undefined;
        return `failed: ${describeError(outcome.error)}`;
      }
      const bytes = outcome.value as Buffer;
      const slices = new Set([...visible].filter((state): state is Version => state !== null).map((state) => sliceOf(state, range)));
      if ([...slices].some((slice) => slice.equals(bytes))) return undefined;
      const allowed = new Set<FileState>([...visible].map((state) => (state ? { id: state.id, bytes: sliceOf(state, range) } : null)));
      return `returned bytes of no version it could see (range ${range?.offset}+${range?.length}; ${describeMismatch(allowed, bytes)})`;
    },
  };
}

/** Reads a name (or a range of it) the way `via` says, into a Buffer. */
async function readVia(array: DiskArray, name: string, range: { offset: number; length: number } | undefined, via: ReadVia): Promise<Buffer> {
  if (via === 'get') return array.get(name, range ?? {});
  if (via === 'stream') {
    const parts: Buffer[] = [];
    for await (const part of array.createReadStream(name, range ?? {})) parts.push(part as Buffer);
    return Buffer.concat(parts);
  }
  // readInto reads as many bytes as fit from the offset: size the target to the range.
  const target = Buffer.alloc(range?.length ?? array.stat(name).sizeBytes);
  const read = await array.readInto(name, target, { offset: range?.offset ?? 0 });
  return target.subarray(0, read);
}

function sliceOf(version: Version, range: { offset: number; length: number } | undefined): Buffer {
  return range ? version.bytes.subarray(range.offset, range.offset + range.length) : version.bytes;
}

/** The one state a name is in when a synchronous call sees it (undefined: uncertain). */
function certainState(context: PlanContext, name: string): FileState | undefined {
  const visible = visibleOf(context, name);
  return visible.size === 1 ? [...visible][0]! : undefined;
}

function recordSync(context: PlanContext, after: [string, FileState][]): void {
  const changes = new Map<string, ReadonlySet<FileState>>();
  for (const [name, state] of after) {
    context.visible.set(name, new Set([state]));
    changes.set(name, new Set([state]));
  }
  context.syncOps.push({ opIndex: context.opIndex, after: changes });
}

/** Judges a synchronous call whose outcome is known in advance: ok, or one error code. */
function judgeExpected(expected: 'ok' | string, what: string): PlannedOp['judge'] {
  return (outcome, facts) => {
    if (outcome.afterCrash) return undefined;
    if (outcome.ok) return expected === 'ok' ? undefined : `succeeded, but ${what} should have failed with ${expected}`;
    const code = codeOf(outcome.error);
    if (code === expected) return undefined;
    // The change is committed locally; only a journal that no device took fails it (faults).
    if (expected === 'ok' && plausible(outcome.error, facts) && code !== 'NO_SPACE') return undefined;
    return `failed (${describeError(outcome.error)}), expected ${expected}`;
  };
}

function planDelete(context: PlanContext, op: Extract<SimOp, { kind: 'delete' }>): PlannedOp {
  const state = certainState(context, op.name);
  if (state === undefined) return skip(op, 'the name is uncertain');
  if (state !== null) recordSync(context, [[op.name, null]]);
  return { op, start: () => context.array().delete(op.name), judge: judgeExpected(state ? 'ok' : 'NOT_FOUND', `delete ${op.name}`) };
}

function planRename(context: PlanContext, op: Extract<SimOp, { kind: 'rename' }>): PlannedOp {
  const from = certainState(context, op.name);
  const to = certainState(context, op.to);
  if (from === undefined || to === undefined) return skip(op, 'a name is uncertain');
  let expected = 'ok';
  if (from === null) expected = 'NOT_FOUND';
  else if (op.name !== op.to && to !== null && !op.replace) expected = 'INVALID_ARGUMENT';
  else if (op.name !== op.to) recordSync(context, [[op.name, null], [op.to, from]]);
  return {
    op,
    start: () => context.array().rename(op.name, op.to, { replace: op.replace }),
    judge: judgeExpected(expected, `rename ${op.name} to ${op.to}`),
  };
}

/** Array devices that are online and whose disk is present, in deviceId order. */
function onlineDevices(context: PlanContext): { deviceId: number; path: string }[] {
  return [...context.snapshot.devices.values()].filter((device) => device.online && context.storage.disk(device.path).present);
}

/** Whether the fault budget allows one more afflicted disk. */
export function budgetAllows(context: Pick<PlanContext, 'afflicted' | 'parityCount'>, path: string): boolean {
  return context.afflicted.has(path) || context.afflicted.size + 1 <= context.parityCount;
}

function planFailDevice(context: PlanContext, op: Extract<SimOp, { kind: 'failDevice' }>): PlannedOp {
  const online = onlineDevices(context);
  const eligible = online.filter((device) => budgetAllows(context, device.path));
  if (online.length < context.parityCount + 3 || eligible.length === 0) return skip(op, 'no device may fail now');
  const target = eligible[Math.floor(op.pick * eligible.length)]!;
  context.afflicted.add(target.path);
  return {
    op,
    disturbs: true,
    start: () => context.array().failDevice(target.deviceId, 'failed by the simulator'),
    judge: judgeStrict,
    promises: () => [{ deviceId: target.deviceId, is: 'down' }],
  };
}

function planRemoveDevice(context: PlanContext, op: Extract<SimOp, { kind: 'removeDevice' }>): PlannedOp {
  const online = onlineDevices(context);
  if (online.length < context.parityCount + 3) return skip(op, 'too few devices to remove one');
  const target = online[Math.floor(op.pick * online.length)]!;
  return {
    op,
    disturbs: true,
    start: () => context.array().removeDevice(target.deviceId),
    judge: judgeJob,
    promises: () => [{ deviceId: target.deviceId, is: 'absent' }],
  };
}

function planAddDevice(context: PlanContext, op: Extract<SimOp, { kind: 'addDevice' }>): PlannedOp {
  if (context.snapshot.devices.size >= DEVICES_MAX) return skip(op, `the array has ${DEVICES_MAX} devices`);
  const inArray = new Set([...context.snapshot.devices.values()].map((device) => device.path));
  // A spare still carrying damage from an earlier life joins as an afflicted disk: only within the budget.
  const spares = [...context.storage.disks.values()].filter(
    (disk) => disk.present && !inArray.has(disk.path) && disk.handles.size === 0 && (disk.badPages().size === 0 || budgetAllows(context, disk.path)),
  );
  let path: string;
  let force = false;
  if (op.reuseSpare && spares.length > 0) {
    // A disk that was in the array (failed, removed or rebuilt away) is refused without force.
    path = spares[Math.floor(context.rng.next() * spares.length)]!.path;
    force = true;
    if (context.storage.disk(path).badPages().size > 0) context.afflicted.add(path);
  } else {
    path = context.newDiskPath();
    context.storage.createDisk(path, op.sizeMib * 1024 * 1024, context.ratesFor(path) ?? NO_FAULTS, context.diskSeedFor(path));
  }
  // A disk with a latent sector error (left from an earlier life) may refuse its superblock read.
  const damaged = [...context.storage.disk(path).badPages().values()].includes('latent');
  return {
    op,
    start: () => context.array().addDevice(path, { force, ...(op.noExpand ? { expand: false } : {}) }),
    // A damaged spare joins the fault atlas, so its I/O may fail like any afflicted disk's.
    judge: (outcome, facts) => (damaged && codeOf(outcome.error) === 'DEVICE_IO' ? undefined : judgeJob(outcome, facts)),
    promises: (value) => [{ deviceId: (value as { deviceId: number }).deviceId, is: 'present' }],
  };
}
