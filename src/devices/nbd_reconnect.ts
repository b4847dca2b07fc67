// How an NBD client paces its reconnects. Apart from nbd_device.ts so that the health monitor,
// which every open array loads, does not load node:net (18 ms of a CLI run's start) with it.

/**
 * A connection that failed is not revived in place (its requests already failed, and the server
 * that answers again might be another export): the owner opens a new NbdDevice and checks its
 * superblock (the array's health monitor). It retries with exponential backoff from
 * NBD_RECONNECT_BASE_MS, doubling up to NBD_RECONNECT_MAX_MS, with +-20% jitter so the clients of
 * one restarted server do not all knock at the same instant.
 */
export const NBD_RECONNECT_BASE_MS = 250;
export const NBD_RECONNECT_MAX_MS = 30_000;

/** How long to wait before reconnect attempt `attempt` (0 = the first retry). */
export function nbdReconnectDelayMs(attempt: number, baseMs = NBD_RECONNECT_BASE_MS, maxMs = NBD_RECONNECT_MAX_MS, random: () => number = Math.random): number {
  const exponential = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 30));
  return Math.round(exponential * (0.8 + 0.4 * random()));
}

