/**
 * What a DHCP attach needs to know before planning (I/O): is the client installed, how to tell
 * the guest is alive later, where the guest's own resolv.conf is, and for the `dhcp` method the
 * runtime and its image.
 */
import { lstatSync, readlinkSync, statSync } from 'node:fs';
import type { DhcpMethod } from '../model/dhcp-methods.js';
import { hasProgram } from '../exec/programs.js';
import type { Guest } from '../guest/guest.js';
import { NotFoundError } from '../model/errors.js';
import { runtimeSocket, imagePresent, resolvConfPath } from './container.js';
import type { ClientProgram } from './lease.js';
import { DEFAULT_DHCP_IMAGE, DEFAULT_DHCP_TIMEOUT_SEC, METHOD_INFO } from './methods.js';
import { DHCP_AGENT, HELPER_HOOK } from './paths.js';
import type { DhcpFacts, Runtime } from './plan.js';
import { netnsInodeOf, readStat } from '../exec/proc.js';
import type { DnsTarget, GuestWatch } from './state.js';

/** `dev:ino` of the host's /etc/resolv.conf (following a symlink), if there is one. */
export function hostResolvId(path = '/etc/resolv.conf'): string | undefined {
  try {
    const st = statSync(path);
    return `${st.dev}:${st.ino}`;
  } catch {
    return undefined;
  }
}

function watchOf(guest: Guest): GuestWatch {
  if (guest.pid !== undefined) {
    const st = readStat(guest.pid);
    // The PID must still be the guest's: same namespace as the one we hold.
    if (st === undefined || netnsInodeOf(guest.pid) !== guest.ns.inode) {
      throw new NotFoundError(`${guest.ns.label} exited while it was being plumbed`);
    }
    return { kind: 'pid', pid: guest.pid, start: st.start };
  }
  return { kind: 'nsfile', path: `/var/run/netns/${guest.name}`, inode: guest.ns.inode };
}

function sameFile(a: string, hostId: string | undefined): boolean {
  try {
    const st = statSync(a);
    return hostId !== undefined && `${st.dev}:${st.ino}` === hostId;
  } catch {
    return false;
  }
}

/** The guest's own resolv.conf: never one that is (or may turn out to be) the host's. */
async function dnsTarget(guest: Guest, socket: string | undefined): Promise<DnsTarget | undefined> {
  const hostId = hostResolvId();
  const target = (path: string, create: boolean): DnsTarget => ({ path, create, ...(hostId !== undefined && { hostId }) });
  switch (guest.kind) {
    case 'netns':
      // What `ip netns exec` bind-mounts over /etc/resolv.conf for this namespace.
      return target(`/etc/netns/${guest.name}/resolv.conf`, true);
    case 'docker':
    case 'podman': {
      if (socket === undefined || guest.id === undefined) return undefined;
      const path = await resolvConfPath(socket, guest.id).catch(() => undefined);
      return path !== undefined && !sameFile(path, hostId) ? target(path, false) : undefined;
    }
    case 'lxc':
    case 'pid': {
      if (guest.pid === undefined) return undefined;
      const path = `/proc/${guest.pid}/root/etc/resolv.conf`;
      try {
        // Its own mount namespace, a regular file (an absolute symlink would resolve on the
        // host), and not the host's file bind-mounted.
        if (readlinkSync(`/proc/${guest.pid}/ns/mnt`) === readlinkSync('/proc/self/ns/mnt')) return undefined;
        if (!lstatSync(path).isFile() || sameFile(path, hostId)) return undefined;
        return target(path, false);
      } catch {
        return undefined;
      }
    }
  }
}

/** What DHCP by `method` needs (the spec's addressing, or the one a --replace parks). */
export async function gatherDhcpFacts(dhcp: { method: DhcpMethod; timeoutSec?: number; image?: string }, guest: Guest, programs?: Map<string, boolean>): Promise<DhcpFacts> {
  const info = METHOD_INFO[dhcp.method];
  const runtime: Runtime | undefined = guest.kind === 'docker' || guest.kind === 'podman' ? guest.kind : undefined;
  const socket = runtime !== undefined ? runtimeSocket(runtime) : undefined;
  const installed: Partial<Record<ClientProgram, boolean>> = {};
  if (info.onHost) installed[info.program] = hasProgram(info.program, programs);
  let helper: DhcpFacts['helper'];
  if (!info.onHost && runtime !== undefined && socket !== undefined) {
    const image = dhcp.image ?? DEFAULT_DHCP_IMAGE;
    helper = { runtime, image, imagePresent: await imagePresent(socket, image), hook: HELPER_HOOK };
  }
  const dns = info.onHost ? await dnsTarget(guest, socket) : undefined;
  return {
    agent: DHCP_AGENT,
    installed,
    guestKind: guest.kind,
    guestName: guest.name,
    ...(guest.id !== undefined && { guestId: guest.id }),
    watch: watchOf(guest),
    ...(dns !== undefined && { dns }),
    timeoutSec: dhcp.timeoutSec ?? DEFAULT_DHCP_TIMEOUT_SEC,
    ...(helper !== undefined && { helper }),
  };
}
