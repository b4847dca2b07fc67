// Shared plumbing for every benchmark: machine details, result rows, the printed table and
// the JSON file under bench/results/.
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, release } from 'node:os';
import { join } from 'node:path';
import { repositoryRoot } from '../src/kernels/kernel_module.js';
import { writeChart } from './common/svg_chart.js';

export interface BenchMeta {
  cpu: string;
  cores: number;
  kernel: string;
  node: string;
  date: string;
}

/** One measured row. `case` names the geometry (raid6_8+2, seq_write_1MiB_qd16, ...). */
export interface BenchResult {
  case: string;
  impl: string;
  /** Data bytes per second in GB/s (1e9), where the case moves data. */
  dataGBps?: number;
  /** Operations per second, where the case counts operations. */
  opsPerSec?: number;
  p50Us?: number;
  p99Us?: number;
  /** Why this implementation could not run the case; the row is kept, not hidden. */
  error?: string;
  [field: string]: unknown;
}

export function machineMeta(): BenchMeta {
  return {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    kernel: release(),
    node: process.version,
    date: new Date().toISOString(),
  };
}

/** xorshift32 with a fixed seed: the same pseudo-random sequence every run. */
export function xorshift32(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>>= 0);
  };
}

/** Writes bench/results/<name>.json and its chart <name>.svg beside it; returns the JSON's path. */
export function writeResults(name: string, results: BenchResult[], extra: Record<string, unknown> = {}): string {
  const directory = join(repositoryRoot(), 'bench', 'results');
  mkdirSync(directory, { recursive: true });
  const path = join(directory, `${name}.json`);
  const meta = machineMeta();
  writeFileSync(path, JSON.stringify({ meta, ...extra, results }, null, 2) + '\n');
  console.log(`chart: ${writeChart(join(directory, `${name}.svg`), name, results, meta)}`);
  return path;
}

/** Prints rows as an aligned table, with the given columns in order. */
export function printTable(title: string, rows: BenchResult[], columns: string[]): void {
  const cell = (value: unknown): string => {
    if (value === undefined || value === null) return '';
    if (typeof value === 'number') return Number.isInteger(value) ? String(value) : value.toFixed(3);
    return String(value);
  };
  const widths = columns.map((column) => Math.max(column.length, ...rows.map((row) => cell(row[column]).length)));
  const line = (values: string[]): string => values.map((value, i) => value.padEnd(widths[i]!)).join('  ');
  console.log(`\n${title}`);
  console.log(line(columns));
  console.log(line(widths.map((width) => '-'.repeat(width))));
  for (const row of rows) console.log(line(columns.map((column) => cell(row[column]))));
}
