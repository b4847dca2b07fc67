import { describe, expect, it } from 'vitest';
import { ProgressBar } from '../../src/cli/progress.js';
import { parseCommandLine, type CommandLine } from '../../src/cli/args.js';
import { startProgress, type CommandContext } from '../../src/cli/context.js';

const MIB = 2 ** 20;

/** A stderr stand-in that records writes, with a clock the test moves. */
function fakeStream(isTTY: boolean, columns?: number) {
  const writes: string[] = [];
  return { writes, stream: { isTTY, columns, write: (text: string) => writes.push(text) } };
}

function clock() {
  let now = 1000;
  return { nowMs: () => now, advance: (ms: number) => (now += ms) };
}

describe('ProgressBar', () => {
  it('prints a few plain lines at each quarter when stderr is not a terminal', () => {
    const { writes, stream } = fakeStream(false);
    const time = clock();
    const bar = new ProgressBar({ label: 'put big', stream, totalBytes: 100 * MIB, nowMs: time.nowMs });
    for (let done = 1; done <= 100; done += 1) {
      time.advance(10);
      bar.update(done * MIB);
    }
    bar.finish();
    expect(writes).toHaveLength(4); // 25%, 50%, 75%, and the final line
    expect(writes.every((line) => line.endsWith('\n') && !line.includes('\r'))).toBe(true);
    expect(writes[0]).toMatch(/^put big   25% \[#####\.+\]  25\.00 MiB \/ 100\.0 MiB  100 MiB\/s  ETA 0\.8s\n$/);
    expect(writes[3]).toMatch(/100% \[#{20}\]  100\.0 MiB \/ 100\.0 MiB  100 MiB\/s  in 1\.0s/);
  });

  it('redraws one line in place on a terminal, throttled, and fits the width', () => {
    const { writes, stream } = fakeStream(true, 60);
    const time = clock();
    const bar = new ProgressBar({ label: 'get x', stream, totalBytes: 10 * MIB, nowMs: time.nowMs });
    for (let done = 1; done <= 10; done += 1) {
      time.advance(50);
      bar.update(done * MIB);
    }
    bar.finish();
    expect(writes.length).toBe(6); // every other update (100 ms apart) plus the final line
    expect(writes.every((text) => text.startsWith('\r'))).toBe(true);
    expect(writes.every((text) => text.replace(/\r|\x1b\[K|\n/g, '').length < 60)).toBe(true);
    expect(writes.at(-1)!.endsWith('\x1b[K\n')).toBe(true);
  });

  it('stays quiet for quick work when delayed', () => {
    const { writes, stream } = fakeStream(true);
    const time = clock();
    const bar = new ProgressBar({ label: 'put small', stream, totalBytes: MIB, delayMs: 1000, nowMs: time.nowMs });
    time.advance(300);
    bar.update(MIB);
    bar.finish();
    expect(writes).toEqual([]);
  });

  it('shows bytes and rate without a bar when the total is unknown', () => {
    const { writes, stream } = fakeStream(false);
    const time = clock();
    const bar = new ProgressBar({ label: 'put -', stream, nowMs: time.nowMs });
    time.advance(6000);
    bar.update(60 * MIB);
    time.advance(1000);
    bar.update(70 * MIB); // within the 5 s plain interval: no line
    bar.finish();
    expect(writes).toEqual(['put -  60.00 MiB  10.0 MiB/s\n', 'put -  100% [####################]  70.00 MiB / 70.00 MiB  10.0 MiB/s  in 7.0s\n']);
  });

  it('ends an abandoned terminal line so an error starts on its own line', () => {
    const { writes, stream } = fakeStream(true);
    const time = clock();
    const bar = new ProgressBar({ label: 'get x', stream, totalBytes: MIB, nowMs: time.nowMs });
    time.advance(500);
    bar.update(MIB / 2);
    bar.abandon();
    bar.finish();
    expect(writes).toHaveLength(2);
    expect(writes[1]).toBe('\n');
  });
});

describe('startProgress', () => {
  const context = (extra: Partial<CommandLine>): CommandContext =>
    ({ line: { ...parseCommandLine(['put', 'x', '-', '--home', 'h'], {}), ...extra }, io: { stderr: fakeStream(false).stream }, signal: new AbortController().signal }) as unknown as CommandContext;

  it('draws a bar unless --quiet or --json asked for none', () => {
    expect(startProgress(context({}), 'put x', 10)).toBeInstanceOf(ProgressBar);
    expect(startProgress(context({ quiet: true }), 'put x', 10)).toBeUndefined();
    expect(startProgress(context({ json: true }), 'put x', 10)).toBeUndefined();
    expect(parseCommandLine(['put', 'x', '-', '--quiet', '--home', 'h'], {}).quiet).toBe(true);
  });
});
