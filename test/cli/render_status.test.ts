import { describe, expect, it } from 'vitest';
import type { ArrayStatus, FileStat } from '../../src/array/types.js';
import { formatExtent, renderFileList, renderFileStat, renderFsckReport, renderStatus } from '../../src/cli/render_status.js';

const MIB = 2 ** 20;

const STATUS: ArrayStatus = {
  home: '/srv/arr',
  readOnly: false,
  arrayUuid: '0b5c1e9e-1111-4222-8333-444455556666',
  parityCount: 1,
  maxDataWidth: 8,
  extentLbMax: 256,
  fileCount: 3,
  storedBytes: 300 * MIB,
  allocatedBytes: 400 * MIB,
  capacityBytes: 1024 * MIB,
  usableDataBytes: 512 * MIB,
  degraded: true,
  degradedReads: 7,
  repairedBlocks: 2,
  kernelVariant: 'simd',
  workerCount: 2,
  metadata: { seq: 9, durableSeq: 9, regionBytes: 2 * MIB, records: 9, checkpoints: 1, putTransactions: 3, putCommits: 9 },
  opened: { movedDevices: [] },
  devices: [
    { deviceId: 2, path: '/img/b.img', uuid: 'u2', backend: 'uring', state: 'online', capacityBytes: 256 * MIB, usableBytes: 256 * MIB, usedBytes: 128 * MIB, usedFraction: 0.5, readErrors: 0 },
    { deviceId: 1, path: '/img/a.img', uuid: 'u1', backend: 'fs', state: 'online', capacityBytes: 512 * MIB, usableBytes: 512 * MIB, usedBytes: 0, usedFraction: 0, readErrors: 0 },
    { deviceId: 3, path: '/img/c.img', uuid: 'u3', backend: 'none', state: 'failed', reason: 'a write failed: EIO', capacityBytes: 256 * MIB, usableBytes: 256 * MIB, usedBytes: 256 * MIB, usedFraction: 1, readErrors: 0 },
  ],
  jobs: [
    { jobId: 3, kind: 'scrub', state: 'done', progress: { doneBytes: 400 * MIB, totalBytes: 400 * MIB }, startedMs: 3, updatedMs: 4 },
    { jobId: 2, kind: 'rebalance', state: 'interrupted', progress: { doneBytes: 5 * MIB, totalBytes: 20 * MIB }, startedMs: 1, updatedMs: 2 },
    { jobId: 1, kind: 'rebuild', state: 'done', progress: null, startedMs: 0, updatedMs: 1 },
  ],
};

describe('renderStatus', () => {
  const lines = renderStatus(STATUS).split('\n');

  it('draws one row per device, by id, with a usage bar', () => {
    const rows = lines.filter((line) => line.includes('/img/'));
    expect(rows.map((row) => row.trim().split(/\s+/)[0])).toEqual(['1', '2', '3']);
    expect(rows[0]).toMatch(/1  \/img\/a\.img  fs\s+online\s+512\.0 MiB\s+0 B\s+0\.0%  \[\.{20}\]$/);
    expect(rows[1]).toMatch(/2  \/img\/b\.img  uring\s+online\s+256\.0 MiB\s+128\.0 MiB\s+50\.0%  \[#{10}\.{10}\]$/);
    expect(rows[2]).toMatch(/3  \/img\/c\.img  none\s+failed\s+256\.0 MiB\s+256\.0 MiB\s+100\.0%  \[#{20}\]$/);
    const header = lines.find((line) => line.trimStart().startsWith('id'))!;
    expect(header.split(/\s+/).filter(Boolean)).toEqual(['id', 'path', 'backend', 'state', 'capacity', 'used', 'used%', 'usage']);
  });

  it('shows the array totals', () => {
    expect(lines[0]).toBe('array 0b5c1e9e-1111-4222-8333-444455556666 at /srv/arr');
    expect(lines).toContain('devices    3 (2 online), DEGRADED');
    expect(lines).toContain('files      3');
    expect(lines).toContain('stored     300.0 MiB');
    expect(lines).toContain('allocated  400.0 MiB of 1.00 GiB [########............] 39.1%');
    expect(lines).toContain('overhead   100.0 MiB (33.3% of stored)');
    expect(lines).toContain('degraded   7 reads reconstructed, 2 blocks repaired');
    expect(lines).toContain('kernels    simd, 2 workers');
    expect(lines.some((line) => line.startsWith('geometry   parity 1, data width up to 8, extents up to 256 LB (1.00 MiB)'))).toBe(true);
  });

  it("says why a device is not online, and shows the latest job and any interrupted one", () => {
    expect(lines).toContain('device 3 failed: a write failed: EIO');
    expect(lines).toContain('jobs       scrub done, 400.0 MiB of 400.0 MiB');
    expect(lines).toContain("           rebalance interrupted, 5.00 MiB of 20.00 MiB — run 'elastripe rebalance' again to continue");
    expect(lines.some((line) => line.includes('rebuild'))).toBe(false);
  });

  it('says healthy when not degraded and copes with an empty array', () => {
    const empty = renderStatus({ ...STATUS, degraded: false, storedBytes: 0, allocatedBytes: 0, fileCount: 0, jobs: [] });
    expect(empty).toContain('healthy');
    expect(empty).toContain('overhead   0 B (0.0% of stored)');
  });
});

const FILE: FileStat = {
  name: 'photo.raw',
  sizeBytes: 5 * 4096 + 10,
  groupCount: 2,
  createdMs: Date.UTC(2025, 0, 2, 3, 4, 5),
  groups: [
    { sequence: 0, dataCount: 2, parityCount: 1, extentLb: 2, lengthBytes: 4 * 4096, extents: [
      { deviceId: 1, startLb: 16, lengthLb: 2, role: 'data', index: 0 },
      { deviceId: 2, startLb: 16, lengthLb: 2, role: 'data', index: 1 },
      { deviceId: 3, startLb: 16, lengthLb: 2, role: 'parity', index: 0 },
    ] },
    { sequence: 1, dataCount: 1, parityCount: 1, extentLb: 2, lengthBytes: 4096 + 10, extents: [
      { deviceId: 3, startLb: 18, lengthLb: 2, role: 'data', index: 0 },
      { deviceId: 1, startLb: 18, lengthLb: 2, role: 'parity', index: 0 },
    ] },
  ],
};

describe('file pictures', () => {
  it('stat lists groups and extents', () => {
    const text = renderFileStat(FILE);
    expect(text).toContain('name     photo.raw');
    expect(text).toContain('size     20490 bytes (20.01 KiB)');
    expect(text).toContain('created  2025-01-02T03:04:05.000Z');
    const rows = text.split('\n').filter((line) => /^\s+\d+\s+\d\+\d/.test(line));
    expect(rows).toHaveLength(2);
    expect(rows[0]).toMatch(/0\s+2\+1\s+2\s+16384\s+1:16\+2 data 0, 2:16\+2 data 1, 3:16\+2 parity 0$/);
    expect(rows[1]).toMatch(/1\s+1\+1\s+2\s+4106\s+3:18\+2 data 0, 1:18\+2 parity 0$/);
  });

  it('formats an extent as device:startLb+lengthLb role index', () => {
    expect(formatExtent({ deviceId: 7, startLb: 1024, lengthLb: 16, role: 'parity', index: 2 })).toBe('7:1024+16 parity 2');
  });

  it('ls shows a table and a total', () => {
    const text = renderFileList([FILE, { name: 'b', sizeBytes: 1, groupCount: 1, createdMs: 0 }]);
    expect(text.split('\n')).toEqual([
      'name       bytes       size  groups',
      'photo.raw  20490  20.01 KiB       2',
      'b              1        1 B       1',
      '2 files, 20.01 KiB',
    ]);
    expect(renderFileList([])).toBe('(no files)');
  });

  it('fsck lists problems', () => {
    expect(renderFsckReport({ ok: true, problems: [], checkedGroups: 4, checkedExtents: 12 }, false)).toBe('fsck: ok; checked 4 groups, 12 extents');
    const bad = renderFsckReport({ ok: false, problems: ['group 3: parity mismatch'], checkedGroups: 4, checkedExtents: 12 }, true);
    expect(bad.split('\n')).toEqual(['deep fsck: 1 problem(s); checked 4 groups, 12 extents', '  group 3: parity mismatch']);
  });
});

describe('names and paths are shown escaped', () => {
  const EVIL = 'x\n\x1b[31mred\r';
  const SHOWN = 'x\\n\\x1b[31mred\\r';
  const noControl = (text: string) => expect(text).not.toMatch(/[\x00-\x09\x0b-\x1f\x7f-\x9f]/);

  it('in status: home, device paths and reasons', () => {
    const device = { ...STATUS.devices[2]!, path: `/img/${EVIL}.img`, reason: `gone: ${EVIL}` };
    const text = renderStatus({ ...STATUS, home: `/srv/${EVIL}`, devices: [STATUS.devices[0]!, device] });
    noControl(text);
    expect(text).toContain(`at /srv/${SHOWN}`);
    expect(text).toContain(`/img/${SHOWN}.img`);
    expect(text).toContain(`gone: ${SHOWN}`);
  });

  it('in ls, stat and fsck', () => {
    const list = renderFileList([{ name: EVIL, sizeBytes: 1, groupCount: 1, createdMs: 0 }]);
    const stat = renderFileStat({ ...FILE, name: EVIL });
    const fsck = renderFsckReport({ ok: false, problems: [`file ${EVIL}: groups hold 1 bytes, size is 2`], checkedGroups: 1, checkedExtents: 2 }, false);
    for (const text of [list, stat, fsck]) noControl(text);
    expect(list).toContain(SHOWN);
    expect(stat).toContain(`name     ${SHOWN}`);
    expect(fsck).toContain('x\\n\\x1b[31mred\\r: groups hold');
  });
});
