// Content of one version of one file in the crash test: its length and bytes follow from
// (name, version) alone, so the checker can regenerate every candidate.
import { createHash } from 'node:crypto';

export const CRASH_NAMES = ['alpha', 'beta', 'gamma', 'delta'];

export function crashContent(name, version) {
  const digest = createHash('sha256').update(`${name}/${version}`).digest();
  // 0 to ~3 MiB, often not a multiple of anything.
  const length = digest.readUInt32LE(0) % (3 * 1024 * 1024 + 1);
  const content = Buffer.allocUnsafe(length);
  const block = createHash('sha512').update(digest).digest();
  for (let offset = 0; offset < length; offset += block.length) block.copy(content, offset, 0, Math.min(block.length, length - offset));
  // Stamp the version every 4 KiB so mixed versions never compare equal by accident.
  const stamp = Buffer.from(version.padEnd(16, '.'));
  for (let offset = 0; offset + stamp.length <= length; offset += 4096) stamp.copy(content, offset);
  return content;
}
