// Jobs serve was running when it stopped (SIGTERM, a crash) continue when it starts again. A job
// verb run through serve (rebuild, remove, rebalance, restripe, scrub) is noted in the home while
// it runs; one that ends on its own is struck off. What is left at the next start was cut short
// by the stop, and serve runs it again: every job continues from its durable cursor.
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CommandLine } from '../args.js';

export const RESUME_FILE = 'serve-resume.json';

/** The verbs whose work is a resumable job. */
const JOB_VERBS = new Set(['rebuild', 'remove', 'rebalance', 'restripe', 'scrub']);

export interface PausedJob {
  verb: CommandLine['verb'];
  arguments: string[];
  rateBytesPerSec?: number;
}

export function isJobLine(line: CommandLine): boolean {
  return JOB_VERBS.has(line.verb) && !(line.verb === 'remove' && line.cancel === true);
}

/**
 * Invariants: 1. the file lists exactly the job commands running now, plus those the last stop
 * cut short and not yet resumed; 2. it is replaced atomically (write + rename), never half written.
 */
export class JobResumeLedger {
  private readonly running = new Map<number, PausedJob>();
  private nextId = 1;
  private readonly path: string;

  constructor(home: string) {
    this.path = join(home, RESUME_FILE);
  }

  /** The jobs the last serve left cut short; the ledger is emptied (they are resumed now). */
  takePaused(): PausedJob[] {
    let paused: PausedJob[] = [];
    try {
      const parsed = JSON.parse(readFileSync(this.path, 'utf8')) as unknown;
      if (Array.isArray(parsed)) paused = parsed.filter((job): job is PausedJob => typeof job === 'object' && job !== null && JOB_VERBS.has((job as PausedJob).verb));
    } catch {
      paused = []; // none, or unreadable: nothing to resume
    }
    rmSync(this.path, { force: true });
    return paused;
  }

  /** Notes a job command starting; returns its ticket. */
  started(line: CommandLine): number {
    const id = this.nextId++;
    this.running.set(id, { verb: line.verb, arguments: [...line.arguments], ...(line.rateBytesPerSec !== undefined ? { rateBytesPerSec: line.rateBytesPerSec } : {}) });
    this.save();
    return id;
  }

  /** The job ended on its own (done, failed, or stopped by its user): not to be resumed. */
  finished(id: number): void {
    this.running.delete(id);
    this.save();
  }

  private save(): void {
    const jobs = [...this.running.values()];
    if (jobs.length === 0) {
      rmSync(this.path, { force: true });
      return;
    }
    const partial = `${this.path}.partial`;
    writeFileSync(partial, `${JSON.stringify(jobs, null, 2)}\n`, { mode: 0o600 });
    renameSync(partial, this.path);
  }
}
