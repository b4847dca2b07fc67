// The prerequisite helper: met, skipped locally, failing under CI; and the machine check
// (every prerequisite of the suite present), which under CI fails at once, in one place, when
// .ci/run did not install or build something.
import type { TestContext } from 'vitest';
import { describe, expect, it } from 'vitest';
import {
  btrfsPrerequisite,
  fioPrerequisite,
  loopDevicesPrerequisite,
  MissingPrerequisiteError,
  nbdkitPrerequisite,
  requirePrerequisite,
  rootPrerequisite,
  stracePrerequisite,
  underCi,
  uringPrerequisite,
} from './prerequisites.js';

class Skipped extends Error {}
/** A stand-in test context whose skip() throws, as vitest's does. */
function fakeContext(): { context: TestContext; notes: string[] } {
  const notes: string[] = [];
  const context = { skip: (note?: string) => { notes.push(String(note)); throw new Skipped(note); } } as unknown as TestContext;
  return { context, notes };
}

describe('requirePrerequisite', () => {
  it('reads CI the way CI services set it', () => {
    expect(underCi({ CI: 'true' })).toBe(true);
    expect(underCi({ CI: '1' })).toBe(true);
    expect(underCi({ CI: 'false' })).toBe(false);
    expect(underCi({ CI: '0' })).toBe(false);
    expect(underCi({ CI: '' })).toBe(false);
    expect(underCi({})).toBe(false);
  });

  it('a met prerequisite runs, in either mode', () => {
    for (const ci of [false, true]) {
      for (const check of [() => null, () => true, () => undefined, () => ({ available: true })]) {
        const met = requirePrerequisite('present thing', check, { ci });
        expect(met).toMatchObject({ met: true, skip: false, reason: null });
        const { context, notes } = fakeContext();
        met.need(context);
        met.assert();
        expect(notes).toEqual([]);
      }
    }
  });

  it('a missing prerequisite skips locally, with its reason', () => {
    const missing = requirePrerequisite('local-missing thing', () => 'not installed here', { ci: false });
    expect(missing).toMatchObject({ met: false, skip: true, reason: 'not installed here' });
    const { context, notes } = fakeContext();
    expect(() => missing.need(context)).toThrow(Skipped);
    expect(notes).toEqual(['needs local-missing thing: not installed here']);
  });

  it('a missing prerequisite fails under CI, never skips', () => {
    const missing = requirePrerequisite('ci-missing thing', () => ({ available: false, reason: 'the addon is not built' }), { ci: true });
    expect(missing).toMatchObject({ met: false, skip: false });
    const { context, notes } = fakeContext();
    expect(() => missing.need(context)).toThrow(MissingPrerequisiteError);
    expect(notes).toEqual([]);
    expect(() => missing.assert()).toThrow(/CI=true and this test's prerequisite is missing.*ci-missing thing: the addon is not built/);
  });

  it('a check that throws or says false is missing, with a reason', () => {
    expect(requirePrerequisite('throwing', () => { throw new Error('spawn x ENOENT\nmore'); }, { ci: false }).reason).toBe('spawn x ENOENT');
    expect(requirePrerequisite('false', () => false, { ci: false }).reason).toBe('not available');
  });

  it('and() needs both, naming what is missing', () => {
    const yes = requirePrerequisite('yes', () => null, { ci: true });
    const no = requirePrerequisite('no', () => 'absent', { ci: true });
    expect(yes.and(yes).met).toBe(true);
    const both = yes.and(no);
    expect(both).toMatchObject({ name: 'yes and no', met: false, skip: false, reason: 'no: absent' });
  });
});

// Everything the suite needs. Locally a missing one is a skip here (and in the tests that need
// it); under CI it fails here too, so one glance at this file says what the machine lacks.
describe('this machine has every prerequisite of the suite', () => {
  for (const prerequisite of [rootPrerequisite, loopDevicesPrerequisite, uringPrerequisite, nbdkitPrerequisite, fioPrerequisite, btrfsPrerequisite, stracePrerequisite]) {
    const gate = prerequisite();
    gate.it(gate.name, () => {
      expect(gate.reason).toBeNull();
    });
  }
});
