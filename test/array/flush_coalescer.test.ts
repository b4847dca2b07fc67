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

  it('passes a failed flush to its callers, and to every later one: the writes it covered may be lost', async () => {
    const flusher = new FlushCoalescer();
    const { device, pending } = slowDevice();
    const first = flusher.flush(device);
    const second = flusher.flush(device).then(
      () => 'resolved',
      (error: unknown) => error,
    );
    pending[0]!.reject(new Error('EIO'));
    await expect(first).rejects.toThrow('EIO');
    await tick();
    // A later flush that succeeded would say nothing about what the failed one dropped.
    expect(await second).toMatchObject({ code: 'DEVICE_IO', operation: 'flush' });
    await expect(flusher.flush(device)).rejects.toMatchObject({ code: 'DEVICE_IO' });
    expect(pending).toHaveLength(1);
  });
});
