/**
 * Facts about host interfaces, read from sysfs: no process spawned. `ip -d` details (a link's
 * kind, a VLAN's id and parent) are added by the engine's gatherer only where a plan needs them.
 */
import { existsSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { basename } from 'node:path';

const SYS = '/sys/class/net';
const IFF_UP = 0x1;
/** ARPHRD_INFINIBAND: an IPoIB interface. */
export const LINK_TYPE_INFINIBAND = 32;

export interface HostLink {
  name: string;
  /** Its ifindex, and its iflink: a veth's peer's ifindex, a VLAN device's or macvlan's parent's (its own otherwise). */
  index?: number;
  iflink?: number;
  isBridge: boolean;
  /** ARPHRD_* link type (1 Ethernet, 32 InfiniBand, 772 loopback). */
  type: number;
  mtu: number;
  up: boolean;
  mac: string;
  /** Names of the ports of a Linux bridge. */
  ports: string[];
  /** The link's alias (pipework's record on the interfaces it made). */
  alias?: string;
  /** The bridge (or other master) this link is a port of. */
  master?: string;
  /** A bridge's VLAN filtering: on, off, or unsupported by this kernel. */
  vlanFiltering?: 'on' | 'off' | 'unsupported';
  /** `ip -d` kind (veth, vlan, macvlan, …), when the gatherer read the details. */
  kind?: string;
  /** For a VLAN device (details read): its id and parent. */
  vlanId?: number;
  parent?: string;
}

/** What a drift check reads of a link: a bridge's existence and state, a port's master. */
export type LinkState = Pick<HostLink, 'name' | 'isBridge' | 'up' | 'master'>;

/** A port's state and whether its peer is up (its carrier): four sysfs reads, not readHostLink's ten. */
export function readPortState(name: string): (LinkState & { carrier: boolean }) | undefined {
  const dir = `${SYS}/${name}`;
  const flags = read(`${dir}/flags`);
  if (flags === undefined) return undefined;
  const state: LinkState & { carrier: boolean } = { name, isBridge: isHostBridge(name), up: isUp(flags), carrier: read(`${dir}/carrier`) === '1' };
  try {
    state.master = basename(readlinkSync(`${dir}/master`));
  } catch {
    // not a port of anything
  }
  return state;
}

/** Whether a host link of this name exists: one stat, where readHostLink reads ten files. */
export function hostLinkExists(name: string): boolean {
  return existsSync(`${SYS}/${name}/flags`);
}

/** Whether a host link of this name is a Linux bridge: one stat. */
export function isHostBridge(name: string): boolean {
  return existsSync(`${SYS}/${name}/bridge`);
}

/** What is read of a link to plan beside it (a CNI ADD's bridge or master): four sysfs reads. */
export type LinkBasics = Pick<HostLink, 'name' | 'isBridge' | 'up' | 'mtu' | 'mac'>;

export function readLinkBasics(name: string): LinkBasics | undefined {
  const dir = `${SYS}/${name}`;
  const flags = read(`${dir}/flags`);
  if (flags === undefined) return undefined;
  return {
    name, isBridge: isHostBridge(name), up: isUp(flags),
    mtu: Number(read(`${dir}/mtu`) ?? 1500), mac: (read(`${dir}/address`) ?? '').toLowerCase(),
  };
}

/** IFF_UP in sysfs' `flags` (hex). */
function isUp(flags: string): boolean {
  return (parseInt(flags, 16) & IFF_UP) !== 0;
}

function read(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
  }
}

export function readHostLink(name: string): HostLink | undefined {
  const basics = readLinkBasics(name);
  if (basics === undefined) return undefined;
  const dir = `${SYS}/${name}`;
  let ports: string[] = [];
  if (basics.isBridge) {
    try {
      ports = readdirSync(`${dir}/brif`);
    } catch {
      ports = [];
    }
  }
  const link: HostLink = {
    name,
    index: Number(read(`${dir}/ifindex`) ?? -1),
    iflink: Number(read(`${dir}/iflink`) ?? -1),
    isBridge: basics.isBridge,
    type: Number(read(`${dir}/type`) ?? 1),
    mtu: basics.mtu,
    up: basics.up,
    mac: basics.mac,
    ports,
  };
  const alias = read(`${dir}/ifalias`);
  if (alias !== undefined && alias !== '') link.alias = alias;
  try {
    link.master = basename(readlinkSync(`${dir}/master`));
  } catch {
    // not a port of anything
  }
  if (basics.isBridge) {
    const v = read(`${dir}/bridge/vlan_filtering`);
    link.vlanFiltering = v === undefined ? 'unsupported' : v === '1' ? 'on' : 'off';
  }
  return link;
}

/** Is this host link a VLAN device (sysfs: no process)? */
export function isVlanDevice(name: string): boolean {
  return /^DEVTYPE=vlan$/mu.test(read(`${SYS}/${name}/uevent`) ?? '');
}

/** The host interface with this MAC; a bridge takes its lowest port's MAC, so prefer the bridge. */
export function hostLinkByMac(mac: string): string | undefined {
  let names: string[];
  try {
    names = readdirSync(SYS);
  } catch {
    return undefined;
  }
  const matches = names.sort().filter((n) => read(`${SYS}/${n}/address`)?.toLowerCase() === mac);
  return matches.find((n) => existsSync(`${SYS}/${n}/bridge`)) ?? matches[0];
}

/**
 * Host links read once per name for a run (`batch`, a topology): the host does not change while
 * a run plans, and 200 lines naming one bridge read it once. `forget` drops what a run changed.
 */
export class HostLinkCache {
  private readonly links = new Map<string, HostLink | undefined>();
  private readonly macs = new Map<string, string | undefined>();

  link(name: string): HostLink | undefined {
    if (!this.links.has(name)) this.links.set(name, readHostLink(name));
    return this.links.get(name);
  }

  byMac(mac: string): string | undefined {
    if (!this.macs.has(mac)) this.macs.set(mac, hostLinkByMac(mac));
    return this.macs.get(mac);
  }

  private indexes: Map<number, string> | undefined;

  /** The host link with this ifindex (the links are listed once a run). */
  byIndex(index: number): HostLink | undefined {
    if (this.indexes === undefined) {
      this.indexes = new Map();
      let names: string[] = [];
      try {
        names = readdirSync(SYS);
      } catch {
        // no sysfs: no links
      }
      for (const n of names) this.indexes.set(Number(read(`${SYS}/${n}/ifindex`)), n);
    }
    const name = this.indexes.get(index);
    return name === undefined ? undefined : this.link(name);
  }

  forget(): void {
    this.links.clear();
    this.macs.clear();
    this.indexes = undefined;
  }
}
