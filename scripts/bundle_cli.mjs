// Bundles the command-line tool (dist/src/cli/main.js and everything it imports, compiled by
// tsc) into one CommonJS file, dist/bundle/elastripe.cjs, which bin/elastripe.js loads: a CLI
// run then reads and compiles one file instead of resolving ~150 modules through Node's ESM
// loader (issue 10: a put or get is one process, so its start-up is part of its throughput).
//
// Why CommonJS: in an ES module bundle every import of a Node built-in is hoisted to the top,
// so node:http, node:net (serve, NBD) and the rest load on every run; in a CommonJS bundle
// they are require()d inside the lazily initialised module that uses them.
//
// What must still be found at run time, beside the bundle: the packages kept external
// (better-sqlite3 and piscina, native code and worker files of their own), the kernel worker
// file that Piscina loads (dist/src/kernels/pool_worker.js, compiled by tsc), the wasm kernels
// and the io_uring addon. Each is located by climbing from `import.meta.url` to the package
// root, so the bundle's own URL stands in for import.meta.url (it lies under the root too).
import { build } from 'esbuild';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outputDirectory = join(root, 'dist', 'bundle');
const outputPath = join(outputDirectory, 'elastripe.cjs');
const shimPath = join(outputDirectory, 'import_meta_url.mjs');

rmSync(outputDirectory, { recursive: true, force: true });
mkdirSync(outputDirectory, { recursive: true });
// esbuild's documented way to keep import.meta.url in a CommonJS bundle: inject a module that
// computes it, and define import.meta.url as that module's export.
writeFileSync(shimPath, "export const importMetaUrl = require('node:url').pathToFileURL(__filename).href;\n");
try {
  await build({
    entryPoints: [join(root, 'dist', 'src', 'cli', 'main.js')],
    outfile: outputPath,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    external: ['better-sqlite3', 'piscina'],
    inject: [shimPath],
    define: { 'import.meta.url': 'importMetaUrl' },
    sourcemap: 'linked',
    logLevel: 'warning',
  });
} finally {
  rmSync(shimPath, { force: true });
}
