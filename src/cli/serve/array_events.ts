// serve's view of the array's events (deviceFailed, jobStarted, blockRepaired, ...: the array
// layer's, src/array/array_events.ts) and the policies it opens the array with (automatic
// rebuild, expansion, probes: src/array/heal_policy_options.ts): counts by type for /metrics,
// and the recent ones for the status page and the log.
import type { ArrayEvent } from '../../array/array_events.js';
import type { OpenOptions } from '../../array/types.js';
import type { ArrayHandle } from '../array_access.js';

/** OpenOptions with the heal policies on, at the array's defaults (DEFAULT_POLICIES). */
export function withPolicies(options: OpenOptions): OpenOptions {
  return { ...options, policies: true };
}

/** Follows the array's events: counts them by type, and passes each on (serve logs them). */
export class ArrayEventLog {
  readonly countsByType = new Map<string, number>();
  private readonly listener = (event: ArrayEvent): void => {
    this.countsByType.set(event.type, (this.countsByType.get(event.type) ?? 0) + 1);
    this.onEvent(event);
  };

  constructor(private readonly array: ArrayHandle, private readonly onEvent: (event: ArrayEvent) => void = () => undefined) {
    array.on('event', this.listener);
  }

  /** The array's recent events, oldest first (jobProgress is not among them). */
  recentEvents(): ArrayEvent[] {
    return this.array.recentEvents();
  }

  close(): void {
    this.array.off('event', this.listener);
  }
}

/** One line for the log: "deviceFailed deviceId=2 path=/dev/loop3 reason=...". */
export function describeEvent(event: ArrayEvent): string {
  const details = Object.entries(event)
    .filter(([key]) => key !== 'type' && key !== 'at')
    .map(([key, value]) => `${key}=${typeof value === 'object' ? JSON.stringify(value) : String(value)}`);
  return [event.type, ...details].join(' ');
}
