import { defineConfig } from 'vitest/config';

// Two cores: run test files in two forked processes (forks, not threads, because the native
// addon and loop-device tests own process-wide resources).
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // The JSON report lets .ci/run (.ci/summarize.mjs) list skipped tests against
    // .ci/allowed_skips.txt and print a plain 'tests: N passed, N failed, N skipped' closing line.
    reporters: ['default', ['json', { outputFile: '.vitest-results.json' }]],
  },
});
