// The batch verbs end to end through the built CLI on image files: put --recursive, put --files,
// get --recursive with --jobs, and their bad input — directory loops (symbolic link cycles),
// unreadable files and directories (the CLI runs as the unprivileged user `nobody`, for whom
// mode 000 means something), special files, colliding names, unsafe names, a symbolic link
// out of the target directory — each a typed failure of that file while the rest is stored
// (BATCH_INCOMPLETE, exit 1), or a refusal of the whole batch before anything is stored.
// Also the zero-copy single-file path: put of a file read with O_DIRECT, get written with it.
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt, collectOutput, parseJson, runCli, type CliResult } from './run_cli.js';
import { treeDigest } from '../helpers/file_sets.js';
import { startServe, useServeCleanup } from './serve_harness.js';
import { copyRunnablePackage, type RunnableCopy } from '../helpers/runnable_copy.js';

useServeCleanup();

const NOBODY = 65534;
const MIB = 2 ** 20;
let rootDir = '';
let home = '';
/** The tool as `nobody` can run it, wherever the checkout lies. */
let runnable: RunnableCopy | undefined;

/** Runs the CLI as `nobody`, so file modes bind (root reads mode-000 files). */
function runAsNobody(args: readonly string[]): Promise<CliResult> {
  const child = spawn(process.execPath, [runnable!.binPath, ...args, '--home', home], {
    cwd: rootDir, uid: NOBODY, gid: NOBODY, env: { ...process.env, ELASTRIPE_HOME: undefined }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  return collectOutput(child);
}

function sha(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

async function names(): Promise<string[]> {
  const listed = parseJson(await runAsNobody(['ls', '--json'])) as { name: string }[];
  return listed.map((file) => file.name).sort();
}


function expectFailed(result: CliResult, code: string): void {
  expect(result.exitCode, result.stderr).toBe(1);
  expect(result.stderr).toMatch(new RegExp(`elastripe: ${code}: `));
}

beforeAll(async () => {
  assertBuilt();
  runnable = copyRunnablePackage();
  rootDir = await mkdtemp(join(tmpdir(), 'elastripe-cli-batch-'));
  await chmod(rootDir, 0o777);
  home = join(rootDir, 'home');
  const devices = ['a', 'b', 'c', 'd'].map((name) => join(rootDir, `${name}.img`));
  const created = await runAsNobody(['create', ...devices, '--size', '64M', '--json']);
  expect(created.exitCode, created.stderr).toBe(0);
});

afterAll(async () => {
  if (rootDir) await rm(rootDir, { recursive: true, force: true });
  runnable?.remove();
});

describe('put --recursive and get --recursive', () => {
  it('store a tree with several files in flight and read it back byte for byte', async () => {
    const tree = join(rootDir, 'tree');
    await mkdir(join(tree, 'a', 'b'), { recursive: true });
    await mkdir(join(tree, 'empty'));
    await writeFile(join(tree, 'top.bin'), randomBytes(2 * MIB + 5));
    await writeFile(join(tree, 'a', 'one'), randomBytes(4096));
    await writeFile(join(tree, 'a', 'b', 'two'), randomBytes(1));
    await writeFile(join(tree, 'a', 'zero'), Buffer.alloc(0));
    for (let i = 0; i < 40; i++) await writeFile(join(tree, 'a', `small-${i}`), randomBytes(100 + i * 37));
    const put = await runAsNobody(['put', '--recursive', tree, 'backup/', '--jobs', '8']);
    expect(put.exitCode, put.stderr).toBe(0);
    expect(put.stdout.toString()).toMatch(/^stored 44 files, \d+ bytes .* files\/s, /);
    const stored = await names();
    expect(stored).toContain('backup/a/b/two');
    expect(stored).toContain('backup/top.bin');
    expect(stored.filter((name) => name.startsWith('backup/'))).toHaveLength(44);

    const out = join(rootDir, 'restored');
    const get = await runAsNobody(['get', '--recursive', 'backup', out, '--jobs', '3', '--json']);
    expect(get.exitCode, get.stderr).toBe(0);
    expect(parseJson(get)).toMatchObject({ files: 44, failed: [], filesPerSecond: expect.any(Number), bytesPerSecond: expect.any(Number) });
    const expected = await treeDigest(tree, { regularOnly: true });
    expect(await treeDigest(out, { regularOnly: true })).toEqual(expected);
    expect(Object.keys(expected)).toHaveLength(44);
  });

  it('a symbolic link cycle, unreadable files and directories, special files: those fail, the rest is stored', async () => {
    const tree = join(rootDir, 'bad-tree');
    await mkdir(join(tree, 'sub', 'deeper'), { recursive: true });
    await writeFile(join(tree, 'ok'), 'fine');
    await writeFile(join(tree, 'sub', 'deeper', 'ok2'), 'fine too');
    await symlink('../..', join(tree, 'sub', 'deeper', 'loop')); // back to the tree's root
    await symlink('self', join(tree, 'self')); // a link to itself: ELOOP
    await symlink('ok', join(tree, 'alias')); // a link to a file is followed
    await writeFile(join(tree, 'secret'), 'no');
    await chmod(join(tree, 'secret'), 0o000);
    await mkdir(join(tree, 'closed'));
    await writeFile(join(tree, 'closed', 'hidden'), 'x');
    await chmod(join(tree, 'closed'), 0o000);
    execFileSync('mkfifo', [join(tree, 'fifo')]);
    const result = await runAsNobody(['put', '--recursive', tree, 'bad', '--json']);
    expect(result.exitCode, result.stderr).toBe(1);
    const document = parseJson(result) as { error: { code: string }; report: { files: number; failed: { path: string; code: string }[] } };
    expect(document.error.code).toBe('BATCH_INCOMPLETE');
    const failed = Object.fromEntries(document.report.failed.map((failure) => [relative(tree, failure.path), failure.code]));
    expect(failed).toEqual({
      'sub/deeper/loop': 'DIRECTORY_LOOP',
      self: 'DIRECTORY_LOOP',
      secret: 'INVALID_ARGUMENT',
      closed: 'INVALID_ARGUMENT',
      fifo: 'INVALID_ARGUMENT',
    });
    expect(document.report.files).toBe(3);
    expect((await names()).filter((name) => name.startsWith('bad/'))).toEqual(['bad/alias', 'bad/ok', 'bad/sub/deeper/ok2']);
    // Text mode lists each failure on stderr.
    const text = await runAsNobody(['put', '--recursive', tree, 'bad2']);
    expectFailed(text, 'BATCH_INCOMPLETE');
    expect(text.stderr).toMatch(/failed: .*loop: DIRECTORY_LOOP: .* leads back to /);
    expect(text.stderr).toMatch(/failed: .*secret \(bad2\/secret\): INVALID_ARGUMENT: .*permission denied \(EACCES\)/);
  });

  it('refuses what makes the whole batch meaningless before storing anything', async () => {
    const before = await names();
    const a = join(rootDir, 'dirA');
    const b = join(rootDir, 'dirB');
    await mkdir(a);
    await mkdir(b);
    await writeFile(join(a, 'same'), 'one');
    await writeFile(join(b, 'same'), 'two');
    await writeFile(join(a, 'other'), 'three');
    const collide = await runAsNobody(['put', '--files', join(a, 'same'), join(a, 'other'), join(b, 'same'), '--prefix', 'p']);
    expectFailed(collide, 'INVALID_ARGUMENT');
    expect(collide.stderr).toMatch(/names collide, so nothing was stored: .*same and .*same both map to p\/same/);
    expectFailed(await runAsNobody(['put', '--recursive', join(a, 'same')]), 'INVALID_ARGUMENT');
    expectFailed(await runAsNobody(['put', '--recursive', join(rootDir, 'missing')]), 'NOT_FOUND');
    expect(await names()).toEqual(before);
    // Usage: the options belong to their forms.
    expect((await runAsNobody(['put', 'x', join(a, 'same'), '--prefix', 'p'])).exitCode).toBe(2);
    expect((await runAsNobody(['put', '--recursive', '--files', a])).exitCode).toBe(2);
    expect((await runAsNobody(['put', '--recursive', a, 'p', 'extra'])).exitCode).toBe(2);
    expect((await runAsNobody(['get', '--recursive', 'p'])).exitCode).toBe(2);
    // get --recursive of a prefix nothing is under: refused, and the DIR it would have made is not left behind.
    expectFailed(await runAsNobody(['get', '--recursive', 'no-such-prefix', join(rootDir, 'never-made')]), 'NOT_FOUND');
    await expect(stat(join(rootDir, 'never-made'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('put --files stores each file under its base name; get --recursive refuses unsafe names and links out of DIR', async () => {
    const a = join(rootDir, 'files');
    await mkdir(a);
    await writeFile(join(a, 'f1'), 'first');
    await writeFile(join(a, 'f2'), randomBytes(5000));
    const put = await runAsNobody(['put', '--files', join(a, 'f1'), join(a, 'f2'), join(a, 'nope'), '--prefix', 'multi']);
    expectFailed(put, 'BATCH_INCOMPLETE');
    expect(put.stderr).toMatch(/failed: .*nope: NOT_FOUND/);
    expect((await names()).filter((name) => name.startsWith('multi/'))).toEqual(['multi/f1', 'multi/f2']);

    // Names that cannot be a path inside DIR, and a link inside DIR that leads out of it.
    const tiny = join(a, 'f1');
    for (const name of ['edge/../escape', 'edge//double', 'edge/out/file', 'edge/fine']) {
      const stored = await runAsNobody(['put', name, tiny]);
      expect(stored.exitCode, stored.stderr).toBe(0);
    }
    const out = join(rootDir, 'edge-out');
    const elsewhere = join(rootDir, 'elsewhere');
    await mkdir(out, { mode: 0o777 });
    await mkdir(elsewhere, { mode: 0o777 });
    await chmod(out, 0o777);
    await chmod(elsewhere, 0o777);
    await symlink(elsewhere, join(out, 'out'));
    const get = await runAsNobody(['get', '--recursive', 'edge', out, '--json']);
    expect(get.exitCode, get.stderr).toBe(1);
    const report = (parseJson(get) as { report: { files: number; failed: { name: string; code: string; message: string }[] } }).report;
    expect(report.files).toBe(1);
    expect(report.failed.map((failure) => [failure.name, failure.code]).sort()).toEqual([
      ['edge/../escape', 'INVALID_ARGUMENT'],
      ['edge//double', 'INVALID_ARGUMENT'],
      ['edge/out/file', 'INVALID_ARGUMENT'],
    ]);
    expect(await readdir(elsewhere)).toEqual([]);
    expect((await readFile(join(out, 'fine'))).toString()).toBe('first');
    expectFailed(await runAsNobody(['get', '--recursive', 'no-such-prefix', join(rootDir, 'x')]), 'NOT_FOUND');
    expectFailed(await runAsNobody(['get', '--recursive', 'multi', join(a, 'f1')]), 'INVALID_ARGUMENT');
  });
});

describe('single files through the zero-copy path', () => {
  it('put reads a file straight into the arena and get writes it out with O_DIRECT, for odd sizes too', async () => {
    for (const size of [8 * MIB + 4095, 3 * MIB, 1]) {
      const data = randomBytes(size);
      const source = join(rootDir, `single-${size}`);
      await writeFile(source, data);
      await chmod(source, 0o644);
      const put = await runAsNobody(['put', `single-${size}`, source]);
      expect(put.exitCode, put.stderr).toBe(0);
      const target = join(rootDir, `single-${size}.out`);
      await writeFile(target, 'old content');
      await chmod(target, 0o640);
      await chmod(target, 0o666);
      const get = await runAsNobody(['get', `single-${size}`, target]);
      expect(get.exitCode, get.stderr).toBe(0);
      expect(sha(await readFile(target))).toBe(sha(data));
      expect((await stat(target)).mode & 0o777, 'the replaced file keeps its mode').toBe(0o666);
      const range = await runAsNobody(['get', `single-${size}`, '-', '--offset', '1', '--length', '5000']);
      expect(range.stdout.equals(data.subarray(1, 5001))).toBe(true);
    }
    expect((await readdir(rootDir)).filter((name) => name.includes('partial'))).toEqual([]);
  });
});

describe('the batch forms and elastripe serve', () => {
  it('are refused with a clear sentence while serve owns the array (the files would be read by serve)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'elastripe-batch-serve-'));
    try {
      const servedHome = join(dir, 'home');
      const created = await runCli(['create', ...['a', 'b', 'c'].map((name) => join(dir, `${name}.img`)), '--size', '48M', '--home', servedHome]);
      expect(created.exitCode, created.stderr).toBe(0);
      await mkdir(join(dir, 'tree'));
      await writeFile(join(dir, 'tree', 'one'), 'x');
      const serve = await startServe(servedHome);
      try {
        const put = await runCli(['put', '--recursive', join(dir, 'tree'), '--home', servedHome]);
        expectFailed(put, 'INVALID_ARGUMENT');
        expect(put.stderr).toMatch(/does not run through elastripe serve/);
        const get = await runCli(['get', '--recursive', '/', join(dir, 'out'), '--home', servedHome]);
        expectFailed(get, 'INVALID_ARGUMENT');
      } finally {
        await serve.stop();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
