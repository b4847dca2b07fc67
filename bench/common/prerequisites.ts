// What a benchmark needs from the machine (fio, nbdkit, root, loop devices, btrfs-progs, Linux)
// and the one way it stops when something is missing: one sentence on stderr naming what is
// missing and how to get it, exit code PREREQUISITE_MISSING_EXIT, never a stack trace.
//
// Use, at the top of a bench's main (before it makes any device):
//   requireBenchPrerequisites('io', [FIO, ROOT, LOOP_DEVICES]);
// or wrap the whole main, which also turns a tool vanishing mid-run (spawn ENOENT) into the
// same one sentence:
//   await runBenchMain('io', [FIO, ROOT, LOOP_DEVICES], () => runIoBench());
import { execFileSync } from 'node:child_process';
import { loopDevicesAvailable } from '../../test/helpers/loop_devices.js';

/** The exit code of a benchmark stopped by a missing prerequisite (run_all.ts tells it apart). */
export const PREREQUISITE_MISSING_EXIT = 3;

export interface BenchPrerequisite {
  /** What it is, as a sentence names it ("fio", "root"). */
  readonly name: string;
  /** Why it is missing (a clause, no final period), or undefined when it is there. */
  readonly missing: () => string | undefined;
}

/** A reason when `command args` does not run: not installed, so name the Debian package. */
export function commandMissing(command: string, args: readonly string[], debianPackage: string): string | undefined {
  try {
    execFileSync(command, args, { stdio: 'pipe', timeout: 10_000 });
    return undefined;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return `${command} is not installed (install the Debian package ${debianPackage})`;
    return `${command} does not run (${firstLine(error)}; reinstall the Debian package ${debianPackage})`;
  }
}

function firstLine(error: unknown): string {
  return ((error as Error)?.message ?? String(error)).split('\n')[0]!.trim();
}

export const LINUX: BenchPrerequisite = {
  name: 'Linux',
  missing: () => (process.platform === 'linux' ? undefined : `it runs only on Linux (this is ${process.platform})`),
};

export const ROOT: BenchPrerequisite = {
  name: 'root',
  missing: () => (process.getuid?.() === 0 ? undefined : `it must run as root (this is uid ${process.getuid?.()})`),
};

/** Root, /dev/loop-control and losetup making (and detaching) a real loop device. */
export const LOOP_DEVICES: BenchPrerequisite = {
  name: 'loop devices',
  missing: () => {
    if (process.getuid?.() !== 0) return 'loop devices need root';
    const losetup = commandMissing('losetup', ['--version'], 'util-linux');
    if (losetup) return losetup;
    const { available, reason } = loopDevicesAvailable();
    return available ? undefined : `no loop device can be made (${reason})`;
  },
};

export const FIO: BenchPrerequisite = { name: 'fio', missing: () => commandMissing('fio', ['--version'], 'fio') };

export const NBDKIT: BenchPrerequisite = { name: 'nbdkit', missing: () => commandMissing('nbdkit', ['--version'], 'nbdkit') };

export const BTRFS_PROGS: BenchPrerequisite = {
  name: 'btrfs-progs',
  missing: () => commandMissing('mkfs.btrfs', ['--version'], 'btrfs-progs'),
};

/** The reasons of the missing ones, in the order given (each checked once). */
export function missingPrerequisites(needs: readonly BenchPrerequisite[]): string[] {
  return needs.flatMap((need) => {
    let reason: string | undefined;
    try {
      reason = need.missing();
    } catch (error) {
      reason = `${need.name} cannot be checked (${firstLine(error)})`;
    }
    return reason === undefined ? [] : [reason];
  });
}

/** The one sentence a bench stops with. */
export function missingSentence(bench: string, reasons: readonly string[]): string {
  return `The ${bench} benchmark cannot run: ${reasons.join('; ')}.`;
}

/** Stops the process with one sentence (exit PREREQUISITE_MISSING_EXIT) when a prerequisite is missing. */
export function requireBenchPrerequisites(bench: string, needs: readonly BenchPrerequisite[]): void {
  const reasons = missingPrerequisites(needs);
  if (reasons.length === 0) return;
  stopMissing(bench, reasons);
}

function stopMissing(bench: string, reasons: readonly string[]): never {
  console.error(missingSentence(bench, reasons));
  process.exit(PREREQUISITE_MISSING_EXIT);
}

/** A tool the bench spawns that is not there (spawn X ENOENT), as a reason; else undefined. */
export function spawnMissingReason(error: unknown): string | undefined {
  const { code, syscall, path } = (error ?? {}) as NodeJS.ErrnoException;
  if (code !== 'ENOENT' || !syscall?.startsWith('spawn')) return undefined;
  return `${path ?? syscall.slice('spawn '.length)} is not installed (it was not found on PATH)`;
}

/**
 * Runs a bench's main after checking its prerequisites. A tool missing at spawn time still
 * ends in one sentence (exit PREREQUISITE_MISSING_EXIT); any other error is the bench's own
 * failure and keeps its stack (exit 1).
 */
export async function runBenchMain(bench: string, needs: readonly BenchPrerequisite[], main: () => Promise<unknown>): Promise<void> {
  requireBenchPrerequisites(bench, needs);
  try {
    await main();
  } catch (error) {
    const reason = spawnMissingReason(error);
    if (reason) stopMissing(bench, [reason]);
    console.error(error);
    process.exitCode = 1;
  }
}
