// Content of one version of one file in the crash test: its length and bytes follow from
// (name, version) alone, so the checker can regenerate every candidate.
import { createHash } from 'node:crypto';

/** Files of 0 to ~3 MiB: several full groups and a tail, the bulk that jobs move. */
export const LARGE_NAMES = ['alpha', 'beta', 'gamma', 'delta', 'epsilon', 'zeta'];
/** Files of 0 to 64 KiB: narrow tail-only groups, cheap to put and delete. */
export const SMALL_NAMES = ['mu', 'nu', 'xi', 'omicron'];
export const CRASH_NAMES = [...LARGE_NAMES, ...SMALL_NAMES];

export function crashContent(name, version) {
  const digest = createHash('sha256').update(`${name}/${version}`).digest();
  // Often not a multiple of anything.
  const maxLength = SMALL_NAMES.includes(name) ? 64 * 1024 : 3 * 1024 * 1024;
  const length = digest.readUInt32LE(0) % (maxLength + 1);
  const content = Buffer.allocUnsafe(length);
  const block = createHash('sha512').update(digest).digest();
  for (let offset = 0; offset < length; offset += block.length) block.copy(content, offset, 0, Math.min(block.length, length - offset));
  // Stamp the version every 4 KiB so mixed versions never compare equal by accident.
  const stamp = Buffer.from(version.padEnd(16, '.'));
  for (let offset = 0; offset + stamp.length <= length; offset += 4096) stamp.copy(content, offset);
  return content;
}
