/*
 * peerCred(fd): the pid, uid and gid the kernel recorded for the process at the other end of a
 * connected Unix socket (SO_PEERCRED). The kernel takes them when that process connects, so a
 * caller cannot claim to be someone else, which is what lets an agent take a local user's word
 * without a token.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <node_api.h>

#define CHECK(call)                                                   \
  do {                                                                \
    if ((call) != napi_ok) {                                          \
      napi_throw_error(env, NULL, "peerCred: " #call " failed");      \
      return NULL;                                                    \
    }                                                                 \
  } while (0)

static napi_value set_number(napi_env env, napi_value obj, const char *key, uint32_t value) {
  napi_value v;
  CHECK(napi_create_uint32(env, value, &v));
  CHECK(napi_set_named_property(env, obj, key, v));
  return obj;
}

static napi_value peer_cred(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd = -1;
  napi_valuetype type = napi_undefined;
  if (argc == 1) CHECK(napi_typeof(env, argv[0], &type));
  if (type != napi_number || napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0) {
    napi_throw_type_error(env, NULL, "peerCred(fd): fd must be the number of an open socket");
    return NULL;
  }
  struct ucred cred;
  socklen_t len = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
    char message[160];
    const int err = errno;
    snprintf(message, sizeof message, "getsockopt(SO_PEERCRED) on fd %d: %s", fd, strerror(err));
    const char *code = err == EBADF ? "EBADF" : err == ENOTSOCK ? "ENOTSOCK" : err == ENOPROTOOPT ? "ENOPROTOOPT" : NULL;
    napi_throw_error(env, code, message);
    return NULL;
  }
  napi_value result;
  CHECK(napi_create_object(env, &result));
  if (!set_number(env, result, "pid", (uint32_t)cred.pid)) return NULL;
  if (!set_number(env, result, "uid", cred.uid)) return NULL;
  if (!set_number(env, result, "gid", cred.gid)) return NULL;
  return result;
}

NAPI_MODULE_INIT(/* napi_env env, napi_value exports */) {
  napi_value fn;
  CHECK(napi_create_function(env, "peerCred", NAPI_AUTO_LENGTH, peer_cred, NULL, &fn));
  CHECK(napi_set_named_property(env, exports, "peerCred", fn));
  return exports;
}
