/**
 * The plugin executable `pipework cni install` writes, in two forms, both answering VERSION
 * without starting Node (Podman runs VERSION on every plugin of every conflist on each command):
 *
 * - a small C program, compiled at install time when a C compiler is there: VERSION in a
 *   millisecond; any other command handed to the resident daemon over its unix socket when one
 *   answers (no Node start-up at all), else Node started on the plugin bundle;
 * - a POSIX shell script otherwise (the fallback: VERSION in the shell, everything else in Node).
 *
 * Either way Node starts without NODE_EXTRA_CA_CERTS and NODE_OPTIONS (set aside, and put back
 * for the IPAM plugins by plugin.ts): a runtime's environment may carry them, and the first costs
 * ~40 ms of every start. Paths are absolute: runtimes run plugins with their own PATH.
 */
import { SUPPORTED_VERSIONS } from './protocol.js';
import { STASHED, STASH_PREFIX } from './plugin.js';

export interface LauncherPaths {
  /** The Node binary (absolute). */
  node: string;
  /** The plugin bundle (absolute). */
  script: string;
  /** The daemon's socket. */
  socket: string;
}

/** A marker both forms carry, so install and uninstall know the file is ours. */
export const LAUNCHER_MARK = 'pipework-cni-launcher';

function cString(s: string): string {
  return `"${s.replace(/[\\"]/gu, (c) => `\\${c}`).replace(/\n/gu, '\\n')}"`;
}

function shQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

const VERSIONS_JSON = JSON.stringify(SUPPORTED_VERSIONS);

export function launcherC(p: LauncherPaths): string {
  const stash = STASHED.map((k) => `  stash(${cString(k)}, ${cString(`${STASH_PREFIX}${k}`)});`).join('\n');
  return `/* ${LAUNCHER_MARK}: the pipework CNI plugin, written by \`pipework cni install\`. */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* The mark install and uninstall look for (kept in the binary). */
__attribute__((used)) static const char MARK[] = ${cString(LAUNCHER_MARK)};
static const char *NODE = ${cString(p.node)};
static const char *SCRIPT = ${cString(p.script)};
static const char *SOCKET_PATH = ${cString(p.socket)};
static const char *VERSIONS = ${cString(VERSIONS_JSON)};
/* How long a request may take in the daemon (a DHCP lease can take a while). */
static const int TIMEOUT_MS = 600000;
extern char **environ;

static char *read_all(int fd, size_t *len) {
  size_t cap = 8192, n = 0;
  char *buf = malloc(cap);
  if (!buf) return NULL;
  for (;;) {
    if (n == cap) {
      if (cap >= (16u << 20)) { free(buf); errno = EFBIG; return NULL; }
      char *b = realloc(buf, cap *= 2);
      if (!b) { free(buf); return NULL; }
      buf = b;
    }
    ssize_t r = read(fd, buf + n, cap - n);
    if (r < 0) { if (errno == EINTR) continue; free(buf); return NULL; }
    if (r == 0) break;
    n += (size_t)r;
  }
  *len = n;
  return buf;
}

static int write_all(int fd, const void *p, size_t len) {
  const char *b = p;
  while (len > 0) {
    ssize_t w = fd > 2 ? send(fd, b, len, MSG_NOSIGNAL) : write(fd, b, len);
    if (w < 0) { if (errno == EINTR) continue; return -1; }
    b += w; len -= (size_t)w;
  }
  return 0;
}

static int read_full(int fd, void *p, size_t len) {
  char *b = p;
  while (len > 0) {
    struct pollfd pfd = { fd, POLLIN, 0 };
    int k = poll(&pfd, 1, TIMEOUT_MS);
    if (k < 0) { if (errno == EINTR) continue; return -1; }
    if (k == 0) { errno = ETIMEDOUT; return -1; }
    ssize_t r = read(fd, b, len);
    if (r < 0) { if (errno == EINTR) continue; return -1; }
    if (r == 0) { errno = EPIPE; return -1; }
    b += r; len -= (size_t)r;
  }
  return 0;
}

/* The cniVersion the request names (digits and dots only), or the default. */
static void asked_version(const char *in, size_t len, char *out, size_t outlen, const char *dflt) {
  snprintf(out, outlen, "%s", dflt);
  const char *key = "\\"cniVersion\\"";
  const char *p = in ? memmem(in, len, key, strlen(key)) : NULL;
  if (!p) return;
  const char *end = in + len;
  p += strlen(key);
  while (p < end && (*p == ' ' || *p == '\\t' || *p == '\\n' || *p == '\\r' || *p == ':')) p++;
  if (p >= end || *p != '"') return;
  p++;
  size_t n = 0;
  while (p + n < end && p[n] != '"' && n < outlen - 1) {
    if ((p[n] < '0' || p[n] > '9') && p[n] != '.') return;
    n++;
  }
  if (n == 0 || p + n >= end) return;
  memcpy(out, p, n);
  out[n] = 0;
}

static int fail(const char *ver, int code, const char *msg, const char *details) {
  printf("{\\"cniVersion\\":\\"%s\\",\\"code\\":%d,\\"msg\\":\\"%s\\",\\"details\\":\\"%s\\"}\\n", ver, code, msg, details);
  fflush(stdout);
  return 1;
}

static void stash(const char *name, const char *saved) {
  const char *v = getenv(name);
  if (!v) return;
  setenv(saved, v, 1);
  unsetenv(name);
}

/* No daemon: Node runs the plugin, with stdin as we got it (still unread, or handed over in a pipe). */
static int cold(const char *ver) {
${stash}
  char *argv[] = { (char *)NODE, (char *)SCRIPT, NULL };
  execv(NODE, argv);
  return fail(ver, 999, "cannot start Node for the pipework CNI plugin", "run pipework cni install again");
}

static uint32_t be32(const unsigned char *b) {
  return ((uint32_t)b[0] << 24) | ((uint32_t)b[1] << 16) | ((uint32_t)b[2] << 8) | b[3];
}

static void put32(unsigned char *b, uint32_t v) {
  b[0] = v >> 24; b[1] = v >> 16; b[2] = v >> 8; b[3] = v;
}

int main(void) {
  const char *cmd = getenv("CNI_COMMAND");
  char ver[32];
  if (cmd && strcmp(cmd, "VERSION") == 0) {
    size_t len = 0;
    char *in = isatty(0) ? NULL : read_all(0, &len);
    asked_version(in, len, ver, sizeof ver, "1.1.0");
    printf("{\\"cniVersion\\":\\"%s\\",\\"supportedVersions\\":%s}\\n", ver, VERSIONS);
    return fflush(stdout) == 0 ? 0 : 1;
  }
  const char *path = getenv("PIPEWORK_CNI_SOCKET");
  if (!path) path = SOCKET_PATH;
  if (!*path || strcmp(path, "none") == 0 || strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) return cold("1.1.0");
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un sa;
  memset(&sa, 0, sizeof sa);
  sa.sun_family = AF_UNIX;
  strcpy(sa.sun_path, path);
  if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
    if (fd >= 0) close(fd);
    return cold("1.1.0");
  }
  size_t inlen = 0;
  char *in = read_all(0, &inlen);
  asked_version(in, inlen, ver, sizeof ver, "1.1.0");
  if (!in) return fail(ver, 5, "error reading from stdin", "");
  size_t envlen = 0;
  for (char **e = environ; *e; e++) envlen += strlen(*e) + 1;
  size_t total = 4 + 4 + envlen + 4 + inlen;
  unsigned char *msg = malloc(total);
  if (!msg) return fail(ver, 999, "out of memory", "");
  unsigned char *w = msg;
  memcpy(w, "PWC1", 4); w += 4;
  put32(w, (uint32_t)envlen); w += 4;
  for (char **e = environ; *e; e++) { size_t n = strlen(*e) + 1; memcpy(w, *e, n); w += n; }
  put32(w, (uint32_t)inlen); w += 4;
  memcpy(w, in, inlen);
  if (write_all(fd, msg, total) != 0) return fail(ver, 11, "the pipework CNI daemon went away", "try again");
  unsigned char head[12];
  if (read_full(fd, head, 12) != 0 || memcmp(head, "PWC1", 4) != 0) {
    return fail(ver, 11, errno == ETIMEDOUT ? "the pipework CNI daemon did not answer in time" : "the pipework CNI daemon went away before answering", "try again; its log says why");
  }
  uint32_t code = be32(head + 4), outlen = be32(head + 8);
  if (outlen > (16u << 20)) return fail(ver, 11, "the pipework CNI daemon sent a malformed answer", "try again");
  char *out = malloc(outlen + 1);
  unsigned char errhead[4];
  if (!out || read_full(fd, out, outlen) != 0 || read_full(fd, errhead, 4) != 0) return fail(ver, 11, "the pipework CNI daemon went away before answering", "try again");
  uint32_t errlen = be32(errhead);
  char *err = errlen <= (16u << 20) ? malloc(errlen + 1) : NULL;
  if (err && read_full(fd, err, errlen) == 0) write_all(2, err, errlen);
  write_all(1, out, outlen);
  return (int)code;
}
`;
}

export function launcherSh(p: LauncherPaths): string {
  const stash = STASHED.map((k) => `if [ -n "\${${k}+x}" ]; then ${STASH_PREFIX}${k}="$${k}"; export ${STASH_PREFIX}${k}; unset ${k}; fi`).join('\n');
  return `#!/bin/sh
# ${LAUNCHER_MARK}: the pipework CNI plugin, written by \`pipework cni install\` as a shell script
# because no C compiler was found: VERSION is answered here, every other command starts Node
# (the resident daemon's socket needs the compiled launcher).
if [ "\${CNI_COMMAND:-}" = VERSION ]; then
  in=
  if [ ! -t 0 ]; then
    while IFS= read -r line || [ -n "$line" ]; do in="$in$line"; done
  fi
  v=1.1.0
  case $in in
    *'"cniVersion"'*) r=\${in#*\\"cniVersion\\"}; r=\${r#*\\"}; r=\${r%%\\"*}
      case $r in ''|*[!0-9.]*) ;; *) v=$r ;; esac ;;
  esac
  printf '{"cniVersion":"%s","supportedVersions":${VERSIONS_JSON}}\\n' "$v"
  exit 0
fi
${stash}
exec ${shQuote(p.node)} ${shQuote(p.script)}
`;
}
