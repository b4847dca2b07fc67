#!/usr/bin/env node
// Launcher of the elastripe command-line tool; the tool itself is src/cli/main.ts, compiled to
// dist/ by `npm run build`.
let cli;
try {
  cli = await import('../dist/src/cli/main.js');
} catch (error) {
  if (error?.code === 'ERR_MODULE_NOT_FOUND' && String(error.message).includes('dist/src/cli/main.js')) {
    process.stderr.write('elastripe: NOT_BUILT: the compiled tool is missing; run `npm run build` first\n');
    process.exit(70);
  }
  throw error;
}
await cli.runAsProcess();
