/**
 * What the drivers' `confirm` share: finding from the host what a guest link is, since a guest
 * with NET_ADMIN can rewrite the alias (pipework's guest-side record) of any interface in its
 * namespace (src/engine/trust.ts says which driver is asked, and in which order).
 */
import type { GuestLink } from '../guest/netstate.js';
import { isVlanDevice } from '../host/links.js';
import { decodeRecord, type AttachRecord, type HostKindName } from '../model/record.js';
import type { HostView } from './driver.js';

/**
 * A veth's guest end: its host end is its peer, by ifindex both ways, in the host's namespace,
 * and that end's own record (which only root can write) names this namespace, this interface and
 * this kind — and it is the record used, whatever the guest's says (or if it says nothing: a run
 * given up between the two writes).
 */
export function confirmVeth(kind: HostKindName, link: GuestLink, nsInode: number, host: HostView): AttachRecord | undefined {
  if (link.kind !== 'veth' || link.peer?.elsewhere !== true || link.index === undefined) return undefined;
  const end = host.byIndex(link.peer.index);
  if (end === undefined || end.iflink !== link.index) return undefined;
  const r = decodeRecord(end.alias);
  if (r?.role !== 'host' || r.nsInode !== nsInode || r.guestIf !== link.name || r.hostKind !== kind) return undefined;
  return { ...r, role: 'guest', localIf: end.name };
}

/** The guest's own record of this link, for this kind (what is the guest's own in it only: see withoutHostNames). */
export function ownRecord(kind: HostKindName, link: GuestLink, own: AttachRecord | undefined, nsInode: number): AttachRecord | undefined {
  return own?.role === 'guest' && own.hostKind === kind && own.nsInode === nsInode && own.guestIf === link.name ? own : undefined;
}

/** A record without any host object the guest could have named in it. */
export function withoutHostNames(r: AttachRecord): AttachRecord {
  const out = { ...r };
  delete out.localIf;
  delete out.vlanIf;
  delete out.vlanMade;
  delete out.origName;
  delete out.origMac;
  return out;
}

/**
 * The parent of a link whose parent is on the host (a macvlan, an IPoIB child, a VLAN device moved
 * in), from the kernel: the NIC, and the VLAN device between when there is one.
 */
export function kernelParent(link: GuestLink, host: HostView): { hostIf: string; vlanIf?: string } | undefined {
  if (link.peer?.elsewhere !== true) return undefined;
  const parent = host.byIndex(link.peer.index);
  if (parent === undefined) return undefined;
  if (!isVlanDevice(parent.name)) return { hostIf: parent.name };
  const lower = parent.iflink !== undefined ? host.byIndex(parent.iflink) : undefined;
  return lower === undefined ? undefined : { hostIf: lower.name, vlanIf: parent.name };
}
