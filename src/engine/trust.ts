/**
 * Which of a guest's interfaces pipework made, as the host confirms it. A guest with NET_ADMIN can
 * rewrite the alias of every interface in its namespace, pipework's guest-side record included,
 * so nothing read there may name a host object. A record is believed as far as the host backs it:
 *
 * - a veth's guest end (bridge, ovs): the host end is found as its peer, by ifindex both ways, in
 *   the host's namespace; that end's own record, which only root can write, must name this
 *   namespace and this interface — and it is the record used, whatever the guest's says;
 * - a macvlan or an IPoIB child: the guest's record for what is the guest's own (addresses,
 *   DHCP, owner), with the parent read from the kernel (the link's parent ifindex, on the host)
 *   instead of the names the record gives;
 * - a NIC moved in (--direct-phys): the record pipework kept on the host when it moved the NIC
 *   (src/host/kept-records.ts), for a device the guest did not make itself (one whose peer or
 *   lower device is on the host, or that has no kind: a real NIC). A NIC moved in by a pipework
 *   that kept nothing is believed only if it is a real NIC going back under its own name;
 * - a dummy: the guest's record (nothing of it is on the host).
 *
 * Every record is also checked value by value when it is decoded (model/record.ts).
 */
import type { GuestFacts, GuestLink } from '../guest/facts.js';
import { isVlanDevice, type HostLink } from '../host/facts.js';
import { keptRecord } from '../host/kept-records.js';
import { decodeRecord, type AttachRecord, type HostKindName } from '../model/record.js';

/** The host's links, by name and by ifindex (HostLinkCache). */
export interface HostView {
  link(name: string): HostLink | undefined;
  byIndex(index: number): HostLink | undefined;
}

/** What a guest link's kind (`ip -d`) must be for each host kind. */
const GUEST_KIND: Record<HostKindName, (kind: string | undefined) => boolean> = {
  bridge: (k) => k === 'veth',
  ovs: (k) => k === 'veth',
  macvlan: (k) => k === 'macvlan',
  ipoib: (k) => k === 'ipoib',
  dummy: (k) => k === 'dummy',
  // A device a guest cannot make: a real NIC (no kind), or a VLAN device (checked below).
  phys: (k) => k === undefined || k === 'vlan',
};

/** The host end of a veth guest end: its peer on the host, whose record names this guest end. */
function vethRecord(link: GuestLink, nsInode: number, host: HostView): AttachRecord | undefined {
  if (link.peer?.elsewhere !== true || link.index === undefined) return undefined;
  const end = host.byIndex(link.peer.index);
  if (end === undefined || end.iflink !== link.index) return undefined;
  const r = decodeRecord(end.alias);
  if (r?.role !== 'host' || r.nsInode !== nsInode || r.guestIf !== link.name || (r.hostKind !== 'bridge' && r.hostKind !== 'ovs')) return undefined;
  return { ...r, role: 'guest', localIf: end.name };
}

/** The parent of a macvlan or IPoIB child, from the kernel: the NIC, and the VLAN device between. */
function parentOf(link: GuestLink, host: HostView): { hostIf: string; vlanIf?: string } | undefined {
  if (link.peer?.elsewhere !== true) return undefined;
  const parent = host.byIndex(link.peer.index);
  if (parent === undefined) return undefined;
  if (!isVlanDevice(parent.name)) return { hostIf: parent.name };
  const lower = parent.iflink !== undefined ? host.byIndex(parent.iflink) : undefined;
  return lower === undefined ? undefined : { hostIf: lower.name, vlanIf: parent.name };
}

/** Only what is the guest's own: no host object named by the guest's record survives. */
function withoutHostNames(r: AttachRecord): AttachRecord {
  const out = { ...r };
  delete out.localIf;
  delete out.vlanIf;
  delete out.vlanMade;
  delete out.origName;
  delete out.origMac;
  return out;
}

/** The record of a guest interface pipework made, as far as the host confirms it; else undefined. */
export function confirmedRecord(link: GuestLink, nsInode: number, host: HostView): AttachRecord | undefined {
  const own = decodeRecord(link.alias);
  // A veth's record is its host end's: even a guest-side record that was never written (a run
  // given up between the two) or was rewritten does not matter. (A veth standing in for a NIC
  // moved in has a kept record instead.)
  if (link.kind === 'veth') {
    const end = vethRecord(link, nsInode, host);
    if (end !== undefined) return end;
  }
  const kept = keptRecord(nsInode, link.name);
  if (kept !== undefined) {
    // A device a guest can make in its own namespace (a dummy, a veth pair, a macvlan on its own
    // link) is not the one pipework moved in, whatever was kept for that name.
    if (link.kind !== undefined && link.peer?.elsewhere !== true) return undefined;
    return kept.record;
  }
  if (link.kind === 'veth') return undefined;
  if (own?.role !== 'guest' || own.nsInode !== nsInode || own.guestIf !== link.name || !GUEST_KIND[own.hostKind](link.kind)) return undefined;
  switch (own.hostKind) {
    case 'macvlan':
    case 'ipoib': {
      const parent = parentOf(link, host);
      if (parent === undefined) return undefined;
      return { ...withoutHostNames(own), ...parent };
    }
    case 'dummy':
      return withoutHostNames(own);
    case 'phys': {
      // Nothing kept (an older pipework moved it): a real NIC only, back under its own name.
      if (link.name === 'lo' || link.kind !== undefined || (own.origName !== undefined && own.origName !== own.hostIf)) return undefined;
      const out = { ...own, origName: own.hostIf };
      delete out.vlanIf;
      delete out.vlanMade;
      delete out.origMac;
      return out;
    }
    default:
      return undefined;
  }
}

/** The pipework interfaces of a guest the host confirms, with their records. */
export function confirmedLinks(facts: GuestFacts, nsInode: number, host: HostView): { link: GuestLink; record: AttachRecord }[] {
  return facts.links.flatMap((link) => {
    const record = confirmedRecord(link, nsInode, host);
    return record !== undefined ? [{ link, record }] : [];
  });
}
