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

  it('reports the first failed flush of each device once, so the array can fail the device whoever flushed it', async () => {
    const reported: { device: Device; message: string }[] = [];
    const flusher = new FlushCoalescer((device, error) => reported.push({ device, message: error.message }));
    const a = slowDevice();
    const b = slowDevice();
    const failedA = flusher.flush(a.device).catch(() => undefined);
    const okB = flusher.flush(b.device);
    a.pending[0]!.reject(new Error('EIO'));
    b.pending[0]!.resolve();
    await Promise.all([failedA, okB]);
    expect(reported.map((entry) => entry.device)).toEqual([a.device]);
    // Later flushes of the poisoned device fail without a new report.
    await expect(flusher.flush(a.device)).rejects.toMatchObject({ code: 'DEVICE_IO' });
    expect(reported).toHaveLength(1);
  });

  describe('held requests (a data flush sharing the flush of a journal record)', () => {
    it('waits while held and joins the flush started at the release, which started after it', async () => {
      const flusher = new FlushCoalescer();
      const { device, pending } = slowDevice();
      const release = flusher.hold();
      let dataDone = false;
      const data = flusher.flush(device, { mayWait: true }).then(() => (dataDone = true));
      await tick();
      expect(pending).toHaveLength(0); // held: no flush of its own
      flusher.assertInvariants();
      const record = flusher.flush(device); // the record's flush, started after the request
      release();
      expect(pending).toHaveLength(1);
      pending[0]!.resolve();
      await Promise.all([record, data]);
      expect(dataDone).toBe(true);
      expect(flusher.flushesStarted).toBe(1);
      expect(flusher.heldRequestsJoined).toBe(1);
      flusher.assertInvariants();
    });

    it('never joins a flush that was already running when the request was made', async () => {
      const flusher = new FlushCoalescer();
      const { device, pending } = slowDevice();
      const earlier = flusher.flush(device); // running since before the data request
      const release = flusher.hold();
      let dataDone = false;
      const data = flusher.flush(device, { mayWait: true }).then(() => (dataDone = true));
      release();
      pending[0]!.resolve();
      await earlier;
      await tick();
      expect(dataDone).toBe(false); // it needs the next flush
      expect(pending).toHaveLength(2);
      pending[1]!.resolve();
      await data;
      expect(flusher.heldRequestsJoined).toBe(0);
    });

    it('releases every held request at the next release, also with holds overlapping', async () => {
      const flusher = new FlushCoalescer();
      const { device, pending } = slowDevice();
      const first = flusher.hold();
      const second = flusher.hold();
      const early = flusher.flush(device, { mayWait: true });
      first(); // releases what is held so far, though the second hold is still active
      expect(pending).toHaveLength(1);
      const late = flusher.flush(device, { mayWait: true }); // held by the second hold
      flusher.assertInvariants();
      second();
      second(); // a release runs once
      pending[0]!.resolve();
      await early;
      await tick();
      expect(pending).toHaveLength(2); // late came after the first flush started: the next one
      pending[1]!.resolve();
      await late;
      flusher.assertInvariants();
    });

    it('does not wait without a hold, nor for callers that may not wait', async () => {
      const flusher = new FlushCoalescer();
      const { device, pending } = slowDevice();
      void flusher.flush(device, { mayWait: true });
      expect(pending).toHaveLength(1);
      const release = flusher.hold();
      void flusher.flush(device); // a job's flush: never held
      await tick();
      expect(pending).toHaveLength(1); // it joined the next flush, which starts after this one
      pending[0]!.resolve();
      await tick();
      expect(pending).toHaveLength(2);
      release();
      pending[1]!.resolve();
    });
  });
});
