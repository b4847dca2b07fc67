// NBD device throughput: sequential 1 MiB writes then reads, QUEUE_DEPTH requests in flight,
// against nbdkit's memory plugin over loopback. Measures our client (handshake aside): the
// request pipeline, the zero-copy write path and the receive-into-target read path.
// Runs inside bench/io/io_bench.ts (runNbdCases) or on its own:
//   npm run build && node dist/bench/io/nbd_case.js
import { pathToFileURL } from 'node:url';
import { openNbdDevice, type NbdDevice } from '../../src/devices/nbd_device.js';
import { LB_BYTES } from '../../src/constants.js';
import { nbdkitMissingReason, startNbdkit } from '../../test/helpers/nbdkit.js';
import { printTable, writeResults, type BenchResult } from '../common.js';
import { NBDKIT, runBenchMain } from '../common/prerequisites.js';

const REQUEST_BYTES = 1024 * 1024;
const QUEUE_DEPTH = 16;
const EXPORT_BYTES = 1024 * 1024 * 1024;
/** Bytes moved per measured pass (the whole export); one unmeasured warm-up pass first. */
const PASS_BYTES = EXPORT_BYTES;
const PASSES = 3;

type Direction = 'write' | 'read';

interface PassResult {
  seconds: number;
  /** CPU time this process spent (user + system): load-independent cost of the client. */
  cpuSeconds: number;
  latenciesUs: number[];
}

/** Keeps QUEUE_DEPTH single-extent requests in flight, walking the export sequentially. */
async function runPass(device: NbdDevice, direction: Direction, buffers: Uint8Array[]): Promise<PassResult> {
  const requestCount = PASS_BYTES / REQUEST_BYTES;
  const lengthLb = REQUEST_BYTES / LB_BYTES;
  const latenciesUs: number[] = [];
  let next = 0;
  const startedMs = performance.now();
  const cpuStart = process.cpuUsage();
  const lane = async (laneIndex: number): Promise<void> => {
    const buffer = buffers[laneIndex]!;
    while (next < requestCount) {
      const index = next++;
      const extent = { startLb: index * lengthLb, lengthLb };
      const issuedMs = performance.now();
      if (direction === 'write') await device.write([extent], [buffer]);
      else await device.read([extent], [buffer]);
      latenciesUs.push((performance.now() - issuedMs) * 1000);
    }
  };
  await Promise.all(Array.from({ length: QUEUE_DEPTH }, (_, i) => lane(i)));
  const cpu = process.cpuUsage(cpuStart);
  return { seconds: (performance.now() - startedMs) / 1000, cpuSeconds: (cpu.user + cpu.system) / 1e6, latenciesUs };
}

function percentile(sorted: number[], fraction: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * fraction))]!;
}

async function measure(device: NbdDevice, direction: Direction, buffers: Uint8Array[]): Promise<BenchResult> {
  await runPass(device, direction, buffers);
  const passes: PassResult[] = [];
  for (let i = 0; i < PASSES; i++) passes.push(await runPass(device, direction, buffers));
  // Median pass by time, so one noisy pass on a 2-core box neither helps nor hurts.
  passes.sort((a, b) => a.seconds - b.seconds);
  const median = passes[Math.floor(passes.length / 2)]!;
  const latencies = median.latenciesUs.sort((a, b) => a - b);
  return {
    case: `nbd_seq_${direction}_1MiB_qd${QUEUE_DEPTH}`,
    impl: 'nbd',
    dataGBps: PASS_BYTES / median.seconds / 1e9,
    opsPerSec: latencies.length / median.seconds,
    p50Us: percentile(latencies, 0.5),
    p99Us: percentile(latencies, 0.99),
    clientCpuSecPerGB: median.cpuSeconds / (PASS_BYTES / 1e9),
    server: 'nbdkit memory (loopback)',
  };
}

export async function runNbdCases(): Promise<BenchResult[]> {
  const missing = nbdkitMissingReason();
  const cases = ['write', 'read'].map((direction) => `nbd_seq_${direction}_1MiB_qd${QUEUE_DEPTH}`);
  if (missing) return cases.map((name) => ({ case: name, impl: 'nbd', error: missing }));
  const server = await startNbdkit({ plugin: 'memory', parameters: [`size=${EXPORT_BYTES}`] });
  let device: NbdDevice | null = null;
  try {
    device = await openNbdDevice(server.url, { inflightMax: 64 });
    // Arena-like buffers: views of one SharedArrayBuffer, filled with non-zero data so the
    // memory plugin really stores pages.
    const arena = new Uint8Array(new SharedArrayBuffer(QUEUE_DEPTH * REQUEST_BYTES));
    for (let i = 0; i < arena.byteLength; i += 4096) arena[i] = (i >>> 12) & 0xff | 1;
    const buffers = Array.from({ length: QUEUE_DEPTH }, (_, i) => arena.subarray(i * REQUEST_BYTES, (i + 1) * REQUEST_BYTES));
    return [await measure(device, 'write', buffers), await measure(device, 'read', buffers)];
  } catch (error) {
    return cases.map((name) => ({ case: name, impl: 'nbd', error: (error as Error).message }));
  } finally {
    await device?.close();
    await server.stop();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await runBenchMain('NBD', [NBDKIT], async () => {
    const rows = await runNbdCases();
    printTable('NBD device, nbdkit memory over loopback', rows, ['case', 'impl', 'dataGBps', 'opsPerSec', 'p50Us', 'p99Us', 'clientCpuSecPerGB', 'error']);
    console.log(`\nresults: ${writeResults('io_nbd', rows)}`);
  });
}
