// `elastripe add DEVICE...`: grows the array online. Each device is checked, claimed and
// recorded in turn (one failing device stops the rest, the ones before it stay added), then
// the status picture shows where new groups will go.
import { resolveDevicePath, withArray } from '../array_access.js';
import { printJson, printText, type CommandContext } from '../context.js';
import { renderStatus } from '../render_status.js';

export async function runAdd(context: CommandContext): Promise<void> {
  const { line } = context;
  const options = { force: line.force, ...(line.createSizeBytes !== undefined ? { createSizeBytes: line.createSizeBytes } : {}) };
  const status = await withArray(line, async (array) => {
    for (const device of line.arguments) await array.addDevice(resolveDevicePath(device), options);
    return array.status();
  }, false);
  if (line.json) printJson(context, status);
  else printText(context, `added ${line.arguments.length} device${line.arguments.length === 1 ? '' : 's'}\n\n${renderStatus(status)}`);
}
