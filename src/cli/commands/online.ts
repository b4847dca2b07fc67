// `elastripe online DEVICE`: brings a failed or missing device back (by id, path or UUID), as
// `zpool online` does, after checking its superblock still names this array and this device.
// What it held while away is still valid (copy-on-write); a scrub verifies it if in doubt.
import { withArray } from '../array_access.js';
import { printJson, printText, type CommandContext } from '../context.js';
import { renderStatus } from '../render_status.js';

export async function runOnline(context: CommandContext): Promise<void> {
  const [reference] = context.line.arguments as [string];
  const device = /^\d+$/.test(reference) ? Number(reference) : reference;
  const status = await withArray(context.line, async (array) => {
    await array.onlineDevice(device);
    return array.status();
  }, 'metadata');
  if (context.line.json) printJson(context, status);
  else printText(context, `device ${reference} is online again\n\n${renderStatus(status)}`);
}
