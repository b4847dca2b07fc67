// Verbs that change where and how the data is stored: `fail DEVICE`, `rebuild`, `remove DEVICE`,
// `rebalance`, `restripe` and `scrub`. The long ones draw a progress bar of bytes moved; Ctrl-C stops them between
// groups, and running the verb again continues where it stopped. DEVICE is a device number as
// `status` shows it, the device's path (any path to the same file or block device) or its UUID.
import { statSync } from 'node:fs';
import type { JobReport } from '../../array/device_jobs.js';
import { NotFoundError } from '../../errors.js';
import { resolveDevicePath, withArray, type ArrayHandle } from '../array_access.js';
import { printJson, printText, startProgress, type CommandContext } from '../context.js';
import { UsageError } from '../args.js';
import { EXIT_FAILURE, EXIT_OK, type ExitCode } from '../exit_codes.js';
import { displayName, escapeControlCharacters, formatBytes } from '../format.js';
import { renderStatus } from '../render_status.js';
import { findVerbSpec, usageLine } from '../verbs.js';

/** A whole number is a device id (checked before the array opens); anything else a path. */
function deviceArgument(context: CommandContext): number | string {
  const text = context.line.arguments[0]!;
  if (!/^\d+$/.test(text)) return text;
  const deviceId = Number(text);
  if (!Number.isSafeInteger(deviceId) || deviceId < 1) {
    throw new UsageError(`DEVICE must be a device number as 'status' shows it, or its path, not '${text}'`, usageLine(findVerbSpec(context.line.verb)!));
  }
  return deviceId;
}

/** The id of the array's device at `path`: the same recorded path, the same file or block device
 * (a symlink, a hard link, another node), or its UUID as `status` shows it. */
function deviceIdAt(array: ArrayHandle, path: string): number {
  const wanted = resolveDevicePath(path);
  const identity = (candidate: string): string | undefined => {
    try {
      const info = statSync(candidate);
      return info.isBlockDevice() ? `block:${info.rdev}` : `file:${info.dev}:${info.ino}`;
    } catch {
      return undefined;
    }
  };
  const wantedIdentity = /^nbd:\/\//i.test(wanted) ? undefined : identity(wanted);
  const devices = array.status().devices;
  const found =
    devices.find((device) => device.path === wanted || device.uuid === path) ??
    devices.find((device) => wantedIdentity !== undefined && identity(device.path) === wantedIdentity);
  if (found === undefined) throw new NotFoundError(`no device of this array is at ${displayName(path)}; 'status' lists them`);
  return found.deviceId;
}

function resolveDeviceId(array: ArrayHandle, device: number | string): number {
  return typeof device === 'number' ? device : deviceIdAt(array, device);
}

export async function runFail(context: CommandContext): Promise<void> {
  const device = deviceArgument(context);
  let deviceId = 0;
  const status = await withArray(context.line, async (array) => {
    deviceId = resolveDeviceId(array, device);
    await array.failDevice(deviceId);
    return array.status();
  }, 'metadata');
  if (context.line.json) printJson(context, status);
  else printText(context, `device ${deviceId} marked failed; run 'elastripe rebuild' to restore redundancy\n\n${renderStatus(status)}`);
}

export function runRebuild(context: CommandContext): Promise<ExitCode> {
  return runJob(context, 'rebuild', (array, onProgress) => array.rebuild({ onProgress, signal: context.signal, rateBytesPerSec: context.line.rateBytesPerSec }));
}

export async function runRemove(context: CommandContext): Promise<ExitCode> {
  const device = deviceArgument(context);
  if (context.line.cancel) return runCancelRemove(context, device);
  const label = typeof device === 'number' ? `remove ${device}` : `remove ${displayName(device)}`;
  return runJob(context, label, (array, onProgress) =>
    array.removeDevice(resolveDeviceId(array, device), { onProgress, signal: context.signal, rateBytesPerSec: context.line.rateBytesPerSec }),
  );
}

/** `remove --cancel DEVICE`: the draining device takes new blocks again. */
async function runCancelRemove(context: CommandContext, device: number | string): Promise<ExitCode> {
  let deviceId = 0;
  const status = await withArray(context.line, async (array) => {
    deviceId = resolveDeviceId(array, device);
    await array.cancelRemove(deviceId);
    return array.status();
  }, 'metadata');
  if (context.line.json) printJson(context, status);
  else printText(context, `remove of device ${deviceId} cancelled: it takes new blocks again\n\n${renderStatus(status)}`);
  return EXIT_OK;
}

export function runRebalance(context: CommandContext): Promise<ExitCode> {
  return runJob(context, 'rebalance', (array, onProgress) => array.rebalance({ onProgress, signal: context.signal, rateBytesPerSec: context.line.rateBytesPerSec }));
}

/** Exits 1 when files changed under the restripe (run it again for those). */
export async function runRestripe(context: CommandContext): Promise<ExitCode> {
  const bar = startProgress(context, 'restripe', undefined);
  const { report, status } = await withArray(context.line, async (array) => {
    const result = await array.restripe({ signal: context.signal, rateBytesPerSec: context.line.rateBytesPerSec, onProgress: (progress) => bar?.update(progress.doneBytes, progress.totalBytes) });
    return { report: result, status: array.status() };
  });
  bar?.finish();
  if (context.line.json) {
    printJson(context, { ...report, status });
  } else {
    const combined = report.combine;
    const lines = [
      `restripe: widened ${count(report.restripedFiles, 'file')}, freeing ${formatBytes(report.savedBytes)} of parity`,
      `  in place: ${combined.combinedGroups} groups combined into ${combined.newGroups} (${formatBytes(report.combinedBytes)} of files; ${combined.movedBlocks} blocks moved, ${formatBytes(combined.writtenBytes)} written)`,
      `  rewritten whole: ${count(report.rewrittenFiles, 'file')} (${formatBytes(report.rewrittenBytes)})`,
    ];
    for (const problem of report.problems) lines.push(`  not widened: ${escapeControlCharacters(problem)}`);
    printText(context, `${lines.join('\n')}\n\n${renderStatus(status)}`);
  }
  if (report.problems.length === 0) return EXIT_OK;
  return exitIncomplete(context, 'INCOMPLETE', `restripe left ${count(report.problems.length, 'file')} not widened (${report.problems[0]}); run 'elastripe restripe' again`);
}

/** Exits 1 when scrub found anything, repaired or not, so scripts notice rot. */
export async function runScrub(context: CommandContext): Promise<ExitCode> {
  const bar = startProgress(context, 'scrub', undefined);
  const report = await withArray(context.line, (array) =>
    array.scrub({ signal: context.signal, rateBytesPerSec: context.line.rateBytesPerSec, onProgress: (progress) => bar?.update(progress.doneBytes, progress.totalBytes) }),
  );
  bar?.finish();
  if (context.line.json) {
    printJson(context, report);
  } else {
    const lines = [`scrub: checked ${report.checkedGroups} groups (${report.checkedExtents} blocks), repaired ${report.repairedBlocks} blocks`];
    for (const problem of report.problems) lines.push(`  ${escapeControlCharacters(problem)}`);
    printText(context, lines.join('\n'));
  }
  if (report.problems.length === 0) return EXIT_OK;
  if (report.unrepairedProblems > 0) {
    const first = report.problems.find((problem) => !problem.includes('rewritten')) ?? report.problems[0];
    return exitIncomplete(context, 'INCOMPLETE', `scrub left ${count(report.unrepairedProblems, 'problem')} unrepaired (${first}); see the report, rebuild or restore what is lost`);
  }
  return exitIncomplete(context, 'REPAIRED', `scrub found and repaired ${count(report.repairedBlocks, 'block')} that parity rebuilt (exit 1 so scripts notice the rot)`);
}

/** The one `elastripe: CODE: sentence` line on stderr of a verb that reports and still fails. */
function exitIncomplete(context: CommandContext, code: string, sentence: string): ExitCode {
  context.io.stderr.write(`elastripe: ${code}: ${escapeControlCharacters(sentence)}\n`);
  return EXIT_FAILURE;
}

function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

type OnProgress = (progress: { doneBytes: number; totalBytes?: number }) => void;

/** Runs a job with a progress bar; exits 1 when it left groups it could not move. */
async function runJob(context: CommandContext, label: string, job: (array: ArrayHandle, onProgress: OnProgress) => Promise<JobReport>): Promise<ExitCode> {
  const bar = startProgress(context, label, undefined);
  const { report, status } = await withArray(context.line, async (array) => {
    const result = await job(array, (progress) => bar?.update(progress.doneBytes, progress.totalBytes));
    return { report: result, status: array.status() };
  });
  bar?.finish();
  if (context.line.json) {
    printJson(context, { ...report, status });
  } else {
    const targets = Object.entries(report.blocksByTargetDevice).map(([deviceId, blocks]) => `${blocks} to device ${deviceId}`);
    const lines = [`${label}: moved ${report.movedBlocks} blocks (${formatBytes(report.movedBytes)})${targets.length > 0 ? `: ${targets.join(', ')}` : ''}`];
    if (report.restripedGroups > 0) lines.push(`  ${report.restripedGroups} groups rewritten narrower (no device outside them was left)`);
    for (const problem of report.problems) lines.push(`  not moved: ${escapeControlCharacters(problem)}`);
    printText(context, `${lines.join('\n')}\n\n${renderStatus(status)}`);
  }
  if (report.problems.length === 0) return EXIT_OK;
  return exitIncomplete(context, 'INCOMPLETE', `${label} left ${count(report.problems.length, 'group')} not moved (${report.problems[0]}); make room (delete files or add a device) and run 'elastripe ${label}' again`);
}
