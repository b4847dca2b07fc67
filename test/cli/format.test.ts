import { describe, expect, it } from 'vitest';
import { displayName, escapeControlCharacters, formatBar, formatBytes, formatDuration, formatPercent, formatRate, formatTable } from '../../src/cli/format.js';

describe('format', () => {
  it('formats bytes in binary units', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(1023)).toBe('1023 B');
    expect(formatBytes(1024)).toBe('1.00 KiB');
    expect(formatBytes(1536)).toBe('1.50 KiB');
    expect(formatBytes(256 * 2 ** 20)).toBe('256.0 MiB');
    expect(formatBytes(3 * 2 ** 30)).toBe('3.00 GiB');
    expect(formatBytes(-2048)).toBe('-2.00 KiB');
    expect(formatBytes(Number.NaN)).toBe('? B');
  });

  it('formats rates in MiB/s', () => {
    expect(formatRate(2 ** 20)).toBe('1.0 MiB/s');
    expect(formatRate(1536 * 2 ** 20)).toBe('1536 MiB/s');
    expect(formatRate(-1)).toBe('? MiB/s');
  });

  it('formats durations', () => {
    expect(formatDuration(850)).toBe('0.8s');
    expect(formatDuration(9_949)).toBe('9.9s');
    expect(formatDuration(42_000)).toBe('42s');
    expect(formatDuration(65_000)).toBe('1m05s');
    expect(formatDuration(3_725_000)).toBe('1h02m05s');
    expect(formatDuration(Infinity)).toBe('?');
  });

  it('draws bars and percentages, clamping the bar', () => {
    expect(formatBar(0, 10)).toBe('[..........]');
    expect(formatBar(0.5, 10)).toBe('[#####.....]');
    expect(formatBar(1, 4)).toBe('[####]');
    expect(formatBar(1.7, 4)).toBe('[####]');
    expect(formatBar(Number.NaN, 4)).toBe('[....]');
    expect(formatPercent(0.4242)).toBe('42.4%');
  });

  it('aligns table columns', () => {
    const table = formatTable(['name', 'size'], [['a', '1'], ['long-name', '12345']], ['left', 'right']);
    expect(table.split('\n')).toEqual(['name        size', 'a              1', 'long-name  12345']);
  });
});

describe('terminal safety', () => {
  it.each([
    ['plain', 'photos.tar', 'photos.tar'],
    ['newline and carriage return', 'a\nb\rc', 'a\\nb\\rc'],
    ['an escape sequence', '\x1b[2J\x1b]0;title\x07', '\\x1b[2J\\x1b]0;title\\x07'],
    ['a tab and NUL', '\t\0', '\\t\\x00'],
    ['DEL and a C1 control (CSI)', '\x7f\x9b', '\\x7f\\x9b'],
    ['a right-to-left override', 'abc\u202egnp.exe', 'abc\\u202egnp.exe'],
    ['unicode text', 'naïve 名前 \u{1F600}', 'naïve 名前 \u{1F600}'],
  ])('escapeControlCharacters: %s', (_label, text, expected) => {
    expect(escapeControlCharacters(text)).toBe(expected);
  });

  it('displayName also doubles backslashes, so every shown name reads back one way', () => {
    expect(displayName('a\\nb')).toBe('a\\\\nb');
    expect(displayName('a\nb')).toBe('a\\nb');
    expect(displayName('a\\nb')).not.toBe(displayName('a\nb'));
  });
});
