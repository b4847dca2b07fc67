// `elastripe help [VERB]` and `elastripe --version`.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UsageError } from '../args.js';
import { printJson, printText, type CommandContext } from '../context.js';
import { COMMON_OPTIONS, findVerbSpec, GENERAL_USAGE, usageLine, usageLines, VERB_OPTIONS, VERB_SPECS, type OptionSpec, type VerbSpec } from '../verbs.js';

function optionLines(names: readonly string[], table: Readonly<Record<string, OptionSpec>>): string[] {
  const entries = names.map((name) => {
    const spec = table[name]!;
    return [`--${name}${spec.valueName ? ` ${spec.valueName}` : ''}`, spec.help] as const;
  });
  const width = Math.max(...entries.map(([left]) => left.length));
  return entries.map(([left, help]) => `  ${left.padEnd(width)}  ${help}`);
}

export function renderGeneralHelp(): string {
  const width = Math.max(...VERB_SPECS.map((spec) => `${spec.verb} ${spec.argumentsUsage}`.length));
  const verbs = VERB_SPECS.map((spec) => `  ${`${spec.verb} ${spec.argumentsUsage}`.padEnd(width)}  ${spec.summary}`);
  return [
    'elastripe: an elastic disk array of distributed parity groups',
    '',
    GENERAL_USAGE,
    '',
    'verbs:',
    ...verbs,
    '',
    'options of every verb:',
    ...optionLines(Object.keys(COMMON_OPTIONS), COMMON_OPTIONS),
    '',
    'elastripe --version prints the version.',
    'exit status: 0 ok, 1 operation failed, 2 usage error, 70 internal error',
  ].join('\n');
}

export function renderVerbHelp(spec: VerbSpec): string {
  const [first, ...forms] = usageLines(spec);
  const lines = [first!, ...forms.map((form) => form.replace(/^usage: /, '       ')), '', spec.summary];
  if (spec.options.length > 0) lines.push('', 'options:', ...optionLines(spec.options, VERB_OPTIONS));
  lines.push('', 'options of every verb:', ...optionLines(Object.keys(COMMON_OPTIONS), COMMON_OPTIONS));
  return lines.join('\n');
}

export function runHelp(context: CommandContext): void {
  const topic = context.line.verb === 'help' ? context.line.arguments[0] : context.line.verb;
  const spec = topic === undefined ? undefined : findVerbSpec(topic);
  if (topic !== undefined && spec === undefined) throw new UsageError(`no help for unknown verb '${topic}'`);
  if (context.line.json) return printJson(context, { verbs: (spec ? [spec] : VERB_SPECS).map(describeVerb), commonOptions: Object.keys(COMMON_OPTIONS) });
  printText(context, spec ? renderVerbHelp(spec) : renderGeneralHelp());
}

function describeVerb(spec: VerbSpec): object {
  return { verb: spec.verb, usage: usageLine(spec), summary: spec.summary, options: spec.options };
}

/** The package version, from the package.json above this module (src/ or dist/src/). */
export function packageVersion(): string {
  let directory = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    try {
      const manifest = JSON.parse(readFileSync(join(directory, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (manifest.name === 'elastripe' && typeof manifest.version === 'string') return manifest.version;
    } catch {
      // No readable package.json here; keep walking up.
    }
    const parent = dirname(directory);
    if (parent === directory) return 'unknown';
    directory = parent;
  }
}

export function runVersion(context: CommandContext): void {
  if (context.line.json) printJson(context, { version: packageVersion() });
  else printText(context, `elastripe ${packageVersion()}`);
}
