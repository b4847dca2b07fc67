// Builds the io_uring N-API addon with node-gyp. Runs as the package's `install` script, so
// `npm install` / `npm ci` build it from the kernel's own linux/io_uring.h. A failed build is
// not fatal for users: elastripe then runs on the node:fs backend and says so (see
// src/devices/). With ELASTRIPE_REQUIRE_NATIVE=1 (set by .ci/run) it is: a build that fails,
// or an addon that does not load, exits non-zero and so fails `npm ci`.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const required = process.env.ELASTRIPE_REQUIRE_NATIVE === '1';
const nativeDir = dirname(fileURLToPath(import.meta.url));

/** Lenient by default; with ELASTRIPE_REQUIRE_NATIVE=1 a failure ends the install. */
function fail(message) {
  if (required) {
    console.error(`elastripe: ${message}; failing because ELASTRIPE_REQUIRE_NATIVE=1`);
    process.exit(1);
  }
  console.warn(`elastripe: ${message}; the node:fs backend will be used`);
  process.exit(0);
}

if (!existsSync(join(nativeDir, 'binding.gyp'))) fail('native/binding.gyp not present, so the io_uring addon was not built');
// npm points this at its bundled node-gyp, which knows where Node's headers are here.
const gypScript = process.env.npm_config_node_gyp;
const [command, args] = gypScript
  ? [process.execPath, [gypScript, 'rebuild']]
  : ['node-gyp', ['rebuild']];
const result = spawnSync(command, args, { cwd: nativeDir, stdio: 'inherit' });
if (result.error) fail(`the io_uring addon did not build (${command}: ${result.error.message})`);
if (result.status !== 0) fail(`the io_uring addon did not build (node-gyp exited with ${result.status ?? result.signal})`);
if (required) {
  // Built is not enough: it must load into this Node (whether the kernel allows io_uring is
  // for the tests to find out).
  const addonPath = join(nativeDir, 'build', 'Release', 'elastripe_uring.node');
  try {
    createRequire(import.meta.url)(addonPath);
  } catch (error) {
    fail(`the io_uring addon at ${addonPath} does not load (${error.message.split('\n')[0]})`);
  }
  console.log(`elastripe: built and loaded ${addonPath}`);
}
process.exit(0);
