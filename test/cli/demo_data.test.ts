import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { CHUNK_BYTES, createRandom, generateContent, hashing, planFiles, sha256Hex } from '../../src/cli/demo_data.js';

const MIB = 2 ** 20;

describe('demo data', () => {
  it('plans files that add up to the requested total, edge sizes first', () => {
    const plans = planFiles(42, 40 * MIB);
    expect(plans.reduce((sum, plan) => sum + plan.sizeBytes, 0)).toBe(40 * MIB);
    expect(plans.slice(0, 4).map((plan) => plan.sizeBytes)).toEqual([1, 4095, 4096, 4097]);
    expect(new Set(plans.map((plan) => plan.name)).size).toBe(plans.length);
    expect(new Set(plans.map((plan) => plan.pattern))).toEqual(new Set(['random', 'zeros', 'text', 'mixed']));
    expect(Math.max(...plans.map((plan) => plan.sizeBytes))).toBeLessThanOrEqual(Math.floor((40 * MIB) / 3));
  });

  it('is deterministic per seed and differs between seeds', () => {
    expect(planFiles(7, 8 * MIB)).toEqual(planFiles(7, 8 * MIB));
    expect(planFiles(7, 8 * MIB)).not.toEqual(planFiles(8, 8 * MIB));
    const plan = planFiles(7, 8 * MIB).find((candidate) => candidate.pattern === 'random' && candidate.sizeBytes > 4096)!;
    expect(plan).toBeDefined();
    expect(sha256Hex(generateContent(plan))).toBe(sha256Hex(generateContent(plan)));
    expect(sha256Hex(generateContent(plan))).not.toBe(sha256Hex(generateContent({ ...plan, seed: plan.seed + 1 })));
  });

  it('generates exactly sizeBytes in each pattern, in bounded chunks', () => {
    for (const pattern of ['random', 'zeros', 'text', 'mixed'] as const) {
      const sizeBytes = 2 * CHUNK_BYTES + 12345;
      const chunks = [...generateContent({ name: 'x', sizeBytes, pattern, seed: 1 })];
      expect(chunks.every((chunk) => chunk.byteLength <= CHUNK_BYTES)).toBe(true);
      const all = Buffer.concat(chunks);
      expect(all.byteLength).toBe(sizeBytes);
      const zeroBytes = all.reduce((count, byte) => count + (byte === 0 ? 1 : 0), 0);
      if (pattern === 'zeros') expect(zeroBytes).toBe(sizeBytes);
      if (pattern === 'random') expect(zeroBytes).toBeLessThan(sizeBytes / 100);
      if (pattern === 'mixed') expect(zeroBytes / sizeBytes).toBeGreaterThan(0.4);
      if (pattern === 'text') expect(all.toString('latin1', 0, 40)).toMatch(/^x line 0: the quick brown fox/);
    }
    expect([...generateContent({ name: 'x', sizeBytes: 0, pattern: 'random', seed: 1 })]).toEqual([]);
  });

  it('hashes and counts what passes through', () => {
    const plan = { name: 'y', sizeBytes: CHUNK_BYTES + 1, pattern: 'mixed' as const, seed: 3 };
    const hash = createHash('sha256');
    let counted = 0;
    const copy = Buffer.concat([...hashing(generateContent(plan), hash, (length) => (counted += length))]);
    expect(counted).toBe(plan.sizeBytes);
    expect(hash.digest('hex')).toBe(createHash('sha256').update(copy).digest('hex'));
  });

  it('draws uniformly enough from the generator', () => {
    const random = createRandom(1);
    const buckets = new Array<number>(16).fill(0);
    for (let index = 0; index < 16_000; index += 1) buckets[random() >>> 28]! += 1;
    expect(Math.min(...buckets)).toBeGreaterThan(800);
    expect(Math.max(...buckets)).toBeLessThan(1200);
  });
});
