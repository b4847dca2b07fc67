// ExtentAllocator against the reference (the linear-scan allocator it replaced,
// reference_allocator.ts): random sequences of addDevice, allocate, claim, release and
// re-derivation, including every error (unknown device, device added twice, empty data area,
// bad length, overlap, double free, outside the data area). After every step both give the
// same result or the same error, and the same freeLb, largestFreeLb and freeRanges of every
// device, and both pass assertInvariants. A fixed number of runs, no time limit; the seed is
// printed and ELASTRIPE_ALLOCATOR_SEED replays it (ELASTRIPE_ALLOCATOR_RUNS lengthens it).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { addressOrder, ExtentAllocator } from '../../src/meta/extent_allocator.js';
import { ReferenceAllocator } from './reference_allocator.js';

const SEED = Number(process.env.ELASTRIPE_ALLOCATOR_SEED ?? Date.now() % 1_000_000);
const NUM_RUNS = Number(process.env.ELASTRIPE_ALLOCATOR_RUNS ?? 300);
/** Device 4 is never added: every call on it is an unknown device. */
const DEVICE_IDS = [0, 1, 2, 3, 4];

type Allocator = ExtentAllocator | ReferenceAllocator;
type DeviceRow = { deviceId: number; dataStartLb: number; dataEndLb: number };
type ExtentRow = { deviceId: number; startLb: number; lengthLb: number };
type Operation =
  | { kind: 'addDevice'; deviceId: number; dataStartLb: number; dataAreaLb: number }
  | { kind: 'allocate'; deviceId: number; lengthLb: number }
  | { kind: 'claim'; deviceId: number; startLb: number; lengthLb: number }
  | { kind: 'release'; deviceId: number; startLb: number; lengthLb: number }
  /**
   * Releases (again) a range an earlier allocate or claim returned, or the part of it left by
   * trimming its ends: a free (merging on none, one or both sides) or a double free.
   */
  | { kind: 'releaseUsed'; pick: number; trimStartLb: number; trimEndLb: number }
  /** Derives both afresh from the devices and the used space cut into shuffled pieces. */
  | { kind: 'rederive'; seed: number };

const deviceId = fc.oneof({ weight: 12, arbitrary: fc.constantFrom(0, 1, 2) }, { weight: 2, arbitrary: fc.constant(3) }, { weight: 1, arbitrary: fc.constant(4) });
const position = fc.integer({ min: 0, max: 260 });
const length = fc.oneof({ weight: 6, arbitrary: fc.integer({ min: 1, max: 24 }) }, { weight: 1, arbitrary: fc.integer({ min: 25, max: 120 }) });
const addDevice = fc.record({
  kind: fc.constant('addDevice' as const),
  deviceId: fc.constantFrom(0, 1, 2, 3),
  dataStartLb: fc.integer({ min: 0, max: 20 }),
  dataAreaLb: fc.oneof({ weight: 9, arbitrary: fc.integer({ min: 1, max: 240 }) }, { weight: 1, arbitrary: fc.integer({ min: -2, max: 0 }) }),
});
const operation: fc.Arbitrary<Operation> = fc.oneof(
  { weight: 1, arbitrary: addDevice },
  { weight: 8, arbitrary: fc.record({ kind: fc.constant('allocate' as const), deviceId, lengthLb: fc.oneof({ weight: 20, arbitrary: length }, { weight: 1, arbitrary: fc.constantFrom(0, -1, 1.5, Number.NaN) }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('claim' as const), deviceId, startLb: position, lengthLb: length }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('release' as const), deviceId, startLb: position, lengthLb: length }) },
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('releaseUsed' as const), pick: fc.nat(), trimStartLb: fc.constantFrom(0, 0, 1, 2), trimEndLb: fc.constantFrom(0, 0, 1, 3) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('rederive' as const), seed: fc.nat() }) },
);

/** How often each outcome occurred over the whole run: proves the generator reaches them. */
const outcomes = new Map<string, number>();

describe('ExtentAllocator against the reference allocator', () => {
  it('agrees over random operation sequences', () => {
    console.log(`allocator model test: seed ${SEED}, ${NUM_RUNS} runs (ELASTRIPE_ALLOCATOR_SEED to replay, ELASTRIPE_ALLOCATOR_RUNS to lengthen)`);
    fc.assert(
      // Devices 0, 1 and 2 first (an add may fail: an empty area), then anything.
      fc.property(fc.tuple(...[0, 1, 2].map((id) => addDevice.map((op) => ({ ...op, deviceId: id })))), fc.array(operation, { minLength: 1, maxLength: 80 }), (setup, rest) => {
        const operations: Operation[] = [...setup, ...rest];
        let allocator = new ExtentAllocator();
        let reference = new ReferenceAllocator();
        const devices: DeviceRow[] = [];
        const used: ExtentRow[] = [];
        for (const op of operations) {
          if (op.kind === 'rederive') {
            const extents = usedPieces(reference, devices, op.seed);
            allocator = ExtentAllocator.derive(devices, extents);
            reference = ReferenceAllocator.derive(devices, extents);
          } else {
            const actual = outcome(() => apply(allocator, op, used));
            const expected = outcome(() => apply(reference, op, used));
            expect(actual).toEqual(expected);
            count(op.kind, expected);
            if (op.kind === 'addDevice' && !('error' in expected)) {
              devices.push({ deviceId: op.deviceId, dataStartLb: op.dataStartLb, dataEndLb: op.dataStartLb + op.dataAreaLb });
            }
            if ((op.kind === 'allocate' || op.kind === 'claim') && !('error' in expected)) {
              const startLb = op.kind === 'allocate' ? (expected.value as number | undefined) : op.startLb;
              if (startLb !== undefined) used.push({ deviceId: op.deviceId, startLb, lengthLb: op.lengthLb });
            }
          }
          compare(allocator, reference);
        }
      }),
      { seed: SEED, numRuns: NUM_RUNS },
    );
    console.log(`allocator model test outcomes: ${JSON.stringify(Object.fromEntries([...outcomes].sort()))}`);
    for (const reached of ['allocate ok', 'allocate none', 'allocate bad length', 'allocate unknown device', 'claim ok', 'claim not free', 'release double free', 'release outside', 'releaseUsed ok', 'releaseUsed double free', 'addDevice added twice', 'addDevice empty area']) {
      expect(outcomes.get(reached) ?? 0, reached).toBeGreaterThan(0);
    }
  });

  it('derives what the reference derives, and refuses what it refuses', () => {
    // Random extents, often overlapping or outside the area. In any order both throw or both
    // succeed alike; sorted by device and address, even their messages agree (the reference
    // claims in input order, so the extent it names depends on the order).
    const extent = fc.record({ deviceId: fc.constantFrom(0, 1, 2), startLb: fc.integer({ min: 0, max: 130 }), lengthLb: fc.integer({ min: 1, max: 12 }) });
    fc.assert(
      fc.property(fc.array(extent, { maxLength: 40 }), fc.boolean(), (extents, sortFirst) => {
        const devices = [
          { deviceId: 0, dataStartLb: 3, dataEndLb: 100 },
          { deviceId: 1, dataStartLb: 0, dataEndLb: 140 },
          { deviceId: 2, dataStartLb: 10, dataEndLb: 50 },
        ];
        if (sortFirst) extents.sort((a, b) => a.deviceId - b.deviceId || a.startLb - b.startLb);
        const actual = outcome(() => ExtentAllocator.derive(devices, extents));
        const expected = outcome(() => ReferenceAllocator.derive(devices, extents));
        count('derive', expected);
        if ('error' in expected) {
          expect(actual).toHaveProperty('error');
          const error = (actual as { error: string }).error;
          if (sortFirst) expect(error).toBe(expected.error);
          const named = /device (\d+) range (\d+)\+(\d+) is not free/.exec(error);
          expect(named, error).not.toBeNull();
          const [deviceId, startLb, lengthLb] = named!.slice(1).map(Number) as [number, number, number];
          expect(conflicts(devices, extents, { deviceId, startLb, lengthLb })).toBe(true);
        } else {
          expect(actual).not.toHaveProperty('error');
          compare((actual as { value: ExtentAllocator }).value, (expected as { value: ReferenceAllocator }).value);
        }
      }),
      { seed: SEED, numRuns: NUM_RUNS },
    );
  });

  it('derive refuses an unknown device and a bad range with the reference messages or clearer ones', () => {
    const devices = [{ deviceId: 0, dataStartLb: 1, dataEndLb: 100 }];
    expect(() => ExtentAllocator.derive(devices, [{ deviceId: 7, startLb: 1, lengthLb: 1 }])).toThrow('allocator: unknown device 7');
    expect(() => ExtentAllocator.derive(devices, [{ deviceId: 0, startLb: 1, lengthLb: 0 }])).toThrow('allocator: bad range 1+0');
    expect(() => ExtentAllocator.derive([...devices, ...devices], [])).toThrow('allocator: device 0 added twice');
    expect(() => ExtentAllocator.derive(devices, [{ deviceId: 0, startLb: 0, lengthLb: 2 }])).toThrow(
      'allocator: device 0 range 0+2 is not free (overlap or outside the data area)',
    );
  });

  it('refuses ranges that are not whole, positive LB counts (the reference corrupted itself on them)', () => {
    const allocator = new ExtentAllocator();
    allocator.addDevice(0, 1, 100);
    expect(() => allocator.claim(0, 5, 0)).toThrow('allocator: bad range 5+0');
    expect(() => allocator.release(0, 5, -1)).toThrow('allocator: bad range 5+-1');
    expect(() => allocator.claim(0, 1.5, 2)).toThrow('allocator: bad range 1.5+2');
    expect(() => allocator.allocate(0, 0)).toThrow('allocator: bad length 0');
    allocator.assertInvariants();
    expect(allocator.freeRanges(0)).toEqual([{ startLb: 1, lengthLb: 99 }]);
  });

  it('orders addresses like a comparison sort, above 2^32 too', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.integer({ min: 0, max: 70_000 }), fc.maxSafeNat()), { maxLength: 300 }), (keys) => {
        const array = Float64Array.from(keys);
        const order = addressOrder(array, array.length);
        const sorted = order === undefined ? [...array] : [...order].map((index) => array[index]!);
        expect(sorted).toEqual([...keys].sort((a, b) => a - b));
        if (order !== undefined) expect(new Set(order).size).toBe(keys.length);
      }),
      { seed: SEED, numRuns: NUM_RUNS },
    );
  });
});

function apply(allocator: Allocator, op: Exclude<Operation, { kind: 'rederive' }>, used: readonly ExtentRow[]): unknown {
  switch (op.kind) {
    case 'addDevice':
      return allocator.addDevice(op.deviceId, op.dataStartLb, op.dataStartLb + op.dataAreaLb);
    case 'allocate':
      return allocator.allocate(op.deviceId, op.lengthLb);
    case 'claim':
      return allocator.claim(op.deviceId, op.startLb, op.lengthLb);
    case 'release':
      return allocator.release(op.deviceId, op.startLb, op.lengthLb);
    case 'releaseUsed': {
      if (used.length === 0) throw new Error('nothing used yet');
      const range = used[op.pick % used.length]!;
      const trimLb = Math.min(op.trimStartLb + op.trimEndLb, range.lengthLb - 1);
      const startLb = range.startLb + Math.min(op.trimStartLb, trimLb);
      return allocator.release(range.deviceId, startLb, range.lengthLb - trimLb);
    }
  }
}

function outcome(run: () => unknown): { value: unknown } | { error: string; type: string } {
  try {
    return { value: run() };
  } catch (error) {
    return { error: (error as Error).message, type: (error as Error).constructor.name };
  }
}

function count(kind: string, result: { value: unknown } | { error: string }): void {
  let label = 'ok';
  if ('error' in result) {
    const known = ['unknown device', 'added twice', 'empty data area', 'bad length', 'not free', 'double free', 'outside'];
    label = known.find((text) => result.error.includes(text)) ?? result.error;
    if (label === 'empty data area') label = 'empty area';
  } else if (kind === 'allocate' && result.value === undefined) {
    label = 'none';
  }
  const key = `${kind} ${label}`;
  outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
}

function compare(allocator: ExtentAllocator, reference: ReferenceAllocator): void {
  allocator.assertInvariants();
  reference.assertInvariants();
  expect(allocator.deviceIds()).toEqual(reference.deviceIds());
  for (const id of DEVICE_IDS) {
    expect(allocator.hasDevice(id)).toBe(reference.hasDevice(id));
    if (!reference.hasDevice(id)) continue;
    expect(allocator.freeRanges(id)).toEqual(reference.freeRanges(id));
    expect(allocator.freeLb(id)).toBe(reference.freeLb(id));
    expect(allocator.largestFreeLb(id)).toBe(reference.largestFreeLb(id));
    expect(allocator.dataAreaLb(id)).toBe(reference.dataAreaLb(id));
  }
}

/** The used space of every device (its data area minus its free ranges), cut into pieces. */
function usedPieces(reference: ReferenceAllocator, devices: readonly DeviceRow[], seed: number): ExtentRow[] {
  let state = seed | 1;
  const random = (bound: number): number => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return (state >>> 8) % bound;
  };
  const pieces: ExtentRow[] = [];
  for (const device of devices) {
    let cursorLb = device.dataStartLb;
    const cut = (endLb: number): void => {
      while (cursorLb < endLb) {
        const lengthLb = 1 + random(Math.min(endLb - cursorLb, 9));
        pieces.push({ deviceId: device.deviceId, startLb: cursorLb, lengthLb });
        cursorLb += lengthLb;
      }
    };
    for (const range of reference.freeRanges(device.deviceId)) {
      cut(range.startLb);
      cursorLb = range.startLb + range.lengthLb;
    }
    cut(device.dataEndLb);
  }
  for (let i = pieces.length - 1; i > 0; i--) {
    const j = random(i + 1);
    [pieces[i], pieces[j]] = [pieces[j]!, pieces[i]!];
  }
  return pieces;
}

/** Whether the named extent is one of the input and overlaps another or leaves its data area. */
function conflicts(devices: readonly DeviceRow[], extents: readonly ExtentRow[], named: ExtentRow): boolean {
  const index = extents.findIndex((e) => e.deviceId === named.deviceId && e.startLb === named.startLb && e.lengthLb === named.lengthLb);
  if (index < 0) return false;
  const device = devices.find((d) => d.deviceId === named.deviceId)!;
  if (named.startLb < device.dataStartLb || named.startLb + named.lengthLb > device.dataEndLb) return true;
  return extents.some(
    (other, i) => i !== index && other.deviceId === named.deviceId && other.startLb < named.startLb + named.lengthLb && named.startLb < other.startLb + other.lengthLb,
  );
}
