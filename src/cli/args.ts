// Parses and validates an elastripe command line: the verb, its positional arguments and its
// options, against the table in verbs.ts. Everything a user can get wrong on the command line
// becomes a UsageError here, before any device or array is touched.
import { parseArgs } from 'node:util';
import { ElastripeError } from '../errors.js';
import type { BackendChoice, ParityCount } from '../array/types.js';
import { batchUsageLine, COMMON_OPTIONS, findVerbSpec, GENERAL_USAGE, optionSpec, usageLine, VERB_OPTIONS, type OptionSpec, type Verb, type VerbSpec } from './verbs.js';

/** The command line is wrong; main prints the message and a usage line and exits with 2. */
export class UsageError extends ElastripeError {
  readonly usage: string;
  constructor(message: string, usage: string = GENERAL_USAGE) {
    super('USAGE', message);
    this.usage = usage;
  }
}

export interface CommandLine {
  verb: Verb | 'version';
  arguments: string[];
  /** Resolved from --home or ELASTRIPE_HOME; present whenever the verb needs it. */
  home?: string;
  json: boolean;
  debug: boolean;
  /** --quiet: no progress bars on stderr (scripts and logs that want errors only). */
  quiet?: boolean;
  /** --help given: show the verb's help instead of running it. */
  help: boolean;
  backend: BackendChoice;
  workerCount?: number;
  parityCount?: ParityCount;
  maxDataWidth?: number;
  extentLbMax?: number;
  createSizeBytes?: number;
  force: boolean;
  /** rename --replace: replace a file of the new name. */
  replace: boolean;
  offsetBytes?: number;
  lengthBytes?: number;
  deep: boolean;
  keep: boolean;
  demoSizeMib?: number;
  /** --rate: bytes per second a background job may move or check. */
  rateBytesPerSec?: number;
  /** --scan: patterns where devices are looked for by UUID (import, and open when a path changed). */
  scan?: string[];
  /** --array (import): the UUID of the array to import when the devices found belong to several. */
  arrayUuid?: string;
  /** --spare (add): add the devices as hot spares. */
  spare?: boolean;
  /** --cancel (remove): cancel the remove of a draining device. */
  cancel?: boolean;
  /** --no-expand (add): add the devices without running the expand job. */
  noExpand?: boolean;
  /** --read-only: open the array read-only (ls, stat, status, get, fsck). */
  readOnly?: boolean;
  /** put/get --recursive, put --files: the batch forms (batch_transfer.ts). */
  recursive?: boolean;
  files?: boolean;
  /** put --files --prefix P: names are P/BASENAME. */
  prefix?: string;
  /** --jobs: files in flight at once in a batch. */
  jobs?: number;
  /** serve --listen HOST:PORT: the HTTP listener for metrics and the status page. */
  listen?: string;
  /** serve --token: what HTTP requests must carry. */
  token?: string;
}

type RawValues = Record<string, string | boolean | undefined>;

export function parseCommandLine(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): CommandLine {
  const { values, positionals, optionNames } = tokenize(argv);
  if (values['version'] === true && positionals.length === 0) return { ...defaults('version', []), json: values['json'] === true };
  const verbName = positionals[0];
  if (verbName === undefined) {
    if (values['help'] === true) return defaults('help', []);
    throw new UsageError('no verb given');
  }
  const spec = findVerbSpec(verbName);
  if (spec === undefined) throw new UsageError(`unknown verb '${verbName}'`);
  const usage = usageLine(spec);
  if (values['version'] === true) throw new UsageError(`--version takes no verb`, usage);
  for (const name of optionNames) {
    if (!(name in COMMON_OPTIONS) && !spec.options.includes(name)) {
      throw new UsageError(`option --${name} does not apply to '${spec.verb}'`, usage);
    }
  }
  const commandLine = readOptions(spec, values, positionals.slice(1), usage);
  if (commandLine.help) return commandLine;
  const form = batchForm(spec, commandLine, usage);
  checkArgumentCount(form.spec, commandLine.arguments, form.usage);
  if (spec.needsHome) commandLine.home = resolveHome(commandLine.home, env, usage);
  return commandLine;
}

/** Splits argv with node's strict parser over every option any verb knows. */
function tokenize(argv: readonly string[]): { values: RawValues; positionals: string[]; optionNames: string[] } {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = { version: { type: 'boolean', short: 'V' } };
  for (const [name, spec] of Object.entries({ ...COMMON_OPTIONS, ...VERB_OPTIONS })) {
    options[name] = { type: spec.kind === 'boolean' ? 'boolean' : 'string' };
  }
  options['help']!.short = 'h';
  const args = joinNegativeValues(argv, options);
  try {
    const parsed = parseArgs({ args, options, allowPositionals: true, strict: true, tokens: true });
    const optionNames = parsed.tokens.flatMap((token) => (token.kind === 'option' ? [token.name] : []));
    return { values: parsed.values as RawValues, positionals: parsed.positionals, optionNames };
  } catch (error) {
    const message = error instanceof Error ? error.message.split('\n')[0]! : String(error);
    const unknown = /^Unknown option '([^']+)'/.exec(message);
    if (unknown) throw unknownOptionError(unknown[1]!, argv);
    throw new UsageError(explainMissingValue(message, args) ?? message.replace(/\.$/, ''));
  }
}

/** "-1" or "-.5": what a value option's value looks like when it is a (negative) number. */
const NEGATIVE_NUMBER = /^-\.?\d/;

/**
 * `--offset -1`: node's parser calls the value ambiguous (it might be an option). A negative
 * number is never an option here, so it is taken as the value, and the option's own check then
 * says what it must be ("--offset must be a size such as ..., not '-1'").
 */
function joinNegativeValues(argv: readonly string[], options: Record<string, { type: 'string' | 'boolean' }>): string[] {
  const joined: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      joined.push(...argv.slice(i));
      break;
    }
    const next = argv[i + 1];
    const name = arg.startsWith('--') && !arg.includes('=') ? arg.slice(2) : undefined;
    if (name !== undefined && options[name]?.type === 'string' && next !== undefined && NEGATIVE_NUMBER.test(next)) {
      joined.push(`${arg}=${next}`);
      i += 1;
    } else {
      joined.push(arg);
    }
  }
  return joined;
}

/** node's "argument is ambiguous" / "argument missing" as one plain sentence. */
/**
 * An option no verb knows, said in our words: the nearest option of the verb (a typo is the
 * usual cause), that verb's usage, and how to pass an argument that starts with '-'.
 */
function unknownOptionError(option: string, argv: readonly string[]): UsageError {
  const verbName = argv.find((arg) => !arg.startsWith('-'));
  const spec = verbName === undefined ? undefined : findVerbSpec(verbName);
  const known = [...Object.keys(COMMON_OPTIONS), ...(spec?.options ?? Object.keys(VERB_OPTIONS))];
  const typed = option.replace(/^-+/, '').split('=')[0]!;
  const nearest = known
    .map((name) => ({ name, distance: editDistance(typed, name) }))
    .filter(({ name, distance }) => distance <= Math.max(1, Math.floor(name.length / 3)))
    .sort((a, b) => a.distance - b.distance)[0];
  const hint = nearest !== undefined ? ` (did you mean --${nearest.name}?)` : `; an argument that starts with '-' goes after '--'`;
  return new UsageError(`unknown option '${option}'${hint}`, spec !== undefined ? usageLine(spec) : undefined);
}

/** Levenshtein distance: insertions, deletions and substitutions that turn a into b. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length]!;
}

function explainMissingValue(message: string, args: readonly string[]): string | undefined {
  const ambiguous = /^Option '(--[\w-]+)' argument is ambiguous/.exec(message);
  if (ambiguous) {
    const next = args[args.indexOf(ambiguous[1]!) + 1] ?? '';
    return `${ambiguous[1]} needs a value, not the option '${next}' (write ${ambiguous[1]}=VALUE for a value that starts with '-')`;
  }
  const missing = /^Option '(--[\w-]+) <value>' argument missing/.exec(message);
  return missing ? `${missing[1]} needs a value` : undefined;
}

function readOptions(spec: VerbSpec, values: RawValues, positionals: string[], usage: string): CommandLine {
  const line = defaults(spec.verb, positionals);
  const read = (name: string): number | undefined => readNumber(name, values[name], usage);
  line.home = typeof values['home'] === 'string' ? values['home'] : undefined;
  line.json = values['json'] === true;
  line.debug = values['debug'] === true;
  line.quiet = values['quiet'] === true;
  line.help = values['help'] === true;
  line.backend = readBackend(values['backend'], usage);
  line.workerCount = read('workers');
  line.parityCount = read('parity') as ParityCount | undefined;
  line.maxDataWidth = read('max-data-width');
  line.extentLbMax = read('extent-lb-max');
  line.createSizeBytes = read('size');
  line.force = values['force'] === true;
  line.replace = values['replace'] === true;
  line.offsetBytes = read('offset');
  line.lengthBytes = read('length');
  line.deep = values['deep'] === true;
  line.keep = values['keep'] === true;
  line.demoSizeMib = read('size-mib');
  line.rateBytesPerSec = read('rate');
  line.cancel = values['cancel'] === true;
  line.noExpand = values['no-expand'] === true;
  line.spare = values['spare'] === true;
  line.readOnly = values['read-only'] === true;
  line.recursive = values['recursive'] === true;
  line.files = values['files'] === true;
  if (typeof values['prefix'] === 'string') line.prefix = values['prefix'];
  line.jobs = read('jobs');
  if (typeof values['array'] === 'string') line.arrayUuid = values['array'];
  if (typeof values['listen'] === 'string') line.listen = values['listen'];
  if (typeof values['token'] === 'string') line.token = values['token'];
  if (typeof values['scan'] === 'string') {
    const patterns = values['scan'].split(',').map((pattern) => pattern.trim()).filter((pattern) => pattern !== '');
    if (patterns.length === 0) throw new UsageError('--scan needs at least one pattern', usage);
    line.scan = patterns;
  }
  return line;
}

function defaults(verb: Verb | 'version', positionals: string[]): CommandLine {
  return { verb, arguments: positionals, json: false, debug: false, help: false, backend: 'auto', force: false, replace: false, deep: false, keep: false };
}

function readNumber(name: string, raw: string | boolean | undefined, usage: string): number | undefined {
  if (raw === undefined) return undefined;
  const spec = optionSpec(name) as OptionSpec;
  const text = String(raw);
  const value = spec.kind === 'size' ? parseSizeBytes(text) : parseInteger(text);
  if (value === undefined) {
    const expected = spec.kind === 'size' ? 'a size such as 4096, 512M or 1.5GiB' : 'a whole number';
    throw new UsageError(`--${name} must be ${expected}, not '${text}'`, usage);
  }
  if ((spec.minimum !== undefined && value < spec.minimum) || (spec.maximum !== undefined && value > spec.maximum)) {
    throw new UsageError(`--${name} must be between ${spec.minimum ?? 0} and ${spec.maximum ?? Number.MAX_SAFE_INTEGER}, not ${text}`, usage);
  }
  return value;
}

function readBackend(raw: string | boolean | undefined, usage: string): BackendChoice {
  if (raw === undefined) return 'auto';
  if (raw === 'auto' || raw === 'uring' || raw === 'fs') return raw;
  throw new UsageError(`--backend must be auto, uring or fs, not '${String(raw)}'`, usage);
}

/** The verb's spec with the argument counts of the batch form its options chose, if any, and that form's usage line. */
function batchForm(spec: VerbSpec, line: CommandLine, usage: string): { spec: VerbSpec; usage: string } {
  const chosen = (spec.batchUsage ?? []).filter((form) => (line as unknown as Record<string, unknown>)[form.option] === true);
  if (chosen.length > 1) throw new UsageError(`--${chosen[0]!.option} and --${chosen[1]!.option} cannot be combined`, usage);
  const form = chosen[0];
  if (form === undefined) {
    for (const name of ['prefix', 'jobs'] as const) {
      if (line[name] !== undefined && spec.batchUsage) throw new UsageError(`--${name} applies only to the batch forms (${spec.batchUsage.map((batch) => `--${batch.option}`).join(', ')})`, usage);
    }
    return { spec, usage };
  }
  const formUsage = batchUsageLine(spec, form);
  if (line.prefix !== undefined && form.option !== 'files') throw new UsageError('--prefix applies only to put --files (put --recursive takes PREFIX as its second argument)', formUsage);
  if (line.offsetBytes !== undefined || line.lengthBytes !== undefined) throw new UsageError(`--offset and --length do not apply to --${form.option}`, formUsage);
  return { spec: { ...spec, argumentsUsage: form.argumentsUsage, minimumArguments: form.minimumArguments, maximumArguments: form.maximumArguments }, usage: formUsage };
}

function checkArgumentCount(spec: VerbSpec, positionals: string[], usage: string): void {
  if (positionals.length < spec.minimumArguments) {
    const missing = spec.argumentsUsage.split(' ')[positionals.length] ?? 'an argument';
    throw new UsageError(`'${spec.verb}' needs ${missing.replace(/[[\].]/g, '')}`, usage);
  }
  if (positionals.length > spec.maximumArguments) {
    throw new UsageError(`'${spec.verb}' takes at most ${spec.maximumArguments} argument(s), got ${positionals.length}`, usage);
  }
  if (positionals.some((value) => value === '')) throw new UsageError('arguments must not be empty', usage);
}

function resolveHome(home: string | undefined, env: Readonly<Record<string, string | undefined>>, usage: string): string {
  const resolved = home ?? env['ELASTRIPE_HOME'];
  if (resolved === undefined || resolved === '') {
    throw new UsageError('no array home: pass --home DIR or set ELASTRIPE_HOME', usage);
  }
  return resolved;
}

/** A whole, non-negative decimal number within the safe integer range, or undefined. */
export function parseInteger(text: string): number | undefined {
  if (!/^\d+$/.test(text)) return undefined;
  const value = Number(text);
  return Number.isSafeInteger(value) ? value : undefined;
}

// Suffixes as coreutils reads them: K, KiB = 1024; KB = 1000 (and so on up to P).
const SIZE_PATTERN = /^(\d+(?:\.\d+)?|\.\d+)\s*(?:([kmgtp])(i?b)?|b)?$/i;
const SIZE_EXPONENTS: Record<string, number> = { k: 1, m: 2, g: 3, t: 4, p: 5 };

/** "4096" → 4096, "512M" → 512 MiB, "1.5GiB" → 1.5 GiB, "10MB" → 10^7; undefined if malformed. */
export function parseSizeBytes(text: string): number | undefined {
  const match = SIZE_PATTERN.exec(text.trim());
  if (match === null) return undefined;
  const [, numberText, prefix, unitTail] = match;
  const exponent = prefix === undefined ? 0 : SIZE_EXPONENTS[prefix.toLowerCase()]!;
  const decimal = unitTail !== undefined && unitTail.toLowerCase() === 'b';
  const base = decimal ? 1000 : 1024;
  const value = Number(numberText) * base ** exponent;
  if (!Number.isSafeInteger(value)) return undefined;
  return value;
}
