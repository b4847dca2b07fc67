// Group commit under power loss (group_commit.ts, metadata_journal.ts): puts that become ready
// together share one SQLite transaction and one journal record, and the crash rule still holds
// for every one of them — a put acknowledged in a shared batch survives a power loss that comes
// right after, and a put whose batch did not complete leaves the old version or nothing (never a
// mix), whichever way the array comes back: its home as it was at that instant, or imported from
// the devices alone. The simulated disks (sim_device.ts) drop, tear or reorder every write not
// covered by a completed flush at the power loss.
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DiskArray } from '../../src/array/disk_array.js';
import { SimStorage } from './sim_device.js';
import { SimRng } from './sim_rng.js';

const MIB = 1024 * 1024;
const DEVICE_COUNT = 4;
const PUTS_AT_ONCE = 16;

const roots: string[] = [];
const arrays: DiskArray[] = [];

afterEach(async () => {
  for (const array of arrays.splice(0)) await array.close().catch(() => undefined);
  for (const root of roots.splice(0)) rmSync(root, { recursive: true, force: true });
});

interface World {
  storage: SimStorage;
  devices: string[];
  root: string;
  homes: number;
}

function newWorld(): World {
  const storage = new SimStorage();
  const devices = Array.from({ length: DEVICE_COUNT }, (_, i) => {
    const path = `sim://gc${i}`;
    storage.createDisk(path, 64 * MIB);
    return path;
  });
  const root = mkdtempSync(join('/dev/shm', 'elastripe-group-commit-'));
  roots.push(root);
  return { storage, devices, root, homes: 0 };
}

function newHome(world: World): string {
  const home = join(world.root, `home${world.homes++}`);
  mkdirSync(home);
  return home;
}

/** A copy of the home's files as they are now (what survives a power loss of the host). */
function copyHome(world: World, from: string): string {
  const home = newHome(world);
  for (const name of readdirSync(from)) copyFileSync(join(from, name), join(home, name));
  return home;
}

function runtime(world: World) {
  // One simulated process: its device handles die at the next power loss.
  return { workerCount: 0, arenaBytes: 64 * MIB, scan: false as const, jobBackoff: false, openDevice: world.storage.processOpener() };
}

async function createArray(world: World): Promise<{ array: DiskArray; home: string }> {
  const home = newHome(world);
  const array = await DiskArray.create({ ...runtime(world), home, devices: world.devices, parityCount: 1 });
  arrays.push(array);
  return { array, home };
}

/** Seeded contents of 1 byte to 64 KiB (sizes as the small-puts benchmark's). */
function contents(rng: SimRng, count: number, tag: number): Uint8Array[] {
  return Array.from({ length: count }, (_, i) => {
    const bytes = new Uint8Array(rng.between(1, 64 * 1024));
    for (let j = 0; j < bytes.length; j++) bytes[j] = (j * 31 + i * 7 + tag) & 0xff;
    return bytes;
  });
}

type Recovery = 'home' | 'import';
const RECOVERIES: readonly Recovery[] = ['home', 'import'];

/**
 * Brings the array back after a power loss, from its home as it was at that instant or from the
 * devices alone (a fresh home), and checks it whole: a deep fsck (every block against its
 * checksum) and the invariants.
 */
async function recover(world: World, crashHome: string, how: Recovery): Promise<DiskArray> {
  const array = how === 'home'
    ? await DiskArray.open(crashHome, runtime(world))
    : await DiskArray.import({ ...runtime(world), home: newHome(world), scan: world.devices });
  arrays.push(array);
  const report = await array.fsck({ deep: true });
  expect(report.problems, `fsck after a power loss (${how})`).toEqual([]);
  array.assertInvariants();
  return array;
}

describe('group commit', () => {
  it.each(RECOVERIES)('puts acknowledged in one batch share a transaction and a record, and all survive a power loss right after (%s)', async (how) => {
    const world = newWorld();
    const { array, home } = await createArray(world);
    const files = contents(new SimRng(11), PUTS_AT_ONCE, 1);
    const before = array.status().metadata;
    await Promise.all(files.map((bytes, i) => array.put(`f${i}`, bytes)));
    const after = array.status().metadata;
    // Shared: fewer transactions and records than puts (each put alone would take one of each).
    expect(after.putCommits - before.putCommits).toBe(PUTS_AT_ONCE);
    expect(after.putTransactions - before.putTransactions).toBeLessThan(PUTS_AT_ONCE);
    expect(after.records - before.records).toBeLessThan(PUTS_AT_ONCE);
    array.assertInvariants();

    // Power loss at once: nothing more is flushed; every acknowledged put must still be there.
    const crashHome = copyHome(world, home);
    world.storage.powerLoss(new SimRng(12));
    arrays.splice(arrays.indexOf(array), 1);
    await array.close().catch(() => undefined);
    const back = await recover(world, crashHome, how);
    for (const [i, bytes] of files.entries()) {
      expect(Buffer.from(await back.get(`f${i}`)).equals(Buffer.from(bytes)), `${how}: f${i}`).toBe(true);
    }
  });

  it('a put whose batch did not complete leaves the old version or nothing, never a mix', async () => {
    // Power losses at several instants inside a run of overwrites and new files, each in a
    // world of its own: early (data still being written), middle (records in flight), late.
    // How many request completions the run takes without a power loss (the seeded latencies
    // make it the same every time), so the power losses can be spread over all of it.
    const runEvents = await (async () => {
      const world = newWorld();
      const { array } = await createArray(world);
      const rng = new SimRng(5);
      await Promise.all(contents(rng, PUTS_AT_ONCE, 2).map((bytes, i) => array.put(`f${i}`, bytes)));
      const start = world.storage.ioEvents;
      const fresh = contents(rng, PUTS_AT_ONCE, 3).map((bytes, i) => array.put(`f${i}`, bytes));
      const added = contents(rng, PUTS_AT_ONCE / 2, 4);
      await Promise.race(fresh);
      await Promise.all([...fresh, ...added.map((bytes, i) => array.put(`n${i}`, bytes))]);
      return world.storage.ioEvents - start;
    })();
    expect(runEvents).toBeGreaterThan(40);
    const fractions = [0.02, 0.15, 0.3, 0.45, 0.6, 0.75, 0.88, 0.97];
    // Over the power losses: some cut a batch before any put was acknowledged, some after.
    let crashesWithAcknowledged = 0;
    let crashesWithUnacknowledged = 0;
    for (const [index, fraction] of fractions.entries()) {
      const crashAfterEvents = Math.max(1, Math.round(fraction * runEvents));
      const how = RECOVERIES[index % RECOVERIES.length]!;
      const world = newWorld();
      const { array, home } = await createArray(world);
      const rng = new SimRng(5);
      const old = contents(rng, PUTS_AT_ONCE, 2);
      await Promise.all(old.map((bytes, i) => array.put(`f${i}`, bytes)));
      const fresh = contents(rng, PUTS_AT_ONCE, 3);
      const added = contents(rng, PUTS_AT_ONCE / 2, 4);

      let crashHome: string | undefined;
      world.storage.armCrash(crashAfterEvents, () => {
        crashHome = copyHome(world, home);
        world.storage.powerLoss(new SimRng(crashAfterEvents));
      });
      const acknowledged = new Set<string>();
      const put = (name: string, bytes: Uint8Array) =>
        array.put(name, bytes).then(
          () => void (crashHome === undefined && acknowledged.add(name)),
          () => undefined, // cut by the power loss
        );
      // The new files start once the first overwrite is done (acknowledged or cut): a second
      // wave, so the run has batches acknowledged while others are still in flight (with small
      // puts written durably, one wave of puts ready together would share its last records).
      const overwrites = fresh.map((bytes, i) => put(`f${i}`, bytes));
      await Promise.race(overwrites);
      await Promise.all([...overwrites, ...added.map((bytes, i) => put(`n${i}`, bytes))]);
      expect(crashHome, `a power loss after ${crashAfterEvents} I/O events`).toBeDefined();
      if (acknowledged.size > 0) crashesWithAcknowledged++;
      if (acknowledged.size < PUTS_AT_ONCE * 1.5) crashesWithUnacknowledged++;
      arrays.splice(arrays.indexOf(array), 1);
      await array.close().catch(() => undefined);

      {
        const back = await recover(world, crashHome!, how);
        const where = `crash after ${crashAfterEvents} events, ${how}`;
        for (const [i, bytes] of fresh.entries()) {
          const got = Buffer.from(await back.get(`f${i}`));
          if (acknowledged.has(`f${i}`)) expect(got.equals(Buffer.from(bytes)), `${where}: acknowledged f${i}`).toBe(true);
          else expect(got.equals(Buffer.from(bytes)) || got.equals(Buffer.from(old[i]!)), `${where}: f${i} is the old or the new version`).toBe(true);
        }
        const names = new Set(back.list().map((file) => file.name));
        for (const [i, bytes] of added.entries()) {
          if (acknowledged.has(`n${i}`)) expect(names.has(`n${i}`), `${where}: acknowledged n${i}`).toBe(true);
          if (names.has(`n${i}`)) expect(Buffer.from(await back.get(`n${i}`)).equals(Buffer.from(bytes)), `${where}: n${i} whole`).toBe(true);
        }
      }
      for (const open of arrays.splice(0)) await open.close();
    }
    expect(crashesWithAcknowledged).toBeGreaterThan(0);
    expect(crashesWithUnacknowledged).toBeGreaterThan(0);
  });
});
