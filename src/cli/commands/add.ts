// `elastripe add DEVICE...`: grows the array online. Each device is checked, claimed and
// recorded in turn (one failing device stops the rest, the ones before it stay added); then,
// unless --no-expand or --spare, one expand job (combine narrow groups in place, then rebalance) moves the
// array onto them with a progress bar, and the status picture shows the result. Ctrl-C stops
// the expand between units (the devices stay added); `elastripe expand` continues it.
import type { ExpandReport } from '../../array/expand_job.js';
import { resolveDevicePath, withArray, type ArrayHandle } from '../array_access.js';
import { printJson, printText, startProgress, type CommandContext } from '../context.js';
import { EXIT_FAILURE, EXIT_OK, type ExitCode } from '../exit_codes.js';
import { escapeControlCharacters, formatBytes, formatPercent } from '../format.js';
import { renderStatus } from '../render_status.js';

export async function runAdd(context: CommandContext): Promise<ExitCode> {
  const { line } = context;
  const options = { force: line.force, expand: false, ...(line.spare ? { spare: true } : {}), ...(line.createSizeBytes !== undefined ? { createSizeBytes: line.createSizeBytes } : {}) };
  // Spares take no groups: there is nothing to expand onto them.
  const expands = !line.noExpand && !line.spare;
  const { report, status } = await withArray(line, async (array) => {
    for (const device of line.arguments) await array.addDevice(resolveDevicePath(device), options);
    const expanded = expands ? await expandWithBar(context, array) : undefined;
    return { report: expanded, status: array.status() };
  }, expands ? 'job' : 'metadata'); // the expand computes parity: workers only then
  const added = `added ${line.arguments.length}${line.spare ? ' spare' : ''} device${line.arguments.length === 1 ? '' : 's'}`;
  if (line.json) printJson(context, report ? { ...status, expand: report } : status);
  else printText(context, `${added}${report ? `\n${describeExpand(report)}` : ''}\n\n${renderStatus(status)}`);
  return report ? exitFor(context, report) : EXIT_OK;
}

/** `elastripe expand`: runs (or continues) the expand job on its own. */
export async function runExpand(context: CommandContext): Promise<ExitCode> {
  const { report, status } = await withArray(context.line, async (array) => ({ report: await expandWithBar(context, array), status: array.status() }));
  if (context.line.json) printJson(context, { ...report, status });
  else printText(context, `${describeExpand(report)}\n\n${renderStatus(status)}`);
  return exitFor(context, report);
}

async function expandWithBar(context: CommandContext, array: ArrayHandle): Promise<ExpandReport> {
  const bar = startProgress(context, 'expand', undefined);
  try {
    return await array.expand({
      signal: context.signal,
      rateBytesPerSec: context.line.rateBytesPerSec,
      onProgress: (progress) => bar?.update(progress.doneBytes, progress.totalBytes),
    });
  } finally {
    bar?.finish();
  }
}

function describeExpand(report: ExpandReport): string {
  const { combine, rebalance } = report;
  const lines = [
    `expand: combined ${combine.combinedGroups} groups into ${combine.newGroups} (${formatBytes(combine.storedBytes)} of data kept in place, ` +
      `${combine.movedBlocks} blocks moved, ${formatBytes(combine.savedBytes)} of parity freed); rebalance moved ${rebalance.movedBlocks} blocks (${formatBytes(rebalance.movedBytes)})`,
    `  read ${formatBytes(report.readBytes)}, wrote ${formatBytes(report.writtenBytes)}; usage spread ${formatPercent(report.usageSpread)}` +
      (report.balanced ? ' (balanced)' : ' (the device sizes allow no closer balance with groups this wide)'),
  ];
  for (const problem of report.problems) lines.push(`  not done: ${escapeControlCharacters(problem)}`);
  return lines.join('\n');
}

function exitFor(context: CommandContext, report: ExpandReport): ExitCode {
  if (report.problems.length === 0) return EXIT_OK;
  context.io.stderr.write(`elastripe: INCOMPLETE: ${escapeControlCharacters(`expand left ${report.problems.length} problem(s) (${report.problems[0]}); run 'elastripe expand' again`)}\n`);
  return EXIT_FAILURE;
}
