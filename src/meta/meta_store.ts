// The metadata store: one SQLite database (WAL; synchronous=NORMAL once created, FULL while creating) in the array's home
// directory. It is also the array's lock: the connection runs in EXCLUSIVE locking mode, so
// the kernel's file lock keeps every other opener out (in this process or another) and is
// released even when the owner is killed.
import Database from 'better-sqlite3';
import { accessSync, closeSync, constants as fsConstants, copyFileSync, existsSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ArrayLockedError, CorruptMetadataError, InvalidArgumentError, NotFoundError, ReadOnlyError } from '../errors.js';
import { MIGRATIONS, SCHEMA_VERSION } from './schema.js';
import type { DeviceAwayRow, DeviceRow, ExtentMove, JobRow, ExtentRow, FileRow, GroupRow, GroupWithExtents, NewGroup, PlacedGroup } from './rows.js';
import { changeSetDigest, encodeChanges, encodeSnapshotText, type ChangeSet, type EncodedSnapshot, type MetaChange, type SnapshotRows } from './meta_changes.js';

/** The counters row holding durableSeqAtClose (a mark, not a count: it is set, not added to). */
const DURABLE_SEQ_AT_CLOSE = 'journal.durableSeqAtClose';

export const DATABASE_FILE = 'elastripe.db';
const HOLDER_FILE = 'holder';
/** Settings key of the sequence number of the last committed change set. */
const META_SEQ_KEY = 'metaSeq';
/** Change-set digests kept (change_digests): the newest ones, all open compares. */
export const CHANGE_DIGESTS_KEPT = 64;

type Db = Database.Database;

export class MetaStore {
  /** Prepared statements by SQL text: preparing costs more than running one (small puts). */
  private readonly statements = new Map<string, Database.Statement>();
  /** fileRange's statement, prepared on first use (no lookup by SQL text on a hot path). */
  private fileRangeStatement: Database.Statement | undefined;
  /** Opened by openReadOnly: an in-memory copy, and every journaled change refused. */
  readOnly = false;
  /** Changes of the transaction being run by `mutate`, in order. */
  private recording: MetaChange[] | undefined;
  /** Sequence number of the last committed change set (0 for a new store). */
  private committedSeq = 0;
  /**
   * Called synchronously after every committed change set, in sequence order: the array ships
   * it to the on-device journal. Nothing else runs between the commit and this call.
   */
  onCommit: ((set: ChangeSet) => void) | undefined;

  /**
   * One transaction function for every mutation, made once: better-sqlite3's
   * `db.transaction(fn)` builds four wrapper functions and their properties per call, ~9 us of
   * a small put's CPU when made per mutation. Nested in a transaction, it runs in a savepoint.
   */
  private readonly runInTransaction: Database.Transaction<(work: () => unknown) => unknown>;

  private constructor(
    readonly home: string,
    private readonly db: Db,
  ) {
    this.runInTransaction = db.transaction((work: () => unknown) => work());
  }

  private statement(sql: string): Database.Statement {
    let prepared = this.statements.get(sql);
    if (!prepared) {
      prepared = this.db.prepare(sql);
      this.statements.set(sql, prepared);
    }
    return prepared;
  }

  /** Opens (or with create, makes) the store, taking the array's lock. */
  static open(home: string, options: { create: boolean }): MetaStore {
    assertHomeDirectory(home);
    const path = join(home, DATABASE_FILE);
    const exists = existsSync(path);
    if (options.create && exists) throw new InvalidArgumentError(`an array already exists in ${home}`);
    if (!options.create && !exists) throw new NotFoundError(`no array in ${home} (no ${DATABASE_FILE})`);
    if (!options.create) {
      assertSqliteHeader(path);
      assertWritable(home, path);
    }
    let db: Db;
    try {
      db = new Database(path, { timeout: 0, fileMustExist: !options.create });
    } catch (error) {
      throw new CorruptMetadataError(`cannot open ${path}: ${(error as Error).message}`, { cause: error });
    }
    try {
      takeLock(db, home);
      checkIntegrity(db, path, options.create);
      migrate(db);
    } catch (error) {
      db.close();
      throw error;
    }
    writeFileSync(join(home, HOLDER_FILE), `pid ${process.pid}\n`);
    const store = new MetaStore(home, db);
    store.committedSeq = Number(store.setting(META_SEQ_KEY) ?? 0);
    return store;
  }

  /**
   * Opens the store read-only, without the lock: the home's database is read once into an
   * in-memory copy (migrated there if it is older) and the file is let go at once, so the
   * owner may open the array meanwhile (this store then no longer follows it). A home whose
   * owner has it open cannot be read at all — its exclusive lock keeps every reader out —
   * and gets ARRAY_LOCKED. Nothing is ever written to the home; changes are refused.
   */
  static openReadOnly(home: string): MetaStore {
    assertHomeDirectory(home);
    const path = join(home, DATABASE_FILE);
    if (!existsSync(path)) throw new NotFoundError(`no array in ${home} (no ${DATABASE_FILE})`);
    assertSqliteHeader(path);
    const image = readDatabaseImage(home, path);
    // A WAL-mode header (bytes 18-19 = 2) cannot be opened from memory: mark it rollback-mode.
    image[18] = 1;
    image[19] = 1;
    let db: Db;
    try {
      db = new Database(image);
    } catch (error) {
      throw new CorruptMetadataError(`metadata ${path} is unreadable: ${firstLine((error as Error).message)}`, { cause: error });
    }
    try {
      checkIntegrity(db, path, false);
      migrate(db);
    } catch (error) {
      db.close();
      throw error;
    }
    const store = new MetaStore(home, db);
    store.readOnly = true;
    store.committedSeq = Number(store.setting(META_SEQ_KEY) ?? 0);
    return store;
  }

  /** Sequence number of the last committed change set. */
  get seq(): number {
    return this.committedSeq;
  }

  /**
   * Runs `work` in one immediate transaction; the changes it records become change set
   * seq + 1, committed with it (the sequence number is stored in the same transaction) and
   * then handed to onCommit. A transaction that records nothing takes no number.
   */
  private mutate<T>(work: () => T): T {
    if (this.readOnly) throw new ReadOnlyError(`the array at ${this.home} is open read-only`);
    if (this.recording) {
      // Nested in a mutation already running (a batch): a savepoint keeps this one atomic on
      // its own, and its changes leave the change set if it fails.
      const mark = this.recording.length;
      try {
        return this.runInTransaction(work) as T;
      } catch (error) {
        this.recording.length = mark;
        throw error;
      }
    }
    this.recording = [];
    let changes: MetaChange[];
    let encodedChanges = '';
    let result: T;
    try {
      result = this.runInTransaction.immediate(() => {
        const value = work();
        if (this.recording!.length > 0) {
          this.statement('INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)').run(META_SEQ_KEY, String(this.committedSeq + 1));
          encodedChanges = encodeChanges(this.recording!);
          this.keepDigest(this.committedSeq + 1, encodedChanges);
        }
        return value;
      }) as T;
      changes = this.recording;
    } finally {
      this.recording = undefined;
    }
    if (changes.length > 0) {
      this.committedSeq++;
      this.onCommit?.({ seq: this.committedSeq, changes, encodedChanges });
    }
    return result;
  }

  /**
   * Runs several mutations in one transaction: one commit (one fsync of the home) and one
   * change set for all of them, each still atomic on its own (a savepoint each).
   */
  batch<T>(work: () => T): T {
    return this.mutate(work);
  }

  private record(change: MetaChange): void {
    if (!this.recording) throw new Error('meta store: a change outside a mutation');
    this.recording.push(change);
  }

  close(): void {
    this.db.close();
  }

  /** Removes the metadata of an array whose creation failed (the store must be closed). */
  static destroy(home: string): void {
    for (const name of [DATABASE_FILE, `${DATABASE_FILE}-wal`, `${DATABASE_FILE}-shm`, HOLDER_FILE]) {
      rmSync(join(home, name), { force: true });
    }
  }

  // --- settings ---

  setting(key: string): string | undefined {
    const row = this.statement('SELECT value FROM settings WHERE key = ?').get(key) as { value: string } | undefined;
    return row?.value;
  }

  putSettings(values: Record<string, string | number>): void {
    const put = this.statement('INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)');
    this.mutate(() => {
      for (const [key, value] of Object.entries(values)) {
        put.run(key, String(value));
        this.record({ op: 'setting', key, value: String(value) });
      }
    });
  }

  // --- devices ---

  addDevice(row: Omit<DeviceRow, 'deviceId'> & { deviceId?: number }): number {
    return this.mutate(() => {
      const deviceId = this.insertDevice(row);
      this.record({ op: 'deviceAdd', row: { ...row, deviceId } });
      return deviceId;
    });
  }

  private insertDevice(row: Omit<DeviceRow, 'deviceId'> & { deviceId?: number }): number {
    const result = this.statement(
        `INSERT INTO devices (device_id, uuid, path, capacity_lb, data_start_lb, data_end_lb, state, added_ms)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(row.deviceId ?? null, row.uuid, row.path, row.capacityLb, row.dataStartLb, row.dataEndLb, row.state, row.addedMs);
    return Number(result.lastInsertRowid);
  }

  /** Where a device was last found: a local hint, not journaled (devices are known by UUID). */
  setDevicePath(deviceId: number, path: string): void {
    this.statement('UPDATE devices SET path = ? WHERE device_id = ?').run(path, deviceId);
  }

  devices(): DeviceRow[] {
    return this.statement(
        `SELECT device_id AS deviceId, uuid, path, capacity_lb AS capacityLb, data_start_lb AS dataStartLb,
                data_end_lb AS dataEndLb, state, added_ms AS addedMs FROM devices ORDER BY device_id`,
      )
      .all() as DeviceRow[];
  }

  setDeviceState(deviceId: number, state: DeviceRow['state']): void {
    this.mutate(() => {
      if (this.statement('UPDATE devices SET state = ? WHERE device_id = ? AND state != ?').run(state, deviceId, state).changes > 0) {
        this.record({ op: 'deviceState', deviceId, state });
      }
    });
  }

  // --- away records (device_away, schema 6): journaled like device states ---

  /** Records that a device is away and the watermark its resync starts from (replaces an older record of it). */
  setDeviceAway(row: DeviceAwayRow): void {
    this.mutate(() => {
      this.putAwayRow(row);
      this.record({ op: 'deviceAway', row });
    });
  }

  /** The device is back and resynced (or left the array): its away record ends. */
  clearDeviceAway(deviceId: number): void {
    this.mutate(() => {
      if (this.statement('DELETE FROM device_away WHERE device_id = ?').run(deviceId).changes > 0) this.record({ op: 'deviceBack', deviceId });
    });
  }

  deviceAwayRows(): DeviceAwayRow[] {
    return this.statement(
      'SELECT device_id AS deviceId, since_ms AS sinceMs, watermark_group_id AS watermarkGroupId, since_seq AS sinceSeq FROM device_away ORDER BY device_id',
    ).all() as DeviceAwayRow[];
  }

  private putAwayRow(row: DeviceAwayRow): void {
    this.statement('INSERT OR REPLACE INTO device_away (device_id, since_ms, watermark_group_id, since_seq) VALUES (?, ?, ?, ?)').run(
      row.deviceId,
      row.sinceMs,
      row.watermarkGroupId,
      row.sinceSeq,
    );
  }

  // --- jobs ---

  /** Records a job as running; its row is the durable trace of the job's progress. */
  startJob(kind: string, nowMs: number): number {
    return Number(
      this.statement("INSERT INTO jobs (kind, state, cursor, created_ms, updated_ms) VALUES (?, 'running', NULL, ?, ?)").run(kind, nowMs, nowMs)
        .lastInsertRowid,
    );
  }

  /** The job's cursor (what it has done so far, as JSON text), updated as it goes. */
  updateJob(jobId: number, cursor: string, nowMs: number): void {
    this.statement('UPDATE jobs SET cursor = ?, updated_ms = ? WHERE job_id = ?').run(cursor, nowMs, jobId);
  }

  /** 'incomplete': the job ran to its end but left problems (running it again may finish it). */
  finishJob(jobId: number, state: 'done' | 'incomplete' | 'aborted' | 'failed', nowMs: number): void {
    this.statement('UPDATE jobs SET state = ?, updated_ms = ? WHERE job_id = ?').run(state, nowMs, jobId);
  }

  /** Jobs still marked running at open were cut short by a crash: they become 'interrupted'. */
  markInterruptedJobs(nowMs: number): void {
    this.statement("UPDATE jobs SET state = 'interrupted', updated_ms = ? WHERE state = 'running'").run(nowMs);
  }

  // --- local statistics: not journaled (like jobs, they are this home's history) ---

  /** Every counter: degraded reads, repaired blocks, read errors per device. */
  counters(): Map<string, number> {
    const rows = this.statement('SELECT key, value FROM counters').all() as { key: string; value: number }[];
    return new Map(rows.map((row) => [row.key, row.value]));
  }

  /** Adds to counters, in one transaction of its own (outside `mutate`: nothing is journaled). */
  addCounters(deltas: ReadonlyMap<string, number>): void {
    const add = this.statement('INSERT INTO counters (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = value + excluded.value');
    this.db.transaction(() => {
      for (const [key, delta] of deltas) add.run(key, delta);
    })();
  }

  /**
   * The newest change set durable on every online device when the last process closed cleanly
   * (kept beside the counters: local to this home, never journaled). At open, an online device
   * whose journal ends before it is an older copy of itself (an image restored while the array
   * was closed) and missed data writes too. 0 when no clean close was recorded.
   */
  durableSeqAtClose(): number {
    const row = this.statement('SELECT value FROM counters WHERE key = ?').get(DURABLE_SEQ_AT_CLOSE) as { value: number } | undefined;
    return row?.value ?? 0;
  }

  setDurableSeqAtClose(seq: number): void {
    this.statement('INSERT INTO counters (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value').run(DURABLE_SEQ_AT_CLOSE, seq);
  }

  /** The newest job of a kind ('scrub', 'remove 3'), if any. */
  lastJob(kind: string): JobRow | undefined {
    return this.statement(
      `SELECT job_id AS jobId, kind, state, cursor, created_ms AS createdMs, updated_ms AS updatedMs
       FROM jobs WHERE kind = ? ORDER BY job_id DESC LIMIT 1`,
    ).get(kind) as JobRow | undefined;
  }

  /** The most recent jobs, newest first. */
  recentJobs(limit: number): JobRow[] {
    return this.statement(
      `SELECT job_id AS jobId, kind, state, cursor, created_ms AS createdMs, updated_ms AS updatedMs
       FROM jobs ORDER BY job_id DESC LIMIT ?`,
    ).all(limit) as JobRow[];
  }

  /** SQLite's quick_check of the whole database (fsck): its problems, none when intact. */
  integrityProblems(): string[] {
    let verdict: string;
    try {
      verdict = quickCheck(this.db);
    } catch (error) {
      return [`the home's database is unreadable: ${firstLine((error as Error).message)}`];
    }
    if (verdict === 'ok') return [];
    return verdict.split('\n').filter((line) => line.trim() !== '').map((line) => `the home's database: ${line}`);
  }

  // --- the free-space map saved at close: local, not journaled (see free_space_map.ts) ---

  /** Replaces the saved free ranges (per device, [start, length] float64 pairs), valid at the current seq. */
  saveFreeSpace(ranges: ReadonlyMap<number, Float64Array>): void {
    if (this.readOnly) return;
    const insert = this.statement('INSERT INTO free_space (device_id, seq, ranges) VALUES (?, ?, ?)');
    this.db.transaction(() => {
      this.statement('DELETE FROM free_space').run();
      for (const [deviceId, pairs] of ranges) insert.run(deviceId, this.committedSeq, Buffer.from(pairs.buffer, pairs.byteOffset, pairs.byteLength));
    }).immediate();
  }

  /** The saved free ranges if they were saved at the current seq (nothing committed since), else undefined. */
  savedFreeSpace(): Map<number, Float64Array> | undefined {
    const rows = this.statement('SELECT device_id AS deviceId, seq, ranges FROM free_space').all() as { deviceId: number; seq: number; ranges: Buffer }[];
    if (rows.length === 0 || rows.some((row) => row.seq !== this.committedSeq || row.ranges.byteLength % 16 !== 0)) return undefined;
    return new Map(rows.map((row) => [row.deviceId, new Float64Array(row.ranges.buffer.slice(row.ranges.byteOffset, row.ranges.byteOffset + row.ranges.byteLength))]));
  }

  private dropSavedFreeSpace(): void {
    this.statement('DELETE FROM free_space').run();
  }

  // --- files, groups, extents ---

  file(name: string): FileRow | undefined {
    return this.statement('SELECT file_id AS fileId, name, size_bytes AS sizeBytes, created_ms AS createdMs FROM files WHERE name = ?')
      .get(name) as FileRow | undefined;
  }

  /** A file's name by its id (the primary key): what problem reports call a group's file. */
  fileNameOf(fileId: number): string | undefined {
    const row = this.statement('SELECT name FROM files WHERE file_id = ?').get(fileId) as { name: string } | undefined;
    return row?.name;
  }

  files(): (FileRow & { groupCount: number })[] {
    return this.statement(
        `SELECT f.file_id AS fileId, f.name, f.size_bytes AS sizeBytes, f.created_ms AS createdMs,
                (SELECT COUNT(*) FROM groups g WHERE g.file_id = f.file_id) AS groupCount
         FROM files f ORDER BY f.name`,
      )
      .all() as (FileRow & { groupCount: number })[];
  }

  /** The groups of a file in order, each with its extents (data by index, then parity by index). */
  groupsOf(fileId: number): GroupWithExtents[] {
    const groups = this.statement(
        `SELECT group_id AS groupId, file_id AS fileId, sequence, data_count AS dataCount,
                parity_count AS parityCount, extent_lb AS extentLb, length_bytes AS lengthBytes
         FROM groups WHERE file_id = ? ORDER BY sequence`,
      )
      .all(fileId) as GroupRow[];
    const extentsOf = this.statement(
      `SELECT extent_id AS extentId, group_id AS groupId, device_id AS deviceId, start_lb AS startLb,
              length_lb AS lengthLb, role, idx AS "index", checksum
       FROM extents WHERE group_id = ? ORDER BY role = 'parity', idx`,
    );
    return groups.map((group) => ({ ...group, extents: extentsOf.all(group.groupId) as ExtentRow[] }));
  }

  /**
   * The groups of a file that overlap the byte range [offset, offset + length), in file order,
   * each with its extents and its byte offset in the file. O(log groups + groups returned):
   * the group holding `offset` is found through the (file_id, file_offset) index, and the
   * extents of all returned groups come in one query.
   */
  groupsInRange(fileId: number, offset: number, length: number): PlacedGroup[] {
    if (length <= 0) return [];
    const end = offset + length;
    const groups = this.statement(
      `SELECT group_id AS groupId, file_id AS fileId, sequence, data_count AS dataCount,
              parity_count AS parityCount, extent_lb AS extentLb, length_bytes AS lengthBytes, file_offset AS fileOffset
       FROM groups
       WHERE file_id = @fileId AND file_offset < @end
         AND file_offset >= COALESCE((SELECT file_offset FROM groups WHERE file_id = @fileId AND file_offset <= @offset ORDER BY file_offset DESC LIMIT 1), 0)
       ORDER BY file_offset`,
    ).all({ fileId, offset, end }) as (GroupRow & { fileOffset: number })[];
    if (groups.length === 0) return [];
    const extents = this.statement(
      `SELECT e.extent_id AS extentId, e.group_id AS groupId, e.device_id AS deviceId, e.start_lb AS startLb,
              e.length_lb AS lengthLb, e.role, e.idx AS "index", e.checksum
       FROM groups g JOIN extents e ON e.group_id = g.group_id
       WHERE g.file_id = ? AND g.file_offset >= ? AND g.file_offset <= ?
       ORDER BY g.file_offset, e.role = 'parity', e.idx`,
    ).all(fileId, groups[0]!.fileOffset, groups[groups.length - 1]!.fileOffset) as ExtentRow[];
    const placed = groups.map((group) => ({ ...group, extents: [] as ExtentRow[] }));
    const byId = new Map(placed.map((group) => [group.groupId, group]));
    for (const extent of extents) byId.get(extent.groupId)?.extents.push(extent);
    return placed;
  }

  /**
   * A read's lookup in one query (issue 10: a small get paid four — the file twice, its groups,
   * their extents): the file named `name` and its groups that overlap
   * [offset, min(offset + maxLength, size)), each with its extents, as groupsInRange returns
   * them. Undefined when there is no such file. The caller checks the range against the size.
   */
  fileRange(name: string, offset: number, maxLength: number): { file: FileRow; groups: PlacedGroup[] } | undefined {
    this.fileRangeStatement ??= this.db.prepare(
      `SELECT f.file_id, f.size_bytes, f.created_ms,
              g.group_id, g.sequence, g.data_count, g.parity_count, g.extent_lb, g.length_bytes, g.file_offset,
              e.extent_id, e.device_id, e.start_lb, e.length_lb, e.role, e.idx, e.checksum
       FROM files f
       LEFT JOIN groups g ON g.file_id = f.file_id
         AND g.file_offset < MIN(@offset + @maxLength, f.size_bytes) AND @offset < MIN(@offset + @maxLength, f.size_bytes)
         AND g.file_offset >= COALESCE((SELECT file_offset FROM groups WHERE file_id = f.file_id AND file_offset <= @offset ORDER BY file_offset DESC LIMIT 1), 0)
       LEFT JOIN extents e ON e.group_id = g.group_id
       WHERE f.name = @name
       ORDER BY g.file_offset, e.role = 'parity', e.idx`,
    ).raw(true);
    const rows = this.fileRangeStatement.all({ name, offset, maxLength }) as unknown[][];
    if (rows.length === 0) return undefined;
    const first = rows[0]!;
    const fileId = first[0] as number;
    const file: FileRow = { fileId, name, sizeBytes: first[1] as number, createdMs: first[2] as number };
    const groups: PlacedGroup[] = [];
    let group: PlacedGroup | undefined;
    for (const row of rows) {
      if (row[3] === null) continue;
      const groupId = row[3] as number;
      if (group?.groupId !== groupId) {
        group = {
          groupId, fileId, sequence: row[4] as number, dataCount: row[5] as number, parityCount: row[6] as number,
          extentLb: row[7] as number, lengthBytes: row[8] as number, fileOffset: row[9] as number, extents: [],
        };
        groups.push(group);
      }
      if (row[10] === null) continue;
      group.extents.push({
        extentId: row[10] as number, groupId, deviceId: row[11] as number, startLb: row[12] as number,
        lengthLb: row[13] as number, role: row[14] as ExtentRow['role'], index: row[15] as number, checksum: row[16] as Buffer,
      });
    }
    return { file, groups };
  }

  /**
   * Groups whose stored byte offset is not the sum of the lengths of their file's groups before
   * them (for fsck): a ranged read would read the wrong bytes of such a group.
   */
  misplacedGroups(): { groupId: number; fileId: number; sequence: number; fileOffset: number; expected: number }[] {
    return this.statement(
      `SELECT groupId, fileId, sequence, fileOffset, expected FROM (
         SELECT group_id AS groupId, file_id AS fileId, sequence, file_offset AS fileOffset,
                SUM(length_bytes) OVER (PARTITION BY file_id ORDER BY sequence) - length_bytes AS expected
         FROM groups)
       WHERE fileOffset != expected ORDER BY groupId`,
    ).all() as { groupId: number; fileId: number; sequence: number; fileOffset: number; expected: number }[];
  }

  /** One group with its extents, or undefined once it is gone. */
  group(groupId: number): GroupWithExtents | undefined {
    const group = this.statement(
        `SELECT group_id AS groupId, file_id AS fileId, sequence, data_count AS dataCount,
                parity_count AS parityCount, extent_lb AS extentLb, length_bytes AS lengthBytes
         FROM groups WHERE group_id = ?`,
      )
      .get(groupId) as GroupRow | undefined;
    if (!group) return undefined;
    const extents = this.statement(
        `SELECT extent_id AS extentId, group_id AS groupId, device_id AS deviceId, start_lb AS startLb,
                length_lb AS lengthLb, role, idx AS "index", checksum
         FROM extents WHERE group_id = ? ORDER BY role = 'parity', idx`,
      )
      .all(groupId) as ExtentRow[];
    return { ...group, extents };
  }

  /** The highest group id committed so far, 0 if none (ids only grow: AUTOINCREMENT). O(log n). */
  lastGroupId(): number {
    const row = this.statement('SELECT MAX(group_id) AS groupId FROM groups').get() as { groupId: number | null };
    return row.groupId ?? 0;
  }

  /** Ids of the groups with an extent on the device and an id above `afterGroupId` (committed since). */
  groupIdsOnDeviceAfter(deviceId: number, afterGroupId: number): number[] {
    const rows = this.statement('SELECT DISTINCT group_id AS groupId FROM extents WHERE device_id = ? AND group_id > ? ORDER BY group_id').all(deviceId, afterGroupId) as { groupId: number }[];
    return rows.map((row) => row.groupId);
  }

  /** Ids of the groups with at least one extent on one of the devices, in a stable order. */
  groupIdsOnDevices(deviceIds: readonly number[]): number[] {
    if (deviceIds.length === 0) return [];
    const rows = this.statement(`SELECT DISTINCT group_id AS groupId FROM extents WHERE device_id IN (${deviceIds.map(() => '?').join(',')}) ORDER BY group_id`)
      .all(...deviceIds) as { groupId: number }[];
    return rows.map((row) => row.groupId);
  }

  /** Extents on a device (id, group, length), largest first: what a rebalance may move. */
  extentsOnDevice(deviceId: number): { extentId: number; groupId: number; lengthLb: number }[] {
    return this.statement(`SELECT extent_id AS extentId, group_id AS groupId, length_lb AS lengthLb FROM extents WHERE device_id = ? ORDER BY length_lb DESC, extent_id`)
      .all(deviceId) as { extentId: number; groupId: number; lengthLb: number }[];
  }

  /**
   * Points extents at their new places, all or nothing. Each move names where the extent was;
   * if any extent is gone or elsewhere (its file was replaced or deleted meanwhile), nothing
   * changes and the result is false.
   */
  relocateExtents(moves: readonly ExtentMove[]): boolean {
    const update = this.statement(
      'UPDATE extents SET device_id = ?, start_lb = ? WHERE extent_id = ? AND device_id = ? AND start_lb = ?',
    );
    return (
      this.guardedTransaction(() => {
        for (const move of moves) {
          if (update.run(move.toDeviceId, move.toStartLb, move.extentId, move.fromDeviceId, move.fromStartLb).changes !== 1) {
            throw new StaleMoveError();
          }
          this.record({ op: 'extentMove', extentId: move.extentId, deviceId: move.toDeviceId, startLb: move.toStartLb });
        }
        return true;
      }) ?? false
    );
  }

  /**
   * Replaces one group of a file by a new group at the same place in the file (a restripe),
   * all or nothing. False, with nothing changed, if the old group is gone or its extents are not
   * exactly `oldExtentIds` any more.
   */
  replaceGroup(oldGroupId: number, oldExtentIds: readonly number[], replacement: NewGroup): boolean {
    return (
      this.guardedTransaction(() => {
        const old = this.group(oldGroupId);
        const current = old?.extents.map((extent) => extent.extentId);
        if (!old || sortedKey(current!) !== sortedKey(oldExtentIds)) throw new StaleMoveError();
        // The groups after it keep their byte offsets: the replacement must hold as many bytes.
        if (replacement.lengthBytes !== old.lengthBytes) throw new Error(`meta store: group ${oldGroupId} of ${old.lengthBytes} bytes replaced by one of ${replacement.lengthBytes}`);
        this.deleteGroupRow(oldGroupId);
        this.insertGroup(old.fileId, { ...replacement, sequence: old.sequence });
        return true;
      }) ?? false
    );
  }

  /**
   * Replaces all groups of a file (a restripe) in one transaction, only if the file still has
   * exactly the groups `oldGroupIds` (it was not replaced, deleted or moved meanwhile). Returns
   * the old extents for deferred freeing, or undefined when nothing changed.
   */
  replaceFileGroups(fileId: number, oldGroupIds: readonly number[], groups: readonly NewGroup[]): ExtentRow[] | undefined {
    return this.guardedTransaction(() => {
      const current = this.groupsOf(fileId);
      if (sortedKey(current.map((group) => group.groupId)) !== sortedKey(oldGroupIds)) throw new StaleMoveError();
      for (const group of current) this.deleteGroupRow(group.groupId);
      for (const group of groups) this.insertGroup(fileId, group);
      return current.flatMap((group) => group.extents);
    });
  }

  /**
   * Replaces consecutive groups of a file by fewer, wider groups (an in-place combine) in one
   * transaction, only if every old group still has exactly the extents it was read with, at the
   * same places (`old`: each group with its extents as read). The new groups keep the old
   * sequences' order (they take the first sequences of the run). Returns the old extents and
   * the new groups' ids, or undefined when nothing changed.
   */
  combineGroups(fileId: number, old: readonly GroupWithExtents[], groups: readonly NewGroup[]): { oldExtents: ExtentRow[]; newGroupIds: number[] } | undefined {
    return this.guardedTransaction(() => {
      for (const read of old) {
        const current = this.group(read.groupId);
        if (!current || current.fileId !== fileId || placesKey(current.extents) !== placesKey(read.extents)) throw new StaleMoveError();
      }
      for (const read of old) this.deleteGroupRow(read.groupId);
      const newGroupIds = groups.map((group) => this.insertGroup(fileId, group));
      return { oldExtents: old.flatMap((group) => group.extents), newGroupIds };
    });
  }

  /** Runs `work` in one immediate transaction; undefined (rolled back) if it finds its inputs stale. */
  private guardedTransaction<T>(work: () => T): T | undefined {
    try {
      return this.mutate(work);
    } catch (error) {
      if (error instanceof StaleMoveError) return undefined;
      throw error;
    }
  }

  private deleteGroupRow(groupId: number): void {
    this.statement('DELETE FROM groups WHERE group_id = ?').run(groupId);
    this.record({ op: 'groupDelete', groupId });
  }

  /** Inserts a group and its extents; returns the new group's id. */
  private insertGroup(fileId: number, group: NewGroup): number {
    const row = this.insertGroupRow({ groupId: null, fileId, ...group });
    const extents: ExtentRow[] = group.extents.map((extent) => ({
      extentId: 0,
      groupId: row.groupId,
      deviceId: extent.deviceId,
      startLb: extent.startLb,
      lengthLb: extent.lengthLb,
      role: extent.role,
      index: extent.index,
      checksum: Buffer.from(extent.checksum),
    }));
    // One statement for all of the group's extents: AUTOINCREMENT gives the rows of one
    // multi-row insert consecutive ids in VALUES order, the last being lastInsertRowid.
    const values: unknown[] = [];
    for (const extent of extents) values.push(extent.groupId, extent.deviceId, extent.startLb, extent.lengthLb, extent.role, extent.index, extent.checksum);
    const lastId = Number(this.extentsInsert(extents.length).run(...values).lastInsertRowid);
    extents.forEach((extent, i) => (extent.extentId = lastId - extents.length + 1 + i));
    this.record({ op: 'groupAdd', row, extents });
    return row.groupId;
  }

  /** INSERT of `count` extent rows with new ids, one statement. */
  private extentsInsert(count: number): Database.Statement {
    const rows = Array.from({ length: count }, () => '(?, ?, ?, ?, ?, ?, ?)').join(', ');
    return this.statement(`INSERT INTO extents (group_id, device_id, start_lb, length_lb, role, idx, checksum) VALUES ${rows}`);
  }

  /**
   * Inserts a group row (with its id when replaying) and returns it with the id it got. Its
   * byte offset in the file follows the group of the previous sequence number (groups of a file
   * are inserted in sequence order, or replaced in place by one of the same length).
   */
  private insertGroupRow(group: Omit<GroupRow, 'groupId'> & { groupId: number | null }): GroupRow {
    const groupId = Number(
      this.statement(
        `INSERT INTO groups (group_id, file_id, sequence, data_count, parity_count, extent_lb, length_bytes, file_offset)
         VALUES (@groupId, @fileId, @sequence, @dataCount, @parityCount, @extentLb, @lengthBytes,
                 COALESCE((SELECT file_offset + length_bytes FROM groups WHERE file_id = @fileId AND sequence < @sequence ORDER BY sequence DESC LIMIT 1), 0))`,
      )
        .run({
          groupId: group.groupId,
          fileId: group.fileId,
          sequence: group.sequence,
          dataCount: group.dataCount,
          parityCount: group.parityCount,
          extentLb: group.extentLb,
          lengthBytes: group.lengthBytes,
        }).lastInsertRowid,
    );
    const { fileId, sequence, dataCount, parityCount, extentLb, lengthBytes } = group;
    return { groupId, fileId, sequence, dataCount, parityCount, extentLb, lengthBytes };
  }

  private insertExtentRow(extent: Omit<ExtentRow, 'extentId'> & { extentId: number | null }): number {
    return Number(
      this.statement('INSERT INTO extents (extent_id, group_id, device_id, start_lb, length_lb, role, idx, checksum) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
        .run(extent.extentId, extent.groupId, extent.deviceId, extent.startLb, extent.lengthLb, extent.role, extent.index, extent.checksum).lastInsertRowid,
    );
  }

  private insertFileRow(row: Omit<FileRow, 'fileId'> & { fileId: number | null }): number {
    return Number(this.statement('INSERT INTO files (file_id, name, size_bytes, created_ms) VALUES (?, ?, ?, ?)').run(row.fileId, row.name, row.sizeBytes, row.createdMs).lastInsertRowid);
  }

  /** Every committed extent (for deriving the allocator and for fsck). */
  allExtents(): ExtentRow[] {
    return this.statement(
        `SELECT extent_id AS extentId, group_id AS groupId, device_id AS deviceId, start_lb AS startLb,
                length_lb AS lengthLb, role, idx AS "index", checksum FROM extents`,
      )
      .all() as ExtentRow[];
  }

  /** Where every committed extent is (for deriving the allocator at open): three columns, no checksums. */
  extentPlaces(): { deviceId: number; startLb: number; lengthLb: number }[] {
    return this.statement('SELECT device_id AS deviceId, start_lb AS startLb, length_lb AS lengthLb FROM extents').all() as { deviceId: number; startLb: number; lengthLb: number }[];
  }

  allGroups(): GroupRow[] {
    return this.statement(
        `SELECT group_id AS groupId, file_id AS fileId, sequence, data_count AS dataCount,
                parity_count AS parityCount, extent_lb AS extentLb, length_bytes AS lengthBytes FROM groups`,
      )
      .all() as GroupRow[];
  }

  /**
   * Atomically makes `name` the file described by groups, replacing any previous version.
   * Returns the extents of the replaced version, which the caller frees once no reader can
   * still see them.
   */
  commitFile(name: string, sizeBytes: number, groups: readonly NewGroup[], nowMs: number): ExtentRow[] {
    return this.mutate(() => {
      const replaced = this.removeFileRows(name);
      const fileId = this.insertFileRow({ fileId: null, name, sizeBytes, createdMs: nowMs });
      this.record({ op: 'fileAdd', row: { fileId, name, sizeBytes, createdMs: nowMs } });
      for (const group of groups) this.insertGroup(fileId, group);
      return replaced;
    });
  }

  /** Deletes a file; returns its extents for deferred freeing. NotFoundError if absent. */
  deleteFile(name: string): ExtentRow[] {
    return this.mutate(() => {
      if (!this.file(name)) throw new NotFoundError(`no file named ${JSON.stringify(name)}`);
      return this.removeFileRows(name);
    });
  }

  /** Renames a file; with replace, an existing file of the new name is replaced (its extents are returned for deferred freeing). */
  renameFile(from: string, to: string, options: { replace?: boolean } = {}): ExtentRow[] {
    return this.mutate(() => {
      const file = this.file(from);
      if (!file) throw new NotFoundError(`no file named ${JSON.stringify(from)}`);
      if (from === to) return [];
      if (this.file(to) && !options.replace) throw new InvalidArgumentError(`a file named ${JSON.stringify(to)} exists already`);
      const replaced = this.removeFileRows(to);
      this.statement('UPDATE files SET name = ? WHERE file_id = ?').run(to, file.fileId);
      this.record({ op: 'fileRename', fileId: file.fileId, name: to });
      return replaced;
    });
  }

  // --- the on-device journal's view: change sets and snapshots ---

  /** The digest of change set `seq` as this home committed or applied it, if it is among the newest kept. */
  changeDigest(seq: number): string | undefined {
    const row = this.statement('SELECT digest FROM change_digests WHERE seq = ?').get(seq) as { digest: string } | undefined;
    return row?.digest;
  }

  /** Inside the transaction that commits or applies change set `seq`: its digest, and the oldest one beyond the kept window dropped. */
  private keepDigest(seq: number, encodedChanges: string): void {
    this.statement('INSERT OR REPLACE INTO change_digests (seq, digest) VALUES (?, ?)').run(seq, changeSetDigest(encodedChanges));
    this.statement('DELETE FROM change_digests WHERE seq <= ?').run(seq - CHANGE_DIGESTS_KEPT);
  }

  /** Every journaled row, encoded, consistent at `seq` (better-sqlite3 runs this without interleaving). */
  snapshot(): EncodedSnapshot {
    const settings = (this.statement('SELECT key, value FROM settings').all() as { key: string; value: string }[])
      .filter((row) => row.key !== META_SEQ_KEY)
      .map((row) => [row.key, row.value] as [string, string]);
    const raw = (sql: string) => this.rawStatement(sql).all() as unknown[][];
    return encodeSnapshotText({
      seq: this.committedSeq,
      settings,
      devices: this.devices(),
      away: this.deviceAwayRows(),
      files: raw('SELECT file_id, name, size_bytes, created_ms FROM files'),
      groups: raw('SELECT group_id, file_id, sequence, data_count, parity_count, extent_lb, length_bytes FROM groups'),
      extents: raw("SELECT group_id, extent_id, device_id, start_lb, length_lb, role = 'parity', idx, hex(checksum) FROM extents"),
    });
  }

  private rawStatement(sql: string): Database.Statement {
    const key = `raw:${sql}`;
    let prepared = this.statements.get(key);
    if (!prepared) {
      prepared = this.db.prepare(sql).raw(true);
      this.statements.set(key, prepared);
    }
    return prepared;
  }

  /**
   * Replaces every journaled row by a snapshot's (an import, or a home too old to roll
   * forward). Devices keep the local path this home knew them at, where it knew them.
   */
  loadSnapshot(rows: SnapshotRows): void {
    const localPaths = new Map(this.devices().map((row) => [row.uuid, row.path]));
    this.db.transaction(() => {
      // The digests were of the history before the snapshot: none is known now.
      for (const table of ['extents', 'groups', 'files', 'device_away', 'devices', 'settings', 'change_digests']) this.db.prepare(`DELETE FROM ${table}`).run();
      this.dropSavedFreeSpace();
      const put = this.statement('INSERT INTO settings (key, value) VALUES (?, ?)');
      for (const [key, value] of rows.settings) put.run(key, value);
      put.run(META_SEQ_KEY, String(rows.seq));
      for (const row of rows.devices) this.insertDevice({ ...row, path: localPaths.get(row.uuid) ?? row.path });
      for (const row of rows.away) this.putAwayRow(row);
      for (const row of rows.files) this.insertFileRow(row);
      // In sequence order within each file: each group's byte offset follows its predecessor's.
      const groups = [...rows.groups].sort((a, b) => a.fileId - b.fileId || a.sequence - b.sequence);
      for (const row of groups) this.insertGroupRow(row);
      for (const extent of rows.extents) this.insertExtentRow(extent);
    }).immediate();
    this.committedSeq = rows.seq;
  }

  /**
   * Rolls the store forward by change sets from the devices: each must be the next in
   * sequence (those already applied are skipped). All in one transaction.
   */
  applyChangeSets(sets: readonly ChangeSet[]): void {
    let seq = this.committedSeq;
    this.db.transaction(() => {
      this.dropSavedFreeSpace();
      for (const set of sets) {
        if (set.seq <= seq) continue;
        if (set.seq !== seq + 1) throw new CorruptMetadataError(`metadata journal skips from change ${seq} to ${set.seq}`);
        for (const change of set.changes) this.applyChange(change);
        this.keepDigest(set.seq, set.encodedChanges ?? encodeChanges(set.changes));
        seq = set.seq;
      }
      this.statement('INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)').run(META_SEQ_KEY, String(seq));
    }).immediate();
    this.committedSeq = seq;
  }

  private applyChange(change: MetaChange): void {
    switch (change.op) {
      case 'setting':
        this.statement('INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)').run(change.key, change.value);
        return;
      case 'deviceAdd':
        this.insertDevice(change.row);
        return;
      case 'deviceState':
        this.statement('UPDATE devices SET state = ? WHERE device_id = ?').run(change.state, change.deviceId);
        return;
      case 'deviceAway':
        this.putAwayRow(change.row);
        return;
      case 'deviceBack':
        this.statement('DELETE FROM device_away WHERE device_id = ?').run(change.deviceId);
        return;
      case 'fileAdd':
        this.insertFileRow(change.row);
        return;
      case 'fileDelete':
        this.statement('DELETE FROM files WHERE file_id = ?').run(change.fileId);
        return;
      case 'fileRename':
        this.statement('UPDATE files SET name = ? WHERE file_id = ?').run(change.name, change.fileId);
        return;
      case 'groupAdd':
        this.insertGroupRow(change.row);
        for (const extent of change.extents) this.insertExtentRow(extent);
        return;
      case 'groupDelete':
        this.statement('DELETE FROM groups WHERE group_id = ?').run(change.groupId);
        return;
      case 'extentMove':
        this.statement('UPDATE extents SET device_id = ?, start_lb = ? WHERE extent_id = ?').run(change.deviceId, change.startLb, change.extentId);
        return;
    }
  }

  private removeFileRows(name: string): ExtentRow[] {
    const existing = this.file(name);
    if (!existing) return [];
    const extents = this.statement(
        `SELECT e.extent_id AS extentId, e.group_id AS groupId, e.device_id AS deviceId, e.start_lb AS startLb,
                e.length_lb AS lengthLb, e.role, e.idx AS "index", e.checksum
         FROM extents e JOIN groups g ON g.group_id = e.group_id WHERE g.file_id = ?`,
      )
      .all(existing.fileId) as ExtentRow[];
    this.statement('DELETE FROM files WHERE file_id = ?').run(existing.fileId);
    this.record({ op: 'fileDelete', fileId: existing.fileId });
    return extents;
  }
}

/** A relocation or restripe found its rows moved or gone; the transaction rolls back. */
class StaleMoveError extends Error {}

function sortedKey(ids: readonly number[]): string {
  return [...ids].sort((a, b) => a - b).join(',');
}

/** Extent ids with where they lie, in a canonical order (a combine's staleness guard). */
function placesKey(extents: readonly ExtentRow[]): string {
  return extents.map((extent) => `${extent.extentId}@${extent.deviceId}:${extent.startLb}`).sort().join(',');
}

function takeLock(db: Db, home: string): void {
  try {
    db.pragma('locking_mode = EXCLUSIVE');
    // The first read takes the shared lock and the first write (below, or the journal mode
    // switch) upgrades it; in EXCLUSIVE mode neither is ever released while we are open.
    db.prepare('BEGIN IMMEDIATE').run();
    db.prepare('COMMIT').run();
  } catch (error) {
    if ((error as { code?: string }).code === 'SQLITE_BUSY') throw new ArrayLockedError(home, describeHolder(home));
    throw new CorruptMetadataError(`cannot lock the metadata in ${home}: ${(error as Error).message}`, { cause: error });
  }
}

/**
 * A home the process cannot write (a read-only file system, no permission) would fail later
 * with SQLite's 'attempt to write a readonly database'; say what it is instead.
 */
function assertWritable(home: string, path: string): void {
  for (const target of [home, path]) {
    try {
      accessSync(target, fsConstants.W_OK);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? 'not writable';
      throw new ReadOnlyError(`the array home ${home} cannot be written (${target}: ${code}); open it read-only to read it (--read-only, or readOnly: true)`);
    }
  }
}

/**
 * The database's bytes as one image. A home closed cleanly has no WAL file: its database file
 * is the whole image, read as plain bytes — no lock, no SQLite side files in the home (a WAL
 * appearing meanwhile means an owner started: then the connection route below decides).
 * With a WAL (an owner running, or killed), a read-only connection reads it, closed again at
 * once (SQLite may leave its -shm index file). Where SQLite cannot open the file in place (a
 * read-only home, whose WAL index it cannot create), a private copy in the temp directory is
 * read instead: nobody can be writing a home on a read-only file system.
 */
function readDatabaseImage(home: string, path: string): Buffer {
  if (!existsSync(`${path}-wal`)) {
    const image = readFileSync(path);
    if (!existsSync(`${path}-wal`)) return image;
  }
  let source: Db | undefined;
  try {
    source = new Database(path, { readonly: true, fileMustExist: true, timeout: 0 });
    source.prepare('SELECT count(*) FROM sqlite_schema').get(); // takes the read lock now
    return source.serialize();
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'SQLITE_BUSY') {
      throw new ArrayLockedError(home, describeHolder(home), 'its owner keeps the database locked, so not even a read-only open can read it; run this while no other process has the array open');
    }
    if (code === 'SQLITE_CANTOPEN' && !isWritable(home)) return readCopiedImage(path);
    throw new CorruptMetadataError(`cannot read ${path}: ${firstLine((error as Error).message)}`, { cause: error });
  } finally {
    source?.close();
  }
}

function readCopiedImage(path: string): Buffer {
  const scratch = mkdtempSync(join(tmpdir(), 'elastripe-read-only-'));
  try {
    const copy = join(scratch, DATABASE_FILE);
    copyFileSync(path, copy);
    if (existsSync(`${path}-wal`)) copyFileSync(`${path}-wal`, `${copy}-wal`);
    const db = new Database(copy, { fileMustExist: true, timeout: 0 });
    try {
      return db.serialize();
    } finally {
      db.close();
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

function isWritable(path: string): boolean {
  try {
    accessSync(path, fsConstants.W_OK);
    return true;
  } catch {
    return false;
  }
}

function describeHolder(home: string): string {
  try {
    return `another process (${readFileSync(join(home, HOLDER_FILE), 'utf8').trim()})`;
  } catch {
    return 'another process';
  }
}

/**
 * Read-only checks before anything is written: the database passes quick_check and, unless it
 * is being created, already carries an elastripe schema of a version this code knows. Only
 * then is the journal switched to WAL (which writes).
 */
function checkIntegrity(db: Db, path: string, creating: boolean): void {
  let verdict: string;
  let version: number;
  try {
    verdict = quickCheck(db, OPEN_CHECKED_TABLES);
    version = Number(db.pragma('user_version', { simple: true }));
  } catch (error) {
    throw new CorruptMetadataError(`metadata ${path} is unreadable: ${firstLine((error as Error).message)}; ${DAMAGED_HOME_HINT}`, { cause: error });
  }
  if (verdict !== 'ok') {
    const lines = verdict.split('\n').filter((line) => line.trim() !== '' && !line.startsWith('***'));
    throw new CorruptMetadataError(`metadata ${path} failed its integrity check (${lines.length} problem(s), first: ${firstLine(lines[0] ?? verdict)}); ${DAMAGED_HOME_HINT}`);
  }
  if (!creating && version === 0) throw new CorruptMetadataError(`metadata ${path} holds no elastripe schema (an empty or foreign database)`);
  if (version > SCHEMA_VERSION) {
    throw new CorruptMetadataError(`metadata ${path} has schema version ${version}; this elastripe knows up to ${SCHEMA_VERSION}`);
  }
  try {
    db.pragma('journal_mode = WAL');
    // NORMAL: a commit is not fsync'd (WAL keeps the database consistent; a power loss may lose
    // the newest commits). The home is the devices' local index: commits are acknowledged only
    // once their records are durable on the devices, and a home behind them is rolled forward
    // at open, as an old home restored from a backup is. A home being created has no devices
    // holding its state yet (its settings must be on record before any superblock names it): FULL.
    db.pragma(creating ? 'synchronous = FULL' : 'synchronous = NORMAL');
    // Statement journals in memory: every put of a group commit runs in a savepoint of the
    // shared transaction, and SQLite keeps a savepoint's undo pages in a temporary file by
    // default — a file written (never fsync'd) on every commit, ~25-30 us of system time per put.
    db.pragma('temp_store = MEMORY');
    db.pragma('foreign_keys = ON');
  } catch (error) {
    throw new CorruptMetadataError(`metadata ${path} is unreadable: ${firstLine((error as Error).message)}`, { cause: error });
  }
}

/**
 * The tables open checks (quick_check of each, with its indexes): the small ones every command
 * reads first. The big ones (files, groups, extents) grow with the array; checking them at every
 * open cost most of a second at a million extents, so fsck checks the whole database instead
 * (integrityProblems), and SQLite still refuses a damaged page when a call reads it.
 */
const OPEN_CHECKED_TABLES = ['settings', 'devices'];

/** quick_check's verdict ('ok', or its problems) over the given tables, or the whole database. */
function quickCheck(db: Db, tables?: readonly string[]): string {
  if (!tables) return String(db.pragma('quick_check', { simple: true }));
  const known = new Set((db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table'").pluck().all() as string[]));
  const verdicts = tables.filter((table) => known.has(table)).map((table) => String(db.pragma(`quick_check(${table})`, { simple: true })));
  const problems = verdicts.filter((verdict) => verdict !== 'ok');
  return problems.length === 0 ? 'ok' : problems.join('\n');
}

/** SQLite would quietly initialise an empty file on its first write; refuse it unread instead. */
function assertSqliteHeader(path: string): void {
  const header = Buffer.alloc(16);
  const fd = openSync(path, 'r');
  try {
    readSync(fd, header, 0, 16, 0);
  } finally {
    closeSync(fd);
  }
  if (!header.equals(Buffer.from('SQLite format 3\0'))) {
    throw new CorruptMetadataError(`metadata ${path} is not an SQLite database (empty or overwritten); ${DAMAGED_HOME_HINT}`);
  }
}

/** What a damaged home's errors add: the home is an index, the devices are the array. */
const DAMAGED_HOME_HINT = 'the devices hold the array: move the home directory aside and import it from them';

function firstLine(text: string): string {
  return text.split('\n')[0]!.trim();
}

/**
 * Runs the migrations a database lacks, each in its own transaction with its version bump.
 * Foreign keys are off meanwhile (a migration may rebuild a table others reference, as
 * SQLite's ALTER TABLE guide does) and checked before each commit.
 */
function migrate(db: Db): void {
  const version = Number(db.pragma('user_version', { simple: true }));
  const pending = MIGRATIONS.filter((migration) => migration.version > version);
  if (pending.length === 0) return;
  const foreignKeys = Number(db.pragma('foreign_keys', { simple: true }));
  db.pragma('foreign_keys = OFF'); // a no-op inside a transaction: set it outside
  try {
    for (const migration of pending) {
      db.transaction(() => {
        db.exec(migration.sql);
        const broken = db.pragma('foreign_key_check') as unknown[];
        if (broken.length > 0) throw new CorruptMetadataError(`schema migration ${migration.version} left ${broken.length} broken references`);
        db.pragma(`user_version = ${migration.version}`);
      }).immediate();
    }
  } finally {
    db.pragma(`foreign_keys = ${foreignKeys ? 'ON' : 'OFF'}`);
  }
}

/** A home that is not there is NOT_FOUND (a mistyped --home, a home deleted); one that is a file, INVALID_ARGUMENT. */
function assertHomeDirectory(home: string): void {
  if (!existsSync(home)) throw new NotFoundError(`array home ${home} does not exist`);
  if (!statSync(home).isDirectory()) throw new InvalidArgumentError(`array home ${home} is not a directory`);
}
