// /metrics: the array in the Prometheus text exposition format (version 0.0.4): a `# HELP` and a
// `# TYPE` line per metric family, then its samples, `name{label="value"} number`, one family
// after the other. Counters end in _total. Everything comes from status() (the array's own
// view, kept in its home), serve's device I/O counters and its event log.
import type { ArrayStatus } from '../../array/types.js';
import type { DeviceIoCounts } from './io_counters.js';

export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

const DEVICE_STATES = ['online', 'draining', 'missing', 'failed'] as const;
const JOB_STATES = ['running', 'done', 'incomplete', 'aborted', 'failed', 'interrupted'] as const;

export interface MetricsInput {
  status: ArrayStatus;
  ioOf(path: string): DeviceIoCounts;
  eventsByType: ReadonlyMap<string, number>;
  commandsByVerb: ReadonlyMap<string, number>;
  activeCommands: number;
  uptimeSeconds: number;
}

type Labels = Record<string, string | number>;

class Exposition {
  private readonly lines: string[] = [];

  family(name: string, type: 'gauge' | 'counter', help: string, samples: readonly [Labels, number][]): void {
    this.lines.push(`# HELP ${name} ${help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of samples) this.lines.push(`${name}${formatLabels(labels)} ${formatValue(value)}`);
  }

  text(): string {
    return `${this.lines.join('\n')}\n`;
  }
}

function formatLabels(labels: Labels): string {
  const entries = Object.entries(labels);
  if (entries.length === 0) return '';
  return `{${entries.map(([name, value]) => `${name}="${escapeLabelValue(String(value))}"`).join(',')}}`;
}

export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

export function renderMetrics(input: MetricsInput): string {
  const { status } = input;
  const out = new Exposition();
  const device = (entry: ArrayStatus['devices'][number]): Labels => ({ device: entry.deviceId, path: entry.path });
  out.family('elastripe_device_state', 'gauge', 'Device state: 1 for the state the device is in, 0 for the others.',
    status.devices.flatMap((entry) => DEVICE_STATES.map((state): [Labels, number] => [{ ...device(entry), state }, entry.state === state ? 1 : 0])));
  out.family('elastripe_device_capacity_bytes', 'gauge', 'Bytes of the device the array can use for blocks.', status.devices.map((entry) => [device(entry), entry.capacityBytes]));
  out.family('elastripe_device_used_bytes', 'gauge', 'Bytes of blocks (data and parity) on the device.', status.devices.map((entry) => [device(entry), entry.usedBytes]));
  const io = (pick: (counts: DeviceIoCounts) => number): [Labels, number][] => status.devices.map((entry) => [device(entry), pick(input.ioOf(entry.path))]);
  out.family('elastripe_device_read_bytes_total', 'counter', 'Bytes read from the device by this serve process.', io((counts) => counts.readBytes));
  out.family('elastripe_device_written_bytes_total', 'counter', 'Bytes written to the device by this serve process.', io((counts) => counts.writtenBytes));
  out.family('elastripe_device_read_errors_total', 'counter', 'Reads of the device that failed, over the array\'s life in this home.', status.devices.map((entry) => [device(entry), entry.readErrors]));
  out.family('elastripe_device_io_errors_total', 'counter', 'Failed device operations seen by this serve process, by operation.',
    status.devices.flatMap((entry): [Labels, number][] => [[{ ...device(entry), op: 'read' }, input.ioOf(entry.path).readErrors], [{ ...device(entry), op: 'write' }, input.ioOf(entry.path).writeErrors]]));
  out.family('elastripe_array_capacity_bytes', 'gauge', 'Bytes of all devices the array can use for blocks.', [[{}, status.capacityBytes]]);
  out.family('elastripe_array_allocated_bytes', 'gauge', 'Bytes of blocks (data and parity) allocated on the devices.', [[{}, status.allocatedBytes]]);
  out.family('elastripe_array_stored_bytes', 'gauge', 'Bytes of file data stored.', [[{}, status.storedBytes]]);
  out.family('elastripe_array_files', 'gauge', 'Files stored.', [[{}, status.fileCount]]);
  out.family('elastripe_array_degraded', 'gauge', '1 while a device is missing or failed.', [[{}, status.degraded ? 1 : 0]]);
  out.family('elastripe_degraded_reads_total', 'counter', 'Reads that needed reconstruction from parity.', [[{}, status.degradedReads]]);
  out.family('elastripe_repaired_blocks_total', 'counter', 'Blocks rebuilt from parity and rewritten in place.', [[{}, status.repairedBlocks]]);
  renderJobs(out, status);
  out.family('elastripe_events_total', 'counter', 'Array events seen by this serve process, by type.', [...input.eventsByType].map(([type, count]) => [{ type }, count]));
  out.family('elastripe_serve_commands_total', 'counter', 'Commands run through the control socket, by verb.', [...input.commandsByVerb].map(([verb, count]) => [{ verb }, count]));
  out.family('elastripe_serve_active_commands', 'gauge', 'Commands running through the control socket now.', [[{}, input.activeCommands]]);
  out.family('elastripe_serve_uptime_seconds', 'gauge', 'Seconds since serve opened the array.', [[{}, input.uptimeSeconds]]);
  return out.text();
}

function renderJobs(out: Exposition, status: ArrayStatus): void {
  const running = (kind: string): number => status.jobs.filter((job) => job.kind === kind && job.state === 'running').length;
  const kinds = [...new Set(status.jobs.map((job) => job.kind))];
  out.family('elastripe_jobs_running', 'gauge', 'Jobs running now, by kind.', kinds.map((kind) => [{ kind }, running(kind)]));
  const job = (entry: ArrayStatus['jobs'][number]): Labels => ({ job_id: entry.jobId, kind: entry.kind });
  out.family('elastripe_job_state', 'gauge', 'State of the recent jobs: 1 for the state the job is in.',
    status.jobs.flatMap((entry) => JOB_STATES.map((state): [Labels, number] => [{ ...job(entry), state }, entry.state === state ? 1 : 0])));
  out.family('elastripe_job_done_bytes', 'gauge', 'Bytes a recent job has moved or checked.', status.jobs.map((entry) => [job(entry), entry.progress?.doneBytes ?? 0]));
  const known = status.jobs.filter((entry) => entry.progress?.totalBytes !== undefined);
  out.family('elastripe_job_total_bytes', 'gauge', 'Bytes a recent job has to move or check in all, where known.', known.map((entry) => [job(entry), entry.progress!.totalBytes!]));
}
