// The loader and the shared-memory contract: variant choice, the wasm imports a shared memory
// and owns no data segment, tables equal the scalar twin's, two instances on one memory see
// each other's writes, and "test the test": deliberately broken kernels are caught by the
// same comparison helpers the other kernel tests use.
import { readFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  GF_TABLES_BYTES_MAX, instantiateKernels, kernelVariant, kernelWasmPath, loadKernelModule, compileKernelVariant,
} from '../../src/kernels/kernel_module.js';
import { gfTablesInitScalar } from '../../src/kernels/scalar/gf_tables_scalar.js';
import { pqGenScalar } from '../../src/kernels/scalar/pq_scalar.js';
import {
  compareEncode, compareFletcher, compareReconstruct, createKernelEnv, scalarImpl, type KernelEnv, type KernelImpl,
} from './kernels_harness.js';

let env: KernelEnv;
beforeAll(async () => {
  env = await createKernelEnv();
});

describe('kernel module', () => {
  it('loads once, reports its variant, and imports one shared memory', async () => {
    const module = await loadKernelModule();
    expect(await loadKernelModule()).toBe(module);
    expect(['relaxed-simd', 'simd']).toContain(kernelVariant());
    console.log(`kernel variant: ${kernelVariant()}`);
    expect(WebAssembly.Module.imports(module)).toEqual([{ module: 'env', name: 'memory', kind: 'memory' }]);
  });

  it('both variants carry no data segment (section 11) and no start function (section 8)', () => {
    for (const variant of ['simd', 'relaxed-simd'] as const) {
      const bytes = readFileSync(kernelWasmPath(variant));
      const ids: number[] = [];
      for (let at = 8; at < bytes.length; ) {
        ids.push(bytes[at++]!);
        let size = 0;
        for (let shift = 0; ; shift += 7) {
          const byte = bytes[at++]!;
          size += (byte & 0x7f) * 2 ** shift;
          if ((byte & 0x80) === 0) break;
        }
        at += size;
      }
      expect(ids, variant).not.toContain(11);
      expect(ids, variant).not.toContain(8);
    }
  });

  it('gf_tables_init writes the same tables as the scalar twin, within the reserved bound', () => {
    const bytes = env.kernels.gfTablesBytes();
    expect(bytes).toBeGreaterThan(0);
    expect(bytes).toBeLessThanOrEqual(GF_TABLES_BYTES_MAX);
    const scratch = 1 << 20;
    gfTablesInitScalar(env.bytes, scratch);
    expect(Buffer.from(env.bytes.subarray(0, bytes)).equals(Buffer.from(env.bytes.subarray(scratch, scratch + bytes)))).toBe(true);
  });

  it('the plain SIMD variant computes what the chosen one does', async () => {
    const plain = instantiateKernels(await compileKernelVariant('simd'), env.memory);
    compareEncode(env, { name: 'plain-simd', ...plain }, env.simd, { k: 7, m: 3, lengthBytes: 5000, seed: 3 });
    compareReconstruct(env, { name: 'plain-simd', ...plain }, env.simd, { k: 7, m: 3, lengthBytes: 5000, seed: 4 }, [1, 2, 3]);
    env.allocator.reset();
  });

  it('a second instance on the same memory reads what the first wrote', async () => {
    const second = instantiateKernels(await loadKernelModule(), env.memory);
    env.bytes.fill(7, 1 << 21, (1 << 21) + 64);
    second.fletcher4(1 << 21, 64, (1 << 21) + 128);
    const viaFirst = (1 << 21) + 256;
    env.kernels.fletcher4(1 << 21, 64, viaFirst);
    expect(Buffer.from(env.bytes.subarray((1 << 21) + 128, (1 << 21) + 160)).equals(Buffer.from(env.bytes.subarray(viaFirst, viaFirst + 32)))).toBe(true);
    expect(env.bytes[(1 << 21) + 128]).toBe((7 * 0x01010101 * 16) % 256); // a = 16 words of 0x07070707
  });
  it('an instance in a worker thread, on the same memory and module, writes what the main thread reads', async () => {
    const source = (1 << 21) + 4096, out = source + 8192;
    env.bytes.fill(3, source, source + 4000);
    const worker = new Worker(
      `const { parentPort, workerData } = require('node:worker_threads');
       const { module, memory, source, out } = workerData;
       const instance = new WebAssembly.Instance(module, { env: { memory } });
       instance.exports.fletcher4(source, 4000, out);
       parentPort.postMessage('done');`,
      { eval: true, workerData: { module: await loadKernelModule(), memory: env.memory, source, out } },
    );
    await new Promise((done, fail) => {
      worker.once('message', done);
      worker.once('error', fail);
    });
    await worker.terminate();
    env.kernels.fletcher4(source, 4000, out + 64);
    expect(Buffer.from(env.bytes.subarray(out, out + 32)).toString('hex')).toBe(Buffer.from(env.bytes.subarray(out + 64, out + 96)).toString('hex'));
    expect(env.bytes[out]).toBe((1000 * 3 * 0x01010101) & 0xff); // a = 1000 words of 0x03030303
  });
});

describe('test the test: broken kernels are caught', () => {
  /** The SIMD kernels, except that `kernel`'s output has one byte flipped at `flipAt`. */
  function flipping(kernel: 'xorGen' | 'pqGen' | 'gfDotProd' | 'fletcher4', targetArgument: number, flipAt: number): KernelImpl {
    const broken: KernelImpl = { ...env.simd, name: `broken-${kernel}` };
    const original = env.simd[kernel] as (...args: number[]) => void;
    (broken as unknown as Record<string, unknown>)[kernel] = (...args: number[]) => {
      original(...args);
      env.bytes[args[targetArgument]! + flipAt]! ^= 0x10;
    };
    return broken;
  }

  it('a flipped parity byte fails compareEncode', () => {
    expect(() => compareEncode(env, flipping('xorGen', 2, 4095), env.scalar, { k: 4, m: 1, lengthBytes: 4096, seed: 1 })).toThrow(/byte 4095/);
    expect(() => compareEncode(env, flipping('pqGen', 3, 17), env.scalar, { k: 4, m: 2, lengthBytes: 4096, seed: 1 })).toThrow(/row 1/);
    env.allocator.reset();
  });

  it('a flipped checksum byte fails compareFletcher', () => {
    expect(() => compareFletcher(env, flipping('fletcher4', 2, 31), env.scalar, 1000, 5)).toThrow(/fletcher4/);
    env.allocator.reset();
  });

  it('a flipped rebuilt byte fails compareReconstruct', () => {
    expect(() => compareReconstruct(env, flipping('gfDotProd', 3, 0), env.scalar, { k: 5, m: 2, lengthBytes: 100, seed: 2 }, [0, 6])).toThrow(/broken-gfDotProd/);
    env.allocator.reset();
  });

  it('a scalar twin with a wrong Q coefficient fails compareEncode', () => {
    const wrongQ: KernelImpl = {
      ...scalarImpl(env.bytes),
      name: 'wrong-q',
      pqGen: (sources, k, p, q, length) => pqGenScalar(env.bytes, sources, Math.max(1, k - 1), p, q, length), // drops the last block
    };
    expect(() => compareEncode(env, env.simd, wrongQ, { k: 5, m: 2, lengthBytes: 64, seed: 9 })).toThrow(/simd vs wrong-q/);
    env.allocator.reset();
  });

  it('an overrun past the end of a buffer trips the guard check', () => {
    // k = 2: the overrun byte is the XOR of two guard bytes (0), so it differs from the guard.
    const overrunning: KernelImpl = { ...env.simd, name: 'overrun', xorGen: (s, n, t, length) => env.simd.xorGen(s, n, t, length + 1) };
    const identical = { ...overrunning, name: 'overrun-too' };
    expect(() => compareEncode(env, overrunning, identical, { k: 2, m: 1, lengthBytes: 50, seed: 4 })).toThrow(/guard byte/);
    env.allocator.reset();
  });
});
