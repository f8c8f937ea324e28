/**
 * Interface names. Where the classic tool's name fits in 15 characters we use it exactly;
 * otherwise a deterministic name from a hash of what makes the interface unique
 * (guest namespace and guest interface), which is valid and does not collide.
 */
import { digest } from '../model/hash.js';
import { IFNAME_MAX } from '../model/ifname.js';

export interface GuestIdentity {
  /** A PID in the guest, when there is one: the classic names use it. */
  pid?: number;
  /** The guest's network namespace inode: unique among live namespaces. */
  nsInode: number;
}

function hashed(prefix: string, guest: GuestIdentity, guestIf: string): string {
  const hex = digest('sha256', `${guest.nsInode}/${guestIf}`).toString('hex');
  return prefix + hex.slice(0, IFNAME_MAX - prefix.length);
}

function classicOrHashed(classic: string | undefined, prefix: string, guest: GuestIdentity, guestIf: string): string {
  return classic !== undefined && Buffer.byteLength(classic) <= IFNAME_MAX ? classic : hashed(prefix, guest, guestIf);
}

/** Host end of the veth pair: classic `v<guestif>pl<pid>`. */
export function vethHostName(guest: GuestIdentity, guestIf: string): string {
  return classicOrHashed(guest.pid !== undefined ? `v${guestIf}pl${guest.pid}` : undefined, 'pwv', guest, guestIf);
}
