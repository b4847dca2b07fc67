// The heal policies' settings: defaults and validation of what a caller passed (OpenOptions.policies).
import { InvalidArgumentError } from '../errors.js';
import type { ArrayPolicies, LiveOptions } from './types.js';

/**
 * What `policies: true` means. A rebuild waits a few seconds, so a device that blinks (an NBD
 * server restarted, a cable reseated) comes back as missing-then-returned without a rebuild;
 * probes every 2 s notice a dead idle device within seconds at the cost of one 4 KiB read per
 * device; scrub stays off (a full read of the array is the operator's call, or serve's flag).
 */
export const DEFAULT_POLICIES: Readonly<ArrayPolicies> = {
  rebuildDelayMs: 5000,
  autoExpand: true,
  scrubIntervalMs: Infinity,
  probeIntervalMs: 2000,
  lowSpaceFraction: 0.1,
};

/** Every policy off: what one-shot callers (the CLI verbs, tests) get. lowSpace still fires. */
export const POLICIES_OFF: Readonly<ArrayPolicies> = {
  rebuildDelayMs: Infinity,
  autoExpand: false,
  scrubIntervalMs: Infinity,
  probeIntervalMs: Infinity,
  lowSpaceFraction: DEFAULT_POLICIES.lowSpaceFraction,
};

/** The policies an open runs with (see LiveOptions.policies); bad values get INVALID_ARGUMENT. */
export function resolvePolicies(option: LiveOptions['policies']): ArrayPolicies {
  if (option === undefined || option === false) return { ...POLICIES_OFF };
  if (option === true) return { ...DEFAULT_POLICIES };
  if (typeof option !== 'object' || option === null) throw new InvalidArgumentError(`policies must be true, false or an object, not ${String(option)}`);
  const policies: ArrayPolicies = { ...DEFAULT_POLICIES };
  for (const [key, value] of Object.entries(option)) {
    if (value === undefined) continue;
    if (!(key in DEFAULT_POLICIES) && key !== 'rateBytesPerSec') throw new InvalidArgumentError(`unknown policy ${JSON.stringify(key)}`);
    (policies as unknown as Record<string, unknown>)[key] = value;
  }
  for (const key of ['rebuildDelayMs', 'scrubIntervalMs', 'probeIntervalMs'] as const) {
    const value = policies[key];
    if (typeof value !== 'number' || Number.isNaN(value) || value < 0) throw new InvalidArgumentError(`policy ${key} must be a number of ms >= 0 (Infinity: off), not ${String(value)}`);
  }
  if (!(policies.probeIntervalMs > 0)) throw new InvalidArgumentError('policy probeIntervalMs must be > 0 (Infinity: off)');
  if (!(policies.scrubIntervalMs > 0)) throw new InvalidArgumentError('policy scrubIntervalMs must be > 0 (Infinity: off)');
  if (typeof policies.autoExpand !== 'boolean') throw new InvalidArgumentError('policy autoExpand must be true or false');
  if (typeof policies.lowSpaceFraction !== 'number' || !(policies.lowSpaceFraction >= 0 && policies.lowSpaceFraction < 1)) {
    throw new InvalidArgumentError(`policy lowSpaceFraction must be in [0, 1), not ${String(policies.lowSpaceFraction)}`);
  }
  if (policies.rateBytesPerSec !== undefined && !(policies.rateBytesPerSec > 0)) throw new InvalidArgumentError('policy rateBytesPerSec must be a positive number of bytes/s');
  return policies;
}
