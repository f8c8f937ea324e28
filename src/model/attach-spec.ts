/**
 * The attach spec: "put an interface with this configuration into this guest over this host
 * side", free of any grammar. Every front door (the classic line, a batch line, a topology link,
 * a CNI request, a container label) turns its own input into one of these; the engine
 * (src/engine) does the rest. Values here are already validated and canonical (each front door's translator narrows them).
 */
import type { StaticAddress } from './address.js';
import type { DhcpMethod } from './dhcp-methods.js';
import type { Owner } from './owner.js';

/** Which guest: a runtime and a name, a PID, a named netns or a namespace file. */

/** The kinds of guest pipework reaches. */
export type GuestKind = 'docker' | 'podman' | 'lxc' | 'pid' | 'netns';
export type GuestRef =
  /**
   * `exclusive`: the container's network namespace must be its own alone — not joined from
   * another container or the host (`--network container:…`, `ns:…`, `host`, a pod's), nor held
   * by another container's processes. Set by a door whose guest is named by untrusted input
   * (the watcher: a container's own labels); the resolver refuses otherwise.
   */
  | { kind: 'docker' | 'podman'; name: string; exclusive?: boolean }
  | { kind: 'lxc' | 'netns'; name: string }
  | { kind: 'pid'; pid: number }
  /** A namespace file (CNI_NETNS, a SandboxKey); `name` labels it in messages and records. */
  | { kind: 'netns-path'; path: string; name?: string }
  /** A name the classic lookup order resolves: netns, LXC, Docker, PID, Podman, lxc-info. */
  | { kind: 'any'; name: string };

export type MacvlanMode = 'bridge' | 'private' | 'vepa' | 'passthru';

/**
 * The host side, by kind. Each kind is one driver (src/drivers/<kind>.ts); adding a kind adds a
 * member here and a driver in the registry.
 */
export type HostSide =
  /**
   * A veth pair whose host end is a port of a Linux bridge; `create`: make the bridge when missing.
   * `keepSettings`: an existing bridge's own settings are never changed (a door acting on what
   * someone other than the operator asked): a VLAN on a bridge whose VLAN filtering is off is
   * refused, instead of turning filtering on.
   */
  | { kind: 'bridge'; bridge: string; create: boolean; vlan?: number; hairpin?: boolean; promisc?: boolean; keepSettings?: boolean }
  /**
   * A veth pair whose host end is an Open vSwitch port (`tag=vlan`); `create`: make the bridge when
   * missing. `accessOnly`: the port is an access port (vlan_mode=access) — without a VLAN it
   * carries untagged traffic only, where a classic port without a tag is a trunk of every VLAN
   * (the guest could tag its frames into any of them). Set by a door whose asker is not the operator.
   */
  | { kind: 'ovs'; bridge: string; create: boolean; vlan?: number; accessOnly?: boolean }
  /** A macvlan child of a NIC (or of its 802.1Q sub-interface with `vlan`). */
  | { kind: 'macvlan'; parent: string; mode: MacvlanMode; vlan?: number }
  /** The NIC itself (or its 802.1Q sub-interface) moved into the guest (--direct-phys, CNI `device`). */
  | { kind: 'phys'; device: string; vlan?: number }
  /** An IPoIB child of an InfiniBand interface, in partition `pkey`. */
  | { kind: 'ipoib'; parent: string; pkey?: number }
  /** A dummy interface made in the guest: no host side remains (`name`: what the user called it, for records). */
  | { kind: 'dummy'; name: string };

export type HostKind = HostSide['kind'];

/** A route the guest gets through the new interface (beyond the default route of a gateway). */
export interface RouteSpec {
  /** A prefix (10.1.0.0/16) or `default`. */
  dst: string;
  family: 4 | 6;
  /** Via this gateway; none: on-link through the interface. */
  gateway?: string;
}

export interface StaticAddressing {
  kind: 'static';
  /** Zero or more addresses (none: the classic `0/0`, an interface up with no address). */
  addresses: StaticAddress[];
  /** Replace the guest's IPv4 / IPv6 default route by one via this gateway on the new interface. */
  gateway4?: string;
  gateway6?: string;
  routes: RouteSpec[];
  /**
   * IPv6 duplicate address detection on the interface (its accept_dad, set before the addresses
   * go on): off, an IPv6 address is usable at once instead of tentative for a second or two;
   * undefined, as the kernel has it.
   */
  dad?: boolean;
}

export interface DhcpAddressing {
  kind: 'dhcp';
  method: DhcpMethod;
  /** Extra options for the client, as src/model/dhcp-options.ts passes them on (checked, canonical). */
  options: string[];
  family: 4 | 6;
  /** Give up on a lease after this long (and undo the attach). */
  timeoutSec: number;
  /** The `dhcp` method's helper container image. */
  image?: string;
}

export type Addressing = StaticAddressing | DhcpAddressing;

/** Impairments inside the guest, on the new interface: netem (delay, jitter, loss) and tbf (rate). */
export interface Impairment {
  /** Milliseconds. */
  delayMs?: number;
  jitterMs?: number;
  /** Percent, 0–100. */
  lossPercent?: number;
  /** Bits per second. */
  rateBps?: number;
}

/** DNS the result reports (CNI IPAM hands it over; pipework does not write it anywhere). */
export interface DnsSpec {
  nameservers?: string[];
  domain?: string;
  search?: string[];
  options?: string[];
}

export interface AttachSpec {
  guest: GuestRef;
  /** The interface's name inside the guest. */
  guestIf: string;
  host: HostSide;
  /** The host end's name (veth kinds); undefined: derived (src/engine/names.ts). */
  hostEnd?: string;
  /** The guest interface's MAC; undefined: the kernel's choice. */
  mac?: string;
  /** undefined: the host side's MTU. */
  mtu?: number;
  /**
   * Settings of the guest interface set when it is made and then left to others (a CNI plugin
   * chained after this one, such as tuning, may change its MTU or MAC): a later difference is
   * not drift. (The configuration recorded still names what the attach set.)
   */
  laterOwned?: readonly ('mtu' | 'mac')[];
  addressing: Addressing;
  impair?: Impairment;
  dns?: DnsSpec;
  /** Send a gratuitous ARP for a static IPv4 address once it is up (the classic tool did). */
  announce: boolean;
  /** Who asks: recorded on what is made; each front door removes only its own. */
  owner: Owner;
  /**
   * What to do when the guest already has a pipework interface of that name with another
   * configuration: refuse (naming both), or replace it (all or nothing).
   */
  onConflict: 'refuse' | 'replace';
}

/** The VLAN of a host side, if it has one (an IPoIB partition key is not a VLAN). */
export function vlanOf(host: HostSide): number | undefined {
  return 'vlan' in host ? host.vlan : undefined;
}

/** What a record keeps as its `vlan`: the VLAN, or an IPoIB partition key. */
export function recordedTagOf(host: HostSide): number | undefined {
  return 'vlan' in host ? host.vlan : 'pkey' in host ? host.pkey : undefined;
}

/** The host interface a host side hangs off (bridge, NIC, IPoIB parent), for records and messages. */
export function hostIfOf(host: HostSide): string {
  switch (host.kind) {
    case 'bridge':
    case 'ovs':
      return host.bridge;
    case 'macvlan':
    case 'ipoib':
      return host.parent;
    case 'phys':
      return host.device;
    case 'dummy':
      return host.name;
  }
}
