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
});
