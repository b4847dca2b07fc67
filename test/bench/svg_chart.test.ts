// The benchmark chart writer (bench/common/svg_chart.ts): a well-formed SVG with one bar per
// measured row, lengths proportional to the values (or log-scaled when they span decades),
// peers in grey, errors shown instead of bars, names escaped.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { BenchResult } from '../../bench/common.js';
import { chartFromJson, escapeXml, formatValue, isPeer, renderChart } from '../../bench/common/svg_chart.js';

/** Checks that every tag is closed in order (what an SVG viewer needs), returning the tag names seen. */
function wellFormed(svg: string): string[] {
  const body = svg.replace(/^<\?xml[^>]*\?>\s*/, '');
  const stack: string[] = [];
  const seen: string[] = [];
  for (const match of body.matchAll(/<(\/?)([a-zA-Z]+)([^>]*?)(\/?)>/g)) {
    const [, closing, name, attributes, selfClosing] = match;
    expect(attributes, `attributes of <${name}> hold a raw < or &`).not.toMatch(/<|&(?!(lt|gt|amp|quot|apos);)/);
    if (closing) expect(stack.pop(), `</${name}> closes the wrong element`).toBe(name);
    else if (!selfClosing) stack.push(name!);
    if (!closing) seen.push(name!);
  }
  expect(stack).toEqual([]);
  // Text between tags carries no raw < or unescaped &.
  for (const text of body.split(/<[^>]*>/)) expect(text).not.toMatch(/&(?!(lt|gt|amp|quot|apos);)/);
  return seen;
}

function barWidths(svg: string): Map<string, number> {
  const widths = new Map<string, number>();
  for (const match of svg.matchAll(/<rect x="\d+" y="[\d.]+" width="([\d.]+)" height="14" fill="(#[0-9a-f]+)"><title>([^<]*)<\/title>/g)) {
    widths.set(match[3]!, Number(match[1]));
  }
  return widths;
}

const rows: BenchResult[] = [
  { case: 'put_1GiB_4dev_p1', impl: 'elastripe', dataGBps: 2 },
  { case: 'put_1GiB_4dev_p1', impl: 'fio', dataGBps: 4 },
  { case: 'put_1GiB_4dev_p1', impl: 'btrfs-raid5', dataGBps: 1 },
  { case: 'get <ranged> & "quoted"', impl: 'elastripe', dataGBps: 3 },
  { case: 'get <ranged> & "quoted"', impl: 'btrfs-raid5', error: 'mkfs.btrfs is not installed' },
  { case: 'small_puts_qd16', impl: 'elastripe', opsPerSec: 5000 },
  { case: 'small_puts_qd16', impl: 'before@abc123', opsPerSec: 1500 },
  { case: 'never_ran', impl: 'elastripe', error: 'loop devices unavailable' },
];

describe('benchmark charts', () => {
  it('draws one bar per measured row, proportional within a linear panel, peers in grey', () => {
    const svg = renderChart('array', rows, { cpu: 'Test CPU', cores: 2, kernel: '6.1', node: 'v20', date: '2026-01-01' });
    const tags = wellFormed(svg);
    expect(tags[0]).toBe('svg');
    const widths = barWidths(svg);
    expect(widths.size).toBe(6);
    // GB/s panel: 4 GB/s is the longest bar, 2 is half, 1 a quarter (max/min = 4: linear).
    expect(widths.get('elastripe: 2')! / widths.get('fio: 4')!).toBeCloseTo(0.5, 2);
    expect(widths.get('btrfs-raid5: 1')! / widths.get('fio: 4')!).toBeCloseTo(0.25, 2);
    // ops/s is its own panel with its own scale.
    expect(widths.get('elastripe: 5000')).toBeCloseTo(widths.get('fio: 4')!, 0);
    expect(svg).toContain('GB/s (1e9 bytes/s)');
    expect(svg).toContain('operations/s');
    expect(svg).not.toContain('log scale');
    // Peers (fio, btrfs, an older build) are grey; elastripe is not.
    const fills = new Map([...svg.matchAll(/fill="(#[0-9a-f]+)"><title>([^:<]*):/g)].map((match) => [match[2]!, match[1]!]));
    for (const peer of ['fio', 'btrfs-raid5', 'before@abc123']) expect(fills.get(peer)).toMatch(/^#([0-9a-f]{2})\1\1$/);
    expect(fills.get('elastripe')).not.toMatch(/^#([0-9a-f]{2})\1\1$/);
    expect(svg).toContain('fio (peer)');
    // Errors appear as text in their case, and a case that only failed still shows up.
    expect(svg).toContain('btrfs-raid5: mkfs.btrfs is not installed');
    expect(svg).toContain('elastripe: loop devices unavailable');
    expect(svg).toContain('get &lt;ranged&gt; &amp; &quot;quoted&quot;');
    expect(svg).toContain('Test CPU, 2 cores');
  });

  it('switches a panel to a log scale when its values span more than 100x, keeping the order', () => {
    const svg = renderChart('allocator', [
      { case: 'derive', impl: 'elastripe', opsPerSec: 2 },
      { case: 'allocate', impl: 'elastripe', opsPerSec: 2_000_000 },
      { case: 'allocate', impl: 'reference', opsPerSec: 20_000 },
    ]);
    wellFormed(svg);
    expect(svg).toContain('operations/s, higher is better (log scale)');
    const widths = barWidths(svg);
    const [small, middle, large] = [widths.get('elastripe: 2')!, widths.get('reference: 20000')!, widths.get('elastripe: 2000000')!];
    expect(small).toBeGreaterThan(1);
    expect(small).toBeLessThan(middle);
    expect(middle).toBeLessThan(large);
    // Log scale from a decade below the smallest: 2 -> 1/7 of the way, 20,000 -> 5/7.
    expect(small / large).toBeCloseTo(1 / 7, 2);
    expect(middle / large).toBeCloseTo(5 / 7, 2);
  });

  it('renders a results JSON file next to it, and says so when there is nothing to chart', () => {
    const directory = mkdtempSync(join(tmpdir(), 'elastripe-chart-'));
    try {
      const json = join(directory, 'io.json');
      writeFileSync(json, JSON.stringify({ meta: { cpu: 'x' }, results: rows }));
      expect(chartFromJson(json)).toBe(join(directory, 'io.svg'));
      const svg = readFileSync(join(directory, 'io.svg'), 'utf8');
      wellFormed(svg);
      expect(svg).toContain('io: throughput by case');
      expect(barWidths(svg).size).toBe(6);
      expect(renderChart('empty', [])).toContain('no rows to chart');
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  });

  it('formats values and escapes text', () => {
    expect(formatValue(1234567.8)).toBe('1,234,568');
    expect(formatValue(2.3456)).toBe('2.35');
    expect(formatValue(0.012345)).toBe('0.0123');
    expect(escapeXml(`a<b>&"c'`)).toBe('a&lt;b&gt;&amp;&quot;c&apos;');
    expect(isPeer('fio')).toBe(true);
    expect(isPeer('isal-sse')).toBe(true);
    expect(isPeer('elastripe-simd')).toBe(false);
    expect(isPeer('uring')).toBe(false);
  });
});
