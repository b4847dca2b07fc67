// `elastripe create DEVICE...`: writes superblocks, creates the metadata in the home directory
// and shows the new array's status picture.
import { createArray, createOptionsFrom, requireHome } from '../array_access.js';
import { printJson, printText, type CommandContext } from '../context.js';
import { renderStatus } from '../render_status.js';

export async function runCreate(context: CommandContext): Promise<void> {
  const options = createOptionsFrom(context.line, requireHome(context.line), context.line.arguments);
  const array = await createArray(options);
  try {
    const status = array.status();
    if (context.line.json) printJson(context, status);
    else printText(context, `created array with ${status.devices.length} devices\n\n${renderStatus(status)}`);
  } finally {
    await array.close();
  }
}
