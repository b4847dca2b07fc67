// The verbs of the command line: their arguments, their options and one line of help each.
// args.ts validates a command line against this table and help.ts prints it, so a new verb
// is one entry here plus one module under commands/.

export type Verb = 'create' | 'import' | 'add' | 'online' | 'fail' | 'rebuild' | 'remove' | 'rebalance' | 'restripe' | 'expand' | 'scrub' | 'put' | 'get' | 'ls' | 'rm' | 'rename' | 'stat' | 'status' | 'fsck' | 'demo' | 'help' | 'serve';

export type OptionKind = 'boolean' | 'string' | 'integer' | 'size' | 'backend';

export interface OptionSpec {
  kind: OptionKind;
  /** Shown in help after the option name, e.g. "M" for --parity M. */
  valueName?: string;
  help: string;
  /** Inclusive bounds for integer and size options. */
  minimum?: number;
  maximum?: number;
}

export interface VerbSpec {
  verb: Verb;
  /** Positional arguments, e.g. "NAME [FILE|-]". */
  argumentsUsage: string;
  minimumArguments: number;
  /** Infinity for DEVICE... */
  maximumArguments: number;
  /** Whether the verb works on an existing or new array and so needs --home. */
  needsHome: boolean;
  summary: string;
  options: readonly string[];
  /** Other argument forms, chosen by a boolean option (put --recursive DIR [PREFIX]). */
  batchUsage?: readonly BatchUsage[];
}

export interface BatchUsage {
  option: string;
  argumentsUsage: string;
  minimumArguments: number;
  maximumArguments: number;
}

/**
 * The most parity worker threads an array can run: one arena scratch slot each, after the
 * coordinator's (POOL_WORKER_COUNT_MAX in src/kernels/pool.ts; not imported, so usage errors
 * answer without loading the pool; test/cli/args.test.ts keeps the two equal).
 */
export const WORKER_COUNT_MAX = 22;

/** Options every verb accepts. */
export const COMMON_OPTIONS: Readonly<Record<string, OptionSpec>> = {
  home: { kind: 'string', valueName: 'DIR', help: 'array home directory (default: $ELASTRIPE_HOME)' },
  json: { kind: 'boolean', help: 'print one JSON document on stdout instead of text' },
  debug: { kind: 'boolean', help: 'print stack traces with errors' },
  quiet: { kind: 'boolean', help: 'draw no progress bars (errors and results are still printed)' },
  backend: { kind: 'backend', valueName: 'auto|uring|fs', help: 'device backend (default auto)' },
  workers: { kind: 'integer', valueName: 'N', help: `parity worker threads, 0..${WORKER_COUNT_MAX} (0 = inline)`, minimum: 0, maximum: WORKER_COUNT_MAX },
  help: { kind: 'boolean', help: 'show help for the verb' },
  scan: {
    kind: 'string',
    valueName: 'PATTERNS',
    help: 'where to look for devices not at their recorded paths: comma-separated globs and nbd:// URLs (default $ELASTRIPE_SCAN, else /dev/loop*,/dev/disk/by-id/*,/dev/nbd*)',
  },
};

/** Options only some verbs accept. */
export const VERB_OPTIONS: Readonly<Record<string, OptionSpec>> = {
  parity: { kind: 'integer', valueName: 'M', help: 'parity blocks per group, 1..3 (default 1)', minimum: 1, maximum: 3 },
  'max-data-width': { kind: 'integer', valueName: 'K', help: 'largest data blocks per group, 1..255 (default 8)', minimum: 1, maximum: 255 },
  'extent-lb-max': { kind: 'integer', valueName: 'N', help: 'largest extent, in 4 KiB blocks', minimum: 1, maximum: 2 ** 31 },
  size: { kind: 'size', valueName: 'SIZE', help: 'create missing image files of SIZE (512M, 4G, 1.5GiB)', minimum: 1 },
  replace: { kind: 'boolean', help: 'rename over an existing file of the new name (atomically)' },
  force: { kind: 'boolean', help: "overwrite devices that are not blank or belong to another array" },
  offset: { kind: 'size', valueName: 'BYTES', help: 'first byte to read (default 0)', minimum: 0 },
  length: { kind: 'size', valueName: 'BYTES', help: 'bytes to read, stopping at the end of the file (default: to the end)', minimum: 0 },
  deep: { kind: 'boolean', help: 'also read every block and check checksums and parity' },
  keep: { kind: 'boolean', help: 'keep the temporary home and images afterwards' },
  rate: { kind: 'size', valueName: 'BYTES', help: 'move or check at most BYTES per second (50M = 50 MiB/s)', minimum: 1 },
  spare: { kind: 'boolean', help: 'add as a hot spare: it takes no new groups until a rebuild uses it in place of a lost device' },
  cancel: { kind: 'boolean', help: 'cancel the remove of a draining device: it takes new blocks again (blocks already moved stay moved)' },
  'read-only': { kind: 'boolean', help: 'open read-only: no lock, nothing written, devices opened read-only (only while no other process has the array open)' },
  array: { kind: 'string', valueName: 'UUID', help: 'import: the array to import when the devices found belong to several' },
  'no-expand': { kind: 'boolean', help: 'only add the devices: skip the expand job (combine + rebalance) that add runs by default' },
  listen: { kind: 'string', valueName: 'HOST:PORT', help: 'serve: also answer HTTP here (/metrics, /status.json, the status page at /); loopback unless --token' },
  token: { kind: 'string', valueName: 'T', help: 'serve: HTTP requests must carry it (Authorization: Bearer T, or ?token=T); needed for a non-loopback --listen (default $ELASTRIPE_TOKEN)' },
  'size-mib': { kind: 'integer', valueName: 'N', help: 'MiB of file data the demo writes (default 320)', minimum: 1, maximum: 65536 },
  recursive: { kind: 'boolean', help: 'put: every regular file under DIR as PREFIX/RELATIVE/PATH; get: every file under PREFIX into DIR' },
  files: { kind: 'boolean', help: 'put every FILE argument, each under its base name (with --prefix P: P/NAME)' },
  prefix: { kind: 'string', valueName: 'PREFIX', help: 'put --files: store the files under PREFIX/' },
  jobs: { kind: 'integer', valueName: 'N', help: 'files in flight at once in a batch (default 4)', minimum: 1, maximum: 64 },
};

export const VERB_SPECS: readonly VerbSpec[] = [
  { verb: 'create', argumentsUsage: 'DEVICE...', minimumArguments: 1, maximumArguments: Infinity, needsHome: true,
    summary: 'create an array on block devices, image files or nbd://host:port/export URLs', options: ['parity', 'max-data-width', 'extent-lb-max', 'size', 'force'] },
  { verb: 'import', argumentsUsage: '[DEVICE...]', minimumArguments: 0, maximumArguments: Infinity, needsHome: true,
    summary: 'rebuild a lost home from the devices alone (the named DEVICEs, or those --scan finds)', options: ['array'] },
  { verb: 'add', argumentsUsage: 'DEVICE...', minimumArguments: 1, maximumArguments: Infinity, needsHome: true,
    summary: 'add devices to the array while it stays online, then expand onto them (combine narrow groups in place, rebalance); --spare: keep them for rebuilds', options: ['size', 'force', 'no-expand', 'rate', 'spare'] },
  { verb: 'fail', argumentsUsage: 'DEVICE', minimumArguments: 1, maximumArguments: 1, needsHome: true,
    summary: 'mark a device failed: reads reconstruct its blocks, writes avoid it', options: [] },
  { verb: 'online', argumentsUsage: 'DEVICE', minimumArguments: 1, maximumArguments: 1, needsHome: true,
    summary: 'bring a failed or missing device back (by id, path or UUID, or the new path it came back at) after checking its superblock', options: [] },
  { verb: 'rebuild', argumentsUsage: '', minimumArguments: 0, maximumArguments: 0, needsHome: true,
    summary: 'rebuild the blocks of failed and missing devices onto the survivors', options: ['rate'] },
  { verb: 'remove', argumentsUsage: 'DEVICE', minimumArguments: 1, maximumArguments: 1, needsHome: true,
    summary: 'move every block off a device, then remove it from the array (shrink); the device stays draining until it finishes or --cancel', options: ['rate', 'cancel'] },
  { verb: 'rebalance', argumentsUsage: '', minimumArguments: 0, maximumArguments: 0, needsHome: true,
    summary: 'move blocks from fuller to emptier devices until usage is even', options: ['rate'] },
  { verb: 'restripe', argumentsUsage: '', minimumArguments: 0, maximumArguments: 0, needsHome: true,
    summary: 'rewrite files stored in narrow groups at the width the array allows now', options: ['rate'] },
  { verb: 'expand', argumentsUsage: '', minimumArguments: 0, maximumArguments: 0, needsHome: true,
    summary: 'combine narrow groups in place into groups of today\'s width, then rebalance (what add runs; continues a cut-short one)', options: ['rate'] },
  { verb: 'scrub', argumentsUsage: '', minimumArguments: 0, maximumArguments: 0, needsHome: true,
    summary: 'read and verify every block and parity, rewriting what parity rebuilds', options: ['rate'] },
  { verb: 'put', argumentsUsage: 'NAME [FILE|-]', minimumArguments: 1, maximumArguments: 2, needsHome: true,
    summary: 'store FILE (default: NAME; - = stdin) as NAME; put --recursive DIR [PREFIX] stores a tree, put --files FILE... [--prefix P] many files',
    options: ['recursive', 'files', 'prefix', 'jobs'],
    batchUsage: [
      { option: 'recursive', argumentsUsage: 'DIR [PREFIX]', minimumArguments: 1, maximumArguments: 2 },
      { option: 'files', argumentsUsage: 'FILE...', minimumArguments: 1, maximumArguments: Infinity },
    ] },
  { verb: 'get', argumentsUsage: 'NAME [FILE|DIR|-]', minimumArguments: 1, maximumArguments: 2, needsHome: true,
    summary: 'read NAME into FILE or DIR/NAME (default: NAME; - = stdout); get --recursive PREFIX DIR reads every file under PREFIX/ (/ = all) into DIR',
    options: ['offset', 'length', 'read-only', 'recursive', 'jobs'],
    batchUsage: [{ option: 'recursive', argumentsUsage: 'PREFIX DIR', minimumArguments: 2, maximumArguments: 2 }] },
  { verb: 'ls', argumentsUsage: '', minimumArguments: 0, maximumArguments: 0, needsHome: true,
    summary: 'list files', options: ['read-only'] },
  { verb: 'rename', argumentsUsage: 'OLD NEW', minimumArguments: 2, maximumArguments: 2, needsHome: true,
    summary: 'rename a file (a file named NEW is refused unless --replace)', options: ['replace'] },
  { verb: 'rm', argumentsUsage: 'NAME', minimumArguments: 1, maximumArguments: 1, needsHome: true,
    summary: 'delete a file', options: [] },
  { verb: 'stat', argumentsUsage: 'NAME', minimumArguments: 1, maximumArguments: 1, needsHome: true,
    summary: "show a file's groups and extents", options: ['read-only'] },
  { verb: 'status', argumentsUsage: '', minimumArguments: 0, maximumArguments: 0, needsHome: true,
    summary: 'show devices, usage and array totals', options: ['read-only'] },
  { verb: 'fsck', argumentsUsage: '', minimumArguments: 0, maximumArguments: 0, needsHome: true,
    summary: 'check metadata (and with --deep every block)', options: ['deep', 'read-only'] },
  { verb: 'serve', argumentsUsage: '', minimumArguments: 0, maximumArguments: 0, needsHome: true,
    summary: 'own the array in the foreground until SIGTERM: other verbs go through its socket; optional HTTP metrics and status page', options: ['listen', 'token'] },
  { verb: 'demo', argumentsUsage: '', minimumArguments: 0, maximumArguments: 0, needsHome: false,
    summary: 'run the demo on image files in a temporary home', options: ['keep', 'size-mib'] },
  { verb: 'help', argumentsUsage: '[VERB]', minimumArguments: 0, maximumArguments: 1, needsHome: false,
    summary: 'show this help or the help of one verb', options: [] },
];

export function findVerbSpec(name: string): VerbSpec | undefined {
  return VERB_SPECS.find((spec) => spec.verb === name);
}

export function optionSpec(name: string): OptionSpec | undefined {
  return COMMON_OPTIONS[name] ?? VERB_OPTIONS[name];
}

/** "elastripe put NAME [FILE|-] [options]" */
export function usageLine(spec: VerbSpec): string {
  const argumentsPart = spec.argumentsUsage ? ` ${spec.argumentsUsage}` : '';
  return `usage: elastripe ${spec.verb}${argumentsPart} [options]`;
}

/** The usage line of a batch form: "usage: elastripe put --recursive DIR [PREFIX] [options]". */
export function batchUsageLine(spec: VerbSpec, form: BatchUsage): string {
  return `usage: elastripe ${spec.verb} --${form.option} ${form.argumentsUsage} [options]`;
}

/** Every form's usage line, for help. */
export function usageLines(spec: VerbSpec): string[] {
  return [usageLine(spec), ...(spec.batchUsage ?? []).map((form) => batchUsageLine(spec, form))];
}

export const GENERAL_USAGE = 'usage: elastripe <verb> [arguments] [options]   (elastripe help for the list of verbs)';
