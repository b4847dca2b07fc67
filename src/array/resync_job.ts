// Resync: what a missing device that returned needs instead of a rebuild. Only groups committed
// while it was away can hold a block of it that never became durable (a put whose flush to it
// failed when it dropped finishes degraded); each such group is read whole, every checksum and
// the parity verified, and a block parity rebuilds is rewritten in place (checkGroup with
// repair, as scrub does). Everything else it holds was committed before it left and never
// overwritten (copy-on-write), and groups rebuilt or moved meanwhile no longer reference it.
//
// States: checking (groups in ascending id order, each looked up afresh under its own reader
// registration) -> done | incomplete (damage it could not repair) | aborted. Resumable by
// construction: running it again checks the same groups (a repaired block checks clean).
import { AbortedError } from '../errors.js';
import type { MetaStore } from '../meta/meta_store.js';
import type { Runtime } from './array_setup.js';
import type { JobOptions } from './device_jobs.js';
import { checkGroup, groupBytes } from './fsck.js';
import { groupLabel } from './group_label.js';
import type { ReadContext } from './read_path.js';
import { Throttle } from './throttle.js';

export interface ResyncContext {
  store: MetaStore;
  readContext: ReadContext;
  runtime: Runtime;
  enterReader: (groupIds: readonly number[]) => () => void;
}

export interface ResyncReport {
  deviceId: number;
  checkedGroups: number;
  repairedBlocks: number;
  problems: string[];
  unrepairedProblems: number;
}

export async function resync(context: ResyncContext, deviceId: number, groupIds: readonly number[], options: JobOptions): Promise<ResyncReport> {
  const report: ResyncReport = { deviceId, checkedGroups: 0, repairedBlocks: 0, problems: [], unrepairedProblems: 0 };
  const throttle = new Throttle(options.rateBytesPerSec, options.clock);
  const readContext: ReadContext = {
    ...context.readContext,
    onRepaired: (repairedDeviceId, groupId) => {
      report.repairedBlocks++;
      context.readContext.onRepaired?.(repairedDeviceId, groupId);
    },
  };
  let totalBytes = 0;
  for (const groupId of groupIds) totalBytes += groupBytes(context.store.group(groupId) ?? { dataCount: 0, parityCount: 0, extentLb: 0 });
  let doneBytes = 0;
  for (const groupId of groupIds) {
    if (options.signal?.aborted) throw new AbortedError('resync was aborted; bring the device online again to continue');
    const leave = context.enterReader([groupId]);
    let bytes = 0;
    try {
      const group = context.store.group(groupId);
      // Deleted, or its block on the device moved away meanwhile: nothing of it left to check.
      if (!group || !group.extents.some((extent) => extent.deviceId === deviceId)) continue;
      const checked = await checkGroup(readContext, context.runtime, group, true, groupLabel(group, context.store.fileNameOf(group.fileId)));
      report.problems.push(...checked.problems);
      report.unrepairedProblems += checked.unrepairedProblems;
      report.checkedGroups++;
      bytes = groupBytes(group);
    } finally {
      leave();
    }
    doneBytes += bytes;
    options.onProgress?.({ doneBytes, totalBytes });
    await throttle.pace(bytes, options.signal);
  }
  return report;
}
