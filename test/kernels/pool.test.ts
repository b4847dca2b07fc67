// The worker pool: the worker file is found, tasks through workers equal the same tasks run
// inline, scratch slots are claimed per worker and released on close, close() waits for the
// tasks in flight, and a process that closes its codec exits on its own.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ARENA_SCRATCH_SLOT_COUNT, ARENA_SLOT_CLAIMS_INDEX, Arena, type ArenaBuffer } from '../../src/kernels/arena.js';
import { instantiateKernels, loadKernelModule } from '../../src/kernels/kernel_module.js';
import { KernelPool, POOL_WORKER_COUNT_MAX, poolWorkerPath } from '../../src/kernels/pool.js';
import { createTaskContext, executeTask, type EncodeGroupTask, type KernelTask, type TaskContext } from '../../src/kernels/pool_worker.js';
import { InvalidArgumentError } from '../../src/errors.js';

const MiB = 1024 * 1024;
const BLOCK_BYTES = 32 * 1024;
const DATA_COUNT = 6;
const PARITY_COUNT = 3;

let arena: Arena;
let module: Awaited<ReturnType<typeof loadKernelModule>>;
let inline: TaskContext;
const held: ArenaBuffer[] = [];

beforeAll(async () => {
  arena = new Arena({ capacityBytes: 96 * MiB });
  module = await loadKernelModule();
  const kernels = instantiateKernels(module, arena.memory as unknown as Parameters<typeof instantiateKernels>[1]);
  kernels.gfTablesInit(0);
  inline = createTaskContext(kernels, arena.memory, 0);
});

afterAll(() => {
  for (const buffer of held.splice(0)) arena.free(buffer);
  arena?.assertInvariants();
});

function take(lengthBytes: number): ArenaBuffer {
  const buffer = arena.alloc(lengthBytes);
  held.push(buffer);
  return buffer;
}

/** One 6+3 group with random data: its task, and where its parity lands. */
function groupTask(seed: number, withChecksums: boolean): { task: KernelTask; group: EncodeGroupTask; parity: Uint8Array[]; checksums: Uint8Array } {
  const data = Array.from({ length: DATA_COUNT }, (_, i) => {
    const buffer = take(BLOCK_BYTES);
    for (let b = 0; b < BLOCK_BYTES; b++) buffer.bytes[b] = (b * 31 + i * 7 + seed * 13) ^ (b >>> 8);
    return buffer;
  });
  const parity = Array.from({ length: PARITY_COUNT }, () => take(BLOCK_BYTES));
  const checksums = take((DATA_COUNT + PARITY_COUNT) * 32);
  const group: EncodeGroupTask = {
    sourceOffsets: data.map((buffer) => buffer.offsetBytes),
    targetOffsets: parity.map((buffer) => buffer.offsetBytes),
    lengthBytes: BLOCK_BYTES,
    checksumsOffset: withChecksums ? checksums.offsetBytes : -1,
  };
  return { task: { kind: 'encode', groups: [group] }, group, parity: parity.map((buffer) => buffer.bytes), checksums: checksums.bytes.subarray(0, (DATA_COUNT + PARITY_COUNT) * 32) };
}

/** Byte equality as one comparison (vitest's deep equality walks typed arrays element by element). */
const hex = (bytes: Uint8Array): string => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');

function claimedSlots(): number[] {
  const control = arena.controlWords();
  return Array.from({ length: ARENA_SCRATCH_SLOT_COUNT }, (_, slot) => Atomics.load(control, ARENA_SLOT_CLAIMS_INDEX + slot));
}

describe('kernel pool', () => {
  it('finds the compiled worker file from the package root', () => {
    const path = poolWorkerPath();
    expect(path).toMatch(/dist[\\/]src[\\/]kernels[\\/]pool_worker\.js$/);
    expect(existsSync(path)).toBe(true);
  });

  it('refuses worker counts it has no scratch slots for', () => {
    expect(() => new KernelPool({ arena, module, workerCount: 0 })).toThrow(InvalidArgumentError);
    expect(() => new KernelPool({ arena, module, workerCount: POOL_WORKER_COUNT_MAX + 1 })).toThrow(InvalidArgumentError);
    expect(() => new KernelPool({ arena, module, workerCount: 1, tasksPerWorker: 0 })).toThrow(InvalidArgumentError);
  });

  it('computes through workers what the same task computes inline, and releases its slots', async () => {
    const pool = new KernelPool({ arena, module, workerCount: 2 });
    try {
      const jobs = Array.from({ length: 40 }, (_, i) => groupTask(i, i % 2 === 0));
      await Promise.all(jobs.map((job) => pool.run(job.task)));
      pool.assertInvariants();
      const viaPool = jobs.map((job) => ({ parity: job.parity.map((block) => block.slice()), checksums: job.checksums.slice() }));
      for (const job of jobs) {
        job.parity.forEach((block) => block.fill(0));
        job.checksums.fill(0);
        executeTask(inline, job.task);
      }
      jobs.forEach((job, i) => {
        expect(job.parity.map(hex), `job ${i}`).toEqual(viaPool[i]!.parity.map(hex));
        expect(hex(job.checksums), `job ${i}`).toBe(hex(viaPool[i]!.checksums));
      });
      const claims = claimedSlots().filter((owner) => owner !== 0);
      expect(claims.length).toBeGreaterThan(0);
      expect(claims.length).toBeLessThanOrEqual(2);
    } finally {
      await pool.close();
    }
    pool.assertInvariants();
    expect(claimedSlots().every((owner) => owner === 0)).toBe(true);
  });

  it('reports a failing task to its caller and keeps serving others', async () => {
    const pool = new KernelPool({ arena, module, workerCount: 1 });
    try {
      const good = groupTask(3000, true);
      const bad: KernelTask = { kind: 'encode', groups: [{ ...good.group, checksumsOffset: -1, targetOffsets: [0, 0, 0, 0] }] };
      await expect(pool.run(bad)).rejects.toThrow(/parity count 4/);
      await pool.run(good.task);
      const fromPool = good.checksums.slice();
      executeTask(inline, good.task);
      expect(hex(good.checksums)).toBe(hex(fromPool));
      expect(pool.stats()).toMatchObject({ tasksCompleted: 1, pendingTasks: 0 });
    } finally {
      await pool.close();
    }
  });

  it('runs two pools on one arena at once without sharing a scratch slot', async () => {
    const pools = [new KernelPool({ arena, module, workerCount: 2 }), new KernelPool({ arena, module, workerCount: 2 })];
    try {
      const jobs = Array.from({ length: 60 }, (_, i) => groupTask(1000 + i, true));
      await Promise.all(jobs.map((job, i) => pools[i % 2]!.run(job.task)));
      const claims = claimedSlots().filter((owner) => owner !== 0);
      expect(new Set(claims).size).toBe(2);
      for (const job of jobs) {
        const fromPool = job.checksums.slice();
        executeTask(inline, job.task);
        expect(hex(job.checksums)).toBe(hex(fromPool));
      }
    } finally {
      await Promise.all(pools.map((pool) => pool.close()));
    }
    expect(claimedSlots().every((owner) => owner === 0)).toBe(true);
  });

  it('close() waits for hundreds of tasks in flight, then refuses new ones', async () => {
    const pool = new KernelPool({ arena, module, workerCount: 2 });
    const jobs = Array.from({ length: 200 }, (_, i) => groupTask(2000 + i, true));
    const settled = jobs.map((job) => pool.run(job.task).then(() => 'done'));
    expect(pool.pendingTasks).toBe(200);
    await pool.close();
    expect(pool.pendingTasks).toBe(0);
    expect(await Promise.all(settled)).toEqual(jobs.map(() => 'done'));
    const sample = jobs[123]!;
    const fromPool = sample.checksums.slice();
    executeTask(inline, sample.task);
    expect(hex(sample.checksums)).toBe(hex(fromPool));
    await expect(pool.run({ kind: 'noop' })).rejects.toThrow(/after close/);
    pool.assertInvariants();
  });
});

describe('kernel pool shutdown', () => {
  it('lets a process that closes its codec mid-work exit by itself', async () => {
    const codecUrl = new URL('../../dist/src/kernels/codec.js', import.meta.url).href;
    const arenaUrl = new URL('../../dist/src/kernels/arena.js', import.meta.url).href;
    const script = `
      const { Arena } = await import(${JSON.stringify(arenaUrl)});
      const { Codec } = await import(${JSON.stringify(codecUrl)});
      const arena = new Arena({ capacityBytes: 32 * 1024 * 1024 });
      const codec = await Codec.create({ arena, workerCount: 2, inlineThresholdBytes: 0 });
      await codec.whenWorkersReady();
      const block = () => arena.alloc(64 * 1024).bytes.fill(7);
      const work = Array.from({ length: 50 }, () => codec.encodeWithChecksums([block(), block(), block()], [block(), block()]));
      await codec.close();
      const sums = await Promise.all(work);
      console.log('closed ' + sums.length);
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    try {
      const code = await new Promise<number | null>((resolve) => child.on('exit', (exitCode) => resolve(exitCode)));
      expect(output).toContain('closed 50');
      expect(code).toBe(0);
    } finally {
      clearTimeout(timer);
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
