// The file behind a loop block device: a loop device and its backing file are two names with
// two identities (st_rdev vs st_dev:st_ino) for the same bytes, so create and add must not take
// both as two devices, and get must not write either one while the other is a device of the
// array. The kernel says which file a loop device reads: /sys/dev/block/MAJ:MIN/loop/backing_file
// (its current path; "(deleted)" appended once it is unlinked, when no path names it any more).
// Synchronous: two small reads of sysfs and a stat.
import { readFileSync, statSync, type Stats } from 'node:fs';

/** "major:minor" of a device number (Linux's dev_t encoding, as glibc's gnu_dev_major/minor). */
export function majorMinor(rdev: number | bigint): string {
  const value = BigInt(rdev);
  const major = Number(((value >> 8n) & 0xfffn) | ((value >> 32n) & ~0xfffn));
  const minor = Number((value & 0xffn) | ((value >> 12n) & ~0xffn));
  return `${major}:${minor}`;
}

/** The sysfs directory of block device `rdev`'s loop attributes. */
export function loopSysfsDirectory(rdev: number | bigint): string {
  return `/sys/dev/block/${majorMinor(rdev)}/loop`;
}

/** The backing file's stat when `info` is an attached loop device; undefined for anything else. */
export function loopBackingStats(info: Stats): Stats | undefined {
  if (!info.isBlockDevice()) return undefined;
  try {
    const backing = readFileSync(`${loopSysfsDirectory(info.rdev)}/backing_file`, 'utf8').replace(/\n$/, '');
    return statSync(backing);
  } catch {
    return undefined; // not a loop device, none attached, or its file is gone
  }
}
