// Opening a device for O_DIRECT I/O: a block device or an image file.
#ifndef ELASTRIPE_DEVICE_OPEN_H
#define ELASTRIPE_DEVICE_OPEN_H

#include <stdint.h>

typedef struct {
  int fd;
  int is_block;
  uint64_t size_bytes;
  uint32_t logical_block_bytes;
} opened_device_t;

// Opens read-write with O_DIRECT. With `exclusive`, a block device is opened O_EXCL (the
// kernel refuses it with EBUSY when mounted, claimed or opened so by anyone else) and an
// image file is flock()ed (a second exclusive opener gets EBUSY). Returns 0 or -errno.
int device_open(const char *path, int exclusive, opened_device_t *out);

#endif
