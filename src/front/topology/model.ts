/**
 * A topology file, validated and resolved into plain values (the raw YAML is in schema.ts's
 * types; this is what the rest of the door works with). Every value here is canonical: addresses
 * parsed, MACs lower-case, names checked. `at` keeps where each thing was written, for messages.
 */
import type { StaticAddress } from '../../model/address.js';
import type { DhcpMethod } from '../../model/dhcp-methods.js';
import type { VxlanDevice } from '../../engine/networks.js';
import type { GuestRef, Impairment } from '../../model/attach-spec.js';

export type { VxlanDevice };

/** A topology's name (it marks everything apply makes). */
export const NAME_PATTERN = '^[a-z0-9][a-z0-9-]{0,15}$';
/** A key of `networks:` or `guests:` (also a mermaid/dot node id, so plain). */
export const KEY_PATTERN = '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$';

/** A place in the file (1-based). */
export interface Pos {
  line: number;
  col: number;
}

/** The network kinds of format version 1: each maps to one host side of the engine. */
export type NetworkKind = 'bridge' | 'ovs' | 'macvlan';

export interface Network {
  key: string;
  kind: NetworkKind;
  /** The bridge, OVS bridge or NIC. */
  device: string;
  /** Default VLAN of the links on it (an OVS tag; a VLAN sub-interface for macvlan). */
  vlan?: number;
  mtu?: number;
  /** For `address: auto`. */
  subnet?: Subnet;
  /** Must exist; never made, changed or removed. */
  external: boolean;
  /** A VXLAN segment on this (Linux bridge) network, spanning the file's hosts (SPEC part G). */
  vxlan?: Vxlan;
  at: Pos;
}

/** UDP port of VXLAN (IANA); the kernel's legacy default is 8472. */
export const VXLAN_PORT = 4789;
export const VNI_MAX = 16_777_215;

export interface Vxlan {
  vni: number;
  port: number;
  /** The underlay device (with group: required; else optional). */
  dev?: string;
  /** A multicast group instead of head-end replication to each peer. */
  group?: string;
  at: Pos;
}

/** A host of a multi-host file: where its part is applied, and its address on the underlay. */
export interface Host {
  key: string;
  underlay: string;
  family: 4 | 6;
  at: Pos;
}

export interface Subnet {
  cidr: string;
  family: 4 | 6;
  /** The network address as a number. */
  base: bigint;
  prefix: number;
}

/** `host`: the key of `hosts:` the guest lives on (multi-host files). */
export type TopologyGuest = (
  | { key: string; kind: 'netns'; netns: string; at: Pos }
  | { key: string; kind: 'container'; ref: GuestRef; text: string; at: Pos }
  | { key: string; kind: 'image'; image: string; command?: string[]; runtime: 'docker' | 'podman'; container: string; at: Pos }
) & { host?: string };

export type LinkAddressing =
  | {
    kind: 'static';
    addresses: StaticAddress[];
    /** `auto`: one more address, the next free one of the network's subnet. */
    auto: boolean;
    gateway4?: string;
    gateway6?: string;
  }
  | { kind: 'dhcp'; method: DhcpMethod; options: string[] };

export interface Link {
  /** 0-based, in the file's order. */
  index: number;
  guest: string;
  ifname: string;
  network: string;
  addressing: LinkAddressing;
  mac?: string;
  /** The link's own VLAN, or the network's. */
  vlan?: number;
  /** The link's own MTU, or the network's. */
  mtu?: number;
  impair?: Impairment;
  at: Pos;
}

export interface Topology {
  name: string;
  /** Where it was read from, as the user named it (for messages). */
  file: string;
  networks: Map<string, Network>;
  guests: Map<string, TopologyGuest>;
  links: Link[];
  /** `hosts:` of a multi-host file (absent: a one-host file). */
  hosts?: Map<string, Host>;
  /** Set on a host's part of a multi-host file (hosts.ts): which host, and its VXLAN devices. */
  part?: HostPart;
}

/** What one host's part adds: the host, and per VXLAN network what its device is there. */
export interface HostPart {
  host: string;
  /** The file's own name (the part's `name` is `<name>@<host>`). */
  file: string;
  vxlans: VxlanDevice[];
}


/** `web:eth1`: how messages and inspect name a link. */
export function linkName(link: Pick<Link, 'guest' | 'ifname'>): string {
  return `${link.guest}:${link.ifname}`;
}

/** The owner text of everything this topology makes (src/model/owner.ts). */
export function ownerText(name: string): string {
  return `topology:${name}`;
}

/** The container an image guest runs as. */
export function containerName(topology: string, guestKey: string): string {
  return `${topology}-${guestKey}`;
}
