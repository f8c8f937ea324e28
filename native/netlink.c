/*
 * pipework's in-process netlink prototype (PIPEWORK_NETLINK=1): the few system calls Node
 * cannot make. A route netlink socket stays in the network namespace it was created in, so
 * entering a guest's namespace is needed only for the socket() call: open_route() switches the
 * calling thread into the namespace, creates the socket and switches back before returning, so
 * no JavaScript ever runs in the guest's namespace. The messages are built and read in
 * TypeScript (src/kernel/netlink.ts); this file only moves bytes.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <node_api.h>
#include "napi_errno.h"

#define RECV_SIZE 65536
#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

static int int_arg(napi_env env, napi_callback_info info, size_t want, int32_t *out) {
  size_t argc = want;
  napi_value argv[3];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < want) return -1;
  for (size_t i = 0; i < want; i++) {
    if (napi_get_value_int32(env, argv[i], &out[i]) != napi_ok) return -1;
  }
  return 0;
}

static int make_socket(void) {
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) return -1;
  int one = 1;
  struct timeval tv = { .tv_sec = 10, .tv_usec = 0 };
  /* Extended acks carry the kernel's own error text; older kernels just ignore the option. */
  setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof one);
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  struct sockaddr_nl local = { .nl_family = AF_NETLINK };
  if (bind(fd, (struct sockaddr *)&local, sizeof local) < 0) {
    int err = errno;
    close(fd);
    errno = err;
    return -1;
  }
  return fd;
}

/* open_route(nsFd): a route netlink socket in the namespace behind nsFd (-1: this thread's own). */
static napi_value open_route(napi_env env, napi_callback_info info) {
  int32_t ns_fd;
  if (int_arg(env, info, 1, &ns_fd) < 0) return throw_errno(env, "open_route(nsFd)", EINVAL);
  if (ns_fd < 0) {
    int fd = make_socket();
    if (fd < 0) return throw_errno(env, "netlink socket", errno);
    napi_value out;
    napi_create_int32(env, fd, &out);
    return out;
  }
  int home = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (home < 0) return throw_errno(env, "open /proc/thread-self/ns/net", errno);
  if (setns(ns_fd, CLONE_NEWNET) < 0) {
    int err = errno;
    close(home);
    return throw_errno(env, "setns into the guest's network namespace", err);
  }
  int fd = make_socket();
  int err = errno;
  /* Not getting back would leave this thread, and everything Node does on it, in the guest. */
  if (setns(home, CLONE_NEWNET) < 0) abort();
  close(home);
  if (fd < 0) return throw_errno(env, "netlink socket in the guest", err);
  napi_value out;
  napi_create_int32(env, fd, &out);
  return out;
}

/* Does this datagram end a dump (NLMSG_DONE, or an error in its place)? */
static int ends_dump(const char *buf, size_t len) {
  size_t off = 0;
  while (off + sizeof(struct nlmsghdr) <= len) {
    const struct nlmsghdr *h = (const struct nlmsghdr *)(buf + off);
    if (h->nlmsg_len < sizeof(struct nlmsghdr) || off + h->nlmsg_len > len) return 1;
    if (h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR) return 1;
    off += NLMSG_ALIGN(h->nlmsg_len);
  }
  return 0;
}

/*
 * transact(fd, request): send one request to the kernel and return what it answers: the first
 * datagram, or for a dump (NLM_F_DUMP) every datagram up to the one that ends it, so nothing of
 * it is left on the socket for the next request to read.
 */
static napi_value transact(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2) return throw_errno(env, "transact(fd, request)", EINVAL);
  int32_t fd;
  void *data;
  size_t len;
  if (napi_get_value_int32(env, argv[0], &fd) != napi_ok || napi_get_buffer_info(env, argv[1], &data, &len) != napi_ok || len < sizeof(struct nlmsghdr)) {
    return throw_errno(env, "transact(fd, request)", EINVAL);
  }
  int dump = (((const struct nlmsghdr *)data)->nlmsg_flags & NLM_F_DUMP) == NLM_F_DUMP;
  struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
  ssize_t sent;
  do sent = sendto(fd, data, len, 0, (struct sockaddr *)&kernel, sizeof kernel);
  while (sent < 0 && errno == EINTR);
  if (sent < 0) return throw_errno(env, "netlink send", errno);
  char *all = NULL;
  size_t have = 0;
  int overflow = 0;
  for (;;) {
    /*
     * A dump is kept up to 16 MiB (a host with more is answered by iproute2's own reading); past
     * that it is still read to its end, into the last chunk again, so none of it is left on the
     * socket for the next request.
     */
    if (!overflow && have > (16u << 20)) overflow = 1;
    if (!overflow) {
      char *grown = realloc(all, have + RECV_SIZE);
      if (!grown) { free(all); return throw_errno(env, "netlink receive", ENOMEM); }
      all = grown;
    }
    size_t at = overflow ? have - RECV_SIZE : have;
    ssize_t got;
    do got = recv(fd, all + at, RECV_SIZE, 0);
    while (got < 0 && errno == EINTR);
    if (got < 0) {
      int err = errno;
      free(all);
      return throw_errno(env, "netlink receive", err == EAGAIN ? ETIMEDOUT : err);
    }
    int last = !dump || got == 0 || ends_dump(all + at, (size_t)got);
    if (!overflow) have += (size_t)got;
    if (last) break;
  }
  if (overflow) { free(all); return throw_errno(env, "netlink receive", EMSGSIZE); }
  napi_value out;
  napi_status st = napi_create_buffer_copy(env, have, all, NULL, &out);
  free(all);
  if (st != napi_ok) return throw_errno(env, "netlink receive", ENOMEM);
  return out;
}

static napi_value error_text(napi_env env, napi_callback_info info) {
  int32_t err;
  if (int_arg(env, info, 1, &err) < 0) return throw_errno(env, "strerror(n)", EINVAL);
  napi_value out;
  napi_create_string_utf8(env, strerror(err), NAPI_AUTO_LENGTH, &out);
  return out;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    { "openRoute", NULL, open_route, NULL, NULL, NULL, napi_default, NULL },
    { "transact", NULL, transact, NULL, NULL, NULL, napi_default, NULL },
    { "strerror", NULL, error_text, NULL, NULL, NULL, napi_default, NULL },
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
