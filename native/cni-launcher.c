/*
 * The pipework CNI plugin as the runtime starts it: `pipework cni install` compiles this file
 * into the executable `pipework` of each CNI plugin directory (src/front/cni/launcher.ts says
 * how, src/front/cni/install.ts does it).
 *
 * - CNI_COMMAND=VERSION is answered here, in a millisecond, without Node.
 * - Any other command is handed to the resident daemon (`pipework cni daemon`) over its unix
 *   socket when a daemon running as root answers there, in the frames of src/front/cni/wire.ts;
 *   the delegates the daemon asks for (IPAM plugins) run as this program's children.
 * - Otherwise Node starts on bin/pipework as this program's child (the cold path), without
 *   NODE_EXTRA_CA_CERTS and NODE_OPTIONS, and serves the request as the daemon would over a
 *   socket pair: the delegates still run as our children. Should that fail to start, Node runs
 *   in our place with those variables set aside (src/front/cni/plugin.ts gives them back).
 *
 * What differs per installation comes as definitions on the compiler's command line, each a C
 * string literal (launcherDefines in launcher.ts writes them):
 *   PW_NODE, PW_SCRIPT   Node and bin/pipework, absolute paths
 *   PW_SOCKET            the daemon's socket
 *   PW_VERSIONS          the supported CNI versions, as a JSON array
 *   PW_STASHED           the variables set aside for Node: a list of literals, "A", "B"
 *   PW_STASH_PREFIX      the prefix they are kept under
 *   PW_MARK              the mark install and uninstall look for in the binary
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#if !defined(PW_NODE) || !defined(PW_SCRIPT) || !defined(PW_SOCKET) || !defined(PW_VERSIONS) || \
    !defined(PW_STASHED) || !defined(PW_STASH_PREFIX) || !defined(PW_MARK)
#error "compile with the definitions pipework cni install passes (launcherDefines in src/front/cni/launcher.ts)"
#endif

/* The mark install and uninstall look for (kept in the binary). */
__attribute__((used)) static const char MARK[] = PW_MARK;
static const char NODE[] = PW_NODE;
static const char SCRIPT[] = PW_SCRIPT;
static const char SOCKET_PATH[] = PW_SOCKET;
static const char VERSIONS[] = PW_VERSIONS;
static const char *const STASHED[] = { PW_STASHED };
static const char STASH_PREFIX[] = PW_STASH_PREFIX;
/* How long a request may take in the daemon (a DHCP lease can take a while). */
static const int TIMEOUT_MS = 600000;
/* The longest field a frame may carry: wire.ts's MAX_FIELD. */
#define MAX_FIELD (16u << 20)
/* The most arguments a program the daemon asks for may have. */
#define MAX_ARGC 1024u
extern char **environ;

struct buf { char *p; size_t n, cap; };

static int grow(struct buf *b, size_t more) {
  if (b->n + more <= b->cap) return 0;
  size_t cap = b->cap ? b->cap : 8192;
  while (cap < b->n + more) cap *= 2;
  if (cap > MAX_FIELD + 64) { errno = EFBIG; return -1; }
  char *q = realloc(b->p, cap);
  if (!q) return -1;
  b->p = q; b->cap = cap;
  return 0;
}

static int put(struct buf *b, const void *p, size_t n) {
  if (n == 0) return 0;
  if (grow(b, n) != 0) return -1;
  memcpy(b->p + b->n, p, n); b->n += n;
  return 0;
}

static int put32(struct buf *b, uint32_t v) {
  unsigned char x[4] = { (unsigned char)(v >> 24), (unsigned char)(v >> 16), (unsigned char)(v >> 8), (unsigned char)v };
  return put(b, x, 4);
}

static uint32_t be32(const unsigned char *b) {
  return ((uint32_t)b[0] << 24) | ((uint32_t)b[1] << 16) | ((uint32_t)b[2] << 8) | b[3];
}

static int read_all(int fd, struct buf *b) {
  for (;;) {
    if (grow(b, 4096) != 0) return -1;
    ssize_t r = read(fd, b->p + b->n, b->cap - b->n);
    if (r < 0) { if (errno == EINTR) continue; return -1; }
    if (r == 0) return 0;
    b->n += (size_t)r;
  }
}

/* To the daemon: a daemon gone is an error (EPIPE), not a SIGPIPE. */
static int send_all(int sock, const void *p, size_t len) {
  const char *b = p;
  while (len > 0) {
    ssize_t w = send(sock, b, len, MSG_NOSIGNAL);
    if (w < 0) { if (errno == EINTR) continue; return -1; }
    b += w; len -= (size_t)w;
  }
  return 0;
}

/* To our stdout or stderr (the runtime's pipes). */
static int write_all(int fd, const void *p, size_t len) {
  const char *b = p;
  while (len > 0) {
    ssize_t w = write(fd, b, len);
    if (w < 0) { if (errno == EINTR) continue; return -1; }
    b += w; len -= (size_t)w;
  }
  return 0;
}

/* Read exactly len bytes from the daemon, waiting at most TIMEOUT_MS for each piece. */
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

static int read32(int fd, uint32_t *v) {
  unsigned char x[4];
  if (read_full(fd, x, 4) != 0) return -1;
  *v = be32(x);
  return 0;
}

/*
 * A length-prefixed field, NUL-terminated in memory. NULL with errno: EPROTO for a length over
 * MAX_FIELD (refused before anything is read or allocated), else read_full's.
 */
static char *read_field(int fd, uint32_t *len) {
  if (read32(fd, len) != 0) return NULL;
  if (*len > MAX_FIELD) { errno = EPROTO; return NULL; }
  char *p = malloc(*len + 1);
  if (!p) return NULL;
  if (read_full(fd, p, *len) != 0) { int e = errno; free(p); errno = e; return NULL; }
  p[*len] = 0;
  return p;
}

/* The cniVersion the request names (digits and dots only), or the default. */
static void asked_version(const char *in, size_t len, char *out, size_t outlen, const char *dflt) {
  snprintf(out, outlen, "%s", dflt);
  const char *key = "\"cniVersion\"";
  const char *p = in ? memmem(in, len, key, strlen(key)) : NULL;
  if (!p) return;
  const char *end = in + len;
  p += strlen(key);
  while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == ':')) p++;
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
  printf("{\"cniVersion\":\"%s\",\"code\":%d,\"msg\":\"%s\",\"details\":\"%s\"}\n", ver, code, msg, details);
  fflush(stdout);
  return 1;
}

/* Set a variable aside under STASH_PREFIX (Node starts without it; plugin.ts puts it back). */
static void stash(const char *name) {
  const char *v = getenv(name);
  if (!v) return;
  size_t n = strlen(STASH_PREFIX) + strlen(name) + 1;
  char *saved = malloc(n);
  if (!saved) return;
  snprintf(saved, n, "%s%s", STASH_PREFIX, name);
  setenv(saved, v, 1);
  unsetenv(name);
  free(saved);
}

/* No daemon: Node runs the plugin, with stdin as we got it (still unread). */
static int cold(const char *ver) {
  for (size_t i = 0; i < sizeof STASHED / sizeof *STASHED; i++) stash(STASHED[i]);
  char *argv[] = { (char *)NODE, (char *)SCRIPT, NULL };
  execv(NODE, argv);
  return fail(ver, 999, "cannot start Node for the pipework CNI plugin", "run pipework cni install again");
}

/* A frame from the daemon could not be read: why, from errno (read_full's, or EPROTO). */
static int daemon_failed(const char *ver) {
  if (errno == EPROTO) {
    return fail(ver, 11, "the pipework CNI daemon sent a malformed frame",
                "the launcher and the daemon may be from different pipework versions: run pipework cni install again and restart the daemon");
  }
  if (errno == ETIMEDOUT) return fail(ver, 11, "the pipework CNI daemon did not answer in time", "try again; its log says why");
  if (errno == ENOMEM) return fail(ver, 11, "the pipework CNI launcher ran out of memory", "try again");
  return fail(ver, 11, "the pipework CNI daemon went away before answering", "try again; its log says why");
}

/* Node, started as our child for the request, ended or spoke wrongly before answering. */
static int child_failed(const char *ver) {
  if (errno == EPROTO) return fail(ver, 999, "pipework (Node) sent a malformed frame", "run pipework cni install again");
  if (errno == ENOMEM) return fail(ver, 11, "the pipework CNI launcher ran out of memory", "try again");
  return fail(ver, 999, "pipework (Node) ended before answering", "its messages are on the plugin's stderr");
}

static long long now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* A program the daemon asks us to start ('X' or 'D'): argv, environment; for 'X', stdin and time limit. */
struct job {
  char **argv;
  char *env;   /* the environment block, KEY=VALUE\0 each... */
  char **envp; /* ...and its entries */
  char *in;
  uint32_t inlen, timeout_ms;
};

/*
 * Read a job's fields (after its type byte). -1 with errno EPROTO when it is malformed (argc 0 or
 * over MAX_ARGC, a field over MAX_FIELD), else read_full's (cut short, too slow).
 */
static int read_job(int sock, int with_stdin, struct job *j) {
  uint32_t argc, n, envlen;
  memset(j, 0, sizeof *j);
  if (read32(sock, &argc) != 0) return -1;
  if (argc == 0 || argc > MAX_ARGC) { errno = EPROTO; return -1; }
  if (!(j->argv = calloc(argc + 1, sizeof *j->argv))) return -1;
  for (uint32_t i = 0; i < argc; i++) if (!(j->argv[i] = read_field(sock, &n))) return -1;
  if (!(j->env = read_field(sock, &envlen))) return -1;
  size_t envc = 0;
  for (uint32_t i = 0; i < envlen; i++) if (j->env[i] == 0) envc++;
  if (!(j->envp = calloc(envc + 1, sizeof *j->envp))) return -1;
  for (size_t i = 0, at = 0; i < envc; i++) { j->envp[i] = j->env + at; at += strlen(j->env + at) + 1; }
  if (with_stdin && (!(j->in = read_field(sock, &j->inlen)) || read32(sock, &j->timeout_ms) != 0)) return -1;
  return 0;
}

static void free_job(struct job *j) {
  if (j->argv) for (char **a = j->argv; *a; a++) free(*a);
  free(j->argv); free(j->env); free(j->envp); free(j->in);
}

/* 'E': the program could not start (errno e). */
static int send_failed(int sock, int e) {
  struct buf m = { 0 };
  const char *why = strerror(e);
  int bad = put(&m, "E", 1) || put32(&m, (uint32_t)e) || put32(&m, (uint32_t)strlen(why)) || put(&m, why, strlen(why));
  int r = bad ? -1 : send_all(sock, m.p, m.n);
  free(m.p);
  return r;
}

static void close_fds(int *fds, int n) {
  for (int i = 0; i < n; i++) if (fds[i] >= 0) { close(fds[i]); fds[i] = -1; }
}

/*
 * 'X': the daemon asks us to run a delegate (an IPAM plugin): we are the plugin the runtime
 * started, so it runs as our child, with the environment and stdin the daemon sends, and dies
 * with us. Answer: 'Y' code signal timedOut stdout stderr, or 'E' errno message when it cannot
 * start. -1 (errno says why) when the frame cannot be read or the answer sent.
 */
static int run_delegate(int sock) {
  struct job j;
  if (read_job(sock, 1, &j) != 0) return -1;
  /* pin, pout, perr, pexec: [read end, write end] each. */
  int fds[8] = { -1, -1, -1, -1, -1, -1, -1, -1 };
  int *pin = fds, *pout = fds + 2, *perr = fds + 4, *pexec = fds + 6;
  /* A delegate that exits without reading all of stdin must not take us with it. */
  signal(SIGPIPE, SIG_IGN);
  if (pipe2(pin, O_CLOEXEC) || pipe2(pout, O_CLOEXEC) || pipe2(perr, O_CLOEXEC) || pipe2(pexec, O_CLOEXEC)) {
    int e = errno;
    close_fds(fds, 8); free_job(&j);
    return send_failed(sock, e);
  }
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    int e = errno;
    close_fds(fds, 8); free_job(&j);
    return send_failed(sock, e);
  }
  if (pid == 0) {
    /* It dies with us: a runtime that kills the plugin stops its delegate too. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    signal(SIGPIPE, SIG_DFL);
    dup2(pin[0], 0); dup2(pout[1], 1); dup2(perr[1], 2);
    execve(j.argv[0], j.argv, j.envp);
    int e = errno;
    if (write(pexec[1], &e, sizeof e) < 0) _exit(127);
    _exit(127);
  }
  close(pin[0]); close(pout[1]); close(perr[1]); close(pexec[1]);
  pin[0] = pout[1] = perr[1] = pexec[1] = -1;
  int e = 0;
  if (read(pexec[0], &e, sizeof e) == (ssize_t)sizeof e) {
    waitpid(pid, NULL, 0);
    close_fds(fds, 8); free_job(&j);
    return send_failed(sock, e);
  }
  close(pexec[0]); pexec[0] = -1;
  fcntl(pin[1], F_SETFL, O_NONBLOCK);
  struct buf out = { 0 }, err = { 0 };
  size_t sent = 0;
  int timed_out = 0, open_out = 1, open_err = 1;
  long long deadline = now_ms() + (j.timeout_ms ? j.timeout_ms : TIMEOUT_MS);
  if (j.inlen == 0) { close(pin[1]); pin[1] = -1; }
  while (open_out || open_err) {
    struct pollfd f[3] = { { open_out ? pout[0] : -1, POLLIN, 0 }, { open_err ? perr[0] : -1, POLLIN, 0 }, { pin[1], POLLOUT, 0 } };
    long long left = deadline - now_ms();
    if (left <= 0) { timed_out = 1; kill(pid, SIGKILL); break; }
    if (poll(f, 3, (int)left) < 0) { if (errno == EINTR) continue; break; }
    if (f[2].revents) {
      ssize_t w = write(pin[1], j.in + sent, j.inlen - sent);
      if (w > 0) sent += (size_t)w;
      if (w < 0 && errno != EAGAIN && errno != EINTR) sent = j.inlen;
      if (sent >= j.inlen) { close(pin[1]); pin[1] = -1; }
    }
    for (int k = 0; k < 2; k++) {
      if (!f[k].revents) continue;
      struct buf *b = k == 0 ? &out : &err;
      if (grow(b, 65536) != 0) { kill(pid, SIGKILL); open_out = open_err = 0; break; }
      ssize_t r = read(k == 0 ? pout[0] : perr[0], b->p + b->n, b->cap - b->n);
      if (r > 0) b->n += (size_t)r;
      else if (r == 0 || (errno != EINTR && errno != EAGAIN)) { if (k == 0) open_out = 0; else open_err = 0; }
    }
  }
  close_fds(fds, 8);
  int st = 0;
  waitpid(pid, &st, 0);
  struct buf m = { 0 };
  int bad = put(&m, "Y", 1)
    || put32(&m, WIFEXITED(st) ? (uint32_t)WEXITSTATUS(st) : 0xffffffffu)
    || put32(&m, WIFSIGNALED(st) ? (uint32_t)WTERMSIG(st) : 0)
    || put32(&m, (uint32_t)timed_out)
    || put32(&m, (uint32_t)out.n) || put(&m, out.p, out.n)
    || put32(&m, (uint32_t)err.n) || put(&m, err.p, err.n);
  free_job(&j); free(out.p); free(err.p);
  int r = bad ? -1 : send_all(sock, m.p, m.n);
  free(m.p);
  return r;
}

/* 'D': start it and do not wait (an ARP announcement that lingers a second): it outlives us. */
static int run_detached(int sock) {
  struct job j;
  if (read_job(sock, 0, &j) != 0) return -1;
  pid_t pid = fork();
  if (pid == 0) {
    setsid();
    int null = open("/dev/null", O_RDWR);
    if (null >= 0) { dup2(null, 0); dup2(null, 1); dup2(null, 2); }
    signal(SIGPIPE, SIG_DFL);
    execve(j.argv[0], j.argv, j.envp);
    _exit(127);
  }
  free_job(&j);
  return 0;
}

/*
 * The conversation with whoever serves the request (the resident daemon, or Node started as our
 * child on the cold path): our request frame (environment, stdin), then its frames until 'R'.
 * `cold`: the other end is Node we started (its failures are said as such); it ends by itself,
 * not waited for: its exit is not the runtime's time.
 */
static int converse(int fd, int cold) {
  struct buf in = { 0 };
  char ver[32];
  if (read_all(0, &in) != 0) return fail("1.1.0", 5, "error reading from stdin", "");
  asked_version(in.p, in.n, ver, sizeof ver, "1.1.0");
  size_t envlen = 0;
  for (char **e = environ; *e; e++) envlen += strlen(*e) + 1;
  struct buf m = { 0 };
  /* flags bit 0: we run the delegates the daemon asks for. */
  if (put(&m, "PWC1", 4) || put32(&m, 1) || put32(&m, (uint32_t)envlen)) return fail(ver, 999, "out of memory", "");
  for (char **e = environ; *e; e++) if (put(&m, *e, strlen(*e) + 1)) return fail(ver, 999, "out of memory", "");
  if (put32(&m, (uint32_t)in.n) || put(&m, in.p, in.n)) return fail(ver, 999, "out of memory", "");
  if (send_all(fd, m.p, m.n) != 0) return fail(ver, 11, "the pipework CNI daemon went away", "try again");
  for (;;) {
    char type;
    if (read_full(fd, &type, 1) != 0) return cold ? child_failed(ver) : daemon_failed(ver);
    if (type == 'X') {
      if (run_delegate(fd) != 0) return cold ? child_failed(ver) : daemon_failed(ver);
      continue;
    }
    if (type == 'D') {
      if (run_detached(fd) != 0) return cold ? child_failed(ver) : daemon_failed(ver);
      continue;
    }
    if (type != 'R') { errno = EPROTO; return cold ? child_failed(ver) : daemon_failed(ver); }
    uint32_t code, outlen, errlen;
    char *out, *err;
    if (read32(fd, &code) != 0 || !(out = read_field(fd, &outlen)) || !(err = read_field(fd, &errlen))) return cold ? child_failed(ver) : daemon_failed(ver);
    write_all(2, err, errlen);
    write_all(1, out, outlen);
    close(fd);
    return (int)code;
  }
}

/*
 * No daemon: Node serves this one request as the daemon would, as our child over a socket pair
 * (fd 3, PIPEWORK_CNI_FD=3), and we run the delegates it asks for — a fork of this small
 * process, not of Node (whose fork and exec cost a cold ADD ~10 ms). Its stdout goes to our
 * stderr: the runtime's stdout gets the result alone. When we go (the runtime killed us), it sees
 * the socket close and undoes its run. If that cannot start, Node runs in our place (exec).
 */
static int cold_child(const char *ver) {
  int sv[2], pexec[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return cold(ver);
  if (pipe2(pexec, O_CLOEXEC) != 0) { close(sv[0]); close(sv[1]); return cold(ver); }
  pid_t pid = fork();
  if (pid < 0) { close(sv[0]); close(sv[1]); close(pexec[0]); close(pexec[1]); return cold(ver); }
  if (pid == 0) {
    close(sv[0]); close(pexec[0]);
    /* fd 3 for Node (dup2 leaves it open across exec), the rest as the runtime gave them. */
    int ok = 1;
    if (sv[1] != 3) { ok = dup2(sv[1], 3) == 3; close(sv[1]); }
    else ok = fcntl(3, F_SETFD, 0) == 0;
    int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (!ok || null < 0 || dup2(null, 0) < 0 || dup2(2, 1) < 0) _exit(127);
    for (size_t i = 0; i < sizeof STASHED / sizeof *STASHED; i++) unsetenv(STASHED[i]);
    setenv("PIPEWORK_CNI_FD", "3", 1);
    char *argv[] = { (char *)NODE, (char *)SCRIPT, NULL };
    execv(NODE, argv);
    int e = errno;
    if (write(pexec[1], &e, sizeof e) < 0) _exit(127);
    _exit(127);
  }
  close(sv[1]); close(pexec[1]);
  int e = 0;
  ssize_t got = read(pexec[0], &e, sizeof e);
  close(pexec[0]);
  if (got == (ssize_t)sizeof e) {
    waitpid(pid, NULL, 0);
    close(sv[0]);
    return fail(ver, 999, "cannot start Node for the pipework CNI plugin", "run pipework cni install again");
  }
  return converse(sv[0], 1);
}

int main(void) {
  const char *cmd = getenv("CNI_COMMAND");
  char ver[32];
  if (cmd && strcmp(cmd, "VERSION") == 0) {
    struct buf in = { 0 };
    if (!isatty(0)) read_all(0, &in);
    asked_version(in.p, in.n, ver, sizeof ver, "1.1.0");
    printf("{\"cniVersion\":\"%s\",\"supportedVersions\":%s}\n", ver, VERSIONS);
    return fflush(stdout) == 0 ? 0 : 1;
  }
  const char *path = getenv("PIPEWORK_CNI_SOCKET");
  if (!path) path = SOCKET_PATH;
  if (!*path || strcmp(path, "none") == 0 || strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) return cold_child("1.1.0");
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un sa;
  memset(&sa, 0, sizeof sa);
  sa.sun_family = AF_UNIX;
  strcpy(sa.sun_path, path);
  if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
    if (fd >= 0) close(fd);
    return cold_child("1.1.0");
  }
  /* Only a daemon running as root gets the request (it asks us to run programs): anyone else
     listening there is ignored, and Node serves the request itself. */
  struct ucred peer;
  socklen_t plen = sizeof peer;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &plen) != 0 || peer.uid != 0) {
    fprintf(stderr, "pipework: the socket %s is not served by root; ignoring it\n", path);
    close(fd);
    return cold_child("1.1.0");
  }
  return converse(fd, 0);
}
