// The flush a batch of movers' writes shares: each device written is flushed once, all at once,
// and a device whose flush failed (or that went offline) fails only the items that wrote to it.
import { settleBatch } from '../devices/device_batch.js';
import { DeviceFailedError } from '../errors.js';
import type { RelocateContext } from './relocate.js';

/**
 * Flushes each of `deviceIds` once; returns the error of each device that failed. A device no
 * longer usable fails with DEVICE_FAILED saying `offlineReason` (what it went offline during).
 */
export async function flushEachOnce(context: Pick<RelocateContext, 'devices' | 'flusher'>, deviceIds: Iterable<number>, offlineReason: string): Promise<Map<number, unknown>> {
  const failures = new Map<number, unknown>();
  await settleBatch(
    [...new Set(deviceIds)].map(async (deviceId) => {
      try {
        const device = context.devices.usable(deviceId);
        if (!device) throw new DeviceFailedError(`#${deviceId}`, offlineReason);
        await context.flusher.flush(device);
      } catch (error) {
        failures.set(deviceId, error);
      }
    }),
  );
  return failures;
}
