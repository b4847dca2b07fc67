// Test-only reference: the extent allocator as it was before the range tree (a sorted array of
// free ranges, every operation a linear scan). The model test compares the real allocator with
// it step by step, and bench/meta/allocator_bench.ts measures the two side by side. Do not
// "improve" it: its value is that it is simple enough to be obviously right.
import { InvalidArgumentError } from '../../src/errors.js';

export interface LbRange {
  startLb: number;
  lengthLb: number;
}

interface DeviceSpace {
  dataStartLb: number;
  dataEndLb: number;
  /** Sorted, merged free ranges. */
  free: LbRange[];
  freeLb: number;
}

export class ReferenceAllocator {
  private readonly devices = new Map<number, DeviceSpace>();

  /**
   * Free space is derived, never stored: every device's data area minus every committed extent.
   * Throws if an extent overlaps another or leaves its data area.
   */
  static derive(
    devices: readonly { deviceId: number; dataStartLb: number; dataEndLb: number }[],
    extents: readonly { deviceId: number; startLb: number; lengthLb: number }[],
  ): ReferenceAllocator {
    const allocator = new ReferenceAllocator();
    for (const row of devices) allocator.addDevice(row.deviceId, row.dataStartLb, row.dataEndLb);
    for (const extent of extents) allocator.claim(extent.deviceId, extent.startLb, extent.lengthLb);
    return allocator;
  }

  /** Registers a device whose data area is [dataStartLb, dataEndLb), all of it free. */
  addDevice(deviceId: number, dataStartLb: number, dataEndLb: number): void {
    if (this.devices.has(deviceId)) throw new Error(`allocator: device ${deviceId} added twice`);
    if (!(dataEndLb > dataStartLb && dataStartLb >= 0)) {
      throw new InvalidArgumentError(`device ${deviceId} has an empty data area`);
    }
    const lengthLb = dataEndLb - dataStartLb;
    this.devices.set(deviceId, { dataStartLb, dataEndLb, free: [{ startLb: dataStartLb, lengthLb }], freeLb: lengthLb });
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
    let largest = 0;
    for (const range of this.space(deviceId).free) largest = Math.max(largest, range.lengthLb);
    return largest;
  }

  /** Marks a range used that is known to be free (used at open, for committed extents). */
  claim(deviceId: number, startLb: number, lengthLb: number): void {
    const space = this.space(deviceId);
    const index = space.free.findIndex((range) => range.startLb <= startLb && startLb + lengthLb <= range.startLb + range.lengthLb);
    if (index < 0) {
      throw new Error(`allocator: device ${deviceId} range ${startLb}+${lengthLb} is not free (overlap or outside the data area)`);
    }
    const range = space.free[index]!;
    const pieces: LbRange[] = [];
    if (startLb > range.startLb) pieces.push({ startLb: range.startLb, lengthLb: startLb - range.startLb });
    const endLb = startLb + lengthLb;
    const rangeEndLb = range.startLb + range.lengthLb;
    if (endLb < rangeEndLb) pieces.push({ startLb: endLb, lengthLb: rangeEndLb - endLb });
    space.free.splice(index, 1, ...pieces);
    space.freeLb -= lengthLb;
  }

  /** First fit, lowest address. Returns the start LB, or undefined when no run is long enough. */
  allocate(deviceId: number, lengthLb: number): number | undefined {
    if (!(Number.isInteger(lengthLb) && lengthLb > 0)) throw new Error(`allocator: bad length ${lengthLb}`);
    const space = this.space(deviceId);
    const range = space.free.find((candidate) => candidate.lengthLb >= lengthLb);
    if (range === undefined) return undefined;
    const startLb = range.startLb;
    this.claim(deviceId, startLb, lengthLb);
    return startLb;
  }

  /** Returns a range to the free list, merging with its neighbours. */
  release(deviceId: number, startLb: number, lengthLb: number): void {
    const space = this.space(deviceId);
    const endLb = startLb + lengthLb;
    if (startLb < space.dataStartLb || endLb > space.dataEndLb) {
      throw new Error(`allocator: release of ${startLb}+${lengthLb} outside device ${deviceId}'s data area`);
    }
    let index = 0;
    while (index < space.free.length && space.free[index]!.startLb < startLb) index++;
    const before = space.free[index - 1];
    const after = space.free[index];
    if ((before && before.startLb + before.lengthLb > startLb) || (after && after.startLb < endLb)) {
      throw new Error(`allocator: double free of device ${deviceId} range ${startLb}+${lengthLb}`);
    }
    const merged: LbRange = { startLb, lengthLb };
    let removeFrom = index;
    let removeCount = 0;
    if (before && before.startLb + before.lengthLb === startLb) {
      merged.startLb = before.startLb;
      merged.lengthLb += before.lengthLb;
      removeFrom = index - 1;
      removeCount++;
    }
    if (after && after.startLb === endLb) {
      merged.lengthLb += after.lengthLb;
      removeCount++;
    }
    space.free.splice(removeFrom, removeCount, merged);
    space.freeLb += lengthLb;
  }

  /** Copies of the free ranges, for fsck and tests. */
  freeRanges(deviceId: number): LbRange[] {
    return this.space(deviceId).free.map((range) => ({ ...range }));
  }

  assertInvariants(): void {
    for (const [deviceId, space] of this.devices) {
      let sumLb = 0;
      let previousEndLb = -1;
      for (const range of space.free) {
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
}

/**
 * A reference allocator holding the given free ranges (sorted, merged), built directly: deriving
 * a fragmented device through claim costs the reference O(n²), which would keep the benchmark
 * from ever measuring its operations at a million extents.
 */
export function referenceWithFreeRanges(
  devices: readonly { deviceId: number; dataStartLb: number; dataEndLb: number }[],
  freeByDevice: ReadonlyMap<number, readonly LbRange[]>,
): ReferenceAllocator {
  const allocator = new ReferenceAllocator();
  for (const row of devices) allocator.addDevice(row.deviceId, row.dataStartLb, row.dataEndLb);
  const spaces = (allocator as unknown as { devices: Map<number, DeviceSpace> }).devices;
  for (const [deviceId, ranges] of freeByDevice) {
    const space = spaces.get(deviceId)!;
    space.free = ranges.map((range) => ({ ...range }));
    space.freeLb = ranges.reduce((sum, range) => sum + range.lengthLb, 0);
  }
  allocator.assertInvariants();
  return allocator;
}
