/*
 * Two system calls Node has no API for, used by pipework's lock and socket layer
 * (src/exec/flock.ts, src/exec/peer.ts):
 *   flock(fd, exclusive, wait)  LOCK_EX or LOCK_SH, LOCK_NB unless wait; true when taken,
 *                               false when another holder has it (EWOULDBLOCK)
 *   peerCred(fd)                SO_PEERCRED of a connected unix socket: { pid, uid, gid }
 * Without this addon pipework runs flock(1) on the same open file and keeps its sockets in
 * root-only directories; the addon only makes the lock cheaper and the peer check direct.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <node_api.h>
#include "napi_errno.h"

static napi_value lock(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  int32_t fd;
  bool exclusive, wait;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 3
      || napi_get_value_int32(env, argv[0], &fd) != napi_ok
      || napi_get_value_bool(env, argv[1], &exclusive) != napi_ok
      || napi_get_value_bool(env, argv[2], &wait) != napi_ok) {
    return throw_errno(env, "flock(fd, exclusive, wait)", EINVAL);
  }
  int op = (exclusive ? LOCK_EX : LOCK_SH) | (wait ? 0 : LOCK_NB);
  int r;
  do r = flock(fd, op); while (r != 0 && errno == EINTR);
  napi_value out;
  if (r != 0) {
    if (errno != EWOULDBLOCK) return throw_errno(env, "flock", errno);
    napi_get_boolean(env, false, &out);
    return out;
  }
  napi_get_boolean(env, true, &out);
  return out;
}

static napi_value peer_cred(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t fd;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 || napi_get_value_int32(env, argv[0], &fd) != napi_ok) {
    return throw_errno(env, "peerCred(fd)", EINVAL);
  }
  struct ucred cred;
  socklen_t len = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return throw_errno(env, "SO_PEERCRED", errno);
  napi_value out, pid, uid, gid;
  napi_create_object(env, &out);
  napi_create_int32(env, cred.pid, &pid);
  napi_create_uint32(env, cred.uid, &uid);
  napi_create_uint32(env, cred.gid, &gid);
  napi_set_named_property(env, out, "pid", pid);
  napi_set_named_property(env, out, "uid", uid);
  napi_set_named_property(env, out, "gid", gid);
  return out;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    { "flock", NULL, lock, NULL, NULL, NULL, napi_default, NULL },
    { "peerCred", NULL, peer_cred, NULL, NULL, NULL, napi_default, NULL },
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
