// The victim of the crash-consistency test. It opens an array, first finishes what an earlier
// kill interrupted, then spends its life on one "focus" operation, interleaved with puts so jobs
// always have something to move, until the test kills it with SIGKILL.
//
//   node crash_child.mjs HOME SEED FOCUS DEVICE...
//
// FOCUS is put, delete, rebalance, restripe, expand, scrub, rebuild, remove or add; DEVICE... are the
// image paths of the whole set (a device removed or rebuilt away is added back from them).
// Resuming: a failed or missing device is rebuilt away, a device left draining by a remove is
// removed, every set path the array lacks is added back (forced: it carries this array's old
// superblock), and an interrupted rebalance, restripe or scrub (the newest job) runs again.
// Plain JS over dist/, so it needs no TypeScript loader (npm test builds dist/ first).
//
// It announces on stdout (one line each, written synchronously to the pipe, so a line printed
// before the kill always reaches the test):
//   start-put NAME VERSION / done-put NAME VERSION     start-delete NAME / done-delete NAME
//   start-JOB [resume] / inside-JOB / done-JOB         JOB: rebalance restripe expand scrub rebuild remove
//   start-add PATH / done-add PATH                     fail PATH / start-online PATH / done-online PATH
//   rot PATH LB / repaired-rot (a block damaged on purpose, and the scrub that repaired it)
// inside-JOB comes from the job's first onProgress: at least one move (or checked group) is
// committed, so a kill after it and before done-JOB landed inside the job's moves.
// Anything unexpected (a job that leaves problems, a scrub that misses the rot) exits non-zero
// with the reason on stderr, which fails the test.
import { closeSync, fdatasyncSync, openSync, writeSync } from 'node:fs';
import { resolve } from 'node:path';
import { DiskArray } from '../../dist/src/array/disk_array.js';
import { crashContent, CRASH_NAMES, LARGE_NAMES, SMALL_NAMES } from './crash_content.mjs';

const LB_BYTES = 4096;

const [home, seedText, focus, ...paths] = process.argv.slice(2);
const devicePaths = paths.map((path) => resolve(path));
let seed = Number(seedText) >>> 0;
const random = () => {
  seed = (Math.imul(seed ^ (seed >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
  return seed / 2 ** 32;
};
const pick = (list) => list[Math.floor(random() * list.length)];
const say = (line) => process.stdout.write(`${line}\n`);
const fail = (why) => {
  process.stderr.write(`crash child (focus ${focus}, seed ${seedText}): ${why}\n`);
  process.exit(1);
};
process.on('unhandledRejection', (error) => fail(`unhandled rejection: ${error?.stack ?? error}`));

const array = await DiskArray.open(home, { workerCount: 0, arenaBytes: 32 * 1024 * 1024 });
say('ready');

let operation = 0;
const exists = (name) => array.list().some((file) => file.name === name);
const devices = () => array.status().devices;
/** Online and not draining: devices a focus may fail or remove. */
const onlineDevices = () => devices().filter((device) => device.state === 'online');
const lostDevices = () => devices().filter((device) => device.state === 'failed' || device.state === 'missing');

async function put(names = CRASH_NAMES) {
  const name = pick(names);
  const version = `${seedText}.${operation++}`;
  say(`start-put ${name} ${version}`);
  await array.put(name, crashContent(name, version));
  say(`done-put ${name} ${version}`);
}

async function remove(name) {
  say(`start-delete ${name}`);
  await array.delete(name);
  say(`done-delete ${name}`);
}

/** Runs a job with its markers; `concurrentPuts` keeps putting while it moves (online jobs). */
async function job(kind, run, { tag = '', concurrentPuts = false } = {}) {
  say(`start-${kind}${tag}`);
  let inside = false;
  const options = {
    onProgress: () => {
      if (!inside) say(`inside-${kind}`);
      inside = true;
    },
  };
  const running = run(options);
  if (concurrentPuts) {
    let settled = false;
    running.then(
      () => (settled = true),
      () => (settled = true),
    );
    while (!settled) await put();
  }
  const report = await running;
  say(`done-${kind}`);
  return report;
}

function problemsOf(kind, report) {
  // A file written under a restripe or an expand (its rewrite or its combine) is left for the
  // next run: not a problem here.
  const raced = (line) =>
    (kind === 'restripe' && (line.includes('changed during its restripe') || line.includes('changed during its combine'))) ||
    (kind === 'expand' && line.includes('changed during its combine'));
  const problems = (report.problems ?? []).filter((line) => !raced(line));
  if (problems.length > 0) fail(`${kind} left problems:\n${problems.join('\n')}`);
}

async function rebuild(tag = '', concurrentPuts = false) {
  const report = await job('rebuild', (options) => array.rebuild(options), { tag, concurrentPuts });
  problemsOf('rebuild', report);
  return report;
}

async function removeDevice(deviceId, tag = '', concurrentPuts = false) {
  const report = await job('remove', (options) => array.removeDevice(deviceId, options), { tag, concurrentPuts });
  problemsOf('remove', report);
}

/** Adds back (forced: it carries this array's old superblock) every set path the array lacks. */
async function addBack(expand = true) {
  for (const path of devicePaths) {
    if (devices().some((device) => device.path === path)) continue;
    say(`start-add ${path}`);
    // An add expands onto the device by default (combine + rebalance inside the add).
    await array.addDevice(path, { force: true, expand });
    say(`done-add ${path}`);
  }
}

/** Fails a device, writes narrow groups around it, brings it back: material for rebalance and restripe. */
async function degradeAndWrite() {
  const victim = pick(onlineDevices());
  say(`fail ${victim.path}`);
  await array.failDevice(victim.deviceId);
  for (let i = 1 + Math.floor(random() * 3); i > 0; i--) await put(LARGE_NAMES);
  say(`start-online ${victim.path}`);
  await array.onlineDevice(victim.deviceId);
  say(`done-online ${victim.path}`);
}

/** Damages the first 512 bytes of one committed block on disk, behind the array's back. */
function rot() {
  const files = array.list().filter((file) => file.sizeBytes > 0);
  if (files.length === 0) return false;
  const group = pick(array.stat(pick(files).name).groups);
  const extent = pick(group.extents);
  const path = devices().find((device) => device.deviceId === extent.deviceId).path;
  say(`rot ${path} ${extent.startLb}`);
  const fd = openSync(path, 'r+');
  try {
    const garbage = Buffer.alloc(512);
    for (let i = 0; i < garbage.length; i++) garbage[i] = Math.floor(random() * 256);
    writeSync(fd, garbage, 0, garbage.length, extent.startLb * LB_BYTES);
    fdatasyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return true;
}

// --- resume what the previous kill interrupted ---
// The devices' states survive an import; the jobs table (local to the home) does not.
const interrupted = array.status().jobs[0];
if (lostDevices().length > 0) await rebuild(' resume');
for (const device of devices().filter((entry) => entry.state === 'draining')) await removeDevice(device.deviceId, ' resume');
await addBack();
if (interrupted?.state === 'interrupted') {
  const kind = interrupted.kind.split(' ')[0];
  if (kind === 'rebalance') await job('rebalance', (options) => array.rebalance(options), { tag: ' resume' });
  if (kind === 'restripe') problemsOf('restripe', await job('restripe', (options) => array.restripe(options), { tag: ' resume' }));
  if (kind === 'expand') problemsOf('expand', await job('expand', (options) => array.expand(options), { tag: ' resume' }));
  if (kind === 'scrub') await job('scrub', (options) => array.scrub(options), { tag: ' resume' });
}
say(`focus ${focus}`);

// --- the focus, forever ---
const foci = {
  async put() {
    const name = pick(CRASH_NAMES);
    if (random() < 0.15 && exists(name)) await remove(name);
    else await put();
  },
  async delete() {
    const name = pick(CRASH_NAMES);
    if (exists(name) && random() < 0.8) await remove(name);
    else await put(random() < 0.7 ? SMALL_NAMES : CRASH_NAMES);
  },
  async rebalance() {
    await put();
    const report = await job('rebalance', (options) => array.rebalance(options), { concurrentPuts: random() < 0.5 });
    if (report.movedBlocks === 0) await degradeAndWrite();
  },
  async restripe() {
    const report = await job('restripe', (options) => array.restripe(options), { concurrentPuts: random() < 0.5 });
    problemsOf('restripe', report);
    if (report.restripedFiles === 0) await degradeAndWrite();
  },
  async expand() {
    // Narrow groups to combine: take a device out, write large files over the others, add it
    // back without expanding; then the expand combines them in place and rebalances.
    await removeDevice(pick(onlineDevices()).deviceId);
    for (let i = 2 + Math.floor(random() * 3); i > 0; i--) await put(LARGE_NAMES);
    await addBack(false);
    problemsOf('expand', await job('expand', (options) => array.expand(options), { concurrentPuts: random() < 0.5 }));
  },
  async scrub() {
    await put();
    const rotted = random() < 0.5 && rot();
    let report = await job('scrub', (options) => array.scrub(options), { concurrentPuts: !rotted && random() < 0.5 });
    let repaired = report.repairedBlocks;
    // A scrub that continued one cut short checked only the groups after its cursor: a second
    // one, from the start, must find the rot if the first did not.
    if (report.resumedAfterGroupId !== undefined && repaired === 0) {
      report = await job('scrub', (options) => array.scrub(options));
      repaired += report.repairedBlocks;
    }
    if (report.problems.length > 0 && !rotted) fail(`scrub found problems nobody made:\n${report.problems.join('\n')}`);
    if (rotted) {
      if (repaired < 1) fail(`scrub repaired nothing after the rot:\n${report.problems.join('\n')}`);
      say('repaired-rot');
    }
  },
  async rebuild() {
    const victim = pick(onlineDevices());
    say(`fail ${victim.path}`);
    await array.failDevice(victim.deviceId);
    for (let i = Math.floor(random() * 3); i > 0; i--) await put();
    const report = await rebuild('', random() < 0.5);
    if (!report.removedDeviceIds.includes(victim.deviceId)) fail(`rebuild did not remove device ${victim.deviceId}`);
    await addBack();
  },
  async remove() {
    await put();
    await removeDevice(pick(onlineDevices()).deviceId, '', random() < 0.5);
    await addBack();
  },
  async add() {
    // Every device is in the array here: take one out (remove or rebuild), then add it back.
    if (random() < 0.5) await removeDevice(pick(onlineDevices()).deviceId);
    else {
      const victim = pick(onlineDevices());
      say(`fail ${victim.path}`);
      await array.failDevice(victim.deviceId);
      await rebuild();
    }
    await put();
    await addBack();
  },
};
if (!foci[focus]) fail(`unknown focus ${focus}`);
for (;;) await foci[focus]();
