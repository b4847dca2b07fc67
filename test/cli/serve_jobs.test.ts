// `elastripe serve` and jobs: a stop (SIGTERM) pauses the jobs it runs, and the next start
// continues them; a client's Ctrl-C stops its own command only.
import { writeFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MIB, patternBytes, TempDir } from '../helpers/temp_array.js';
import { assertBuilt, runCli, startCli } from './run_cli.js';
import { startServe, useServeCleanup, waitForStatus } from './serve_harness.js';

assertBuilt();
useServeCleanup();

let dir: TempDir;
beforeEach(() => {
  dir = new TempDir();
});
afterEach(() => dir.remove());

async function imageArray(sizeBytes = '160M'): Promise<string> {
  const home = dir.file('home');
  const created = await runCli(['create', '--home', home, '--workers', '1', '--size', sizeBytes, ...[0, 1, 2, 3].map((i) => dir.file(`d${i}.img`))]);
  expect(created.exitCode).toBe(0);
  return home;
}

describe('elastripe serve and jobs', () => {
  it('SIGTERM during a job: serve exits 0, the client hears why, and the job resumes on the next start', async () => {
    const home = await imageArray();
    const data = patternBytes(24 * MIB, 3);
    writeFileSync(dir.file('in.bin'), data);
    let serve = await startServe(home);
    expect((await runCli(['put', '--home', home, 'f', dir.file('in.bin')])).exitCode).toBe(0);
    const scrub = startCli(['scrub', '--home', home, '--rate', '2M']);
    await waitForStatus(home, (status) => status.jobs.some((job) => job.kind === 'scrub' && job.state === 'running' && (job.progress?.doneBytes ?? 0) > 0));
    expect(await serve.stop('SIGTERM')).toBe(0);
    const client = await scrub.done;
    expect(client.exitCode).toBe(1);
    expect(client.stderr).toMatch(/elastripe: ABORTED: elastripe serve is stopping \(SIGTERM\)/);

    serve = await startServe(home);
    expect(serve.log()).toContain('resuming scrub');
    const status = await waitForStatus(home, (doc) => doc.jobs[0]?.kind === 'scrub' && doc.jobs[0].state === 'done', 90_000);
    expect(status.jobs[0]!.kind).toBe('scrub');
    expect(await serve.stop('SIGINT')).toBe(0);
    const back = await runCli(['get', '--home', home, 'f', '-']);
    expect(back.stdout.equals(data)).toBe(true);
  }, 300_000);

  it('Ctrl-C on a client stops its command only; serve keeps serving and does not resume it', async () => {
    const home = await imageArray('96M');
    writeFileSync(dir.file('in.bin'), patternBytes(24 * MIB, 9));
    const serve = await startServe(home);
    expect((await runCli(['put', '--home', home, 'f', dir.file('in.bin')])).exitCode).toBe(0);
    const scrub = startCli(['scrub', '--home', home, '--rate', '2M']);
    await waitForStatus(home, (status) => status.jobs.some((job) => job.kind === 'scrub' && job.state === 'running'));
    scrub.child.kill('SIGINT');
    const client = await scrub.done;
    expect(client.exitCode).toBe(1);
    expect(client.stderr).toContain('elastripe: ABORTED: interrupted by the user');
    const status = await waitForStatus(home, (doc) => doc.jobs[0]?.state === 'aborted');
    expect(status.jobs[0]!.kind).toBe('scrub');
    expect(await serve.stop()).toBe(0);
    const again = await startServe(home);
    expect(again.log()).not.toContain('resuming');
    expect(await again.stop()).toBe(0);
  }, 300_000);

});
