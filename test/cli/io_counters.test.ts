// serve's CountingDevice keeps the device's durable writes (uring: RWF_DSYNC), counting them as
// writes, so an array served by `elastripe serve` still writes small puts without flushes; over
// a device without them (fs) it has none, and callers write and flush.
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { IoCounters } from '../../src/cli/serve/io_counters.js';
import { LB_BYTES } from '../../src/constants.js';
import { openDevice } from '../../src/devices/open_device.js';
import { uringPrerequisite } from '../helpers/prerequisites.js';

let directory: string;
beforeEach(() => {
  directory = mkdtempSync('/dev/shm/elastripe-io-counters-');
});
afterEach(() => rmSync(directory, { recursive: true, force: true }));

function imageFile(): string {
  const path = join(directory, 'dev.img');
  writeFileSync(path, '');
  truncateSync(path, 4 << 20);
  return path;
}

const block = () => new Uint8Array(new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true }).buffer, 0, LB_BYTES).fill(5);

describe('CountingDevice', () => {
  uringPrerequisite().it('forwards and counts durable writes of a uring device', async () => {
    const counters = new IoCounters();
    const path = imageFile();
    const device = await counters.opener(openDevice)(path, { backend: 'uring' });
    try {
      expect(typeof device.writeDurable).toBe('function');
      await device.writeDurable!([{ startLb: 1, lengthLb: 1 }], [block()]);
      expect(counters.countsOf(path)).toMatchObject({ writeOps: 1, writtenBytes: LB_BYTES, writeErrors: 0 });
    } finally {
      await device.close();
    }
  });

  it('has no durable writes over a device without them (fs)', async () => {
    const counters = new IoCounters();
    const device = await counters.opener(openDevice)(imageFile(), { backend: 'fs' });
    try {
      expect(device.writeDurable).toBeUndefined();
    } finally {
      await device.close();
    }
  });
});
