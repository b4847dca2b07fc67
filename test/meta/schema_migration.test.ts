// Schema migrations: a home made by an older elastripe opens with the newest schema, its rows
// kept and its foreign keys intact. Version 2 lets a device be 'draining' (issue 12 item 12)
// and adds the local counters table (item 15).
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DATABASE_FILE, MetaStore } from '../../src/meta/meta_store.js';
import { MIGRATIONS, SCHEMA_VERSION } from '../../src/meta/schema.js';
import { decodeSnapshot } from '../../src/meta/meta_changes.js';

let home = '';
afterEach(() => {
  if (home) rmSync(home, { recursive: true, force: true });
  home = '';
});

/** A home as elastripe with schema version 1 left it: one device, one file of one group. */
function versionOneHome(): string {
  home = mkdtempSync(join(tmpdir(), 'elastripe-schema-'));
  const db = new Database(join(home, DATABASE_FILE));
  db.pragma('journal_mode = WAL');
  db.exec(MIGRATIONS.find((migration) => migration.version === 1)!.sql);
  db.pragma('user_version = 1');
  db.prepare("INSERT INTO settings (key, value) VALUES ('arrayUuid', 'a')").run();
  db.prepare("INSERT INTO devices VALUES (1, 'u1', '/d1', 1000, 10, 990, 'online', 1), (2, 'u2', '/d2', 1000, 10, 990, 'failed', 1)").run();
  db.prepare("INSERT INTO files VALUES (1, 'f', 5, 1)").run();
  db.prepare('INSERT INTO groups VALUES (1, 1, 0, 1, 1, 1, 5)').run();
  db.prepare("INSERT INTO extents VALUES (1, 1, 1, 10, 1, 'data', 0, x'00'), (2, 1, 2, 10, 1, 'parity', 0, x'00')").run();
  db.close();
  return home;
}

describe('schema migrations', () => {
  it('migrates a version 1 home to the newest version, keeping rows and references', () => {
    const store = MetaStore.open(versionOneHome(), { create: false });
    try {
      expect(SCHEMA_VERSION).toBeGreaterThanOrEqual(2);
      expect(store.devices().map((row) => [row.deviceId, row.state])).toEqual([[1, 'online'], [2, 'failed']]);
      expect(store.allExtents().map((extent) => extent.deviceId)).toEqual([1, 2]);
      store.setDeviceState(1, 'draining');
      expect(store.devices()[0]!.state).toBe('draining');
      store.addCounters(new Map([['degradedReads', 2]]));
      store.addCounters(new Map([['degradedReads', 3], ['readErrors.1', 1]]));
      expect(store.counters()).toEqual(new Map([['degradedReads', 5], ['readErrors.1', 1]]));
      // Counters are local: no change set was journaled for them.
      const settings = (JSON.parse(store.snapshot().text) as { settings: [string, string][] }).settings;
      expect(settings.some(([key]) => key.includes('degraded'))).toBe(false);
    } finally {
      store.close();
    }
    const db = new Database(join(home, DATABASE_FILE));
    try {
      db.pragma('foreign_keys = ON');
      expect(db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
      // extents still reference the rebuilt devices table.
      expect(() => db.prepare("INSERT INTO extents VALUES (3, 1, 9, 20, 1, 'data', 1, x'00')").run()).toThrow(/FOREIGN KEY/);
      expect(() => db.prepare("UPDATE devices SET state = 'bogus' WHERE device_id = 1").run()).toThrow(/CHECK/);
      // Version 3: file, group and extent ids are never handed out again once used.
      db.prepare('DELETE FROM files').run();
      const fileId = Number(db.prepare("INSERT INTO files (name, size_bytes, created_ms) VALUES ('again', 0, 1)").run().lastInsertRowid);
      expect(fileId).toBeGreaterThan(1);
    } finally {
      db.close();
    }
  });

  it('migrates a version 3 home: every group gets its byte offset in its file, ranged lookups find it', () => {
    home = mkdtempSync(join(tmpdir(), 'elastripe-schema-'));
    const db = new Database(join(home, DATABASE_FILE));
    db.pragma('journal_mode = WAL');
    for (const migration of MIGRATIONS.filter((m) => m.version <= 3)) db.exec(migration.sql);
    db.pragma('user_version = 3');
    db.prepare("INSERT INTO settings (key, value) VALUES ('arrayUuid', 'a')").run();
    db.prepare("INSERT INTO devices VALUES (1, 'u1', '/d1', 1000, 10, 990, 'online', 1), (2, 'u2', '/d2', 1000, 10, 990, 'online', 1)").run();
    db.prepare("INSERT INTO files VALUES (1, 'f', 600, 1), (2, 'g', 7, 1)").run();
    // Ids not in sequence order (a restripe of one group gives it a newer id).
    db.prepare('INSERT INTO groups VALUES (5, 1, 0, 1, 1, 1, 100), (3, 1, 1, 1, 1, 1, 200), (4, 1, 2, 1, 1, 1, 300), (6, 2, 0, 1, 1, 1, 7)').run();
    let extentId = 1;
    for (const groupId of [3, 4, 5, 6]) {
      db.prepare("INSERT INTO extents VALUES (?, ?, 1, ?, 1, 'data', 0, x'00'), (?, ?, 2, ?, 1, 'parity', 0, x'00')").run(extentId, groupId, 10 + groupId, extentId + 1, groupId, 10 + groupId);
      extentId += 2;
    }
    db.close();
    const store = MetaStore.open(home, { create: false });
    try {
      expect(store.misplacedGroups()).toEqual([]);
      const offsets = (offset: number, length: number) => store.groupsInRange(1, offset, length).map((group) => [group.sequence, group.fileOffset, group.extents.length]);
      expect(offsets(0, 600)).toEqual([[0, 0, 2], [1, 100, 2], [2, 300, 2]]);
      expect(offsets(99, 2)).toEqual([[0, 0, 2], [1, 100, 2]]);
      expect(offsets(100, 200)).toEqual([[1, 100, 2]]);
      expect(offsets(300, 1)).toEqual([[2, 300, 2]]);
      expect(offsets(599, 1)).toEqual([[2, 300, 2]]);
      expect(offsets(250, 0)).toEqual([]);
      expect(store.groupsInRange(2, 0, 7).map((group) => group.groupId)).toEqual([6]);
      // A snapshot lists groups by id; loading it recomputes the same offsets.
      const snapshot = store.snapshot();
      const rows = decodeSnapshot(snapshot.text);
      rows.groups.reverse();
      store.loadSnapshot(rows);
      expect(store.misplacedGroups()).toEqual([]);
      expect(offsets(0, 600)).toEqual([[0, 0, 2], [1, 100, 2], [2, 300, 2]]);
    } finally {
      store.close();
    }
  });

  it('migrates a version 5 home: away records (version 6) are kept, journaled, and carried by snapshots', () => {
    home = mkdtempSync(join(tmpdir(), 'elastripe-schema-'));
    const db = new Database(join(home, DATABASE_FILE));
    db.pragma('journal_mode = WAL');
    for (const migration of MIGRATIONS.filter((m) => m.version <= 5)) db.exec(migration.sql);
    db.pragma('user_version = 5');
    db.prepare("INSERT INTO settings (key, value) VALUES ('arrayUuid', 'a')").run();
    db.prepare("INSERT INTO devices VALUES (1, 'u1', '/d1', 1000, 10, 990, 'online', 1), (2, 'u2', '/d2', 1000, 10, 990, 'spare', 1)").run();
    db.close();
    const store = MetaStore.open(home, { create: false });
    try {
      expect(store.deviceAwayRows()).toEqual([]);
      const journaled: unknown[] = [];
      store.onCommit = (set) => journaled.push(...set.changes);
      const away = { deviceId: 2, sinceMs: 5, watermarkGroupId: 41, sinceSeq: 7 };
      store.setDeviceAway(away);
      expect(store.deviceAwayRows()).toEqual([away]);
      expect(() => store.setDeviceAway({ ...away, deviceId: 9 })).toThrow(/FOREIGN KEY/);
      const rows = decodeSnapshot(store.snapshot().text);
      expect(rows.away).toEqual([away]);
      store.clearDeviceAway(2);
      store.clearDeviceAway(2); // nothing to clear: nothing journaled
      expect(journaled).toEqual([{ op: 'deviceAway', row: away }, { op: 'deviceBack', deviceId: 2 }]);
      // A snapshot restores it; change sets replayed onto it end it again.
      store.loadSnapshot(rows);
      expect(store.deviceAwayRows()).toEqual([away]);
      store.applyChangeSets([{ seq: store.seq + 1, changes: [{ op: 'deviceBack', deviceId: 2 }] }]);
      expect(store.deviceAwayRows()).toEqual([]);
      // A snapshot written before version 6 has no away records.
      const old = JSON.parse(store.snapshot().text) as Record<string, unknown>;
      delete old.away;
      expect(decodeSnapshot(JSON.stringify(old)).away).toEqual([]);
    } finally {
      store.close();
    }
  });
});
