// readChunks and lendChunks hand out async generators that their consumer paces. close() must
// not wait for one left paused, or dropped without return(): it would wait forever. So, as it
// ends open streams, close ends these: the read behind each stops (its read-ahead released, its
// reader epoch left) and the consumer's next step fails with ARRAY_CLOSED — never an early,
// silent end of the file. A chunk the consumer holds stays valid meanwhile: the read lends every
// chunk, and readChunks gives one back only when the consumer asks for the next (or stops).
import { ElastripeError } from '../errors.js';

/** A chunk of a read in lend mode: its bytes stay valid until release(). */
export interface LentChunk {
  offset: number;
  bytes: Uint8Array;
  release: () => void;
}

export class PacedReads {
  /** How to end each read still running (close). */
  private readonly running = new Set<() => void>();

  get runningCount(): number {
    return this.running.size;
  }

  /**
   * `chunks`, ended by endAll() if close comes first. `consumerReleases`: the consumer gives
   * each chunk back itself (lendChunks); otherwise a chunk goes back when the next is asked for.
   */
  async *track<T>(chunks: AsyncGenerator<LentChunk>, consumerReleases: boolean, present: (chunk: LentChunk) => T): AsyncGenerator<T> {
    let ended = false;
    const end = (): void => {
      ended = true;
      this.running.delete(end);
      // Queued behind a step in flight; the read's own finally releases what it read ahead.
      chunks.return(undefined).catch(() => undefined);
    };
    this.running.add(end);
    let held: LentChunk | undefined;
    try {
      for (;;) {
        const step = await chunks.next();
        if (step.done) return;
        if (ended) {
          step.value.release();
          throw closedError();
        }
        if (!consumerReleases) held = step.value;
        yield present(step.value);
        held?.release();
        held = undefined;
        if (ended) throw closedError();
      }
    } finally {
      held?.release();
      if (!ended) {
        this.running.delete(end);
        await chunks.return(undefined); // the consumer stopped early (or the read failed): end the read
      }
    }
  }

  /** close(): every read still running ends; its consumer's next step fails with ARRAY_CLOSED. */
  endAll(): void {
    for (const end of [...this.running]) end();
  }
}

function closedError(): ElastripeError {
  return new ElastripeError('ARRAY_CLOSED', 'the array was closed while this read was open');
}
