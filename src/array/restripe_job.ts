// Restripe: after the array has grown, files written as narrow groups (k capped by the device
// count then) are rewritten as groups of today's width, so old data gets today's lower parity
// overhead m/k. A file is re-cut through the normal write path — read group by group straight
// out of the arena into the writer, new parity and checksums, new extents — and its groups are
// swapped in one transaction, only if the file is unchanged meanwhile (otherwise the new extents
// are released and the file is left for the next run). Copy-on-write throughout: a crash
// leaves either the old or the new groups committed.
//
// States: scanning (which files have a group narrower than today's k allows) → rewriting (one
// file per commit) → done | aborted. Resumable by construction: a rewritten file no longer
// qualifies, so running it again continues with what is left.
import { LB_BYTES } from '../constants.js';
import { AbortedError } from '../errors.js';
import type { ExtentRow, GroupWithExtents } from '../meta/rows.js';
import type { MetaStore } from '../meta/meta_store.js';
import type { JobOptions } from './device_jobs.js';
import { readRangeSlices } from './range_reader.js';
import { Throttle } from './throttle.js';
import type { ReadContext } from './read_path.js';
import { writeFile, type WriteContext } from './write_path.js';

/** Read-ahead and write-behind of a restripe: both pipelines share the arena, so keep them short. */
const RESTRIPE_GROUPS_IN_FLIGHT = 2;

export interface RestripeJobContext {
  store: MetaStore;
  readContext: ReadContext;
  /** The write context of a put started now (today's k and devices). */
  writeContext: () => WriteContext;
  freeWhenUnread: (extents: ExtentRow[]) => void;
  /** Registers a read of these groups (see ReaderEpochs.enter); returns its end. */
  enterReader: (groupIds: readonly number[]) => () => void;
}

export interface RestripeReport {
  restripedFiles: number;
  rewrittenBytes: number;
  /** Allocated bytes before minus after, over the rewritten files. */
  savedBytes: number;
  problems: string[];
}

/** Whether a group is narrower than a put today would make it. */
export function isNarrow(group: { dataCount: number; lengthBytes: number }, dataCountToday: number): boolean {
  return group.dataCount < Math.min(dataCountToday, Math.ceil(group.lengthBytes / LB_BYTES));
}

export async function restripe(context: RestripeJobContext, options: JobOptions): Promise<RestripeReport> {
  const report: RestripeReport = { restripedFiles: 0, rewrittenBytes: 0, savedBytes: 0, problems: [] };
  const dataCountToday = context.writeContext().maxDataWidth;
  const candidates = context.store.files().filter((file) => context.store.groupsOf(file.fileId).some((group) => isNarrow(group, dataCountToday)));
  const totalBytes = candidates.reduce((sum, file) => sum + file.sizeBytes, 0);
  const throttle = new Throttle(options.rateBytesPerSec, options.clock);
  for (const file of candidates) {
    if (options.signal?.aborted) throw new AbortedError('restripe was aborted; run it again to continue where it stopped');
    const groups = context.store.groupsOf(file.fileId);
    const leave = context.enterReader(groups.map((group) => group.groupId));
    try {
      if (groups.length === 0 || !groups.some((group) => isNarrow(group, dataCountToday))) continue;
      const savedBytes = await restripeFile(context, file.fileId, file.sizeBytes, groups, options.signal);
      if (savedBytes === undefined) {
        report.problems.push(`file ${file.name} changed during its restripe; run restripe again`);
        continue;
      }
      report.restripedFiles++;
      report.rewrittenBytes += file.sizeBytes;
      report.savedBytes += savedBytes;
      options.onProgress?.({ doneBytes: report.rewrittenBytes, totalBytes });
    } finally {
      leave();
    }
    await throttle.pace(file.sizeBytes, options.signal);
  }
  return report;
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
