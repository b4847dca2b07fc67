// Throughput over time for the status page: a sample of the device I/O counters every interval,
// the last SAMPLES_KEPT of them (bounded memory, whatever the uptime). The page turns
// consecutive samples into rates.
import type { IoCounters } from './io_counters.js';

/** Five minutes at one sample a second. */
const SAMPLES_KEPT = 300;

export interface ThroughputSample {
  timeMs: number;
  readBytes: number;
  writtenBytes: number;
  devices: Record<string, { readBytes: number; writtenBytes: number }>;
}

export class ThroughputHistory {
  private readonly kept: ThroughputSample[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly counters: IoCounters, private readonly intervalMs: number) {}

  start(): void {
    this.sample();
    this.timer = setInterval(() => this.sample(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Oldest first; the newest is taken now, so a page sees up-to-date totals. */
  samples(): ThroughputSample[] {
    return [...this.kept, this.take()];
  }

  private sample(): void {
    this.kept.push(this.take());
    if (this.kept.length > SAMPLES_KEPT) this.kept.shift();
  }

  private take(): ThroughputSample {
    const devices: ThroughputSample['devices'] = {};
    for (const [path, counts] of this.counters.entries()) devices[path] = { readBytes: counts.readBytes, writtenBytes: counts.writtenBytes };
    return { timeMs: Date.now(), ...this.counters.totals(), devices };
  }
}
