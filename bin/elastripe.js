#!/usr/bin/env node
// Launcher of the elastripe command-line tool. The tool is src/cli/main.ts, compiled to dist/
// by tsc and bundled by `npm run build` (scripts/bundle_cli.mjs) into one CommonJS file,
// dist/bundle/elastripe.cjs: a run loads that one file instead of ~150 modules (issue 10).
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const bundlePath = fileURLToPath(new URL('../dist/bundle/elastripe.cjs', import.meta.url));
let cli;
try {
  cli = createRequire(import.meta.url)(bundlePath);
} catch (error) {
  // Only the bundle itself missing is "not built"; a module the bundle needs is another story.
  if (error?.code === 'MODULE_NOT_FOUND' && String(error.message).includes(bundlePath)) {
    process.stderr.write('elastripe: NOT_BUILT: the compiled tool is missing; run `npm run build` first\n');
    process.exit(70);
  }
  throw error;
}
await cli.runAsProcess();
