// `elastripe serve`: one process owns the array and every other verb goes through its control
// socket, with the same output, exit codes and errors as a direct run, data streaming both ways.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loopDevicesPrerequisite, nbdkitPrerequisite } from '../helpers/prerequisites.js';
import { NbdkitFileServers } from '../helpers/nbdkit.js';
import { LoopDeviceSet } from '../helpers/loop_devices.js';
import { MIB, patternBytes, TempDir } from '../helpers/temp_array.js';
import { assertBuilt, runCli, startCli, type CliResult } from './run_cli.js';
import { startServe, useServeCleanup, waitForStatus } from './serve_harness.js';

assertBuilt();
useServeCleanup();

let dir: TempDir;
beforeEach(() => {
  dir = new TempDir();
});
afterEach(() => dir.remove());

async function createArray(home: string, devices: string[], args: string[] = []): Promise<void> {
  const created = await runCli(['create', '--home', home, '--workers', '1', ...args, ...devices]);
  expect(created.stderr).toBe('');
  expect(created.exitCode).toBe(0);
}

async function imageArray(sizeBytes = '160M'): Promise<string> {
  const home = dir.file('home');
  await createArray(home, [0, 1, 2, 3].map((i) => dir.file(`d${i}.img`)), ['--size', sizeBytes]);
  return home;
}

function text(result: CliResult): { exitCode: number | null; stdout: string; stderr: string } {
  return { exitCode: result.exitCode, stdout: result.stdout.toString('utf8'), stderr: result.stderr };
}

describe('elastripe serve', () => {
  it('owns the array: its socket is 0600, a second serve gets ARRAY_LOCKED, SIGTERM exits 0 and removes the socket', async () => {
    const home = await imageArray();
    const serve = await startServe(home);
    const socket = join(home, 'serve.sock');
    const info = statSync(socket);
    expect(info.isSocket()).toBe(true);
    expect(info.mode & 0o777).toBe(0o600);

    const second = await runCli(['serve', '--home', home, '--workers', '1']);
    expect(second.exitCode).toBe(1);
    expect(second.stderr).toMatch(/^elastripe: ARRAY_LOCKED: /);
    expect(statSync(socket).isSocket()).toBe(true); // the loser left the owner's socket alone

    expect(await serve.stop('SIGTERM')).toBe(0);
    expect(serve.log()).toContain('elastripe serve: stopped');
    expect(() => statSync(socket)).toThrow();
    // The array closed cleanly: a direct run opens it again.
    expect((await runCli(['fsck', '--home', home])).exitCode).toBe(0);
  }, 240_000);

  for (const socketBefore of ['its socket not there yet', 'the socket of a serve killed before it']) nbdkitPrerequisite().it(`a verb run while serve is still opening the array (${socketBefore}) waits and goes through it, not ARRAY_LOCKED`, async () => {
    // Every read of these devices takes 150 ms, so serve's open holds the lock for seconds
    // before its socket exists (as on a restart with NBD devices or a resync to start).
    const servers = new NbdkitFileServers();
    try {
      const images = [0, 1, 2].map((i) => dir.file(`nbd${i}.img`));
      for (const image of images) execFileSync('truncate', ['-s', '64M', image]);
      const started = await Promise.all(images.map((image) => servers.startWith({ plugin: 'file', parameters: [image, 'rdelay=150ms'], filters: ['delay'] })));
      const home = dir.file('home');
      await createArray(home, started.map((server) => server.url));
      const content = dir.file('kept.bin');
      writeFileSync(content, patternBytes(100_000, 5));
      expect((await runCli(['put', '--home', home, 'kept', content])).exitCode).toBe(0);
      const staleSocket = socketBefore !== 'its socket not there yet';
      if (staleSocket) {
        // A serve killed with SIGKILL leaves its socket behind, answering nothing.
        const killed = startCli(['serve', '--home', home, '--workers', '1']);
        const deadline = Date.now() + 60_000;
        while (!existsSync(join(home, 'serve.sock'))) {
          expect(Date.now()).toBeLessThan(deadline);
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        killed.child.kill('SIGKILL');
        await killed.done;
      }

      const { child, done } = startCli(['serve', '--home', home, '--workers', '1']);
      try {
        // The lock is serve's, its socket is not there yet.
        const deadline = Date.now() + 30_000;
        while (!existsSync(join(home, 'holder')) || !readFileSync(join(home, 'holder'), 'utf8').includes(`pid ${child.pid}`)) {
          expect(Date.now()).toBeLessThan(deadline);
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        expect(existsSync(join(home, 'serve.sock'))).toBe(staleSocket);
        const listed = text(await runCli(['ls', '--home', home]));
        expect(listed.stderr).toBe('');
        expect(listed.exitCode).toBe(0);
        expect(listed.stdout).toContain('kept');
        // It ran in serve: the socket exists now.
        expect(statSync(join(home, 'serve.sock')).isSocket()).toBe(true);
      } finally {
        child.kill('SIGTERM');
        await done;
      }
    } finally {
      await servers.stopAll();
    }
  }, 240_000);

  it('put and get round-trip 64 MiB byte-identically through the socket: files, stdin and stdout, relative to the user', async () => {
    const home = await imageArray();
    const data = patternBytes(64 * MIB, 0x5e7e);
    const work = dir.file('work');
    mkdirSync(work);
    writeFileSync(join(work, 'in.bin'), data);
    const serve = await startServe(home);

    // A relative FILE is the user's, in the user's cwd (serve runs elsewhere).
    const put = await runCli(['put', '--home', home, 'big', 'in.bin'], { cwd: work });
    expect(put.stderr).not.toContain('elastripe:'); // (a progress bar, if slow, is all)
    expect(put.exitCode).toBe(0);
    expect(put.stdout.toString()).toMatch(/^stored big: 67108864 bytes \(64\.00 MiB\) in .*, \d+ groups\n$/);
    const get = await runCli(['get', '--home', home, 'big', 'out.bin'], { cwd: work });
    expect(get.exitCode).toBe(0);
    expect(get.stdout.toString()).toMatch(/^read big into out\.bin: 67108864 bytes/);
    expect(readFileSync(join(work, 'out.bin')).equals(data)).toBe(true);

    // stdin → array → stdout
    const piped = await runCli(['put', '--home', home, 'piped', '-'], { stdin: data.subarray(0, 5 * MIB + 3) });
    expect(piped.exitCode).toBe(0);
    const out = await runCli(['get', '--home', home, 'piped', '-']);
    expect(out.exitCode).toBe(0);
    expect(out.stdout.equals(data.subarray(0, 5 * MIB + 3))).toBe(true);
    const range = await runCli(['get', '--home', home, 'big', '-', '--offset', '1000', '--length', '4096']);
    expect(range.stdout.equals(data.subarray(1000, 5096))).toBe(true);

    expect(await serve.stop()).toBe(0);
    // What serve stored is what a direct read returns.
    const direct = await runCli(['get', '--home', home, 'big', '-']);
    expect(direct.stdout.equals(data)).toBe(true);
  }, 300_000);

  it('gives the output, exit codes and typed errors of a direct run', async () => {
    const home = await imageArray('96M');
    const work = dir.file('work');
    mkdirSync(work);
    writeFileSync(join(work, 'small.txt'), 'hello through the socket\n');
    const first = await runCli(['put', '--home', home, 'small', 'small.txt'], { cwd: work });
    expect(first.exitCode).toBe(0);
    const commands: string[][] = [
      ['ls'],
      ['ls', '--json'],
      ['stat', 'small', '--json'],
      ['stat', 'nope'],
      ['get', 'nope', 'x.out'],
      ['get', 'small', '--json', '-'],
      ['put', 'other', 'missing-file'],
      ['put', 'other', '.'],
      ['get', 'small', home], // the array's home: refused before anything is written
      ['get', 'small', join(dir.path, 'd0.img')], // the array's own device: refused
      ['get', 'small', 'copy.txt'],
      ['rm', 'nope'],
      ['fail', '99'],
      ['fsck'],
    ];
    const run = async (): Promise<ReturnType<typeof text>[]> => {
      const results = [];
      for (const command of commands) {
        const result = text(await runCli([command[0]!, '--home', home, ...command.slice(1)], { cwd: work }));
        // Timings differ from run to run.
        result.stdout = result.stdout.replace(/ in [\d.]+\s*m?s, [\d.]+ [KMG]?i?B\/s/g, ' in T').replace(/"elapsedMs": [\d.]+/g, '"elapsedMs": T');
        results.push(result);
      }
      return results;
    };
    const serve = await startServe(home);
    const served = await run();
    expect(await serve.stop()).toBe(0);
    const direct = await run();
    expect(served).toEqual(direct);
    // The cases cover successes, usage errors and typed failures.
    expect(new Set(direct.map((result) => result.exitCode))).toEqual(new Set([0, 1, 2]));
    expect(direct.map((result) => /^elastripe: ([A-Z_]+):/.exec(result.stderr)?.[1]).filter(Boolean)).toEqual(
      expect.arrayContaining(['NOT_FOUND', 'INVALID_ARGUMENT', 'USAGE']),
    );
  }, 300_000);

  loopDevicesPrerequisite().it('serves an array on loop devices: add through the socket (expanding onto the new device), put and get verified', async () => {
    const loops = new LoopDeviceSet();
    try {
      const devices = [0, 1, 2].map(() => loops.create(96 * MIB).path);
      const home = dir.file('home');
      await createArray(home, devices);
      const serve = await startServe(home);
      const data = patternBytes(16 * MIB + 12345, 77);
      writeFileSync(dir.file('in.bin'), data);
      expect((await runCli(['put', '--home', home, 'f', dir.file('in.bin')])).exitCode).toBe(0);
      const added = await runCli(['add', '--home', home, loops.create(128 * MIB).path]);
      expect(added.stderr).not.toContain('elastripe:');
      expect(added.exitCode).toBe(0);
      expect(added.stdout.toString()).toContain('added 1 device');
      // The new device takes existing blocks without a rebalance typed: add expands onto it.
      const status = await waitForStatus(home, (doc) => doc.devices.length === 4 && doc.jobs.some((job) => job.kind === 'expand' && job.state === 'done'));
      expect(status.devices.every((device) => device.state === 'online')).toBe(true);
      expect(status.devices[3]!.usedBytes).toBeGreaterThan(0);
      const back = await runCli(['get', '--home', home, 'f', '-']);
      expect(back.stdout.equals(data)).toBe(true);
      const fsck = await runCli(['fsck', '--home', home, '--deep']);
      expect(fsck.exitCode).toBe(0);
      expect(await serve.stop()).toBe(0);
    } finally {
      loops.destroyAll();
    }
  }, 300_000);
});
