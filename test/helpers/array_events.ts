// Waiting for an array's events in tests: the first matching one, or a failure after a bound
// that names what was awaited and the events seen last.
import type { ArrayEvent, ArrayEventType } from '../../src/array/array_events.js';
import type { DiskArray } from '../../src/array/disk_array.js';

/** Nothing a test waits for here should take longer than this to happen by itself. */
export const EVENT_WAIT_MS = 20_000;

/** Resolves with the first event of `type` that `match` accepts, or rejects after `waitMs`. */
export function nextEvent(
  target: DiskArray, type: ArrayEventType, match: (event: ArrayEvent) => boolean = () => true, waitMs = EVENT_WAIT_MS,
): Promise<ArrayEvent> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      target.off(type, listener);
      reject(new Error(`no ${type} event within ${waitMs} ms; recent: ${JSON.stringify(target.recentEvents().slice(-8))}`));
    }, waitMs);
    const listener = (event: ArrayEvent): void => {
      if (!match(event)) return;
      clearTimeout(timer);
      target.off(type, listener);
      resolve(event);
    };
    target.on(type, listener);
  });
}
