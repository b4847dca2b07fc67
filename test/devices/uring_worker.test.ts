// The uring backend in worker threads: each thread gets its own ring (one addon instance per
// thread), both rings work at once over one shared arena, a worker with idle rings exits on its
// own, and a worker terminated mid-I/O tears its ring down without hanging anybody. Also, in a
// child process as an unprivileged user under a small RLIMIT_MEMLOCK: registering the arena
// fails and the backend falls back to plain READ/WRITE, with the same bytes. The worker and the
// child load the backend and the addon from copies in one temp directory, so the unprivileged
// child needs nothing from the checkout (which may lie in a private folder).
import { afterAll, beforeAll, expect, test } from 'vitest';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { chmodSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import ts from 'typescript';
import { LB_BYTES } from '../../src/constants.js';
import { URING_ADDON_PATH_ENV } from '../../src/devices/uring_native.js';
import { openUringDevice, uringRingInfo } from '../../src/devices/uring_device.js';
import { commandMissingReason, requirePrerequisite, uringPrerequisite } from '../helpers/prerequisites.js';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The backend's sources, transpiled for the worker (plain Node cannot load .ts). */
const SOURCES = ['src/constants.ts', 'src/errors.ts', 'src/devices/uring_native.ts', 'src/devices/uring_device.ts'];
const FILE_BYTES = 4 << 20;
const BLOCKS = 512;

const WORKER_SOURCE = `
import { parentPort, workerData } from 'node:worker_threads';
const { openUringDevice, uringRingInfo } = await import(workerData.modulePath);
const arena = new Uint8Array(workerData.memory.buffer);
const LB = 4096;
const device = await openUringDevice(workerData.path, { registeredMemory: arena });
const source = arena.subarray(workerData.arenaOffset, workerData.arenaOffset + workerData.blocks * LB);
const target = arena.subarray(workerData.arenaOffset + workerData.blocks * LB, workerData.arenaOffset + 2 * workerData.blocks * LB);
for (let i = 0; i < source.length; i++) source[i] = (i * 31 + (i >> 12) * 7 + workerData.salt) & 255;
const blocks = [...Array(workerData.blocks).keys()];
const one = (i, buffer) => [[{ startLb: i, lengthLb: 1 }], [buffer.subarray(i * LB, (i + 1) * LB)]];
do {
  await Promise.all(blocks.map((i) => device.write(...one(i, source))));
  await device.flush();
  await Promise.all(blocks.map((i) => device.read(...one(i, target))));
  if (workerData.endless) parentPort.postMessage({ started: true });
} while (workerData.endless);
const same = Buffer.from(source.buffer, source.byteOffset, source.length).equals(Buffer.from(target.buffer, target.byteOffset, target.length));
parentPort.postMessage({ same, info: uringRingInfo() });
await device.close();
`;

/** Run as nobody with 1 MiB of memlock: a 64 MiB arena cannot be registered. */
const UNPRIVILEGED_SOURCE = `
const { openUringDevice, uringRingInfo } = await import(process.argv[2]);
const memory = new WebAssembly.Memory({ initial: 1024, maximum: 1024, shared: true });
const arena = new Uint8Array(memory.buffer);
const device = await openUringDevice(process.argv[3], { registeredMemory: arena });
const source = arena.subarray(0, 64 * 4096);
const target = arena.subarray(1 << 20, (1 << 20) + 64 * 4096);
for (let i = 0; i < source.length; i++) source[i] = (i * 13 + 1) & 255;
await device.write([{ startLb: 0, lengthLb: 64 }], [source]);
await device.read([{ startLb: 0, lengthLb: 64 }], [target]);
const same = Buffer.from(source).equals(Buffer.from(target));
console.log(JSON.stringify({ same, detail: device.describe().detail, info: uringRingInfo() }));
await device.close();
`;

function transpileBackend(outDirectory: string): string {
  for (const relative of SOURCES) {
    const output = ts.transpileModule(readFileSync(join(repo, relative), 'utf8'), {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
    }).outputText;
    const path = join(outDirectory, relative.replace(/\.ts$/, '.js'));
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, output);
  }
  writeFileSync(join(outDirectory, 'package.json'), '{"type":"module"}');
  writeFileSync(join(outDirectory, 'worker.mjs'), WORKER_SOURCE);
  writeFileSync(join(outDirectory, 'unprivileged.mjs'), UNPRIVILEGED_SOURCE);
  return join(outDirectory, 'src', 'devices', 'uring_device.js');
}

/** Copies the addon this process loaded (self-contained: it links only libc) beside the sources. */
function copyAddon(outDirectory: string): string {
  const source = process.env[URING_ADDON_PATH_ENV] || join(repo, 'native', 'build', 'Release', 'elastripe_uring.node');
  const target = join(outDirectory, 'native', 'elastripe_uring.node');
  mkdirSync(dirname(target), { recursive: true });
  copyFileSync(source, target);
  chmodSync(target, 0o755);
  return target;
}

interface WorkerReport {
  same: boolean;
  info: { fixedSubmitted: number; registeredBytes: number; inflight: number };
}

uringPrerequisite().describe('uring backend in worker threads', () => {
  let directory: string;
  let modulePath: string;
  let addonPath: string;
  const memory = new WebAssembly.Memory({ initial: 256, maximum: 256, shared: true });
  const arena = new Uint8Array(memory.buffer);

  function imageFile(name: string): string {
    const path = join(directory, name);
    writeFileSync(path, '');
    truncateSync(path, FILE_BYTES);
    return path;
  }

  function startWorker(path: string, options: { endless?: boolean; arenaOffset: number; salt: number }): Worker {
    return new Worker(join(directory, 'worker.mjs'), {
      workerData: { modulePath, memory, path, blocks: BLOCKS, ...options },
      env: { ...process.env, [URING_ADDON_PATH_ENV]: addonPath },
    });
  }

  beforeAll(() => {
    directory = mkdtempSync('/dev/shm/elastripe-uring-worker-');
    modulePath = transpileBackend(directory);
    addonPath = copyAddon(directory);
  });

  afterAll(() => {
    rmSync(directory, { recursive: true, force: true });
  });

  test('a worker and the main thread do I/O at once on their own rings over one arena', async () => {
    const workerPath = imageFile('worker.img');
    const worker = startWorker(workerPath, { arenaOffset: 0, salt: 3 });
    const report = new Promise<WorkerReport>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    const exited = new Promise<number>((resolve) => worker.once('exit', resolve));
    // Meanwhile the main thread works on its own file from another part of the arena.
    const device = await openUringDevice(imageFile('main.img'), { registeredMemory: arena });
    const mainSlice = arena.subarray(4 << 20, (4 << 20) + 64 * LB_BYTES);
    mainSlice.fill(0x5a);
    await Promise.all(Array.from({ length: 64 }, (_, i) =>
      device.write([{ startLb: i, lengthLb: 1 }], [mainSlice.subarray(i * LB_BYTES, (i + 1) * LB_BYTES)])));
    const { same, info } = await report;
    expect(same).toBe(true);
    expect(info.fixedSubmitted).toBeGreaterThanOrEqual(2 * BLOCKS);
    expect(info.inflight).toBe(0);
    // The worker exits by itself: its idle poll handle does not keep its loop alive.
    expect(await exited).toBe(0);
    // The worker's bytes reached its file, and the main ring is untouched by its counters.
    const written = readFileSync(workerPath).subarray(0, BLOCKS * LB_BYTES);
    expect(written.equals(Buffer.from(arena.subarray(0, BLOCKS * LB_BYTES)))).toBe(true);
    expect(uringRingInfo().inflight).toBe(0);
    await device.close();
  });

  test('terminating a worker in the middle of I/O neither hangs nor breaks the main ring', async () => {
    const worker = startWorker(imageFile('endless.img'), { endless: true, arenaOffset: 8 << 20, salt: 5 });
    await new Promise<void>((resolve, reject) => {
      worker.once('message', () => resolve());
      worker.once('error', reject);
    });
    const started = Date.now();
    await worker.terminate();
    expect(Date.now() - started).toBeLessThan(5000);
    const device = await openUringDevice(imageFile('after.img'), { registeredMemory: arena });
    const block = arena.subarray(12 << 20, (12 << 20) + LB_BYTES);
    block.fill(9);
    await device.write([{ startLb: 1, lengthLb: 1 }], [block]);
    block.fill(0);
    await device.read([{ startLb: 1, lengthLb: 1 }], [block]);
    expect(block.every((byte) => byte === 9)).toBe(true);
    await device.close();
  });

  test('unprivileged with a small RLIMIT_MEMLOCK: registration fails, plain I/O carries on', (context) => {
    requirePrerequisite('root, setpriv and prlimit (to run a child as nobody)', () =>
      process.getuid?.() !== 0
        ? 'not root'
        : commandMissingReason('setpriv', ['--version'], 'util-linux') ?? commandMissingReason('prlimit', ['--version'], 'util-linux'),
    ).need(context);
    const path = imageFile('nobody.img');
    chmodSync(directory, 0o755);
    chmodSync(path, 0o666);
    const child = spawnSync('prlimit', ['--memlock=1048576:1048576', 'setpriv', '--reuid=65534', '--regid=65534', '--clear-groups',
      process.execPath, join(directory, 'unprivileged.mjs'), modulePath, path], {
      encoding: 'utf8',
      // Nothing from the checkout: the copied sources and addon, run from their directory.
      cwd: directory,
      env: { ...process.env, [URING_ADDON_PATH_ENV]: addonPath },
      timeout: 30_000,
    });
    requirePrerequisite('io_uring for an unprivileged user', () =>
      /refuses io_uring_setup|EPERM/.test(child.stderr) ? `io_uring refused to nobody here: ${child.stderr.split('\n')[0]}` : null,
    ).need(context);
    expect(child.status, child.stderr).toBe(0);
    const report = JSON.parse(child.stdout) as { same: boolean; detail: Record<string, unknown>; info: { fixedSubmitted: number; plainSubmitted: number } };
    expect(report.same).toBe(true);
    expect(report.detail.fixedBuffers).toBe(false);
    expect(String(report.detail.fixedBuffersError)).toMatch(/ENOMEM|EPERM|errno/);
    expect(report.info.fixedSubmitted).toBe(0);
    expect(report.info.plainSubmitted).toBe(2);
  });
});
