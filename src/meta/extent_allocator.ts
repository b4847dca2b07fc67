// The per-device extent allocator. Free space is never stored: it is derived at open from the
// extents table (the data area minus every committed extent) and then kept in memory, where
// in-flight writes reserve extents before their metadata commits.
//
// Each device's free ranges live in a RangeTree (range_tree.ts): an AVL tree keyed by startLb,
// augmented with the longest free range of every subtree. With n free ranges on a device:
// allocate (first fit at the lowest address: descend to the leftmost range long enough),
// claim and release (find the neighbours by key, split or merge) are O(log n); largestFreeLb
// is O(1). derive sorts each device's extents once (a radix sort, O(n)) and builds the tree
// from the sorted free ranges in O(n). freeRanges and assertInvariants are O(n).
//
// Invariants (checked by assertInvariants):
//  1. Free ranges of a device are sorted, non-empty, non-overlapping and non-adjacent
//     (adjacent ranges are always merged).
//  2. Every free range lies inside the device's data area.
//  3. freeLb equals the sum of the free ranges' lengths.
//  4. Each device's tree keeps its own invariants (ordered, AVL-balanced, every subtree's
//     longest range correct: RangeTree.assertInvariants).
import { InvalidArgumentError } from '../errors.js';
import { NIL, RangeTree } from './range_tree.js';

export interface LbRange {
  startLb: number;
  lengthLb: number;
}

interface DeviceSpace {
  dataStartLb: number;
  dataEndLb: number;
  /** Free ranges, merged (never adjacent). */
  free: RangeTree;
  freeLb: number;
}

/**
 * Every committed extent, gathered by device: device i's extents (i in the order devices were
 * added) are [offsets[i], offsets[i + 1]) of startLbs and lengthLbs.
 */
interface GatheredExtents {
  deviceIds: number[];
  offsets: Uint32Array;
  startLbs: Float64Array;
  lengthLbs: Float64Array;
}

/** Device ids below this are looked up in a flat table while gathering, others in a Map. */
const DEVICE_TABLE_MAX = 1 << 16;

export class ExtentAllocator {
  private readonly devices = new Map<number, DeviceSpace>();

  /**
   * Free space is derived, never stored: every device's data area minus every committed extent.
   * Throws if an extent overlaps another or leaves its data area (with claim's message).
   */
  static derive(
    devices: readonly { deviceId: number; dataStartLb: number; dataEndLb: number }[],
    extents: readonly { deviceId: number; startLb: number; lengthLb: number }[],
  ): ExtentAllocator {
    const allocator = new ExtentAllocator();
    for (const row of devices) allocator.addDevice(row.deviceId, row.dataStartLb, row.dataEndLb);
    const gathered = allocator.gatherByDevice(extents);
    gathered.deviceIds.forEach((deviceId, i) => {
      const from = gathered.offsets[i]!;
      const to = gathered.offsets[i + 1]!;
      allocator.deriveDevice(deviceId, gathered.startLbs.subarray(from, to), gathered.lengthLbs.subarray(from, to));
    });
    return allocator;
  }

  /**
   * An allocator from saved free ranges (free_space_map.ts): per device, [start, length] pairs
   * in address order. O(free ranges). Undefined when they do not fit the devices: another set
   * of devices, or ranges unsorted, empty, touching, overlapping or outside a data area.
   */
  static fromFreeRanges(
    devices: readonly { deviceId: number; dataStartLb: number; dataEndLb: number }[],
    freeRanges: ReadonlyMap<number, Float64Array>,
  ): ExtentAllocator | undefined {
    if (freeRanges.size !== devices.length) return undefined;
    const allocator = new ExtentAllocator();
    for (const row of devices) {
      const pairs = freeRanges.get(row.deviceId);
      if (!pairs || pairs.length % 2 !== 0) return undefined;
      const count = pairs.length / 2;
      const startLbs = new Float64Array(count);
      const lengthLbs = new Float64Array(count);
      let freeLb = 0;
      let previousEndLb = row.dataStartLb - 1;
      for (let i = 0; i < count; i++) {
        const startLb = pairs[2 * i]!;
        const lengthLb = pairs[2 * i + 1]!;
        if (!(Number.isInteger(startLb) && Number.isInteger(lengthLb) && lengthLb > 0 && startLb > previousEndLb && startLb >= row.dataStartLb && startLb + lengthLb <= row.dataEndLb)) return undefined;
        startLbs[i] = startLb;
        lengthLbs[i] = lengthLb;
        freeLb += lengthLb;
        previousEndLb = startLb + lengthLb;
      }
      if (allocator.devices.has(row.deviceId)) return undefined;
      allocator.devices.set(row.deviceId, { dataStartLb: row.dataStartLb, dataEndLb: row.dataEndLb, free: RangeTree.fromSorted(startLbs, lengthLbs, count), freeLb });
    }
    return allocator;
  }

  /** A device's free ranges as [start, length] pairs in address order (what fromFreeRanges takes). */
  freeRangePairs(deviceId: number): Float64Array {
    const ranges = this.space(deviceId).free.toArray();
    const pairs = new Float64Array(ranges.length * 2);
    ranges.forEach((range, i) => {
      pairs[2 * i] = range.startLb;
      pairs[2 * i + 1] = range.lengthLb;
    });
    return pairs;
  }

  /** Registers a device whose data area is [dataStartLb, dataEndLb), all of it free. */
  addDevice(deviceId: number, dataStartLb: number, dataEndLb: number): void {
    if (this.devices.has(deviceId)) throw new Error(`allocator: device ${deviceId} added twice`);
    if (!(dataEndLb > dataStartLb && dataStartLb >= 0)) {
      throw new InvalidArgumentError(`device ${deviceId} has an empty data area`);
    }
    const lengthLb = dataEndLb - dataStartLb;
    const free = RangeTree.fromSorted([dataStartLb], [lengthLb], 1);
    this.devices.set(deviceId, { dataStartLb, dataEndLb, free, freeLb: lengthLb });
  }

  hasDevice(deviceId: number): boolean {
    return this.devices.has(deviceId);
  }

  deviceIds(): number[] {
    return [...this.devices.keys()];
  }

  freeLb(deviceId: number): number {
    return this.space(deviceId).freeLb;
  }

  dataAreaLb(deviceId: number): number {
    const space = this.space(deviceId);
    return space.dataEndLb - space.dataStartLb;
  }

  /** The longest free run of the device, for choosing extent lengths when space is short. */
  largestFreeLb(deviceId: number): number {
    return this.space(deviceId).free.maxLengthLb();
  }

  /** Marks a range used that is known to be free (used at open, for committed extents). */
  claim(deviceId: number, startLb: number, lengthLb: number): void {
    const space = this.space(deviceId);
    checkRange(startLb, lengthLb);
    const node = space.free.floor(startLb);
    if (node === NIL || space.free.startLb(node) + space.free.lengthLb(node) < startLb + lengthLb) {
      throw notFreeError(deviceId, startLb, lengthLb);
    }
    take(space, node, startLb, lengthLb);
  }

  /** First fit, lowest address. Returns the start LB, or undefined when no run is long enough. */
  allocate(deviceId: number, lengthLb: number): number | undefined {
    if (!(Number.isInteger(lengthLb) && lengthLb > 0)) throw new Error(`allocator: bad length ${lengthLb}`);
    const space = this.space(deviceId);
    const node = space.free.firstFit(lengthLb);
    if (node === NIL) return undefined;
    const startLb = space.free.startLb(node);
    take(space, node, startLb, lengthLb);
    return startLb;
  }

  /** Returns a range to the free list, merging with its neighbours. */
  release(deviceId: number, startLb: number, lengthLb: number): void {
    const space = this.space(deviceId);
    checkRange(startLb, lengthLb);
    const endLb = startLb + lengthLb;
    if (startLb < space.dataStartLb || endLb > space.dataEndLb) {
      throw new Error(`allocator: release of ${startLb}+${lengthLb} outside device ${deviceId}'s data area`);
    }
    const free = space.free;
    const before = free.lower(startLb);
    const after = free.ceiling(startLb);
    const beforeStartLb = before === NIL ? -1 : free.startLb(before);
    const beforeEndLb = before === NIL ? -1 : beforeStartLb + free.lengthLb(before);
    const afterStartLb = after === NIL ? Infinity : free.startLb(after);
    const afterLengthLb = after === NIL ? 0 : free.lengthLb(after);
    if (beforeEndLb > startLb || afterStartLb < endLb) {
      throw new Error(`allocator: double free of device ${deviceId} range ${startLb}+${lengthLb}`);
    }
    const mergeBefore = beforeEndLb === startLb;
    const mergeAfter = afterStartLb === endLb;
    if (mergeBefore && mergeAfter) {
      free.remove(afterStartLb);
      free.update(beforeStartLb, beforeStartLb, afterStartLb + afterLengthLb - beforeStartLb);
    } else if (mergeBefore) {
      free.update(beforeStartLb, beforeStartLb, endLb - beforeStartLb);
    } else if (mergeAfter) {
      free.update(afterStartLb, startLb, lengthLb + afterLengthLb);
    } else {
      free.insert(startLb, lengthLb);
    }
    space.freeLb += lengthLb;
  }

  /** Copies of the free ranges, for fsck and tests. */
  freeRanges(deviceId: number): LbRange[] {
    return this.space(deviceId).free.toArray();
  }

  assertInvariants(): void {
    for (const [deviceId, space] of this.devices) {
      space.free.assertInvariants();
      let sumLb = 0;
      let previousEndLb = -1;
      for (const range of space.free.toArray()) {
        if (!(range.lengthLb > 0)) throw new Error(`allocator: device ${deviceId} has an empty free range`);
        if (range.startLb < space.dataStartLb || range.startLb + range.lengthLb > space.dataEndLb) {
          throw new Error(`allocator: device ${deviceId} free range ${range.startLb}+${range.lengthLb} outside the data area`);
        }
        if (range.startLb <= previousEndLb) {
          throw new Error(`allocator: device ${deviceId} free ranges overlap, touch or are unsorted at ${range.startLb}`);
        }
        previousEndLb = range.startLb + range.lengthLb;
        sumLb += range.lengthLb;
      }
      if (sumLb !== space.freeLb) throw new Error(`allocator: device ${deviceId} freeLb ${space.freeLb} != sum ${sumLb}`);
    }
  }

  private space(deviceId: number): DeviceSpace {
    const space = this.devices.get(deviceId);
    if (!space) throw new Error(`allocator: unknown device ${deviceId}`);
    return space;
  }

  /**
   * Gathers the extents by device into flat arrays: one pass over the row objects (the only
   * one: a million rows in table order are a million cache misses), then a counting sort by
   * device over the flat copy.
   */
  private gatherByDevice(extents: readonly { deviceId: number; startLb: number; lengthLb: number }[]): GatheredExtents {
    const deviceIds = [...this.devices.keys()];
    const denseIndex = denseIndexOf(deviceIds);
    const count = extents.length;
    const devicesOf = new Uint32Array(count);
    const startLbs = new Float64Array(count);
    const lengthLbs = new Float64Array(count);
    const offsets = new Uint32Array(deviceIds.length + 1);
    for (let i = 0; i < count; i++) {
      const extent = extents[i]!;
      const dense = denseIndex(extent.deviceId);
      if (dense < 0) this.space(extent.deviceId);
      checkRange(extent.startLb, extent.lengthLb);
      devicesOf[i] = dense;
      startLbs[i] = extent.startLb;
      lengthLbs[i] = extent.lengthLb;
      offsets[dense + 1]!++;
    }
    for (let i = 1; i < offsets.length; i++) offsets[i]! += offsets[i - 1]!;
    const next = offsets.slice(0, deviceIds.length);
    const groupedStartLbs = new Float64Array(count);
    const groupedLengthLbs = new Float64Array(count);
    for (let i = 0; i < count; i++) {
      const target = next[devicesOf[i]!]!++;
      groupedStartLbs[target] = startLbs[i]!;
      groupedLengthLbs[target] = lengthLbs[i]!;
    }
    return { deviceIds, offsets, startLbs: groupedStartLbs, lengthLbs: groupedLengthLbs };
  }

  /**
   * Replaces a device's free space (all of its data area) by the data area minus the given extents, in
   * one pass over the extents in address order. An extent that starts before the end of the
   * previous one (or before the data area) or ends past the data area is refused as claim
   * would refuse it.
   */
  private deriveDevice(deviceId: number, startLbs: Float64Array, lengthLbs: Float64Array): void {
    const space = this.space(deviceId);
    const count = startLbs.length;
    const order = addressOrder(startLbs, count);
    const freeStartLbs = new Float64Array(count + 1);
    const freeLengthLbs = new Float64Array(count + 1);
    let freeCount = 0;
    let freeLb = 0;
    let cursorLb = space.dataStartLb;
    for (let i = 0; i < count; i++) {
      const extent = order === undefined ? i : order[i]!;
      const startLb = startLbs[extent]!;
      const lengthLb = lengthLbs[extent]!;
      if (startLb < cursorLb || startLb + lengthLb > space.dataEndLb) throw notFreeError(deviceId, startLb, lengthLb);
      if (startLb > cursorLb) {
        freeStartLbs[freeCount] = cursorLb;
        freeLengthLbs[freeCount++] = startLb - cursorLb;
        freeLb += startLb - cursorLb;
      }
      cursorLb = startLb + lengthLb;
    }
    if (cursorLb < space.dataEndLb) {
      freeStartLbs[freeCount] = cursorLb;
      freeLengthLbs[freeCount++] = space.dataEndLb - cursorLb;
      freeLb += space.dataEndLb - cursorLb;
    }
    space.free = RangeTree.fromSorted(freeStartLbs, freeLengthLbs, freeCount);
    space.freeLb = freeLb;
  }
}

/** A lookup from device id to its position in deviceIds (-1 for none), fast for small ids. */
function denseIndexOf(deviceIds: readonly number[]): (deviceId: number) => number {
  if (deviceIds.every((id) => Number.isInteger(id) && id >= 0 && id < DEVICE_TABLE_MAX)) {
    const table = new Int32Array(Math.max(0, ...deviceIds) + 1).fill(-1);
    deviceIds.forEach((id, i) => (table[id] = i));
    return (deviceId) => (deviceId >= 0 && deviceId < table.length ? (table[deviceId] ?? -1) : -1);
  }
  const map = new Map(deviceIds.map((id, i) => [id, i]));
  return (deviceId) => map.get(deviceId) ?? -1;
}

/** Marks [startLb, startLb + lengthLb) used inside the free range `node`, which holds it. */
function take(space: DeviceSpace, node: number, startLb: number, lengthLb: number): void {
  const free = space.free;
  const rangeStartLb = free.startLb(node);
  const beforeLb = startLb - rangeStartLb;
  const endLb = startLb + lengthLb;
  const afterLb = rangeStartLb + free.lengthLb(node) - endLb;
  if (beforeLb > 0) {
    free.update(rangeStartLb, rangeStartLb, beforeLb);
    if (afterLb > 0) free.insert(endLb, afterLb);
  } else if (afterLb > 0) {
    free.update(rangeStartLb, endLb, afterLb);
  } else {
    free.remove(rangeStartLb);
  }
  space.freeLb -= lengthLb;
}

/** Positions are whole LBs and lengths at least one: anything else is a programmer error. */
function checkRange(startLb: number, lengthLb: number): void {
  if (!(Number.isInteger(startLb) && startLb >= 0 && Number.isInteger(lengthLb) && lengthLb > 0)) {
    throw new Error(`allocator: bad range ${startLb}+${lengthLb}`);
  }
}

function notFreeError(deviceId: number, startLb: number, lengthLb: number): Error {
  return new Error(`allocator: device ${deviceId} range ${startLb}+${lengthLb} is not free (overlap or outside the data area)`);
}

const DIGIT_BITS = 16;
const DIGIT_VALUES = 1 << DIGIT_BITS;
const TWO_POW_32 = 2 ** 32;

/**
 * The indices [0, count) ordered by key, or undefined when the keys are already in order (the
 * common case costs one pass). Keys are whole numbers in [0, 2^53). An LSD radix sort on 16-bit
 * digits that carries each key with its index, two passes below 2^32: a comparison sort of a
 * million indices costs ~0.7 s here, this ~0.1 s.
 */
export function addressOrder(keys: Float64Array, count: number): Uint32Array | undefined {
  let sorted = true;
  for (let i = 1; i < count && sorted; i++) sorted = keys[i - 1]! <= keys[i]!;
  if (sorted) return undefined;
  let lows = new Uint32Array(count);
  let highs = new Uint32Array(count);
  let order = new Uint32Array(count);
  let highMax = 0;
  for (let i = 0; i < count; i++) {
    const key = keys[i]!;
    lows[i] = key >>> 0;
    const high = Math.floor(key / TWO_POW_32);
    highs[i] = high;
    if (high > highMax) highMax = high;
    order[i] = i;
  }
  let spareLows = new Uint32Array(count);
  let spareHighs = new Uint32Array(count);
  let spareOrder = new Uint32Array(count);
  const positions = new Uint32Array(DIGIT_VALUES);
  const passes = highMax === 0 ? 2 : highMax < DIGIT_VALUES ? 3 : 4;
  for (let pass = 0; pass < passes; pass++) {
    const digits = pass < 2 ? lows : highs;
    const shift = (pass & 1) * DIGIT_BITS;
    positions.fill(0);
    for (let i = 0; i < count; i++) positions[(digits[i]! >>> shift) & (DIGIT_VALUES - 1)]!++;
    let sum = 0;
    for (let digit = 0; digit < DIGIT_VALUES; digit++) {
      const digitCount = positions[digit]!;
      positions[digit] = sum;
      sum += digitCount;
    }
    for (let i = 0; i < count; i++) {
      const target = positions[(digits[i]! >>> shift) & (DIGIT_VALUES - 1)]!++;
      spareLows[target] = lows[i]!;
      spareHighs[target] = highs[i]!;
      spareOrder[target] = order[i]!;
    }
    [lows, spareLows] = [spareLows, lows];
    [highs, spareHighs] = [spareHighs, highs];
    [order, spareOrder] = [spareOrder, order];
  }
  return order;
}
