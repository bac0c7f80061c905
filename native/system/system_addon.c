/*
 * What the daemon needs from the system that Node does not offer
 * (src/util/native-system.ts loads it; without it both are skipped):
 *
 * trim(): glibc's malloc_trim(0), which gives the free pages inside every
 * malloc arena back to the system (madvise MADV_DONTNEED), not only the free
 * space at an arena's top as free() does by itself. What start-up freed (V8's
 * parser and compiler zones, OpenSSL's key generation) is scattered between
 * blocks still in use, so free() alone returns little of it; each thread has
 * an arena of its own. Returns true when memory was given back, false when
 * there was none or the C library has no malloc_trim (not glibc, e.g. musl).
 *
 * schedule(policy, value): the calling thread's scheduling (Linux: a thread's
 * policy and nice value are its own). "fifo": SCHED_FIFO at real-time
 * priority `value`; "other": SCHED_OTHER at nice `value`. Both with
 * SCHED_RESET_ON_FORK: a thread or process the caller creates (libuv's
 * thread pool, a child process for a sound device) starts at the normal
 * policy and nice 0, not with the caller's raised priority. Throws an Error
 * with the errno's name in `code` (EPERM: neither CAP_SYS_NICE nor an
 * RLIMIT_RTPRIO / RLIMIT_NICE that allows it; ENOSYS: not Linux).
 */
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <node_api.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#ifdef __linux__
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

static napi_value trim(napi_env env, napi_callback_info info) {
  (void)info;
  bool released = false;
#ifdef __GLIBC__
  released = malloc_trim(0) == 1;
#endif
  napi_value result;
  if (napi_get_boolean(env, released, &result) != napi_ok) return NULL;
  return result;
}

static const char *errno_name(int e) {
  switch (e) {
    case EPERM: return "EPERM";
    case EINVAL: return "EINVAL";
    case ENOSYS: return "ENOSYS";
    case ESRCH: return "ESRCH";
    default: return "EUNKNOWN";
  }
}

#ifdef __linux__
/* The kernel's struct sched_attr (include/uapi/linux/sched/types.h), first version: glibc before 2.41 has no wrapper. */
struct jingled_sched_attr {
  uint32_t size;
  uint32_t sched_policy;
  uint64_t sched_flags;
  int32_t sched_nice;
  uint32_t sched_priority;
  uint64_t sched_runtime;
  uint64_t sched_deadline;
  uint64_t sched_period;
};
#ifndef SCHED_FLAG_RESET_ON_FORK
#define SCHED_FLAG_RESET_ON_FORK 0x01
#endif
#endif

static napi_value schedule(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  char policy[8] = {0};
  size_t len = 0;
  int32_t value = 0;
  if (argc < 2 || napi_get_value_string_utf8(env, argv[0], policy, sizeof policy, &len) != napi_ok ||
      napi_get_value_int32(env, argv[1], &value) != napi_ok) {
    napi_throw_type_error(env, "EINVAL", "schedule(policy: \"fifo\" | \"other\", value: number)");
    return NULL;
  }
  bool fifo = strcmp(policy, "fifo") == 0;
  if (!fifo && strcmp(policy, "other") != 0) {
    napi_throw_type_error(env, "EINVAL", "schedule: the policy is \"fifo\" or \"other\"");
    return NULL;
  }
  int err = ENOSYS;
#ifdef __linux__
  struct jingled_sched_attr a;
  memset(&a, 0, sizeof a);
  a.size = sizeof a;
  a.sched_flags = SCHED_FLAG_RESET_ON_FORK;
  if (fifo) {
    a.sched_policy = SCHED_FIFO;
    a.sched_priority = (uint32_t)value;
  } else {
    a.sched_policy = SCHED_OTHER;
    a.sched_nice = value;
  }
  /* pid 0: the calling thread. */
  err = syscall(SYS_sched_setattr, 0, &a, 0) == 0 ? 0 : errno;
#endif
  if (err != 0) {
    napi_throw_error(env, errno_name(err), strerror(err));
    return NULL;
  }
  napi_value undefined;
  napi_get_undefined(env, &undefined);
  return undefined;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_value fn;
  if (napi_create_function(env, "trim", NAPI_AUTO_LENGTH, trim, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "trim", fn) != napi_ok) return NULL;
  if (napi_create_function(env, "schedule", NAPI_AUTO_LENGTH, schedule, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "schedule", fn) != napi_ok) return NULL;
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
