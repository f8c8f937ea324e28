/**
 * The guest a run acts on, as plans, records and results name it.
 */
import type { GuestKind } from './attach-spec.js';

/** The guest, as plans and records name it. */
export interface GuestInfo {
  kind: GuestKind;
  name: string;
  id?: string;
  pid?: number;
  nsInode: number;
  /** For messages: "docker container c1 (pid 123)". */
  label: string;
}

/** `kind:name`, as records name a guest. */
export function guestRefText(guest: Pick<GuestInfo, 'kind' | 'name'>): string {
  return `${guest.kind}:${guest.name}`;
}
