import { describe, expect, it } from 'vitest';
import { parseCommandLine, parseInteger, parseSizeBytes, UsageError } from '../../src/cli/args.js';
import { runtimeOptions } from '../../src/cli/array_access.js';
import { COMMON_OPTIONS, WORKER_COUNT_MAX } from '../../src/cli/verbs.js';
import { POOL_WORKER_COUNT_MAX } from '../../src/kernels/pool.js';

const ENV = { ELASTRIPE_HOME: '/tmp/elastripe-home-from-env' };

function usageErrorOf(argv: string[], env: Record<string, string | undefined> = ENV): UsageError {
  try {
    parseCommandLine(argv, env);
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError);
    return error as UsageError;
  }
  throw new Error(`expected a usage error for ${argv.join(' ')}`);
}

describe('parseSizeBytes', () => {
  it.each([
    ['0', 0],
    ['4096', 4096],
    ['4096B', 4096],
    ['1K', 1024],
    ['1k', 1024],
    ['512M', 512 * 2 ** 20],
    ['4G', 4 * 2 ** 30],
    ['1.5GiB', 1.5 * 2 ** 30],
    ['10MB', 10_000_000],
    ['2T', 2 * 2 ** 40],
    ['.5M', 2 ** 19],
  ])('%s is %d bytes', (text, bytes) => {
    expect(parseSizeBytes(text)).toBe(bytes);
  });

  it.each(['', 'M', '-1', '1.5', '0.1K', '12Q', '1e3', '1 2M', 'abc', '9999999999P', '0x10'])('rejects %j', (text) => {
    expect(parseSizeBytes(text)).toBeUndefined();
  });
});

describe('parseInteger', () => {
  it('accepts plain decimals only', () => {
    expect(parseInteger('0')).toBe(0);
    expect(parseInteger('255')).toBe(255);
    for (const bad of ['', '-1', '1.0', '+3', '1e2', ' 1', '0x1', '99999999999999999999']) expect(parseInteger(bad)).toBeUndefined();
  });
});

describe('parseCommandLine', () => {
  it('parses create with every option, before and after the verb', () => {
    const line = parseCommandLine(
      ['--home', '/h', 'create', 'a.img', 'b.img', 'c.img', '--parity', '2', '--max-data-width', '6', '--extent-lb-max=64', '--size', '512M', '--force', '--backend', 'fs', '--workers', '0', '--json'],
      {},
    );
    expect(line).toMatchObject({
      verb: 'create', arguments: ['a.img', 'b.img', 'c.img'], home: '/h', parityCount: 2, maxDataWidth: 6, extentLbMax: 64,
      createSizeBytes: 512 * 2 ** 20, force: true, backend: 'fs', workerCount: 0, json: true, debug: false,
    });
  });

  it('takes the home from ELASTRIPE_HOME, and --home over it', () => {
    expect(parseCommandLine(['ls'], ENV).home).toBe(ENV.ELASTRIPE_HOME);
    expect(parseCommandLine(['ls', '--home', '/other'], ENV).home).toBe('/other');
  });

  it('keeps - as a positional and reads ranges as sizes', () => {
    const line = parseCommandLine(['get', 'name', '-', '--offset', '4K', '--length', '100'], ENV);
    expect(line).toMatchObject({ verb: 'get', arguments: ['name', '-'], offsetBytes: 4096, lengthBytes: 100 });
  });

  it('accepts names starting with a dash after --', () => {
    expect(parseCommandLine(['put', '--', '-odd-name'], ENV).arguments).toEqual(['-odd-name']);
  });

  it('keeps --workers within what the worker pool can run', () => {
    expect(COMMON_OPTIONS['workers']!.maximum).toBe(POOL_WORKER_COUNT_MAX);
    expect(WORKER_COUNT_MAX).toBe(POOL_WORKER_COUNT_MAX);
    expect(parseCommandLine(['ls', '--workers', String(POOL_WORKER_COUNT_MAX)], ENV).workerCount).toBe(POOL_WORKER_COUNT_MAX);
  });

  it('knows --version, --help and help VERB without a home', () => {
    expect(parseCommandLine(['--version'], {}).verb).toBe('version');
    expect(parseCommandLine(['--version', '--json'], {})).toMatchObject({ verb: 'version', json: true });
    expect(parseCommandLine(['--help'], {}).verb).toBe('help');
    expect(parseCommandLine(['help', 'put'], {})).toMatchObject({ verb: 'help', arguments: ['put'] });
    expect(parseCommandLine(['put', '--help'], {})).toMatchObject({ verb: 'put', help: true });
    expect(parseCommandLine(['demo', '--size-mib', '8', '--keep'], {})).toMatchObject({ verb: 'demo', demoSizeMib: 8, keep: true });
  });

  it.each([
    [[], /no verb/],
    [['frobnicate'], /unknown verb 'frobnicate'/],
    [['ls', '--bogus'], /unknown option '--bogus'; an argument that starts with '-' goes after '--'/],
    [['get', 'f', '--lenght', '5'], /unknown option '--lenght' \(did you mean --length\?\)/],
    [['ls', '-x'], /unknown option '-x'/],
    [['put'], /'put' needs NAME/],
    [['rm'], /'rm' needs NAME/],
    [['create'], /'create' needs DEVICE/],
    [['rm', 'a', 'b'], /at most 1/],
    [['ls', 'extra'], /at most 0/],
    [['create', 'a', '--parity', '4'], /--parity must be between 1 and 3/],
    [['create', 'a', '--parity', '0'], /--parity must be between 1 and 3/],
    [['create', 'a', '--parity', 'two'], /--parity must be a whole number/],
    [['create', 'a', '--parity'], /^--parity needs a value$/],
    [['create', 'a', '--parity', '--json'], /^--parity needs a value, not the option '--json'/],
    [['create', 'a', '--size', '12Q'], /--size must be a size/],
    [['create', 'a', '--size', '0'], /--size must be between 1/],
    [['get', 'a', '--offset', '-5'], /^--offset must be a size such as .*, not '-5'$/],
    [['get', 'a', '--length', '-.5'], /^--length must be a size such as .*, not '-\.5'$/],
    [['ls', '--workers', '-1'], /^--workers must be a whole number, not '-1'$/],
    [['ls', '--workers', '23'], /^--workers must be between 0 and 22, not 23$/],
    [['ls', '--home', '-x'], /^--home needs a value, not the option '-x'/],
    [['ls', '--backend', 'nvme'], /--backend must be auto, uring or fs/],
    [['ls', '--workers', '1.5'], /--workers must be a whole number/],
    [['put', 'a', '--deep'], /option --deep does not apply to 'put'/],
    [['status', '--parity', '2'], /option --parity does not apply to 'status'/],
    [['ls', '--version'], /--version takes no verb/],
    [['put', ''], /must not be empty/],
  ])('%j is a usage error (%s)', (argv, pattern) => {
    expect(usageErrorOf(argv).message).toMatch(pattern);
  });

  it('asks for a home when neither --home nor ELASTRIPE_HOME is set', () => {
    const error = usageErrorOf(['status'], {});
    expect(error.message).toMatch(/--home DIR or set ELASTRIPE_HOME/);
    expect(error.usage).toBe('usage: elastripe status [options]');
    expect(usageErrorOf(['ls'], { ELASTRIPE_HOME: '' }).message).toMatch(/no array home/);
  });

  it('gives the verb usage line with verb errors', () => {
    expect(usageErrorOf(['get']).usage).toBe('usage: elastripe get NAME [FILE|DIR|-] [options]');
    expect(usageErrorOf(['get', '--recursive', 'p']).usage).toBe('usage: elastripe get --recursive PREFIX DIR [options]');
    expect(usageErrorOf(['get', '--recursive', 'p']).message).toMatch(/'get' needs DIR/);
    expect(usageErrorOf(['put', '--files']).message).toMatch(/'put' needs FILE/);
    expect(usageErrorOf(['put', 'a', 'b', '--jobs', '2']).message).toMatch(/--jobs applies only to the batch forms/);
    expect(usageErrorOf(['put', '--recursive', 'd', '--prefix', 'p']).message).toMatch(/--prefix applies only to put --files/);
    expect(usageErrorOf(['get', '--recursive', 'p', 'd', '--offset', '1']).message).toMatch(/--offset and --length do not apply/);
    expect(usageErrorOf(['put', '--files', 'a', '--jobs', '0']).message).toMatch(/--jobs must be between 1 and 64/);
    expect(usageErrorOf(['nope']).usage).toMatch(/usage: elastripe <verb>/);
  });
});

describe('runtimeOptions: the worker pool a verb gets', () => {
  const line = (argv: string[]) => parseCommandLine(argv, ENV);
  it('runs one-shot transfers and metadata verbs with the kernels inline, jobs with the pool', () => {
    expect(runtimeOptions(line(['put', 'a', 'a.bin']), 'transfer').workerCount).toBe(0);
    expect(runtimeOptions(line(['ls']), 'metadata').workerCount).toBe(0);
    expect(runtimeOptions(line(['rebuild']), 'job').workerCount).toBeUndefined();
    expect(runtimeOptions(line(['fsck'])).workerCount).toBeUndefined();
  });
  it('lets --workers choose for every kind of verb', () => {
    for (const use of ['metadata', 'transfer', 'job'] as const) {
      expect(runtimeOptions(line(['get', 'a', '-', '--workers', '2']), use).workerCount).toBe(2);
      expect(runtimeOptions(line(['get', 'a', '-', '--workers', '0']), use).workerCount).toBe(0);
    }
  });
});
