// The faces of the array side by side in one run, on the same 4 RAM-backed devices (parity 1):
// the command line against the library, and the library's copying calls against their
// zero-copy forms.
//   - one file of ELASTRIPE_BENCH_FACE_BYTES (default 1 GiB), source and outputs in /dev/shm:
//     library put(Buffer) / put(allocBuffer) / put({ path }); CLI `put NAME FILE`;
//     library readInto(pre-touched Buffer) / readInto(allocBuffer) / get() / get({ inArena }) /
//     createReadStream() / createReadStream({ pooledChunks }); CLI `get NAME FILE`, `get NAME -`
//     into /dev/null; and, as the floor of a get to a file, writeFileSync of the bytes to a new file there;
//   - a batch of ELASTRIPE_BENCH_BATCH_FILES (default 10,000) files of ELASTRIPE_BENCH_BATCH_FILE_BYTES
//     (default 4 KiB): CLI `put --recursive` / `get --recursive` (--jobs 16) against the
//     library's put({ path }) / readInto with 16 files in flight, in files/s; the batch get also
//     against the library doing its whole job (readInto, then writeFile of each file: vsFloor).
// Each case runs ELASTRIPE_BENCH_FACE_ROUNDS times (default 3), interleaved, and the row keeps
// the best round (the machine is shared; the best round is the least disturbed). CLI rows are
// wall-clock times of the whole process; the fixed cost of one (a CLI put and a get of a 1-byte
// file on the same array: node start, module load, array open with its worker pool, close) is
// reported too, and `vsLibraryExStartup` discounts it; beside it `node -e 0` (node's own start,
// which no CLI can remove) and the same 1-byte put and get through the unbundled modules
// (dist/src/cli/main.js, as before the CLI was bundled). A get to a file is also compared with
// its floor, the slower of the library's readInto and writeFileSync of the bytes (`vsFloor`).
// Run alone: `npm run build && node dist/bench/array/faces_bench.js` (writes array_faces.json);
// bench:array includes these rows in array.json.
import { spawn } from 'node:child_process';
import { createHash, randomFillSync } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { pathToFileURL } from 'node:url';
import { DiskArray } from '../../src/array/disk_array.js';
import { repositoryRoot } from '../../src/kernels/kernel_module.js';
import { printTable, writeResults, type BenchResult } from '../common.js';
import { BenchDeviceSet, loopDevicesUsable, type DeviceKind } from './bench_devices.js';
import { forEachLimited, timed, type Timed } from './workload.js';
import { preTouch } from '../common/pre_touch.js';

const MIB = 1 << 20;
const BATCH_JOBS = 16;
const BATCH_GET_WITH_FILES = 'library readInto + writeFile x16';

interface FaceSettings {
  faceBytes: number;
  rounds: number;
  batchFiles: number;
  batchFileBytes: number;
}

function faceSettings(): FaceSettings {
  const env = (name: string, fallback: number) => (process.env[name] === undefined ? fallback : Number(process.env[name]));
  return {
    faceBytes: env('ELASTRIPE_BENCH_FACE_BYTES', 1024 * MIB),
    rounds: env('ELASTRIPE_BENCH_FACE_ROUNDS', 3),
    batchFiles: env('ELASTRIPE_BENCH_BATCH_FILES', 10_000),
    batchFileBytes: env('ELASTRIPE_BENCH_BATCH_FILE_BYTES', 4096),
  };
}

const BIN = () => join(repositoryRoot(), 'bin', 'elastripe.js');

/** Wall time of one CLI run (stdout to `stdoutPath` or ignored); throws with its stderr on failure. */
async function cliTimed(args: string[], stdoutPath?: string): Promise<number> {
  return nodeTimed([BIN(), ...args], stdoutPath);
}

/** The CLI as it ran before it was bundled: dist/src/cli/main.js through Node's ESM loader
 * (`node -e` takes the first argument after the script as argv[1]; main reads from argv[2]). */
function unbundledCliArgs(args: string[]): string[] {
  const main = pathToFileURL(join(repositoryRoot(), 'dist', 'src', 'cli', 'main.js')).href;
  return ['--input-type=module', '-e', `await (await import(${JSON.stringify(main)})).runAsProcess()`, 'elastripe', ...args];
}

/** Wall time of one `node ARGS` process; throws with its stderr on failure. */
async function nodeTimed(args: string[], stdoutPath?: string): Promise<number> {
  const out = stdoutPath === undefined ? 'ignore' : openSync(stdoutPath, 'w');
  try {
    const started = performance.now();
    const child = spawn(process.execPath, args, { stdio: ['ignore', out, 'pipe'], env: { ...process.env, ELASTRIPE_HOME: undefined } });
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', resolve);
    });
    const elapsedMs = performance.now() - started;
    if (code !== 0) throw new Error(`elastripe ${args.slice(0, 2).join(' ')} exited ${code}: ${stderr.trim().split('\n').at(-1)}`);
    return elapsedMs;
  } finally {
    if (typeof out === 'number') closeSync(out);
  }
}

function sha(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

class Best {
  readonly rows = new Map<string, { impl: string; mode: string; ms: number; cpuMs?: number }>();
  note(impl: string, mode: string, ms: number, cpuMs?: number): void {
    const current = this.rows.get(impl);
    if (!current || ms < current.ms) this.rows.set(impl, { impl, mode, ms, ...(cpuMs !== undefined ? { cpuMs } : {}) });
  }
  ms(impl: string): number | undefined {
    return this.rows.get(impl)?.ms;
  }
}

async function time(best: Best, impl: string, mode: string, work: () => Promise<void>): Promise<Timed> {
  const timing = await timed(work);
  best.note(impl, mode, timing.elapsedMs, timing.cpuMs);
  return timing;
}

/** Library rounds on an open array: puts of three kinds, reads of six. */
async function libraryRound(array: DiskArray, best: Best, data: Buffer, sourcePath: string, digest: string): Promise<void> {
  const size = data.byteLength;
  await time(best, 'library put(Buffer)', 'put', async () => void (await array.put('f', data)));
  await array.delete('f');
  const arenaSource = array.allocBuffer(size);
  arenaSource.set(data);
  await time(best, 'library put(allocBuffer)', 'put', async () => void (await array.put('f', arenaSource)));
  array.freeBuffer(arenaSource);
  await array.delete('f');
  await time(best, 'library put({ path })', 'put', async () => void (await array.put('f', { path: sourcePath })));
  const touched = Buffer.alloc(size).fill(1); // pre-touched: its pages exist before the clock starts
  await time(best, 'library readInto(Buffer)', 'get', async () => void (await array.readInto('f', touched)));
  if (sha(touched) !== digest) throw new Error('readInto returned wrong bytes');
  const arenaTarget = array.allocBuffer(size);
  await time(best, 'library readInto(allocBuffer)', 'get', async () => void (await array.readInto('f', arenaTarget)));
  if (sha(arenaTarget) !== digest) throw new Error('readInto(allocBuffer) returned wrong bytes');
  array.freeBuffer(arenaTarget);
  await time(best, 'library get()', 'get', async () => void (await array.get('f')));
  let inArena: Buffer | undefined;
  await time(best, 'library get({ inArena })', 'get', async () => void (inArena = await array.get('f', { inArena: true })));
  array.freeBuffer(inArena!);
  for (const pooledChunks of [false, true]) {
    const sink = new Writable({ write: (_chunk, _encoding, done) => done() });
    await time(best, `library createReadStream(${pooledChunks ? '{ pooledChunks }' : ''})`, 'get', () => pipeline(array.createReadStream('f', { pooledChunks }), sink));
  }
  await array.delete('f');
}

/** One unmeasured pass through every call, so JIT, workers and the ring are warm when timing starts. */
async function warmUp(array: DiskArray, data: Buffer): Promise<void> {
  await array.put('warm-up', data);
  const arena = array.allocBuffer(data.byteLength);
  await array.put('warm-up', arena);
  await array.readInto('warm-up', arena);
  await array.readInto('warm-up', Buffer.alloc(data.byteLength));
  array.freeBuffer(await array.get('warm-up', { inArena: true }));
  array.freeBuffer(arena);
  for await (const _ of array.createReadStream('warm-up', { pooledChunks: true }));
  await array.delete('warm-up');
}

/** What writing the bytes into a new file on the output's file system costs alone (tmpfs: its
 * page allocation and copy), from a pre-touched Buffer: the floor of a CLI get to a file. */
async function outputFloorRound(best: Best, data: Buffer, outPath: string): Promise<void> {
  await time(best, 'floor: writeFileSync of the bytes to a new file', 'get', async () => writeFileSync(outPath, data));
  rmSync(outPath);
}

async function cliRound(home: string, best: Best, sourcePath: string, tinyPath: string, outPath: string, digest: string): Promise<void> {
  // The fixed cost of a CLI put or get: node, modules, array open with its worker pool, close.
  best.note('cli put of 1 byte', 'startup', await cliTimed(['put', 'tiny', tinyPath, '--home', home]));
  best.note('cli get of 1 byte', 'startup', await cliTimed(['get', 'tiny', '-', '--home', home], '/dev/null'));
  // What no CLI can remove (node's own start), and the same two verbs unbundled (issue 10).
  best.note('node -e 0', 'startup', await nodeTimed(['-e', '0']));
  best.note('cli put of 1 byte, unbundled', 'startup', await nodeTimed(unbundledCliArgs(['put', 'tiny', tinyPath, '--home', home])));
  best.note('cli get of 1 byte, unbundled', 'startup', await nodeTimed(unbundledCliArgs(['get', 'tiny', '-', '--home', home]), '/dev/null'));
  best.note('cli put NAME FILE', 'put', await cliTimed(['put', 'f', sourcePath, '--home', home]));
  best.note('cli get NAME FILE', 'get', await cliTimed(['get', 'f', outPath, '--home', home]));
  if (sha(readFileSync(outPath)) !== digest) throw new Error('CLI get wrote wrong bytes');
  rmSync(outPath);
  best.note('cli get NAME - >/dev/null', 'get', await cliTimed(['get', 'f', '-', '--home', home], '/dev/null'));
  await cliTimed(['rm', 'f', '--home', home]);
}

async function batchRound(home: string, best: Best, settings: FaceSettings, treeDirectory: string, paths: string[], outDirectory: string): Promise<void> {
  best.note('cli put --recursive', 'batch_put', await cliTimed(['put', '--recursive', treeDirectory, 'cli', '--jobs', String(BATCH_JOBS), '--home', home]));
  best.note('cli get --recursive', 'batch_get', await cliTimed(['get', '--recursive', 'cli', outDirectory, '--jobs', String(BATCH_JOBS), '--home', home]));
  rmSync(outDirectory, { recursive: true, force: true });
  const array = await DiskArray.open(home, {});
  try {
    await time(best, 'library put({ path }) x16', 'batch_put', () => forEachLimited(paths, BATCH_JOBS, async (path) => void (await array.put(`lib/${path.slice(treeDirectory.length + 1)}`, { path }))));
    // One pre-touched target per file in flight (the CLI writes each file out; this only reads).
    const lanes = Array.from({ length: BATCH_JOBS }, () => Buffer.alloc(settings.batchFileBytes));
    let lane = 0;
    await time(best, 'library readInto x16', 'batch_get', () => forEachLimited(paths, BATCH_JOBS, async (path) => void (await array.readInto(`lib/${path.slice(treeDirectory.length + 1)}`, lanes[lane++ % BATCH_JOBS]!))));
    // The CLI's whole job done from the library: each file read and written out to a new file
    // (plain writeFile: no temporary name, no syncfs, as a simple embedder would), 16 in flight.
    const libraryOut = `${outDirectory}-library`;
    await time(best, BATCH_GET_WITH_FILES, 'batch_get', async () => {
      for (let d = 0; d * 1000 < paths.length; d++) await mkdir(join(libraryOut, `d${d}`), { recursive: true });
      await forEachLimited(paths, BATCH_JOBS, async (path) => {
        const relative = path.slice(treeDirectory.length + 1);
        const buffer = lanes[lane++ % BATCH_JOBS]!;
        const bytes = await array.readInto(`lib/${relative}`, buffer);
        await writeFile(join(libraryOut, relative), buffer.subarray(0, bytes));
      });
    });
    rmSync(libraryOut, { recursive: true, force: true });
    for (const file of array.list()) await array.delete(file.name);
  } finally {
    await array.close();
  }
}

function rowsFrom(best: Best, settings: FaceSettings): BenchResult[] {
  const putStartupMs = best.ms('cli put of 1 byte') ?? 0;
  const getStartupMs = best.ms('cli get of 1 byte') ?? 0;
  const gb = settings.faceBytes / 1e9;
  const rows: BenchResult[] = [];
  const size = `${settings.faceBytes / 2 ** 30}GiB`;
  const libraryPut = best.ms('library put(Buffer)');
  const libraryRead = best.ms('library readInto(Buffer)');
  for (const { impl, mode, ms, cpuMs } of best.rows.values()) {
    if (mode === 'startup') {
      rows.push({ case: 'faces_cli_startup', impl, elapsedMs: Math.round(ms) });
      continue;
    }
    if (mode === 'batch_put' || mode === 'batch_get') {
      const filesPerSec = Math.round(settings.batchFiles / (ms / 1000));
      const library = best.ms(mode === 'batch_put' ? 'library put({ path }) x16' : 'library readInto x16');
      const row: BenchResult = {
        case: `faces_${mode}_${settings.batchFiles}x${settings.batchFileBytes}B`, impl, opsPerSec: filesPerSec, filesPerSec,
        dataGBps: (settings.batchFiles * settings.batchFileBytes) / 1e9 / (ms / 1000), elapsedMs: Math.round(ms),
      };
      if (impl.startsWith('cli') && library !== undefined) {
        const startupMs = mode === 'batch_put' ? putStartupMs : getStartupMs;
        row.vsLibrary = Number((library / ms).toFixed(3));
        row.vsLibraryExStartup = Number((library / Math.max(1, ms - startupMs)).toFixed(3));
        // A get into files is also measured against the library doing the same whole job.
        const sameJob = mode === 'batch_get' ? best.ms(BATCH_GET_WITH_FILES) : undefined;
        if (sameJob !== undefined) {
          row.vsFloor = Number((sameJob / ms).toFixed(3));
          row.vsFloorExStartup = Number((sameJob / Math.max(1, ms - startupMs)).toFixed(3));
        }
      }
      rows.push(row);
      continue;
    }
    const baseline = mode === 'put' ? libraryPut : libraryRead;
    const row: BenchResult = {
      case: `faces_${mode}_${size}_4dev_p1`, impl, dataGBps: gb / (ms / 1000), elapsedMs: Math.round(ms),
      ...(cpuMs !== undefined ? { cpuSecondsPerGB: cpuMs / 1000 / gb } : {}),
    };
    if (baseline !== undefined) row.vsLibrary = Number((baseline / ms).toFixed(3));
    const startupMs = mode === 'put' ? putStartupMs : getStartupMs;
    if (impl.startsWith('cli') && baseline !== undefined) row.vsLibraryExStartup = Number((baseline / Math.max(1, ms - startupMs)).toFixed(3));
    // A get to a file cannot beat the slower of reading (the library) and writing the output.
    const writeFloor = best.ms('floor: writeFileSync of the bytes to a new file');
    if (impl === 'cli get NAME FILE' && libraryRead !== undefined && writeFloor !== undefined) {
      const floor = Math.max(libraryRead, writeFloor);
      row.vsFloor = Number((floor / ms).toFixed(3));
      row.vsFloorExStartup = Number((floor / Math.max(1, ms - startupMs)).toFixed(3));
    }
    rows.push(row);
  }
  return rows;
}

/** Every faces row; a prerequisite or a case that fails becomes a row with its reason. */
export async function runFacesBench(kind: DeviceKind): Promise<BenchResult[]> {
  const settings = faceSettings();
  const set = new BenchDeviceSet(kind);
  const best = new Best();
  try {
    const deviceBytes = Math.ceil((settings.faceBytes * 0.75 + 256 * MIB) / MIB) * MIB;
    const paths = set.create(4, deviceBytes);
    preTouch(paths, deviceBytes);
    set.flushBuffers(paths);
    const scratch = set.tempDirectory('elastripe-bench-faces-');
    const home = join(scratch, 'home');
    const sourcePath = join(scratch, 'source.bin');
    const outPath = join(scratch, 'out.bin');
    const data = randomFillSync(Buffer.allocUnsafe(settings.faceBytes));
    writeFileSync(sourcePath, data);
    const tinyPath = join(scratch, 'tiny.bin');
    writeFileSync(tinyPath, 'x');
    const digest = sha(data);
    // One arena buffer of the file at a time (allocBuffer) beside the group buffers of a put or get.
    const arenaBytes = Math.ceil((settings.faceBytes + 256 * MIB) / (64 * 1024)) * 64 * 1024;
    await (await DiskArray.create({ home, devices: paths, parityCount: 1, force: true, arenaBytes })).close();
    for (let round = 0; round < settings.rounds; round++) {
      const array = await DiskArray.open(home, { arenaBytes });
      try {
        if (round === 0) await warmUp(array, data.subarray(0, Math.min(data.byteLength, 64 * MIB)));
        await libraryRound(array, best, data, sourcePath, digest);
      } finally {
        await array.close();
      }
      set.flushBuffers(paths);
      await outputFloorRound(best, data, outPath);
      await cliRound(home, best, sourcePath, tinyPath, outPath, digest);
    }
    rmSync(sourcePath);
    const treeDirectory = join(scratch, 'tree');
    const paths10k: string[] = [];
    const pool = randomFillSync(Buffer.allocUnsafe(settings.batchFileBytes * 16));
    for (let i = 0; i < settings.batchFiles; i++) {
      const directory = join(treeDirectory, `d${Math.floor(i / 1000)}`);
      if (i % 1000 === 0) mkdirSync(directory, { recursive: true });
      const path = join(directory, `f${i}`);
      writeFileSync(path, pool.subarray((i % 16) * settings.batchFileBytes, ((i % 16) + 1) * settings.batchFileBytes));
      paths10k.push(path);
    }
    for (let round = 0; round < Math.min(2, settings.rounds); round++) {
      await batchRound(home, best, settings, treeDirectory, paths10k, join(scratch, 'out'));
    }
    return rowsFrom(best, settings);
  } catch (error) {
    return [...rowsFrom(best, settings), { case: 'faces_*', impl: 'elastripe', error: (error as Error).message.split('\n')[0] }];
  } finally {
    set.destroyAll();
  }
}

export const FACES_COLUMNS = ['case', 'impl', 'dataGBps', 'filesPerSec', 'elapsedMs', 'vsLibrary', 'vsLibraryExStartup', 'vsFloor', 'vsFloorExStartup', 'cpuSecondsPerGB', 'error'];

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const loops = loopDevicesUsable();
  if (!loops.usable) console.warn(`faces bench: image files instead of loop devices (${loops.reason})`);
  runFacesBench(loops.usable ? 'loop' : 'image')
    .then((rows) => {
      printTable('array faces: CLI vs library, copying vs zero-copy calls, one run, 4 RAM-backed devices, parity 1 (best of rounds)', rows, FACES_COLUMNS);
      console.log(`\nwrote ${writeResults('array_faces', rows, { settings: faceSettings(), deviceKind: loops.usable ? 'loop' : 'image' })}`);
    })
    .catch((error: unknown) => {
      console.error(`faces bench: ${(error as Error).message}`);
      process.exitCode = 1;
    });
}
