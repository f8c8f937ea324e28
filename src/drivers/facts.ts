/**
 * Facts: what a plan needs to know, derived from the spec, read once into plain data. The
 * planner (src/engine/planner.ts) looks at nothing else.
 */
import type { DhcpFacts } from '../dhcp/plan.js';
import type { GuestFacts, GuestLink } from '../guest/netstate.js';
import type { HostLink } from '../host/links.js';
import type { OvsFacts, OvsPortRow } from '../host/ovs-facts.js';
import type { AttachRecord } from '../model/record.js';

export interface Facts {
  /** Host links the plan looks at, by name; null: there is none of that name. */
  host: Record<string, HostLink | null>;
  /** Open vSwitch, when the host side may involve it. */
  ovs?: OvsFacts;
  /** Open vSwitch port rows by name, when a re-run checks one. */
  ovsPorts?: Record<string, OvsPortRow | null>;
  /** Is iputils arping installed? */
  arping: boolean;
  guest: GuestFacts;
  /**
   * The record of the guest interface the spec names, when pipework made it — as the host
   * confirms it (src/engine/trust.ts), never as the guest's alias alone says.
   */
  existing?: AttachRecord;
  /** What DHCP needs (src/dhcp/environment.ts), when the spec asks for it. */
  dhcp?: DhcpFacts;
  /** The same for the interface a --replace parks, to start its client again if the replace fails. */
  replacedDhcp?: DhcpFacts;
}


export function hostLink(facts: Facts, name: string): HostLink | undefined {
  return facts.host[name] ?? undefined;
}

export function guestLink(facts: Facts, name: string): GuestLink | undefined {
  return facts.guest.links.find((l) => l.name === name);
}
