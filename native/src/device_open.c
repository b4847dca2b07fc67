// O_DIRECT opening, size and logical block size of block devices and image files.
#include "device_open.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

// Image files: O_DIRECT on ext4/xfs/tmpfs needs 512-byte alignment at most for our purposes.
#define FILE_LOGICAL_BLOCK_BYTES 512

static int block_geometry(int fd, opened_device_t *out) {
  uint64_t size_bytes = 0;
  int logical_block_bytes = 0;
  if (ioctl(fd, BLKGETSIZE64, &size_bytes) < 0) return -errno;
  if (ioctl(fd, BLKSSZGET, &logical_block_bytes) < 0) return -errno;
  out->size_bytes = size_bytes;
  out->logical_block_bytes = (uint32_t)logical_block_bytes;
  return 0;
}

static int file_geometry(int fd, int exclusive, opened_device_t *out) {
  if (exclusive && flock(fd, LOCK_EX | LOCK_NB) < 0) return errno == EWOULDBLOCK ? -EBUSY : -errno;
  struct stat st;
  if (fstat(fd, &st) < 0) return -errno;
  out->size_bytes = (uint64_t)st.st_size;
  out->logical_block_bytes = FILE_LOGICAL_BLOCK_BYTES;
  return 0;
}

int device_open(const char *path, int exclusive, opened_device_t *out) {
  struct stat st;
  if (stat(path, &st) < 0) return -errno;
  if (!S_ISBLK(st.st_mode) && !S_ISREG(st.st_mode)) return -ENOTBLK;
  out->is_block = S_ISBLK(st.st_mode);
  int flags = O_RDWR | O_DIRECT | O_CLOEXEC;
  if (out->is_block && exclusive) flags |= O_EXCL;
  int fd = open(path, flags);
  if (fd < 0) return -errno;
  int result = out->is_block ? block_geometry(fd, out) : file_geometry(fd, exclusive, out);
  if (result < 0) {
    close(fd);
    return result;
  }
  out->fd = fd;
  return 0;
}
