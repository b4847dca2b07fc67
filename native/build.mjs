// Builds the io_uring N-API addon with node-gyp. Runs as the package's `install` script, so
// `npm install` / `npm ci` build it from the kernel's own linux/io_uring.h. A failed build is
// not fatal: elastripe then runs on the node:fs backend and says so (see src/devices/).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const nativeDir = dirname(fileURLToPath(import.meta.url));
if (!existsSync(join(nativeDir, 'binding.gyp'))) {
  console.log('elastripe: native/binding.gyp not present; skipping the io_uring addon build');
  process.exit(0);
}
// npm points this at its bundled node-gyp, which knows where Node's headers are here.
const gypScript = process.env.npm_config_node_gyp;
const [command, args] = gypScript
  ? [process.execPath, [gypScript, 'rebuild']]
  : ['node-gyp', ['rebuild']];
const result = spawnSync(command, args, { cwd: nativeDir, stdio: 'inherit' });
if (result.status !== 0) {
  console.warn('elastripe: the io_uring addon did not build; the node:fs backend will be used');
}
process.exit(0);
