// A network block device (a real nbdkit server) added to a running array: puts and gets go on
// while the device joins and the expand combines and rebalances onto it; every byte verified.
import { afterEach, expect } from 'vitest';
import { startNbdkit, type NbdkitServer } from '../helpers/nbdkit.js';
import { nbdkitPrerequisite } from '../helpers/prerequisites.js';
import { createTempArray, MIB, patternBytes, useArraySuite } from '../helpers/temp_array.js';

const suite = useArraySuite();
let server: NbdkitServer | undefined;

afterEach(async () => {
  // The array (closed by the suite's hook, registered first) lets go of the device first.
  await suite.array?.close();
  suite.array = undefined;
  await server?.stop();
  server = undefined;
});

nbdkitPrerequisite().it('adds an nbdkit device to a running array and expands onto it under load', async () => {
  ({ array: suite.array } = await createTempArray(suite.dir, { deviceCount: 4, parityCount: 1, extentLbMax: 16 }));
  const array = suite.array;
  const files = new Map<string, Buffer>();
  for (let i = 0; i < 5; i++) {
    const content = patternBytes(3 * MIB + i * 1000, 40 + i);
    await array.put(`f${i}`, content);
    files.set(`f${i}`, content);
  }
  server = await startNbdkit({ plugin: 'memory', parameters: ['size=64M'] });
  let adding = true;
  const added = array.addDevice(server.url).finally(() => (adding = false));
  let round = 0;
  while (adding) {
    const [name, content] = [...files][round % files.size]!;
    expect((await array.get(name)).equals(content)).toBe(true);
    const fresh = patternBytes(512 * 1024 + round, 700 + round);
    await array.put(`during${round}`, fresh);
    files.set(`during${round}`, fresh);
    round++;
  }
  const device = await added;
  expect(device).toMatchObject({ path: server.url, backend: 'nbd', state: 'online' });
  expect(device.expand!.combine.combinedGroups).toBeGreaterThan(0);
  for (const problem of device.expand!.problems) expect(problem).toMatch(/changed during its combine/);
  expect(array.status().devices.find((entry) => entry.path === server!.url)!.usedBytes).toBeGreaterThan(0);
  for (const [name, content] of files) expect((await array.get(name)).equals(content), name).toBe(true);
  array.assertInvariants();
  expect((await array.fsck({ deep: true })).problems).toEqual([]);
}, 120_000);
