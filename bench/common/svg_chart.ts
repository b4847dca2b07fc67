// A bar chart of one benchmark's results as a self-contained SVG (no dependencies), written
// next to its JSON: bench/results/NAME.svg. One panel per metric (GB/s, operations/s); in each,
// one group of horizontal bars per case, one bar per implementation, elastripe's in colour and
// the peers' (fio, btrfs, ISA-L, other libraries, an older build) in greys, so "elastripe vs
// peers" reads at a glance. A row that could not run shows its error instead of a bar. A panel
// whose values span more than RANGE_FOR_LOG_SCALE uses a log scale and says so on its axis.
//
//   node dist/bench/common/svg_chart.js bench/results/*.json   re-renders charts from JSON files
import { readFileSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import type { BenchMeta, BenchResult } from '../common.js';

/** The metrics charted, in panel order, with their axis label. */
export const CHART_METRICS = [
  { field: 'dataGBps', label: 'GB/s (1e9 bytes/s), higher is better' },
  { field: 'opsPerSec', label: 'operations/s, higher is better' },
] as const;

/** Implementations that are not elastripe: other tools, libraries and older builds. */
export const PEER_PATTERN = /^(fio|btrfs|md|mdadm|zfs|isa|isal|ronomon|digitaldefiance|jerasure|before@|baseline|kernel|dd)/i;

const RANGE_FOR_LOG_SCALE = 100;
const WIDTH = 1100;
const LABEL_WIDTH = 300;
const VALUE_WIDTH = 220;
const BAR_HEIGHT = 14;
const BAR_GAP = 3;
const GROUP_GAP = 10;
const OWN_COLOURS = ['#1f77b4', '#2ca02c', '#9467bd', '#17becf', '#d62728', '#bcbd22', '#e377c2', '#8c564b'];
const PEER_COLOURS = ['#7f7f7f', '#b0b0b0', '#595959', '#cfcfcf', '#969696'];

export function isPeer(impl: string): boolean {
  return PEER_PATTERN.test(impl);
}

/** XML text and attribute escaping. */
export function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!);
}

function clip(text: string, chars: number): string {
  return text.length <= chars ? text : `${text.slice(0, chars - 1)}…`;
}

/** A number as a bar's label: three significant digits, thousands grouped. */
export function formatValue(value: number): string {
  if (value >= 1000) return Math.round(value).toLocaleString('en-US');
  return Number(value.toPrecision(3)).toString();
}

interface Bar {
  impl: string;
  value?: number;
  error?: string;
}

interface Panel {
  label: string;
  cases: { name: string; bars: Bar[] }[];
  logScale: boolean;
  max: number;
  min: number;
}

function numberOf(row: BenchResult, field: string): number | undefined {
  const value = row[field];
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? value : undefined;
}

/** The rows of each metric, grouped by case; rows with an error go to the first panel their case is in. */
function panelsOf(results: readonly BenchResult[]): Panel[] {
  const panels: Panel[] = [];
  const placed = new Set<BenchResult>();
  for (const metric of CHART_METRICS) {
    const cases = new Map<string, Bar[]>();
    for (const row of results) {
      const value = numberOf(row, metric.field);
      if (value === undefined || placed.has(row)) continue;
      placed.add(row);
      cases.set(row.case, [...(cases.get(row.case) ?? []), { impl: row.impl, value }]);
    }
    for (const row of results) {
      if (placed.has(row) || !row.error || !cases.has(row.case)) continue;
      placed.add(row);
      cases.get(row.case)!.push({ impl: row.impl, error: String(row.error) });
    }
    const values = [...cases.values()].flat().flatMap((bar) => (bar.value === undefined ? [] : [bar.value]));
    if (values.length === 0) continue;
    const max = Math.max(...values);
    const min = Math.min(...values);
    panels.push({ label: metric.label, cases: [...cases].map(([name, bars]) => ({ name, bars })), logScale: max / min > RANGE_FOR_LOG_SCALE, max, min });
  }
  // Cases that only failed: one panel listing them, so a run that measured nothing still says why.
  const failed = new Map<string, Bar[]>();
  for (const row of results) {
    if (placed.has(row) || !row.error) continue;
    failed.set(row.case, [...(failed.get(row.case) ?? []), { impl: row.impl, error: String(row.error) }]);
  }
  if (failed.size > 0) panels.push({ label: 'not measured', cases: [...failed].map(([name, bars]) => ({ name, bars })), logScale: false, max: 1, min: 1 });
  return panels;
}

/** The bar's length as a fraction of the plot width. */
function fraction(panel: Panel, value: number): number {
  if (!panel.logScale) return value / panel.max;
  // Log scale from a decade below the smallest value, so the smallest bar is still visible.
  const low = Math.log10(panel.min) - 1;
  return (Math.log10(value) - low) / (Math.log10(panel.max) - low);
}

/** Colours by implementation: elastripe's from one palette, the peers' from greys, in order of appearance. */
function coloursOf(results: readonly BenchResult[]): Map<string, string> {
  const colours = new Map<string, string>();
  let own = 0;
  let peer = 0;
  for (const row of results) {
    if (colours.has(row.impl)) continue;
    colours.set(row.impl, isPeer(row.impl) ? PEER_COLOURS[peer++ % PEER_COLOURS.length]! : OWN_COLOURS[own++ % OWN_COLOURS.length]!);
  }
  return colours;
}

/** The chart of one benchmark's results as an SVG document. */
export function renderChart(name: string, results: readonly BenchResult[], meta?: Partial<BenchMeta>): string {
  const colours = coloursOf(results);
  const panels = panelsOf(results);
  const plotWidth = WIDTH - LABEL_WIDTH - VALUE_WIDTH - 20;
  const parts: string[] = [];
  let y = 28;
  parts.push(`<text x="10" y="${y}" font-size="18" font-weight="bold">${escapeXml(`${name}: throughput by case`)}</text>`);
  const machine = meta ? [meta.cpu, meta.cores && `${meta.cores} cores`, meta.kernel && `Linux ${meta.kernel}`, meta.node && `Node ${meta.node}`, meta.date].filter(Boolean).join(', ') : '';
  if (machine) parts.push(`<text x="10" y="${(y += 18)}" font-size="11" fill="#555">${escapeXml(machine)}</text>`);
  // Legend: one swatch per implementation, peers marked.
  y += 14;
  let x = 10;
  for (const [impl, colour] of colours) {
    const label = `${impl}${isPeer(impl) ? ' (peer)' : ''}`;
    const width = 26 + label.length * 6.2;
    if (x + width > WIDTH - 10) {
      x = 10;
      y += 18;
    }
    parts.push(`<rect x="${x}" y="${y}" width="12" height="12" fill="${colour}"/><text x="${x + 16}" y="${y + 10}" font-size="11">${escapeXml(label)}</text>`);
    x += Math.round(width);
  }
  y += 24;
  if (panels.length === 0) parts.push(`<text x="10" y="${(y += 16)}" font-size="12">no rows to chart</text>`);
  for (const panel of panels) {
    parts.push(`<text x="10" y="${(y += 14)}" font-size="13" font-weight="bold">${escapeXml(panel.label)}${panel.logScale ? ' (log scale)' : ''}</text>`);
    y += 8;
    for (const group of panel.cases) {
      const groupHeight = group.bars.length * (BAR_HEIGHT + BAR_GAP) - BAR_GAP;
      parts.push(`<text x="${LABEL_WIDTH - 8}" y="${y + groupHeight / 2 + 4}" font-size="11" text-anchor="end"><title>${escapeXml(group.name)}</title>${escapeXml(clip(group.name, 46))}</text>`);
      for (const bar of group.bars) {
        const colour = colours.get(bar.impl)!;
        if (bar.value === undefined) {
          parts.push(`<text x="${LABEL_WIDTH}" y="${y + BAR_HEIGHT - 3}" font-size="10" fill="#a00"><title>${escapeXml(bar.error ?? '')}</title>${escapeXml(clip(`${bar.impl}: ${bar.error ?? 'no result'}`, 110))}</text>`);
        } else {
          const length = Math.max(1, fraction(panel, bar.value) * plotWidth);
          parts.push(
            `<rect x="${LABEL_WIDTH}" y="${y}" width="${length.toFixed(1)}" height="${BAR_HEIGHT}" fill="${colour}"><title>${escapeXml(`${bar.impl}: ${bar.value}`)}</title></rect>` +
              `<text x="${(LABEL_WIDTH + length + 4).toFixed(1)}" y="${y + BAR_HEIGHT - 3}" font-size="10">${escapeXml(`${formatValue(bar.value)} ${bar.impl}`)}</text>`,
          );
        }
        y += BAR_HEIGHT + BAR_GAP;
      }
      y += GROUP_GAP;
    }
    y += 10;
  }
  const height = Math.ceil(y + 10);
  return (
    `<?xml version="1.0" encoding="UTF-8"?>\n` +
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif">\n` +
    `<rect width="100%" height="100%" fill="white"/>\n${parts.join('\n')}\n</svg>\n`
  );
}

/** Writes the chart of `results` to `svgPath` (bench/results/NAME.svg next to NAME.json). */
export function writeChart(svgPath: string, name: string, results: readonly BenchResult[], meta?: Partial<BenchMeta>): string {
  writeFileSync(svgPath, renderChart(name, results, meta));
  return svgPath;
}

/** Re-renders the chart of a results JSON file (written by writeResults) next to it. */
export function chartFromJson(jsonPath: string): string {
  const parsed = JSON.parse(readFileSync(jsonPath, 'utf8')) as { meta?: BenchMeta; results?: BenchResult[] };
  const name = jsonPath.replace(/^.*\//, '').replace(/\.json$/, '');
  return writeChart(jsonPath.replace(/\.json$/, '.svg'), name, parsed.results ?? [], parsed.meta);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  for (const path of process.argv.slice(2)) console.log(`wrote ${chartFromJson(path)}`);
}
