// The free-space map: the allocator's free ranges, saved in the home when the array closes
// cleanly, so that open does not derive free space from every extent (a million extents cost
// seconds to read out of SQLite; the free ranges of a clean close are usually far fewer, and
// are read as one blob per device).
//
// Rules:
//  1. The map is saved only from a quiet allocator (no write in flight, no free waiting for a
//     reader or for the journal): then it equals what deriving from the extents would give.
//  2. It is saved with the store's change-set number and is used only while the store is still
//     at that number. Every change to extents or devices is a change set, so any commit after
//     the save (in this process, or rolled forward from the devices) makes it stale; loading a
//     snapshot or rolling forward also drops it.
//  3. A map that does not fit the devices (another device set, ranges unsorted, overlapping or
//     outside a data area) is ignored and free space is derived.
//  4. fsck proves it: a map valid at the current number must equal free space derived from the
//     extents (freeSpaceMapProblems); the live allocator is compared as before.
import { ExtentAllocator } from './extent_allocator.js';
import type { MetaStore } from './meta_store.js';

/** The allocator at open: from the map when it is valid, else derived from every extent. */
export function openAllocator(store: MetaStore): { allocator: ExtentAllocator; source: 'map' | 'derived' } {
  const devices = store.devices();
  const saved = store.savedFreeSpace();
  const fromMap = saved ? ExtentAllocator.fromFreeRanges(devices, saved) : undefined;
  if (fromMap) return { allocator: fromMap, source: 'map' };
  return { allocator: ExtentAllocator.derive(devices, store.extentPlaces()), source: 'derived' };
}

/** Saves the allocator's free ranges, valid at the store's current change set. The caller ensures it is quiet. */
export function saveFreeSpaceMap(store: MetaStore, allocator: ExtentAllocator): void {
  store.saveFreeSpace(new Map(allocator.deviceIds().map((deviceId) => [deviceId, allocator.freeRangePairs(deviceId)])));
}

/** Where the saved map (if valid now) disagrees with free space derived from the extents. */
export function freeSpaceMapProblems(store: MetaStore, derived: ExtentAllocator): string[] {
  const saved = store.savedFreeSpace();
  if (!saved) return [];
  const problems: string[] = [];
  for (const deviceId of derived.deviceIds()) {
    const pairs = saved.get(deviceId);
    const expected = derived.freeRangePairs(deviceId);
    if (!pairs || pairs.length !== expected.length || pairs.some((value, i) => value !== expected[i])) {
      problems.push(`device ${deviceId}: the free-space map saved at close disagrees with the extents (leak or double use)`);
    }
  }
  for (const deviceId of saved.keys()) {
    if (!derived.hasDevice(deviceId)) problems.push(`the free-space map saved at close names unknown device ${deviceId}`);
  }
  return problems;
}
