/**
 * A host kind is one driver, in the shape of the reference CNI plugins' cmdAdd / cmdDel /
 * cmdCheck: plan the host side of an attach, plan the removal of what it made (from its record),
 * and check live state against the spec. Drivers are pure: they read only the facts given.
 */
import type { Facts, GuestInfo } from '../engine/facts.js';
import type { AttachNames } from '../engine/names.js';
import type { HostLocks, Step } from '../engine/plan.js';
export { lockKey } from '../engine/plan.js';
import type { AttachRecord } from '../model/record.js';
import type { AttachSpec, HostKind, HostSide } from '../spec/attach-spec.js';

export type SideOf<K extends HostKind> = Extract<HostSide, { kind: K }>;

export interface DriverInput<K extends HostKind> {
  spec: AttachSpec;
  host: SideOf<K>;
  guest: GuestInfo;
  names: AttachNames;
  facts: Facts;
  /** The record both ends carry (the host end gets it with role `host`). */
  record: AttachRecord;
  /** The host end (veth kinds) of the interface a --replace parks, renamed out of the way. */
  parkedHostEnd?: string;
}

export interface HostSidePlan {
  /** Everything up to the guest interface existing with its final name, MTU and MAC. */
  steps: Step[];
  warnings: string[];
  /** What the host side adds to the record (a VLAN sub-interface made, a NIC's own name). */
  record: Partial<AttachRecord>;
}

/** Something live that differs from what the spec asks, and the steps that put it right. */
export interface Drift {
  /** What differs, in words: "br-x is missing", "vethpl12 is not a port of br-x". */
  what: string;
  repair: Step[];
}

export interface Driver<K extends HostKind> {
  readonly kind: K;
  /** Host links planning looks at (the host end and VLAN sub-interface are added by the engine). */
  hostLinks(host: SideOf<K>): string[];
  /** Does planning need the Open vSwitch facts? */
  needsOvs?: boolean;
  planAdd(input: DriverInput<K>): HostSidePlan;
  /** Remove what an attach of this kind made, from its record (the guest interface is `guestIf`). */
  planDel(record: AttachRecord, guestIf: string): Step[];
  /** The host side, live, against the spec (an interface pipework made with this configuration). */
  check(input: DriverInput<K>): Drift[];
  /**
   * What an attach of this kind uses on the host (other runs may use it too) and changes there
   * (alone), as lock keys: for the spec, as the facts say the host is now.
   */
  locks(input: DriverInput<K>): HostLocks;
  /** The same for removing what an attach of this kind made (from its record). */
  locksOf(record: AttachRecord): HostLocks;
}

/** Uses nothing, changes these. */
export function changes(...keys: (string | undefined)[]): HostLocks {
  return { uses: [], changes: keys.filter((k): k is string => k !== undefined) };
}
