// Read-only verbs: `ls`, `stat NAME`, `status` and `fsck [--deep]`.
import { EXIT_FAILURE, EXIT_OK, type ExitCode } from '../exit_codes.js';
import { withArray } from '../array_access.js';
import { printJson, printText, type CommandContext } from '../context.js';
import { nameArgument } from '../name_argument.js';
import { renderFileList, renderFileStat, renderFsckReport, renderStatus } from '../render_status.js';

export async function runList(context: CommandContext): Promise<void> {
  const files = await withArray(context.line, async (array) => array.list(), 'metadata');
  if (context.line.json) printJson(context, files);
  else printText(context, renderFileList(files));
}

export async function runStat(context: CommandContext): Promise<void> {
  const name = nameArgument(context.line.arguments[0]!);
  const file = await withArray(context.line, async (array) => array.stat(name), 'metadata');
  if (context.line.json) printJson(context, file);
  else printText(context, renderFileStat(file));
}

export async function runStatus(context: CommandContext): Promise<void> {
  const status = await withArray(context.line, async (array) => array.status());
  if (context.line.json) printJson(context, status);
  else printText(context, renderStatus(status));
}

/** Exits 1 when fsck finds problems, so scripts can test `elastripe fsck` directly. */
export async function runFsck(context: CommandContext): Promise<ExitCode> {
  const deep = context.line.deep;
  const report = await withArray(context.line, (array) => array.fsck({ deep }));
  if (context.line.json) printJson(context, report);
  else printText(context, renderFsckReport(report, deep));
  return report.ok ? EXIT_OK : EXIT_FAILURE;
}
