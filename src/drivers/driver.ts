/**
 * A host kind is one driver, in the shape of the reference CNI plugins' cmdAdd / cmdDel /
 * cmdCheck: plan the host side of an attach, plan the removal of what it made (from its record),
 * and check live state against the spec. Drivers are pure: they read only the facts given.
 */
import type { Facts } from './facts.js';
import type { GuestInfo } from '../model/guest-info.js';
import type { GuestLink } from '../guest/netstate.js';
import type { HostLink, LinkState } from '../host/links.js';
import type { Kept } from '../host/kept-records.js';
import type { OvsFacts, OvsPortRow } from '../host/ovs-facts.js';
import type { AttachNames, GuestIdentity } from './names.js';
import type { Action, HostLocks, Step } from '../model/plan.js';
export { lockKey } from '../model/plan.js';
import type { AttachRecord } from '../model/record.js';
import type { AttachSpec, HostKind, HostSide } from '../model/attach-spec.js';

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
  /** Not drift but an edit: the spec asks for something else than the record says (an impairment changed in place). */
  edit?: boolean;
}

/** The host's links, by name and by ifindex (the engine's HostLinkCache). */
export interface HostView {
  link(name: string): HostLink | undefined;
  byIndex(index: number): HostLink | undefined;
}

/** What a live check of a record reads on the host. */
export interface LiveHost {
  /** (A full HostLink will do; a re-apply's quick check reads its 200 host ends lighter.) */
  link(name: string): LinkState | undefined;
  /** Open vSwitch's port rows; undefined when they were not read (then they are not judged). */
  ovsPorts?: ReadonlyMap<string, OvsPortRow>;
}

/** A preflight's finding: what the spec names is `missing`, or the host `lacks` what the kind needs. */
export type Preflight = { missing: string } | { lacks: string };

/** What a preflight reads on the host. */
export interface HostProbe {
  link(name: string): HostLink | undefined;
  /** Read only for a driver that needs it (needsOvs). */
  ovs?: OvsFacts;
}

/** What a removal sees on the host, read once before anything is removed. */
export interface LeftoverView {
  /** Every host link (listed when first asked: a removal of one attachment looks up its names only). */
  links(): readonly HostLink[];
  link(name: string): HostLink | undefined;
  /** Open vSwitch's port rows; undefined when it does not run (its rows are then not judged). */
  ovsPorts?: ReadonlyMap<string, OvsPortRow>;
  /** What pipework kept on the host of the devices it moved into guests (src/host/kept-records.ts). */
  kept: ReadonlyMap<string, Kept>;
}

/** Something of an attachment's on the host that its guest end does not take with it. */
export interface Leftover {
  /** In words, for messages. */
  what: string;
  /** The host object's name (a link, an Open vSwitch port). */
  name: string;
  /** Who made it (src/model/owner.ts): the one whose removal takes it. */
  owner: string;
  /** The record it carries or was kept with; an Open vSwitch row has its ids instead. */
  record?: AttachRecord;
  ids?: Record<string, string>;
  /**
   * Its guest may be alive (a veth's host end: the pair exists while its namespace does). Only a
   * removal of that very attachment takes it, never a sweep of what dead guests left.
   */
  live: boolean;
  steps: Step[];
  locks: HostLocks;
}

export interface Driver<K extends HostKind> {
  readonly kind: K;
  /** Its guest interface is one end of a veth pair whose host end pipework names, locks and records. */
  readonly veth: boolean;
  /** The names it derives on the host: a veth's host end (`hostEnd` when one is asked), a VLAN sub-interface. */
  names(host: SideOf<K>, guestIf: string, guest: GuestIdentity, hostEnd: string | undefined): AttachNames;
  /**
   * The record of this guest link when an attach of this kind made it, as the host confirms it
   * (src/engine/trust.ts): never a host object's name taken from the guest's own alias (`own`).
   */
  confirm(link: GuestLink, own: AttachRecord | undefined, nsInode: number, host: HostView): AttachRecord | undefined;
  /** What differs on the host from a record of this kind, live (ls; a topology's quick check). */
  drift(record: AttachRecord, live: LiveHost): string[];
  /**
   * What the host lacks for an attach of this kind now (CNI ADD and STATUS): something it names
   * that is not there (or is something else), or a service or feature it lacks; undefined: none.
   */
  preflight(host: SideOf<K>, probe: HostProbe): Preflight | undefined;
  /** Host links planning looks at (the host end and VLAN sub-interface are added by the engine). */
  hostLinks(host: SideOf<K>): string[];
  /** Does planning need the Open vSwitch facts? */
  needsOvs?: boolean;
  planAdd(input: DriverInput<K>): HostSidePlan;
  /**
   * Where this kind keeps its record besides the guest interface's alias (a veth's host end, what
   * is kept on the host of a NIC moved in): the steps that write `input.record` there again, for
   * an attach whose addresses came after its interface was made (src/engine/planner.ts
   * planAddressing). None: the alias is the only record.
   */
  rerecord?(input: DriverInput<K>): Step[];
  /**
   * Remove what an attach of this kind made, from its record (the guest interface is `guestIf`).
   * `parked`: its host end was parked by a --replace, which took off what parkHostEnd says.
   */
  planDel(record: AttachRecord, guestIf: string, opts?: { parked?: boolean }): Step[];
  /** The guest interface's name when none is given, where the classic tool gave this kind its own (IPoIB: ib0; else eth1). */
  readonly defaultGuestIf?: string;
  /** Its device moves from the host into the guest: nothing of it is on the host to tell it is there. */
  readonly movesIn?: boolean;
  /** The guest interface's MAC cannot be set (it is the parent's, or the fabric's). */
  readonly fixedMac?: boolean;
  /** A --replace that keeps the very device, changing only its configuration (the same NIC moved in). */
  replacesInPlace?(existing: AttachRecord, host: SideOf<K>): boolean;
  /**
   * --replace parks the old host end under another name while the new one, of the same name, is
   * built: what this kind takes off it then besides the rename (an OVS row), what the park's undo
   * puts back, and the facts the new one then sees.
   */
  parkHostEnd?(existing: AttachRecord, guest: GuestInfo, facts: Facts): { takeOff: Step[]; putBack: Action[]; facts: Facts };
  /** The host side, live, against the spec (an interface pipework made with this configuration). */
  check(input: DriverInput<K>): Drift[];
  /**
   * What an attach of this kind uses on the host (other runs may use it too) and changes there
   * (alone), as lock keys: for the spec, as the facts say the host is now.
   */
  locks(input: DriverInput<K>): HostLocks;
  /** The same for removing what an attach of this kind made (from its record). */
  locksOf(record: AttachRecord): HostLocks;
  /**
   * What attaches of this kind left on the host, found in `view` alone, with the steps that
   * remove each: all of them, or (`of`) those of the attachment this record describes.
   */
  leftovers(view: LeftoverView, of?: AttachRecord): Leftover[];
}

/** Uses nothing, changes these. */
export function changes(...keys: (string | undefined)[]): HostLocks {
  return { uses: [], changes: keys.filter((k): k is string => k !== undefined) };
}
