import { describe, expect, it } from 'vitest';
import { FlushCoalescer } from '../../src/array/flush_coalescer.js';
import type { Device } from '../../src/devices/device.js';

/** A device whose flushes complete only when the test says so, recording when each started. */
function slowDevice() {
  const pending: { resolve: () => void; reject: (error: Error) => void }[] = [];
  const device = {
    flush: () => new Promise<void>((resolve, reject) => pending.push({ resolve, reject })),
  } as unknown as Device;
  return { device, pending };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('FlushCoalescer', () => {
  it('lets requests made during a flush share the one flush that starts after it', async () => {
    const flusher = new FlushCoalescer();
    const { device, pending } = slowDevice();
    const first = flusher.flush(device);
    const second = flusher.flush(device);
    const third = flusher.flush(device);
    expect(pending).toHaveLength(1);
    let secondDone = false;
    void second.then(() => (secondDone = true));
    pending[0]!.resolve();
    await first;
    await tick();
    // second and third must not be satisfied by the flush that was already running.
    expect(secondDone).toBe(false);
    expect(pending).toHaveLength(2);
    pending[1]!.resolve();
    await Promise.all([second, third]);
    expect(flusher.flushesStarted).toBe(2);
  });

  it('passes a failed flush to its callers and starts afresh for later ones', async () => {
    const flusher = new FlushCoalescer();
    const { device, pending } = slowDevice();
    const first = flusher.flush(device);
    const second = flusher.flush(device);
    pending[0]!.reject(new Error('EIO'));
    await expect(first).rejects.toThrow('EIO');
    await tick();
    pending[1]!.resolve();
    await expect(second).resolves.toBeUndefined();
  });
});
