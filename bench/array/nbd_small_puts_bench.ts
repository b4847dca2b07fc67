// Small puts on 4 nbdkit memory devices, with the NBD devices' durable writes (NBD_CMD_FLAG_FUA)
// and without them (write + NBD_CMD_FLUSH, as before they existed), A/B in one process:
// two arrays, each on its own 4 servers, measured in alternating order each round.
// The "flush" side drops writeDurable from its devices here, in the bench only.
//   npm run build && node dist/bench/array/nbd_small_puts_bench.js
// Knobs: ELASTRIPE_NBD_SMALL_ROUNDS (5), ELASTRIPE_NBD_SMALL_PUTS (400 per round and side).
// Writes bench/results/nbd_small_puts.json and its chart; `npm run bench` runs it.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { DiskArray } from '../../src/array/disk_array.js';
import type { Device } from '../../src/devices/device.js';
import { openDevice } from '../../src/devices/open_device.js';
import { startNbdkit, type NbdkitServer } from '../../test/helpers/nbdkit.js';
import { printTable, writeResults, xorshift32, type BenchResult } from '../common.js';
import { NBDKIT, runBenchMain } from '../common/prerequisites.js';

const MIB = 1024 * 1024;
const ROUNDS = Number(process.env['ELASTRIPE_NBD_SMALL_ROUNDS'] ?? 5);
const PUTS = Number(process.env['ELASTRIPE_NBD_SMALL_PUTS'] ?? 400);
const IN_FLIGHT = 16;
const SIZE_MAX = 64 * 1024;

type Side = 'fua' | 'flush';

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

async function putRound(array: DiskArray, round: number, files: readonly Uint8Array[]): Promise<{ perSec: number; cpuUsPerPut: number }> {
  let next = 0;
  const cpu = process.cpuUsage();
  const started = performance.now();
  await Promise.all(Array.from({ length: IN_FLIGHT }, async () => {
    while (next < files.length) {
      const index = next++;
      await array.put(`r${round}-${index}`, files[index]!);
    }
  }));
  const seconds = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  for (let i = 0; i < files.length; i++) await array.delete(`r${round}-${i}`);
  return { perSec: files.length / seconds, cpuUsPerPut: (used.user + used.system) / files.length };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'elastripe-nbd-small-'));
  const servers: NbdkitServer[] = [];
  const arrays = new Map<Side, DiskArray>();
  try {
    for (const side of ['fua', 'flush'] as const) {
      const urls: string[] = [];
      for (let i = 0; i < 4; i++) {
        const server = await startNbdkit({ plugin: 'memory', parameters: ['size=64M'] });
        servers.push(server);
        urls.push(server.url);
      }
      const home = join(dir, side);
      mkdirSync(home);
      const open = async (path: string, options: Parameters<typeof openDevice>[1]): Promise<Device> => {
        const device = await openDevice(path, options);
        if (side === 'flush') (device as { writeDurable?: unknown }).writeDurable = undefined;
        return device;
      };
      const array = await DiskArray.create({ arenaBytes: 64 * MIB, workerCount: 1, home, devices: urls, parityCount: 1, createSizeBytes: 64 * MIB, openDevice: open });
      arrays.set(side, array);
    }
    const random = xorshift32(7);
    const files = Array.from({ length: PUTS }, () => {
      const bytes = new Uint8Array(1 + (random() % SIZE_MAX));
      for (let i = 0; i < bytes.length; i += 64) bytes[i] = random() & 0xff;
      return bytes;
    });
    for (const array of arrays.values()) await putRound(array, -1, files.slice(0, 64)); // warm-up
    const results: Record<Side, { perSec: number[]; cpu: number[] }> = { fua: { perSec: [], cpu: [] }, flush: { perSec: [], cpu: [] } };
    const loads: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const order: Side[] = round % 2 ? ['flush', 'fua'] : ['fua', 'flush'];
      for (const side of order) {
        const { perSec, cpuUsPerPut } = await putRound(arrays.get(side)!, round, files);
        results[side].perSec.push(perSec);
        results[side].cpu.push(cpuUsPerPut);
      }
      loads.push(loadavg()[0]!);
      const ratio = results.fua.perSec[round]! / results.flush.perSec[round]!;
      console.log(`round ${round}: fua ${results.fua.perSec[round]!.toFixed(0)}/s, flush ${results.flush.perSec[round]!.toFixed(0)}/s, ratio ${ratio.toFixed(2)}, load ${loads[round]!.toFixed(1)}`);
    }
    const fua = median(results.fua.perSec);
    const flush = median(results.flush.perSec);
    const ratios = results.fua.perSec.map((value, i) => value / results.flush.perSec[i]!);
    console.log(
      `small puts/s (16 at once, 1 B-64 KiB, 4 nbdkit memory devices, 3+1): fua ${fua.toFixed(0)}, flush ${flush.toFixed(0)}, ` +
        `ratio ${(fua / flush).toFixed(2)} (rounds ${Math.min(...ratios).toFixed(2)}-${Math.max(...ratios).toFixed(2)}), ` +
        `CPU/put ${median(results.fua.cpu).toFixed(0)} vs ${median(results.flush.cpu).toFixed(0)} us, load ${Math.min(...loads).toFixed(1)}-${Math.max(...loads).toFixed(1)}`,
    );
    const caseName = 'small_put_1B-64KiB_qd16_4nbd_p1';
    const rows: BenchResult[] = (['fua', 'flush'] as const).map((side) => ({
      case: caseName,
      impl: side === 'fua' ? 'elastripe (FUA writes)' : 'elastripe (write + flush)',
      opsPerSec: Math.round(median(results[side].perSec)),
      rounds: results[side].perSec.map((value) => value.toFixed(0)).join(' '),
      cpuUsPerPut: Math.round(median(results[side].cpu)),
      ...(side === 'fua' ? { vsFlush: Number((fua / flush).toFixed(3)), roundRatios: ratios.map((value) => value.toFixed(2)).join(' ') } : {}),
    }));
    printTable('small puts on 4 nbdkit memory devices: FUA writes vs write + flush (median of rounds)', rows, ['case', 'impl', 'opsPerSec', 'vsFlush', 'cpuUsPerPut', 'rounds', 'roundRatios']);
    console.log(`\nwrote ${writeResults('nbd_small_puts', rows, { rounds: ROUNDS, putsPerRound: PUTS, inFlight: IN_FLIGHT, sizeMaxBytes: SIZE_MAX, loadAverages: loads })}`);
  } finally {
    for (const array of arrays.values()) await array.close();
    await Promise.allSettled(servers.map((server) => server.stop()));
    rmSync(dir, { recursive: true, force: true });
  }
}

await runBenchMain('nbd-small-puts', [NBDKIT], main);
