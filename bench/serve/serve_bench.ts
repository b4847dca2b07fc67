// `elastripe serve` against the direct CLI, side by side in one run on the same 4 RAM-backed
// devices (parity 1): `put NAME FILE` and `get NAME FILE` of one ELASTRIPE_BENCH_SERVE_BYTES
// file (default 1 GiB; source and output in /dev/shm), run directly (the CLI opens the array)
// and through a running serve (the CLI forwards the verb over the control socket and streams
// the file's bytes through it). Every round checks the bytes read back are the bytes written.
// Rows are wall-clock times of the whole CLI process, the best of ELASTRIPE_BENCH_SERVE_ROUNDS
// (default 3) interleaved rounds; `vsDirect` is the serve row's rate over the direct one's.
// Run: `npm run bench:serve` (writes bench/results/serve.json and serve.svg).
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomFillSync } from 'node:crypto';
import { closeSync, openSync, readFileSync, rmSync, statfsSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { repositoryRoot } from '../../src/kernels/kernel_module.js';
import { printTable, writeResults, type BenchResult } from '../common.js';
import { LINUX, runBenchMain } from '../common/prerequisites.js';
import { BenchDeviceSet, loopDevicesUsable, RAM_DIRECTORY } from '../array/bench_devices.js';
import { preTouch } from '../common/pre_touch.js';

const MIB = 1 << 20;
const DEVICE_COUNT = 4;

const env = (name: string, fallback: number): number => (process.env[name] === undefined ? fallback : Number(process.env[name]));
const BIN = (): string => join(repositoryRoot(), 'bin', 'elastripe.js');

/** Runs the CLI to its end; returns its wall time in ms, throws with its stderr on failure. */
function cli(args: string[]): Promise<number> {
  const started = performance.now();
  const child = spawn(process.execPath, [BIN(), ...args], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ELASTRIPE_HOME: undefined } });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(performance.now() - started) : reject(new Error(`elastripe ${args.join(' ')} exited ${code}: ${stderr}`))));
  });
}

async function startServe(home: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, [BIN(), 'serve', '--home', home], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  await new Promise<void>((resolve, reject) => {
    child.stderr!.on('data', (chunk: Buffer) => {
      log += chunk.toString();
      if (log.includes('serving array')) resolve();
    });
    child.on('close', (code) => reject(new Error(`serve exited ${code}: ${log}`)));
  });
  return child;
}

async function stopServe(child: ChildProcess): Promise<void> {
  const closed = new Promise((resolve) => child.once('close', resolve));
  child.kill('SIGTERM');
  await closed;
}

/** Writes `bytes` of pseudo-random data to `path` in 64 MiB pieces; returns its SHA-256. */
function writeSource(path: string, bytes: number): string {
  const hash = createHash('sha256');
  const fd = openSync(path, 'w');
  const piece = Buffer.alloc(64 * MIB);
  try {
    for (let done = 0; done < bytes; done += piece.length) {
      const part = piece.subarray(0, Math.min(piece.length, bytes - done));
      randomFillSync(part);
      hash.update(part);
      writeSync(fd, part);
    }
  } finally {
    closeSync(fd);
  }
  return hash.digest('hex');
}

function sha256(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

async function main(): Promise<void> {
  const fileBytes = env('ELASTRIPE_BENCH_SERVE_BYTES', 1024 * MIB);
  const rounds = env('ELASTRIPE_BENCH_SERVE_ROUNDS', 3);
  // Data + parity (3+1) spread over 4 devices, with room for the metadata region and slack.
  const deviceBytes = Math.ceil(((fileBytes * 4) / 3 / DEVICE_COUNT) * 1.25 / MIB + 64) * MIB;
  const neededBytes = deviceBytes * DEVICE_COUNT + 2 * fileBytes;
  const { bavail, bsize } = statfsSync(RAM_DIRECTORY);
  if (bavail * bsize < neededBytes * 1.1) {
    console.error(`bench:serve needs ${Math.ceil(neededBytes / MIB)} MiB free in ${RAM_DIRECTORY} (has ${Math.floor((bavail * bsize) / MIB)}); set ELASTRIPE_BENCH_SERVE_BYTES lower`);
    process.exitCode = 3;
    return;
  }
  const kind = loopDevicesUsable().usable ? 'loop' : 'image';
  const set = new BenchDeviceSet(kind);
  try {
    const devices = set.create(DEVICE_COUNT, deviceBytes);
    preTouch(devices, deviceBytes);
    const work = set.tempDirectory('elastripe-bench-serve-');
    const home = join(work, 'home');
    const source = join(work, 'source.bin');
    const output = join(work, 'output.bin');
    const sourceHash = writeSource(source, fileBytes);
    await cli(['create', '--home', home, '--force', ...devices]);
    const best = new Map<string, number>();
    const keep = (key: string, ms: number): void => void best.set(key, Math.min(best.get(key) ?? Infinity, ms));
    for (let round = 0; round < rounds; round++) {
      for (const through of ['direct', 'serve'] as const) {
        const serve = through === 'serve' ? await startServe(home) : undefined;
        try {
          keep(`put/${through}`, await cli(['put', '--home', home, 'f', source]));
          rmSync(output, { force: true });
          keep(`get/${through}`, await cli(['get', '--home', home, 'f', output]));
          if (sha256(output) !== sourceHash) throw new Error(`get ${through}: the bytes read back differ from those written`);
          rmSync(output, { force: true });
          await cli(['rm', '--home', home, 'f']);
        } finally {
          if (serve) await stopServe(serve);
        }
      }
      console.log(`round ${round + 1}/${rounds}: ${[...best].map(([key, ms]) => `${key} ${(ms / 1000).toFixed(2)}s`).join(', ')}`);
    }
    const rows: BenchResult[] = [];
    for (const op of ['put', 'get']) {
      const direct = fileBytes / (best.get(`${op}/direct`)! / 1000);
      for (const through of ['direct', 'serve'] as const) {
        const ms = best.get(`${op}/${through}`)!;
        const rate = fileBytes / (ms / 1000);
        rows.push({ case: `cli_${op}_${Math.round(fileBytes / MIB)}MiB`, impl: through === 'direct' ? 'cli direct' : 'cli through serve', dataGBps: rate / 1e9, seconds: ms / 1000, MiBps: rate / MIB, vsDirect: rate / direct, devices: kind });
      }
    }
    printTable(`elastripe serve vs direct CLI (${Math.round(fileBytes / MIB)} MiB, 4 ${kind} devices in RAM, parity 1, best of ${rounds})`, rows, ['case', 'impl', 'seconds', 'MiBps', 'vsDirect']);
    console.log(`results: ${writeResults('serve', rows, { fileBytes, rounds, deviceKind: kind })}`);
  } finally {
    set.destroyAll();
  }
}

await runBenchMain('bench:serve', [LINUX], main);
