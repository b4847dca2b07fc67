// Scrub: read every block of every group, verify every checksum and every group's parity, and
// rewrite in place what parity rebuilt (bit rot, bad sectors).
//
// States of a scrub (its row in the jobs table): running (groups in ascending id order, one
// at a time; the row's cursor holds the bytes checked and the last group id checked) →
// done (nothing left unrepaired) | incomplete (damage it could not repair) | aborted | failed;
// a crash leaves the row running, and the next open marks it interrupted.
//
// Resumable: a scrub that follows an aborted or interrupted one continues after that one's
// cursor (`lastGroupId`) instead of starting again from 0%. Groups are visited by id, and ids
// only grow (a rewritten group gets a new, higher id; a moved block keeps its group), so the
// groups past the cursor are exactly those the cut-short run had not checked, plus those
// written since. A finished scrub leaves no cursor to resume from: the next one checks all.
//
// Each group is looked up afresh and read under its own reader registration, so a scrub never
// reads extents freed and reused since it started, and frees of other files never wait for it.
import type { MetaStore } from '../meta/meta_store.js';
import type { GroupWithExtents, JobRow } from '../meta/rows.js';
import { AbortedError } from '../errors.js';
import type { JobOptions } from './device_jobs.js';
import { checkGroup, groupBytes } from './fsck.js';
import { groupLabel } from './group_label.js';
import type { ReadContext } from './read_path.js';
import type { Runtime } from './array_setup.js';
import { Throttle } from './throttle.js';
import type { Progress, ScrubReport } from './types.js';

export interface ScrubContext {
  store: MetaStore;
  readContext: ReadContext;
  runtime: Runtime;
  /** Registers a read of these groups (see ReaderEpochs.enter); returns its end. */
  enterReader: (groupIds: readonly number[]) => () => void;
}

/** Where a new scrub starts: after the cursor of the last scrub, when that one was cut short. */
export function scrubResumePoint(last: JobRow | undefined): number | undefined {
  if (!last || (last.state !== 'aborted' && last.state !== 'interrupted') || last.cursor === null) return undefined;
  const cursor = JSON.parse(last.cursor) as Partial<Progress>;
  return typeof cursor.lastGroupId === 'number' ? cursor.lastGroupId : undefined;
}

export async function scrub(context: ScrubContext, options: JobOptions & { afterGroupId?: number }): Promise<ScrubReport> {
  const { afterGroupId } = options;
  const groups = context.store.allGroups().sort((a, b) => a.groupId - b.groupId);
  const totalBytes = groups.reduce((sum, group) => sum + groupBytes(group), 0);
  const todo = afterGroupId === undefined ? groups : groups.filter((group) => group.groupId > afterGroupId);
  let doneBytes = totalBytes - todo.reduce((sum, group) => sum + groupBytes(group), 0);
  const report: ScrubReport = { checkedGroups: 0, checkedExtents: 0, repairedBlocks: 0, problems: [], unrepairedProblems: 0 };
  if (afterGroupId !== undefined) {
    report.resumedAfterGroupId = afterGroupId;
    // The cursor is recorded at once, so a resumed scrub cut short again still resumes.
    options.onProgress?.({ doneBytes, totalBytes, lastGroupId: afterGroupId });
  }
  const throttle = new Throttle(options.rateBytesPerSec, options.clock);
  for (const { groupId } of todo) {
    if (options.signal?.aborted) throw new AbortedError('scrub was aborted; run it again to continue where it stopped');
    const leave = context.enterReader([groupId]);
    let group: GroupWithExtents | undefined;
    try {
      group = context.store.group(groupId); // as it is now: its blocks may have moved
      if (!group) continue; // its file was deleted meanwhile
      const checked = await checkGroup(counting(context, report), context.runtime, group, true, groupLabel(group, context.store.fileNameOf(group.fileId)));
      report.problems.push(...checked.problems);
      report.unrepairedProblems += checked.unrepairedProblems;
      report.checkedExtents += checked.checkedExtents;
      report.checkedGroups++;
    } finally {
      leave();
    }
    doneBytes += groupBytes(group);
    options.onProgress?.({ doneBytes, totalBytes, lastGroupId: groupId });
    await throttle.pace(groupBytes(group), options.signal);
  }
  return report;
}

/** The read context with repairs counted into the report as well. */
function counting(context: ScrubContext, report: ScrubReport): ReadContext {
  return {
    ...context.readContext,
    onRepaired: (deviceId, groupId) => {
      report.repairedBlocks++;
      context.readContext.onRepaired?.(deviceId, groupId);
    },
  };
}
