// Raw io_uring: the three syscalls, the shared rings and the memory ordering they need.
// Ordering rules (as in liburing): the kernel's writes to the CQ tail and SQ head are read
// with acquire loads; our writes to the SQ tail and CQ head are release stores, so the kernel
// sees a fully written SQE before the tail that publishes it, and we finish reading a CQE
// before handing its slot back.
#include "ring.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#ifndef RWF_DSYNC
#define RWF_DSYNC 0x00000002  // linux/fs.h: per-write O_DSYNC
#endif

static int sys_setup(unsigned entries, struct io_uring_params *params) {
  return (int)syscall(__NR_io_uring_setup, entries, params);
}

static int sys_enter(int fd, unsigned to_submit, unsigned min_complete, unsigned flags) {
  return (int)syscall(__NR_io_uring_enter, fd, to_submit, min_complete, flags, NULL, 0);
}

static int sys_register(int fd, unsigned opcode, const void *arg, unsigned count) {
  return (int)syscall(__NR_io_uring_register, fd, opcode, arg, count);
}

static int ring_setup_with_flags(unsigned entries, unsigned flags, struct io_uring_params *params) {
  memset(params, 0, sizeof(*params));
  params->flags = flags | IORING_SETUP_CQSIZE;
  params->cq_entries = entries * 2;
  return sys_setup(entries, params);
}

static int ring_map(ring_t *ring, const struct io_uring_params *params) {
  ring->sq_map_bytes = params->sq_off.array + params->sq_entries * sizeof(unsigned);
  ring->cq_map_bytes = params->cq_off.cqes + params->cq_entries * sizeof(struct io_uring_cqe);
  int single = (params->features & IORING_FEAT_SINGLE_MMAP) != 0;
  if (single) {
    if (ring->cq_map_bytes > ring->sq_map_bytes) ring->sq_map_bytes = ring->cq_map_bytes;
    ring->cq_map_bytes = ring->sq_map_bytes;
  }
  ring->sq_map = mmap(NULL, ring->sq_map_bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
                      ring->ring_fd, IORING_OFF_SQ_RING);
  if (ring->sq_map == MAP_FAILED) return -errno;
  ring->cq_map = single ? ring->sq_map
                        : mmap(NULL, ring->cq_map_bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
                               ring->ring_fd, IORING_OFF_CQ_RING);
  if (ring->cq_map == MAP_FAILED) return -errno;
  ring->sqes_map_bytes = params->sq_entries * sizeof(struct io_uring_sqe);
  ring->sqes_map = mmap(NULL, ring->sqes_map_bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
                        ring->ring_fd, IORING_OFF_SQES);
  if (ring->sqes_map == MAP_FAILED) return -errno;
  return 0;
}

static void ring_bind_pointers(ring_t *ring, const struct io_uring_params *params) {
  char *sq = ring->sq_map;
  char *cq = ring->cq_map;
  ring->sq_head = (unsigned *)(sq + params->sq_off.head);
  ring->sq_tail = (unsigned *)(sq + params->sq_off.tail);
  ring->sq_mask = (unsigned *)(sq + params->sq_off.ring_mask);
  ring->sq_array = (unsigned *)(sq + params->sq_off.array);
  ring->sqes = ring->sqes_map;
  ring->cq_head = (unsigned *)(cq + params->cq_off.head);
  ring->cq_tail = (unsigned *)(cq + params->cq_off.tail);
  ring->cq_mask = (unsigned *)(cq + params->cq_off.ring_mask);
  ring->cqes = (struct io_uring_cqe *)(cq + params->cq_off.cqes);
  // SQE slot i is always published through array index i: the array is the identity map.
  for (unsigned i = 0; i < params->sq_entries; i++) ring->sq_array[i] = i;
}

int ring_open(ring_t *ring, unsigned entries) {
  memset(ring, 0, sizeof(*ring));
  ring->ring_fd = -1;
  struct io_uring_params params;
  // SUBMIT_ALL keeps submitting past an SQE that fails to prepare (5.18+); older kernels
  // refuse the flag, and then we go without it.
  unsigned flags = IORING_SETUP_SUBMIT_ALL | IORING_SETUP_CLAMP;
  int fd = ring_setup_with_flags(entries, flags, &params);
  if (fd < 0 && errno == EINVAL) {
    flags = IORING_SETUP_CLAMP;
    fd = ring_setup_with_flags(entries, flags, &params);
  }
  if (fd < 0) return -errno;
  ring->ring_fd = fd;
  ring->setup_flags = flags;
  ring->sq_entries = params.sq_entries;
  ring->cq_entries = params.cq_entries;
  ring->features = params.features;
  int mapped = ring_map(ring, &params);
  if (mapped < 0) {
    ring_close(ring);
    return mapped;
  }
  ring_bind_pointers(ring, &params);
  return 0;
}

void ring_close(ring_t *ring) {
  if (ring->sqes_map && ring->sqes_map != MAP_FAILED) munmap(ring->sqes_map, ring->sqes_map_bytes);
  if (ring->cq_map && ring->cq_map != MAP_FAILED && ring->cq_map != ring->sq_map)
    munmap(ring->cq_map, ring->cq_map_bytes);
  if (ring->sq_map && ring->sq_map != MAP_FAILED) munmap(ring->sq_map, ring->sq_map_bytes);
  if (ring->ring_fd >= 0) close(ring->ring_fd);
  memset(ring, 0, sizeof(*ring));
  ring->ring_fd = -1;
}

unsigned ring_sq_space(const ring_t *ring) {
  unsigned head = __atomic_load_n(ring->sq_head, __ATOMIC_ACQUIRE);
  return ring->sq_entries - (*ring->sq_tail - head);
}

// The registered iovec holding all of [address, address+length), or -1.
static int ring_fixed_index(const ring_t *ring, const void *address, uint32_t length_bytes) {
  uintptr_t start = (uintptr_t)address;
  for (unsigned i = 0; i < ring->registered_count; i++) {
    uintptr_t base = ring->registered_base[i];
    if (start >= base && start + length_bytes <= base + ring->registered_bytes[i]) return (int)i;
  }
  return -1;
}

static void ring_prepare_rw(struct io_uring_sqe *sqe, const ring_t *ring, const ring_request_t *request,
                            int *used_fixed) {
  int fixed = ring_fixed_index(ring, request->address, request->length_bytes);
  int write = request->op == RING_OP_WRITE || request->op == RING_OP_WRITE_DSYNC;
  if (fixed >= 0) {
    sqe->opcode = write ? IORING_OP_WRITE_FIXED : IORING_OP_READ_FIXED;
    sqe->buf_index = (uint16_t)fixed;
    *used_fixed = 1;
  } else {
    sqe->opcode = write ? IORING_OP_WRITE : IORING_OP_READ;
  }
  sqe->addr = (uint64_t)(uintptr_t)request->address;
  sqe->len = request->length_bytes;
  sqe->off = request->file_offset_bytes;
  if (request->op == RING_OP_WRITE_DSYNC) sqe->rw_flags = RWF_DSYNC;
}

int ring_prepare(ring_t *ring, const ring_request_t *request) {
  unsigned tail = *ring->sq_tail;
  struct io_uring_sqe *sqe = &ring->sqes[tail & *ring->sq_mask];
  memset(sqe, 0, sizeof(*sqe));
  sqe->fd = request->fd;
  sqe->user_data = request->tag;
  int used_fixed = 0;
  switch (request->op) {
    case RING_OP_READ:
    case RING_OP_WRITE:
    case RING_OP_WRITE_DSYNC:
      ring_prepare_rw(sqe, ring, request, &used_fixed);
      break;
    case RING_OP_FSYNC:
      sqe->opcode = IORING_OP_FSYNC;
      sqe->fsync_flags = IORING_FSYNC_DATASYNC;
      break;
    default:  // RING_OP_PUNCH (the addon refuses other ops): fallocate(PUNCH_HOLE | KEEP_SIZE); length in addr.
      sqe->opcode = IORING_OP_FALLOCATE;
      sqe->off = request->file_offset_bytes;
      sqe->addr = request->length_bytes;
      sqe->len = 0x02 | 0x01;  // FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE
      break;
  }
  // Published to the kernel only by ring_submit's release store of the tail.
  *ring->sq_tail = tail + 1;
  return used_fixed;
}

int ring_submit(ring_t *ring, unsigned prepared_count) {
  unsigned tail = *ring->sq_tail;
  __atomic_store_n(ring->sq_tail, tail, __ATOMIC_RELEASE);
  unsigned submitted = 0;
  int error = 0;
  while (submitted < prepared_count) {
    int taken = sys_enter(ring->ring_fd, prepared_count - submitted, 0, 0);
    if (taken < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (taken <= 0) {
      error = taken < 0 ? -errno : -EIO;
      break;
    }
    submitted += (unsigned)taken;
  }
  if (submitted < prepared_count) {
    // Withdraw what the kernel did not consume so the ring stays consistent.
    unsigned head = __atomic_load_n(ring->sq_head, __ATOMIC_ACQUIRE);
    __atomic_store_n(ring->sq_tail, head, __ATOMIC_RELEASE);
    if (submitted == 0) return error;
  }
  return (int)submitted;
}

unsigned ring_reap(ring_t *ring, int32_t *pairs, unsigned capacity) {
  unsigned head = *ring->cq_head;
  unsigned tail = __atomic_load_n(ring->cq_tail, __ATOMIC_ACQUIRE);
  unsigned count = 0;
  while (head != tail && count < capacity) {
    const struct io_uring_cqe *cqe = &ring->cqes[head & *ring->cq_mask];
    pairs[2 * count] = (int32_t)cqe->user_data;
    pairs[2 * count + 1] = cqe->res;
    head++;
    count++;
  }
  __atomic_store_n(ring->cq_head, head, __ATOMIC_RELEASE);
  return count;
}

int ring_wait(ring_t *ring, unsigned min_complete, unsigned timeout_ms) {
  struct __kernel_timespec timeout = {
      .tv_sec = timeout_ms / 1000,
      .tv_nsec = (long long)(timeout_ms % 1000) * 1000000,
  };
  struct io_uring_getevents_arg arg = {.sigmask = 0, .sigmask_sz = 0, .ts = (uint64_t)(uintptr_t)&timeout};
  int result = (int)syscall(__NR_io_uring_enter, ring->ring_fd, 0, min_complete,
                            IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG, &arg, sizeof(arg));
  return result < 0 ? -errno : 0;
}

int ring_register_eventfd(ring_t *ring, int event_fd) {
  return sys_register(ring->ring_fd, IORING_REGISTER_EVENTFD, &event_fd, 1) < 0 ? -errno : 0;
}

int ring_unregister_memory(ring_t *ring) {
  if (ring->registered_count == 0) return 0;
  ring->registered_count = 0;
  return sys_register(ring->ring_fd, IORING_UNREGISTER_BUFFERS, NULL, 0) < 0 ? -errno : 0;
}

int ring_register_memory(ring_t *ring, void *base, size_t length_bytes) {
  ring_unregister_memory(ring);
  struct iovec iovecs[RING_REGISTERED_IOVECS_MAX];
  unsigned count = 0;
  for (size_t done = 0; done < length_bytes; count++) {
    if (count == RING_REGISTERED_IOVECS_MAX) return -E2BIG;
    size_t piece = length_bytes - done;
    if (piece > RING_REGISTERED_IOVEC_BYTES_MAX) piece = RING_REGISTERED_IOVEC_BYTES_MAX;
    iovecs[count].iov_base = (char *)base + done;
    iovecs[count].iov_len = piece;
    done += piece;
  }
  if (count == 0) return -EINVAL;
  if (sys_register(ring->ring_fd, IORING_REGISTER_BUFFERS, iovecs, count) < 0) return -errno;
  for (unsigned i = 0; i < count; i++) {
    ring->registered_base[i] = (uintptr_t)iovecs[i].iov_base;
    ring->registered_bytes[i] = iovecs[i].iov_len;
  }
  ring->registered_count = count;
  return 0;
}
