/**
 * Who is at the other end of a unix socket: pipework's control sockets (the CNI daemon, the DHCP
 * supervisor) talk only to root. The sockets live in private directories (private-dir.ts), which
 * already keeps everyone else from connecting or listening there; with the native addon the
 * peer's credentials (SO_PEERCRED) are checked as well, on both ends.
 */
import type { Socket } from 'node:net';
import { sysAddon } from './addon.js';

/** The peer's uid, or undefined when it cannot be read here (no addon, or no descriptor). */
export function peerUid(socket: Socket): number | undefined {
  const addon = sysAddon();
  // A connected unix socket's descriptor (libuv keeps it on the handle; not a public API, so
  // anything else means "cannot tell here").
  const fd = (socket as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
  if (addon === undefined || typeof fd !== 'number' || fd < 0) return undefined;
  try {
    return addon.peerCred(fd).uid;
  } catch {
    return undefined;
  }
}

/** Is the peer root (or ourselves)? Unknown counts as yes: the private directory answers for it. */
export function peerTrusted(socket: Socket): boolean {
  const uid = peerUid(socket);
  return uid === undefined || uid === 0 || uid === (process.geteuid?.() ?? 0);
}
