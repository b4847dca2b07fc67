// The CLI against bad input, verb by verb, on image-file arrays: wrong or missing arguments and
// option values (exit 2, nothing created or changed), names and homes that do not exist, the
// same device twice, a device below the minimum size, a full array (NO_SPACE, nothing
// half-written), a corrupted metadata file (CORRUPT_METADATA, the file untouched) and a device
// of another array (FOREIGN_DEVICE unless --force). Every failure is exit 1 or 2 with one line
// `elastripe: CODE: sentence` on stderr and no stack trace.
import { execFile, execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { closeSync, createReadStream, existsSync, openSync } from 'node:fs';
import { chmod, link, lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, stat, symlink, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it, type ExpectStatic } from 'vitest';
import { DEVICE_MIN_BYTES } from '../../src/array/layout.js';
import { LoopDeviceSet, loopDevicesAvailable } from '../helpers/loop_devices.js';
import { assertBuilt, parseJson, REPO_DIR, runCli, type CliOptions, type CliResult } from './run_cli.js';

const MIB = 2 ** 20;
const IMAGE_BYTES = 24 * MIB;
const IMAGE_SIZE = '24M';
const DATABASE_FILE = 'elastripe.db';
/** Rewritten by every open (the lock holder's pid); not part of the array's state. */
const HOLDER_FILE = 'holder';

let rootDir = '';
/** The working directory of every run; nothing may ever appear in it. */
let workDir = '';
/** A private TMPDIR for every run (demo would make its home there). */
let tmpDir = '';
const path = (name: string) => join(rootDir, name);

beforeAll(async () => {
  assertBuilt();
  rootDir = await mkdtemp(join(tmpdir(), 'elastripe-cli-bad-input-'));
  workDir = path('work');
  tmpDir = path('tmp');
  await Promise.all([mkdir(workDir), mkdir(tmpDir)]);
  // Blank images: all zeros, so "untouched" means "still all zeros".
  for (const name of ['blank1.img', 'blank2.img']) await makeBlankImage(path(name), IMAGE_BYTES);
});

afterAll(async () => {
  if (rootDir) await rm(rootDir, { recursive: true, force: true });
});

// --- helpers ---

/** Runs the real CLI in workDir; `--workers 0` (no pool) unless the case sets --workers itself. */
const globalExpect = expect;

function run(args: readonly string[], options: CliOptions = {}): Promise<CliResult> {
  const withWorkers = args.some((arg) => arg.startsWith('--workers')) ? args : [...args, '--workers', '0'];
  return runCli(withWorkers, { cwd: workDir, ...options, env: { TMPDIR: tmpDir, ...options.env } });
}

/** exit 1 or 2, one line `elastripe: CODE: sentence` (plus the usage line for exit 2), no stack,
 * and on stdout nothing, or with --json one error document. */
function expectFailure(args: readonly string[], result: CliResult, exitCode: 1 | 2, code: string | RegExp, message?: RegExp, expect: ExpectStatic = globalExpect): void {
  const context = `elastripe ${args.join(' ')}\nstderr: ${result.stderr}`;
  expect(result.exitCode, context).toBe(exitCode);
  expect(result.stderr, context).not.toMatch(/\n\s+at /);
  const lines = result.stderr.trimEnd().split('\n');
  const codePattern = typeof code === 'string' ? code : `(?:${code.source})`;
  expect(lines[0], context).toMatch(new RegExp(`^elastripe: ${codePattern}: \\S`));
  if (message) expect(lines[0], context).toMatch(message);
  if (exitCode === 2) {
    expect(lines[1], context).toMatch(/^usage: elastripe /);
    expect(lines, context).toHaveLength(2);
  } else {
    expect(lines, context).toHaveLength(1);
  }
  if (args.includes('--json')) {
    expect(parseJson(result), context).toMatchObject({ error: { code: expect.stringMatching(new RegExp(`^${codePattern}$`)), exitCode } });
  } else {
    expect(result.stdout.toString(), context).toBe('');
  }
}

/** The database image with the root page of each of `tables` overwritten by random bytes. */
function garbleTables(db: Buffer, tables: readonly string[]): Buffer {
  // A WAL-mode header (bytes 18-19 = 2) cannot be opened from memory: read a rollback-mode copy.
  const image = Buffer.from(db);
  image[18] = 1;
  image[19] = 1;
  const reader = new Database(image);
  try {
    const pageBytes = Number(reader.pragma('page_size', { simple: true }));
    const garbled = Buffer.from(db);
    for (const table of tables) {
      const rootPage = reader.prepare('SELECT rootpage FROM sqlite_schema WHERE type = ? AND name = ?').pluck().get('table', table) as number;
      randomBytes(pageBytes).copy(garbled, (rootPage - 1) * pageBytes);
    }
    return garbled;
  } finally {
    reader.close();
  }
}

async function makeBlankImage(file: string, sizeBytes: number): Promise<void> {
  await writeFile(file, '');
  await truncate(file, sizeBytes);
}

async function isAllZeros(file: string): Promise<boolean> {
  const bytes = await readFile(file);
  return bytes.equals(Buffer.alloc(bytes.length));
}

async function digest(files: readonly string[]): Promise<string[]> {
  return Promise.all(files.map(async (file) => createHash('sha256').update(await readFile(file)).digest('hex')));
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}

interface HomeSnapshot {
  entries: string[];
  db: Buffer;
}

async function snapshotHome(home: string): Promise<HomeSnapshot> {
  const entries = (await readdir(home)).filter((name) => name !== HOLDER_FILE).sort();
  return { entries, db: await readFile(join(home, DATABASE_FILE)) };
}

function expectSameHome(after: HomeSnapshot, before: HomeSnapshot, context: string, expect: ExpectStatic = globalExpect): void {
  expect(after.entries, `${context}: files in the home`).toEqual(before.entries);
  expect(after.db.equals(before.db), `${context}: ${DATABASE_FILE} is byte-identical (${before.db.length} bytes before, ${after.db.length} after)`).toBe(true);
}

/** Creates an array of `count` new 24 MiB images `<prefix>N.img` in the home `<prefix>home`. */
async function createArray(prefix: string, count: number): Promise<{ home: string; images: string[] }> {
  const home = path(`${prefix}home`);
  const images = Array.from({ length: count }, (_, i) => path(`${prefix}${i + 1}.img`));
  const created = await run(['create', ...images, '--home', home, '--size', IMAGE_SIZE, '--parity', '1', '--quiet']);
  expect(created.stderr).toBe('');
  expect(created.exitCode).toBe(0);
  return { home, images };
}

async function putFile(home: string, name: string, data: Buffer): Promise<void> {
  const put = await run(['put', name, '-', '--home', home, '--quiet'], { stdin: data });
  expect(put.stderr).toBe('');
  expect(put.exitCode).toBe(0);
}

async function listJson(home: string): Promise<unknown> {
  const list = await run(['ls', '--json', '--home', home]);
  expect(list.exitCode).toBe(0);
  return parseJson(list);
}

async function readBack(home: string, name: string): Promise<Buffer> {
  const get = await run(['get', name, '-', '--home', home, '--quiet']);
  expect(get.stderr).toBe('');
  expect(get.exitCode).toBe(0);
  return get.stdout;
}

/** Replaces @TOKENs in a case's arguments with paths known only at run time. */
function expand(args: readonly string[], tokens: Readonly<Record<string, string>>): string[] {
  return args.map((arg) => (arg.startsWith('@') ? (tokens[arg] ?? arg) : arg));
}

// --- the matrix ---

describe('an array the failing commands must leave alone', () => {
  const alpha = randomBytes(300 * 1024 + 17);
  const beta = randomBytes(1);
  let home = '';
  let images: string[] = [];
  let tokens: Record<string, string> = {};
  let homeBefore: HomeSnapshot;
  let rootBefore: string[] = [];
  let imagesBefore: string[] = [];
  let listBefore: unknown;

  beforeAll(async () => {
    ({ home, images } = await createArray('stable', 4));
    await putFile(home, 'alpha', alpha);
    await putFile(home, 'beta', beta);
    await mkdir(path('a-directory'));
    tokens = {
      '@home': home,
      '@newhome': path('never-home'),
      '@new1': path('never1.img'),
      '@new2': path('never2.img'),
      '@dir': path('a-directory'),
      '@missing': path('no-such-input.bin'),
      '@nodir': path('no-such-dir/out.bin'),
    };
    homeBefore = await snapshotHome(home);
    rootBefore = (await readdir(rootDir)).sort();
    imagesBefore = await digest(images);
    listBefore = await listJson(home);
    expect(listBefore).toMatchObject([{ name: 'alpha', sizeBytes: alpha.length }, { name: 'beta', sizeBytes: 1 }]);
  });

  /** After every case: the array's metadata, the temp root, workDir and TMPDIR as they were. */
  async function expectNothingChanged(context: string, expect: ExpectStatic = globalExpect): Promise<void> {
    expectSameHome(await snapshotHome(home), homeBefore, context, expect);
    expect((await readdir(rootDir)).sort(), `${context}: nothing created beside the array`).toEqual(rootBefore);
    expect(await readdir(workDir), `${context}: nothing created in the working directory`).toEqual([]);
    expect(await readdir(tmpDir), `${context}: nothing created in TMPDIR`).toEqual([]);
  }

  afterAll(async () => {
    // The data itself survived every case above.
    if (!home) return;
    expect(await listJson(home)).toEqual(listBefore);
    expect((await readBack(home, 'alpha')).equals(alpha)).toBe(true);
    expect(await digest(images)).toEqual(imagesBefore);
  });

  // Every verb: missing and extra arguments, bad option values, an option of another verb.
  const CREATE = ['create', '@new1', '@new2', '--home', '@newhome', '--size', IMAGE_SIZE];
  const USAGE_CASES: Array<[string[], RegExp]> = [
    [['create', '--home', '@newhome'], /'create' needs DEVICE/],
    [[...CREATE, '--parity', '0'], /--parity must be between 1 and 3, not 0/],
    [[...CREATE, '--parity', '4'], /--parity must be between 1 and 3, not 4/],
    [[...CREATE, '--parity', 'x'], /--parity must be a whole number, not 'x'/],
    [[...CREATE, '--parity', '1.5'], /--parity must be a whole number/],
    [[...CREATE, '--max-data-width', '0'], /--max-data-width must be between 1 and 255, not 0/],
    [[...CREATE, '--max-data-width', '300'], /--max-data-width must be between 1 and 255, not 300/],
    [[...CREATE, '--extent-lb-max', '0'], /--extent-lb-max must be between 1/],
    [['create', '@new1', '@new2', '--home', '@newhome', '--size', '-1'], /--size must be a size such as .*, not '-1'/],
    [['create', '@new1', '@new2', '--home', '@newhome', '--size=-1'], /--size must be a size such as .*, not '-1'/],
    [['create', '@new1', '@new2', '--home', '@newhome', '--size', 'abc'], /--size must be a size such as .*, not 'abc'/],
    [['create', '@new1', '@new2', '--home', '@newhome', '--size', '0'], /--size must be between 1/],
    [[...CREATE, '--workers', '-1'], /--workers must be a whole number, not '-1'/],
    [[...CREATE, '--workers', '256'], /--workers must be between 0 and 22, not 256/],
    [[...CREATE, '--workers', '23'], /--workers must be between 0 and 22, not 23/],
    [[...CREATE, '--workers=-1'], /--workers must be a whole number, not '-1'/],
    [[...CREATE, '--backend', 'zfs'], /--backend must be auto, uring or fs, not 'zfs'/],
    [[...CREATE, '--deep'], /option --deep does not apply to 'create'/],
    [['create', '@new1', '', '--home', '@newhome', '--size', IMAGE_SIZE], /arguments must not be empty/],

    [['put', '--home', '@home'], /'put' needs NAME/],
    [['put', 'alpha', '@missing', 'extra', '--home', '@home'], /'put' takes at most 2 argument\(s\), got 3/],
    [['put', '', '-', '--home', '@home'], /arguments must not be empty/],
    [['put', 'alpha', '-', '--home', '@home', '--offset', '0'], /option --offset does not apply to 'put'/],
    [['put', 'alpha', '-', '--home', '@home', '--backend', 'zfs'], /--backend must be auto, uring or fs/],
    [['put', 'alpha', '-', '--home', '@home', '--workers', '257'], /--workers must be between 0 and 22, not 257/],
    [['put', 'alpha', '-', '--home', '--json'], /--home needs a value, not the option '--json'/],
    [['put', 'alpha', '-', '--home', '@home', '--workers', 'many'], /--workers must be a whole number, not 'many'/],

    [['get', '--home', '@home'], /'get' needs NAME/],
    [['get', 'alpha', 'out.bin', 'extra', '--home', '@home'], /'get' takes at most 2 argument\(s\), got 3/],
    [['get', 'alpha', '-', '--home', '@home', '--offset', '-1'], /--offset must be a size such as .*, not '-1'/],
    [['get', 'alpha', '-', '--home', '@home', '--length', '-5'], /--length must be a size such as .*, not '-5'/],
    [['get', 'alpha', '-', '--home', '@home', '--offset', '-h'], /--offset needs a value, not the option '-h'/],
    [['get', 'alpha', '-', '--home', '@home', '--offset=-1'], /--offset must be a size such as .*, not '-1'/],
    [['get', 'alpha', '-', '--home', '@home', '--offset', 'abc'], /--offset must be a size such as .*, not 'abc'/],
    [['get', 'alpha', '-', '--home', '@home', '--offset', '1.5'], /--offset must be a size such as .*, not '1\.5'/],
    [['get', 'alpha', '-', '--home', '@home', '--length=-5'], /--length must be a size such as .*, not '-5'/],
    [['get', 'alpha', '-', '--home', '@home', '--length', '1.5x'], /--length must be a size such as .*, not '1\.5x'/],
    [['get', 'alpha', '-', '--home', '@home', '--json'], /--json cannot be combined with writing the data to stdout/],
    [['get', 'alpha', 'out.bin', '--home', '@home', '--deep'], /option --deep does not apply to 'get'/],

    [['ls', 'extra', '--home', '@home'], /'ls' takes at most 0 argument\(s\), got 1/],
    [['ls', '--home', '@home', '--backend', 'zfs'], /--backend must be auto, uring or fs/],
    [['ls', '--home', '@home', '--parity', '1'], /option --parity does not apply to 'ls'/],
    [['ls', '--home', '@home', '--workers', 'x'], /--workers must be a whole number, not 'x'/],
    [['ls', '--home'], /--home needs a value/],

    [['rm', '--home', '@home'], /'rm' needs NAME/],
    [['rm', 'alpha', 'beta', '--home', '@home'], /'rm' takes at most 1 argument\(s\), got 2/],
    [['rm', 'alpha', '--home', '@home', '--force'], /option --force does not apply to 'rm'/],
    [['rm', '', '--home', '@home'], /arguments must not be empty/],

    [['stat', '--home', '@home'], /'stat' needs NAME/],
    [['stat', 'alpha', 'beta', '--home', '@home'], /'stat' takes at most 1 argument\(s\), got 2/],
    [['stat', 'alpha', '--home', '@home', '--deep'], /option --deep does not apply to 'stat'/],

    [['status', 'extra', '--home', '@home'], /'status' takes at most 0 argument\(s\), got 1/],
    [['status', '--home', '@home', '--workers=-1'], /--workers must be a whole number, not '-1'/],
    [['status', '--home', '@home', '--backend', 'zfs'], /--backend must be auto, uring or fs/],
    [['status', '--home', '@home', '--size', '1M'], /option --size does not apply to 'status'/],

    [['fsck', 'extra', '--home', '@home'], /'fsck' takes at most 0 argument\(s\), got 1/],
    [['fsck', '--home', '@home', '--deep=yes'], /Option '--deep' does not take an argument/],
    [['fsck', '--home', '@home', '--workers', '257'], /--workers must be between 0 and 22, not 257/],
    [['fsck', '--home', '@home', '--force'], /option --force does not apply to 'fsck'/],

    [['demo', 'extra'], /'demo' takes at most 0 argument\(s\), got 1/],
    [['demo', '--size-mib', '0'], /--size-mib must be between 1 and 65536, not 0/],
    [['demo', '--size-mib', '70000'], /--size-mib must be between 1 and 65536, not 70000/],
    [['demo', '--backend', 'zfs'], /--backend must be auto, uring or fs/],
    [['demo', '--parity', '2'], /option --parity does not apply to 'demo'/],

    [['help', 'put', 'get'], /'help' takes at most 1 argument\(s\), got 2/],
    [['help', 'frob'], /unknown verb 'frob'/],

    // No home at all (neither --home nor ELASTRIPE_HOME), for every verb that needs one.
    ...[['create', '@new1', '@new2', '--size', IMAGE_SIZE], ['put', 'alpha', '-'], ['get', 'alpha', '-'], ['ls'], ['rm', 'alpha'], ['stat', 'alpha'], ['status'], ['fsck']].map(
      (args): [string[], RegExp] => [args, /no array home: pass --home DIR or set ELASTRIPE_HOME/],
    ),
  ];

  // Nothing here touches the array, so the cases run side by side (vitest's maxConcurrency).
  it.concurrent.for(USAGE_CASES)('usage error: %j', async ([template, message], { expect }) => {
    const args = expand(template, tokens);
    expectFailure(args, await run(args, { stdin: Buffer.from('not to be stored') }), 2, 'USAGE', message, expect);
    await expectNothingChanged(args.join(' '), expect);
  });

  it('treats an empty ELASTRIPE_HOME as no home', async () => {
    for (const args of [['ls'], ['put', 'alpha', '-'], ['rm', 'alpha']]) {
      expectFailure(args, await run(args, { env: { ELASTRIPE_HOME: '' } }), 2, 'USAGE', /no array home/);
    }
    await expectNothingChanged('ELASTRIPE_HOME=""');
  });

  // Names and files that do not exist: exit 1 with the error's code, the array as it was.
  const MISSING_CASES: Array<[string[], string, RegExp]> = [
    [['get', 'nope', 'out.bin', '--home', '@home'], 'NOT_FOUND', /nope/],
    [['get', 'nope', '-', '--home', '@home'], 'NOT_FOUND', /nope/],
    [['get', 'nope', '-', '--home', '@home', '--offset', '0', '--length', '1'], 'NOT_FOUND', /nope/],
    [['get', 'nope', 'out.bin', '--home', '@home', '--json'], 'NOT_FOUND', /nope/],
    [['stat', 'nope', '--home', '@home'], 'NOT_FOUND', /nope/],
    [['stat', 'nope', '--home', '@home', '--json'], 'NOT_FOUND', /nope/],
    [['rm', 'nope', '--home', '@home'], 'NOT_FOUND', /nope/],
    [['rm', 'nope', '--home', '@home', '--json'], 'NOT_FOUND', /nope/],
    [['rm', 'ALPHA', '--home', '@home'], 'NOT_FOUND', /ALPHA/],
    // put's input and get's output that cannot be opened.
    [['put', 'gamma', '--home', '@home'], 'NOT_FOUND', /gamma/],
    [['put', 'gamma', '@missing', '--home', '@home'], 'NOT_FOUND', /no-such-input\.bin/],
    [['put', 'gamma', '@dir', '--home', '@home'], 'INVALID_ARGUMENT', /a-directory is a directory/],
    [['get', 'alpha', '@nodir', '--home', '@home'], 'NOT_FOUND', /no-such-dir\/out\.bin/],
    // A device path that does not exist (no --size to create it): NOT_FOUND on every backend.
    ...['auto', 'fs'].flatMap((backend): Array<[string[], string, RegExp]> => [
      [['add', '@missing', '--home', '@home', '--backend', backend], 'NOT_FOUND', /device \S*no-such-input\.bin does not exist/],
      [['create', '@missing', '@new1', '--home', '@newhome', '--backend', backend], 'NOT_FOUND', /device \S*no-such-input\.bin does not exist/],
    ]),
    [['get', 'alpha', '-', '--home', '@home', '--offset', '1G'], 'INVALID_ARGUMENT', /\S/],
  ];

  it.each(MISSING_CASES)('does not exist: %j → %s', async (template, code, message) => {
    const args = expand(template, tokens);
    expectFailure(args, await run(args), 1, code, message);
    await expectNothingChanged(args.join(' '));
  });

  it('never makes an image file under /dev for a mistyped block device, also with --size', async () => {
    const mistyped = `/dev/elastripe-no-such-device-${process.pid}`;
    const args = expand(['create', mistyped, '@new1', '--home', '@newhome', '--size', IMAGE_SIZE], tokens);
    expectFailure(args, await run(args), 1, 'NOT_FOUND', /does not exist; --size makes image files, never under \/dev/);
    expect(existsSync(mistyped)).toBe(false);
    await expectNothingChanged(args.join(' '));
  });

  // A home that does not exist, one without an array, and a regular file as the home.
  const ARRAY_VERBS: string[][] = [['ls'], ['stat', 'alpha'], ['get', 'alpha', '-'], ['get', 'alpha', 'out.bin'], ['put', 'gamma', '-'], ['rm', 'alpha'], ['status'], ['fsck'], ['fsck', '--deep']];
  const NO_ARRAY_HOMES: Array<[string, RegExp, RegExp]> = [
    ['absent-home', /NOT_FOUND/, /array home .*absent-home does not exist/],
    ['empty-home', /NOT_FOUND/, /no array in .*empty-home/],
    ['file-home', /INVALID_ARGUMENT/, /file-home.* is not a directory/],
  ];
  const NO_ARRAY_CASES = NO_ARRAY_HOMES.flatMap(([homeName, code, message]) => ARRAY_VERBS.map((verb): [string, string[], RegExp, RegExp] => [homeName, verb, code, message]));

  describe('a home without an array', () => {
    beforeAll(async () => {
      await mkdir(path('empty-home'));
      await writeFile(path('file-home'), 'not a home\n');
      rootBefore = (await readdir(rootDir)).sort();
    });

    // These open nothing of the array either: side by side too.
    it.concurrent.for(NO_ARRAY_CASES)('%s: %j', async ([homeName, verb, code, message], { expect }) => {
      const args = [...verb, '--home', path(homeName)];
      expectFailure(args, await run(args, { stdin: Buffer.from('not to be stored') }), 1, code, message, expect);
      await expectNothingChanged(args.join(' '), expect);
      expect(await exists(path('absent-home')), 'the absent home was not created').toBe(false);
      expect(await readdir(path('empty-home')), 'nothing was created in the empty home').toEqual([]);
      expect(await readFile(path('file-home'), 'utf8')).toBe('not a home\n');
    });

    it('create refuses a regular file as its home (or as its parent)', async () => {
      for (const homeArgument of [path('file-home'), join(path('file-home'), 'sub')]) {
        const args = ['create', path('never1.img'), path('never2.img'), '--home', homeArgument, '--size', IMAGE_SIZE];
        expectFailure(args, await run(args), 1, 'INVALID_ARGUMENT');
        await expectNothingChanged(args.join(' '));
        expect(await readFile(path('file-home'), 'utf8')).toBe('not a home\n');
      }
    });
  });
});

describe('create with the same device twice', () => {
  let home = '';
  const blank = (n: number) => path(`blank${n}.img`);

  beforeAll(async () => {
    home = path('twice-home');
    await symlink(blank(1), path('blank1-symlink.img'));
    await link(blank(1), path('blank1-hardlink.img'));
    await symlink(path('later.img'), path('later-symlink.img')); // dangling until later.img exists
  });

  async function expectUntouched(context: string): Promise<void> {
    expect(await exists(home), `${context}: no home left behind`).toBe(false);
    for (const image of [blank(1), blank(2)]) expect(await isAllZeros(image), `${context}: ${image} untouched`).toBe(true);
    expect((await stat(blank(1))).size).toBe(IMAGE_BYTES);
    expect(await readdir(workDir)).toEqual([]);
  }

  it.each([
    ['the same path', ['@b1', '@b2', '@b1']],
    ['a symlink to it', ['@b1', '@b2', '@b1-symlink']],
    ['the symlink first', ['@b1-symlink', '@b2', '@b1']],
    ['a hard link to it', ['@b1', '@b2', '@b1-hardlink']],
    ['a relative path to it', ['@b1', '@b2', '../blank1.img']],
    ['a path with ./ and ..', ['@b1', '@b2', '../work/../blank1.img']],
  ])('refuses %s', async (_label, template) => {
    const tokens = { '@b1': blank(1), '@b2': blank(2), '@b1-symlink': path('blank1-symlink.img'), '@b1-hardlink': path('blank1-hardlink.img') };
    const args = ['create', ...expand(template, tokens), '--home', home];
    expectFailure(args, await run(args), 1, 'INVALID_ARGUMENT', /same device/);
    await expectUntouched(args.join(' '));
  });

  it('refuses the same new image twice with --size and creates no image', async () => {
    const args = ['create', path('twice1.img'), path('twice2.img'), path('twice1.img'), '--home', home, '--size', IMAGE_SIZE];
    expectFailure(args, await run(args), 1, 'INVALID_ARGUMENT', /same device/);
    await expectUntouched(args.join(' '));
    expect(await exists(path('twice1.img'))).toBe(false);
    expect(await exists(path('twice2.img'))).toBe(false);
  });

  it('refuses a new image and a symlink that --size makes point to it', async () => {
    // later-symlink.img dangles until create makes later.img: the two are then one file.
    const args = ['create', path('later.img'), path('later-symlink.img'), blank(2), '--home', home, '--size', IMAGE_SIZE];
    expectFailure(args, await run(args), 1, /INVALID_ARGUMENT|DEVICE_BUSY/);
    await expectUntouched(args.join(' '));
    expect(await exists(path('later.img')), 'the image create made is removed again').toBe(false);
  });
});

describe('create with a loop device and the image file behind it', () => {
  const loops = new LoopDeviceSet();
  const available = loopDevicesAvailable();
  afterAll(() => loops.destroyAll());

  // Both blank, so no superblock tells them apart: the array would be born with one device missing.
  it.skipIf(!available.available)('refuses them as the same device, in either order, and leaves no home', async () => {
    const loop = loops.create(IMAGE_BYTES);
    for (const pair of [[loop.path, loop.backingPath], [loop.backingPath, loop.path]]) {
      const home = path('loop-twice-home');
      const args = ['create', ...pair, path('blank1.img'), '--home', home];
      expectFailure(args, await run(args), 1, 'INVALID_ARGUMENT', /same device/);
      expect(await exists(home), 'no home left behind').toBe(false);
      expect(await isAllZeros(loop.backingPath), 'the image is untouched').toBe(true);
    }
  });
});

describe('create with a device below the minimum size', () => {
  const home = () => path('small-home');

  it.each([
    ['one 4 KiB short of the minimum', DEVICE_MIN_BYTES - 4096],
    ['an empty file', 0],
  ])('refuses %s', async (_label, sizeBytes) => {
    const small = path(`small-${sizeBytes}.img`);
    await makeBlankImage(small, sizeBytes);
    const args = ['create', path('blank1.img'), path('blank2.img'), small, '--home', home()];
    expectFailure(args, await run(args), 1, 'DEVICE_TOO_SMALL', new RegExp(`small-${sizeBytes}\\.img`));
    expect(await exists(home())).toBe(false);
    expect((await stat(small)).size).toBe(sizeBytes);
    for (const image of [small, path('blank1.img'), path('blank2.img')]) expect(await isAllZeros(image), image).toBe(true);
  });

  it('refuses --size below the minimum and removes the images it made', async () => {
    const images = [path('short1.img'), path('short2.img')];
    const args = ['create', ...images, '--home', home(), '--size', String(DEVICE_MIN_BYTES - 4096)];
    expectFailure(args, await run(args), 1, 'DEVICE_TOO_SMALL');
    expect(await exists(home())).toBe(false);
    for (const image of images) expect(await exists(image), image).toBe(false);
  });

  it('accepts devices of exactly the minimum size', async () => {
    const images = [path('exact1.img'), path('exact2.img')];
    const created = await run(['create', ...images, '--home', path('exact-home'), '--size', String(DEVICE_MIN_BYTES)]);
    expect(created.stderr).toBe('');
    expect(created.exitCode).toBe(0);
  });
});

describe('a full array', () => {
  const small = randomBytes(64 * 1024 + 3);
  const medium = randomBytes(3 * MIB + 5);
  const TOO_BIG_BYTES = 80 * MIB; // 4 × 24 MiB with parity 1 holds about 69 MiB
  let home = '';
  let tokens: Record<string, string> = {};
  let listBefore: unknown;
  let statusBefore: { fileCount: number; storedBytes: number; allocatedBytes: number };

  async function status(): Promise<typeof statusBefore> {
    const result = await run(['status', '--json', '--home', home]);
    expect(result.exitCode).toBe(0);
    return parseJson(result) as typeof statusBefore;
  }

  beforeAll(async () => {
    ({ home } = await createArray('full', 4));
    await putFile(home, 'small', small);
    await putFile(home, 'medium', medium);
    tokens = { '@big': path('big.bin') };
    await makeBlankImage(tokens['@big']!, TOO_BIG_BYTES);
    listBefore = await listJson(home);
    statusBefore = await status();
    expect(statusBefore).toMatchObject({ fileCount: 2, storedBytes: small.length + medium.length });
  });

  it.each([
    ['a new file from a file', ['put', 'huge', '@big']],
    ['a new file from a file, --json', ['put', 'huge', '@big', '--json']],
    ['a new file from stdin', ['put', 'huge', '-']],
    ['a replacement from a file', ['put', 'medium', '@big']],
    ['a replacement from stdin', ['put', 'medium', '-']],
  ])('refuses %s with NO_SPACE and keeps every earlier file', async (_label, template) => {
    const args = [...expand(template, tokens), '--home', home];
    const stdin = args.includes('-') ? Buffer.alloc(TOO_BIG_BYTES, 0x5a) : undefined;
    expectFailure(args, await run(args, stdin ? { stdin } : {}), 1, 'NO_SPACE');
    expect(await listJson(home)).toEqual(listBefore);
    expect(await status()).toMatchObject({ fileCount: 2, storedBytes: statusBefore.storedBytes, allocatedBytes: statusBefore.allocatedBytes });
    if (args[1] === 'medium') expect((await readBack(home, 'medium')).equals(medium), 'medium keeps its old content').toBe(true);
  });

  it('is consistent afterwards and stores what fits', async () => {
    const fsck = await run(['fsck', '--deep', '--home', home]);
    expect(fsck.stderr).toBe('');
    expect(fsck.exitCode).toBe(0);
    expect(fsck.stdout.toString()).toMatch(/^deep fsck: ok/);
    expect((await readBack(home, 'small')).equals(small)).toBe(true);
    // The failed puts released their space: 8 MiB more still fits.
    const fits = randomBytes(8 * MIB);
    await putFile(home, 'fits', fits);
    expect((await readBack(home, 'fits')).equals(fits)).toBe(true);
  });
});

describe('a corrupted metadata file', () => {
  let images: string[] = [];
  let imagesBefore: string[] = [];
  const homes: Record<string, string> = {};
  const before: Record<string, HomeSnapshot> = {};
  const CORRUPTIONS = {
    /** The SQLite header and the schema page. */
    'garbage header': (db: Buffer) => Buffer.concat([randomBytes(4096), db.subarray(4096)]),
    /** Header intact, every table and index page garbage. */
    'garbage pages': (db: Buffer) => Buffer.concat([db.subarray(0, 4096), randomBytes(db.length - 4096)]),
    /** Truncated to nothing (a crash of the file system, a careless `>`). */
    'empty file': () => Buffer.alloc(0),
    /** Header, settings and devices intact (what open checks), the file, group and extent
     * tables garbage: SQLite finds it when a verb reads them. */
    'garbage file tables': (db: Buffer) => garbleTables(db, ['files', 'groups', 'extents']),
  } as const;
  type Corruption = keyof typeof CORRUPTIONS;

  beforeAll(async () => {
    const created = await createArray('meta', 3);
    images = created.images;
    await putFile(created.home, 'kept', randomBytes(100 * 1024));
    await writeFile(path('input.bin'), 'a small input file\n');
    const db = await readFile(join(created.home, DATABASE_FILE));
    expect(db.length).toBeGreaterThan(4096);
    for (const [name, corrupt] of Object.entries(CORRUPTIONS)) {
      const home = path(`corrupt-${name.replace(' ', '-')}`);
      await mkdir(home);
      await writeFile(join(home, DATABASE_FILE), corrupt(db));
      homes[name] = home;
      before[name] = await snapshotHome(home);
    }
    imagesBefore = await digest(images);
  });

  afterAll(async () => {
    if (images.length > 0) expect(await digest(images), 'no device was written').toEqual(imagesBefore);
  });

  const VERBS: string[][] = [
    ['ls'], ['ls', '--json'], ['stat', 'kept'], ['get', 'kept', '-'], ['get', 'kept', 'out.bin'], ['put', 'new', '-'], ['put', 'new', '@input'],
    ['put', 'kept', '-'], ['rm', 'kept'], ['status'], ['status', '--json'], ['fsck'], ['fsck', '--deep'],
  ];

  async function expectRefused(corruption: Corruption, verb: readonly string[]): Promise<void> {
    const args = [...expand(verb, { '@input': path('input.bin') }), '--home', homes[corruption]!];
    expectFailure(args, await run(args, { stdin: Buffer.from('not to be stored') }), 1, 'CORRUPT_METADATA');
    expectSameHome(await snapshotHome(homes[corruption]!), before[corruption]!, args.join(' '));
    expect(await readdir(workDir)).toEqual([]);
  }

  it.each(VERBS)('garbage header: %j fails with CORRUPT_METADATA and changes nothing', async (...verb) => {
    await expectRefused('garbage header', verb);
  });

  // The other kinds of damage, through a reader, a writer and the checker.
  it.each(['garbage pages', 'empty file'] as const)('%s: ls, put and fsck fail with CORRUPT_METADATA and change nothing', async (corruption) => {
    for (const verb of [['ls'], ['put', 'new', '-'], ['fsck', '--deep']]) await expectRefused(corruption, verb);
  });

  // Open reads the settings and devices only; a reader meets the damage when it reads a file
  // (a put would have written its blocks to free space by then, which is harmless, but then the
  // devices are no longer byte-identical, which this describe checks).
  it('garbage file tables: ls, get and fsck fail with CORRUPT_METADATA, not INTERNAL, and change nothing', async () => {
    for (const verb of [['ls'], ['get', 'kept', '-'], ['stat', 'kept'], ['fsck', '--deep']]) await expectRefused('garbage file tables', verb);
  });

  it.each(Object.keys(CORRUPTIONS) as Corruption[])('%s: the error says the devices still hold the array', async (corruption) => {
    const args = ['ls', '--home', homes[corruption]!];
    expectFailure(args, await run(args), 1, 'CORRUPT_METADATA', /the devices hold the array: move the home directory aside/);
  });

  it('create over it refuses and leaves it alone', async () => {
    const args = ['create', path('meta-new1.img'), path('meta-new2.img'), '--home', homes['garbage header']!, '--size', IMAGE_SIZE];
    expectFailure(args, await run(args), 1, 'INVALID_ARGUMENT', /already exists/);
    expectSameHome(await snapshotHome(homes['garbage header']!), before['garbage header']!, args.join(' '));
    expect(await exists(path('meta-new1.img'))).toBe(false);
  });
});

describe('a device of another array', () => {
  const precious = randomBytes(200 * 1024 + 1);
  let other = { home: '', images: [] as string[] };
  let imagesBefore: string[] = [];
  const home = () => path('second-home');

  beforeAll(async () => {
    other = await createArray('other', 3);
    await putFile(other.home, 'precious', precious);
    imagesBefore = await digest(other.images);
  });

  it.each([
    ['one of its devices with new images', () => [other.images[0]!, path('fresh1.img'), path('fresh2.img')]],
    ['one of its devices after blank ones', () => [path('blank1.img'), path('blank2.img'), other.images[2]!]],
    ['all of its devices', () => other.images],
  ])('refuses %s with FOREIGN_DEVICE; the other array is unharmed', async (_label, devices) => {
    const args = ['create', ...devices(), '--home', home(), '--size', IMAGE_SIZE];
    expectFailure(args, await run(args), 1, 'FOREIGN_DEVICE', /another array/);
    expect(await exists(home()), 'no home left behind').toBe(false);
    for (const image of [path('fresh1.img'), path('fresh2.img')]) expect(await exists(image), image).toBe(false);
    for (const image of [path('blank1.img'), path('blank2.img')]) expect(await isAllZeros(image), image).toBe(true);
    expect(await digest(other.images)).toEqual(imagesBefore);
    const status = await run(['status', '--json', '--home', other.home]);
    expect(status.exitCode).toBe(0);
    expect(parseJson(status)).toMatchObject({ degraded: false, fileCount: 1 });
    expect((await readBack(other.home, 'precious')).equals(precious)).toBe(true);
  });

  it('refuses to create a second array in its home', async () => {
    const args = ['create', path('fresh1.img'), path('fresh2.img'), '--home', other.home, '--size', IMAGE_SIZE];
    expectFailure(args, await run(args), 1, 'INVALID_ARGUMENT', /already exists/);
    expect(await exists(path('fresh1.img'))).toBe(false);
    expect((await readBack(other.home, 'precious')).equals(precious)).toBe(true);
  });

  it('accepts it with --force; the other array then reads degraded and reports the device', async () => {
    const forced = await run(['create', other.images[0]!, path('fresh1.img'), path('fresh2.img'), '--home', home(), '--size', IMAGE_SIZE, '--force']);
    expect(forced.stderr).toBe('');
    expect(forced.exitCode).toBe(0);
    expect((await run(['fsck', '--deep', '--home', home()])).exitCode).toBe(0);
    // The first array lost that device to the new one; parity 1 still serves its data.
    expect((await readBack(other.home, 'precious')).equals(precious)).toBe(true);
    const fsck = await run(['fsck', '--home', other.home]);
    expect(fsck.exitCode).toBe(1);
    expect(fsck.stdout.toString()).toMatch(/device 1 .* is missing: .*belongs to array/);
  });
});

describe('create and add on devices that hold other data', () => {
  /** Each image: what the probe must name. Made in beforeAll; all 24 MiB (above the minimum). */
  const FOREIGN: Array<[string, RegExp]> = [
    ['ext4.img', /ext2\/3\/4 file system/],
    ['swap.img', /swap space/],
    ['mydata.tar', /tar archive/],
    ['xfs.img', /XFS file system/],
    ['gpt.img', /GPT partition table/],
    ['random.img', /holds data: non-zero bytes at offset 0\b/],
    ['tail-byte.img', new RegExp(`holds data: non-zero bytes at offset ${IMAGE_BYTES - 2}\\b`)],
  ];
  const foreign = (name: string) => path(`foreign-${name}`);
  let digests: Record<string, string> = {};

  async function tool(command: string, args: readonly string[]): Promise<boolean> {
    const { spawnSync } = await import('node:child_process');
    return spawnSync(command, args, { stdio: 'ignore' }).status === 0;
  }

  beforeAll(async () => {
    for (const [name] of FOREIGN) await makeBlankImage(foreign(name), IMAGE_BYTES);
    // Real file systems where the tools exist, the signature alone where they do not.
    if (!(await tool('mkfs.ext4', ['-q', '-F', foreign('ext4.img')]))) await writeAt(foreign('ext4.img'), 1080, Buffer.from([0x53, 0xef]));
    if (!(await tool('mkswap', [foreign('swap.img')]))) await writeAt(foreign('swap.img'), 4086, Buffer.from('SWAPSPACE2'));
    await writeAt(foreign('xfs.img'), 0, Buffer.from('XFSB'));
    await writeAt(foreign('gpt.img'), 512, Buffer.from('EFI PART'));
    // Random bytes whose first is not zero (1 run in 256 drew a 0 there, and the probe then
    // rightly named offset 1).
    const noise = randomBytes(IMAGE_BYTES);
    noise[0] ||= 0xa5;
    await writeAt(foreign('random.img'), 0, noise);
    await writeAt(foreign('tail-byte.img'), IMAGE_BYTES - 2, Buffer.from([1]));
    // A real tar archive, big enough to pass the size check first.
    const member = path('tar-member.bin');
    await writeFile(member, randomBytes(IMAGE_BYTES));
    expect(await tool('tar', ['-cf', foreign('mydata.tar'), '-C', rootDir, 'tar-member.bin'])).toBe(true);
    await rm(member);
    const names = FOREIGN.map(([name]) => name);
    digests = Object.fromEntries((await digest(names.map(foreign))).map((hash, i) => [names[i]!, hash]));
  });

  async function expectUntouched(context: string): Promise<void> {
    const names = FOREIGN.map(([name]) => name);
    const after = await digest(names.map(foreign));
    names.forEach((name, i) => expect(after[i], `${context}: ${name} is byte-identical`).toBe(digests[name]));
    for (const image of [path('blank1.img'), path('blank2.img')]) expect(await isAllZeros(image), `${context}: ${image}`).toBe(true);
  }

  it.each(FOREIGN)('create refuses %s with FOREIGN_DEVICE naming what it holds', async (name, found) => {
    const home = path('probe-home');
    const args = ['create', path('blank1.img'), foreign(name), path('blank2.img'), '--home', home];
    expectFailure(args, await run(args), 1, 'FOREIGN_DEVICE', new RegExp(`${name.replace('.', '\\.')} is not blank: it .*${found.source}.*--force`));
    expect(await exists(home), 'no home left behind').toBe(false);
    await expectUntouched(args.join(' '));
  });

  it('add refuses them too, and the array is unchanged', async () => {
    const { home, images } = await createArray('probe-add', 3);
    const before = await snapshotHome(home);
    for (const [name, found] of FOREIGN) {
      const args = ['add', foreign(name), '--home', home];
      expectFailure(args, await run(args), 1, 'FOREIGN_DEVICE', found);
    }
    expectSameHome(await snapshotHome(home), before, 'after the refused adds');
    await expectUntouched('add');
    const status = await run(['status', '--json', '--home', home]);
    expect((parseJson(status) as { devices: unknown[] }).devices).toHaveLength(images.length);
  });

  it('--force overrides, and a device elastripe created with --size needs no --force', async () => {
    const scratch = path('probe-forced.img');
    await writeFile(scratch, await readFile(foreign('ext4.img')));
    const home = path('probe-forced-home');
    const args = ['create', path('probe-new1.img'), path('probe-new2.img'), scratch, '--home', home, '--size', IMAGE_SIZE, '--force'];
    const created = await run(args);
    expect(created.stderr).toBe('');
    expect(created.exitCode).toBe(0);
  });
});

async function writeAt(file: string, offset: number, bytes: Uint8Array): Promise<void> {
  const { open } = await import('node:fs/promises');
  const handle = await open(file, 'r+');
  try {
    await handle.write(bytes, 0, bytes.length, offset);
  } finally {
    await handle.close();
  }
}

// --- get never destroys what is not the array's; outputs that cannot be written ---

/** The entries of a directory whose name says they are get's hidden partial files. */
async function partialFiles(directory: string): Promise<string[]> {
  return (await readdir(directory)).filter((name) => name.includes('elastripe-partial'));
}

describe('get writes only where it may', () => {
  const data = randomBytes(70_000 + 3);
  let home = '';
  let images: string[] = [];
  let imagesBefore: string[] = [];
  let homeBefore: HomeSnapshot;
  const out = (name: string) => join(path('gt-out'), name);

  beforeAll(async () => {
    ({ home, images } = await createArray('gt', 3));
    await putFile(home, 'x', data);
    await putFile(home, 'a/b', Buffer.from('a file whose name has a slash'));
    await putFile(home, '..', Buffer.from('a file named dot-dot'));
    await mkdir(path('gt-out'));
    // Private nodes of /dev/null, /dev/zero and /dev/full and a private /dev/stdout: a get that
    // wrongly replaced its target must never take the machine's own /dev entries with it.
    for (const [name, minor] of [['null', 3], ['zero', 5], ['full', 7]] as const) execFileSync('mknod', ['-m', '666', out(name), 'c', '1', String(minor)]);
    await symlink('/proc/self/fd/1', out('stdout'));
    await symlink(images[0]!, out('link-to-member.img'));
    await link(images[1]!, out('hardlink-to-member.img'));
    imagesBefore = await digest(images);
    homeBefore = await snapshotHome(home);
  });

  /** After every case: the array's devices and home as they were, no partial file anywhere. */
  async function expectArrayIntact(context: string): Promise<void> {
    expect(await digest(images), `${context}: devices byte-identical`).toEqual(imagesBefore);
    expectSameHome(await snapshotHome(home), homeBefore, context);
    for (const directory of [rootDir, home, path('gt-out'), workDir]) {
      expect(await partialFiles(directory), `${context}: no partial file in ${directory}`).toEqual([]);
    }
  }

  async function getInto(target: string, extra: readonly string[] = []): Promise<CliResult> {
    return run(['get', 'x', target, '--home', home, ...extra]);
  }

  it.each(['null', 'zero'])('writes through to the character device %s, which stays one', async (name) => {
    const device = out(name);
    const before = await stat(device);
    const result = await getInto(device);
    expect(result.stderr).toBe('');
    expect(result.exitCode).toBe(0);
    const after = await stat(device);
    expect(after.isCharacterDevice(), `${device} is still a character device`).toBe(true);
    expect([after.rdev, after.mode, after.ino]).toEqual([before.rdev, before.mode, before.ino]);
    await expectArrayIntact(device);
  });

  it('reports a full device (as /dev/full) as OUTPUT_ERROR naming it, and leaves it a device', async () => {
    const args = ['get', 'x', out('full'), '--home', home];
    expectFailure(args, await run(args), 1, 'OUTPUT_ERROR', /gt-out\/full.*(no space|ENOSPC)/);
    expect((await stat(out('full'))).isCharacterDevice()).toBe(true);
    await expectArrayIntact('full');
  });

  it('writes a link to /proc/self/fd/1 (as /dev/stdout) to standard output and leaves the link alone', async () => {
    const result = await getInto(out('stdout'));
    expect(result.stderr).toBe('');
    expect(result.exitCode).toBe(0);
    expect(result.stdout.equals(data)).toBe(true);
    expect((await lstat(out('stdout'))).isSymbolicLink()).toBe(true);
  });

  it('writes through to a FIFO and its reader gets the data', async () => {
    const fifo = out('pipe.fifo');
    execFileSync('mkfifo', [fifo]);
    try {
      const chunks: Buffer[] = [];
      const reader = createReadStream(fifo);
      reader.on('data', (chunk) => chunks.push(chunk as Buffer));
      const ended = once(reader, 'end');
      const result = await getInto(fifo);
      await ended;
      expect(result.stderr).toBe('');
      expect(result.exitCode).toBe(0);
      expect(Buffer.concat(chunks).equals(data)).toBe(true);
      expect((await lstat(fifo)).isFIFO(), 'still a FIFO').toBe(true);
    } finally {
      await rm(fifo, { force: true });
    }
    await expectArrayIntact('FIFO');
  });

  it('writes a symlink to a regular file into that file and keeps the link', async () => {
    const real = out('real.bin');
    const linkPath = out('link.bin');
    await writeFile(real, 'old');
    await symlink(real, linkPath);
    const result = await getInto(linkPath);
    expect(result.stderr).toBe('');
    expect(result.exitCode).toBe(0);
    expect((await lstat(linkPath)).isSymbolicLink(), 'the link is still a link').toBe(true);
    expect(await readlink(linkPath)).toBe(real);
    expect((await readFile(real)).equals(data)).toBe(true);
  });

  it('writes through a symlink to a null device and keeps the link', async () => {
    const linkPath = out('null-link');
    await symlink(out('null'), linkPath);
    const result = await getInto(linkPath);
    expect(result.exitCode).toBe(0);
    expect((await lstat(linkPath)).isSymbolicLink()).toBe(true);
    expect((await stat(out('null'))).isCharacterDevice()).toBe(true);
  });

  it('keeps the mode of a file it replaces', async () => {
    const target = out('private.bin');
    await writeFile(target, 'secret', { mode: 0o600 });
    await chmod(target, 0o600);
    const result = await getInto(target);
    expect(result.exitCode).toBe(0);
    expect((await stat(target)).mode & 0o777).toBe(0o600);
    expect((await readFile(target)).equals(data)).toBe(true);
  });

  it('writes DIR/NAME into an existing directory', async () => {
    const result = await run(['get', 'x', path('gt-out'), '--home', home, '--json']);
    expect(result.exitCode).toBe(0);
    expect((await readFile(out('x'))).equals(data)).toBe(true);
    expect(parseJson(result)).toMatchObject({ name: 'x', target: out('x'), lengthBytes: data.length });
  });

  it.each(['a/b', '..'])('refuses to write the name %j into a directory', async (name) => {
    const args = ['get', name, path('gt-out'), '--home', home];
    const before = (await readdir(path('gt-out'))).sort();
    expectFailure(args, await run(args), 1, 'INVALID_ARGUMENT', /not a plain file name/);
    expect((await readdir(path('gt-out'))).sort()).toEqual(before);
  });

  const REFUSED: Array<[string, () => string, RegExp]> = [
    ['one of its devices', () => images[0]!, /is device 1 of the array/],
    ['a relative path to one of its devices', () => '../gt2.img', /is device 2 of the array/],
    ['a symlink to one of its devices', () => out('link-to-member.img'), /is device 1 of the array/],
    ['a hard link to one of its devices', () => out('hardlink-to-member.img'), /is device 2 of the array/],
    ['its metadata', () => join(home, DATABASE_FILE), /is in the array's home/],
    ['a new file in its home', () => join(home, 'new.bin'), /is in the array's home/],
    ['its home directory', () => home, /is in the array's home/],
  ];

  it.each(REFUSED)('refuses %s with INVALID_ARGUMENT naming the target, touching nothing', async (_label, target, message) => {
    const args = ['get', 'x', target(), '--home', home];
    const result = await run(args);
    expectFailure(args, result, 1, 'INVALID_ARGUMENT', message);
    expect(result.stderr).toContain(target());
    expect(await exists(join(home, 'new.bin'))).toBe(false);
    expect(await exists(join(home, 'x'))).toBe(false);
    await expectArrayIntact(args.join(' '));
  });

  it('names the target, not its hidden partial file, when it cannot be created', async () => {
    const target = path('no-such-dir/out.bin');
    const args = ['get', 'x', target, '--home', home];
    const result = await run(args);
    expectFailure(args, result, 1, 'NOT_FOUND', /no-such-dir\/out\.bin/);
    expect(result.stderr).not.toMatch(/partial/);
  });

  it('stops --length at the end of the file', async () => {
    const result = await run(['get', 'x', '-', '--home', home, '--offset', '10', '--length', '1G']);
    expect(result.stderr).toBe('');
    expect(result.exitCode).toBe(0);
    expect(result.stdout.equals(data.subarray(10))).toBe(true);
    const exact = await run(['get', 'x', '-', '--home', home, '--offset', '10', '--length', '5']);
    expect(exact.stdout.equals(data.subarray(10, 15))).toBe(true);
    const atEnd = await run(['get', 'x', '-', '--home', home, '--offset', String(data.length), '--length', '5']);
    expect(atEnd.exitCode).toBe(0);
    expect(atEnd.stdout.length).toBe(0);
  });

  describe('on a loop device of the array', () => {
    const loops = new LoopDeviceSet();
    const available = loopDevicesAvailable();
    let loopHome = '';
    let loopPath = '';

    afterAll(() => loops.destroyAll());

    it.skipIf(!available.available)('refuses the block device (by st_rdev) and leaves it alone', async () => {
      loopPath = loops.create(IMAGE_BYTES).path;
      loopHome = path('gt-loop-home');
      const created = await run(['create', loopPath, path('gt-loop1.img'), path('gt-loop2.img'), '--home', loopHome, '--size', IMAGE_SIZE]);
      expect(created.stderr).toBe('');
      await putFile(loopHome, 'x', data);
      // Another name for the same block device: a device node of our own.
      const { rdev } = await stat(loopPath);
      const alias = path('loop-alias');
      execFileSync('mknod', [alias, 'b', String(Math.floor(rdev / 256) & 0xfff), String((rdev & 0xff) | ((rdev >> 12) & 0xfff00))]);
      const before = await digest([loopPath]);
      for (const target of [loopPath, alias]) {
        const args = ['get', 'x', target, '--home', loopHome];
        expectFailure(args, await run(args), 1, 'INVALID_ARGUMENT', /is device 1 of the array/);
        expect((await stat(target)).isBlockDevice()).toBe(true);
      }
      expect(await digest([loopPath])).toEqual(before);
      await rm(alias);
    });

    // A loop device and the file behind it are two identities for the same bytes.
    it.skipIf(!available.available)('refuses the image file behind a loop device of the array, and a loop device over an image of the array', async () => {
      const member = loops.create(IMAGE_BYTES);
      const home = path('gt-backing-home');
      expect((await run(['create', member.path, path('gt-backing1.img'), path('gt-backing2.img'), '--home', home, '--size', IMAGE_SIZE])).stderr).toBe('');
      await putFile(home, 'x', data);
      const over = loops.create(IMAGE_BYTES);
      const imageHome = path('gt-over-home');
      expect((await run(['create', over.backingPath, path('gt-over1.img'), '--home', imageHome, '--size', IMAGE_SIZE])).stderr).toBe('');
      await putFile(imageHome, 'x', data);
      const before = await digest([member.backingPath, over.backingPath]);
      const backingArgs = ['get', 'x', member.backingPath, '--home', home];
      expectFailure(backingArgs, await run(backingArgs), 1, 'INVALID_ARGUMENT', /is the file behind device 1 of the array/);
      const overArgs = ['get', 'x', over.path, '--home', imageHome];
      expectFailure(overArgs, await run(overArgs), 1, 'INVALID_ARGUMENT', /is a loop device over a file that is device 1 of the array/);
      expect((await stat(member.backingPath)).size, 'the backing file was not replaced').toBe(IMAGE_BYTES);
      expect(await digest([member.backingPath, over.backingPath])).toEqual(before);
      expect((await run(['fsck', '--deep', '--home', home])).exitCode).toBe(0);
    });
  });
});

describe('outputs that cannot be written', () => {
  let home = '';
  let full = -1;

  beforeAll(async () => {
    ({ home } = await createArray('full-out', 2));
    await putFile(home, 'x', randomBytes(50_000));
    full = openSync('/dev/full', 'w');
  });

  afterAll(() => {
    if (full >= 0) closeSync(full);
  });

  it.each([
    [['get', 'x', '-']],
    [['ls']],
    [['ls', '--json']],
    [['stat', 'x']],
    [['status']],
    [['status', '--json']],
    [['fsck']],
    [['help']],
    [['--version']],
  ])('%j > /dev/full exits 1 with OUTPUT_ERROR', async (verb) => {
    const args = [...verb, ...(verb[0]!.startsWith('-') || verb[0] === 'help' ? [] : ['--home', home])];
    const result = await run(args, { stdoutFd: full });
    const context = `elastripe ${args.join(' ')} > /dev/full\nstderr: ${result.stderr}`;
    expect(result.exitCode, context).toBe(1);
    expect(result.stderr, context).toMatch(/^elastripe: OUTPUT_ERROR: cannot write to standard output: .*(no space|ENOSPC)/);
    expect(result.stderr.trimEnd().split('\n'), context).toHaveLength(1);
  });
});

describe('put from a directory', () => {
  let home = '';
  let listBefore: unknown;

  beforeAll(async () => {
    ({ home } = await createArray('dir-in', 2));
    await mkdir(path('dir-in-source'));
    await writeFile(join(path('dir-in-source'), 'inside.txt'), 'inside\n');
    listBefore = await listJson(home);
  });

  it('refuses a directory on standard input', async () => {
    const fd = openSync(path('dir-in-source'), 'r');
    try {
      const args = ['put', 'd', '-', '--home', home];
      expectFailure(args, await run(args, { stdinFd: fd }), 1, 'INVALID_ARGUMENT', /standard input is a directory/);
    } finally {
      closeSync(fd);
    }
    expect(await listJson(home)).toEqual(listBefore);
  });

  it('refuses a directory as the file argument', async () => {
    const args = ['put', 'd', path('dir-in-source'), '--home', home];
    expectFailure(args, await run(args), 1, 'INVALID_ARGUMENT', /dir-in-source is a directory/);
    expect(await listJson(home)).toEqual(listBefore);
  });
});

describe('names from the command line', () => {
  let home = '';
  const EVIL = 'evil\n\x1b[2J\rname\x07\\';
  const ESCAPED = 'evil\\n\\x1b[2J\\rname\\x07\\\\';

  beforeAll(async () => {
    ({ home } = await createArray('names', 2));
  });

  /** Runs the CLI with argv bytes no JS string can carry: the shell's printf makes them. */
  function runRaw(nameEscapes: string, verbArgs: readonly string[]): Promise<CliResult> {
    const bin = join(REPO_DIR, 'bin', 'elastripe.js');
    const script = `exec "$0" "$1" ${verbArgs[0]} "$(printf '${nameEscapes}')" ${verbArgs.slice(1).map((arg) => `'${arg}'`).join(' ')} --home "$2" --workers 0`;
    return new Promise((resolve) => {
      execFile('/bin/sh', ['-c', script, process.execPath, bin, home], { encoding: 'buffer', cwd: workDir }, (error, stdout, stderr) => {
        resolve({ exitCode: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr: stderr.toString('utf8') });
      });
    });
  }

  it.each([
    ['put', '-'],
    ['get', '-'],
    ['stat'],
    ['rm'],
  ])('refuses argv that is not valid UTF-8 (%s)', async (...verb) => {
    for (const escapes of ['bad\\377', 'bad\\376']) {
      const result = await runRaw(escapes, verb);
      expect(result.exitCode, result.stderr).toBe(1);
      expect(result.stderr).toMatch(/^elastripe: INVALID_ARGUMENT: .*not valid UTF-8/);
    }
    expect(await listJson(home)).toEqual([]);
  });

  it('refuses U+FFFD in a name, which is what invalid UTF-8 arrives as', async () => {
    const args = ['put', 'bad\uFFFD', '-', '--home', home];
    expectFailure(args, await run(args, { stdin: Buffer.from('x') }), 1, 'INVALID_ARGUMENT', /not valid UTF-8/);
  });

  it('escapes control characters in human output, and keeps --json exact', async () => {
    const put = await run(['put', EVIL, '-', '--home', home], { stdin: Buffer.from('payload') });
    expect(put.exitCode, put.stderr).toBe(0);
    const outputs = [put];
    outputs.push(await run(['ls', '--home', home]));
    outputs.push(await run(['stat', EVIL, '--home', home]));
    outputs.push(await run(['get', EVIL, path('names-out.bin'), '--home', home]));
    for (const result of outputs) {
      const text = result.stdout.toString();
      expect(result.exitCode).toBe(0);
      expect(text).toContain(ESCAPED);
      expect(text).not.toMatch(/[\x00-\x09\x0b-\x1f\x7f]/);
    }
    expect(await listJson(home)).toMatchObject([{ name: EVIL }]);
    const missing = await run(['stat', `${EVIL}-nope`, '--home', home]);
    expect(missing.exitCode).toBe(1);
    expect(missing.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(missing.stderr).not.toMatch(/[\x00-\x09\x0b-\x1f\x7f]/);
    const removed = await run(['rm', EVIL, '--home', home]);
    expect(removed.stdout.toString()).toBe(`deleted ${ESCAPED}\n`);
    expect(await listJson(home)).toEqual([]);
  });
});

describe('command line details', () => {
  it('--version --json prints JSON', async () => {
    const result = await run(['--version', '--json']);
    expect(result.exitCode).toBe(0);
    expect(parseJson(result)).toEqual({ version: expect.stringMatching(/^\d+\.\d+\.\d+/) });
  });

  it('refuses a directory as a device, saying so', async () => {
    await mkdir(path('dir-device'), { recursive: true });
    const args = ['create', path('dir-device'), path('blank1.img'), '--home', path('dir-device-home')];
    expectFailure(args, await run(args), 1, 'INVALID_ARGUMENT', /dir-device is a directory, not a device/);
    expect(await exists(path('dir-device-home'))).toBe(false);
    expect(await isAllZeros(path('blank1.img'))).toBe(true);
    const { home } = await createArray('dir-add', 2);
    const add = ['add', path('dir-device'), '--home', home];
    expectFailure(add, await run(add), 1, 'INVALID_ARGUMENT', /dir-device is a directory, not a device/);
  });

  it('refuses a dangling symlink as a new image without mentioning options the CLI lacks', async () => {
    await symlink(path('nowhere.img'), path('dangling.img'));
    const args = ['create', path('dangling.img'), path('dangling-2.img'), '--home', path('dangling-home'), '--size', IMAGE_SIZE];
    const result = await run(args);
    expectFailure(args, result, 1, 'INVALID_ARGUMENT', /dangling\.img/);
    expect(result.stderr).not.toMatch(/overwrite/);
    expect(await exists(path('nowhere.img'))).toBe(false);
    expect(await exists(path('dangling-2.img'))).toBe(false);
  });

  it('fail takes a device path as well as an id', async () => {
    const { home, images } = await createArray('fail-path', 3);
    const missing = ['fail', path('not-a-member.img'), '--home', home];
    expectFailure(missing, await run(missing), 1, 'NOT_FOUND', /not-a-member\.img/);
    const stateOf = (result: CliResult, deviceId: number) =>
      (parseJson(result) as { devices: Array<{ deviceId: number; state: string }> }).devices.find((device) => device.deviceId === deviceId)?.state;
    // A relative path (from the working directory) names the device too.
    expect(images[1]).toBe(path('fail-path2.img'));
    const failed = await run(['fail', '../fail-path2.img', '--home', home, '--json']);
    expect(failed.exitCode, failed.stderr).toBe(0);
    expect(stateOf(failed, 2)).toBe('failed');
    const other = await createArray('fail-abs', 3);
    const absolute = await run(['fail', other.images[2]!, '--home', other.home, '--json']);
    expect(absolute.exitCode, absolute.stderr).toBe(0);
    expect(stateOf(absolute, 3)).toBe('failed');
  });
});
