// get --recursive's output (src/cli/batch_output.ts), through the built CLI on image files:
// every file complete under its name or not at all, everything durable before exit 0, a file's
// failure its own, nothing partial left behind.
//   - the order of the system calls, seen with strace: the output file system is synced
//     (syncfs) before any file is renamed into place, no fdatasync per file, and the
//     directories are fsync'ed after the last rename, before the process exits; without the
//     io_uring addon (so without its syncfs), an fdatasync per file before its rename;
//   - per-file failures (a directory where a file goes, a file where a directory goes, a
//     directory the user may not write) are typed, the rest is written — into a directory the
//     user may write but not read too —, no partial file stays; an existing file is replaced
//     whole, keeping its mode;
//   - Ctrl-C half way: no partial file stays, and what is there is complete.
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyRunnablePackage, type RunnableCopy } from '../helpers/runnable_copy.js';
import { requirePrerequisite, rootPrerequisite, stracePrerequisite } from '../helpers/prerequisites.js';
import { uringAddon, uringAvailable } from '../../src/devices/uring_native.js';
import { assertBuilt, collectOutput, parseJson, startCli, type CliResult } from './run_cli.js';
import { treeDigest } from '../helpers/file_sets.js';

const NOBODY = 65534;
/** An addon built before syncfs (a checkout that pulled this without `npm run build:native`). */
const syncfsPrerequisite = requirePrerequisite('the io_uring addon with syncfs', () => {
  const uring = uringAvailable();
  if (!uring.available) return uring.reason ?? 'the io_uring addon is not available';
  return typeof uringAddon().syncfs === 'function' || 'the built addon predates syncfs: run npm run build:native';
});
const FILES = 300;
let rootDir = '';
/** An array of root's: strace and the interrupted batch. */
let home = '';
/** An array of nobody's, for whom a directory's mode binds. */
let nobodyHome = '';
let runnable: RunnableCopy | undefined;
const tree: Record<string, Buffer> = {};

function run(args: readonly string[], options: { env?: Record<string, string>; nobody?: boolean; strace?: string } = {}): Promise<CliResult> {
  const bin = options.nobody ? runnable!.binPath : join(import.meta.dirname, '..', '..', 'bin', 'elastripe.js');
  const command = [process.execPath, bin, ...args, '--home', options.nobody ? nobodyHome : home];
  const traced = options.strace === undefined
    ? command
    : ['strace', '-f', '-qq', '-o', options.strace, '-e', 'trace=syncfs,fsync,fdatasync,rename,renameat,renameat2,exit_group', ...command];
  const child = spawn(traced[0]!, traced.slice(1), {
    cwd: rootDir, env: { ...process.env, ELASTRIPE_HOME: undefined, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'],
    ...(options.nobody ? { uid: NOBODY, gid: NOBODY } : {}),
  });
  return collectOutput(child);
}

function sha(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}


/** The index of the last element that passes (es2022 has no findLastIndex). */
function lastIndex<T>(items: readonly T[], test: (item: T) => boolean): number {
  for (let i = items.length - 1; i >= 0; i--) if (test(items[i]!)) return i;
  return -1;
}

/** The completed system calls of a strace -f log, in the order they completed. */
function syscalls(log: string): { name: string; line: string }[] {
  const calls: { name: string; line: string }[] = [];
  const started = new Map<string, string>(); // pid -> the line of its unfinished call
  for (const line of log.split('\n')) {
    const match = /^(\d+)\s+(?:<\.\.\. (\w+) resumed>|(\w+)\()/.exec(line);
    if (!match) continue;
    if (line.includes('<unfinished ...>')) {
      started.set(match[1]!, line);
      continue;
    }
    const name = match[2] ?? match[3]!;
    calls.push({ name, line: match[2] !== undefined ? `${started.get(match[1]!) ?? ''} ${line}` : line });
  }
  return calls;
}

beforeAll(async () => {
  rootPrerequisite().assert();
  assertBuilt();
  runnable = copyRunnablePackage();
  rootDir = await mkdtemp(join(tmpdir(), 'elastripe-batch-output-'));
  await chmod(rootDir, 0o777);
  home = join(rootDir, 'home');
  nobodyHome = join(rootDir, 'nobody-home');
  const source = join(rootDir, 'tree');
  for (let i = 0; i < FILES; i++) {
    const relativePath = join(`d${i % 3}`, i % 2 ? 'sub' : '', `f${i}`);
    tree[relativePath] = randomBytes(1 + ((i * 997) % 9000));
    await mkdir(join(source, relativePath, '..'), { recursive: true, mode: 0o777 });
    await writeFile(join(source, relativePath), tree[relativePath]!, { mode: 0o644 });
  }
  for (const [owner, nobody] of [[home, false], [nobodyHome, true]] as const) {
    const devices = ['a', 'b', 'c'].map((name) => join(rootDir, `${nobody ? 'n' : 'r'}-${name}.img`));
    const created = await run(['create', ...devices, '--size', '48M'], { nobody });
    expect(created.exitCode, created.stderr).toBe(0);
    const put = await run(['put', '--recursive', source, 'p', '--jobs', '8'], { nobody });
    expect(put.exitCode, put.stderr).toBe(0);
    expect(owner).toBeTruthy();
  }
}, 120_000);

afterAll(async () => {
  if (rootDir) await rm(rootDir, { recursive: true, force: true });
  runnable?.remove();
});

const expected = (): Record<string, string> => Object.fromEntries(Object.entries(tree).map(([path, bytes]) => [path, sha(bytes)]));

describe('get --recursive: each file whole under its name, all of it durable at exit 0', () => {
  stracePrerequisite().and(syncfsPrerequisite).it('syncs the file system before any rename, and fsyncs the directories after the last one, before exiting', async () => {
    const out = join(rootDir, 'out-traced');
    const log = join(rootDir, 'strace.log');
    const result = await run(['get', '--recursive', 'p', out, '--jobs', '8', '--json'], { strace: log });
    expect(result.exitCode, result.stderr).toBe(0);
    expect(parseJson(result)).toMatchObject({ files: FILES, bytes: Object.values(tree).reduce((sum, bytes) => sum + bytes.byteLength, 0), failed: [] });
    expect(await treeDigest(out)).toEqual(expected());
    const calls = syscalls(await readFile(log, 'utf8'));
    const index = (name: RegExp, from: 'first' | 'last'): number => (from === 'first' ? calls.findIndex((call) => name.test(call.name)) : lastIndex(calls, (call) => name.test(call.name)));
    const renames = calls.filter((call) => /^rename/.test(call.name));
    expect(renames).toHaveLength(FILES);
    expect(renames.every((call) => call.line.includes('.elastripe-partial-') && / = 0$/.test(call.line))).toBe(true);
    expect(calls.filter((call) => call.name === 'fdatasync'), 'no fdatasync per file').toEqual([]);
    const firstSyncfs = index(/^syncfs$/, 'first');
    expect(firstSyncfs, 'a syncfs').toBeGreaterThanOrEqual(0);
    expect(calls[firstSyncfs]!.line).toMatch(/ = 0$/);
    expect(firstSyncfs, 'the data is synced before any name points at it').toBeLessThan(index(/^rename/, 'first'));
    const lastRename = index(/^rename/, 'last');
    const directoryFsyncs = calls.slice(lastRename).filter((call) => call.name === 'fsync');
    // DIR's parent, DIR, d0..d2 and their sub directories.
    expect(directoryFsyncs.length, 'the directories are fsynced after the last rename').toBeGreaterThanOrEqual(8);
    expect(index(/^exit_group$/, 'last')).toBeGreaterThan(calls.lastIndexOf(directoryFsyncs.at(-1)!));
  }, 60_000);

  stracePrerequisite().it('without the addon\'s syncfs: an fdatasync per file, each before its rename', async () => {
    const out = join(rootDir, 'out-fallback');
    const log = join(rootDir, 'strace-fallback.log');
    const result = await run(['get', '--recursive', 'p', out, '--jobs', '8'], { strace: log, env: { ELASTRIPE_DISABLE_URING: '1' } });
    expect(result.exitCode, result.stderr).toBe(0);
    expect(await treeDigest(out)).toEqual(expected());
    const calls = syscalls(await readFile(log, 'utf8'));
    expect(calls.filter((call) => call.name === 'syncfs')).toEqual([]);
    expect(calls.filter((call) => call.name === 'fdatasync')).toHaveLength(FILES);
    // The n-th rename comes after at least n fdatasyncs.
    let synced = 0;
    for (const call of calls) {
      if (call.name === 'fdatasync') synced++;
      if (/^rename/.test(call.name)) {
        expect(synced, 'a rename with no fdatasync before it').toBeGreaterThan(0);
        synced--;
      }
    }
    const lastRename = lastIndex(calls, (call) => /^rename/.test(call.name));
    expect(calls.slice(lastRename).filter((call) => call.name === 'fsync').length).toBeGreaterThanOrEqual(8);
  }, 60_000);

  it('a file\'s failure is its own and typed, nothing partial is left, and an existing file is replaced whole with its mode', async () => {
    const out = join(rootDir, 'out-failures');
    await mkdir(join(out, 'd0'), { recursive: true, mode: 0o777 });
    await mkdir(join(out, 'd1', 'sub'), { recursive: true, mode: 0o777 });
    await chmod(out, 0o777);
    await chmod(join(out, 'd0'), 0o777);
    await chmod(join(out, 'd1'), 0o777);
    await chmod(join(out, 'd1', 'sub'), 0o555); // nobody may not write here
    await chmod(join(out, 'd1'), 0o333); // a drop box: nobody may write here, not read (no descriptor to sync through)
    await mkdir(join(out, 'd0', 'f0'), { mode: 0o777 }); // a directory where a file goes
    await writeFile(join(out, 'd2'), 'a file where a directory goes');
    await chmod(join(out, 'd2'), 0o666);
    await writeFile(join(out, 'd0', 'f6'), 'old content');
    await chmod(join(out, 'd0', 'f6'), 0o606);
    const result = await run(['get', '--recursive', 'p', out, '--jobs', '8', '--json'], { nobody: true });
    expect(result.exitCode, result.stderr).toBe(1);
    const document = parseJson(result) as { error: { code: string }; report: { files: number; failed: { path: string; name: string; code: string; message: string }[] } };
    expect(document.error.code).toBe('BATCH_INCOMPLETE');
    const failedPaths = Object.keys(tree).filter((path) => path === 'd0/f0' || path.startsWith('d1/sub/') || path.startsWith('d2/'));
    expect(document.report.failed.map((failure) => relative(out, failure.path)).sort()).toEqual(failedPaths.sort());
    expect(new Set(document.report.failed.map((failure) => failure.code))).toEqual(new Set(['INVALID_ARGUMENT']));
    expect(document.report.failed.find((failure) => failure.name === 'p/d0/f0')!.message).toMatch(/is a directory/);
    expect(document.report.failed.find((failure) => failure.name.startsWith('p/d1/sub/'))!.message).toMatch(/permission denied \(EACCES\)/);
    expect(document.report.files).toBe(FILES - failedPaths.length);
    const written = await treeDigest(out);
    expect(Object.keys(written).filter((path) => path.includes('elastripe-partial')), 'no partial file left').toEqual([]);
    const { 'd2': _aFile, ...rest } = written;
    expect(rest).toEqual(Object.fromEntries(Object.entries(expected()).filter(([path]) => !failedPaths.includes(path))));
    expect((await readFile(join(out, 'd2'))).toString(), 'a file in the way is left alone').toBe('a file where a directory goes');
    expect((await stat(join(out, 'd0', 'f0'))).isDirectory()).toBe(true);
    expect((await stat(join(out, 'd0', 'f6'))).mode & 0o777, 'the replaced file keeps its mode').toBe(0o606);
  }, 60_000);

  it('Ctrl-C half way leaves no partial file, and every file there is complete', async () => {
    const out = join(rootDir, 'out-interrupted');
    const { child, done } = startCli(['get', '--recursive', 'p', out, '--jobs', '2', '--home', home]);
    let sawPartial = false;
    while (!sawPartial && child.exitCode === null) {
      const entries = await readdir(join(out, 'd0'), { recursive: true }).catch(() => [] as string[]);
      sawPartial = entries.some((entry) => entry.includes('.elastripe-partial-'));
      if (!sawPartial) await new Promise((resolve) => setTimeout(resolve, 2));
    }
    child.kill('SIGINT');
    const result = await done;
    expect(sawPartial, 'the batch was caught half way').toBe(true);
    expect(result.exitCode, result.stderr).toBe(1);
    expect(result.stderr).toMatch(/ABORTED/);
    const written = await treeDigest(out);
    expect(Object.keys(written).filter((path) => path.includes('elastripe-partial')), 'no partial file left').toEqual([]);
    for (const [path, digest] of Object.entries(written)) expect(digest, path).toBe(expected()[path]);
  }, 60_000);
});
