// The file behind a loop block device, for get's target rules: a loop device and its backing
// file are two names with two identities (st_rdev vs st_dev:st_ino) for the same bytes, so
// writing either one while the other is a device of the array destroys that device. The
// kernel says which file a loop device reads: /sys/dev/block/MAJ:MIN/loop/backing_file (its
// current path; "(deleted)" appended once it is unlinked, when no path names it any more).
import type { Stats } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';

/** The backing file's stat when `info` is an attached loop device; undefined for anything else. */
export async function loopBackingStats(info: Stats): Promise<Stats | undefined> {
  if (!info.isBlockDevice()) return undefined;
  // Linux's dev_t encoding (glibc gnu_dev_major/minor), in arithmetic that stays exact above 2^32.
  const major = (Math.floor(info.rdev / 0x100) & 0xfff) | (Math.floor(info.rdev / 2 ** 32) & ~0xfff);
  const minor = (info.rdev & 0xff) | (Math.floor(info.rdev / 0x1000) & ~0xff);
  const backing = await readFile(`/sys/dev/block/${major}:${minor}/loop/backing_file`, 'utf8').catch(() => undefined);
  if (backing === undefined) return undefined; // not a loop device, or none attached
  return stat(backing.replace(/\n$/, '')).catch(() => undefined);
}
