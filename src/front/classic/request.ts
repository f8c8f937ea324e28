/** What each command line asks for, typed; spec.ts turns an attach into a spec. */
import type { AddressSpec, Family } from '../../model/address.js';
import type { DhcpMethod } from '../../model/dhcp-methods.js';

export type HostIfRef = { by: 'name'; name: string } | { by: 'mac'; mac: string };

export type AddressConfig =
  | { kind: 'static'; spec: AddressSpec }
  | { kind: 'dhcp'; method: DhcpMethod; options: string[] };

/** Options of ours that apply to every command. */
export interface CommonOptions {
  dryRun: boolean;
  /** Print a machine-readable result on stdout. */
  json: boolean;
}

/** `pipework <hostif> [-i IF] [-l IF] [-a 4|6] <guest> <address|dhcp> [<mac>][@<vlan>]` */
export interface AttachRequest extends CommonOptions {
  kind: 'attach';
  hostIf: HostIfRef;
  directPhys: boolean;
  /** `-i`; undefined means the host kind's default (eth1, or ib0 for IPoIB). */
  guestIf?: string;
  /** `-l`: the host end's name. */
  localIf?: string;
  /** `-a`, when given. */
  family?: Family;
  guest: string;
  config: AddressConfig;
  mac?: string;
  /** `@<vlan>` when it is a VLAN id (1 to 4094). */
  vlan?: number;
  /** The text after `@` as written: an IPoIB partition key is hexadecimal (`pkey 0x<text>`). */
  vlanText?: string;
  /** Replace an existing pipework interface of that name that has another configuration. */
  replace: boolean;
  /** --dhcp-timeout: give up on a lease after this many seconds (and undo the attach). */
  dhcpTimeoutSec?: number;
  /** --dhcp-image: the `dhcp` method's helper container image (default busybox). */
  dhcpImage?: string;
}

/**
 * `pipework del [-i IF | --all] <guest>`: remove what pipework plumbed;
 * `pipework del --stale [<guest>]`: clean what dead guests left on the host.
 */
export type DelRequest = CommonOptions & { kind: 'del'; owner?: string } & (
  /** `guestIf` undefined: eth1 (or ib0 where an IPoIB attach made it). */
  | { guest: string; which: { all: true } | { guestIf?: string } }
  | { guest?: string; which: { stale: true } }
);

/** `pipework ls [<guest>|<hostif>] [--owner OWNER]`: what pipework plumbed. */
export interface LsRequest extends CommonOptions {
  kind: 'ls';
  /** A guest or a host interface (bridge); undefined lists everything on the host. */
  target?: string;
  /** Only what this owner made (src/model/owner.ts ownerFilter). */
  owner?: string;
}

/** `pipework route|rule|tc <guest> <args...>`: run inside the guest's network namespace. */
export interface PassthroughRequest extends CommonOptions {
  kind: 'passthrough';
  tool: 'route' | 'rule' | 'tc';
  guest: string;
  args: string[];
}

/** `pipework --wait [-i IF] [--timeout SECONDS]`: run inside a guest. */
export interface WaitRequest {
  kind: 'wait';
  guestIf: string;
  /** Seconds; undefined waits forever, as the classic tool does. */
  timeoutSec?: number;
}

/** `pipework batch [FILE|-]`: many attach lines applied together. */
export interface BatchRequest extends CommonOptions {
  kind: 'batch';
  /** A file, or undefined / '-' for standard input. */
  file?: string;
}

export type Request =
  | AttachRequest
  | BatchRequest
  | PassthroughRequest
  | DelRequest
  | LsRequest
  | WaitRequest
  | { kind: 'help'; verb?: string }
  | { kind: 'version' }
  | { kind: 'completion'; shell: 'bash' };
