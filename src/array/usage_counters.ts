// The array's local statistics — degraded reads, blocks repaired in place, read errors per
// device — kept in the home's database so `status` shows the array's history, not just this
// process's. They are local (like the jobs table) and never journaled on the devices.
//
// A degraded array reconstructs on every read of a group that touches a lost device, so a
// commit (an fsync of the WAL) per increment would slow exactly the reads that are already
// slow: increments gather in memory and are saved at most once per SAVE_DELAY_MS, and at close.
// A crash loses at most that last second of counts, never anything else.

/** Where counters are kept: MetaStore (undefined for a read-only open, which saves nothing). */
export interface CounterStore {
  counters(): Map<string, number>;
  addCounters(deltas: ReadonlyMap<string, number>): void;
}

/** Counts not yet saved wait at most this long. */
const SAVE_DELAY_MS = 1000;

export const DEGRADED_READS = 'degradedReads';
export const REPAIRED_BLOCKS = 'repairedBlocks';

export function readErrorsKey(deviceId: number): string {
  return `readErrors.${deviceId}`;
}

export class UsageCounters {
  private readonly totals: Map<string, number>;
  private readonly unsaved = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly store: CounterStore | undefined) {
    this.totals = store?.counters() ?? new Map();
  }

  bump(key: string, by = 1): void {
    this.totals.set(key, this.get(key) + by);
    if (!this.store) return;
    this.unsaved.set(key, (this.unsaved.get(key) ?? 0) + by);
    this.timer ??= setTimeout(() => {
      try {
        this.save();
      } catch {
        // Statistics only: a home that cannot take them (disk full) must not stop the array.
      }
    }, SAVE_DELAY_MS).unref();
  }

  get(key: string): number {
    return this.totals.get(key) ?? 0;
  }

  /** Writes the counts gathered since the last save (call before the store closes). */
  save(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.store || this.unsaved.size === 0) return;
    const deltas = new Map(this.unsaved);
    this.unsaved.clear();
    this.store.addCounters(deltas);
  }
}
