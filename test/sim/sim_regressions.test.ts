// Failures the simulator found, each kept as the shrunk list of steps that replays it (seed =
// the geometry configFor gives), or as a small direct test of the bug it found. A bug reported
// and not fixed yet is kept as `it.fails` until its fix lands.
import { describe, expect, it, vi } from 'vitest';
// Determinism for the simulator: seeded UUIDs (sim_determinism.ts).
vi.mock('node:crypto', async (importOriginal) => (await import('./sim_determinism.js')).cryptoMock(await importOriginal<object>()));
import { copyFileSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { DiskArray } from '../../src/array/disk_array.js';
import { TempDir } from '../helpers/temp_array.js';
import { SimStorage } from './sim_device.js';
import type { SimStep } from './sim_ops.js';
import { contentBytes } from './sim_rng.js';
import { configFor, runSteps, type SimConfig } from './simulator.js';

const MIB = 1024 * 1024;

/** Waits until every committed change is durable on the devices and the frees waiting for that have run. */
async function quiet(array: DiskArray): Promise<void> {
  while (array.status().metadata.seq !== array.status().metadata.durableSeq) await new Promise<void>((resolve) => setImmediate(resolve));
  for (let i = 0; i < 3; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

async function replay(config: SimConfig, steps: SimStep[]): Promise<void> {
  const report = await runSteps(config, steps);
  expect(report.failure, report.failure && `${report.failure.kind}: ${report.failure.message}`).toBeUndefined();
}

describe('simulator regressions', () => {
  // relocate.ts: a rebalance and a rebuild moved blocks of one group at once and both picked
  // the same target: "group 1 (file 1 #0): two blocks share a device". Fixed: the move checks,
  // in the tick of its commit, that no other block of the group is on its target. The exact
  // interleaving of this replay belongs to the code of its day; job_races.test.ts drives the
  // race itself, whatever the code around it does.
  it('a rebalance beside a rebuild keeps every group on distinct devices (seed 3001)', async () => {
    await replay(configFor(3001), [
      { seed: 2305780804, faults: [], ops: [{ kind: 'rebuild' }, { kind: 'put', name: 'f07', sizeBytes: 241072, contentSeed: 1570411922, stream: false }], ioFaults: false },
      { seed: 1496711542, faults: [], ops: [{ kind: 'get', name: 'f14', offsetFraction: 0.737117268377915, lengthFraction: 0.8780844463035464 }, { kind: 'put', name: 'f04', sizeBytes: 1135207, contentSeed: 2976744070, stream: false }], ioFaults: true },
      { seed: 3864537738, faults: [], ops: [{ kind: 'get', name: 'f14', offsetFraction: 0, lengthFraction: 0.5529948710463941 }, { kind: 'put', name: 'f10', sizeBytes: 294461, contentSeed: 216149820, stream: false }, { kind: 'put', name: 'f11', sizeBytes: 996012, contentSeed: 1795671703, stream: false }], ioFaults: false },
      { seed: 3599722458, faults: [], ops: [{ kind: 'addDevice', sizeMib: 48, reuseSpare: false }], ioFaults: false },
      { seed: 1425044615, faults: [], ops: [{ kind: 'put', name: 'f05', sizeBytes: 3503, contentSeed: 305692287, stream: false }, { kind: 'get', name: 'f03', offsetFraction: 0.30443655303679407, lengthFraction: 1 }], ioFaults: false },
      { seed: 3980260064, faults: [], ops: [{ kind: 'rebalance' }, { kind: 'rebuild' }], ioFaults: false },
    ]);
  });

  // disk_array.ts removeEmptied: the second of two concurrent rebuilds drops the device the first
  // already dropped: untyped "Error: array devices: unknown device 5" (ArrayDevices.drop).
  it('two rebuilds at once both finish (seed 3002)', async () => {
    await replay(configFor(3002), [
      { seed: 3166294227, faults: [], ops: [{ kind: 'addDevice', sizeMib: 32, reuseSpare: false }], ioFaults: false },
      { seed: 3401837428, faults: [], ops: [{ kind: 'put', name: 'f15', sizeBytes: 655545, contentSeed: 1973024428, stream: false }], ioFaults: false },
      { seed: 3590949230, faults: [], ops: [{ kind: 'failDevice', pick: 0.6493213374633342 }], ioFaults: false },
      { seed: 2672663518, faults: [], ops: [{ kind: 'rebuild' }, { kind: 'rebuild' }], ioFaults: false },
    ]);
  });

  // import_array.ts: a latent sector error in one device's metadata region (a journal write
  // landed on a bad sector) fails the whole import ("read on sim://dev5 ... EIO") where open
  // would call that device missing and go on with the others.
  it('import after a power loss survives one device with an unreadable metadata sector (seed 3002)', async () => {
    await replay({ ...configFor(3002), recovery: 'import' }, [
      { seed: 1270188288, faults: [], ops: [{ kind: 'put', name: 'f11', sizeBytes: 89053, contentSeed: 1780781939, stream: false }], ioFaults: false },
      { seed: 2481303937, faults: [], ops: [{ kind: 'put', name: 'f06', sizeBytes: 377309, contentSeed: 2972840578, stream: false }], ioFaults: false },
      { seed: 3817159445, faults: [], ops: [{ kind: 'addDevice', sizeMib: 48, reuseSpare: false }], ioFaults: false },
      { seed: 1173811399, faults: [{ kind: 'vanish', pick: 0.03966249153017998 }], ops: [{ kind: 'put', name: 'f07', sizeBytes: 34539, contentSeed: 1757724289, stream: true }], ioFaults: false },
      { seed: 1361423569, faults: [], ops: [{ kind: 'rebuild' }], ioFaults: true },
      { seed: 3038924116, faults: [], ops: [{ kind: 'rebuild' }], ioFaults: false, crashAt: 1 },
    ]);
  });

  // metadata_open.ts recoverMetadata: an old home rolls forward from the newest device *it*
  // knows; when every device it knows was removed since, that is the last one removed, whose
  // journal stops before its own removal. The reopened rows then name today's devices, which
  // hold newer change sets, and nothing rolls forward again: open fails on the journal's
  // assertion "metadata journal: store at N behind the devices at M". (Found by the simulator's
  // old-home recovery, seed 3010.)
  it('an old home whose devices have all been replaced rolls forward to the newest state', async () => {
    const storage = new SimStorage();
    const dir = new TempDir();
    try {
      const disk = (name: string) => storage.createDisk(`sim://${name}`, 48 * MIB).path;
      const runtime = { openDevice: storage.openDevice, workerCount: 0, arenaBytes: 32 * MIB, scan: false as const };
      const home = dir.file('home');
      let array = await DiskArray.create({ ...runtime, home, devices: ['a', 'b', 'c'].map(disk), parityCount: 1, extentLbMax: 8 });
      const first = contentBytes(100_000, 1);
      await array.put('first', first);
      const oldHome = dir.file('old-home');
      mkdirSync(oldHome);
      for (const name of readdirSync(home)) copyFileSync(join(home, name), join(oldHome, name));
      for (const name of ['d', 'e', 'f']) await array.addDevice(disk(name));
      for (const deviceId of [1, 2, 3]) await array.removeDevice(deviceId);
      const second = contentBytes(50_000, 2);
      await array.put('second', second);
      await array.close();
      array = await DiskArray.open(oldHome, runtime);
      try {
        expect(array.status().devices.map((device) => device.path)).toEqual(['sim://d', 'sim://e', 'sim://f']);
        expect((await array.get('first')).equals(first)).toBe(true);
        expect((await array.get('second')).equals(second)).toBe(true);
      } finally {
        await array.close();
      }
    } finally {
      dir.remove();
    }
  });

  // disk_array.ts removeEmptied (after the first fix): it filters the devices still present once,
  // then drops them one by one with an await in between; with two devices emptied, the other
  // rebuild drops the second meanwhile and this one fails on it with the untyped "array
  // devices: unknown device N" (found by the simulator again, seed 3002 at 800 ops).
  it('two rebuilds at once, two failed devices: both finish', async () => {
    const storage = new SimStorage();
    const dir = new TempDir();
    try {
      const devices = [0, 1, 2, 3, 4, 5].map((i) => storage.createDisk(`sim://r${i}`, 48 * MIB).path);
      const runtime = { openDevice: storage.openDevice, workerCount: 0, arenaBytes: 32 * MIB, scan: false as const };
      const array = await DiskArray.create({ ...runtime, home: dir.file('home'), devices, parityCount: 2, maxDataWidth: 2, extentLbMax: 8 });
      try {
        const content = contentBytes(400_000, 5);
        await array.put('f', content);
        await array.failDevice(2);
        await array.failDevice(4);
        const reports = await Promise.all([array.rebuild(), array.rebuild()]);
        expect(new Set(reports.flatMap((report) => report.removedDeviceIds))).toEqual(new Set([2, 4]));
        expect((await array.get('f')).equals(content)).toBe(true);
      } finally {
        await array.close();
      }
    } finally {
      dir.remove();
    }
  });

  // disk_array.ts removeDevice: a rebuild started beside it chooses its first targets before
  // the device is draining and commits blocks onto it after the remove listed what to move; the
  // remove empties its list, removeEmptied finds blocks left and removes nothing, and the remove
  // still resolves as done (the device stays draining). Found by the simulator's check that an
  // acknowledged remove leaves the device gone (seed 2881428, step 1259).
  it('a remove that resolves has removed its device, also beside a rebuild', async () => {
    const stillThere: number[] = [];
    for (let target = 1; target <= 6; target++) {
      const storage = new SimStorage();
      const dir = new TempDir();
      try {
        const devices = [0, 1, 2, 3, 4, 5, 6].map((i) => storage.createDisk(`sim://m${i}`, 48 * MIB).path);
        const runtime = { openDevice: storage.openDevice, workerCount: 0, arenaBytes: 32 * MIB, scan: false as const };
        const array = await DiskArray.create({ ...runtime, home: dir.file('home'), devices, parityCount: 1, maxDataWidth: 2, extentLbMax: 4 });
        try {
          await array.put('base', contentBytes(600_000, 1));
          await array.failDevice(7);
          await Promise.all([array.rebuild(), array.removeDevice(target)]);
          if (array.status().devices.some((device) => device.deviceId === target)) stillThere.push(target);
        } finally {
          await array.close();
        }
      } finally {
        dir.remove();
      }
    }
    expect(stillThere).toEqual([]);
  });

  // metadata_journal.ts writeRecord: it waits for the flush running behind the previous record,
  // then takes the pending change sets; when that flush failed on every device (here: the power
  // loss) the failure path has emptied them, encodeRecord gets no change set and throws the
  // untyped "Cannot read properties of undefined (reading 'seq')" to the remove waiting on the
  // journal. Harmless in a process the power loss ended, but reachable whenever every device
  // fails a flush. Found by the simulator (seed 246669, step 152), shrunk to these 11 steps.
  it('a journal whose every flush fails reports typed errors', async () => {
    await replay(configFor(246669), [
      { seed: 3854905425, faults: [], ops: [{ kind: 'failDevice', pick: 0.22138362703844905 }, { kind: 'put', name: 'f11', sizeBytes: 366440, contentSeed: 2182559771, stream: false }], ioFaults: false },
      { seed: 806019137, faults: [], ops: [{ kind: 'put', name: 'f03', sizeBytes: 523734, contentSeed: 564117546, stream: false, abortAfterTurns: 7 }, { kind: 'put', name: 'f04', sizeBytes: 337131, contentSeed: 3901796320, stream: false }, { kind: 'put', name: 'f09', sizeBytes: 96536, contentSeed: 3142250804, stream: false }], ioFaults: false },
      { seed: 3567591548, faults: [], ops: [{ kind: 'addDevice', sizeMib: 48, reuseSpare: false }], ioFaults: false },
      { seed: 2258463754, faults: [], ops: [{ kind: 'addDevice', sizeMib: 32, reuseSpare: false }, { kind: 'put', name: 'f05', sizeBytes: 94089, contentSeed: 2988965706, stream: false }], ioFaults: false },
      { seed: 2607640178, faults: [], ops: [{ kind: 'addDevice', sizeMib: 64, reuseSpare: true }], ioFaults: false },
      { seed: 270712012, faults: [], ops: [{ kind: 'addDevice', sizeMib: 64, reuseSpare: false }, { kind: 'put', name: 'f00', sizeBytes: 101764, contentSeed: 3076473592, stream: false }], ioFaults: false },
      { seed: 3401302804, faults: [], ops: [{ kind: 'restripe' }], ioFaults: false },
      { seed: 3219466272, faults: [], ops: [{ kind: 'removeDevice', pick: 0.28843517997302115 }, { kind: 'put', name: 'f06', sizeBytes: 1, contentSeed: 3594846487, stream: false }], ioFaults: false },
      { seed: 484263422, faults: [], ops: [{ kind: 'addDevice', sizeMib: 96, reuseSpare: true }], ioFaults: false },
      { seed: 675324995, faults: [], ops: [{ kind: 'put', name: 'f11', sizeBytes: 83489, contentSeed: 711772439, stream: true }, { kind: 'get', name: 'f14', offsetFraction: 0.2375641716644168, lengthFraction: 1, via: 'readInto' }, { kind: 'put', name: 'f10', sizeBytes: 29834, contentSeed: 1362082638, stream: false }], ioFaults: false },
      { seed: 1903875899, faults: [], ops: [{ kind: 'removeDevice', pick: 0.7509601155761629 }, { kind: 'put', name: 'f08', sizeBytes: 77928, contentSeed: 1653520292, stream: false }], ioFaults: false, crashAt: 37 },
    ]);
  });

  // combine_groups.ts combineUnit: a file's last group may carry data blocks that hold no file
  // byte at all (76,444 bytes in 6 data blocks of 16 KiB: the sixth is padding); their byte
  // count came out negative, so the combined groups held fewer bytes than the file ("file f08:
  // groups hold 1152312 bytes, size is 1157788", reads cut short). Found by the simulator's CI
  // run (seed 888006, step 299, an expand beside two puts).
  it('an expand combining a tail group with empty data blocks keeps every byte of the file', async () => {
    const storage = new SimStorage();
    const dir = new TempDir();
    try {
      const disk = (name: string) => storage.createDisk(`sim://${name}`, 48 * MIB).path;
      const runtime = { openDevice: storage.openDevice, workerCount: 0, arenaBytes: 32 * MIB, scan: false as const };
      const array = await DiskArray.create({ ...runtime, home: dir.file('home'), devices: [0, 1, 2, 3, 4, 5, 6].map((i) => disk(`c${i}`)), parityCount: 1, maxDataWidth: 8, extentLbMax: 4 });
      try {
        const content = contentBytes(3 * 6 * 16384 + 76_444, 9);
        await array.put('f', content);
        expect(array.stat('f').groups.at(-1)).toMatchObject({ dataCount: 6, lengthBytes: 76_444 });
        await array.addDevice(disk('c7'), { expand: false });
        await array.addDevice(disk('c8'), { expand: false });
        const report = await array.expand();
        expect(array.stat('f').groups.every((group) => group.dataCount > 6 || group.lengthBytes < 6 * 16384)).toBe(true);
        expect(report.problems).toEqual([]);
        expect(array.stat('f').groups.reduce((sum, group) => sum + group.lengthBytes, 0)).toBe(content.length);
        expect((await array.get('f')).equals(content)).toBe(true);
        array.assertInvariants();
        expect((await array.fsck({ deep: true })).problems).toEqual([]);
      } finally {
        await array.close();
      }
    } finally {
      dir.remove();
    }
  });

  // reader_epochs.ts / combine_groups.ts: a combine keeps its data blocks where they are, under
  // new extent rows of the new groups; a later free of such a place (the file deleted, or the
  // block moved by the expand's rebalance) waited only for readers of the NEW group, not for a
  // read that had looked up the OLD group before the combine and still reads the place. The
  // place went to the next put while that read was still to come: the read found someone
  // else's bytes (too many erasures, or, within parity, a rebuild that repairInPlace wrote back
  // over the new owner's block: a block that differs from the model with no fault injected,
  // as CI seed 888005 once saw with the backoff on, after addDevice + expand).
  it('a read of a file that started before its groups were combined keeps the kept places until it ends', async () => {
    const storage = new SimStorage();
    const dir = new TempDir();
    try {
      const disk = (name: string) => storage.createDisk(`sim://${name}`, 48 * MIB).path;
      const runtime = { openDevice: storage.openDevice, workerCount: 0, arenaBytes: 32 * MIB, scan: false as const };
      const array = await DiskArray.create({ ...runtime, home: dir.file('home'), devices: [0, 1, 2, 3].map((i) => disk(`k${i}`)), parityCount: 1, maxDataWidth: 8, extentLbMax: 4 });
      try {
        // 24 groups of 3 x 16 KiB: more than a stream reads ahead, so most are read after the pause.
        const old = contentBytes(24 * 3 * 16384, 11);
        await array.put('f', old);
        // Pulled chunk by chunk: after the first, the stream waits (a consumer that is slow).
        const chunks = array.createReadStream('f')[Symbol.asyncIterator]();
        const read: Buffer[] = [(await chunks.next()).value as Buffer];
        await array.addDevice(disk('k4'), { expand: false });
        await array.addDevice(disk('k5'), { expand: false });
        const expand = await array.expand();
        expect(expand.combine.combinedGroups).toBeGreaterThan(0);
        // The combined groups free their places on delete; the next put takes the lowest free runs.
        const places = (name: string) => new Set(array.stat(name).groups.flatMap((group) => group.extents.map((extent) => `${extent.deviceId}:${extent.startLb}`)));
        const kept = places('f');
        await array.delete('f');
        await quiet(array);
        const next = contentBytes(old.length, 12);
        await array.put('g', next);
        // The read of f is still to come: g must not have been given f's places (it was: all 87).
        expect([...places('g')].filter((place) => kept.has(place))).toEqual([]);
        for (let chunk = await chunks.next(); !chunk.done; chunk = await chunks.next()) read.push(chunk.value as Buffer);
        expect(Buffer.concat(read).equals(Buffer.from(old))).toBe(true);
        // Once the read has ended the places are free again: the next put of that size gets them.
        await quiet(array);
        await array.put('h', contentBytes(old.length, 13));
        expect([...places('h')].filter((place) => kept.has(place)).length).toBeGreaterThan(0);
        expect((await array.get('g')).equals(Buffer.from(next))).toBe(true);
        array.assertInvariants();
        expect((await array.fsck({ deep: true })).problems).toEqual([]);
      } finally {
        await array.close();
      }
    } finally {
      dir.remove();
    }
  });

  // simulator.ts waitUntilQuiet: a disk vanishes during a put (f10's group 2 commits without
  // its block on device 7), comes back while the array still calls it missing, and a power loss
  // follows (step 13). The open after it resyncs device 7 in the background (the away record
  // outlives the process, 47fc192) and repairs exactly that block, but the checker compared the
  // disks before that resync had even started its job: "f10#2 block 0 (device 7) differs from
  // the model and no fault was injected there". Quiet now also means no job running, still so a
  // few turns later. Found by ELASTRIPE_SIM_PLAN=grow seed 300022 (200 ops), shrunk to 13 steps.
  it('a device back at open is resynced before the checker looks (seed 300022, grow plan)', async () => {
    await replay(configFor(300022), [
      {"seed":1116532804,"faults":[],"ops":[{"kind":"addDevice","sizeMib":32,"reuseSpare":false}],"ioFaults":false,"crashAt":1},
      {"seed":748671897,"faults":[],"ops":[{"kind":"put","name":"f03","sizeBytes":63531,"contentSeed":2798502415,"stream":false}],"ioFaults":false},
      {"seed":3672718335,"faults":[],"ops":[{"kind":"addDevice","sizeMib":96,"reuseSpare":true}],"ioFaults":false},
      {"seed":1965305834,"faults":[],"ops":[{"kind":"addDevice","sizeMib":64,"reuseSpare":false},{"kind":"put","name":"f09","sizeBytes":203108,"contentSeed":4215090851,"stream":false}],"ioFaults":false},
      {"seed":449737191,"faults":[],"ops":[{"kind":"addDevice","sizeMib":96,"reuseSpare":true,"noExpand":true}],"ioFaults":false},
      {"seed":849034820,"faults":[],"ops":[{"kind":"put","name":"f14","sizeBytes":296835,"contentSeed":3945071715,"stream":true},{"kind":"put","name":"f10","sizeBytes":435685,"contentSeed":23519467,"stream":false}],"ioFaults":true},
      {"seed":849415161,"faults":[],"ops":[{"kind":"addDevice","sizeMib":64,"reuseSpare":false},{"kind":"put","name":"f03","sizeBytes":166,"contentSeed":3193600435,"stream":false},{"kind":"rename","name":"f00","to":"f03","replace":false}],"ioFaults":false},
      {"seed":2325613578,"faults":[],"ops":[{"kind":"rename","name":"f03","to":"f04","replace":false}],"ioFaults":false},
      {"seed":2339623293,"faults":[],"ops":[{"kind":"addDevice","sizeMib":128,"reuseSpare":false}],"ioFaults":false},
      {"seed":2645629938,"faults":[{"kind":"return","pick":0.6169836251065135}],"ops":[{"kind":"addDevice","sizeMib":128,"reuseSpare":true},{"kind":"get","name":"f12","offsetFraction":0.15523575874976814,"lengthFraction":1,"via":"stream"},{"kind":"put","name":"f13","sizeBytes":441,"contentSeed":916947499,"stream":true,"abortAfterTurns":216}],"ioFaults":false},
      {"seed":1806778966,"faults":[],"ops":[{"kind":"get","name":"f00","offsetFraction":0.019993102177977562,"lengthFraction":0.8847059917170554,"via":"stream"},{"kind":"get","name":"f01","offsetFraction":0,"lengthFraction":0.4688378358259797,"via":"get"},{"kind":"put","name":"f15","sizeBytes":1126352,"contentSeed":390992939,"stream":false},{"kind":"put","name":"f04","sizeBytes":1,"contentSeed":1922421273,"stream":false}],"ioFaults":false},
      {"seed":3958850902,"faults":[],"ops":[{"kind":"put","name":"f05","sizeBytes":83167,"contentSeed":2277733666,"stream":true}],"ioFaults":false},
      {"seed":2936333348,"faults":[],"ops":[{"kind":"get","name":"f04","offsetFraction":0.8500902652740479,"lengthFraction":0.0006731285247951746,"via":"get"}],"ioFaults":false,"crashAt":4},
    ]);
  });

  // sim_oracle.ts: a flush error injected in one step left the device online, but the array's
  // FlushCoalescer fails every later flush of it, so a metadata write steps later failed it —
  // outside that step's fault atlas: "4 disks are down or damaged (...), parity 3". A device
  // whose flush failed now counts as afflicted while the process that saw it lives
  // (SimDevice.flushFailed). Found by ELASTRIPE_SIM_PLAN=grow seed 300002, shrunk to 22 steps.
  it('a device poisoned by a failed flush counts against the fault budget (seed 300002, grow plan)', async () => {
    await replay(configFor(300002), [
      {"seed":792496011,"faults":[],"ops":[{"kind":"delete","name":"f07"},{"kind":"get","name":"f14","offsetFraction":0,"lengthFraction":0.9472887830343097,"via":"readInto"},{"kind":"put","name":"f01","sizeBytes":29370,"contentSeed":3098279472,"stream":false}],"ioFaults":false},
      {"seed":3931906576,"faults":[],"ops":[{"kind":"addDevice","sizeMib":32,"reuseSpare":true,"noExpand":true},{"kind":"put","name":"f15","sizeBytes":175766,"contentSeed":2355241362,"stream":true},{"kind":"put","name":"f00","sizeBytes":2914,"contentSeed":3545604942,"stream":false}],"ioFaults":true},
      {"seed":1136239097,"faults":[{"kind":"rot","pick":0.9766978665720671,"pagePick":0.9867533941287547,"latent":true,"superblock":false}],"ops":[{"kind":"failDevice","pick":0.4253778129350394},{"kind":"put","name":"f15","sizeBytes":77824,"contentSeed":129894927,"stream":true}],"ioFaults":false},
      {"seed":3800400699,"faults":[],"ops":[{"kind":"rebuild"}],"ioFaults":true,"crashAt":32},
      {"seed":2371604267,"faults":[],"ops":[{"kind":"expand"},{"kind":"removeDevice","pick":0.7876929445192218},{"kind":"put","name":"f03","sizeBytes":66824,"contentSeed":3487782936,"stream":false},{"kind":"put","name":"f10","sizeBytes":85136,"contentSeed":302557554,"stream":true}],"ioFaults":true},
      {"seed":2901935690,"faults":[],"ops":[{"kind":"put","name":"f12","sizeBytes":82343,"contentSeed":2954178785,"stream":false}],"ioFaults":true},
      {"seed":3834659873,"faults":[{"kind":"vanish","pick":0.7904634140431881},{"kind":"return","pick":0.24918990884907544}],"ops":[{"kind":"restripe"}],"ioFaults":true},
      {"seed":1198524712,"faults":[],"ops":[{"kind":"removeDevice","pick":0.03378906426951289},{"kind":"get","name":"f10","offsetFraction":0,"lengthFraction":1,"via":"get"},{"kind":"put","name":"f15","sizeBytes":1911,"contentSeed":2412640193,"stream":false}],"ioFaults":true},
      {"seed":1263691631,"faults":[{"kind":"rot","pick":0.1177216877695173,"pagePick":0.025291706435382366,"latent":false,"superblock":false}],"ops":[{"kind":"put","name":"f01","sizeBytes":393150,"contentSeed":942251033,"stream":false},{"kind":"get","name":"f11","offsetFraction":0,"lengthFraction":0.8754061856307089,"via":"get"}],"ioFaults":true},
      {"seed":310888036,"faults":[],"ops":[{"kind":"restripe"},{"kind":"put","name":"f11","sizeBytes":79443,"contentSeed":2820789766,"stream":false},{"kind":"put","name":"f10","sizeBytes":41315,"contentSeed":4022644573,"stream":false}],"ioFaults":true},
      {"seed":2027800824,"faults":[],"ops":[{"kind":"reopen"}],"ioFaults":true},
      {"seed":3325886382,"faults":[],"ops":[{"kind":"put","name":"f02","sizeBytes":3527,"contentSeed":1917520583,"stream":true}],"ioFaults":true},
      {"seed":1807979959,"faults":[],"ops":[{"kind":"addDevice","sizeMib":48,"reuseSpare":true}],"ioFaults":true},
      {"seed":2530890965,"faults":[],"ops":[{"kind":"get","name":"f15","offsetFraction":0,"lengthFraction":0.26178877777419984,"via":"get"},{"kind":"put","name":"f01","sizeBytes":32768,"contentSeed":3917436733,"stream":false},{"kind":"get","name":"f13","offsetFraction":0.12343401531688869,"lengthFraction":1,"via":"get"}],"ioFaults":true},
      {"seed":2368120032,"faults":[],"ops":[{"kind":"failDevice","pick":0.8453094069845974}],"ioFaults":true},
      {"seed":1134742561,"faults":[],"ops":[{"kind":"put","name":"f07","sizeBytes":218000,"contentSeed":782071436,"stream":false},{"kind":"get","name":"f06","offsetFraction":0,"lengthFraction":1,"via":"get"},{"kind":"put","name":"f10","sizeBytes":1,"contentSeed":2315583427,"stream":false}],"ioFaults":false},
      {"seed":3565322641,"faults":[],"ops":[{"kind":"put","name":"f06","sizeBytes":279239,"contentSeed":1211205983,"stream":false},{"kind":"delete","name":"f11"},{"kind":"rename","name":"f11","to":"f13","replace":true}],"ioFaults":false},
      {"seed":1676188115,"faults":[],"ops":[{"kind":"rebuild"},{"kind":"put","name":"f08","sizeBytes":1493085,"contentSeed":3918189087,"stream":false},{"kind":"put","name":"f08","sizeBytes":1473,"contentSeed":3629905300,"stream":false}],"ioFaults":false},
      {"seed":3086724598,"faults":[],"ops":[{"kind":"put","name":"f12","sizeBytes":1346014,"contentSeed":3274922239,"stream":true,"abortAfterTurns":8}],"ioFaults":true},
      {"seed":3833588772,"faults":[],"ops":[{"kind":"rebuild"},{"kind":"removeDevice","pick":0.013958433410152793}],"ioFaults":true},
      {"seed":2729225293,"faults":[],"ops":[{"kind":"scrub"}],"ioFaults":true},
      {"seed":222521890,"faults":[],"ops":[{"kind":"addDevice","sizeMib":48,"reuseSpare":true},{"kind":"rename","name":"f06","to":"f06","replace":false}],"ioFaults":true},
    ]);
  });
  // The checker's, not the array's (ELASTRIPE_SIM_PLAN=grow, seed 3130): a power loss during a
  // rename --replace of a 1-byte file onto another leaves either file's byte under the name, and
  // the checker picked the version by the data blocks it could read. The 1+2 group's one data
  // block was on a failed device, so both versions scored 0, it took the first, and called the
  // parity of the other "differs from the model, no fault injected". Parity blocks now count.
  it('a renamed tiny file whose data block is down is judged by its parity (seed 3130, grow plan)', async () => {
    await replay(configFor(3130), [
    {"seed":3852507987,"faults":[],"ops":[{"kind":"addDevice","sizeMib":128,"reuseSpare":false},{"kind":"put","name":"f14","sizeBytes":331624,"contentSeed":1362157406,"stream":false},{"kind":"get","name":"f05","offsetFraction":0.8907227697782218,"lengthFraction":0.9090935024432838,"via":"stream"}],"ioFaults":true},
    {"seed":1370077483,"faults":[{"kind":"vanish","pick":0.7721379527356476}],"ops":[{"kind":"failDevice","pick":0.8537708716467023},{"kind":"get","name":"f13","offsetFraction":0.4738077577203512,"lengthFraction":0.9853640601504594,"via":"get"},{"kind":"get","name":"f02","offsetFraction":0,"lengthFraction":1,"via":"get"},{"kind":"get","name":"f09","offsetFraction":0,"lengthFraction":1,"via":"get"}],"ioFaults":false},
    {"seed":3786992570,"faults":[],"ops":[{"kind":"addDevice","sizeMib":48,"reuseSpare":true,"noExpand":true}],"ioFaults":false},
    {"seed":1381953476,"faults":[],"ops":[{"kind":"rebuild"}],"ioFaults":false},
    {"seed":1415213072,"faults":[],"ops":[{"kind":"put","name":"f10","sizeBytes":45562,"contentSeed":220678587,"stream":false}],"ioFaults":false,"crashAt":31},
    {"seed":413755528,"faults":[],"ops":[{"kind":"addDevice","sizeMib":96,"reuseSpare":true,"noExpand":true}],"ioFaults":false},
    {"seed":1082365625,"faults":[],"ops":[{"kind":"addDevice","sizeMib":48,"reuseSpare":true,"noExpand":true},{"kind":"put","name":"f03","sizeBytes":197993,"contentSeed":1126288846,"stream":true}],"ioFaults":false},
    {"seed":4184290956,"faults":[],"ops":[{"kind":"rebuild","abortAfterTurns":49},{"kind":"put","name":"f15","sizeBytes":12458,"contentSeed":2249079773,"stream":true}],"ioFaults":false},
    {"seed":2635231083,"faults":[],"ops":[{"kind":"put","name":"f15","sizeBytes":1470129,"contentSeed":2277525032,"stream":false}],"ioFaults":false},
    {"seed":4152538431,"faults":[],"ops":[{"kind":"addDevice","sizeMib":32,"reuseSpare":false},{"kind":"put","name":"f11","sizeBytes":1218641,"contentSeed":2138342887,"stream":false}],"ioFaults":false},
    {"seed":3263892092,"faults":[],"ops":[{"kind":"get","name":"f09","offsetFraction":0,"lengthFraction":0.001108881551772356,"via":"readInto"},{"kind":"put","name":"f03","sizeBytes":1,"contentSeed":3339819818,"stream":false},{"kind":"get","name":"f09","offsetFraction":0,"lengthFraction":0.31773546850308776,"via":"readInto"}],"ioFaults":false},
    {"seed":2685537648,"faults":[],"ops":[{"kind":"put","name":"f15","sizeBytes":37147,"contentSeed":1245173914,"stream":false},{"kind":"put","name":"f10","sizeBytes":1122964,"contentSeed":2135919071,"stream":false},{"kind":"put","name":"f05","sizeBytes":1,"contentSeed":230551529,"stream":false,"abortAfterTurns":2}],"ioFaults":true},
    {"seed":3842630310,"faults":[],"ops":[{"kind":"rebuild"},{"kind":"delete","name":"f11"},{"kind":"get","name":"f15","offsetFraction":0.8481814400292933,"lengthFraction":1,"via":"get"}],"ioFaults":false},
    {"seed":2721864632,"faults":[],"ops":[{"kind":"addDevice","sizeMib":32,"reuseSpare":false},{"kind":"delete","name":"f14"}],"ioFaults":false},
    {"seed":805197710,"faults":[],"ops":[{"kind":"delete","name":"f06"},{"kind":"put","name":"f10","sizeBytes":49857,"contentSeed":3126179953,"stream":true},{"kind":"put","name":"f09","sizeBytes":293863,"contentSeed":3444736947,"stream":false}],"ioFaults":true},
    {"seed":64397253,"faults":[],"ops":[{"kind":"scrub","abortAfterTurns":246},{"kind":"rename","name":"f03","to":"f05","replace":true}],"ioFaults":false,"crashAt":1},
    ]);
  });
  // read_path.ts repairInPlace (fresh seed 3022, shrunk to 97 steps): a remove's narrowing
  // rewrites wrote one group's new block to a device, then the next group's read found a latent
  // sector on that device and repaired it with a flush of its own, straight to the device. That
  // flush failed and the device dropped the cached writes it covered (Linux's writeback-error
  // behaviour) — the first group's new block among them — but the FlushCoalescer never saw the
  // failure, so the batch's flush of the device succeeded and the group committed over a block
  // that was never stored. A repair now flushes through the coalescer, which poisons the device.
  it('a repair whose flush fails poisons the device for the batch that wrote before it (seed 3022)', async () => {
    await replay(configFor(3022), [
    {"seed":2043187398,"faults":[],"ops":[{"kind":"delete","name":"f06"}],"ioFaults":false},
    {"seed":1481619950,"faults":[],"ops":[{"kind":"failDevice","pick":0.34383985167369246},{"kind":"put","name":"f14","sizeBytes":800,"contentSeed":3658971566,"stream":true}],"ioFaults":true},
    {"seed":600720432,"faults":[],"ops":[{"kind":"scrub"}],"ioFaults":false},
    {"seed":2049610755,"faults":[],"ops":[{"kind":"get","name":"f07","offsetFraction":0.3477660156786442,"lengthFraction":1,"via":"get"},{"kind":"put","name":"f03","sizeBytes":85225,"contentSeed":3572174303,"stream":false},{"kind":"put","name":"f10","sizeBytes":492,"contentSeed":2888549507,"stream":false}],"ioFaults":false},
    {"seed":3351460181,"faults":[],"ops":[{"kind":"put","name":"f05","sizeBytes":464779,"contentSeed":3126944315,"stream":false},{"kind":"put","name":"f12","sizeBytes":66824,"contentSeed":1197896796,"stream":false}],"ioFaults":false},
    {"seed":2715760678,"faults":[],"ops":[{"kind":"failDevice","pick":0.534665095154196},{"kind":"delete","name":"f06"}],"ioFaults":false},
    {"seed":2358949148,"faults":[],"ops":[{"kind":"put","name":"f14","sizeBytes":3753,"contentSeed":2790794005,"stream":false},{"kind":"put","name":"f09","sizeBytes":508503,"contentSeed":4194739531,"stream":true},{"kind":"get","name":"f11","offsetFraction":0,"lengthFraction":0.1366288810968399,"via":"get"},{"kind":"put","name":"f07","sizeBytes":887122,"contentSeed":597318713,"stream":false}],"ioFaults":true},
    {"seed":2513838932,"faults":[],"ops":[{"kind":"addDevice","sizeMib":32,"reuseSpare":false},{"kind":"delete","name":"f09"}],"ioFaults":false},
    {"seed":1334073693,"faults":[],"ops":[{"kind":"get","name":"f00","offsetFraction":0.024610027903690934,"lengthFraction":1,"via":"get"},{"kind":"rename","name":"f10","to":"f12","replace":false},{"kind":"put","name":"f09","sizeBytes":368598,"contentSeed":2301561935,"stream":true},{"kind":"put","name":"f15","sizeBytes":15314,"contentSeed":244506919,"stream":false}],"ioFaults":false,"crashAt":18},
    {"seed":878950906,"faults":[],"ops":[{"kind":"rebalance"},{"kind":"get","name":"f10","offsetFraction":0.03943541529588401,"lengthFraction":1,"via":"get"},{"kind":"get","name":"f12","offsetFraction":0,"lengthFraction":0.18252676888369024,"via":"get"}],"ioFaults":true},
    {"seed":1337901844,"faults":[],"ops":[{"kind":"put","name":"f07","sizeBytes":489480,"contentSeed":3207917803,"stream":false}],"ioFaults":false},
    {"seed":2782642380,"faults":[],"ops":[{"kind":"put","name":"f12","sizeBytes":344094,"contentSeed":1949149176,"stream":false}],"ioFaults":false},
    {"seed":3488978981,"faults":[],"ops":[{"kind":"delete","name":"f07"}],"ioFaults":true,"crashAt":217},
    {"seed":929841383,"faults":[],"ops":[{"kind":"restripe"},{"kind":"rebuild"},{"kind":"put","name":"f01","sizeBytes":523285,"contentSeed":2946724077,"stream":false},{"kind":"delete","name":"f00"}],"ioFaults":true},
    {"seed":2712509550,"faults":[],"ops":[{"kind":"rebuild"}],"ioFaults":false},
    {"seed":301206236,"faults":[],"ops":[{"kind":"delete","name":"f02"}],"ioFaults":true},
    {"seed":2064530753,"faults":[],"ops":[{"kind":"restripe"},{"kind":"put","name":"f10","sizeBytes":6591,"contentSeed":3279812172,"stream":false}],"ioFaults":false},
    {"seed":1897996029,"faults":[{"kind":"return","pick":0.555417594499886}],"ops":[{"kind":"delete","name":"f11"},{"kind":"get","name":"f06","offsetFraction":0.11069386708550155,"lengthFraction":0.32799073588103056,"via":"readInto"}],"ioFaults":false,"crashAt":325},
    {"seed":169951658,"faults":[{"kind":"return","pick":0.2878140003886074}],"ops":[{"kind":"rebuild","abortAfterTurns":37},{"kind":"get","name":"f00","offsetFraction":0,"lengthFraction":0.44587376643903553,"via":"readInto"},{"kind":"put","name":"f08","sizeBytes":455333,"contentSeed":3533244995,"stream":false}],"ioFaults":false},
    {"seed":2221912436,"faults":[],"ops":[{"kind":"rebuild"},{"kind":"put","name":"f15","sizeBytes":1619,"contentSeed":1049242163,"stream":false}],"ioFaults":false},
    {"seed":2180581008,"faults":[],"ops":[{"kind":"addDevice","sizeMib":48,"reuseSpare":true},{"kind":"put","name":"f07","sizeBytes":93292,"contentSeed":3207484889,"stream":false}],"ioFaults":true},
    {"seed":3961956012,"faults":[],"ops":[{"kind":"rename","name":"f04","to":"f09","replace":true}],"ioFaults":false},
    {"seed":2187784542,"faults":[],"ops":[{"kind":"addDevice","sizeMib":48,"reuseSpare":false}],"ioFaults":false},
    {"seed":2660482651,"faults":[],"ops":[{"kind":"rebuild"},{"kind":"put","name":"f15","sizeBytes":478,"contentSeed":3363032227,"stream":false},{"kind":"put","name":"f14","sizeBytes":0,"contentSeed":1588702901,"stream":false}],"ioFaults":false},
    {"seed":4082365548,"faults":[],"ops":[{"kind":"rename","name":"f04","to":"f03","replace":true},{"kind":"put","name":"f05","sizeBytes":496914,"contentSeed":82189010,"stream":false}],"ioFaults":true},
    {"seed":2335268359,"faults":[],"ops":[{"kind":"reopen"}],"ioFaults":false,"crashAt":36},
    {"seed":497942917,"faults":[{"kind":"rot","pick":0.27713224082253873,"pagePick":0.07871740474365652,"latent":false,"superblock":false}],"ops":[{"kind":"put","name":"f08","sizeBytes":62843,"contentSeed":2243738202,"stream":false}],"ioFaults":false},
    {"seed":2587339149,"faults":[],"ops":[{"kind":"get","name":"f10","offsetFraction":0,"lengthFraction":0.0027283045928925276,"via":"readInto"}],"ioFaults":false},
    {"seed":1325923768,"faults":[],"ops":[{"kind":"restripe"}],"ioFaults":false},
    {"seed":1919597040,"faults":[],"ops":[{"kind":"addDevice","sizeMib":96,"reuseSpare":false,"noExpand":true},{"kind":"delete","name":"f07"}],"ioFaults":false},
    {"seed":3238381157,"faults":[],"ops":[{"kind":"put","name":"f12","sizeBytes":12301,"contentSeed":684222839,"stream":false}],"ioFaults":false},
    {"seed":1192608575,"faults":[],"ops":[{"kind":"addDevice","sizeMib":128,"reuseSpare":true,"noExpand":true},{"kind":"put","name":"f13","sizeBytes":215656,"contentSeed":301102808,"stream":false,"abortAfterTurns":334}],"ioFaults":false},
    {"seed":3402367821,"faults":[],"ops":[{"kind":"put","name":"f09","sizeBytes":1830,"contentSeed":3789730813,"stream":false,"abortAfterTurns":237}],"ioFaults":false},
    {"seed":3240204719,"faults":[{"kind":"vanish","pick":0.0009473215322941542}],"ops":[{"kind":"addDevice","sizeMib":32,"reuseSpare":false},{"kind":"get","name":"f07","offsetFraction":0,"lengthFraction":1,"via":"get"}],"ioFaults":false},
    {"seed":1421946404,"faults":[{"kind":"rot","pick":0.8411443368531764,"pagePick":0.9459420961793512,"latent":false,"superblock":false}],"ops":[{"kind":"delete","name":"f12"},{"kind":"put","name":"f04","sizeBytes":53248,"contentSeed":4290191046,"stream":false},{"kind":"rename","name":"f05","to":"f15","replace":true},{"kind":"get","name":"f15","offsetFraction":0,"lengthFraction":0.09650080581195652,"via":"get"}],"ioFaults":false},
    {"seed":1959172622,"faults":[],"ops":[{"kind":"get","name":"f03","offsetFraction":0.043785852612927556,"lengthFraction":0.6947502959519625,"via":"stream"}],"ioFaults":false,"crashAt":3},
    {"seed":842217156,"faults":[],"ops":[{"kind":"addDevice","sizeMib":64,"reuseSpare":true},{"kind":"put","name":"f15","sizeBytes":635056,"contentSeed":2252822018,"stream":false}],"ioFaults":false},
    {"seed":4283348289,"faults":[],"ops":[{"kind":"put","name":"f01","sizeBytes":85818,"contentSeed":4279098228,"stream":false},{"kind":"get","name":"f08","offsetFraction":0,"lengthFraction":1,"via":"readInto"}],"ioFaults":false},
    {"seed":2369791183,"faults":[],"ops":[{"kind":"put","name":"f02","sizeBytes":19299,"contentSeed":3419425505,"stream":false},{"kind":"put","name":"f07","sizeBytes":57675,"contentSeed":2170445193,"stream":false},{"kind":"put","name":"f08","sizeBytes":66253,"contentSeed":1898563345,"stream":false},{"kind":"rename","name":"f09","to":"f13","replace":true}],"ioFaults":false},
    {"seed":451755763,"faults":[],"ops":[{"kind":"put","name":"f05","sizeBytes":9865,"contentSeed":1941938285,"stream":false}],"ioFaults":false},
    {"seed":3916802698,"faults":[],"ops":[{"kind":"expand"}],"ioFaults":false},
    {"seed":4122894456,"faults":[],"ops":[{"kind":"scrub"}],"ioFaults":false},
    {"seed":1546874251,"faults":[{"kind":"rot","pick":0.934949743328616,"pagePick":0.13793600350618362,"latent":true,"superblock":true}],"ops":[{"kind":"addDevice","sizeMib":64,"reuseSpare":true}],"ioFaults":false},
    {"seed":1358923115,"faults":[],"ops":[{"kind":"rebuild"}],"ioFaults":true},
    {"seed":2275542442,"faults":[{"kind":"rot","pick":0.7673245288897306,"pagePick":0.18194133625365794,"latent":false,"superblock":false}],"ops":[{"kind":"delete","name":"f13"}],"ioFaults":false},
    {"seed":2001676202,"faults":[],"ops":[{"kind":"delete","name":"f08"},{"kind":"put","name":"f13","sizeBytes":305111,"contentSeed":920862550,"stream":false},{"kind":"put","name":"f13","sizeBytes":400157,"contentSeed":1505337118,"stream":false}],"ioFaults":false},
    {"seed":3834681614,"faults":[{"kind":"vanish","pick":0.3302346137352288}],"ops":[{"kind":"delete","name":"f10"}],"ioFaults":false},
    {"seed":135215358,"faults":[],"ops":[{"kind":"get","name":"f15","offsetFraction":0.052355760242789984,"lengthFraction":1,"via":"get"}],"ioFaults":false},
    {"seed":1755174852,"faults":[],"ops":[{"kind":"put","name":"f03","sizeBytes":474566,"contentSeed":2324419043,"stream":false}],"ioFaults":false},
    {"seed":3620001019,"faults":[{"kind":"return","pick":0.8675532024353743}],"ops":[{"kind":"get","name":"f09","offsetFraction":0.7385966724250466,"lengthFraction":0.9806371480226517,"via":"get"},{"kind":"get","name":"f12","offsetFraction":0,"lengthFraction":1,"via":"stream"},{"kind":"get","name":"f08","offsetFraction":0.2632245102431625,"lengthFraction":0.6219222885556519,"via":"stream"},{"kind":"get","name":"f15","offsetFraction":0,"lengthFraction":0.8405561975669116,"via":"stream"}],"ioFaults":false},
    {"seed":3326317013,"faults":[{"kind":"rot","pick":0.660976649262011,"pagePick":0.1612872111145407,"latent":true,"superblock":false}],"ops":[{"kind":"rebalance"},{"kind":"put","name":"f07","sizeBytes":8341,"contentSeed":2757424253,"stream":false}],"ioFaults":false},
    {"seed":4112314331,"faults":[],"ops":[{"kind":"put","name":"f08","sizeBytes":223900,"contentSeed":137390342,"stream":false}],"ioFaults":true},
    {"seed":700430148,"faults":[],"ops":[{"kind":"restripe"},{"kind":"delete","name":"f10"},{"kind":"put","name":"f11","sizeBytes":34356,"contentSeed":39535194,"stream":true}],"ioFaults":true},
    {"seed":3338393250,"faults":[],"ops":[{"kind":"put","name":"f04","sizeBytes":699,"contentSeed":3618443545,"stream":false}],"ioFaults":false},
    {"seed":2593682100,"faults":[],"ops":[{"kind":"get","name":"f02","offsetFraction":0,"lengthFraction":0.023418420925736427,"via":"stream"},{"kind":"delete","name":"f09"},{"kind":"put","name":"f08","sizeBytes":214074,"contentSeed":676212526,"stream":false},{"kind":"get","name":"f07","offsetFraction":0,"lengthFraction":0.7553096858318895,"via":"stream"}],"ioFaults":true},
    {"seed":2891995736,"faults":[],"ops":[{"kind":"delete","name":"f10"}],"ioFaults":false},
    {"seed":96874511,"faults":[],"ops":[{"kind":"put","name":"f07","sizeBytes":56592,"contentSeed":2366974562,"stream":false}],"ioFaults":false},
    {"seed":3026845048,"faults":[],"ops":[{"kind":"delete","name":"f03"}],"ioFaults":false},
    {"seed":4217980689,"faults":[{"kind":"rot","pick":0.5196151009295136,"pagePick":0.5674611690919846,"latent":true,"superblock":false}],"ops":[{"kind":"delete","name":"f02"},{"kind":"delete","name":"f10"},{"kind":"put","name":"f02","sizeBytes":1,"contentSeed":4263783608,"stream":false}],"ioFaults":true},
    {"seed":2442933659,"faults":[],"ops":[{"kind":"put","name":"f01","sizeBytes":3990,"contentSeed":440969036,"stream":true}],"ioFaults":false},
    {"seed":1230690424,"faults":[],"ops":[{"kind":"put","name":"f10","sizeBytes":1,"contentSeed":570772648,"stream":false,"abortAfterTurns":2}],"ioFaults":true},
    {"seed":3328361365,"faults":[],"ops":[{"kind":"scrub"}],"ioFaults":false},
    {"seed":3778951313,"faults":[],"ops":[{"kind":"get","name":"f13","offsetFraction":0.5463154171593487,"lengthFraction":1,"via":"get"}],"ioFaults":true},
    {"seed":300557925,"faults":[],"ops":[{"kind":"put","name":"f08","sizeBytes":36297,"contentSeed":4123731610,"stream":false},{"kind":"get","name":"f11","offsetFraction":0,"lengthFraction":0.9604619219899178,"via":"get"}],"ioFaults":false},
    {"seed":3196402041,"faults":[],"ops":[{"kind":"failDevice","pick":0.7038453377317637}],"ioFaults":false},
    {"seed":2279546306,"faults":[],"ops":[{"kind":"put","name":"f12","sizeBytes":139869,"contentSeed":999830538,"stream":false}],"ioFaults":true},
    {"seed":2624969142,"faults":[],"ops":[{"kind":"rebalance"},{"kind":"get","name":"f11","offsetFraction":0.8003980240318924,"lengthFraction":1,"via":"get"},{"kind":"delete","name":"f06"}],"ioFaults":false},
    {"seed":763079459,"faults":[],"ops":[{"kind":"put","name":"f05","sizeBytes":54775,"contentSeed":669194643,"stream":false}],"ioFaults":false,"crashAt":18},
    {"seed":2587204305,"faults":[],"ops":[{"kind":"rename","name":"f11","to":"f07","replace":true}],"ioFaults":false},
    {"seed":3230349002,"faults":[],"ops":[{"kind":"rename","name":"f04","to":"f06","replace":true}],"ioFaults":false},
    {"seed":1740910229,"faults":[{"kind":"return","pick":0.4429667303338647}],"ops":[{"kind":"put","name":"f05","sizeBytes":88717,"contentSeed":3151979400,"stream":true},{"kind":"delete","name":"f01"}],"ioFaults":false},
    {"seed":630170324,"faults":[],"ops":[{"kind":"rename","name":"f15","to":"f03","replace":true},{"kind":"put","name":"f11","sizeBytes":4096,"contentSeed":2799952632,"stream":false}],"ioFaults":false},
    {"seed":2948508210,"faults":[],"ops":[{"kind":"get","name":"f10","offsetFraction":0.04651581053622067,"lengthFraction":1,"via":"stream"}],"ioFaults":false},
    {"seed":34142533,"faults":[],"ops":[{"kind":"put","name":"f07","sizeBytes":9618,"contentSeed":1333940631,"stream":true},{"kind":"put","name":"f08","sizeBytes":57344,"contentSeed":317762592,"stream":false}],"ioFaults":false},
    {"seed":321813123,"faults":[],"ops":[{"kind":"delete","name":"f02"},{"kind":"put","name":"f06","sizeBytes":597,"contentSeed":754076441,"stream":false}],"ioFaults":false},
    {"seed":176548389,"faults":[],"ops":[{"kind":"restripe"},{"kind":"put","name":"f02","sizeBytes":6208,"contentSeed":695805249,"stream":true},{"kind":"put","name":"f07","sizeBytes":1291,"contentSeed":1154498719,"stream":true}],"ioFaults":true},
    {"seed":4291672207,"faults":[],"ops":[{"kind":"rename","name":"f05","to":"f05","replace":true}],"ioFaults":false},
    {"seed":940164412,"faults":[],"ops":[{"kind":"put","name":"f11","sizeBytes":65227,"contentSeed":3783283522,"stream":false}],"ioFaults":true},
    {"seed":2089587309,"faults":[],"ops":[{"kind":"scrub"},{"kind":"get","name":"f03","offsetFraction":0,"lengthFraction":0.5015700201038271,"via":"get"},{"kind":"delete","name":"f01"}],"ioFaults":false,"crashAt":356},
    {"seed":1046374039,"faults":[{"kind":"rot","pick":0.6416439935564995,"pagePick":0.867256676312536,"latent":true,"superblock":false}],"ops":[{"kind":"get","name":"f09","offsetFraction":0.17909133760258555,"lengthFraction":0.6398370510432869,"via":"readInto"}],"ioFaults":false},
    {"seed":488070297,"faults":[],"ops":[{"kind":"put","name":"f10","sizeBytes":1581,"contentSeed":2909068897,"stream":false}],"ioFaults":false},
    {"seed":776134799,"faults":[],"ops":[{"kind":"delete","name":"f02"}],"ioFaults":false},
    {"seed":2146906170,"faults":[{"kind":"return","pick":0.7747128393966705}],"ops":[{"kind":"failDevice","pick":0.1408876101486385},{"kind":"delete","name":"f00"}],"ioFaults":true},
    {"seed":272029199,"faults":[],"ops":[{"kind":"put","name":"f11","sizeBytes":408150,"contentSeed":3208369719,"stream":false}],"ioFaults":false},
    {"seed":1645493266,"faults":[],"ops":[{"kind":"put","name":"f05","sizeBytes":206196,"contentSeed":4153360632,"stream":false},{"kind":"put","name":"f15","sizeBytes":179275,"contentSeed":3211693027,"stream":false},{"kind":"rename","name":"f09","to":"f00","replace":true},{"kind":"put","name":"f02","sizeBytes":152058,"contentSeed":2570113813,"stream":false}],"ioFaults":false},
    {"seed":3670377638,"faults":[],"ops":[{"kind":"rename","name":"f11","to":"f06","replace":true}],"ioFaults":false},
    {"seed":327014881,"faults":[],"ops":[{"kind":"get","name":"f05","offsetFraction":0.2401569108478725,"lengthFraction":0.7847201351542026,"via":"get"},{"kind":"put","name":"f00","sizeBytes":47916,"contentSeed":1168507338,"stream":false},{"kind":"delete","name":"f03"}],"ioFaults":true},
    {"seed":1245536324,"faults":[],"ops":[{"kind":"delete","name":"f00"},{"kind":"put","name":"f07","sizeBytes":86126,"contentSeed":699724851,"stream":false},{"kind":"put","name":"f02","sizeBytes":1,"contentSeed":1986472562,"stream":false}],"ioFaults":false},
    {"seed":4067195275,"faults":[],"ops":[{"kind":"put","name":"f14","sizeBytes":447355,"contentSeed":4130262904,"stream":false,"abortAfterTurns":300},{"kind":"get","name":"f05","offsetFraction":0.25585344969294965,"lengthFraction":0.27637122431769967,"via":"readInto"}],"ioFaults":false,"crashAt":337},
    {"seed":3217715142,"faults":[],"ops":[{"kind":"rebuild"},{"kind":"put","name":"f05","sizeBytes":59591,"contentSeed":4129166762,"stream":false},{"kind":"put","name":"f00","sizeBytes":446099,"contentSeed":1165135038,"stream":true}],"ioFaults":false},
    {"seed":2718792818,"faults":[],"ops":[{"kind":"reopen"}],"ioFaults":true},
    {"seed":1798133524,"faults":[],"ops":[{"kind":"addDevice","sizeMib":96,"reuseSpare":false,"noExpand":true},{"kind":"delete","name":"f07"}],"ioFaults":false},
    {"seed":4149472815,"faults":[],"ops":[{"kind":"put","name":"f14","sizeBytes":231557,"contentSeed":1167285238,"stream":false},{"kind":"get","name":"f08","offsetFraction":0,"lengthFraction":1,"via":"get"},{"kind":"put","name":"f12","sizeBytes":54080,"contentSeed":550240473,"stream":false},{"kind":"get","name":"f06","offsetFraction":0.840339315822348,"lengthFraction":0.484295183327049,"via":"get"}],"ioFaults":true},
    {"seed":2966233379,"faults":[],"ops":[{"kind":"put","name":"f15","sizeBytes":49146,"contentSeed":2338485508,"stream":false},{"kind":"get","name":"f15","offsetFraction":0.5657290716189891,"lengthFraction":0.17682323302142322,"via":"stream"}],"ioFaults":false},
    {"seed":2307948920,"faults":[],"ops":[{"kind":"put","name":"f07","sizeBytes":911206,"contentSeed":1912682138,"stream":false}],"ioFaults":false},
    {"seed":17621116,"faults":[],"ops":[{"kind":"rename","name":"f04","to":"f03","replace":true}],"ioFaults":false},
    {"seed":3219910154,"faults":[{"kind":"rot","pick":0.6837198541034013,"pagePick":0.43682713084854186,"latent":true,"superblock":false}],"ops":[{"kind":"removeDevice","pick":0.5496730024460703}],"ioFaults":true},
    ]);
  });

  // A job's flush that fails poisons its device in the FlushCoalescer, and nothing marked the
  // device failed: only a put's own flush did that. Once small puts wrote durably (no flush),
  // no put came by to notice, the device stayed online, and every later job that wrote to it
  // failed on the poisoned flush (here an expand's combine flush failed, then a rebalance with
  // no fault injected failed with DEVICE_IO). The coalescer now reports a device's first failed
  // flush and the array marks it failed, whoever flushed. Fresh seed 575456 (grow plan, 300
  // ops), shrunk from 135 steps to 82.
  it('a device whose flush failed in a job is marked failed, so the next job avoids it (seed 575456, grow plan)', async () => {
    await replay(configFor(575456), [
  {"seed":1396103448,"faults":[],"ops":[{"kind":"failDevice","pick":0.22361733485013247},{"kind":"delete","name":"f10"}],"ioFaults":true},
  {"seed":2456506255,"faults":[],"ops":[{"kind":"expand"}],"ioFaults":true},
  {"seed":921671884,"faults":[],"ops":[{"kind":"rebalance","abortAfterTurns":200},{"kind":"rebuild"},{"kind":"put","name":"f14","sizeBytes":3286,"contentSeed":3299159820,"stream":false},{"kind":"delete","name":"f11"}],"ioFaults":false},
  {"seed":4123324416,"faults":[],"ops":[{"kind":"failDevice","pick":0.26004639780148864},{"kind":"rename","name":"f00","to":"f04","replace":false},{"kind":"rename","name":"f06","to":"f01","replace":false},{"kind":"get","name":"f14","offsetFraction":0,"lengthFraction":0.15559090254828334,"via":"stream"}],"ioFaults":false},
  {"seed":969300394,"faults":[],"ops":[{"kind":"get","name":"f01","offsetFraction":0.7154263404663652,"lengthFraction":1,"via":"stream"}],"ioFaults":false},
  {"seed":3632489449,"faults":[],"ops":[{"kind":"put","name":"f06","sizeBytes":336264,"contentSeed":3498829931,"stream":true},{"kind":"delete","name":"f12"},{"kind":"get","name":"f07","offsetFraction":0.8511283656116575,"lengthFraction":1,"via":"get"}],"ioFaults":true},
  {"seed":677879251,"faults":[],"ops":[{"kind":"put","name":"f13","sizeBytes":1043388,"contentSeed":1954186820,"stream":false},{"kind":"get","name":"f13","offsetFraction":0.9683657500427216,"lengthFraction":0.6712398673407733,"via":"readInto"}],"ioFaults":false},
  {"seed":977791650,"faults":[],"ops":[{"kind":"failDevice","pick":0.14742250205017626},{"kind":"get","name":"f05","offsetFraction":0.19825859437696636,"lengthFraction":1,"via":"get"}],"ioFaults":true},
  {"seed":622165420,"faults":[],"ops":[{"kind":"addDevice","sizeMib":128,"reuseSpare":true}],"ioFaults":false},
  {"seed":3790624987,"faults":[],"ops":[{"kind":"get","name":"f12","offsetFraction":0,"lengthFraction":0.059355765115469694,"via":"stream"},{"kind":"put","name":"f15","sizeBytes":1042,"contentSeed":3022980407,"stream":false}],"ioFaults":true},
  {"seed":3765534980,"faults":[],"ops":[{"kind":"put","name":"f15","sizeBytes":576118,"contentSeed":2177328828,"stream":false}],"ioFaults":false},
  {"seed":3756302526,"faults":[],"ops":[{"kind":"get","name":"f03","offsetFraction":0.7683120938017964,"lengthFraction":1,"via":"stream"}],"ioFaults":true},
  {"seed":2760972055,"faults":[],"ops":[{"kind":"failDevice","pick":0.8618034238461405},{"kind":"get","name":"f08","offsetFraction":0.15104302414692938,"lengthFraction":1,"via":"get"},{"kind":"rename","name":"f00","to":"f05","replace":false},{"kind":"put","name":"f02","sizeBytes":57344,"contentSeed":2276552750,"stream":false,"abortAfterTurns":399}],"ioFaults":true},
  {"seed":361753011,"faults":[],"ops":[{"kind":"rebalance"}],"ioFaults":false},
  {"seed":1798027890,"faults":[],"ops":[{"kind":"rebuild"},{"kind":"put","name":"f03","sizeBytes":40391,"contentSeed":3234824322,"stream":true},{"kind":"rename","name":"f01","to":"f02","replace":true}],"ioFaults":true},
  {"seed":105231652,"faults":[],"ops":[{"kind":"put","name":"f15","sizeBytes":1526153,"contentSeed":1999564968,"stream":false}],"ioFaults":true},
  {"seed":1471606042,"faults":[],"ops":[{"kind":"addDevice","sizeMib":64,"reuseSpare":true},{"kind":"get","name":"f00","offsetFraction":0,"lengthFraction":0.9390567275695503,"via":"get"}],"ioFaults":true,"crashAt":39},
  {"seed":2917224101,"faults":[],"ops":[{"kind":"failDevice","pick":0.6791249886155128},{"kind":"put","name":"f07","sizeBytes":2181,"contentSeed":225001061,"stream":false},{"kind":"put","name":"f10","sizeBytes":342538,"contentSeed":2763317920,"stream":false}],"ioFaults":false},
  {"seed":3686856732,"faults":[],"ops":[{"kind":"restripe"},{"kind":"put","name":"f08","sizeBytes":89826,"contentSeed":775911037,"stream":false},{"kind":"get","name":"f13","offsetFraction":0.49559151800349355,"lengthFraction":1,"via":"stream"}],"ioFaults":true},
  {"seed":1941495633,"faults":[],"ops":[{"kind":"removeDevice","pick":0.7691705038305372},{"kind":"get","name":"f15","offsetFraction":0,"lengthFraction":0.3689940164331347,"via":"get"},{"kind":"put","name":"f14","sizeBytes":68394,"contentSeed":2963862630,"stream":false}],"ioFaults":true},
  {"seed":3240428757,"faults":[],"ops":[{"kind":"addDevice","sizeMib":128,"reuseSpare":false}],"ioFaults":true},
  {"seed":422387747,"faults":[],"ops":[{"kind":"addDevice","sizeMib":48,"reuseSpare":false,"noExpand":true},{"kind":"get","name":"f12","offsetFraction":0,"lengthFraction":1,"via":"readInto"},{"kind":"put","name":"f08","sizeBytes":258710,"contentSeed":1620330723,"stream":false}],"ioFaults":true},
  {"seed":645146521,"faults":[],"ops":[{"kind":"removeDevice","pick":0.7431615984532982},{"kind":"get","name":"f05","offsetFraction":0.4802030709106475,"lengthFraction":1,"via":"get"}],"ioFaults":true,"crashAt":32},
  {"seed":3010634589,"faults":[],"ops":[{"kind":"get","name":"f00","offsetFraction":0,"lengthFraction":0.15284172166138887,"via":"get"},{"kind":"put","name":"f12","sizeBytes":56932,"contentSeed":2462265027,"stream":false},{"kind":"put","name":"f09","sizeBytes":69632,"contentSeed":3154574161,"stream":true}],"ioFaults":true},
  {"seed":3307436807,"faults":[],"ops":[{"kind":"put","name":"f08","sizeBytes":1378,"contentSeed":622371370,"stream":false}],"ioFaults":false},
  {"seed":2858653211,"faults":[],"ops":[{"kind":"reopen"}],"ioFaults":false},
  {"seed":1277087718,"faults":[],"ops":[{"kind":"addDevice","sizeMib":64,"reuseSpare":false,"noExpand":true},{"kind":"get","name":"f02","offsetFraction":0,"lengthFraction":0.7520041295792907,"via":"get"}],"ioFaults":true},
  {"seed":2701253860,"faults":[],"ops":[{"kind":"put","name":"f11","sizeBytes":93061,"contentSeed":1654411854,"stream":false}],"ioFaults":true},
  {"seed":2119247207,"faults":[],"ops":[{"kind":"get","name":"f01","offsetFraction":0.22305824258364737,"lengthFraction":0.5431890725158155,"via":"get"},{"kind":"put","name":"f00","sizeBytes":0,"contentSeed":3287143477,"stream":false},{"kind":"delete","name":"f14"}],"ioFaults":true,"crashAt":22},
  {"seed":4047107982,"faults":[],"ops":[{"kind":"rebuild"},{"kind":"expand","abortAfterTurns":178},{"kind":"get","name":"f05","offsetFraction":0.3658827943727374,"lengthFraction":1,"via":"get"},{"kind":"put","name":"f14","sizeBytes":3318,"contentSeed":2448674156,"stream":false}],"ioFaults":true,"crashAt":25},
  {"seed":1664045408,"faults":[],"ops":[{"kind":"addDevice","sizeMib":64,"reuseSpare":true},{"kind":"put","name":"f11","sizeBytes":12288,"contentSeed":4292625223,"stream":false},{"kind":"get","name":"f12","offsetFraction":0.9824392590671778,"lengthFraction":1,"via":"readInto"},{"kind":"get","name":"f01","offsetFraction":0,"lengthFraction":1,"via":"get"}],"ioFaults":true},
  {"seed":1042250119,"faults":[],"ops":[{"kind":"get","name":"f08","offsetFraction":0.6331359841860831,"lengthFraction":1,"via":"stream"},{"kind":"put","name":"f13","sizeBytes":1,"contentSeed":3174617408,"stream":false},{"kind":"put","name":"f00","sizeBytes":1430832,"contentSeed":2104475225,"stream":false},{"kind":"get","name":"f05","offsetFraction":0,"lengthFraction":1,"via":"get"}],"ioFaults":true},
  {"seed":706038255,"faults":[],"ops":[{"kind":"get","name":"f10","offsetFraction":0.3725597832817584,"lengthFraction":0.3532497091218829,"via":"readInto"}],"ioFaults":true},
  {"seed":339760090,"faults":[],"ops":[{"kind":"restripe","abortAfterTurns":246}],"ioFaults":false},
  {"seed":3263637882,"faults":[],"ops":[{"kind":"removeDevice","pick":0.07525111199356616},{"kind":"removeDevice","pick":0.4307036860845983},{"kind":"put","name":"f01","sizeBytes":337228,"contentSeed":2234429956,"stream":false},{"kind":"get","name":"f02","offsetFraction":0,"lengthFraction":1,"via":"stream"}],"ioFaults":true},
  {"seed":1657302600,"faults":[],"ops":[{"kind":"addDevice","sizeMib":32,"reuseSpare":false},{"kind":"put","name":"f01","sizeBytes":38468,"contentSeed":2581550297,"stream":false},{"kind":"get","name":"f05","offsetFraction":0.8390922818798572,"lengthFraction":1,"via":"get"},{"kind":"put","name":"f13","sizeBytes":959152,"contentSeed":677396169,"stream":false}],"ioFaults":true},
  {"seed":684041185,"faults":[],"ops":[{"kind":"removeDevice","pick":0.31182068260386586},{"kind":"put","name":"f09","sizeBytes":49152,"contentSeed":1452860229,"stream":false}],"ioFaults":true},
  {"seed":2692378949,"faults":[],"ops":[{"kind":"addDevice","sizeMib":32,"reuseSpare":true},{"kind":"put","name":"f09","sizeBytes":11225,"contentSeed":911232233,"stream":false},{"kind":"put","name":"f13","sizeBytes":4096,"contentSeed":781765434,"stream":true},{"kind":"put","name":"f06","sizeBytes":612807,"contentSeed":2657084679,"stream":false}],"ioFaults":false},
  {"seed":1814649486,"faults":[],"ops":[{"kind":"removeDevice","pick":0.44268794916570187},{"kind":"put","name":"f09","sizeBytes":273517,"contentSeed":1229130410,"stream":false},{"kind":"put","name":"f13","sizeBytes":3346,"contentSeed":3155163165,"stream":false}],"ioFaults":true},
  {"seed":1247662334,"faults":[],"ops":[{"kind":"reopen"}],"ioFaults":false},
  {"seed":1859716296,"faults":[],"ops":[{"kind":"addDevice","sizeMib":128,"reuseSpare":true},{"kind":"put","name":"f12","sizeBytes":75251,"contentSeed":4155800905,"stream":false},{"kind":"put","name":"f05","sizeBytes":85042,"contentSeed":4176727920,"stream":false}],"ioFaults":true},
  {"seed":601117446,"faults":[],"ops":[{"kind":"restripe"},{"kind":"get","name":"f11","offsetFraction":0.8581476851832122,"lengthFraction":0.07926143403165042,"via":"get"},{"kind":"put","name":"f11","sizeBytes":49152,"contentSeed":743478937,"stream":false}],"ioFaults":false},
  {"seed":2299740575,"faults":[],"ops":[{"kind":"get","name":"f11","offsetFraction":0,"lengthFraction":0.7228076453320682,"via":"readInto"}],"ioFaults":true},
  {"seed":3261114699,"faults":[{"kind":"rot","pick":0.7146978944074363,"pagePick":0.10489747021347284,"latent":true,"superblock":false}],"ops":[{"kind":"restripe"},{"kind":"put","name":"f12","sizeBytes":91863,"contentSeed":4279038431,"stream":false},{"kind":"put","name":"f00","sizeBytes":77824,"contentSeed":3175797391,"stream":false}],"ioFaults":false},
  {"seed":3005166503,"faults":[{"kind":"rot","pick":0.5460191578604281,"pagePick":0.5605809192638844,"latent":true,"superblock":false}],"ops":[{"kind":"rebuild"},{"kind":"get","name":"f03","offsetFraction":0,"lengthFraction":0.005696755135431886,"via":"get"}],"ioFaults":true},
  {"seed":3228911321,"faults":[],"ops":[{"kind":"put","name":"f06","sizeBytes":94410,"contentSeed":3190665962,"stream":true},{"kind":"rename","name":"f09","to":"f13","replace":false},{"kind":"put","name":"f07","sizeBytes":1827,"contentSeed":604793867,"stream":true},{"kind":"get","name":"f03","offsetFraction":0.4811021191999316,"lengthFraction":0.4649387600366026,"via":"get"}],"ioFaults":true},
  {"seed":1725195999,"faults":[],"ops":[{"kind":"put","name":"f03","sizeBytes":0,"contentSeed":2429198231,"stream":false}],"ioFaults":true},
  {"seed":957577096,"faults":[],"ops":[{"kind":"addDevice","sizeMib":32,"reuseSpare":true,"noExpand":true},{"kind":"get","name":"f05","offsetFraction":0.2764173711184412,"lengthFraction":0.8811293463222682,"via":"readInto"},{"kind":"delete","name":"f01"},{"kind":"get","name":"f05","offsetFraction":0.5481957914307714,"lengthFraction":1,"via":"get"}],"ioFaults":true},
  {"seed":3990839015,"faults":[],"ops":[{"kind":"addDevice","sizeMib":64,"reuseSpare":true},{"kind":"get","name":"f02","offsetFraction":0,"lengthFraction":0.11697656940668821,"via":"readInto"}],"ioFaults":true},
  {"seed":1532462434,"faults":[],"ops":[{"kind":"delete","name":"f09"},{"kind":"get","name":"f09","offsetFraction":0.1825612485408783,"lengthFraction":0.7971890699118376,"via":"stream"}],"ioFaults":false},
  {"seed":2428063950,"faults":[],"ops":[{"kind":"restripe"}],"ioFaults":true},
  {"seed":896132660,"faults":[],"ops":[{"kind":"addDevice","sizeMib":48,"reuseSpare":true,"noExpand":true},{"kind":"delete","name":"f01"},{"kind":"rename","name":"f00","to":"f13","replace":false}],"ioFaults":false},
  {"seed":2776962569,"faults":[{"kind":"vanish","pick":0.35093400883488357}],"ops":[{"kind":"addDevice","sizeMib":64,"reuseSpare":true}],"ioFaults":false},
  {"seed":813213974,"faults":[],"ops":[{"kind":"rebuild"},{"kind":"delete","name":"f15"}],"ioFaults":true},
  {"seed":1744687368,"faults":[],"ops":[{"kind":"addDevice","sizeMib":64,"reuseSpare":false,"noExpand":true},{"kind":"put","name":"f08","sizeBytes":86340,"contentSeed":1270528292,"stream":false}],"ioFaults":true},
  {"seed":317040776,"faults":[],"ops":[{"kind":"addDevice","sizeMib":48,"reuseSpare":false},{"kind":"get","name":"f13","offsetFraction":0,"lengthFraction":1,"via":"get"},{"kind":"put","name":"f06","sizeBytes":65536,"contentSeed":3268326457,"stream":false}],"ioFaults":false},
  {"seed":764601649,"faults":[{"kind":"rot","pick":0.898707632208243,"pagePick":0.2974602859467268,"latent":false,"superblock":false}],"ops":[{"kind":"addDevice","sizeMib":64,"reuseSpare":false},{"kind":"get","name":"f09","offsetFraction":0.877712212735787,"lengthFraction":0.7718214746564627,"via":"get"},{"kind":"delete","name":"f07"},{"kind":"get","name":"f05","offsetFraction":0,"lengthFraction":0.38323004520498216,"via":"get"}],"ioFaults":true,"crashAt":39},
  {"seed":4109329357,"faults":[],"ops":[{"kind":"get","name":"f04","offsetFraction":0.06891035288572311,"lengthFraction":1,"via":"get"}],"ioFaults":true},
  {"seed":1978871056,"faults":[],"ops":[{"kind":"addDevice","sizeMib":96,"reuseSpare":false},{"kind":"delete","name":"f08"}],"ioFaults":false},
  {"seed":3867983187,"faults":[],"ops":[{"kind":"addDevice","sizeMib":96,"reuseSpare":false,"noExpand":true}],"ioFaults":false},
  {"seed":1621248441,"faults":[],"ops":[{"kind":"get","name":"f01","offsetFraction":0.2740645813755691,"lengthFraction":1,"via":"get"}],"ioFaults":true},
  {"seed":3124450071,"faults":[],"ops":[{"kind":"delete","name":"f13"}],"ioFaults":true},
  {"seed":2570845338,"faults":[],"ops":[{"kind":"addDevice","sizeMib":128,"reuseSpare":true},{"kind":"put","name":"f14","sizeBytes":171900,"contentSeed":900314883,"stream":false},{"kind":"put","name":"f03","sizeBytes":1066778,"contentSeed":3649641754,"stream":true}],"ioFaults":false},
  {"seed":4220011579,"faults":[],"ops":[{"kind":"addDevice","sizeMib":48,"reuseSpare":true},{"kind":"get","name":"f15","offsetFraction":0.6258528428152204,"lengthFraction":1,"via":"get"},{"kind":"get","name":"f05","offsetFraction":0.018143540481105447,"lengthFraction":1,"via":"readInto"},{"kind":"get","name":"f03","offsetFraction":0,"lengthFraction":0.07575127948075533,"via":"get"}],"ioFaults":false},
  {"seed":2454526571,"faults":[],"ops":[{"kind":"addDevice","sizeMib":64,"reuseSpare":true},{"kind":"put","name":"f08","sizeBytes":63064,"contentSeed":3776559935,"stream":false},{"kind":"put","name":"f08","sizeBytes":1,"contentSeed":1157807809,"stream":false},{"kind":"get","name":"f03","offsetFraction":0,"lengthFraction":0.20438077533617616,"via":"get"}],"ioFaults":true},
  {"seed":2783855159,"faults":[],"ops":[{"kind":"addDevice","sizeMib":32,"reuseSpare":false}],"ioFaults":true},
  {"seed":160623559,"faults":[],"ops":[{"kind":"addDevice","sizeMib":32,"reuseSpare":false},{"kind":"get","name":"f06","offsetFraction":0.6112456198316067,"lengthFraction":0.5283840436022729,"via":"get"}],"ioFaults":false},
  {"seed":2731820332,"faults":[],"ops":[{"kind":"get","name":"f00","offsetFraction":0.033051633508875966,"lengthFraction":0.3461565733887255,"via":"get"},{"kind":"delete","name":"f01"},{"kind":"get","name":"f04","offsetFraction":0.9508029134012759,"lengthFraction":1,"via":"get"}],"ioFaults":true},
  {"seed":4192677178,"faults":[],"ops":[{"kind":"addDevice","sizeMib":48,"reuseSpare":false},{"kind":"get","name":"f05","offsetFraction":0,"lengthFraction":0.9776763799600303,"via":"get"},{"kind":"put","name":"f06","sizeBytes":355641,"contentSeed":2721452223,"stream":false},{"kind":"put","name":"f08","sizeBytes":1500991,"contentSeed":2464402733,"stream":false}],"ioFaults":true},
  {"seed":1674315787,"faults":[],"ops":[{"kind":"addDevice","sizeMib":32,"reuseSpare":false,"noExpand":true}],"ioFaults":true},
  {"seed":1243837375,"faults":[],"ops":[{"kind":"rebalance"},{"kind":"put","name":"f14","sizeBytes":58689,"contentSeed":4113499362,"stream":false},{"kind":"put","name":"f15","sizeBytes":77824,"contentSeed":1615483997,"stream":false}],"ioFaults":false},
  {"seed":3958033753,"faults":[],"ops":[{"kind":"failDevice","pick":0.3737946255132556}],"ioFaults":true},
  {"seed":3560316759,"faults":[],"ops":[{"kind":"rename","name":"f10","to":"f05","replace":false},{"kind":"put","name":"f07","sizeBytes":132153,"contentSeed":1053285305,"stream":false}],"ioFaults":true},
  {"seed":797299147,"faults":[],"ops":[{"kind":"addDevice","sizeMib":48,"reuseSpare":true},{"kind":"get","name":"f11","offsetFraction":0,"lengthFraction":1,"via":"get"},{"kind":"delete","name":"f04"}],"ioFaults":false},
  {"seed":2021894138,"faults":[],"ops":[{"kind":"get","name":"f06","offsetFraction":0.9659287154208869,"lengthFraction":0.543989300262183,"via":"stream"},{"kind":"put","name":"f09","sizeBytes":34873,"contentSeed":1765731975,"stream":false}],"ioFaults":false},
  {"seed":334397607,"faults":[],"ops":[{"kind":"delete","name":"f15"}],"ioFaults":true},
  {"seed":4067145298,"faults":[],"ops":[{"kind":"expand"},{"kind":"get","name":"f10","offsetFraction":0.1569780504796654,"lengthFraction":0.6908714643213898,"via":"get"},{"kind":"put","name":"f11","sizeBytes":633728,"contentSeed":4208936691,"stream":true}],"ioFaults":true},
  {"seed":3103802169,"faults":[],"ops":[{"kind":"rebuild"},{"kind":"get","name":"f07","offsetFraction":0.21446409728378057,"lengthFraction":1,"via":"get"}],"ioFaults":false},
  {"seed":2838157291,"faults":[],"ops":[{"kind":"get","name":"f13","offsetFraction":0,"lengthFraction":0.7234983253292739,"via":"readInto"}],"ioFaults":false,"crashAt":6},
  {"seed":606493289,"faults":[],"ops":[{"kind":"restripe"},{"kind":"delete","name":"f00"}],"ioFaults":true},
  {"seed":409234081,"faults":[],"ops":[{"kind":"expand"},{"kind":"put","name":"f15","sizeBytes":49763,"contentSeed":643963408,"stream":false},{"kind":"put","name":"f10","sizeBytes":121,"contentSeed":920982163,"stream":false}],"ioFaults":true},
  {"seed":1858121471,"faults":[],"ops":[{"kind":"rebalance"}],"ioFaults":false},
    ]);
  });

  // failDevice refused a device whose handle had stopped answering but was not yet marked
  // missing: it counted the device as unavailable already and then added one for failing it
  // ("would leave 3 devices unavailable; parity 2 tolerates 2" with one device failed and the
  // target itself vanished). Seen once small puts wrote durably, which changed when the put
  // beside it found the vanished device. Fresh seed 2917576 (grow plan), shrunk to 3 steps.
  it('failing a device that already stopped answering does not count it twice (seed 2917576, grow plan)', async () => {
    await replay(configFor(2917576), [
      { seed: 618068831, faults: [], ops: [{ kind: 'failDevice', pick: 0.3741983384825289 }, { kind: 'delete', name: 'f09' }], ioFaults: false },
      { seed: 2093683690, faults: [], ops: [{ kind: 'addDevice', sizeMib: 96, reuseSpare: true }], ioFaults: false },
      {
        seed: 362031716,
        faults: [{ kind: 'vanish', pick: 0.7374419129919261 }, { kind: 'return', pick: 0.9826407989021391 }],
        ops: [{ kind: 'failDevice', pick: 0.9455707760062069 }, { kind: 'put', name: 'f07', sizeBytes: 394404, contentSeed: 3367565386, stream: false, abortAfterTurns: 0 }],
        ioFaults: false,
      },
    ]);
  });
});
