// The command line as users get it wrong: every usage error exits 2 with a message and a usage
// line on stderr and nothing on stdout; --help and --version exit 0. No array is needed.
import { beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt, parseJson, runCli } from './run_cli.js';

beforeAll(assertBuilt);

describe('elastripe usage errors', () => {
  it.each([
    [[], /no verb given/, /usage: elastripe <verb>/],
    [['frobnicate'], /unknown verb 'frobnicate'/, /usage: elastripe <verb>/],
    [['ls', '--home', '/nonexistent', '--frob'], /unknown option '--frob'/, /usage: elastripe/],
    [['put', '--home', '/nonexistent'], /'put' needs NAME/, /usage: elastripe put NAME \[FILE\|-\]/],
    [['stat', '--home', '/nonexistent'], /'stat' needs NAME/, /usage: elastripe stat NAME/],
    [['create', 'a.img', 'b.img', '--home', '/nonexistent', '--parity', '5'], /--parity must be between 1 and 3/, /usage: elastripe create DEVICE\.\.\./],
    [['create', 'a.img', 'b.img', '--home', '/nonexistent', '--parity', 'x'], /--parity must be a whole number/, /usage: elastripe create/],
    [['create', 'a.img', 'b.img', '--home', '/nonexistent', '--size', '12XB'], /--size must be a size such as/, /usage: elastripe create/],
    [['status'], /no array home: pass --home DIR or set ELASTRIPE_HOME/, /usage: elastripe status/],
    [['fsck', '--home', '/nonexistent', '--force'], /option --force does not apply to 'fsck'/, /usage: elastripe fsck/],
  ])('%j exits 2', async (args, message, usage) => {
    const result = await runCli(args);
    expect(result.exitCode).toBe(2);
    expect(result.stdout.length).toBe(0);
    const [first, second] = result.stderr.trimEnd().split('\n');
    expect(first).toMatch(/^elastripe: USAGE: /);
    expect(first).toMatch(message);
    expect(second).toMatch(usage);
    expect(result.stderr).not.toMatch(/\n\s+at /); // no stack without --debug
  });

  it('reports a usage error as JSON too with --json', async () => {
    const result = await runCli(['ls', '--json']);
    expect(result.exitCode).toBe(2);
    expect(parseJson(result)).toEqual({ error: { code: 'USAGE', message: expect.stringMatching(/no array home/), exitCode: 2 } });
  });

  it('prints help and the version', async () => {
    const help = await runCli(['help']);
    expect(help.exitCode).toBe(0);
    for (const verb of ['create', 'put', 'get', 'ls', 'rm', 'stat', 'status', 'fsck', 'demo']) expect(help.stdout.toString()).toMatch(new RegExp(`^  ${verb} `, 'm'));
    const putHelp = await runCli(['put', '--help']);
    expect(putHelp.exitCode).toBe(0);
    expect(putHelp.stdout.toString()).toMatch(/^usage: elastripe put NAME \[FILE\|-\] \[options\]/);
    const helpJson = parseJson(await runCli(['help', 'get', '--json'])) as { verbs: Array<{ verb: string; options: string[] }> };
    expect(helpJson.verbs).toEqual([expect.objectContaining({ verb: 'get', options: ['offset', 'length', 'read-only', 'recursive', 'jobs'] })]);
    const version = await runCli(['--version']);
    expect(version.exitCode).toBe(0);
    expect(version.stdout.toString()).toMatch(/^elastripe \d+\.\d+\.\d+\n$/);
  });

  it('reports an operational failure with exit 1 and its code', async () => {
    const result = await runCli(['ls', '--home', '/nonexistent/elastripe-home']);
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(/^elastripe: [A-Z_]+: .+\n$/);
  });
});
