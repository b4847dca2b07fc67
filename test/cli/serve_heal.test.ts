// With `elastripe serve` running on NBD devices, an nbdkit server is killed: within seconds
// status (through the socket) shows the device gone and a rebuild the array started by itself
// (serve opens it with the heal policies on), then done, and every byte reads back — no
// rebuild command typed.
import { writeFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect } from 'vitest';
import { startNbdkit, type NbdkitServer } from '../helpers/nbdkit.js';
import { nbdkitPrerequisite } from '../helpers/prerequisites.js';
import { MIB, patternBytes, TempDir } from '../helpers/temp_array.js';
import { assertBuilt, runCli } from './run_cli.js';
import { startServe, useServeCleanup, waitForStatus } from './serve_harness.js';

assertBuilt();
useServeCleanup();

let dir: TempDir;
let servers: NbdkitServer[] = [];
beforeEach(() => {
  dir = new TempDir();
});
afterEach(async () => {
  await Promise.all(servers.map((server) => server.stop()));
  servers = [];
  dir.remove();
});

describe('serve heals', () => {
  nbdkitPrerequisite().it('a killed nbdkit device: status shows it gone and a policy rebuild, then done; the data is intact', async () => {
    servers = await Promise.all([0, 1, 2, 3, 4].map(() => startNbdkit({ plugin: 'memory', parameters: ['size=64M'] })));
    const home = dir.file('home');
    const created = await runCli(['create', '--home', home, '--workers', '1', ...servers.map((server) => server.url)]);
    expect(created.stderr).toBe('');
    expect(created.exitCode).toBe(0);
    const serve = await startServe(home);
    const data = patternBytes(12 * MIB + 777, 21);
    writeFileSync(dir.file('in.bin'), data);
    expect((await runCli(['put', '--home', home, 'f', dir.file('in.bin')])).exitCode).toBe(0);

    const victim = servers[2]!;
    victim.kill();
    const noticed = await waitForStatus(home, (status) => status.devices.some((device) => device.path === victim.url && device.state !== 'online'), 60_000);
    expect(noticed.devices.find((device) => device.path === victim.url)!.state).toMatch(/missing|failed/);
    const healed = await waitForStatus(home, (status) => status.jobs.some((job) => job.kind === 'rebuild' && job.state === 'done'), 180_000);
    expect(healed.jobs.find((job) => job.kind === 'rebuild')!.state).toBe('done');
    expect(serve.log()).toMatch(/event jobStarted jobId=\d+ kind=rebuild trigger=policy/);

    const back = await runCli(['get', '--home', home, 'f', '-']);
    expect(back.exitCode).toBe(0);
    expect(back.stdout.equals(data)).toBe(true);
    const fsck = await runCli(['fsck', '--home', home, '--deep']);
    expect(fsck.exitCode).toBe(0);
    expect(await serve.stop()).toBe(0);
  }, 300_000);
});
