// fio's raw throughput on the devices the array will use: sequential 1 MiB writes and reads,
// ioengine=io_uring, iodepth 16, one job per device, all jobs at once; the aggregate is the
// ceiling the array's efficiency is measured against. fio overwrites the devices, so this runs
// before an array is created on them.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export const FIO_BLOCK_BYTES = 1 << 20;
export const FIO_DEPTH = 16;
const RAMP_MS = 500;

export interface FioOptions {
  /** O_DIRECT; image files in tmpfs refuse it, so the fallback runs buffered. */
  direct: boolean;
  seconds: number;
}

export interface FioMeasurement {
  dataGBps: number;
  p50Us: number;
  p99Us: number;
}

interface FioSide {
  bw_bytes: number;
  clat_ns?: { percentile?: Record<string, number> };
}

function commonArgs(direct: boolean): string[] {
  return ['--ioengine=io_uring', `--direct=${direct ? 1 : 0}`, `--bs=${FIO_BLOCK_BYTES}`, `--iodepth=${FIO_DEPTH}`];
}

/** One job per device (global options first, then a --name/--filename pair each). */
function jobArgs(paths: readonly string[]): string[] {
  return paths.flatMap((path, i) => [`--name=dev${i}`, `--filename=${path}`]);
}

/** Writes every byte once, unmeasured, so no case pays for tmpfs allocating pages. */
export async function prefillDevices(paths: readonly string[], direct: boolean): Promise<void> {
  await execFileAsync('fio', [...commonArgs(direct), '--rw=write', '--output-format=terse', ...jobArgs(paths)], {
    maxBuffer: 16 << 20,
  });
}

export async function runFioRaw(paths: readonly string[], mode: 'write' | 'read', options: FioOptions): Promise<FioMeasurement> {
  const args = [
    ...commonArgs(options.direct), `--rw=${mode}`, '--time_based', `--runtime=${options.seconds}`,
    `--ramp_time=${RAMP_MS}ms`, '--group_reporting', '--output-format=json', ...jobArgs(paths),
  ];
  const { stdout } = await execFileAsync('fio', args, { maxBuffer: 64 << 20 });
  const report = JSON.parse(stdout.slice(stdout.indexOf('{'))) as { jobs: { read: FioSide; write: FioSide }[] };
  // group_reporting folds every job into one entry: its bandwidth is the aggregate.
  const side = mode === 'write' ? report.jobs[0]!.write : report.jobs[0]!.read;
  const percentiles = side.clat_ns?.percentile ?? {};
  return {
    dataGBps: side.bw_bytes / 1e9,
    p50Us: Math.round((percentiles['50.000000'] ?? 0) / 1000),
    p99Us: Math.round((percentiles['99.000000'] ?? 0) / 1000),
  };
}
