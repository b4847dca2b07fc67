// One io_uring instance driven by raw syscalls (no liburing): setup and mmap of the rings,
// preparing SQEs, submitting with one io_uring_enter, reaping CQEs, registering buffers and
// the completion eventfd. Every function returns 0 / a count, or -errno; nothing here aborts.
#ifndef ELASTRIPE_RING_H
#define ELASTRIPE_RING_H

#include <linux/io_uring.h>
#include <stddef.h>
#include <stdint.h>

// A kernel iovec may register at most 1 GiB; larger arenas are split into several.
#define RING_REGISTERED_IOVEC_BYTES_MAX (1ULL << 30)
#define RING_REGISTERED_IOVECS_MAX 64

typedef struct {
  int ring_fd;
  unsigned sq_entries;
  unsigned cq_entries;
  unsigned features;
  unsigned setup_flags;
  // Submission ring (shared with the kernel).
  unsigned *sq_head;
  unsigned *sq_tail;
  unsigned *sq_mask;
  unsigned *sq_array;
  struct io_uring_sqe *sqes;
  // Completion ring.
  unsigned *cq_head;
  unsigned *cq_tail;
  unsigned *cq_mask;
  struct io_uring_cqe *cqes;
  // Mappings, kept for munmap.
  void *sq_map;
  size_t sq_map_bytes;
  void *cq_map;
  size_t cq_map_bytes;
  void *sqes_map;
  size_t sqes_map_bytes;
  // Registered (fixed) buffers: the arena, split into iovecs of at most 1 GiB.
  unsigned registered_count;
  uintptr_t registered_base[RING_REGISTERED_IOVECS_MAX];
  size_t registered_bytes[RING_REGISTERED_IOVECS_MAX];
} ring_t;

// Creates the ring with `entries` SQEs and twice as many CQEs.
int ring_open(ring_t *ring, unsigned entries);
void ring_close(ring_t *ring);

// Free SQE slots right now.
unsigned ring_sq_space(const ring_t *ring);

// One request as the addon hands it over; `op` is a RING_OP_* value. RING_OP_WRITE_DSYNC is a
// write with RWF_DSYNC: durable when it completes (a block device gets a FUA write, which the
// kernel turns into write + cache flush where the device has no FUA).
enum { RING_OP_READ = 0, RING_OP_WRITE = 1, RING_OP_FSYNC = 2, RING_OP_PUNCH = 3, RING_OP_WRITE_DSYNC = 4 };
typedef struct {
  int op;
  int fd;
  void *address;
  uint32_t length_bytes;
  uint64_t file_offset_bytes;
  uint64_t tag;
} ring_request_t;

// Prepares one SQE (the caller checked ring_sq_space). Uses READ_FIXED/WRITE_FIXED when the
// whole buffer lies inside one registered iovec; returns 1 when it did, 0 otherwise.
int ring_prepare(ring_t *ring, const ring_request_t *request);
// Submits every prepared SQE with one io_uring_enter (retrying EINTR). Returns how many the
// kernel took, or -errno; SQEs the kernel did not take are withdrawn from the ring.
int ring_submit(ring_t *ring, unsigned prepared_count);
// Copies up to `capacity` completions as (tag, result) pairs and advances the CQ head.
unsigned ring_reap(ring_t *ring, int32_t *pairs, unsigned capacity);

// Waits up to timeout_ms for at least min_complete CQEs (IORING_ENTER_EXT_ARG). 0 or -errno.
int ring_wait(ring_t *ring, unsigned min_complete, unsigned timeout_ms);

int ring_register_eventfd(ring_t *ring, int event_fd);
// Registers [base, base+length) as fixed buffers, replacing any earlier registration.
int ring_register_memory(ring_t *ring, void *base, size_t length_bytes);
int ring_unregister_memory(ring_t *ring);

#endif
