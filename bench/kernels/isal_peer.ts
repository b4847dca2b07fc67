// ISA-L as a peer of our kernels: bench/kernels/isal_peer.c built once per run with the system
// C compiler against Debian's libisal-dev, then run per (case, shard size) right after our rows
// of the same group, so the ratios come from one run on one machine state. ISA-L missing is
// reported on its rows as one sentence, never as a failed benchmark.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repositoryRoot } from '../../src/kernels/kernel_module.js';
import { parityCoefficient, reconstructionPlan } from '../../src/kernels/gf256.js';
import type { BenchResult } from '../common.js';

const SOURCE = join('bench', 'kernels', 'isal_peer.c');
const DATA_COUNT = 8;
export const ISAL_IMPLS = ['isal-sse', 'isal'];
const CASES = new Set(['xor_8+1', 'raid6_8+2', 'triple_8+3', 'reconstruct1_8+2', 'reconstruct2_8+2']);

let built: { binary: string; directory: string } | string | undefined;

/** The peer binary, or the one sentence saying why there is none. */
function peerBinary(): string | { binary: string } {
  if (built === undefined) {
    const source = join(repositoryRoot(), SOURCE);
    if (!existsSync('/usr/include/isa-l/erasure_code.h')) {
      built = 'ISA-L is not installed (apt-get install libisal-dev), so its rows are not measured.';
    } else {
      const directory = mkdtempSync(join(tmpdir(), 'elastripe-isal-'));
      const binary = join(directory, 'isal_peer');
      try {
        execFileSync('cc', ['-O2', '-o', binary, source, '-lisal'], { stdio: 'pipe' });
        built = { binary, directory };
        process.once('exit', () => rmSync(directory, { recursive: true, force: true }));
      } catch (error) {
        rmSync(directory, { recursive: true, force: true });
        built = `the ISA-L peer did not compile (${(error as Error).message.split('\n')[0]}).`;
      }
    }
  }
  return typeof built === 'string' ? built : { binary: built.binary };
}

/** The rows ISA-L multiplies by: the same coefficients our kernels apply to the same sources. */
function coefficientRows(caseName: string): Uint8Array[] {
  if (caseName === 'xor_8+1' || caseName === 'raid6_8+2') return [];
  if (caseName === 'triple_8+3') {
    return [0, 1, 2].map((row) => Uint8Array.from({ length: DATA_COUNT }, (_, i) => parityCoefficient(row, i)));
  }
  const missing = caseName === 'reconstruct1_8+2' ? [0] : [0, 1];
  return reconstructionPlan(DATA_COUNT, 2, missing).coefficients;
}

/** ISA-L's rows for one group (none for cases it has no counterpart of). */
export function isalRows(caseName: string, shardBytes: number, measureMs: number, m: number): BenchResult[] {
  if (!CASES.has(caseName)) return [];
  const base = (impl: string): BenchResult => ({ case: caseName, impl, k: DATA_COUNT, m, shardBytes });
  const peer = peerBinary();
  if (typeof peer === 'string') return ISAL_IMPLS.map((impl) => ({ ...base(impl), error: peer }));
  const hex = coefficientRows(caseName).map((row) => Buffer.from(row).toString('hex')).join('');
  try {
    const output = execFileSync(peer.binary, [caseName, String(shardBytes), String(measureMs), hex], { encoding: 'utf8' });
    return output.trim().split('\n').map((line) => ({ ...base(''), ...(JSON.parse(line) as Record<string, unknown>) }) as BenchResult);
  } catch (error) {
    return ISAL_IMPLS.map((impl) => ({ ...base(impl), error: `the ISA-L peer failed: ${(error as Error).message.split('\n')[0]}` }));
  }
}
