// Loads the AssemblyScript kernels (asm/build/*.wasm) and binds them to a shared arena.
//
// Each thread compiles the module once (cached) and instantiates it against the one shared
// WebAssembly.Memory; the kernels take u32 byte offsets into it and allocate nothing. The
// relaxed-SIMD build is preferred where it validates (Node 20 needs V8's
// --experimental-wasm-relaxed-simd, set here before compiling); otherwise plain SIMD.
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';

export type KernelVariant = 'relaxed-simd' | 'simd';

// Our compile settings (lib ES2022 + @types/node 20) declare no WebAssembly namespace, so this
// module declares, locally, exactly the part it uses; at run time the name is Node's global.
declare namespace WebAssembly {
  class Module {
    private readonly compiledKernels: never;
  }
  /** Structural, so the arena's own view of its shared memory can be passed as is. */
  interface Memory {
    readonly buffer: ArrayBuffer | SharedArrayBuffer;
    grow(deltaPages: number): number;
  }
  class Instance {
    constructor(module: Module, imports: Record<string, Record<string, unknown>>);
    readonly exports: Record<string, unknown>;
  }
  function compile(bytes: Uint8Array): Promise<Module>;
  function validate(bytes: Uint8Array): boolean;
}
/** A compiled kernels.wasm, as loadKernelModule() returns it (posts to workers as is). */
export type KernelWasmModule = WebAssembly.Module;
/** The shared arena memory the kernels import. */
export type KernelMemory = WebAssembly.Memory;

/** The kernels' imported memory is declared with this maximum (4 GiB); an arena must not exceed it. */
export const KERNEL_MEMORY_PAGES_MAX = 65536;
/** Upper bound of gf_tables_bytes(); the coordinator reserves this much for the tables. */
export const GF_TABLES_BYTES_MAX = 16384;
/** Bytes of one fletcher-4 checksum: a, b, c, d as little-endian u64. */
export const FLETCHER4_BYTES = 32;

const WASM_FILES: Record<KernelVariant, string> = {
  'relaxed-simd': 'kernels_relaxed.wasm',
  simd: 'kernels.wasm',
};

/** The exports of kernels.wasm, camelCased; arguments as in asm/kernels.ts. */
export interface Kernels {
  /** Writes the nibble tables of all 256 constants at tablesOffset. */
  gfTablesInit(tablesOffset: number): void;
  /** Size of the table region, <= GF_TABLES_BYTES_MAX. */
  gfTablesBytes(): number;
  /** target = XOR of the sourceCount buffers listed (u32 offsets) at sourcesOffset. */
  xorGen(sourcesOffset: number, sourceCount: number, targetOffset: number, lengthBytes: number): void;
  /** P and Q (Linux RAID-6) of k data buffers. */
  pqGen(sourcesOffset: number, k: number, pOffset: number, qOffset: number, lengthBytes: number): void;
  /** P, Q and R (raidz3) of k data buffers. */
  pqrGen(
    sourcesOffset: number, k: number, pOffset: number, qOffset: number, rOffset: number, lengthBytes: number,
    tablesOffset: number,
  ): void;
  /** target = sum c_i * source_i; c_i are sourceCount bytes at coefficientsOffset. */
  gfDotProd(
    sourcesOffset: number, coefficientsOffset: number, sourceCount: number, targetOffset: number,
    lengthBytes: number, tablesOffset: number,
  ): void;
  /**
   * targets (targetCount u32 offsets at targetsOffset) = coefficient rows (row t: sourceCount
   * bytes at coefficientsOffset + t * sourceCount) times the sources, sharing one pass.
   */
  gfVectDotProd(
    sourcesOffset: number, coefficientsOffset: number, sourceCount: number, targetsOffset: number, targetCount: number,
    lengthBytes: number, tablesOffset: number,
  ): void;
  /**
   * Lost data blocks x < y (written to the k-entry data list's entries x and y) from the other
   * data and P, Q: D_x = a*P' ^ b*Q', D_y = P' ^ D_x (gf256.ts raid6Recov2Coefficients).
   */
  raid6Recov2(
    dataOffset: number, k: number, x: number, y: number, pOffset: number, qOffset: number, lengthBytes: number,
    a: number, b: number, tablesOffset: number,
  ): void;
  /** Fletcher-4 of [offset, offset + lengthBytes) (zero-padded to whole words) into 32 bytes at outOffset. */
  fletcher4(offset: number, lengthBytes: number, outOffset: number): void;
  /** m parity blocks into the buffers listed at targetsOffset, and (k + m) x 32 checksum bytes. */
  encodeChecksum(
    sourcesOffset: number, k: number, targetsOffset: number, m: number, lengthBytes: number,
    checksumsOffset: number, tablesOffset: number,
  ): void;
}

let cachedModule: Promise<WebAssembly.Module> | undefined;
let chosenVariant: KernelVariant | undefined;

/** The repository root: the nearest directory up from here whose package.json is elastripe's. */
export function repositoryRoot(): string {
  let directory = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    try {
      const manifest = JSON.parse(readFileSync(join(directory, 'package.json'), 'utf8')) as { name?: string };
      if (manifest.name === 'elastripe') return directory;
    } catch {
      // no (readable) package.json here: keep climbing
    }
    const parent = dirname(directory);
    if (parent === directory) throw new Error('kernels: cannot find the elastripe repository root');
    directory = parent;
  }
}

export function kernelWasmPath(variant: KernelVariant): string {
  return join(repositoryRoot(), 'asm', 'build', WASM_FILES[variant]);
}

async function readKernelWasm(variant: KernelVariant): Promise<Uint8Array> {
  const path = kernelWasmPath(variant);
  try {
    return await readFile(path);
  } catch (cause) {
    throw new Error(`kernels: cannot read ${path}; build it with \`npm run build:asm\``, { cause });
  }
}

/** Whether relaxed SIMD validates, enabling V8's flag first where Node needs it. */
function relaxedSimdValidates(bytes: Uint8Array): boolean {
  if (WebAssembly.validate(bytes)) return true;
  try {
    setFlagsFromString('--experimental-wasm-relaxed-simd');
  } catch {
    return false;
  }
  return WebAssembly.validate(bytes);
}

async function compileBest(preferred: KernelVariant | undefined): Promise<WebAssembly.Module> {
  if (preferred !== 'simd') {
    try {
      const relaxedBytes = await readKernelWasm('relaxed-simd');
      if (relaxedSimdValidates(relaxedBytes)) {
        const module = await WebAssembly.compile(relaxedBytes);
        chosenVariant = 'relaxed-simd';
        return module;
      }
    } catch {
      // missing or not compilable here: the plain SIMD build below
    }
  }
  const module = await WebAssembly.compile(await readKernelWasm('simd'));
  chosenVariant = 'simd';
  return module;
}

/**
 * The compiled kernels, once per thread. ELASTRIPE_KERNEL_VARIANT=simd forces the plain build
 * (for comparison runs); the default prefers relaxed SIMD.
 */
export function loadKernelModule(): Promise<WebAssembly.Module> {
  if (cachedModule === undefined) {
    const preferred = process.env['ELASTRIPE_KERNEL_VARIANT'] as KernelVariant | undefined;
    cachedModule = compileBest(preferred);
    cachedModule.catch(() => {
      cachedModule = undefined; // let a later call retry, e.g. after the build ran
    });
  }
  return cachedModule;
}

/** Compiles one named variant, uncached (benchmarks and tests compare the two). */
export async function compileKernelVariant(variant: KernelVariant): Promise<WebAssembly.Module> {
  const bytes = await readKernelWasm(variant);
  if (variant === 'relaxed-simd' && !relaxedSimdValidates(bytes)) {
    throw new Error('kernels: relaxed SIMD does not validate on this runtime');
  }
  return WebAssembly.compile(bytes);
}

/** Which variant loadKernelModule() picked, once it has resolved. */
export function kernelVariant(): KernelVariant | undefined {
  return chosenVariant;
}

interface KernelExports {
  gf_tables_init(tablesOffset: number): void;
  gf_tables_bytes(): number;
  xor_gen(...args: number[]): void;
  pq_gen(...args: number[]): void;
  pqr_gen(...args: number[]): void;
  gf_dot_prod(...args: number[]): void;
  gf_vect_dot_prod(...args: number[]): void;
  raid6_recov2(...args: number[]): void;
  fletcher4(...args: number[]): void;
  encode_checksum(...args: number[]): void;
}

/** Instantiates the kernels over the shared arena memory (synchronous: the module is compiled). */
export function instantiateKernels(module: WebAssembly.Module, memory: WebAssembly.Memory): Kernels {
  const instance = new WebAssembly.Instance(module, { env: { memory } });
  const exports = instance.exports as unknown as KernelExports;
  return {
    gfTablesInit: exports.gf_tables_init,
    gfTablesBytes: exports.gf_tables_bytes,
    xorGen: exports.xor_gen,
    pqGen: exports.pq_gen,
    pqrGen: exports.pqr_gen,
    gfDotProd: exports.gf_dot_prod,
    gfVectDotProd: exports.gf_vect_dot_prod,
    raid6Recov2: exports.raid6_recov2,
    fletcher4: exports.fletcher4,
    encodeChecksum: exports.encode_checksum,
  };
}
