// `elastripe import` and `elastripe online` from the command line: the happy path (home lost,
// devices scanned, every file back) and the bad-input matrix (a home that holds an array, no
// devices, a device that is not elastripe's, devices of two arrays, a copied device, too many
// missing, a bad --scan), each a clear error with its code and nothing left behind.
import { copyFile, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt, parseJson, runCli } from './run_cli.js';

let rootDir = '';
const path = (name: string) => join(rootDir, name);

beforeAll(async () => {
  assertBuilt();
  rootDir = await mkdtemp(join(tmpdir(), 'elastripe-cli-import-'));
});
afterAll(async () => {
  if (rootDir) await rm(rootDir, { recursive: true, force: true });
});

async function createArray(name: string, deviceCount: number): Promise<string[]> {
  const devices = Array.from({ length: deviceCount }, (_, i) => path(`${name}-d${i}.img`));
  const created = await runCli(['create', ...devices, '--home', path(`${name}-home`), '--size', '40M']);
  expect(created.exitCode, created.stderr).toBe(0);
  return devices;
}

describe('elastripe import', () => {
  it('rebuilds a deleted home from the devices a --scan finds, and every file reads back', async () => {
    await createArray('a', 4);
    await writeFile(path('payload'), Buffer.alloc(3 * 2 ** 20 + 5, 7));
    expect((await runCli(['put', 'p', path('payload'), '--home', path('a-home')])).exitCode).toBe(0);
    await rm(path('a-home'), { recursive: true });
    const imported = await runCli(['import', '--home', path('a-new'), '--scan', path('a-d*.img'), '--json']);
    expect(imported.exitCode, imported.stderr).toBe(0);
    const status = parseJson(imported) as { fileCount: number; opened: { imported: { present: unknown[] } } };
    expect(status.fileCount).toBe(1);
    expect(status.opened.imported.present.length).toBe(4);
    const got = await runCli(['get', 'p', '-', '--home', path('a-new')]);
    expect(got.stdout.equals(Buffer.alloc(3 * 2 ** 20 + 5, 7))).toBe(true);
  });

  it('picks one of several arrays a --scan finds with --array UUID', async () => {
    await createArray('e', 3);
    await createArray('f', 3);
    const fileE = Buffer.alloc(100_000, 5);
    await writeFile(path('payload-e'), fileE);
    expect((await runCli(['put', 'e', path('payload-e'), '--home', path('e-home')])).exitCode).toBe(0);
    const statusE = parseJson(await runCli(['status', '--json', '--home', path('e-home')])) as { arrayUuid: string };
    await rm(path('e-home'), { recursive: true });
    // Loop devices come back at any /dev/loopN: a scan that finds both arrays is the usual case.
    const scan = [path('e-d*.img'), path('f-d*.img')].join(',');
    const imported = await runCli(['import', '--home', path('e-new'), '--scan', scan, '--array', statusE.arrayUuid, '--json']);
    expect(imported.exitCode, imported.stderr).toBe(0);
    expect(parseJson(imported)).toMatchObject({ arrayUuid: statusE.arrayUuid, fileCount: 1 });
    expect((await runCli(['get', 'e', '-', '--home', path('e-new')])).stdout.equals(fileE)).toBe(true);
    // The other array is untouched: it still opens from its home.
    expect((await runCli(['fsck', '--home', path('f-home')])).exitCode).toBe(0);
  });

  it('takes a failed device back with online (by path)', async () => {
    const devices = await createArray('o', 3);
    expect((await runCli(['fail', '2', '--home', path('o-home')])).exitCode).toBe(0);
    const online = await runCli(['online', devices[1]!, '--home', path('o-home'), '--json']);
    expect(online.exitCode, online.stderr).toBe(0);
    expect((parseJson(online) as { devices: { state: string }[] }).devices.map((device) => device.state)).toEqual(['online', 'online', 'online']);
    const unknown = await runCli(['online', '9', '--home', path('o-home')]);
    expect(unknown.exitCode).toBe(1);
    expect(unknown.stderr).toMatch(/^elastripe: NOT_FOUND: /);
  });

  it('refuses bad input with a code and one sentence, leaving no home behind', async () => {
    const first = await createArray('b', 3);
    const second = await createArray('c', 3);
    await writeFile(path('not-ours.img'), Buffer.alloc(64 * 1024, 1));
    await copyFile(first[0]!, path('b-copy.img'));
    const cases: [string, string[], RegExp, number][] = [
      ['a home that holds an array', ['import', '--home', path('b-home'), ...first], /^elastripe: INVALID_ARGUMENT: .*already holds an array/, 1],
      ['no elastripe devices found', ['import', '--home', path('x1'), '--scan', path('nothing-*.img')], /^elastripe: NOT_FOUND: no elastripe devices/, 1],
      ['a device that is not elastripe\'s', ['import', '--home', path('x2'), first[0]!, path('not-ours.img')], /^elastripe: INVALID_ARGUMENT: .*not-ours\.img is not an elastripe device/, 1],
      ['devices of two arrays', ['import', '--home', path('x3'), ...first, second[0]!], /^elastripe: INVALID_ARGUMENT: .*belong to 2 arrays: .*; import one at a time: name its devices, narrow --scan or pick one with --array UUID/, 1],
      ['an --array no device carries', ['import', '--home', path('x7'), ...first, '--array', '00000000-0000-4000-8000-000000000000'], /^elastripe: NOT_FOUND: no elastripe devices of array 00000000-/, 1],
      ['a copied device', ['import', '--home', path('x4'), ...first, path('b-copy.img')], /^elastripe: DUPLICATE_DEVICE: /, 1],
      ['more than m devices missing', ['import', '--home', path('x5'), first[0]!], /^elastripe: TOO_MANY_ERASURES: /, 1],
      ['an empty --scan', ['import', '--home', path('x6'), '--scan', ','], /--scan needs at least one pattern/, 2],
    ];
    for (const [what, args, error, exitCode] of cases) {
      const result = await runCli(args);
      expect(result.exitCode, what).toBe(exitCode);
      expect(result.stderr, what).toMatch(error);
    }
    for (const home of ['x1', 'x2', 'x3', 'x4', 'x5', 'x6', 'x7']) {
      await expect(stat(path(home)), `${home}: the home a refused import made is removed again`).rejects.toMatchObject({ code: 'ENOENT' });
    }
    // The refused imports changed nothing: the first array still opens from its home.
    expect((await runCli(['ls', '--home', path('b-home')])).exitCode).toBe(0);
  });
});
