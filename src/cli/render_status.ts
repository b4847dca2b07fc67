// Text pictures of the array for people: `status` (devices with usage bars and array totals),
// `stat NAME` (a file's groups and extents), `ls` and `fsck`. Pure functions from the array's
// public report types to strings, so they are tested against fixed reports. Names, paths and
// reasons are shown through displayName/escapeControlCharacters: a name cannot forge lines or
// send escape sequences to the terminal.
import { LB_BYTES } from '../constants.js';
import type { ArrayStatus, ExtentInfo, FileStat, FileSummary, FsckReport } from '../array/types.js';
import { displayName, escapeControlCharacters, formatBar, formatBytes, formatPercent, formatTable } from './format.js';

const USAGE_BAR_CELLS = 20;

export function renderStatus(status: ArrayStatus): string {
  const header = ['id', 'path', 'backend', 'state', 'capacity', 'used', 'used%', 'usage'];
  const rows = [...status.devices]
    .sort((a, b) => a.deviceId - b.deviceId)
    .map((device) => [
      String(device.deviceId),
      displayName(device.path),
      device.backend,
      device.state,
      formatBytes(device.capacityBytes),
      formatBytes(device.usedBytes),
      formatPercent(device.usedFraction),
      formatBar(device.usedFraction, USAGE_BAR_CELLS),
    ]);
  const table = formatTable(header, rows, ['right', 'left', 'left', 'left', 'right', 'right', 'right', 'left']);
  const reasons = status.devices.filter((device) => device.reason).map((device) => `device ${device.deviceId} ${device.state}: ${escapeControlCharacters(device.reason!)}`);
  // A device bigger than the others can match (each group puts at most one block on it).
  for (const device of status.devices) {
    if (device.usableBytes !== undefined && device.state === 'online' && device.usableBytes < device.capacityBytes) {
      reasons.push(`device ${device.deviceId} is only partly usable: ${formatBytes(device.usableBytes)} of ${formatBytes(device.capacityBytes)} (the other devices cannot match the rest with parity ${status.parityCount})`);
    }
  }
  return [`array ${status.arrayUuid} at ${displayName(status.home)}${status.readOnly ? ' (read-only)' : ''}`, '', table, ...(reasons.length > 0 ? ['', ...reasons] : []), '', ...renderTotals(status)].join('\n');
}

function renderTotals(status: ArrayStatus): string[] {
  const overheadBytes = status.allocatedBytes - status.storedBytes;
  const overheadFraction = status.storedBytes > 0 ? overheadBytes / status.storedBytes : 0;
  const usedFraction = status.capacityBytes > 0 ? status.allocatedBytes / status.capacityBytes : 0;
  const onlineCount = status.devices.filter((device) => device.state === 'online').length;
  const drainingCount = status.devices.filter((device) => device.state === 'draining').length;
  const spareCount = status.devices.filter((device) => device.state === 'spare').length;
  const readErrors = status.devices.filter((device) => (device.readErrors ?? 0) > 0);
  const readErrorCount = readErrors.reduce((sum, device) => sum + device.readErrors, 0);
  const health = status.degraded ? 'DEGRADED' : 'healthy';
  return [
    `geometry   parity ${status.parityCount}, data width up to ${status.maxDataWidth}, extents up to ${status.extentLbMax} LB (${formatBytes(status.extentLbMax * LB_BYTES)})`,
    `devices    ${status.devices.length} (${onlineCount} online${drainingCount > 0 ? `, ${drainingCount} draining` : ''}${spareCount > 0 ? `, ${spareCount} spare` : ''}), ${health}`,
    `files      ${status.fileCount}`,
    `stored     ${formatBytes(status.storedBytes)}`,
    `allocated  ${formatBytes(status.allocatedBytes)} of ${formatBytes(status.capacityBytes)} ${formatBar(usedFraction, USAGE_BAR_CELLS)} ${formatPercent(usedFraction)}`,
    `overhead   ${formatBytes(overheadBytes)} (${formatPercent(overheadFraction)} of stored)`,
    ...(status.usableDataBytes !== undefined ? [`usable     ${formatBytes(status.usableDataBytes)} of file data at most on these devices with parity ${status.parityCount}`] : []),
    `degraded   ${status.degradedReads} reads reconstructed, ${status.repairedBlocks} blocks repaired` +
      (readErrorCount > 0 ? `, ${readErrorCount} read errors (${readErrors.map((device) => `device ${device.deviceId}: ${device.readErrors}`).join(', ')})` : ''),
    `kernels    ${status.kernelVariant}, ${status.workerCount === 1 ? '1 worker' : `${status.workerCount} workers`}`,
    ...renderJobs(status),
  ];
}

/** Job states that leave work to do: running the same job again continues it. */
const CUT_SHORT = new Set(['interrupted', 'aborted', 'incomplete']);

/**
 * The latest job, and the newest run of any other job that is running or was cut short
 * (interrupted, aborted, incomplete). An older run of a job is never shown: once a later run
 * of it finished, the old 'interrupted' line would only mislead.
 */
function renderJobs(status: ArrayStatus): string[] {
  const newestOfKind = new Set<string>();
  const shown = status.jobs.filter((job, index) => {
    if (newestOfKind.has(job.kind)) return false; // jobs come newest first
    newestOfKind.add(job.kind);
    return index === 0 || job.state === 'running' || CUT_SHORT.has(job.state);
  });
  return shown.map((job, index) => {
    const moved = job.progress ? `, ${formatBytes(job.progress.doneBytes)}${job.progress.totalBytes ? ` of ${formatBytes(job.progress.totalBytes)}` : ''}` : '';
    // A resync cut short (a returning device's check) is finished by a scrub, which checks it all.
    const again = job.kind.startsWith('resync ') ? 'scrub' : job.kind;
    const hint = CUT_SHORT.has(job.state) ? ` — run 'elastripe ${again}' again to continue` : '';
    return `${index === 0 ? 'jobs      ' : '          '} ${job.kind} ${job.state}${moved}${hint}`;
  });
}

export function renderFileList(files: readonly FileSummary[]): string {
  if (files.length === 0) return '(no files)';
  const rows = files.map((file) => [displayName(file.name), String(file.sizeBytes), formatBytes(file.sizeBytes), String(file.groupCount)]);
  const totalBytes = files.reduce((sum, file) => sum + file.sizeBytes, 0);
  const table = formatTable(['name', 'bytes', 'size', 'groups'], rows, ['left', 'right', 'right', 'right']);
  return `${table}\n${files.length} files, ${formatBytes(totalBytes)}`;
}

/** "3:1024+16 data 0" — where an extent lives and what it is within its group. */
export function formatExtent(extent: ExtentInfo): string {
  return `${extent.deviceId}:${extent.startLb}+${extent.lengthLb} ${extent.role} ${extent.index}`;
}

export function renderFileStat(file: FileStat): string {
  const lines = [
    `name     ${displayName(file.name)}`,
    `size     ${file.sizeBytes} bytes (${formatBytes(file.sizeBytes)})`,
    `created  ${new Date(file.createdMs).toISOString()}`,
    `groups   ${file.groupCount}`,
  ];
  const rows = file.groups.map((group) => [
    String(group.sequence),
    `${group.dataCount}+${group.parityCount}`,
    String(group.extentLb),
    String(group.lengthBytes),
    group.extents.map(formatExtent).join(', '),
  ]);
  if (rows.length > 0) {
    lines.push('', formatTable(['group', 'k+m', 'extent LB', 'bytes', 'extents (device:startLb+lengthLb role index)'], rows, ['right', 'right', 'right', 'right', 'left']));
  }
  return lines.join('\n');
}

export function renderFsckReport(report: FsckReport, deep: boolean): string {
  const kind = deep ? 'deep fsck' : 'fsck';
  const verdict = report.ok ? 'ok' : `${report.problems.length} problem(s)`;
  const lines = [`${kind}: ${verdict}; checked ${report.checkedGroups} groups, ${report.checkedExtents} extents`];
  for (const problem of report.problems) lines.push(`  ${escapeControlCharacters(problem)}`);
  return lines.join('\n');
}
