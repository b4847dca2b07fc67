// The file behind a loop block device: a loop device and its backing file are two names with
// two identities (st_rdev vs st_dev:st_ino) for the same bytes, so create and add must not take
// both as two devices, and get must not write either one while the other is a device of the
// array. The kernel says which file a loop device reads: /sys/dev/block/MAJ:MIN/loop/backing_file
// (its current path; "(deleted)" appended once it is unlinked, when no path names it any more).
// Synchronous: two small reads of sysfs and a stat.
import { readFileSync, statSync, type Stats } from 'node:fs';

/** The backing file's stat when `info` is an attached loop device; undefined for anything else. */
export function loopBackingStats(info: Stats): Stats | undefined {
  if (!info.isBlockDevice()) return undefined;
  // Linux's dev_t encoding (glibc gnu_dev_major/minor), in arithmetic that stays exact above 2^32.
  const major = (Math.floor(info.rdev / 0x100) & 0xfff) | (Math.floor(info.rdev / 2 ** 32) & ~0xfff);
  const minor = (info.rdev & 0xff) | (Math.floor(info.rdev / 0x1000) & ~0xff);
  try {
    const backing = readFileSync(`/sys/dev/block/${major}:${minor}/loop/backing_file`, 'utf8').replace(/\n$/, '');
    return statSync(backing);
  } catch {
    return undefined; // not a loop device, none attached, or its file is gone
  }
}
