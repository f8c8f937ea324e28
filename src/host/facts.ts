/**
 * Facts about host interfaces, read from sysfs: no process spawned.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';

const SYS = '/sys/class/net';
const IFF_UP = 0x1;
/** ARPHRD_INFINIBAND: an IPoIB interface. */
export const LINK_TYPE_INFINIBAND = 32;

export interface HostLink {
  name: string;
  isBridge: boolean;
  /** ARPHRD_* link type (1 Ethernet, 32 InfiniBand, 772 loopback). */
  type: number;
  mtu: number;
  up: boolean;
  mac: string;
  /** Names of the ports of a Linux bridge. */
  ports: string[];
}

/** `ip -d` details of a host link, read only when a plan needs them. */
export interface LinkDetails {
  kind?: string;
  /** For a VLAN device: its id and parent. */
  vlanId?: number;
  parent?: string;
}

/** The part of the host the planner may look at, so planning stays a pure function. */
export interface HostFacts {
  link(name: string): HostLink | undefined;
  /** Name of the interface with this MAC, if any. */
  byMac(mac: string): string | undefined;
  /** Details of links the command layer looked up (see commands/attach.ts). */
  details?: ReadonlyMap<string, LinkDetails>;
  /** Open vSwitch, when the command line may involve it. */
  ovs?: import('./ovs-facts.js').OvsFacts;
  /** Does this existing bridge do VLAN filtering (or can it: the sysfs knob exists)? */
  bridgeVlanFiltering?(bridge: string): 'on' | 'off' | 'unsupported';
}

function read(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
  }
}

export function readHostLink(name: string): HostLink | undefined {
  const dir = `${SYS}/${name}`;
  const flags = read(`${dir}/flags`);
  if (flags === undefined) return undefined;
  const isBridge = existsSync(`${dir}/bridge`);
  let ports: string[] = [];
  if (isBridge) {
    try {
      ports = readdirSync(`${dir}/brif`);
    } catch {
      ports = [];
    }
  }
  return {
    name,
    isBridge,
    type: Number(read(`${dir}/type`) ?? 1),
    mtu: Number(read(`${dir}/mtu`) ?? 1500),
    up: (parseInt(flags, 16) & IFF_UP) !== 0,
    mac: (read(`${dir}/address`) ?? '').toLowerCase(),
    ports,
  };
}

/** Live host facts (each read when asked; the planner asks for a handful). */
export const sysfsHostFacts: HostFacts = {
  bridgeVlanFiltering(bridge) {
    const v = read(`${SYS}/${bridge}/bridge/vlan_filtering`);
    return v === undefined ? 'unsupported' : v === '1' ? 'on' : 'off';
  },
  link: readHostLink,
  byMac(mac) {
    let names: string[];
    try {
      names = readdirSync(SYS);
    } catch {
      return undefined;
    }
    // A bridge takes its lowest port's MAC, so a bridge and its port can share one: prefer the bridge.
    const matches = names.sort().filter((n) => read(`${SYS}/${n}/address`)?.toLowerCase() === mac);
    return matches.find((n) => existsSync(`${SYS}/${n}/bridge`)) ?? matches[0];
  },
};

/**
 * Host facts read from sysfs once per name, for planning many lines together (`batch`): the
 * host does not change while they are planned, and 200 lines naming one bridge read it once.
 */
export function cachedHostFacts(): HostFacts {
  const links = new Map<string, HostLink | undefined>();
  const macs = new Map<string, string | undefined>();
  return {
    ...sysfsHostFacts,
    link(name) {
      if (!links.has(name)) links.set(name, readHostLink(name));
      return links.get(name);
    },
    byMac(mac) {
      if (!macs.has(mac)) macs.set(mac, sysfsHostFacts.byMac(mac));
      return macs.get(mac);
    },
  };
}

/** Facts from a fixed table: for unit tests and --dry-run goldens. */
export function staticHostFacts(links: HostLink[]): HostFacts {
  const map = new Map(links.map((l) => [l.name, l]));
  return {
    link: (name) => map.get(name),
    byMac: (mac) => (links.find((l) => l.mac === mac && l.isBridge) ?? links.find((l) => l.mac === mac))?.name,
  };
}
