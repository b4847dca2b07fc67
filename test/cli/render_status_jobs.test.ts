// What status says about jobs and devices must be true (issue 12 item 15): an interrupted run
// is shown only until a later run of the same job finished, the command to continue names the
// whole job ("remove 3"), and draining devices and read errors are shown.
import { describe, expect, it } from 'vitest';
import type { ArrayStatus, JobStatus } from '../../src/array/types.js';
import { renderStatus } from '../../src/cli/render_status.js';

const MIB = 2 ** 20;

function status(jobs: JobStatus[], overrides: Partial<ArrayStatus> = {}): ArrayStatus {
  return {
    home: '/srv/arr',
    arrayUuid: 'a',
    parityCount: 1,
    maxDataWidth: 8,
    extentLbMax: 256,
    fileCount: 0,
    storedBytes: 0,
    allocatedBytes: 0,
    capacityBytes: 1024 * MIB,
    degraded: false,
    degradedReads: 0,
    repairedBlocks: 0,
    metadata: { seq: 0, durableSeq: 0, regionBytes: 0, records: 0, checkpoints: 0, putTransactions: 0, putCommits: 0 },
    opened: { movedDevices: [] },
    kernelVariant: 'simd',
    workerCount: 1,
    devices: [
      { deviceId: 1, path: '/a', uuid: 'u1', backend: 'fs', state: 'online', capacityBytes: 512 * MIB, usedBytes: 0, usedFraction: 0, readErrors: 0 },
      { deviceId: 2, path: '/b', uuid: 'u2', backend: 'fs', state: 'online', capacityBytes: 512 * MIB, usedBytes: 0, usedFraction: 0, readErrors: 0 },
    ],
    jobs,
    ...overrides,
  } as ArrayStatus;
}

function job(jobId: number, kind: string, state: JobStatus['state']): JobStatus {
  return { jobId, kind, state, progress: { doneBytes: MIB, totalBytes: 4 * MIB }, startedMs: jobId, updatedMs: jobId };
}

function jobLines(report: ArrayStatus): string[] {
  const lines = renderStatus(report).split('\n');
  return lines.slice(lines.findIndex((line) => line.startsWith('jobs')));
}

describe('status: jobs', () => {
  it('hides an interrupted run once a later run of the same job finished', () => {
    const lines = jobLines(status([job(4, 'scrub', 'done'), job(3, 'rebuild', 'done'), job(2, 'rebuild', 'interrupted'), job(1, 'rebalance', 'interrupted')]));
    expect(lines).toEqual([
      'jobs       scrub done, 1.00 MiB of 4.00 MiB',
      "           rebalance interrupted, 1.00 MiB of 4.00 MiB — run 'elastripe rebalance' again to continue",
    ]);
  });

  it('shows only the newest cut-short run of a job, and names the whole job to run again', () => {
    const lines = jobLines(status([job(5, 'scrub', 'done'), job(4, 'remove 3', 'aborted'), job(3, 'remove 3', 'interrupted'), job(2, 'rebuild', 'incomplete')]));
    expect(lines).toEqual([
      'jobs       scrub done, 1.00 MiB of 4.00 MiB',
      "           remove 3 aborted, 1.00 MiB of 4.00 MiB — run 'elastripe remove 3' again to continue",
      "           rebuild incomplete, 1.00 MiB of 4.00 MiB — run 'elastripe rebuild' again to continue",
    ]);
  });
});

describe('status: devices', () => {
  it('counts draining devices apart and shows read errors per device', () => {
    const report = status([], { degradedReads: 3, repairedBlocks: 1 });
    report.devices[1] = { ...report.devices[1]!, state: 'draining', readErrors: 4 };
    const lines = renderStatus(report).split('\n');
    expect(lines).toContain('devices    2 (1 online, 1 draining), healthy');
    expect(lines).toContain('degraded   3 reads reconstructed, 1 blocks repaired, 4 read errors (device 2: 4)');
    expect(lines.find((line) => line.includes(' /b '))).toMatch(/draining/);
  });
});
