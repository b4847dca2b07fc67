// Human-readable numbers for the CLI: byte counts and rates in binary units (what storage
// people compare against device sizes), durations, percentages and plain-text tables.

const BYTE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'] as const;
const KIB_BYTES = 1024;
const MIB_BYTES = 1024 * 1024;

/** 0 → "0 B", 1536 → "1.50 KiB", 3 GiB → "3.00 GiB"; three significant digits above bytes. */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes)) return '? B';
  const sign = bytes < 0 ? '-' : '';
  let value = Math.abs(bytes);
  let unitIndex = 0;
  while (value >= KIB_BYTES && unitIndex < BYTE_UNITS.length - 1) {
    value /= KIB_BYTES;
    unitIndex += 1;
  }
  if (unitIndex === 0) return `${sign}${value} B`;
  const digits = value >= 100 ? 1 : 2;
  return `${sign}${value.toFixed(digits)} ${BYTE_UNITS[unitIndex]}`;
}

/** Bytes per second as MiB/s, the unit the benchmarks report in. */
export function formatRate(bytesPerSecond: number): string {
  if (!Number.isFinite(bytesPerSecond) || bytesPerSecond < 0) return '? MiB/s';
  const mibPerSecond = bytesPerSecond / MIB_BYTES;
  const digits = mibPerSecond >= 100 ? 0 : 1;
  return `${mibPerSecond.toFixed(digits)} MiB/s`;
}

/** 850 → "0.9s", 65_000 → "1m05s", 3_725_000 → "1h02m05s". */
export function formatDuration(durationMs: number): string {
  if (!Number.isFinite(durationMs) || durationMs < 0) return '?';
  if (durationMs < 10_000) return `${(durationMs / 1000).toFixed(1)}s`;
  const totalSeconds = Math.round(durationMs / 1000);
  const hours = Math.floor(totalSeconds / 3600);
  const minutes = Math.floor((totalSeconds % 3600) / 60);
  const seconds = totalSeconds % 60;
  const mm = String(minutes).padStart(2, '0');
  const ss = String(seconds).padStart(2, '0');
  if (hours > 0) return `${hours}h${mm}m${ss}s`;
  if (minutes > 0) return `${minutes}m${ss}s`;
  return `${seconds}s`;
}

/** A fraction 0..1 as "42.0%"; values outside are shown as they are (an overfull device). */
export function formatPercent(fraction: number): string {
  if (!Number.isFinite(fraction)) return '?%';
  return `${(fraction * 100).toFixed(1)}%`;
}

/** `[#####.....]` with `cellCount` cells inside the brackets; the fraction is clamped to 0..1. */
export function formatBar(fraction: number, cellCount: number): string {
  const clamped = Number.isFinite(fraction) ? Math.min(1, Math.max(0, fraction)) : 0;
  const filled = Math.round(clamped * cellCount);
  return `[${'#'.repeat(filled)}${'.'.repeat(cellCount - filled)}]`;
}

export type ColumnAlign = 'left' | 'right';

/** Pads every cell to its column's widest cell; columns are separated by two spaces. */
export function formatTable(header: readonly string[], rows: readonly (readonly string[])[], aligns: readonly ColumnAlign[]): string {
  const allRows = [header, ...rows];
  const widths = header.map((_, column) => Math.max(...allRows.map((row) => (row[column] ?? '').length)));
  const lines = allRows.map((row) =>
    row
      .map((cell, column) => (aligns[column] === 'right' ? cell.padStart(widths[column]!) : cell.padEnd(widths[column]!)))
      .join('  ')
      .trimEnd(),
  );
  return lines.join('\n');
}

// Terminal safety. Names and paths are the user's (or anyone's who could write a file name):
// printed raw, a newline forges a line of output and an escape sequence moves the cursor,
// recolours or retitles the terminal. Human output shows them escaped; --json stays exact.
/** C0 controls, DEL, C1 controls, and the bidirectional overrides (right-to-left tricks). */
const CONTROL_CHARACTERS = /[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
const NAMED_ESCAPES: Readonly<Record<string, string>> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

function escapeCharacter(character: string): string {
  const named = NAMED_ESCAPES[character];
  if (named !== undefined) return named;
  const code = character.charCodeAt(0);
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
}

/** Control characters as escapes (\n, \r, \t, \x1b, \u202e) — for messages, which are prose. */
export function escapeControlCharacters(text: string): string {
  return text.replace(CONTROL_CHARACTERS, escapeCharacter);
}

/**
 * A file name or path for human output: control characters escaped and backslashes doubled,
 * so the shown text is unambiguous ("a\\nb" is a backslash and an n; "a\nb" a newline).
 */
export function displayName(name: string): string {
  return escapeControlCharacters(name.replaceAll('\\', '\\\\'));
}
