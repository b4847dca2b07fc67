// The capacity bound against brute force, and a mixed-size array filled to it.
import { describe, expect, it } from 'vitest';
import { dataCapacity, spread } from '../../src/array/capacity_bound.js';
import { createTempArray, MIB, patternBytes, useArraySuite } from '../helpers/temp_array.js';

const suite = useArraySuite();

/** Brute force: integer g, data(g) = min(S(g), (kmax+m)g) - m g where S(g) >= (m+1)g. */
function bruteForce(caps: number[], m: number, kmax: number): number {
  const widthMax = Math.min(kmax + m, caps.filter((c) => c > 0).length);
  let best = 0;
  for (let g = 1; g <= caps.reduce((a, b) => a + b, 0); g++) {
    const s = spread(caps, g);
    if (s < (m + 1) * g) continue;
    best = Math.max(best, Math.min(s, widthMax * g) - m * g);
  }
  return best;
}

describe('capacity bound', () => {
  it('matches brute force over random device mixes', () => {
    let seed = 12345;
    const random = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    for (let trial = 0; trial < 300; trial++) {
      const caps = Array.from({ length: 2 + random(7) }, () => 1 + random(60));
      const m = 1 + random(3);
      const kmax = 1 + random(8);
      const bound = dataCapacity(caps, m, kmax);
      // Integer layouts can only reach the real-valued bound up to rounding of g.
      const brute = bruteForce(caps, m, kmax);
      expect(bound.dataBlocks, `caps ${caps} m ${m} kmax ${kmax}`).toBeGreaterThanOrEqual(brute - 1e-6);
      expect(bound.dataBlocks, `caps ${caps} m ${m} kmax ${kmax}`).toBeLessThanOrEqual(brute + kmax + m);
    }
  });

  it('gives the textbook values: equal devices, and a device bigger than the rest combined', () => {
    expect(dataCapacity([100, 100, 100, 100], 1, 8).dataBlocks).toBeCloseTo(300);
    expect(dataCapacity([100, 100, 100, 100, 100, 100, 100, 100, 100, 100], 2, 4).dataBlocks).toBeCloseTo(1000 * (4 / 6));
    const mixed = dataCapacity([64, 64, 64, 256], 1, 8);
    expect(mixed.dataBlocks).toBeCloseTo(192);
    // The big device can hold at most as many blocks as the others together.
    expect(mixed.usableBlocksByDevice[3]).toBeCloseTo(192);
    expect(mixed.usableBlocksByDevice.slice(0, 3)).toEqual([64, 64, 64]);
    expect(dataCapacity([64, 64, 256, 256], 1, 8).dataBlocks).toBeCloseTo(384);
    expect(dataCapacity([10], 1, 8).dataBlocks).toBe(0);
  });
});

describe('mixed device sizes', () => {
  it('fills 3 x 64 MiB + 1 x 256 MiB (m=1) to at least 95% of the bound, and reports the big device as partly usable', async () => {
    ({ array: suite.array } = await createTempArray(suite.dir, { deviceBytes: [64 * MIB, 64 * MIB, 64 * MIB, 256 * MIB], parityCount: 1, extentLbMax: 64 }));
    const array = suite.array;
    const status = array.status();
    const big = status.devices.find((device) => device.deviceId === 4)!;
    expect(big.usableBytes).toBeLessThan(big.capacityBytes);
    for (const small of status.devices.filter((device) => device.deviceId !== 4)) expect(small.usableBytes).toBe(small.capacityBytes);
    const bound = status.usableDataBytes;
    expect(bound).toBeGreaterThan(150 * MIB);
    let stored = 0;
    for (let i = 0, size = 8 * MIB; size >= 256 * 1024; i++) {
      try {
        await array.put(`fill${i}`, patternBytes(size, i));
        stored += size;
      } catch (error) {
        expect(error).toMatchObject({ code: 'NO_SPACE' });
        size /= 2;
      }
    }
    array.assertInvariants();
    expect(array.status().storedBytes).toBe(stored);
    console.log(`mixed fill: ${stored} of bound ${bound} = ${(stored / bound).toFixed(4)}`);
    expect(stored / bound).toBeGreaterThanOrEqual(0.95);
    expect((await array.fsck()).problems).toEqual([]);
  });
});
