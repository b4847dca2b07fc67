// Builds the AssemblyScript kernels into asm/build/: kernels.wasm (SIMD) and
// kernels_relaxed.wasm (SIMD + relaxed SIMD: i8x16.relaxed_swizzle). Both import one shared
// memory (env.memory, up to 65536 pages = 4 GiB) that every thread's instance works in, and
// both must carry no data segment: a static segment would be written into the shared arena by
// every instantiation. The loader picks the relaxed variant where it validates.
import asc from 'assemblyscript/asc';
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const asmDirectory = dirname(fileURLToPath(import.meta.url));
const buildDirectory = join(asmDirectory, 'build');
export const MEMORY_PAGES_MAX = 65536;

const COMMON_FLAGS = [
  join(asmDirectory, 'kernels.ts'),
  '--runtime', 'stub',
  '--importMemory', '--sharedMemory',
  '--initialMemory', '1', '--maximumMemory', String(MEMORY_PAGES_MAX),
  '-O3', '--noAssert',
];

const VARIANTS = [
  { file: 'kernels.wasm', features: ['simd', 'threads'] },
  { file: 'kernels_relaxed.wasm', features: ['simd', 'threads', 'relaxed-simd'] },
];

/** Returns the ids of the top-level sections of a wasm binary. */
function sectionIds(bytes) {
  const ids = [];
  let position = 8;
  while (position < bytes.length) {
    const id = bytes[position++];
    let size = 0;
    for (let shift = 0; ; shift += 7) {
      const byte = bytes[position++];
      size |= (byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) break;
    }
    ids.push(id);
    position += size;
  }
  return ids;
}

const START_SECTION_ID = 8;
const DATA_SECTION_ID = 11;

async function buildVariant({ file, features }) {
  const outFile = join(buildDirectory, file);
  const flags = [...COMMON_FLAGS, '--outFile', outFile];
  for (const feature of features) flags.push('--enable', feature);
  const { error, stderr } = await asc.main(flags);
  if (error) {
    console.error(stderr.toString());
    throw new Error(`asm: building ${file} failed: ${error.message}`);
  }
  const bytes = readFileSync(outFile);
  const ids = sectionIds(bytes);
  if (ids.includes(DATA_SECTION_ID)) {
    throw new Error(`asm: ${file} has a data segment; kernels must own no static data`);
  }
  if (ids.includes(START_SECTION_ID)) {
    throw new Error(`asm: ${file} has a start function (a computed global?); every instantiation would run it`);
  }
  console.log(`asm: built ${file} (${bytes.length} bytes)`);
}

mkdirSync(buildDirectory, { recursive: true });
for (const variant of VARIANTS) await buildVariant(variant);
