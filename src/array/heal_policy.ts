// The heal policies: what the array does by itself while a long-lived owner keeps it open.
//  - Redundancy lost (a device missing or failed): a rebuild starts rebuildDelayMs later, if a
//    device is still away then and parity covers what is lost (more than m away: it waits for
//    devices to return instead). The delay lets a device that blinks come back as missing-then-
//    returned, which costs a resync of a few groups instead of a rebuild.
//  - A device added (not a spare, no explicit `expand` option): the expand job (combine +
//    rebalance) runs in the background instead of inside addDevice.
//  - Every scrubIntervalMs: a scrub (resumable: it continues after the last one's cursor).
//
// Policy jobs are the array's ordinary jobs (rows in the jobs table, events with trigger
// 'policy', throttled to rateBytesPerSec, resumable) run one at a time through one queue; each
// has its own AbortController, so close() (and a returning device, for a rebuild) cancels it
// and the next run continues where it stopped. A failing policy job is reported by its
// jobFinished event and its job row, never thrown at anyone.
//
// States of the policy: running (timers armed) -> closed (timers cleared, the job in flight
// aborted and awaited). Invariants (assertInvariants):
//  1. At most one policy job runs at a time, and each kind is queued at most once.
//  2. Once closed, no timer is armed and nothing is queued.
import type { ArrayJobOptions } from './disk_array.js';
import type { ArrayPolicies } from './types.js';

export type PolicyJobKind = 'rebuild' | 'expand' | 'scrub';

export interface HealContext {
  /** How many devices are away (missing or failed), and whether parity covers them all. */
  lost: () => { count: number; coveredByParity: boolean };
  /** The array has a device away (a scrub then waits: it would only report the missing blocks). */
  degraded: () => boolean;
  rebuild: (options: ArrayJobOptions) => Promise<unknown>;
  expand: (options: ArrayJobOptions) => Promise<unknown>;
  scrub: (options: ArrayJobOptions) => Promise<unknown>;
}

export class HealPolicy {
  private rebuildTimer: NodeJS.Timeout | undefined;
  private scrubTimer: NodeJS.Timeout | undefined;
  private readonly queued = new Set<PolicyJobKind>();
  private running: { kind: PolicyJobKind; controller: AbortController; done: Promise<unknown> } | undefined;
  private chain: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(
    private readonly context: HealContext,
    readonly policies: Readonly<ArrayPolicies>,
  ) {}

  /** Arms the scrub timer, and schedules a rebuild if redundancy is already lost (found at open). */
  start(): void {
    if (Number.isFinite(this.policies.scrubIntervalMs)) {
      this.scrubTimer = setInterval(() => {
        if (!this.context.degraded()) this.enqueue('scrub');
      }, this.policies.scrubIntervalMs).unref();
    }
    if (this.context.lost().count > 0) this.redundancyLost();
  }

  /** A device went missing or failed: a rebuild is due in rebuildDelayMs (once, however many devices go). */
  redundancyLost(): void {
    if (this.closed || this.rebuildTimer || !Number.isFinite(this.policies.rebuildDelayMs)) return;
    this.rebuildTimer = setTimeout(() => {
      this.rebuildTimer = undefined;
      const lost = this.context.lost();
      // Nothing away any more (it returned), or more than parity covers (wait for devices).
      if (lost.count > 0 && lost.coveredByParity) this.enqueue('rebuild');
    }, this.policies.rebuildDelayMs).unref();
  }

  /** A device returned: a pending rebuild is dropped when nothing is away any more. */
  deviceReturned(): void {
    if (this.context.lost().count === 0 && this.rebuildTimer) {
      clearTimeout(this.rebuildTimer);
      this.rebuildTimer = undefined;
    }
  }

  /** A (non-spare) device joined: spread the data onto it. */
  deviceAdded(): void {
    if (this.policies.autoExpand) this.enqueue('expand');
  }

  /** The policy job running now, if any. */
  runningKind(): PolicyJobKind | undefined {
    return this.running?.kind;
  }

  /** Aborts the policy rebuild in flight (a device it evacuates came back); resolves once it settled. */
  async abortRebuild(): Promise<void> {
    const running = this.running;
    if (running?.kind !== 'rebuild') return;
    running.controller.abort();
    await running.done.catch(() => undefined);
  }

  /** Resolves when the queue is empty (every policy job queued so far has finished). */
  async settled(): Promise<void> {
    let chain: Promise<void>;
    do {
      chain = this.chain;
      await chain;
    } while (chain !== this.chain);
  }

  /** Clears the timers, aborts the job in flight (it is resumable) and waits for it. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.rebuildTimer);
    clearInterval(this.scrubTimer);
    this.rebuildTimer = undefined;
    this.scrubTimer = undefined;
    this.queued.clear();
    this.running?.controller.abort();
    await this.settled();
  }

  assertInvariants(): void {
    if (this.queued.size > 3) throw new Error(`heal policy: ${this.queued.size} jobs queued, more than there are kinds`);
    if (this.closed && (this.rebuildTimer || this.scrubTimer || this.queued.size > 0)) throw new Error('heal policy: closed with a timer armed or a job queued');
  }

  private enqueue(kind: PolicyJobKind): void {
    if (this.closed || this.queued.has(kind)) return;
    this.queued.add(kind);
    this.chain = this.chain.then(() => this.runOne(kind));
  }

  private async runOne(kind: PolicyJobKind): Promise<void> {
    this.queued.delete(kind);
    if (this.closed) return;
    const controller = new AbortController();
    const options: ArrayJobOptions = { trigger: 'policy', signal: controller.signal, ...(this.policies.rateBytesPerSec === undefined ? {} : { rateBytesPerSec: this.policies.rateBytesPerSec }) };
    const done = this.context[kind](options);
    this.running = { kind, controller, done };
    try {
      await done;
    } catch {
      // Reported by the job's jobFinished event and its row (failed, aborted); a refused start
      // (e.g. TOO_MANY_ERASURES) waits for the next event that makes the policy try again.
    } finally {
      this.running = undefined;
    }
  }
}
