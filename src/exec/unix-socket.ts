/**
 * Unix socket paths that fit: Linux keeps a socket's address in `sun_path`, 108 bytes. What Node
 * does with a longer path depends on its version — Node 20 and 22 cut it to 108 bytes without a
 * word (listen() binds, connect() reaches, a *different* path), Node ≥ 23 fails with EINVAL — so
 * pipework checks every path itself before it listens or connects, and says why, the same on
 * every Node. A file path may have 107 bytes and the terminating NUL: a 108-byte path fills
 * sun_path without one, which Node takes but the CNI launcher (C) and most programs do not. An
 * abstract name (a leading NUL byte) has all 108 bytes.
 */
import { connect, Socket } from 'node:net';

/** The size of `struct sockaddr_un`'s `sun_path` on Linux. */
export const SUN_PATH_BYTES = 108;

/** The longest unix socket path (in UTF-8 bytes) every Node binds and reaches as given. */
export function maxUnixPathBytes(path: string): number {
  return path.startsWith('\0') ? SUN_PATH_BYTES : SUN_PATH_BYTES - 1;
}

/** Why `path` cannot name a unix socket as given, or undefined. */
export function unixPathProblem(path: string): string | undefined {
  if (path === '') return 'it is empty';
  const abstract = path.startsWith('\0');
  if (!abstract && path.includes('\0')) return 'it holds a NUL byte';
  const bytes = Buffer.byteLength(path, 'utf8');
  const max = maxUnixPathBytes(path);
  if (bytes > max) {
    return `it is ${bytes} bytes long and a unix socket's ${abstract ? 'abstract name' : 'path'} holds at most ${max} (sun_path); choose a shorter one`;
  }
  return undefined;
}

/** A printable form of a socket path for messages (an abstract name's NUL as `@`, as ss(8) shows it). */
export function showUnixPath(path: string): string {
  return path.startsWith('\0') ? `@${path.slice(1)}` : path;
}

/** The error a path that does not fit gives, with the code Node ≥ 23 uses (EINVAL). */
export function unixPathError(path: string, problem: string): NodeJS.ErrnoException {
  const err: NodeJS.ErrnoException = new Error(`unix socket ${showUnixPath(path)}: ${problem}`);
  err.code = 'EINVAL';
  return err;
}

/**
 * net.connect(path), refusing a path that does not fit: the socket returned then fails (an
 * 'error' event, after the caller had a chance to listen for it) without trying a cut-down path.
 */
export function connectUnix(path: string): Socket {
  const problem = unixPathProblem(path);
  if (problem === undefined) return connect(path);
  const s = new Socket();
  process.nextTick(() => s.destroy(unixPathError(path, problem)));
  return s;
}
