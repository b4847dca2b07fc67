// serve's live status page in a real browser (Debian's chromium, headless): it loads, its script
// fetches the array's status and draws the devices and a running job; a screenshot is kept in
// the test's output directory (its path is printed).
import { execFile } from 'node:child_process';
import { mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect } from 'vitest';
import { chromiumPrerequisite } from '../helpers/prerequisites.js';
import { MIB, patternBytes, TempDir } from '../helpers/temp_array.js';
import { assertBuilt, runCli, startCli } from './run_cli.js';
import { startServe, useServeCleanup, waitForStatus } from './serve_harness.js';

assertBuilt();
useServeCleanup();
const run = promisify(execFile);

let dir: TempDir;
beforeEach(() => {
  dir = new TempDir();
});
afterEach(() => dir.remove());

/** Headless chromium on `url`; the page's script gets `budgetMs` of virtual time to run. */
function chromium(args: string[], url: string, budgetMs = 4000): Promise<{ stdout: string }> {
  return run('chromium', ['--headless=new', '--no-sandbox', '--disable-gpu', '--no-first-run', `--virtual-time-budget=${budgetMs}`, ...args, url], {
    timeout: 90_000,
    maxBuffer: 16 * MIB,
  });
}

describe('the status page', () => {
  chromiumPrerequisite().it('shows the devices and a running job in headless chromium', async () => {
    const home = dir.file('home');
    const devices = [0, 1, 2, 3].map((i) => dir.file(`d${i}.img`));
    expect((await runCli(['create', '--home', home, '--workers', '1', '--size', '96M', ...devices])).exitCode).toBe(0);
    const serve = await startServe(home, ['--listen', '127.0.0.1:0']);
    writeFileSync(dir.file('in.bin'), patternBytes(24 * MIB, 11));
    expect((await runCli(['put', '--home', home, 'f', dir.file('in.bin')])).exitCode).toBe(0);
    // A slow scrub through the socket is the running job.
    const scrub = startCli(['scrub', '--home', home, '--rate', '1M']);
    await waitForStatus(home, (status) => status.jobs.some((job) => job.kind === 'scrub' && job.state === 'running'));

    const { stdout: dom } = await chromium(['--dump-dom'], serve.url!);
    expect(dom).toContain('<body data-loaded="true"');
    for (const [i, path] of devices.entries()) {
      expect(dom).toContain(`<tr data-device="${i + 1}" data-state="online">`);
      expect(dom).toContain(path);
    }
    expect(dom).toMatch(/<tr data-job="\d+" data-kind="scrub" data-state="running">/);
    expect(dom).toContain('jobStarted');

    const output = mkdtempSync(join(tmpdir(), 'elastripe-serve-page-'));
    const screenshot = join(output, 'status_page.png');
    await chromium(['--hide-scrollbars', '--window-size=1280,900', `--screenshot=${screenshot}`], serve.url!);
    expect(statSync(screenshot).size).toBeGreaterThan(10_000);
    console.log(`status page screenshot: ${screenshot}`);

    scrub.child.kill('SIGINT');
    await scrub.done;
    expect(await serve.stop()).toBe(0);
  }, 300_000);
});
