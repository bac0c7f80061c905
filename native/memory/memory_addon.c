/*
 * One call for src/util/release-memory.ts: glibc's malloc_trim(0), which
 * gives the free pages inside every malloc arena back to the system
 * (madvise MADV_DONTNEED), not only the free space at an arena's top as
 * free() does by itself. What start-up freed (V8's parser and compiler
 * zones, OpenSSL's key generation) is scattered between blocks still in use,
 * so free() alone returns little of it; each thread has an arena of its own.
 *
 * trim() returns true when memory was given back, false when there was none
 * or the C library has no malloc_trim (not glibc, e.g. musl).
 */
#define NAPI_VERSION 8
#include <node_api.h>
#include <stdbool.h>
#ifdef __GLIBC__
#include <malloc.h>
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

static napi_value init(napi_env env, napi_value exports) {
  napi_value fn;
  if (napi_create_function(env, "trim", NAPI_AUTO_LENGTH, trim, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "trim", fn) != napi_ok) return NULL;
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
