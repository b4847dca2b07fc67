// Deferred freeing. A commit that replaces or deletes a file frees its extents, but a read
// that started before the commit may still be reading them; reusing them at once could hand
// that reader someone else's new data. Each read holds an epoch; freed extents wait until
// every read that began at or before their commit has finished.

interface PendingFree {
  /** The epoch current when the extents were freed. */
  epoch: number;
  release: () => void;
}

export class ReaderEpochs {
  private epoch = 0;
  /** Active readers per epoch they started in. */
  private readonly active = new Map<number, number>();
  private readonly pending: PendingFree[] = [];

  /** Registers a reader; call the returned function exactly once when it is done. */
  enter(): () => void {
    const epoch = this.epoch;
    this.active.set(epoch, (this.active.get(epoch) ?? 0) + 1);
    let left = false;
    return () => {
      if (left) throw new Error('reader epochs: a reader left twice');
      left = true;
      const count = this.active.get(epoch)! - 1;
      if (count === 0) this.active.delete(epoch);
      else this.active.set(epoch, count);
      this.drain();
    };
  }

  /** Runs `release` once no reader that could see the freed extents is left. */
  deferFree(release: () => void): void {
    this.pending.push({ epoch: this.epoch, release });
    this.epoch++;
    this.drain();
  }

  get pendingCount(): number {
    return this.pending.length;
  }

  private drain(): void {
    const oldestActive = this.active.size === 0 ? Infinity : Math.min(...this.active.keys());
    while (this.pending.length > 0 && this.pending[0]!.epoch < oldestActive) {
      this.pending.shift()!.release();
    }
  }
}
