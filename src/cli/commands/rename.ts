// `elastripe rename OLD NEW`: renames a file in one metadata change (journaled on the devices
// like every other). A file already named NEW is refused unless --replace, which replaces it
// atomically (its space is freed once no reader sees it).
import { withArray } from '../array_access.js';
import { printJson, type CommandContext } from '../context.js';
import { displayName } from '../format.js';
import { nameArgument } from '../name_argument.js';

export async function runRename(context: CommandContext): Promise<void> {
  const from = nameArgument(context.line.arguments[0]!);
  const to = nameArgument(context.line.arguments[1]!);
  await withArray(context.line, (array) => array.rename(from, to, { replace: context.line.replace }), 'metadata');
  if (context.line.json) printJson(context, { renamed: from, to });
  else context.io.stdout.write(`renamed ${displayName(from)} to ${displayName(to)}\n`);
}
