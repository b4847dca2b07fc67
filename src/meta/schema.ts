// The metadata schema and its versioned migrations. PRAGMA user_version holds the version;
// each migration runs in the same transaction as the version bump.

export interface Migration {
  version: number;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    sql: `
      CREATE TABLE settings (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
      );
      CREATE TABLE devices (
        device_id INTEGER PRIMARY KEY,
        uuid TEXT NOT NULL UNIQUE,
        path TEXT NOT NULL,
        capacity_lb INTEGER NOT NULL CHECK (capacity_lb > 0),
        data_start_lb INTEGER NOT NULL,
        data_end_lb INTEGER NOT NULL CHECK (data_end_lb > data_start_lb),
        state TEXT NOT NULL CHECK (state IN ('online', 'failed', 'removed')),
        added_ms INTEGER NOT NULL
      );
      CREATE TABLE files (
        file_id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        size_bytes INTEGER NOT NULL CHECK (size_bytes >= 0),
        created_ms INTEGER NOT NULL
      );
      CREATE TABLE groups (
        group_id INTEGER PRIMARY KEY,
        file_id INTEGER NOT NULL REFERENCES files (file_id) ON DELETE CASCADE,
        sequence INTEGER NOT NULL,
        data_count INTEGER NOT NULL CHECK (data_count BETWEEN 1 AND 255),
        parity_count INTEGER NOT NULL CHECK (parity_count BETWEEN 1 AND 3),
        extent_lb INTEGER NOT NULL CHECK (extent_lb > 0),
        length_bytes INTEGER NOT NULL CHECK (length_bytes > 0),
        UNIQUE (file_id, sequence)
      );
      CREATE TABLE extents (
        extent_id INTEGER PRIMARY KEY,
        group_id INTEGER NOT NULL REFERENCES groups (group_id) ON DELETE CASCADE,
        device_id INTEGER NOT NULL REFERENCES devices (device_id),
        start_lb INTEGER NOT NULL,
        length_lb INTEGER NOT NULL CHECK (length_lb > 0),
        role TEXT NOT NULL CHECK (role IN ('data', 'parity')),
        idx INTEGER NOT NULL,
        checksum BLOB NOT NULL,
        UNIQUE (group_id, role, idx)
      );
      CREATE INDEX extents_by_device ON extents (device_id, start_lb);
      CREATE TABLE jobs (
        job_id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,
        state TEXT NOT NULL,
        cursor TEXT,
        created_ms INTEGER NOT NULL,
        updated_ms INTEGER NOT NULL
      );
    `,
  },
  {
    // A device being removed is 'draining' (readable, no new blocks) until the remove finishes
    // or is cancelled, also across a restart: the CHECK constraint of devices.state allows it.
    // SQLite cannot alter a CHECK constraint, so the table is rebuilt (migrate() runs this with
    // foreign keys off, then checks them). `counters` holds local statistics (degraded reads,
    // repairs, read errors per device): like jobs, they are not journaled on the devices.
    version: 2,
    sql: `
      CREATE TABLE devices_v2 (
        device_id INTEGER PRIMARY KEY,
        uuid TEXT NOT NULL UNIQUE,
        path TEXT NOT NULL,
        capacity_lb INTEGER NOT NULL CHECK (capacity_lb > 0),
        data_start_lb INTEGER NOT NULL,
        data_end_lb INTEGER NOT NULL CHECK (data_end_lb > data_start_lb),
        state TEXT NOT NULL CHECK (state IN ('online', 'draining', 'failed', 'removed')),
        added_ms INTEGER NOT NULL
      );
      INSERT INTO devices_v2 (device_id, uuid, path, capacity_lb, data_start_lb, data_end_lb, state, added_ms)
        SELECT device_id, uuid, path, capacity_lb, data_start_lb, data_end_lb, state, added_ms FROM devices;
      DROP TABLE devices;
      ALTER TABLE devices_v2 RENAME TO devices;
      CREATE TABLE counters (
        key TEXT PRIMARY KEY,
        value INTEGER NOT NULL
      );
    `,
  },
  {
    // Row ids of files, groups and extents are never reused (AUTOINCREMENT): moves and restripes
    // detect that a file or group changed under them by its ids, and an id reused by a new
    // version (SQLite hands out the highest free id again without AUTOINCREMENT) made a
    // restripe that had read the old version commit it over an acknowledged put. A scrub's
    // resume cursor relies on ids that only grow too. Tables rebuilt as in version 2.
    version: 3,
    sql: `
      CREATE TABLE files_v3 (
        file_id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL UNIQUE,
        size_bytes INTEGER NOT NULL CHECK (size_bytes >= 0),
        created_ms INTEGER NOT NULL
      );
      INSERT INTO files_v3 (file_id, name, size_bytes, created_ms) SELECT file_id, name, size_bytes, created_ms FROM files;
      CREATE TABLE groups_v3 (
        group_id INTEGER PRIMARY KEY AUTOINCREMENT,
        file_id INTEGER NOT NULL REFERENCES files (file_id) ON DELETE CASCADE,
        sequence INTEGER NOT NULL,
        data_count INTEGER NOT NULL CHECK (data_count BETWEEN 1 AND 255),
        parity_count INTEGER NOT NULL CHECK (parity_count BETWEEN 1 AND 3),
        extent_lb INTEGER NOT NULL CHECK (extent_lb > 0),
        length_bytes INTEGER NOT NULL CHECK (length_bytes > 0),
        UNIQUE (file_id, sequence)
      );
      INSERT INTO groups_v3 (group_id, file_id, sequence, data_count, parity_count, extent_lb, length_bytes)
        SELECT group_id, file_id, sequence, data_count, parity_count, extent_lb, length_bytes FROM groups;
      CREATE TABLE extents_v3 (
        extent_id INTEGER PRIMARY KEY AUTOINCREMENT,
        group_id INTEGER NOT NULL REFERENCES groups (group_id) ON DELETE CASCADE,
        device_id INTEGER NOT NULL REFERENCES devices (device_id),
        start_lb INTEGER NOT NULL,
        length_lb INTEGER NOT NULL CHECK (length_lb > 0),
        role TEXT NOT NULL CHECK (role IN ('data', 'parity')),
        idx INTEGER NOT NULL,
        checksum BLOB NOT NULL,
        UNIQUE (group_id, role, idx)
      );
      INSERT INTO extents_v3 (extent_id, group_id, device_id, start_lb, length_lb, role, idx, checksum)
        SELECT extent_id, group_id, device_id, start_lb, length_lb, role, idx, checksum FROM extents;
      DROP TABLE extents;
      DROP TABLE groups;
      DROP TABLE files;
      ALTER TABLE files_v3 RENAME TO files;
      ALTER TABLE groups_v3 RENAME TO groups;
      ALTER TABLE extents_v3 RENAME TO extents;
      CREATE INDEX extents_by_device ON extents (device_id, start_lb);
    `,
  },
  {
    // Each group's byte offset within its file, indexed, so a ranged read finds the groups it
    // overlaps in O(log groups) instead of loading every group of the file (issue 10). The
    // offset is derived (the lengths of the file's groups before it, in sequence order): it is
    // set as a group is inserted and is not journaled on the devices.
    // free_space: the allocator's free ranges per device (float64 [start, length] pairs) as a
    // clean close left them, valid while the store is at `seq` (free_space_map.ts): open loads
    // them instead of deriving free space from every extent. Local, like counters.
    version: 4,
    sql: `
      ALTER TABLE groups ADD COLUMN file_offset INTEGER NOT NULL DEFAULT 0 CHECK (file_offset >= 0);
      UPDATE groups SET file_offset = placed.file_offset
        FROM (SELECT group_id, SUM(length_bytes) OVER (PARTITION BY file_id ORDER BY sequence) - length_bytes AS file_offset FROM groups) AS placed
        WHERE groups.group_id = placed.group_id;
      CREATE INDEX groups_by_offset ON groups (file_id, file_offset);
      CREATE TABLE free_space (
        device_id INTEGER PRIMARY KEY,
        seq INTEGER NOT NULL,
        ranges BLOB NOT NULL
      );
    `,
  },
  {
    // A hot spare ('spare': online, takes no new groups, a rebuild may write to it and so
    // promotes it to 'online') is a state of its own, journaled like the others, so it holds
    // across a restart and an import. Table rebuilt as in version 2.
    version: 5,
    sql: `
      CREATE TABLE devices_v5 (
        device_id INTEGER PRIMARY KEY,
        uuid TEXT NOT NULL UNIQUE,
        path TEXT NOT NULL,
        capacity_lb INTEGER NOT NULL CHECK (capacity_lb > 0),
        data_start_lb INTEGER NOT NULL,
        data_end_lb INTEGER NOT NULL CHECK (data_end_lb > data_start_lb),
        state TEXT NOT NULL CHECK (state IN ('online', 'draining', 'spare', 'failed', 'removed')),
        added_ms INTEGER NOT NULL
      );
      INSERT INTO devices_v5 (device_id, uuid, path, capacity_lb, data_start_lb, data_end_lb, state, added_ms)
        SELECT device_id, uuid, path, capacity_lb, data_start_lb, data_end_lb, state, added_ms FROM devices;
      DROP TABLE devices;
      ALTER TABLE devices_v5 RENAME TO devices;
    `,
  },
  {
    // A device that is away (missing), or came back and is not resynced yet: the newest group
    // id committed before it left (the resync watermark: only groups above it can hold a block
    // of it that never became durable) and the change-set seq then. Journaled like device
    // states, so a process that stops while a device is away (or before its resync finished)
    // still resyncs exactly those groups when it returns, also after an import.
    version: 6,
    sql: `
      CREATE TABLE device_away (
        device_id INTEGER PRIMARY KEY REFERENCES devices (device_id),
        since_ms INTEGER NOT NULL,
        watermark_group_id INTEGER NOT NULL CHECK (watermark_group_id >= 0),
        since_seq INTEGER NOT NULL CHECK (since_seq >= 0)
      );
    `,
  },
  {
    // A digest of each of the newest change sets this home committed or rolled forward by.
    // Local to the home, never journaled: open compares the one at the newest change set both
    // the home and a device hold, so a home whose history forked from the devices' (an older
    // home used again after an import made another one that wrote on) is refused instead of
    // being taken for theirs (metadata_open.ts, assertSameHistory).
    version: 7,
    sql: `
      CREATE TABLE change_digests (
        seq INTEGER PRIMARY KEY,
        digest TEXT NOT NULL
      );
    `,
  },
];

export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;
