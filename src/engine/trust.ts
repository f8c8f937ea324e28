/**
 * Which of a guest's interfaces pipework made, as the host confirms it. A guest with NET_ADMIN can
 * rewrite the alias of every interface in its namespace, pipework's guest-side record included,
 * so nothing read there may name a host object: each driver confirms a guest link of its kind
 * from the host side (`confirm`: a veth's host end as its peer, a macvlan's parent from the
 * kernel, a NIC's record kept on the host when it moved in). Every record is also checked value
 * by value when it is decoded (model/record.ts).
 */
import { allDrivers } from '../drivers/registry.js';
import type { HostView } from '../drivers/driver.js';
import type { GuestFacts, GuestLink } from '../guest/netstate.js';
import { decodeRecord, type AttachRecord } from '../model/record.js';

export type { HostView };

/** The record of a guest interface pipework made, as far as the host confirms it; else undefined. */
export function confirmedRecord(link: GuestLink, nsInode: number, host: HostView): AttachRecord | undefined {
  const own = decodeRecord(link.alias);
  // Kinds whose host side proves the link (a veth's peer) are asked first: they need no record in
  // the guest at all.
  for (const driver of allDrivers()) {
    const r = driver.confirm(link, own, nsInode, host);
    if (r !== undefined) return r;
  }
  return undefined;
}

/** The pipework interfaces of a guest the host confirms, with their records. */
export function confirmedLinks(facts: GuestFacts, nsInode: number, host: HostView): { link: GuestLink; record: AttachRecord }[] {
  return facts.links.flatMap((link) => {
    const record = confirmedRecord(link, nsInode, host);
    return record !== undefined ? [{ link, record }] : [];
  });
}
