// `elastripe add DEVICE...`: growing an array from the command line.
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LoopDeviceSet, loopDevicesAvailable } from '../helpers/loop_devices.js';
import { assertBuilt, parseJson, runCli } from './run_cli.js';

let rootDir = '';

beforeAll(async () => {
  assertBuilt();
  rootDir = await mkdtemp(join(tmpdir(), 'elastripe-cli-add-'));
});

afterAll(async () => {
  if (rootDir) await rm(rootDir, { recursive: true, force: true });
});

const image = (name: string) => join(rootDir, `${name}.img`);

describe('elastripe add', () => {
  it('adds devices online: new files get wider groups that use them', async () => {
    const home = join(rootDir, 'grow');
    expect((await runCli(['create', image('a'), image('b'), image('c'), '--home', home, '--size', '40M', '--workers', '0'])).exitCode).toBe(0);
    const added = await runCli(['add', image('d'), image('e'), '--home', home, '--size', '80M', '--json', '--workers', '0']);
    expect(added.exitCode).toBe(0);
    const status = parseJson(added) as { devices: Array<{ deviceId: number; path: string; state: string }> };
    expect(status.devices.map((device) => [device.deviceId, device.path, device.state])).toEqual([
      [1, image('a'), 'online'], [2, image('b'), 'online'], [3, image('c'), 'online'], [4, image('d'), 'online'], [5, image('e'), 'online'],
    ]);
    const input = join(rootDir, 'input.bin');
    await writeFile(input, Buffer.alloc(3 * 1024 * 1024, 7));
    expect((await runCli(['put', 'wide', input, '--home', home, '--workers', '0'])).exitCode).toBe(0);
    const stat = parseJson(await runCli(['stat', 'wide', '--home', home, '--json'])) as { groups: Array<{ dataCount: number }> };
    expect(stat.groups[0]!.dataCount).toBe(4);
  });

  it('refuses a device the array has, with nothing added', async () => {
    const home = join(rootDir, 'twice');
    expect((await runCli(['create', image('t1'), image('t2'), '--home', home, '--size', '40M', '--workers', '0'])).exitCode).toBe(0);
    const again = await runCli(['add', image('t2'), '--home', home]);
    expect(again.exitCode).toBe(1);
    expect(again.stderr).toMatch(/^elastripe: INVALID_ARGUMENT: .*same device/);
    const status = parseJson(await runCli(['status', '--home', home, '--json', '--workers', '0'])) as { devices: unknown[] };
    expect(status.devices).toHaveLength(2);
    expect((await runCli(['add', '--home', home])).exitCode).toBe(2);
  });

  // A member's superblock on the device to add: the member under another path (the image file
  // behind a loop device the array has) or a copy of it. It is not stale, so --force must not
  // take it: writing a new superblock there would take a live member from the array.
  it('refuses a member of the array under another path or copied, also with --force', async () => {
    const home = join(rootDir, 'member');
    expect((await runCli(['create', image('m1'), image('m2'), '--home', home, '--size', '40M', '--workers', '0'])).exitCode).toBe(0);
    await copyFile(image('m1'), image('m1-copy'));
    for (const force of [[], ['--force']]) {
      const again = await runCli(['add', image('m1-copy'), '--home', home, '--no-expand', ...force]);
      expect(again.exitCode).toBe(1);
      expect(again.stderr.toString()).toMatch(/^elastripe: INVALID_ARGUMENT: device \S*m1-copy\.img carries the superblock of device 1 of this array \(online at \S*m1\.img\)[^\n]*\n$/);
    }
    const status = parseJson(await runCli(['status', '--home', home, '--json', '--workers', '0'])) as { devices: Array<{ state: string }> };
    expect(status.devices.map((device) => device.state)).toEqual(['online', 'online']);
  });

  const loops = new LoopDeviceSet();
  const loopsAvailable = loopDevicesAvailable();
  afterAll(() => loops.destroyAll());

  it.skipIf(!loopsAvailable.available)('refuses the image file behind a loop device of the array, also with --force', async () => {
    const loop = loops.create(40 * 1024 * 1024);
    const home = join(rootDir, 'loop-member');
    const cli = (...args: string[]) => runCli([...args, '--home', home, '--workers', '0']);
    expect((await cli('create', loop.path, image('l2'), image('l3'), '--size', '40M')).exitCode).toBe(0);
    const input = join(rootDir, 'loop-member.bin');
    await writeFile(input, Buffer.alloc(1024 * 1024, 9));
    expect((await cli('put', 'kept', input)).exitCode).toBe(0);
    const added = await cli('add', loop.backingPath, '--force', '--no-expand');
    expect(added.exitCode).toBe(1);
    expect(added.stderr.toString()).toMatch(/^elastripe: INVALID_ARGUMENT: device \S*backing\.img is the same device as \/dev\/loop\d+\n$/);
    const status = parseJson(await cli('status', '--json')) as { degraded: boolean; devices: Array<{ path: string; state: string }> };
    expect([status.degraded, status.devices.map((device) => [device.path, device.state])]).toEqual([false, [[loop.path, 'online'], [image('l2'), 'online'], [image('l3'), 'online']]]);
    expect((await cli('fsck', '--deep')).exitCode).toBe(0);
  });
});

describe('elastripe add expands', () => {
  it('combines narrow groups in place onto the new devices; --no-expand skips it and expand runs it later', async () => {
    const home = join(rootDir, 'expand');
    const cli = (...args: string[]) => runCli([...args, '--home', home, '--workers', '0']);
    expect((await cli('create', image('x1'), image('x2'), image('x3'), '--size', '40M', '--extent-lb-max', '16')).exitCode).toBe(0);
    const input = join(rootDir, 'expand.bin');
    await writeFile(input, Buffer.alloc(4 * 1024 * 1024, 5).map((_, i) => (i * 7919) & 0xff));
    expect((await cli('put', 'narrow', input)).exitCode).toBe(0);
    type Stat = { groups: Array<{ dataCount: number; extents: Array<{ deviceId: number; startLb: number; role: string }> }> };
    const dataPlaces = (stat: Stat) => stat.groups.flatMap((group) => group.extents.filter((extent) => extent.role === 'data').map((extent) => `${extent.deviceId}:${extent.startLb}`));
    const before = parseJson(await cli('stat', 'narrow', '--json')) as Stat;
    expect(before.groups.every((group) => group.dataCount === 2)).toBe(true);

    // --no-expand: the device joins, nothing moves.
    expect((await cli('add', image('x4'), '--size', '40M', '--no-expand')).exitCode).toBe(0);
    expect(dataPlaces(parseJson(await cli('stat', 'narrow', '--json')) as Stat)).toEqual(dataPlaces(before));

    // add (expanding by default): groups of 2 become groups of 4 (5 devices, m=1), most data blocks stay put.
    const added = await cli('add', image('x5'), '--size', '40M', '--json');
    expect(added.exitCode).toBe(0);
    const report = parseJson(added) as { usableDataBytes: number; expand: { combine: { combinedGroups: number; newGroups: number; movedBlocks: number; writtenBytes: number; storedBytes: number }; problems: string[] } };
    expect(report.expand.problems).toEqual([]);
    expect(report.expand.combine.newGroups).toBeGreaterThan(0);
    expect(report.expand.combine.writtenBytes).toBeLessThan(report.expand.combine.storedBytes);
    expect(report.usableDataBytes).toBeGreaterThan(100 * 1024 * 1024);
    const after = parseJson(await cli('stat', 'narrow', '--json')) as Stat;
    expect(after.groups.every((group) => group.dataCount === 4)).toBe(true);
    const kept = dataPlaces(after).filter((place) => dataPlaces(before).includes(place)).length;
    expect(kept).toBe(dataPlaces(before).length - report.expand.combine.movedBlocks);
    const status = await cli('status');
    expect(status.stdout.toString()).toMatch(/usable +[\d.]+ MiB of file data at most/);
    expect(status.stdout.toString()).toMatch(/expand done/);
    // Nothing left: expand on its own combines nothing, and the file reads back whole.
    const again = await cli('expand', '--json');
    expect(again.exitCode).toBe(0);
    expect((parseJson(again) as { combine: { combinedGroups: number } }).combine.combinedGroups).toBe(0);
    expect((await cli('fsck', '--deep')).exitCode).toBe(0);
    const output = join(rootDir, 'expand.out');
    expect((await cli('get', 'narrow', output)).exitCode).toBe(0);
    const { readFile } = await import('node:fs/promises');
    expect((await readFile(output)).equals(await readFile(input))).toBe(true);
  });
});

describe('elastripe restripe', () => {
  it('widens a file stored narrow before the array grew, in place', async () => {
    const home = join(rootDir, 'restripe');
    const cli = (...args: string[]) => runCli([...args, '--home', home, '--workers', '0']);
    expect((await cli('create', image('r1'), image('r2'), image('r3'), '--size', '40M')).exitCode).toBe(0);
    const input = join(rootDir, 'narrow.bin');
    await writeFile(input, Buffer.alloc(4 * 1024 * 1024, 9));
    expect((await cli('put', 'narrow', input)).exitCode).toBe(0);
    expect((await cli('add', image('r4'), image('r5'), '--size', '40M', '--no-expand')).exitCode).toBe(0);
    const restriped = await cli('restripe');
    expect(restriped.exitCode).toBe(0);
    expect(restriped.stdout.toString()).toMatch(/^restripe: widened 1 file, freeing [\d.]+ [KM]iB of parity\n  in place: \d+ groups combined into \d+ \(4\.00 MiB of files; \d+ blocks moved, [\d.]+ [KM]iB written\)\n  rewritten whole: 0 files \(0 B\)/);
    const stat = parseJson(await cli('stat', 'narrow', '--json')) as { groups: Array<{ dataCount: number }> };
    expect(stat.groups.every((group) => group.dataCount === 4)).toBe(true);
    expect((await cli('fsck', '--deep')).exitCode).toBe(0);
  });
});
