// serve's view of the array's events and policies (deviceFailed, jobStarted, blockRepaired, ...,
// and OpenOptions.policies: automatic rebuild, expansion, scrub, probes), which the array layer
// owns. One adapter, so serve works against the array whichever of its versions is built: an
// array without events simply has none to show.
import type { OpenOptions } from '../../array/types.js';
import type { ArrayHandle } from '../array_access.js';

/** One event as serve shows it (the array's ArrayEvent, reduced to what is printable). */
export interface ServedEvent {
  type: string;
  timeMs: number;
  [detail: string]: unknown;
}

/** Events kept for the status page and /events.json when the array keeps none itself. */
const RECENT_EVENTS_KEPT = 100;

/** The policies serve turns on: the array's own defaults, with expansion after add on. */
export function servePolicies(): Record<string, unknown> {
  return { autoExpand: true };
}

/** OpenOptions with the policies on (an array without policies ignores the field). */
export function withPolicies(options: OpenOptions): OpenOptions {
  return { ...options, policies: servePolicies() } as OpenOptions;
}

interface EventSource {
  on?: (name: 'event', listener: (event: unknown) => void) => unknown;
  off?: (name: 'event', listener: (event: unknown) => void) => unknown;
  recentEvents?: () => unknown[];
}

/** Follows the array's events: counts them by type and keeps the recent ones. */
export class ArrayEventLog {
  readonly countsByType = new Map<string, number>();
  private readonly recent: ServedEvent[] = [];
  private readonly listener = (event: unknown): void => this.record(event);
  readonly supported: boolean;

  constructor(private readonly array: ArrayHandle, private readonly onEvent: (event: ServedEvent) => void = () => undefined) {
    const source = array as unknown as EventSource;
    this.supported = typeof source.on === 'function';
    if (this.supported) source.on!('event', this.listener);
  }

  /** Newest last, at most RECENT_EVENTS_KEPT. */
  recentEvents(): ServedEvent[] {
    const source = this.array as unknown as EventSource;
    const fromArray = typeof source.recentEvents === 'function' ? source.recentEvents().map(normalize) : undefined;
    return (fromArray ?? this.recent).slice(-RECENT_EVENTS_KEPT);
  }

  close(): void {
    const source = this.array as unknown as EventSource;
    if (this.supported) source.off?.('event', this.listener);
  }

  private record(raw: unknown): void {
    const event = normalize(raw);
    this.countsByType.set(event.type, (this.countsByType.get(event.type) ?? 0) + 1);
    this.recent.push(event);
    if (this.recent.length > RECENT_EVENTS_KEPT) this.recent.shift();
    this.onEvent(event);
  }
}

function normalize(raw: unknown): ServedEvent {
  const event = (typeof raw === 'object' && raw !== null ? raw : { type: String(raw) }) as Record<string, unknown>;
  const type = typeof event['type'] === 'string' ? event['type'] : 'unknown';
  const timeMs = typeof event['timeMs'] === 'number' ? event['timeMs'] : typeof event['atMs'] === 'number' ? event['atMs'] : Date.now();
  const out: ServedEvent = { type, timeMs };
  for (const [key, value] of Object.entries(event)) {
    if (key === 'type' || key === 'timeMs') continue;
    if (value === null || ['string', 'number', 'boolean'].includes(typeof value)) out[key] = value;
    else if (value instanceof Error) out[key] = value.message;
    else {
      try {
        out[key] = JSON.parse(JSON.stringify(value)) as unknown;
      } catch {
        out[key] = String(value);
      }
    }
  }
  return out;
}
