/**
 * Every name pipework gives an interface, computed in this one place. Where the classic tool's
 * name fits in 15 characters we use it exactly; otherwise a deterministic name from a hash of
 * what makes the interface unique (guest namespace and guest interface): valid, collision-free.
 */
import { digest } from '../model/hash.js';
import { IFNAME_MAX } from '../model/ifname.js';

export interface GuestIdentity {
  /** A PID in the guest, when there is one: the classic names use it. */
  pid?: number;
  /** The guest's network namespace inode: unique among live namespaces. */
  nsInode: number;
}

function hashed(prefix: string, text: string): string {
  const hex = digest('sha256', text).toString('hex');
  return prefix + hex.slice(0, IFNAME_MAX - prefix.length);
}

function classicOrHashed(classic: string | undefined, prefix: string, guest: GuestIdentity, guestIf: string): string {
  return classic !== undefined && Buffer.byteLength(classic) <= IFNAME_MAX ? classic : hashed(prefix, `${guest.nsInode}/${guestIf}`);
}

/** Host end of the veth pair: classic `v<guestif>pl<pid>`. */
export function vethHostName(guest: GuestIdentity, guestIf: string): string {
  return classicOrHashed(guest.pid !== undefined ? `v${guestIf}pl${guest.pid}` : undefined, 'pwv', guest, guestIf);
}

/** `<nic>.<vlan>` as the classic tool names it, or a hashed name when that is too long. */
export function vlanIfName(nic: string, vlan: number): string {
  const classic = `${nic}.${vlan}`;
  if (classic.length <= IFNAME_MAX) return classic;
  return hashed('pwq', classic);
}

/**
 * Where --replace parks the interface it replaces (guest side) and its host end, while the new
 * one is built under the final names: renamed back if anything fails, removed once it worked.
 */
export function parkedGuestName(guest: GuestIdentity, guestIf: string): string {
  return hashed('pwo', `${guest.nsInode}/${guestIf}/guest`);
}

export function parkedHostName(guest: GuestIdentity, guestIf: string): string {
  return hashed('pwp', `${guest.nsInode}/${guestIf}/host`);
}

/** The names an attach uses on the host, derived from its spec and its guest. */
export interface AttachNames {
  /** The veth's host end (bridge and OVS kinds). */
  hostEnd?: string;
  /** The 802.1Q sub-interface a macvlan or a moved NIC hangs off. */
  vlanIf?: string;
}
