// serve's HTTP listener: /metrics is valid Prometheus text (checked by a strict parser of the
// exposition format, written here), /status.json is the document `status --json` prints, and
// the token guards every request when one is set (a non-loopback address needs one).
import { writeFileSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MIB, patternBytes, TempDir } from '../helpers/temp_array.js';
import { assertBuilt, parseJson, runCli } from './run_cli.js';
import { startServe, useServeCleanup } from './serve_harness.js';

assertBuilt();
useServeCleanup();

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

interface Family {
  name: string;
  type: string;
  help: string;
  samples: Sample[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

/**
 * Parses the Prometheus text exposition format (0.0.4) strictly: every line is a HELP, a TYPE
 * or a sample; HELP and TYPE come once per family, before its samples; a family's samples are
 * contiguous; names and label names are well formed; label values are quoted with only \\, \"
 * and \n escapes; values are Go floats; no series appears twice; the text ends with a newline.
 */
function parsePrometheus(text: string): Map<string, Family> {
  if (!text.endsWith('\n')) throw new Error('exposition must end with a newline');
  const families = new Map<string, Family>();
  const seen = new Set<string>();
  let current: Family | undefined;
  const family = (name: string): Family => {
    let entry = families.get(name);
    if (entry === undefined) {
      entry = { name, type: 'untyped', help: '', samples: [] };
      families.set(name, entry);
    } else if (entry !== current) {
      throw new Error(`family ${name} is not contiguous`);
    }
    current = entry;
    return entry;
  };
  for (const [index, line] of text.slice(0, -1).split('\n').entries()) {
    const where = `line ${index + 1} '${line}'`;
    if (line === '') throw new Error(`${where}: empty line`);
    const meta = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
    if (meta) {
      const [, kind, name, rest] = meta as unknown as [string, string, string, string];
      if (!METRIC_NAME.test(name)) throw new Error(`${where}: bad metric name`);
      const entry = family(name);
      if (entry.samples.length > 0) throw new Error(`${where}: ${kind} after samples`);
      if (kind === 'TYPE') {
        if (!TYPES.has(rest)) throw new Error(`${where}: unknown type`);
        entry.type = rest;
      } else {
        if (/\\[^\\n]/.test(rest.replace(/\\\\/g, ''))) throw new Error(`${where}: bad escape in HELP`);
        entry.help = rest;
      }
      continue;
    }
    if (line.startsWith('#')) continue; // a comment
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)( -?\d+)?$/.exec(line);
    if (!sample) throw new Error(`${where}: not a sample`);
    const [, name, labelText, valueText] = sample as unknown as [string, string, string | undefined, string];
    const labels = parseLabels(labelText ?? '', where);
    if (!/^([+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|NaN|[+-]Inf)$/.test(valueText)) throw new Error(`${where}: bad value`);
    const value = valueText === '+Inf' ? Infinity : valueText === '-Inf' ? -Infinity : Number(valueText);
    const entry = family(name);
    if (entry.type === 'counter' && !(value >= 0)) throw new Error(`${where}: a counter must be >= 0`);
    const key = `${name}${JSON.stringify(Object.entries(labels).sort())}`;
    if (seen.has(key)) throw new Error(`${where}: duplicate series`);
    seen.add(key);
    entry.samples.push({ name, labels, value });
  }
  return families;
}

function parseLabels(text: string, where: string): Record<string, string> {
  const labels: Record<string, string> = {};
  if (text === '') return labels;
  let rest = text.slice(1, -1);
  while (rest.length > 0) {
    const match = /^([^=]+)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)/.exec(rest);
    if (!match) throw new Error(`${where}: bad labels at '${rest}'`);
    const [whole, name, raw] = match as unknown as [string, string, string];
    if (!LABEL_NAME.test(name) || name.startsWith('__')) throw new Error(`${where}: bad label name ${name}`);
    if (name in labels) throw new Error(`${where}: label ${name} twice`);
    labels[name] = raw.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    rest = rest.slice(whole.length);
  }
  return labels;
}

describe('strict Prometheus parser (test of the test)', () => {
  it('refuses what Prometheus would refuse', () => {
    const good = '# HELP a_total A.\n# TYPE a_total counter\na_total{x="1"} 3\n';
    expect(parsePrometheus(good).get('a_total')!.samples[0]!.value).toBe(3);
    for (const bad of [
      '# TYPE a gauge\na 1', // no final newline
      '# TYPE a gauge\na{x="1} 1\n', // unterminated value
      '# TYPE a gauge\na{1x="1"} 1\n', // bad label name
      '# TYPE a gauge\na 1 2 3\n', // junk
      '# TYPE a gauge\na one\n', // bad value
      '# TYPE a gauge\na 1\na 2\n', // duplicate series
      '# TYPE a gauge\na 1\n# TYPE b gauge\nb 1\na{x="2"} 1\n', // not contiguous
      '# TYPE a counter\na -1\n', // negative counter
      '# TYPE a gauge\na{x="\\q"} 1\n', // bad escape
      '# TYPE a gauge\n\na 1\n', // empty line
    ]) {
      expect(() => parsePrometheus(bad), bad).toThrow();
    }
  });
});

let dir: TempDir;
/** The status of a GET whose request target is sent exactly as given (fetch would normalize it). */
function rawGetStatus(base: string, path: string): Promise<number> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    httpGet({ hostname, port, path }, (response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
    }).on('error', reject);
  });
}

beforeEach(() => {
  dir = new TempDir();
});
afterEach(() => dir.remove());

describe('serve --listen', () => {
  it('answers /metrics in valid Prometheus text and /status.json as status --json prints it', async () => {
    const home = dir.file('home');
    const devices = [0, 1, 2, 3].map((i) => dir.file(`d"${i}\\.img`)); // label values that need escapes
    expect((await runCli(['create', '--home', home, '--workers', '1', '--size', '96M', ...devices])).exitCode).toBe(0);
    const serve = await startServe(home, ['--listen', '127.0.0.1:0']);
    expect(serve.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    writeFileSync(dir.file('in.bin'), patternBytes(8 * MIB, 5));
    expect((await runCli(['put', '--home', home, 'f', dir.file('in.bin')])).exitCode).toBe(0);
    expect((await runCli(['get', '--home', home, 'f', dir.file('out.bin')])).exitCode).toBe(0);

    const response = await fetch(new URL('metrics', serve.url));
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const families = parsePrometheus(await response.text());
    const value = (name: string, labels: Record<string, string> = {}): number[] =>
      families.get(name)!.samples.filter((sample) => Object.entries(labels).every(([key, wanted]) => sample.labels[key] === wanted)).map((sample) => sample.value);
    for (const name of ['elastripe_device_state', 'elastripe_device_capacity_bytes', 'elastripe_device_used_bytes', 'elastripe_device_read_bytes_total', 'elastripe_device_written_bytes_total',
      'elastripe_device_read_errors_total', 'elastripe_degraded_reads_total', 'elastripe_repaired_blocks_total', 'elastripe_job_done_bytes', 'elastripe_events_total']) {
      expect(families.has(name), name).toBe(true);
    }
    expect(value('elastripe_device_state', { state: 'online' })).toEqual([1, 1, 1, 1]);
    expect(families.get('elastripe_device_state')!.samples.map((sample) => sample.labels['path'])).toContain(devices[0]);
    // 8 MiB of data went through serve onto the devices and came back.
    const written = value('elastripe_device_written_bytes_total').reduce((a, b) => a + b, 0);
    const read = value('elastripe_device_read_bytes_total').reduce((a, b) => a + b, 0);
    expect(written).toBeGreaterThanOrEqual(8 * MIB);
    expect(read).toBeGreaterThanOrEqual(8 * MIB);
    expect(value('elastripe_serve_commands_total', { verb: 'put' })).toEqual([1]);

    const served = (await (await fetch(new URL('status.json', serve.url))).json()) as Record<string, unknown>;
    const printed = parseJson(await runCli(['status', '--home', home, '--json'])) as Record<string, unknown>;
    expect(Object.keys(served)).toEqual(Object.keys(printed));
    expect(served['arrayUuid']).toBe(printed['arrayUuid']);
    expect(served['devices']).toEqual((printed['devices'] as unknown[]).map((device) => expect.objectContaining({ ...(device as object), usedBytes: expect.any(Number), readErrors: expect.any(Number) })));
    const history = (await (await fetch(new URL('history.json', serve.url))).json()) as { samples: unknown[]; events: unknown[] };
    expect(history.samples.length).toBeGreaterThan(0);
    expect((await fetch(new URL('nope', serve.url))).status).toBe(404);
    expect(await rawGetStatus(serve.url!, '//metrics')).toBe(404); // a path, not a host named metrics
    expect(await serve.stop()).toBe(0);
  }, 240_000);

  it('needs --token for an address other machines reach, and then asks every request for it', async () => {
    const home = dir.file('home');
    expect((await runCli(['create', '--home', home, '--workers', '1', '--size', '64M', ...[0, 1, 2].map((i) => dir.file(`d${i}.img`))])).exitCode).toBe(0);
    const open = await runCli(['serve', '--home', home, '--listen', '0.0.0.0:0']);
    expect(open.exitCode).toBe(2);
    expect(open.stderr).toMatch(/^elastripe: USAGE: --listen 0\.0\.0\.0:0 can be reached from other machines: give --token/);
    const malformed = await runCli(['serve', '--home', home, '--listen', 'localhost']);
    expect(malformed.exitCode).toBe(2);
    expect(malformed.stderr).toMatch(/--listen must be HOST:PORT/);

    const token = 'secret-token-1234';
    const serve = await startServe(home, ['--listen', '0.0.0.0:0', '--token', token]);
    const base = serve.url!.replace('0.0.0.0', '127.0.0.1');
    expect((await fetch(new URL('metrics', base))).status).toBe(401);
    expect((await fetch(new URL('metrics?token=wrong-token-12345', base))).status).toBe(401);
    expect((await fetch(new URL('metrics', base), { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
    expect((await fetch(new URL(`status.json?token=${token}`, base))).status).toBe(200);
    const page = await fetch(new URL(`?token=${token}`, base));
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<title>elastripe</title>');
    expect(await serve.stop()).toBe(0);
  }, 240_000);
});
