// What the simulator replaces so that a seed replays exactly. The array's control flow depends
// on more than the order of I/O completions: UUIDs (randomUUID) and timestamps (Date.now) end
// up in metadata rows, journal records and checkpoints, which are deflated, so their lengths —
// and with them ring positions, checkpoint points and the number of requests before a power
// loss — change from run to run. During a simulation:
//  - randomUUID is a seeded stream (installed by `vi.mock('node:crypto', ...)` in the sim test
//    files, with `cryptoMock`; the simulator reseeds it per run);
//  - Date.now counts milliseconds from a fixed epoch, one per call (so deadlines computed from it
//    still pass), and the real clock is restored afterwards.
import { mixSeed, SimRng } from './sim_rng.js';

/** 2026-01-01T00:00:00Z: the simulated clock's start. */
const SIM_EPOCH_MS = 1_767_225_600_000;

let uuidRng = new SimRng(1);
let clockMs = SIM_EPOCH_MS;
let realNow: (() => number) | undefined;
/** Set once the node:crypto mock is in place (the simulator warns without it). */
export let cryptoMockInstalled = false;

/** A version-4-shaped UUID from the seeded stream. */
export function simRandomUUID(): `${string}-${string}-${string}-${string}-${string}` {
  const bytes = Buffer.alloc(16);
  for (let i = 0; i < 16; i += 4) bytes.writeUInt32LE(uuidRng.u32(), i);
  bytes[6] = (bytes[6]! & 0x0f) | 0x40;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** The node:crypto module with randomUUID replaced (for vi.mock's factory). */
export function cryptoMock<T extends object>(original: T): T {
  cryptoMockInstalled = true;
  const originalDefault = (original as { default?: object }).default ?? original;
  return { ...original, randomUUID: simRandomUUID, default: { ...originalDefault, randomUUID: simRandomUUID } };
}

/** Seeds the UUID stream and starts the simulated clock; returns a function that restores time. */
export function beginDeterministicRun(seed: number): () => void {
  uuidRng = new SimRng(mixSeed(seed, 'uuid'));
  clockMs = SIM_EPOCH_MS;
  if (realNow === undefined) {
    realNow = Date.now;
    Date.now = () => clockMs++;
  }
  return () => {
    if (realNow !== undefined) Date.now = realNow;
    realNow = undefined;
  };
}
