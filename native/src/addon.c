// The elastripe_uring N-API addon: one io_uring per JavaScript thread (per addon instance),
// completions signalled through an eventfd that a uv_poll_t watches on that thread's loop.
// I/O never throws: results are -errno. Only misuse of the API (wrong argument types) throws.
//
// Invariants:
//  1. `inflight` counts SQEs the kernel accepted whose CQE has not been reaped yet.
//  2. The poll handle is referenced exactly while inflight > 0, so an idle process can exit.
//  3. inflight <= sq_entries < cq_entries: the CQ ring can never overflow.
//  4. The completion pairs buffer holds cq_entries pairs; JS reads it only during onComplete.
#include <errno.h>
#include <node_api.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <uv.h>

#include "device_open.h"
#include "ring.h"

#define REQUEST_FIELDS 6  // op, fd, bufferOffsetBytes, lengthBytes, fileOffsetBytes, tag

typedef struct {
  napi_env env;
  int ring_ready;
  ring_t ring;
  int event_fd;
  uv_poll_t poll;
  int poll_ref;
  unsigned inflight;
  int32_t *pairs;
  unsigned pairs_capacity;
  napi_ref pairs_ref;
  napi_ref callback_ref;
  napi_ref memory_ref;
  napi_async_context async_context;
  napi_async_cleanup_hook_handle cleanup_handle;
  double fixed_submitted;
  double plain_submitted;
} addon_t;

#define CHECK(call)                                    \
  do {                                                 \
    if ((call) != napi_ok) {                           \
      napi_throw_error(env, NULL, "elastripe_uring: " #call " failed"); \
      return NULL;                                     \
    }                                                  \
  } while (0)

static napi_value make_int(napi_env env, double value) {
  napi_value result;
  napi_create_double(env, value, &result);
  return result;
}

static addon_t *addon_of(napi_env env) {
  addon_t *addon = NULL;
  napi_get_instance_data(env, (void **)&addon);
  return addon;
}

static void poll_set_ref(addon_t *addon) {
  int want = addon->inflight > 0;
  if (want == addon->poll_ref) return;
  if (want) uv_ref((uv_handle_t *)&addon->poll);
  else uv_unref((uv_handle_t *)&addon->poll);
  addon->poll_ref = want;
}

// Hands one batch of reaped completions to JS inside a callback scope, so promise
// continuations and nextTicks queued by it run before we return to libuv.
static void deliver(addon_t *addon, unsigned count) {
  napi_env env = addon->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value callback, global, argument, ignored;
  napi_get_reference_value(env, addon->callback_ref, &callback);
  napi_get_global(env, &global);
  napi_create_uint32(env, count, &argument);
  napi_make_callback(env, addon->async_context, global, callback, 1, &argument, &ignored);
  bool pending = false;
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending) {
    napi_value exception;
    napi_get_and_clear_last_exception(env, &exception);
    napi_fatal_exception(env, exception);
  }
  napi_close_handle_scope(env, scope);
}

static void on_readable(uv_poll_t *poll, int status, int events) {
  addon_t *addon = poll->data;
  uint64_t counter;
  // Non-blocking: clears the eventfd; a spurious wake-up just finds no CQEs.
  while (read(addon->event_fd, &counter, sizeof(counter)) < 0 && errno == EINTR) {
  }
  for (;;) {
    unsigned count = ring_reap(&addon->ring, addon->pairs, addon->pairs_capacity);
    if (count == 0) break;
    addon->inflight -= count;
    poll_set_ref(addon);
    deliver(addon, count);
  }
}

static void on_poll_closed(uv_handle_t *handle) {
  addon_t *addon = handle->data;
  ring_close(&addon->ring);
  close(addon->event_fd);
  napi_async_cleanup_hook_handle cleanup = addon->cleanup_handle;
  free(addon);
  napi_remove_async_cleanup_hook(cleanup);
}

// Requests still in flight at teardown may target memory the dying thread frees next (plain,
// unregistered buffers): wait for them, bounded, before the ring goes away.
#define TEARDOWN_WAIT_MS_MAX 10000
#define TEARDOWN_WAIT_STEP_MS 100

static void drain_inflight(addon_t *addon) {
  int32_t scratch[64];
  for (unsigned waited_ms = 0; addon->inflight > 0 && waited_ms < TEARDOWN_WAIT_MS_MAX;) {
    unsigned count = ring_reap(&addon->ring, scratch, sizeof(scratch) / sizeof(scratch[0]) / 2);
    addon->inflight -= count;
    if (count > 0 || addon->inflight == 0) continue;
    int result = ring_wait(&addon->ring, 1, TEARDOWN_WAIT_STEP_MS);
    if (result == -ETIME || result == -EINTR) waited_ms += TEARDOWN_WAIT_STEP_MS;
    else if (result < 0) break;
  }
}

// Env teardown (process exit or worker termination): stop polling, close the ring.
static void on_env_cleanup(napi_async_cleanup_hook_handle handle, void *data) {
  addon_t *addon = data;
  napi_env env = addon->env;
  if (addon->callback_ref) napi_delete_reference(env, addon->callback_ref);
  if (addon->pairs_ref) napi_delete_reference(env, addon->pairs_ref);
  if (addon->memory_ref) napi_delete_reference(env, addon->memory_ref);
  if (addon->async_context) napi_async_destroy(env, addon->async_context);
  if (!addon->ring_ready) {
    free(addon);
    napi_remove_async_cleanup_hook(handle);
    return;
  }
  drain_inflight(addon);
  uv_poll_stop(&addon->poll);
  uv_close((uv_handle_t *)&addon->poll, on_poll_closed);
}

static int typed_array_bytes(napi_env env, napi_value value, void **data, size_t *length_bytes) {
  bool is_typed = false;
  if (napi_is_typedarray(env, value, &is_typed) != napi_ok || !is_typed) return -1;
  napi_typedarray_type type;
  size_t length = 0;
  if (napi_get_typedarray_info(env, value, &type, &length, data, NULL, NULL) != napi_ok) return -1;
  if (type != napi_uint8_array && type != napi_int32_array && type != napi_float64_array) return -1;
  size_t element = type == napi_uint8_array ? 1 : type == napi_int32_array ? 4 : 8;
  *length_bytes = length * element;
  return 0;
}

static int addon_start(napi_env env, addon_t *addon, unsigned depth) {
  int result = ring_open(&addon->ring, depth);
  if (result < 0) return result;
  addon->event_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (addon->event_fd < 0) {
    result = -errno;
    ring_close(&addon->ring);
    return result;
  }
  result = ring_register_eventfd(&addon->ring, addon->event_fd);
  uv_loop_t *loop = NULL;
  if (result == 0 && napi_get_uv_event_loop(env, &loop) != napi_ok) result = -ENOSYS;
  if (result == 0 && uv_poll_init(loop, &addon->poll, addon->event_fd) != 0) result = -EIO;
  if (result < 0) {
    close(addon->event_fd);
    ring_close(&addon->ring);
    return result;
  }
  addon->poll.data = addon;
  uv_poll_start(&addon->poll, UV_READABLE, on_readable);
  uv_unref((uv_handle_t *)&addon->poll);
  addon->poll_ref = 0;
  addon->ring_ready = 1;
  return 0;
}

// init(depth, pairs: Int32Array, onComplete(count)) -> sqEntries | -errno. The pairs buffer
// receives (tag, result) pairs; any size works, larger ones mean fewer JS calls.
static napi_value js_init(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  addon_t *addon = addon_of(env);
  if (addon->ring_ready) return make_int(env, -EALREADY);
  uint32_t depth = 0;
  CHECK(napi_get_value_uint32(env, argv[0], &depth));
  void *pairs = NULL;
  size_t pairs_bytes = 0;
  if (typed_array_bytes(env, argv[1], &pairs, &pairs_bytes) < 0) {
    napi_throw_type_error(env, NULL, "init: pairs must be an Int32Array");
    return NULL;
  }
  if (pairs_bytes < 8) {
    napi_throw_range_error(env, NULL, "init: pairs must hold at least one (tag, result) pair");
    return NULL;
  }
  int result = addon_start(env, addon, depth);
  if (result < 0) return make_int(env, result);
  addon->pairs = pairs;
  addon->pairs_capacity = (unsigned)(pairs_bytes / 8);
  CHECK(napi_create_reference(env, argv[1], 1, &addon->pairs_ref));
  CHECK(napi_create_reference(env, argv[2], 1, &addon->callback_ref));
  napi_value name;
  CHECK(napi_create_string_utf8(env, "elastripe_uring", NAPI_AUTO_LENGTH, &name));
  CHECK(napi_async_init(env, NULL, name, &addon->async_context));
  return make_int(env, addon->ring.sq_entries);
}

// open(path, exclusive) -> [fd, sizeBytes, logicalBlockBytes, isBlock] | -errno
static napi_value js_open(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char path[4096];
  size_t path_length = 0;
  CHECK(napi_get_value_string_utf8(env, argv[0], path, sizeof(path), &path_length));
  if (path_length >= sizeof(path) - 1) return make_int(env, -ENAMETOOLONG);
  bool exclusive = false;
  CHECK(napi_get_value_bool(env, argv[1], &exclusive));
  opened_device_t opened;
  int result = device_open(path, exclusive, &opened);
  if (result < 0) return make_int(env, result);
  napi_value array;
  CHECK(napi_create_array_with_length(env, 4, &array));
  napi_set_element(env, array, 0, make_int(env, opened.fd));
  napi_set_element(env, array, 1, make_int(env, (double)opened.size_bytes));
  napi_set_element(env, array, 2, make_int(env, opened.logical_block_bytes));
  napi_set_element(env, array, 3, make_int(env, opened.is_block));
  return array;
}

// close(fd) -> 0 | -errno
static napi_value js_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd = -1;
  CHECK(napi_get_value_int32(env, argv[0], &fd));
  return make_int(env, close(fd) < 0 ? -errno : 0);
}

// Fills one request from its row of the descriptor; -EINVAL when the buffer is missing or
// the range falls outside it (a programming error upstream, reported as EINVAL).
static int request_from_row(napi_env env, const double *row, napi_value buffers, uint32_t index,
                            ring_request_t *request) {
  request->op = (int)row[0];
  // An op this build does not know must never reach ring_prepare (it would be taken for another).
  if (request->op < RING_OP_READ || request->op > RING_OP_WRITE_DSYNC) return -EINVAL;
  request->fd = (int)row[1];
  request->length_bytes = (uint32_t)row[3];
  request->file_offset_bytes = (uint64_t)row[4];
  request->tag = (uint64_t)row[5];
  request->address = NULL;
  if (request->op != RING_OP_READ && request->op != RING_OP_WRITE && request->op != RING_OP_WRITE_DSYNC) return 0;
  napi_value buffer;
  void *data = NULL;
  size_t buffer_bytes = 0;
  if (napi_get_element(env, buffers, index, &buffer) != napi_ok) return -EINVAL;
  if (typed_array_bytes(env, buffer, &data, &buffer_bytes) < 0) return -EINVAL;
  size_t offset_bytes = (size_t)row[2];
  if (offset_bytes + request->length_bytes > buffer_bytes) return -EINVAL;
  request->address = (char *)data + offset_bytes;
  return 0;
}

// submit(rows: Float64Array, buffers: Array, count) -> submitted | -errno. Rows hold
// REQUEST_FIELDS doubles each. Submits min(count, free SQEs) with one io_uring_enter.
static napi_value js_submit(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  addon_t *addon = addon_of(env);
  if (!addon->ring_ready) return make_int(env, -ENXIO);
  void *rows_data = NULL;
  size_t rows_bytes = 0;
  uint32_t count = 0;
  CHECK(napi_get_value_uint32(env, argv[2], &count));
  if (typed_array_bytes(env, argv[0], &rows_data, &rows_bytes) < 0 ||
      rows_bytes < (size_t)count * REQUEST_FIELDS * sizeof(double)) {
    napi_throw_type_error(env, NULL, "submit: rows must be a Float64Array of count * 6");
    return NULL;
  }
  const double *rows = rows_data;
  unsigned space = ring_sq_space(&addon->ring);
  if (count > space) count = space;
  unsigned tail_before = *addon->ring.sq_tail;
  for (uint32_t i = 0; i < count; i++) {
    ring_request_t request;
    if (request_from_row(env, rows + (size_t)i * REQUEST_FIELDS, argv[1], i, &request) < 0) {
      *addon->ring.sq_tail = tail_before;  // nothing of this batch reaches the kernel
      napi_throw_range_error(env, NULL, "submit: a request's buffer is missing or too short");
      return NULL;
    }
    if (ring_prepare(&addon->ring, &request)) addon->fixed_submitted++;
    else addon->plain_submitted++;
  }
  int submitted = count ? ring_submit(&addon->ring, count) : 0;
  if (submitted > 0) addon->inflight += (unsigned)submitted;
  poll_set_ref(addon);
  return make_int(env, submitted);
}

// registerMemory(u8) -> 0 | -errno. Registers the bytes under the view as fixed buffers (the
// arena). Keeps a reference to the view so its memory outlives the registration.
static napi_value js_register_memory(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  addon_t *addon = addon_of(env);
  if (!addon->ring_ready) return make_int(env, -ENXIO);
  void *data = NULL;
  size_t length_bytes = 0;
  if (typed_array_bytes(env, argv[0], &data, &length_bytes) < 0) {
    napi_throw_type_error(env, NULL, "registerMemory: expected a Uint8Array");
    return NULL;
  }
  int result = ring_register_memory(&addon->ring, data, length_bytes);
  if (addon->memory_ref) {
    napi_delete_reference(env, addon->memory_ref);
    addon->memory_ref = NULL;
  }
  if (result == 0) CHECK(napi_create_reference(env, argv[0], 1, &addon->memory_ref));
  return make_int(env, result);
}

static napi_value js_unregister_memory(napi_env env, napi_callback_info info) {
  addon_t *addon = addon_of(env);
  if (!addon->ring_ready) return make_int(env, 0);
  int result = ring_unregister_memory(&addon->ring);
  if (addon->memory_ref) {
    napi_delete_reference(env, addon->memory_ref);
    addon->memory_ref = NULL;
  }
  return make_int(env, result);
}

// addressOf(view) -> the address of its first byte (for alignment checks; below 2^53).
static napi_value js_address_of(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  void *data = NULL;
  size_t length_bytes = 0;
  if (typed_array_bytes(env, argv[0], &data, &length_bytes) < 0) {
    napi_throw_type_error(env, NULL, "addressOf: expected a typed array");
    return NULL;
  }
  return make_int(env, (double)(uintptr_t)data);
}

static void set_number(napi_env env, napi_value object, const char *name, double value) {
  napi_set_named_property(env, object, name, make_int(env, value));
}

// info() -> { ready, sqEntries, cqEntries, features, setupFlags, inflight, registeredBytes,
//             fixedSubmitted, plainSubmitted }
static napi_value js_info(napi_env env, napi_callback_info info) {
  addon_t *addon = addon_of(env);
  napi_value object;
  CHECK(napi_create_object(env, &object));
  double registered_bytes = 0;
  for (unsigned i = 0; i < addon->ring.registered_count; i++) registered_bytes += addon->ring.registered_bytes[i];
  set_number(env, object, "ready", addon->ring_ready);
  set_number(env, object, "sqEntries", addon->ring.sq_entries);
  set_number(env, object, "cqEntries", addon->ring.cq_entries);
  set_number(env, object, "features", addon->ring.features);
  set_number(env, object, "setupFlags", addon->ring.setup_flags);
  set_number(env, object, "inflight", addon->inflight);
  set_number(env, object, "registeredBytes", registered_bytes);
  set_number(env, object, "fixedSubmitted", addon->fixed_submitted);
  set_number(env, object, "plainSubmitted", addon->plain_submitted);
  return object;
}

// probe() -> 0 | -errno: can this process create an io_uring at all (kernel, seccomp,
// kernel.io_uring_disabled)? Creates and closes a one-entry ring.
static napi_value js_probe(napi_env env, napi_callback_info info) {
  ring_t ring;
  int result = ring_open(&ring, 1);
  if (result == 0) ring_close(&ring);
  return make_int(env, result);
}

// syncfs(fd) -> Promise<0 | -errno>: syncfs(2) of the file system holding fd, on libuv's
// thread pool (it may take seconds on a disk). One call makes every dirty page and metadata
// change of that file system durable; a batch of files pays for it once (src/cli/batch_output.ts).
// Since Linux 5.8 it reports writeback errors that happened since fd was opened.
typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  int fd;
  int result;
} syncfs_job_t;

static void syncfs_execute(napi_env env, void *data) {
  syncfs_job_t *job = data;
  job->result = syncfs(job->fd) == 0 ? 0 : -errno;
}

static void syncfs_complete(napi_env env, napi_status status, void *data) {
  syncfs_job_t *job = data;
  napi_value result;
  napi_create_int32(env, status == napi_ok ? job->result : -ECANCELED, &result);
  napi_resolve_deferred(env, job->deferred, result);
  napi_delete_async_work(env, job->work);
  free(job);
}

static napi_value js_syncfs(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd = -1;
  if (argc < 1 || napi_get_value_int32(env, argv[0], &fd) != napi_ok) {
    napi_throw_type_error(env, NULL, "elastripe_uring: syncfs(fd) takes a descriptor");
    return NULL;
  }
  syncfs_job_t *job = calloc(1, sizeof(syncfs_job_t));
  if (!job) {
    napi_throw_error(env, NULL, "elastripe_uring: out of memory");
    return NULL;
  }
  job->fd = fd;
  napi_value promise, name;
  if (napi_create_promise(env, &job->deferred, &promise) != napi_ok ||
      napi_create_string_utf8(env, "elastripe_syncfs", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_create_async_work(env, NULL, name, syncfs_execute, syncfs_complete, job, &job->work) != napi_ok) {
    free(job);
    napi_throw_error(env, NULL, "elastripe_uring: syncfs could not be queued");
    return NULL;
  }
  if (napi_queue_async_work(env, job->work) != napi_ok) {
    napi_delete_async_work(env, job->work);
    free(job);
    napi_throw_error(env, NULL, "elastripe_uring: syncfs could not be queued");
    return NULL;
  }
  return promise;
}

static napi_value module_init(napi_env env, napi_value exports) {
  addon_t *addon = calloc(1, sizeof(addon_t));
  if (!addon) {
    napi_throw_error(env, NULL, "elastripe_uring: out of memory");
    return NULL;
  }
  addon->env = env;
  addon->event_fd = -1;
  addon->ring.ring_fd = -1;
  // Instance data only locates the state; the async cleanup hook owns freeing it.
  CHECK(napi_set_instance_data(env, addon, NULL, NULL));
  CHECK(napi_add_async_cleanup_hook(env, on_env_cleanup, addon, &addon->cleanup_handle));
  // Tells TS this build knows RING_OP_WRITE_DSYNC: an addon built before it lacks the property,
  // and TS then gives devices no writeDurable (such a build would take op 4 for a punch).
  napi_value write_dsync_op = make_int(env, RING_OP_WRITE_DSYNC);
  napi_property_descriptor properties[] = {
      {"writeDsyncOp", NULL, NULL, NULL, NULL, write_dsync_op, napi_enumerable, NULL},
      {"init", NULL, js_init, NULL, NULL, NULL, napi_default, NULL},
      {"open", NULL, js_open, NULL, NULL, NULL, napi_default, NULL},
      {"close", NULL, js_close, NULL, NULL, NULL, napi_default, NULL},
      {"submit", NULL, js_submit, NULL, NULL, NULL, napi_default, NULL},
      {"registerMemory", NULL, js_register_memory, NULL, NULL, NULL, napi_default, NULL},
      {"unregisterMemory", NULL, js_unregister_memory, NULL, NULL, NULL, napi_default, NULL},
      {"addressOf", NULL, js_address_of, NULL, NULL, NULL, napi_default, NULL},
      {"probe", NULL, js_probe, NULL, NULL, NULL, napi_default, NULL},
      {"info", NULL, js_info, NULL, NULL, NULL, napi_default, NULL},
      {"syncfs", NULL, js_syncfs, NULL, NULL, NULL, napi_default, NULL},
  };
  CHECK(napi_define_properties(env, exports, sizeof(properties) / sizeof(properties[0]), properties));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, module_init)
