// Checks and plumbing every Device backend shares: validating a batch of extents against its
// buffers and the device size, settling a batch (every request finishes before the first
// failure is reported), and turning Node errors into positive errno values.
import { constants as osConstants } from 'node:os';
import { LB_BYTES } from '../constants.js';
import { DeviceIoError, InvalidArgumentError, MisalignedIoError } from '../errors.js';
import type { DeviceExtent } from './device.js';

export const ERRNO = {
  EIO: 5,
  ENXIO: 6,
  EBADF: 9,
  EBUSY: 16,
  ENODEV: 19,
  EINVAL: 22,
  ENOSPC: 28,
  EROFS: 30,
  EPIPE: 32,
  ECONNRESET: 104,
  ESHUTDOWN: 108,
  ETIMEDOUT: 110,
  ECONNREFUSED: 111,
} as const;

/**
 * Programmer errors (wrong counts, negative or fractional numbers) are InvalidArgumentError;
 * a buffer whose length does not match its extent is MisalignedIoError; an extent past the
 * end of the device is a DeviceIoError (EINVAL) at the offending offset, never silent zeros.
 */
export function validateBatch(
  path: string,
  operation: string,
  extents: readonly DeviceExtent[],
  buffers: readonly Uint8Array[] | null,
  sizeBytes: number,
): void {
  if (buffers !== null && extents.length !== buffers.length) {
    throw new InvalidArgumentError(`${operation} on ${path}: ${extents.length} extents but ${buffers.length} buffers`);
  }
  for (let i = 0; i < extents.length; i++) {
    const extent = extents[i]!;
    if (!Number.isSafeInteger(extent.startLb) || extent.startLb < 0 || !Number.isSafeInteger(extent.lengthLb) || extent.lengthLb < 1) {
      throw new InvalidArgumentError(`${operation} on ${path}: extent ${i} {startLb: ${extent.startLb}, lengthLb: ${extent.lengthLb}} is not a valid extent`);
    }
    const lengthBytes = extent.lengthLb * LB_BYTES;
    if (buffers !== null && buffers[i]!.byteLength !== lengthBytes) {
      throw new MisalignedIoError(`${operation} on ${path}: buffer ${i} has ${buffers[i]!.byteLength} bytes, extent needs ${lengthBytes}`);
    }
    const endBytes = (extent.startLb + extent.lengthLb) * LB_BYTES;
    if (endBytes > sizeBytes) {
      throw new DeviceIoError(path, operation, extent.startLb * LB_BYTES, ERRNO.EINVAL, `extent ends at byte ${endBytes}, beyond the device's ${sizeBytes}`);
    }
  }
}

/** Waits for every promise, then rethrows the first failure (in batch order). */
export async function settleBatch(promises: readonly Promise<unknown>[]): Promise<void> {
  const results = await Promise.allSettled(promises);
  for (const result of results) {
    if (result.status === 'rejected') throw result.reason;
  }
}

/** The positive errno of a Node system error; EIO when the error carries none. */
export function errnoOf(error: unknown): number {
  const candidate = error as { errno?: unknown; code?: unknown } | null;
  if (candidate && typeof candidate.errno === 'number' && candidate.errno !== 0) return Math.abs(candidate.errno);
  if (candidate && typeof candidate.code === 'string') {
    const known = (osConstants.errno as Record<string, number>)[candidate.code];
    if (known !== undefined) return known;
  }
  return ERRNO.EIO;
}
