// Deferred freeing. A commit that replaces, deletes or moves data frees extents, but a read
// that started before the commit may still be reading them; reusing them at once could hand
// that reader someone else's new data. Each read registers, at the moment it looks up its
// groups, which groups it reads (or every group: fsck --deep); freed extents name the groups
// they belonged to, and wait only for the readers that could see them: readers of one of those
// groups that registered before the free. A reader of another file never holds them (one
// paused stream used to hold the space of every file deleted after it started).
//
// A place can change groups without moving: an in-place combine keeps data blocks where they
// are under rows of the new, wider groups (combine_groups.ts). A read that looked up an old
// group before that commit still reads those places, so a later free of them (the file deleted,
// a block moved) names the new group but must wait for readers of the old one too: the combine
// records the new groups as heirs of the old ones (`inherit`), and a free of a group counts the
// readers of every group it inherited from. Heirs are kept only while such readers remain (no
// read can look an old group up once the combine committed).
//
// Invariants (assertInvariants):
//  1. The per-group and all-group counts of active readers equal the registered readers.
//  2. No pending free is free to go: each is held by an earlier reader of one of its groups
//     (or of a group they inherited from).
//  3. Every group a heir inherits from still has readers (the entry goes when they leave).

interface PendingFree {
  /** The epoch current when the extents were freed: readers from this epoch or earlier hold them. */
  epoch: number;
  groupIds: readonly number[];
  release: () => void;
}

/** Active readers by the epoch they entered in (epoch -> count). */
type EpochCounts = Map<number, number>;

export class ReaderEpochs {
  private epoch = 0;
  /** Active readers of every group, by epoch. */
  private readonly allGroups: EpochCounts = new Map();
  /** Active readers of each group, by epoch. */
  private readonly byGroup = new Map<number, EpochCounts>();
  private pending: PendingFree[] = [];
  /** Group -> the older groups whose places it took over while they had readers (flattened). */
  private readonly ancestors = new Map<number, Set<number>>();

  /**
   * Registers a reader of `groupIds` (every group when omitted); call it in the same tick as
   * the lookup of those groups, and the returned function exactly once when the read is done.
   */
  enter(groupIds?: Iterable<number>): () => void {
    const epoch = this.epoch;
    const groups = groupIds === undefined ? undefined : [...new Set(groupIds)];
    if (groups === undefined) add(this.allGroups, epoch, 1);
    else for (const groupId of groups) add(this.countsOf(groupId), epoch, 1);
    let left = false;
    return () => {
      if (left) throw new Error('reader epochs: a reader left twice');
      left = true;
      if (groups === undefined) add(this.allGroups, epoch, -1);
      else {
        for (const groupId of groups) {
          const counts = this.countsOf(groupId);
          add(counts, epoch, -1);
          if (counts.size === 0) {
            this.byGroup.delete(groupId);
            this.forgetAncestor(groupId);
          }
        }
      }
      this.drain();
    };
  }

  /**
   * The groups `heirs` took over places of `from` (an in-place combine, in the tick of its
   * commit): frees of the heirs' extents also wait for the readers of `from` active now.
   */
  inherit(heirs: Iterable<number>, from: Iterable<number>): void {
    const read = new Set<number>();
    for (const groupId of from) {
      if (this.byGroup.has(groupId)) read.add(groupId);
      for (const older of this.ancestors.get(groupId) ?? []) read.add(older);
    }
    if (read.size === 0) return; // nobody reads the old groups: nothing to wait for
    for (const heir of heirs) {
      const known = this.ancestors.get(heir) ?? new Set<number>();
      for (const groupId of read) known.add(groupId);
      this.ancestors.set(heir, known);
    }
  }

  /** Runs `release` once no reader that could see the freed extents (of `groupIds`) is left. */
  deferFree(groupIds: Iterable<number>, release: () => void): void {
    const groups = new Set(groupIds);
    for (const groupId of [...groups]) for (const older of this.ancestors.get(groupId) ?? []) groups.add(older);
    this.pending.push({ epoch: this.epoch, groupIds: [...groups], release });
    this.epoch++;
    this.drain();
  }

  get pendingCount(): number {
    return this.pending.length;
  }

  assertInvariants(): void {
    for (const counts of [this.allGroups, ...this.byGroup.values()]) {
      for (const count of counts.values()) if (!(count > 0)) throw new Error('reader epochs: a non-positive reader count');
    }
    for (const free of this.pending) if (!this.held(free)) throw new Error('reader epochs: a free nobody holds is still pending');
    for (const [heir, older] of this.ancestors) {
      for (const groupId of older) if (!this.byGroup.has(groupId)) throw new Error(`reader epochs: group ${heir} inherits from group ${groupId}, which has no readers`);
    }
  }

  /** The last reader of `groupId` left: no heir needs to wait for it any more. */
  private forgetAncestor(groupId: number): void {
    for (const [heir, older] of this.ancestors) {
      if (older.delete(groupId) && older.size === 0) this.ancestors.delete(heir);
    }
  }

  private countsOf(groupId: number): EpochCounts {
    let counts = this.byGroup.get(groupId);
    if (!counts) this.byGroup.set(groupId, (counts = new Map()));
    return counts;
  }

  /** Whether a reader that entered at or before the free's epoch reads one of its groups. */
  private held(free: PendingFree): boolean {
    if (hasEntryAtOrBefore(this.allGroups, free.epoch)) return true;
    return free.groupIds.some((groupId) => {
      const counts = this.byGroup.get(groupId);
      return counts !== undefined && hasEntryAtOrBefore(counts, free.epoch);
    });
  }

  private drain(): void {
    if (this.pending.length === 0) return;
    const ready = this.pending.filter((free) => !this.held(free));
    if (ready.length === 0) return;
    this.pending = this.pending.filter((free) => !ready.includes(free));
    for (const free of ready) free.release();
  }
}

function add(counts: EpochCounts, epoch: number, delta: number): void {
  const count = (counts.get(epoch) ?? 0) + delta;
  if (count < 0) throw new Error('reader epochs: more readers left than entered');
  if (count === 0) counts.delete(epoch);
  else counts.set(epoch, count);
}

function hasEntryAtOrBefore(counts: EpochCounts, epoch: number): boolean {
  for (const entered of counts.keys()) if (entered <= epoch) return true;
  return false;
}
