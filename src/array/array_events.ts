// What happens to an array, as events: devices failing, going missing and returning, jobs
// starting, progressing and finishing, blocks repaired from parity, space running low. The
// heal policies (heal_policy.ts) act on them, `elastripe serve` shows them, and an embedder
// listens with array.on(type, listener), array.on('event', listener) or the onEvent option.
//
// Listeners run synchronously inside the array's own calls (a put that finds bit rot emits
// blockRepaired before it returns), so a listener must be quick and must not throw: an
// exception a listener throws is caught and reported as a process warning, never returned to
// the array call that emitted the event (a faulty dashboard must not fail a put).
//
// Invariants (assertInvariants):
//  1. The recent-events log holds at most RECENT_EVENTS_MAX events, oldest first, with `at`
//     never decreasing.
//  2. jobProgress events are rate-limited per job (JOB_PROGRESS_INTERVAL_MS) and never enter
//     the recent log (the job's progress is in status().jobs; the log keeps what happened).
/** Events kept for recentEvents() (serve's page shows them). */
export const RECENT_EVENTS_MAX = 100;
/** A job reports progress as an event at most this often (the last one always goes out). */
export const JOB_PROGRESS_INTERVAL_MS = 250;

/** Who started a job: a caller (CLI verb, library call) or a heal policy of the array itself. */
export type JobTrigger = 'request' | 'policy';
/** How a job ended (as its row in the jobs table records it). */
export type JobOutcome = 'done' | 'incomplete' | 'aborted' | 'failed';

export interface DeviceFailedEvent {
  type: 'deviceFailed';
  at: number;
  deviceId: number;
  path: string;
  reason: string;
}

/** The device stopped answering: its blocks are intact as far as we know; it may come back. */
export interface DeviceMissingEvent {
  type: 'deviceMissing';
  at: number;
  deviceId: number;
  path: string;
  reason: string;
}

export interface DeviceReturnedEvent {
  type: 'deviceReturned';
  at: number;
  deviceId: number;
  path: string;
  /** The path it was recorded at, when it returned at another one (found by UUID: a loop device re-attached as another /dev/loopN, a renumbered disk). */
  previousPath?: string;
  /** Groups whose block on the device had to be checked (written while it was away). */
  groupsToCheck: number;
  /** Its metadata ended before it left: an older copy of the device, so every group with a block on it is checked (groupsToCheck). */
  staleCopy?: boolean;
  /** Set when a policy rebuild had taken the device out and it was added back as a new member (deviceId is the new id). */
  previousDeviceId?: number;
}

export interface JobStartedEvent {
  type: 'jobStarted';
  at: number;
  jobId: number;
  /** 'rebuild', 'rebalance', 'restripe', 'scrub', 'resync 3', 'remove 3', ... */
  kind: string;
  trigger: JobTrigger;
}

export interface JobProgressEvent {
  type: 'jobProgress';
  at: number;
  jobId: number;
  kind: string;
  doneBytes: number;
  totalBytes?: number;
}

export interface JobFinishedEvent {
  type: 'jobFinished';
  at: number;
  jobId: number;
  kind: string;
  trigger: JobTrigger;
  outcome: JobOutcome;
  /** Why it failed or what it left (first problem), when it did not finish cleanly. */
  detail?: string;
}

/** A block rebuilt from parity and rewritten in place (bit rot, a bad sector). */
export interface BlockRepairedEvent {
  type: 'blockRepaired';
  at: number;
  groupId: number;
  deviceId: number;
}

/** Free space fell under the low-space threshold (emitted once per crossing). */
export interface LowSpaceEvent {
  type: 'lowSpace';
  at: number;
  freeBytes: number;
  capacityBytes: number;
}

export type ArrayEvent =
  | DeviceFailedEvent
  | DeviceMissingEvent
  | DeviceReturnedEvent
  | JobStartedEvent
  | JobProgressEvent
  | JobFinishedEvent
  | BlockRepairedEvent
  | LowSpaceEvent;

export type ArrayEventType = ArrayEvent['type'];

export const ARRAY_EVENT_TYPES: readonly ArrayEventType[] = [
  'deviceFailed',
  'deviceMissing',
  'deviceReturned',
  'jobStarted',
  'jobProgress',
  'jobFinished',
  'blockRepaired',
  'lowSpace',
];

/** The event of a type (ArrayEventOf<'deviceFailed'> is DeviceFailedEvent). */
export type ArrayEventOf<T extends ArrayEventType> = Extract<ArrayEvent, { type: T }>;

/** What a listener of `type` receives: 'event' gets every event. */
export type ArrayEventListener<T extends ArrayEventType | 'event'> = (event: T extends ArrayEventType ? ArrayEventOf<T> : ArrayEvent) => void;

/** An event as emitted: `at` is filled in by the bus. */
export type ArrayEventInput = ArrayEvent extends infer E ? (E extends ArrayEvent ? Omit<E, 'at'> : never) : never;

/**
 * The array's event bus: emits each event under its type and under 'event', hands it to the
 * onEvent callback, and keeps the recent ones.
 */
export class ArrayEventBus {
  private readonly listeners = new Map<string, ((event: ArrayEvent) => void)[]>();
  private readonly recent: ArrayEvent[] = [];
  /** Last jobProgress emission per job id (rate limit). */
  private readonly lastProgressMs = new Map<number, number>();

  constructor(private readonly onEvent?: (event: ArrayEvent) => void) {}

  on<T extends ArrayEventType | 'event'>(type: T, listener: ArrayEventListener<T>): void {
    const list = this.listeners.get(type) ?? [];
    list.push(listener as (event: ArrayEvent) => void);
    this.listeners.set(type, list);
  }

  once<T extends ArrayEventType | 'event'>(type: T, listener: ArrayEventListener<T>): void {
    const wrapper = ((event: ArrayEvent) => {
      this.off(type, wrapper as ArrayEventListener<T>);
      (listener as (event: ArrayEvent) => void)(event);
    }) as ArrayEventListener<T>;
    (wrapper as { listener?: unknown }).listener = listener;
    this.on(type, wrapper);
  }

  /** Removes a listener added with on() or once() (the first registration of it). */
  off<T extends ArrayEventType | 'event'>(type: T, listener: ArrayEventListener<T>): void {
    const list = this.listeners.get(type);
    if (!list) return;
    const i = list.findIndex((candidate) => candidate === listener || (candidate as { listener?: unknown }).listener === listener);
    if (i >= 0) list.splice(i, 1);
  }

  /** Emits an event now (`at` = Date.now()). jobProgress is dropped when one of its job went out less than JOB_PROGRESS_INTERVAL_MS ago, unless `force`. */
  emit(input: ArrayEventInput, force = false): ArrayEvent | undefined {
    const at = Date.now();
    const event = { ...input, at } as ArrayEvent;
    if (event.type === 'jobProgress') {
      const last = this.lastProgressMs.get(event.jobId);
      if (!force && last !== undefined && at - last < JOB_PROGRESS_INTERVAL_MS) return undefined;
      this.lastProgressMs.set(event.jobId, at);
    } else {
      if (event.type === 'jobFinished') this.lastProgressMs.delete(event.jobId);
      this.recent.push(event);
      if (this.recent.length > RECENT_EVENTS_MAX) this.recent.splice(0, this.recent.length - RECENT_EVENTS_MAX);
    }
    // Each listener on its own: one that throws does not keep the event from the others. The
    // lists are copied first, so a listener that removes itself (once) skips no other.
    const listeners = [...(this.listeners.get(event.type) ?? []), ...(this.listeners.get('event') ?? [])];
    if (this.onEvent) this.deliver(this.onEvent, event);
    for (const listener of listeners) this.deliver(listener, event);
    return event;
  }

  /** The last RECENT_EVENTS_MAX events (jobProgress excluded), oldest first. */
  recentEvents(): ArrayEvent[] {
    return this.recent.slice();
  }

  removeAllListeners(): void {
    this.listeners.clear();
  }

  assertInvariants(): void {
    if (this.recent.length > RECENT_EVENTS_MAX) throw new Error(`array events: ${this.recent.length} recent events kept, more than ${RECENT_EVENTS_MAX}`);
    for (let i = 1; i < this.recent.length; i++) {
      if (this.recent[i]!.at < this.recent[i - 1]!.at) throw new Error('array events: recent events out of order');
    }
    if (this.recent.some((event) => event.type === 'jobProgress')) throw new Error('array events: a jobProgress event in the recent log');
  }

  /** A listener's exception is reported, never thrown into the array call that emitted. */
  private deliver(listener: (event: ArrayEvent) => void, event: ArrayEvent): void {
    try {
      listener(event);
    } catch (error) {
      process.emitWarning(`an elastripe event listener threw: ${error instanceof Error ? error.message : String(error)}`, 'ElastripeEventListenerWarning');
    }
  }
}
