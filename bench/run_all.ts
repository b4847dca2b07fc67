// `npm run bench`: every benchmark, one after another in its own process (so one's arena,
// workers and devices never disturb the next), each printing its table and writing its JSON
// and its chart (SVG) under bench/results/. A benchmark whose prerequisite is missing stops
// with one sentence (bench/common/prerequisites.ts); the others still run, and the closing
// lines list what did not.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PREREQUISITE_MISSING_EXIT } from './common/prerequisites.js';

// kernels_bench also runs the pool cases (they share bench/results/kernels.json).
const BENCHES = ['kernels/kernels_bench.js', 'io/io_bench.js', 'array/array_bench.js', 'array/metadata_bench.js', 'meta/allocator_bench.js', 'grow/grow_bench.js', 'rebuild/rebuild_bench.js', 'meta/metadata_scale_bench.js', 'array/read_bench.js', 'array/nbd_small_puts_bench.js'];

const here = dirname(fileURLToPath(import.meta.url));
const failed: string[] = [];
const notRun: string[] = [];
for (const bench of BENCHES) {
  console.log(`\n=== ${bench} ===`);
  const result = spawnSync(process.execPath, [join(here, bench)], { stdio: 'inherit' });
  if (result.status === PREREQUISITE_MISSING_EXIT) notRun.push(bench);
  else if (result.status !== 0) failed.push(`${bench} (exit ${result.status ?? result.signal})`);
}
if (notRun.length > 0) console.error(`\nbenchmarks not run for a missing prerequisite (see their sentence above): ${notRun.join(', ')}`);
if (failed.length > 0) console.error(`\nbenchmarks that failed: ${failed.join(', ')}`);
if (notRun.length > 0 || failed.length > 0) process.exit(1);
console.log('\nall benchmarks done; results in bench/results/*.json, charts in bench/results/*.svg');
