// What tests need from the machine (root, loop devices, the io_uring addon, nbdkit, fio,
// btrfs-progs, ...) and the one place that decides what happens when it is missing:
// locally the tests that need it skip, with the reason printed once; under CI (CI=true) each
// of them FAILS with the reason, so CI cannot go green by skipping. `.ci/run` installs the
// tools, runs as root and builds the addon (ELASTRIPE_REQUIRE_NATIVE=1).
//
// Use:
//   const nbdkit = nbdkitPrerequisite();
//   nbdkit.describe('NBD device on nbdkit', () => { ... });       // a suite
//   nbdkit.and(uringPrerequisite()).it('...', async () => { ... }); // one test
//   it('...', (context) => { requirePrerequisite('x', check).need(context); ... }); // decided while running
import { execFileSync } from 'node:child_process';
import { beforeEach, describe, it, type TestContext, type TestFunction } from 'vitest';
import { uringAvailable } from '../../src/devices/uring_native.js';
import { loopDevicesAvailable } from './loop_devices.js';
import { nbdkitMissingReason } from './nbdkit.js';

/** Whether this run is CI: CI set to anything but '', 'false' or '0' (CI=true in .ci/run). */
export function underCi(env: NodeJS.ProcessEnv = process.env): boolean {
  const value = (env.CI ?? '').trim().toLowerCase();
  return value !== '' && value !== 'false' && value !== '0';
}

/**
 * A check says whether a prerequisite is met: null, undefined or true when it is; false or
 * a reason (string) when not; or an availability record. A check that throws is not met, with
 * the error's first line as the reason.
 */
export type PrerequisiteCheck = () => string | boolean | null | undefined | { available: boolean; reason?: string };

/** Thrown (under CI) by every test that needs a missing prerequisite. */
export class MissingPrerequisiteError extends Error {
  constructor(readonly prerequisite: string, readonly reason: string) {
    super(
      `CI=true and this test's prerequisite is missing, so it fails instead of skipping: ${prerequisite}: ${reason}. ` +
      `.ci/run installs and builds what the tests need and runs as root; outside CI such tests skip.`,
    );
    this.name = 'MissingPrerequisiteError';
  }
}

export interface Prerequisite {
  readonly name: string;
  /** null when met, else why not. */
  readonly reason: string | null;
  readonly met: boolean;
  /** Whether tests needing it skip: it is missing and this is not CI. */
  readonly skip: boolean;
  /** Both this and other: met when both are; the reasons of the missing ones joined. */
  and(other: Prerequisite): Prerequisite;
  /** A suite that needs it: runs when met; else skipped locally, every test failing under CI. */
  describe(title: string, body: () => void): void;
  /** A test that needs it: runs when met; else skipped locally, failing under CI. */
  it(title: string, fn: TestFunction, timeout?: number): void;
  /** Inside a running test: returns when met; else context.skip(reason) locally, throws under CI. */
  need(context: TestContext): void;
  /** Throws MissingPrerequisiteError when missing (whatever the mode). */
  assert(): void;
}

export interface PrerequisiteOptions {
  /** Override CI detection (the helper's own tests). */
  readonly ci?: boolean;
}

function evaluate(check: PrerequisiteCheck): string | null {
  let result: ReturnType<PrerequisiteCheck>;
  try {
    result = check();
  } catch (error) {
    return (error as Error).message.split('\n')[0] || String(error);
  }
  if (result === null || result === undefined || result === true) return null;
  if (result === false) return 'not available';
  if (typeof result === 'string') return result;
  return result.available ? null : result.reason || 'not available';
}

const warned = new Set<string>();

function make(name: string, reason: string | null, ci: boolean): Prerequisite {
  const met = reason === null;
  const skip = !met && !ci;
  const failure = (): MissingPrerequisiteError => new MissingPrerequisiteError(name, reason ?? '');
  if (skip && !warned.has(name)) {
    warned.add(name);
    console.warn(`skipping tests that need ${name}: ${reason}`);
  }
  const prerequisite: Prerequisite = {
    name,
    reason,
    met,
    skip,
    and(other) {
      const reasons = [prerequisite, other].filter((one) => !one.met).map((one) => `${one.name}: ${one.reason}`);
      return make(`${name} and ${other.name}`, reasons.length ? reasons.join('; ') : null, ci);
    },
    describe(title, body) {
      if (met) return void describe(title, body);
      if (skip) return void describe.skip(title, body);
      describe(title, () => {
        beforeEach(() => { throw failure(); });
        body();
      });
    },
    it(title, fn, timeout) {
      if (met) return void it(title, fn, timeout);
      if (skip) return void it.skip(title, fn, timeout);
      it(title, () => { throw failure(); }, timeout);
    },
    need(context) {
      if (met) return;
      if (skip) context.skip(`needs ${name}: ${reason}`);
      throw failure();
    },
    assert() {
      if (!met) throw failure();
    },
  };
  return prerequisite;
}

/**
 * The prerequisite `name`, checked now. Locally a missing one makes the tests that need it
 * skip (the reason printed once); under CI=true it makes each of them fail with the reason.
 */
export function requirePrerequisite(name: string, check: PrerequisiteCheck, options: PrerequisiteOptions = {}): Prerequisite {
  return make(name, evaluate(check), options.ci ?? underCi());
}

const cache = new Map<string, Prerequisite>();
function cached(name: string, check: PrerequisiteCheck): Prerequisite {
  let prerequisite = cache.get(name);
  if (!prerequisite) cache.set(name, (prerequisite = requirePrerequisite(name, check)));
  return prerequisite;
}

/** A reason when `command args` does not run (not installed: name the Debian package). */
export function commandMissingReason(command: string, args: readonly string[], debianPackage: string): string | null {
  try {
    execFileSync(command, args, { stdio: 'pipe', timeout: 10_000 });
    return null;
  } catch (error) {
    return `${command} does not run (${(error as Error).message.split('\n')[0]}); install the Debian package ${debianPackage}`;
  }
}

/** The catalogue: each is checked once per test process. */
export const rootPrerequisite = (): Prerequisite =>
  cached('root', () => process.getuid?.() === 0 || `running as uid ${process.getuid?.()}, not root`);

/** Root, Linux, /dev/loop-control and losetup making (and detaching) a real loop device. */
export const loopDevicesPrerequisite = (): Prerequisite =>
  cached('loop devices', () => (process.getuid?.() === 0 ? loopDevicesAvailable() : 'loop devices need root'));

/** The io_uring N-API addon built, loadable, and the kernel letting this process set up a ring. */
export const uringPrerequisite = (): Prerequisite => cached('the io_uring addon', () => uringAvailable());

export const nbdkitPrerequisite = (): Prerequisite => cached('nbdkit', () => nbdkitMissingReason());

export const fioPrerequisite = (): Prerequisite => cached('fio', () => commandMissingReason('fio', ['--version'], 'fio'));

/** strace: the test of get --recursive's durability order (syncfs before renames, fsyncs before exit). */
export const stracePrerequisite = (): Prerequisite => cached('strace', () => commandMissingReason('strace', ['-V'], 'strace'));

export const btrfsPrerequisite = (): Prerequisite =>
  cached('btrfs-progs', () => commandMissingReason('mkfs.btrfs', ['--version'], 'btrfs-progs'));

/** Debian's chromium, run headless by the status page test of `elastripe serve`. */
export const chromiumPrerequisite = (): Prerequisite =>
  cached('chromium', () => commandMissingReason('chromium', ['--headless=new', '--no-sandbox', '--version'], 'chromium'));
