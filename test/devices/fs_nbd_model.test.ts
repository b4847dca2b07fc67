// Property test: random batches of writes, reads, flushes and trims on a real device (image
// file via node:fs, nbdkit memory via NBD) agree with an in-memory model. A fixed number of
// runs (no time limit, so a slow machine checks as much as a fast one); the seed is printed and
// ELASTRIPE_DEVICE_MODEL_SEED replays a run, ELASTRIPE_DEVICE_MODEL_RUNS lengthens it.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LB_BYTES } from '../../src/constants.js';
import type { Device, DeviceExtent } from '../../src/devices/device.js';
import { openFsDevice } from '../../src/devices/fs_device.js';
import { openNbdDevice } from '../../src/devices/nbd_device.js';
import { createImageFile } from '../../src/devices/open_device.js';
import { startNbdkit } from '../helpers/nbdkit.js';
import { nbdkitPrerequisite } from '../helpers/prerequisites.js';

const DEVICE_LB = 512;
const SEED = Number(process.env.ELASTRIPE_DEVICE_MODEL_SEED ?? 20240607);
const NUM_RUNS = Number(process.env.ELASTRIPE_DEVICE_MODEL_RUNS ?? 100);
const RUN_OPTIONS = { seed: SEED, numRuns: NUM_RUNS } as const;

type Step =
  | { kind: 'write'; extents: DeviceExtent[]; seed: number }
  | { kind: 'read'; extents: DeviceExtent[] }
  | { kind: 'flush' };

const extentArb = fc.integer({ min: 1, max: 48 }).chain((lengthLb) =>
  fc.integer({ min: 0, max: DEVICE_LB - lengthLb }).map((startLb) => ({ startLb, lengthLb })));
/** Extents of one write batch must not overlap (their order on the device is unspecified). */
const disjoint = (extents: DeviceExtent[]): DeviceExtent[] => {
  const kept: DeviceExtent[] = [];
  for (const extent of extents) {
    if (kept.every((other) => extent.startLb + extent.lengthLb <= other.startLb || other.startLb + other.lengthLb <= extent.startLb)) kept.push(extent);
  }
  return kept;
};
const stepArb: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ kind: fc.constant('write' as const), extents: fc.array(extentArb, { minLength: 1, maxLength: 12 }).map(disjoint), seed: fc.integer() }),
  fc.record({ kind: fc.constant('read' as const), extents: fc.array(extentArb, { minLength: 1, maxLength: 12 }) }),
  fc.constant({ kind: 'flush' as const }),
);

function fillFor(lengthBytes: number, seed: number, index: number): Uint8Array {
  const bytes = new Uint8Array(lengthBytes);
  let x = (seed ^ (index * 0x9e3779b9)) >>> 0 || 1;
  for (let i = 0; i < lengthBytes; i += 4) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    bytes[i] = x & 0xff; bytes[i + 1] = (x >>> 8) & 0xff; bytes[i + 2] = (x >>> 16) & 0xff; bytes[i + 3] = x >>> 24;
  }
  return bytes;
}

async function check(device: Device, steps: Step[]): Promise<void> {
  const model = new Uint8Array(DEVICE_LB * LB_BYTES);
  await device.write([{ startLb: 0, lengthLb: DEVICE_LB }], [model]);
  for (const step of steps) {
    if (step.kind === 'flush') {
      await device.flush();
    } else if (step.kind === 'write') {
      const buffers = step.extents.map((extent, i) => fillFor(extent.lengthLb * LB_BYTES, step.seed, i));
      await device.write(step.extents, buffers);
      step.extents.forEach((extent, i) => model.set(buffers[i]!, extent.startLb * LB_BYTES));
    } else {
      const buffers = step.extents.map((extent) => new Uint8Array(extent.lengthLb * LB_BYTES));
      await device.read(step.extents, buffers);
      step.extents.forEach((extent, i) => {
        const expected = model.subarray(extent.startLb * LB_BYTES, (extent.startLb + extent.lengthLb) * LB_BYTES);
        expect(Buffer.compare(buffers[i]!, expected), `read of ${JSON.stringify(extent)}`).toBe(0);
      });
    }
  }
}

describe('devices agree with an in-memory model', () => {
  console.log(`device model test: seed ${SEED}, ${NUM_RUNS} runs (ELASTRIPE_DEVICE_MODEL_SEED / _RUNS to replay or lengthen)`);
  it('fs backend on an image file', async () => {
    const directory = mkdtempSync(join(tmpdir(), 'elastripe-model-'));
    try {
      const path = join(directory, 'model.img');
      await createImageFile(path, DEVICE_LB * LB_BYTES);
      const device = await openFsDevice(path);
      try {
        await fc.assert(fc.asyncProperty(fc.array(stepArb, { minLength: 1, maxLength: 30 }), (steps) => check(device, steps)), RUN_OPTIONS);
      } finally {
        await device.close();
      }
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  });

  nbdkitPrerequisite().it('NBD backend on nbdkit memory, small queue so requests wait', async () => {
    const server = await startNbdkit({ plugin: 'memory', parameters: [`size=${DEVICE_LB * LB_BYTES}`] });
    try {
      const device = await openNbdDevice(server.url, { inflightMax: 4 });
      try {
        await fc.assert(fc.asyncProperty(fc.array(stepArb, { minLength: 1, maxLength: 30 }), async (steps) => {
          await check(device, steps);
          (device as unknown as { assertInvariants(): void }).assertInvariants();
        }), RUN_OPTIONS);
      } finally {
        await device.close();
      }
    } finally {
      await server.stop();
    }
  });
});
