// The Piscina worker pool that runs kernel tasks on the arena. Each worker receives the shared
// memory and the module compiled once on the coordinator, instantiates the kernels over the
// arena, claims a scratch slot and runs tasks (offsets only, never data).
//
// States: open --close()--> closing (no new tasks; in-flight tasks finish) --> closed.
// Invariants: inFlight counts exactly the tasks submitted and not yet settled; no task is
// submitted once closing; after close the scratch slots this pool claimed are free again.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Piscina as PiscinaPool } from 'piscina';
import { ARENA_POOL_ID_INDEX, ARENA_SCRATCH_SLOT_COUNT, ARENA_SLOT_CLAIMS_INDEX, type Arena } from './arena.js';
import type { KernelModule, KernelTask, PoolWorkerData } from './pool_worker.js';
import { InvalidArgumentError } from '../errors.js';

/** Workers beyond slot 0 (the coordinator's) each need a scratch slot. */
export const POOL_WORKER_COUNT_MAX = ARENA_SCRATCH_SLOT_COUNT - 1;
const WORKER_PATH_FROM_ROOT = join('dist', 'src', 'kernels', 'pool_worker.js');

/** Piscina (with worker_threads, perf_hooks, assert...) loads when the first pool starts, not
 * with this module: a CLI verb that never starts one (ls, status, a put or get of a small file)
 * saves its 10 ms of loading (issue 10). */
function loadPiscina(): typeof PiscinaPool {
  return (createRequire(import.meta.url)('piscina') as { Piscina: typeof PiscinaPool }).Piscina;
}

export interface KernelPoolOptions {
  arena: Arena;
  module: KernelModule;
  /** Default: the machine's available parallelism. */
  workerCount?: number;
  /**
   * Tasks handed to one worker before it reports back (Piscina's concurrentTasksPerWorker).
   * Above 1, a worker finds its next task already queued on its port when one finishes, so it
   * does not sit idle for a round trip between tasks; the tasks still run one at a time.
   */
  tasksPerWorker?: number;
}

export const POOL_TASKS_PER_WORKER_DEFAULT = 2;

export interface KernelPoolStats {
  tasksCompleted: number;
  /** Sum over tasks of the time a worker spent computing them, in microseconds. */
  workerBusyUs: number;
  pendingTasks: number;
}

/**
 * The compiled worker file. Worker threads on Node 20 cannot load src/*.ts, so both vitest and
 * dist/ use the build output, found from the package root named `elastripe`.
 */
export function poolWorkerPath(): string {
  let directory = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const manifest = join(directory, 'package.json');
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'elastripe') {
      const path = join(directory, WORKER_PATH_FROM_ROOT);
      if (!existsSync(path)) throw new Error(`pool: ${path} is missing; run \`npm run build\` first`);
      return path;
    }
    const parent = dirname(directory);
    if (parent === directory) throw new Error('pool: cannot find the elastripe package root');
    directory = parent;
  }
}

export function defaultWorkerCount(): number {
  return Math.min(availableParallelism(), POOL_WORKER_COUNT_MAX);
}

export class KernelPool {
  readonly workerCount: number;
  private readonly arena: Arena;
  private readonly poolId: number;
  private readonly piscina: PiscinaPool<KernelTask, number>;
  private readonly inFlight = new Set<Promise<void>>();
  private tasksCompleted = 0;
  private workerBusyUs = 0;
  private state: 'open' | 'closing' | 'closed' = 'open';
  private workerOnline = false;
  /** Settles once a worker has answered its first (empty) task, or the pool closed first. */
  readonly online: Promise<void>;

  /** Checks the options and that the worker file exists, without starting anything. */
  static checkOptions(options: Pick<KernelPoolOptions, 'workerCount' | 'tasksPerWorker'>): { workerCount: number; tasksPerWorker: number } {
    const workerCount = options.workerCount ?? defaultWorkerCount();
    if (!Number.isInteger(workerCount) || workerCount < 1 || workerCount > POOL_WORKER_COUNT_MAX) {
      throw new InvalidArgumentError(`worker count ${workerCount} must be 1..${POOL_WORKER_COUNT_MAX}`);
    }
    const tasksPerWorker = options.tasksPerWorker ?? POOL_TASKS_PER_WORKER_DEFAULT;
    if (!Number.isInteger(tasksPerWorker) || tasksPerWorker < 1) throw new InvalidArgumentError(`tasks per worker ${tasksPerWorker} must be >= 1`);
    poolWorkerPath();
    return { workerCount, tasksPerWorker };
  }

  constructor(options: KernelPoolOptions) {
    const { workerCount, tasksPerWorker } = KernelPool.checkOptions(options);
    this.workerCount = workerCount;
    this.arena = options.arena;
    this.poolId = Atomics.add(this.arena.controlWords(), ARENA_POOL_ID_INDEX, 1) + 1;
    const workerData: PoolWorkerData = { memory: this.arena.memory, module: options.module, poolId: this.poolId };
    const Piscina = loadPiscina();
    this.piscina = new Piscina<KernelTask, number>({
      filename: poolWorkerPath(),
      minThreads: workerCount,
      maxThreads: workerCount,
      // Workers hold a scratch slot and an instance; keep them for the pool's life.
      idleTimeout: Infinity,
      concurrentTasksPerWorker: tasksPerWorker,
      workerData,
    });
    // A worker takes 0.1-0.25 s to start (Piscina, its modules, a kernel instance); this empty
    // task says when one answers, and until then the Codec runs tasks itself rather than queue
    // them behind the start-up. Not counted in stats; close() does not wait for it.
    this.online = this.piscina.run({ kind: 'noop' }).then(
      () => void (this.workerOnline = true),
      () => undefined,
    );
  }

  /** Whether a worker has answered yet (tasks run before then wait for the workers to start). */
  get ready(): boolean {
    return this.workerOnline;
  }

  get pendingTasks(): number {
    return this.inFlight.size;
  }

  /** Tasks completed and the compute time the workers spent in them (not queueing or messaging). */
  stats(): KernelPoolStats {
    return { tasksCompleted: this.tasksCompleted, workerBusyUs: this.workerBusyUs, pendingTasks: this.inFlight.size };
  }

  run(task: KernelTask): Promise<void> {
    if (this.state !== 'open') return Promise.reject(new Error(`pool: run() after close()`));
    const promise = this.piscina
      .run(task)
      .then((busyUs) => {
        this.tasksCompleted++;
        this.workerBusyUs += busyUs;
      })
      .finally(() => {
        this.inFlight.delete(promise);
      });
    this.inFlight.add(promise);
    return promise;
  }

  /** Waits for every in-flight task, then stops the workers and releases their slots. */
  async close(): Promise<void> {
    if (this.state !== 'open') return;
    this.state = 'closing';
    await Promise.allSettled([...this.inFlight]);
    await this.piscina.destroy();
    this.releaseSlots();
    this.state = 'closed';
  }

  assertInvariants(): void {
    if (this.state === 'closed' && this.inFlight.size !== 0) throw new Error('pool: closed with tasks in flight');
    const control = this.arena.controlWords();
    let claimed = 0;
    for (let slot = 0; slot < ARENA_SCRATCH_SLOT_COUNT; slot++) {
      if (Atomics.load(control, ARENA_SLOT_CLAIMS_INDEX + slot) === this.poolId) claimed++;
    }
    if (claimed > (this.state === 'closed' ? 0 : this.workerCount)) {
      throw new Error(`pool: ${claimed} scratch slots claimed by ${this.workerCount} workers`);
    }
  }

  private releaseSlots(): void {
    const control = this.arena.controlWords();
    for (let slot = 1; slot < ARENA_SCRATCH_SLOT_COUNT; slot++) {
      Atomics.compareExchange(control, ARENA_SLOT_CLAIMS_INDEX + slot, this.poolId, 0);
    }
  }
}
