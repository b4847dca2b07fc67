// Group commit of the puts' metadata. A put whose data is written and flushed hands its commit
// (a MetaStore mutation) to this queue instead of committing at once; the metadata journal
// runs the queue right before it writes its next record, so every put that became ready while
// the journal was busy (writing the previous record, or waiting for room behind its flushes)
// commits in ONE SQLite transaction whose change set is that record: one transaction, one
// record write and one flush per device for all of them. A put never waits longer for this
// than it did before: its change set could not reach the devices before that record anyway.
//
// Each queued mutation stays atomic on its own (a savepoint inside the shared transaction,
// MetaStore.batch) and gets its own outcome; results are handed out only after the shared
// transaction committed, and a failed transaction fails every put in it.
//
// Invariants (assertInvariants):
//  1. Every transaction run held at least one queued commit (transactions <= commits).
//  2. A queued commit is settled exactly once (the queue is emptied before its work runs):
//     resolved only after the transaction holding it committed, else rejected.
//  3. Whenever a commit is queued, the journal has been asked to drain, so nothing waits for a
//     record nobody writes (checked by MetadataJournal.assertInvariants, its invariant 5).
import type { MetaStore } from '../meta/meta_store.js';

interface QueuedCommit {
  work: () => unknown;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

/** What the queue needs from the journal: to be asked for a record soon. */
export interface RecordRequester {
  requestRecord(): void;
}

export class GroupCommit {
  private readonly queue: QueuedCommit[] = [];
  private requester: RecordRequester | undefined;
  /** Transactions run and the commits they held (status, benchmarks). */
  transactions = 0;
  commits = 0;

  constructor(private readonly store: MetaStore) {}

  /** The journal whose records carry these commits; without one, commits run on the next turn. */
  attach(requester: RecordRequester): void {
    this.requester = requester;
  }

  get queuedCount(): number {
    return this.queue.length;
  }

  /** Queues a store mutation; it commits with the others queued before the next record. */
  run<T>(work: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ work, resolve: resolve as (value: unknown) => void, reject });
      if (this.queue.length > 1) return;
      if (this.requester) this.requester.requestRecord();
      else setImmediate(() => this.commitQueued());
    });
  }

  /** Commits everything queued in one transaction (the journal calls this before each record). */
  commitQueued(): void {
    if (this.queue.length === 0) return;
    const queue = this.queue.splice(0);
    const outcomes: { value?: unknown; error?: unknown }[] = [];
    try {
      this.store.batch(() => {
        for (const item of queue) {
          try {
            outcomes.push({ value: item.work() });
          } catch (error) {
            outcomes.push({ error });
          }
        }
      });
    } catch (error) {
      for (const item of queue) item.reject(error);
      return;
    }
    this.transactions++;
    this.commits += queue.length;
    queue.forEach((item, i) => ('error' in outcomes[i]! ? item.reject(outcomes[i]!.error) : item.resolve(outcomes[i]!.value)));
  }

  /** Throws if invariant 1 at the top of this file is broken (3 is checked by the journal). */
  assertInvariants(): void {
    if (this.commits < this.transactions) throw new Error(`group commit invariant broken: ${this.commits} commits in ${this.transactions} transactions`);
  }
}
