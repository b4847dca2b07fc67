// The metadata store: one SQLite database (WAL, synchronous=FULL) in the array's home
// directory. It is also the array's lock: the connection runs in EXCLUSIVE locking mode, so
// the kernel's file lock keeps every other opener out (in this process or another) and is
// released even when the owner is killed.
import Database from 'better-sqlite3';
import { closeSync, existsSync, openSync, readFileSync, readSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ArrayLockedError, CorruptMetadataError, InvalidArgumentError, NotFoundError } from '../errors.js';
import { MIGRATIONS, SCHEMA_VERSION } from './schema.js';
import type { DeviceRow, ExtentMove, JobRow, ExtentRow, FileRow, GroupRow, GroupWithExtents, NewGroup } from './rows.js';

export const DATABASE_FILE = 'elastripe.db';
const HOLDER_FILE = 'holder';

type Db = Database.Database;

export class MetaStore {
  /** Prepared statements by SQL text: preparing costs more than running one (small puts). */
  private readonly statements = new Map<string, Database.Statement>();

  private constructor(
    readonly home: string,
    private readonly db: Db,
  ) {}

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
    if (!existsSync(home) || !statSync(home).isDirectory()) {
      throw new InvalidArgumentError(`array home ${home} is not a directory`);
    }
    const path = join(home, DATABASE_FILE);
    const exists = existsSync(path);
    if (options.create && exists) throw new InvalidArgumentError(`an array already exists in ${home}`);
    if (!options.create && !exists) throw new NotFoundError(`no array in ${home} (no ${DATABASE_FILE})`);
    if (!options.create) assertSqliteHeader(path);
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
    return new MetaStore(home, db);
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
    this.db.transaction(() => {
      for (const [key, value] of Object.entries(values)) put.run(key, String(value));
    })();
  }

  // --- devices ---

  addDevice(row: Omit<DeviceRow, 'deviceId'> & { deviceId?: number }): number {
    const result = this.statement(
        `INSERT INTO devices (device_id, uuid, path, capacity_lb, data_start_lb, data_end_lb, state, added_ms)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(row.deviceId ?? null, row.uuid, row.path, row.capacityLb, row.dataStartLb, row.dataEndLb, row.state, row.addedMs);
    return Number(result.lastInsertRowid);
  }

  devices(): DeviceRow[] {
    return this.statement(
        `SELECT device_id AS deviceId, uuid, path, capacity_lb AS capacityLb, data_start_lb AS dataStartLb,
                data_end_lb AS dataEndLb, state, added_ms AS addedMs FROM devices ORDER BY device_id`,
      )
      .all() as DeviceRow[];
  }

  setDeviceState(deviceId: number, state: DeviceRow['state']): void {
    this.statement('UPDATE devices SET state = ? WHERE device_id = ?').run(state, deviceId);
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

  finishJob(jobId: number, state: 'done' | 'aborted' | 'failed', nowMs: number): void {
    this.statement('UPDATE jobs SET state = ?, updated_ms = ? WHERE job_id = ?').run(state, nowMs, jobId);
  }

  /** Jobs still marked running at open were cut short by a crash: they become 'interrupted'. */
  markInterruptedJobs(nowMs: number): void {
    this.statement("UPDATE jobs SET state = 'interrupted', updated_ms = ? WHERE state = 'running'").run(nowMs);
  }

  /** The most recent jobs, newest first. */
  recentJobs(limit: number): JobRow[] {
    return this.statement(
      `SELECT job_id AS jobId, kind, state, cursor, created_ms AS createdMs, updated_ms AS updatedMs
       FROM jobs ORDER BY job_id DESC LIMIT ?`,
    ).all(limit) as JobRow[];
  }

  // --- files, groups, extents ---

  file(name: string): FileRow | undefined {
    return this.statement('SELECT file_id AS fileId, name, size_bytes AS sizeBytes, created_ms AS createdMs FROM files WHERE name = ?')
      .get(name) as FileRow | undefined;
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
        this.statement('DELETE FROM groups WHERE group_id = ?').run(oldGroupId);
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
      this.statement('DELETE FROM groups WHERE file_id = ?').run(fileId);
      for (const group of groups) this.insertGroup(fileId, group);
      return current.flatMap((group) => group.extents);
    });
  }

  /** Runs `work` in one immediate transaction; undefined (rolled back) if it finds its inputs stale. */
  private guardedTransaction<T>(work: () => T): T | undefined {
    try {
      return this.db.transaction(work).immediate();
    } catch (error) {
      if (error instanceof StaleMoveError) return undefined;
      throw error;
    }
  }

  private insertGroup(fileId: number, group: NewGroup): void {
    const groupId = Number(
      this.statement('INSERT INTO groups (file_id, sequence, data_count, parity_count, extent_lb, length_bytes) VALUES (?, ?, ?, ?, ?, ?)')
        .run(fileId, group.sequence, group.dataCount, group.parityCount, group.extentLb, group.lengthBytes).lastInsertRowid,
    );
    const insertExtent = this.statement(
      'INSERT INTO extents (group_id, device_id, start_lb, length_lb, role, idx, checksum) VALUES (?, ?, ?, ?, ?, ?, ?)',
    );
    for (const extent of group.extents) {
      insertExtent.run(groupId, extent.deviceId, extent.startLb, extent.lengthLb, extent.role, extent.index, Buffer.from(extent.checksum));
    }
  }

  /** Every committed extent (for deriving the allocator and for fsck). */
  allExtents(): ExtentRow[] {
    return this.statement(
        `SELECT extent_id AS extentId, group_id AS groupId, device_id AS deviceId, start_lb AS startLb,
                length_lb AS lengthLb, role, idx AS "index", checksum FROM extents`,
      )
      .all() as ExtentRow[];
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
    return this.db.transaction(() => {
      const replaced = this.removeFileRows(name);
      const fileId = Number(
        this.statement('INSERT INTO files (name, size_bytes, created_ms) VALUES (?, ?, ?)').run(name, sizeBytes, nowMs)
          .lastInsertRowid,
      );
      for (const group of groups) this.insertGroup(fileId, group);
      return replaced;
    }).immediate();
  }

  /** Deletes a file; returns its extents for deferred freeing. NotFoundError if absent. */
  deleteFile(name: string): ExtentRow[] {
    return this.db.transaction(() => {
      if (!this.file(name)) throw new NotFoundError(`no file named ${JSON.stringify(name)}`);
      return this.removeFileRows(name);
    }).immediate();
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
    return extents;
  }
}

/** A relocation or restripe found its rows moved or gone; the transaction rolls back. */
class StaleMoveError extends Error {}

function sortedKey(ids: readonly number[]): string {
  return [...ids].sort((a, b) => a - b).join(',');
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
    verdict = String(db.pragma('quick_check', { simple: true }));
    version = Number(db.pragma('user_version', { simple: true }));
  } catch (error) {
    throw new CorruptMetadataError(`metadata ${path} is unreadable: ${firstLine((error as Error).message)}`, { cause: error });
  }
  if (verdict !== 'ok') {
    const lines = verdict.split('\n').filter((line) => line.trim() !== '' && !line.startsWith('***'));
    throw new CorruptMetadataError(`metadata ${path} failed its integrity check (${lines.length} problem(s), first: ${firstLine(lines[0] ?? verdict)})`);
  }
  if (!creating && version === 0) throw new CorruptMetadataError(`metadata ${path} holds no elastripe schema (an empty or foreign database)`);
  if (version > SCHEMA_VERSION) {
    throw new CorruptMetadataError(`metadata ${path} has schema version ${version}; this elastripe knows up to ${SCHEMA_VERSION}`);
  }
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.pragma('foreign_keys = ON');
  } catch (error) {
    throw new CorruptMetadataError(`metadata ${path} is unreadable: ${firstLine((error as Error).message)}`, { cause: error });
  }
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
    throw new CorruptMetadataError(`metadata ${path} is not an SQLite database (empty or overwritten)`);
  }
}

function firstLine(text: string): string {
  return text.split('\n')[0]!.trim();
}

function migrate(db: Db): void {
  const version = Number(db.pragma('user_version', { simple: true }));
  for (const migration of MIGRATIONS) {
    if (migration.version <= version) continue;
    db.transaction(() => {
      db.exec(migration.sql);
      db.pragma(`user_version = ${migration.version}`);
    }).immediate();
  }
}
