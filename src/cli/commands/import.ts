// `elastripe import [DEVICE...]`: rebuilds a lost (or new) home from the devices alone. The
// named devices, or every device --scan (else $ELASTRIPE_SCAN, else loop, by-id and nbd
// devices) finds, are grouped by array; the newest metadata any of them holds becomes the home.
// Reports which devices are present, missing (at most m) and stale (never trusted).
import { importArray, requireHome, runtimeOptions } from '../array_access.js';
import { printJson, printText, type CommandContext } from '../context.js';
import { renderStatus } from '../render_status.js';

export async function runImport(context: CommandContext): Promise<void> {
  const { line } = context;
  const array = await importArray(requireHome(line), runtimeOptions(line, 'metadata'), line.arguments, line.scan, line.arrayUuid);
  try {
    const status = array.status();
    const report = status.opened.imported!;
    if (line.json) {
      printJson(context, status);
      return;
    }
    const lines = [
      `imported array ${report.arrayUuid} at change ${report.seq} (read from device ${report.sourceDeviceId}): ${status.fileCount} files`,
      ...report.present.map((entry) => `  present  #${entry.deviceId} ${entry.path}`),
      ...report.missing.map((entry) => `  missing  #${entry.deviceId} (last at ${entry.lastPath})`),
      ...report.stale.map((entry) => `  stale    ${entry.path} (was #${entry.deviceId}: ${entry.why}; not used — add --force reuses it)`),
    ];
    printText(context, `${lines.join('\n')}\n\n${renderStatus(status)}`);
  } finally {
    await array.close();
  }
}
