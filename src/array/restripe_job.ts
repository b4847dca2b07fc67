// Restripe: after the array has grown, files written as narrow groups (k capped by the device
// count then) get groups of today's width, so old data gets today's lower parity overhead m/k.
// Two steps, the cheaper first:
//  1. the in-place combine (combine_groups.ts, the same step an expand starts with): runs of
//     narrow groups become wider groups around the data extents where they lie, writing only
//     new parity and the blocks the distinct-devices rule forces elsewhere;
//  2. a file the combine could not widen — a narrow group inside a run of groups of one extent
//     length, or a file of one narrow group — is re-cut through the normal write path:
//     read group by group straight out of the arena into the writer, new parity and checksums,
//     new extents, and its groups swapped in one transaction, only if the file is unchanged
//     meanwhile (otherwise the new extents are released and the file is left for the next run).
//     A file whose only narrow groups end their runs (the rest of a run cut into full groups,
//     or the file's tail) is not rewritten whole for them: as after an expand, that costs at
//     most one short group per run.
// Copy-on-write throughout: a crash leaves either the old or the new groups committed.
//
// States: combining (one batch of units per commit) → scanning (which files still need a
// rewrite) → rewriting (one file per commit) → done | aborted. Resumable by construction: a
// combined unit or rewritten file no longer qualifies, so running it again continues with
// what is left.
import { LB_BYTES } from '../constants.js';
import { AbortedError } from '../errors.js';
import type { ExtentRow, GroupWithExtents } from '../meta/rows.js';
import type { MetaStore } from '../meta/meta_store.js';
import type { CombineReport } from './combine_groups.js';
import type { JobOptions } from './device_jobs.js';
import { readRangeSlices } from './range_reader.js';
import { Throttle } from './throttle.js';
import type { ReadContext } from './read_path.js';
import { writeFile, type WriteContext } from './write_path.js';

/** Read-ahead and write-behind of a restripe: both pipelines share the arena, so keep them short. */
const RESTRIPE_GROUPS_IN_FLIGHT = 2;

export interface RestripeJobContext {
  store: MetaStore;
  /** Step 1: the in-place combine into groups of today's width. */
  combine: (options: JobOptions) => Promise<CombineReport>;
  readContext: ReadContext;
  /** The write context of a put started now (today's k and devices). */
  writeContext: () => WriteContext;
  freeWhenUnread: (extents: ExtentRow[]) => void;
  /** Registers a read of these groups (see ReaderEpochs.enter); returns its end. */
  enterReader: (groupIds: readonly number[]) => () => void;
}

export interface RestripeReport {
  /** Files whose groups were widened, by the combine, a rewrite or both. */
  restripedFiles: number;
  /** The in-place combine's counts (groups replaced and made, blocks moved, bytes read and written). */
  combine: Omit<CombineReport, 'problems'>;
  /** File bytes the combine widened in place. */
  combinedBytes: number;
  /** Files re-cut whole through the write path, and their bytes. */
  rewrittenFiles: number;
  rewrittenBytes: number;
  /** Allocated bytes before minus after, over the rewritten files. */
  savedBytes: number;
  problems: string[];
}

/** Whether a group is narrower than a put today would make it. */
export function isNarrow(group: { dataCount: number; lengthBytes: number }, dataCountToday: number): boolean {
  return group.dataCount < Math.min(dataCountToday, Math.ceil(group.lengthBytes / LB_BYTES));
}

/**
 * Whether a file's groups still call for a whole-file rewrite after the combine: a narrow group
 * inside a run of groups of one extent length (the combine leaves at most the last group of a run
 * narrow: what is left after cutting the run into full groups), or a file of one narrow group.
 */
export function needsRewrite(groups: readonly { dataCount: number; lengthBytes: number; extentLb: number }[], dataCountToday: number): boolean {
  if (groups.length === 1) return isNarrow(groups[0]!, dataCountToday);
  return groups.some((group, i) => isNarrow(group, dataCountToday) && i + 1 < groups.length && groups[i + 1]!.extentLb === group.extentLb);
}

export async function restripe(context: RestripeJobContext, options: JobOptions): Promise<RestripeReport> {
  const dataCountToday = context.writeContext().maxDataWidth;
  const narrowBefore = new Map<number, string>();
  for (const file of context.store.files()) {
    const groups = context.store.groupsOf(file.fileId);
    if (groups.some((group) => isNarrow(group, dataCountToday))) narrowBefore.set(file.fileId, groupIdsKey(groups));
  }
  const { problems: combineProblems, ...combine } = await context.combine({
    ...options,
    onProgress: (progress) => options.onProgress?.({ ...progress, phase: 'combine' }),
  });
  const report: RestripeReport = {
    restripedFiles: 0, combine, combinedBytes: combine.storedBytes, rewrittenFiles: 0, rewrittenBytes: 0, savedBytes: combine.savedBytes, problems: [...combineProblems],
  };
  const candidates = context.store.files().filter((file) => needsRewrite(context.store.groupsOf(file.fileId), dataCountToday));
  const totalBytes = report.combinedBytes + candidates.reduce((sum, file) => sum + file.sizeBytes, 0);
  const throttle = new Throttle(options.rateBytesPerSec, options.clock);
  for (const file of candidates) {
    if (options.signal?.aborted) throw new AbortedError('restripe was aborted; run it again to continue where it stopped');
    const groups = context.store.groupsOf(file.fileId);
    const leave = context.enterReader(groups.map((group) => group.groupId));
    try {
      if (groups.length === 0 || !needsRewrite(groups, dataCountToday)) continue;
      const savedBytes = await restripeFile(context, file.fileId, file.sizeBytes, groups, options.signal);
      if (savedBytes === undefined) {
        report.problems.push(`file ${file.name} changed during its restripe; run restripe again`);
        continue;
      }
      report.rewrittenFiles++;
      report.rewrittenBytes += file.sizeBytes;
      report.savedBytes += savedBytes;
      options.onProgress?.({ doneBytes: report.combinedBytes + report.rewrittenBytes, totalBytes, phase: 'rewrite' });
    } finally {
      leave();
    }
    await throttle.pace(file.sizeBytes, options.signal);
  }
  for (const [fileId, key] of narrowBefore) {
    const groups = context.store.groupsOf(fileId);
    if (groups.length > 0 && groupIdsKey(groups) !== key) report.restripedFiles++;
  }
  const doneBytes = report.combinedBytes + report.rewrittenBytes;
  options.onProgress?.({ doneBytes, totalBytes: doneBytes, phase: 'done' });
  return report;
}

function groupIdsKey(groups: readonly { groupId: number }[]): string {
  return groups.map((group) => group.groupId).join(',');
}

/** Rewrites one file's groups; returns the bytes saved, or undefined if the file changed meanwhile. */
async function restripeFile(
  context: RestripeJobContext,
  fileId: number,
  sizeBytes: number,
  groups: GroupWithExtents[],
  signal: AbortSignal | undefined,
): Promise<number | undefined> {
  const slices = readRangeSlices(context.readContext, groups, 0, sizeBytes, { groupsInFlightMax: RESTRIPE_GROUPS_IN_FLIGHT, signal });
  // Each slice is an arena view, valid until the writer asks for the next one: by then it has
  // been copied into the writer's group buffer, so the data crosses memory once.
  async function* chunks(): AsyncGenerator<Uint8Array> {
    for await (const slice of slices) yield slice.bytes;
  }
  const written = await writeFile({ ...context.writeContext(), groupsInFlightMax: RESTRIPE_GROUPS_IN_FLIGHT }, { kind: 'chunks', chunks: chunks() }, { sizeBytes, signal });
  const old = context.store.replaceFileGroups(fileId, groups.map((group) => group.groupId), written.groups);
  if (!old) {
    written.releaseExtents();
    return undefined;
  }
  context.freeWhenUnread(old);
  const allocated = (list: { extentLb: number; dataCount: number; parityCount: number }[]) =>
    list.reduce((sum, group) => sum + group.extentLb * (group.dataCount + group.parityCount), 0) * LB_BYTES;
  return allocated(groups) - allocated(written.groups);
}
