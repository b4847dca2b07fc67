// The victim of the crash-consistency test: opens an array and writes, overwrites and deletes
// files and rebalances forever, announcing on stdout each operation before it starts and after
// it resolves.
// The test kills it with SIGKILL at a random moment. Plain JS over dist/, so it needs no
// TypeScript loader (npm test builds dist/ first).
import { DiskArray } from '../../dist/src/array/disk_array.js';
import { crashContent, CRASH_NAMES } from './crash_content.mjs';

const [home, seedText] = process.argv.slice(2);
let seed = Number(seedText) >>> 0;
const random = () => {
  seed = (Math.imul(seed ^ (seed >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
  return seed / 2 ** 32;
};
const array = await DiskArray.open(home, { workerCount: 0, arenaBytes: 32 * 1024 * 1024 });
const say = (line) => process.stdout.write(`${line}\n`);
say('ready');
for (let operation = 0; ; operation++) {
  if (random() < 0.1) {
    // Moves committed blocks between devices: kills also land inside relocations.
    say('start-rebalance');
    await array.rebalance();
    say('done-rebalance');
    continue;
  }
  const name = CRASH_NAMES[Math.floor(random() * CRASH_NAMES.length)];
  if (random() < 0.15 && array.list().some((file) => file.name === name)) {
    say(`start-delete ${name}`);
    await array.delete(name);
    say(`done-delete ${name}`);
    continue;
  }
  const version = `${seedText}.${operation}`;
  say(`start-put ${name} ${version}`);
  await array.put(name, crashContent(name, version));
  say(`done-put ${name} ${version}`);
}
