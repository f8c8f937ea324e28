/**
 * Facts about a guest's network namespace: its links and routes, read in one `ip` process.
 */
import { readFileSync, statSync } from 'node:fs';
import { ipJsonBatch } from '../exec/ip.js';
import type { NetnsHandle } from '../exec/netns.js';
import type { Runner } from '../exec/runner.js';
import type { Family } from '../model/address.js';

export interface GuestRoute {
  family: Family;
  /** "default" or a prefix like 10.0.0.0/24 (host routes have no /len). */
  dst: string;
  gateway?: string;
  dev?: string;
  metric?: number;
  table: string;
  protocol?: string;
  scope?: string;
  type?: string;
}

export interface GuestLink {
  name: string;
  /** The link's alias: pipework's record when pipework made it (see model/record.ts). */
  alias?: string;
  /** `ip -d` kind (veth, macvlan, …); undefined for physical devices. */
  kind?: string;
  mac?: string;
  up: boolean;
  mtu?: number;
  /** Its root queueing discipline's kind (noqueue, netem, tbf, …). */
  qdisc?: string;
  /** Its addresses as `address/prefix`, link-local ones left out (a full read only). */
  addresses?: string[];
  /** Its ifindex in the guest (a full read only). */
  index?: number;
  /**
   * The ifindex of its peer (a veth) or parent (a macvlan, a VLAN device, an IPoIB child), and
   * whether that one is in another namespace (the host, for what pipework made).
   */
  peer?: { index: number; elsewhere: boolean };
}

export interface GuestFacts {
  links: GuestLink[];
  routes: GuestRoute[];
  /**
   * Were the links read with `ip` (names, aliases, addresses)? Otherwise only their names are known
   * (from /proc), or nothing at all (a netns guest with no PID, assumed to lack the interface).
   */
  complete?: boolean;
}

/** A link as `ip -json -details addr show` prints it (the fields read here). */
export interface RawGuestLink {
  ifname: string;
  ifindex?: number;
  link_index?: number;
  link_netnsid?: number;
  ifalias?: string;
  address?: string;
  flags?: string[];
  mtu?: number;
  qdisc?: string;
  linkinfo?: { info_kind?: string };
  addr_info?: { local: string; prefixlen: number; scope?: string }[];
}

export function parseLinks(raw: RawGuestLink[]): GuestLink[] {
  return raw.map((l) => {
    const link: GuestLink = { name: l.ifname, up: l.flags?.includes('UP') ?? false };
    if (l.ifindex !== undefined) link.index = l.ifindex;
    if (l.link_index !== undefined) link.peer = { index: l.link_index, elsewhere: l.link_netnsid !== undefined };
    if (l.ifalias !== undefined && l.ifalias !== '') link.alias = l.ifalias;
    if (l.linkinfo?.info_kind !== undefined) link.kind = l.linkinfo.info_kind;
    if (l.address !== undefined) link.mac = l.address;
    if (l.mtu !== undefined) link.mtu = l.mtu;
    if (l.qdisc !== undefined) link.qdisc = l.qdisc;
    if (l.addr_info !== undefined) {
      link.addresses = l.addr_info.filter((a) => a.scope !== 'link').map((a) => `${a.local}/${a.prefixlen}`);
    }
    return link;
  });
}

interface RawRoute {
  dst?: string;
  gateway?: string;
  dev?: string;
  metric?: number;
  table?: string;
  protocol?: string;
  scope?: string;
  type?: string;
}

export function parseRoutes(raw: RawRoute[]): GuestRoute[] {
  return raw.map((r) => {
    const dst = r.dst ?? 'default';
    const probe = dst === 'default' ? (r.gateway ?? '') : dst;
    // ip -json omits the family; IPv6 routes carry a "pref" and colon addresses.
    const family: Family = probe.includes(':') || ('pref' in r) ? 6 : 4;
    const route: GuestRoute = { family, dst, table: r.table ?? 'main' };
    if (r.gateway !== undefined) route.gateway = r.gateway;
    if (r.dev !== undefined) route.dev = r.dev;
    if (r.metric !== undefined) route.metric = r.metric;
    if (r.protocol !== undefined) route.protocol = r.protocol;
    if (r.scope !== undefined) route.scope = r.scope;
    if (r.type !== undefined) route.type = r.type;
    return route;
  });
}

/** Every link (with its addresses) and every route of the guest, in one `ip` process. */
export async function readGuestFacts(runner: Runner, ns: NetnsHandle): Promise<GuestFacts> {
  const [links, routes] = await ipJsonBatch(runner, [['addr', 'show'], ['route', 'show', 'table', 'all']], {
    ns,
    where: `the guest (${ns.label})`,
  });
  return {
    links: parseLinks(links as RawGuestLink[]),
    routes: parseRoutes(routes as RawRoute[]),
    complete: true,
  };
}

/** Little-endian hex IPv4 as /proc/net/route prints it. */
function procIpv4(hex: string): string {
  const n = parseInt(hex, 16);
  return [n & 255, (n >>> 8) & 255, (n >>> 16) & 255, n >>> 24].join('.');
}

function maskBits(hex: string): number {
  let n = parseInt(hex, 16) >>> 0;
  let bits = 0;
  while (n) {
    bits += n & 1;
    n >>>= 1;
  }
  return bits;
}

const RTF_GATEWAY = 0x2;
const RTF_REJECT = 0x200;

/** The main IPv4 table from /proc/<pid>/net/route. */
export function parseProcRoutes(text: string): GuestRoute[] {
  return text.split('\n').slice(1).flatMap((line) => {
    const [dev, dst, gw, flags, , , metric, mask] = line.trim().split(/\s+/u);
    if (dev === undefined || dst === undefined || gw === undefined || flags === undefined || mask === undefined) return [];
    const f = parseInt(flags, 16);
    if (f & RTF_REJECT) return [];
    const bits = maskBits(mask);
    const route: GuestRoute = {
      family: 4,
      dst: bits === 0 && dst === '00000000' ? 'default' : `${procIpv4(dst)}/${bits}`,
      dev,
      table: 'main',
    };
    if (f & RTF_GATEWAY) route.gateway = procIpv4(gw);
    if (metric !== undefined && metric !== '0') route.metric = Number(metric);
    return [route];
  });
}

export function parseProcDev(text: string): string[] {
  return text.split('\n').slice(2).map((l) => l.split(':')[0]!.trim()).filter((n) => n !== '');
}

/**
 * Guest facts without spawning anything, from /proc/<pid>/net of a process in the guest —
 * when that process is still in the very namespace we hold. Returns undefined when a
 * process must be asked instead: no PID, a PID now elsewhere, or IPv6 routes wanted.
 * Interface names only: a name that exists calls for the full read (its alias matters).
 */
export function guestFactsFromProc(pid: number | undefined, nsInode: number, routes: 'none' | 4 | 6): GuestFacts | undefined {
  if (pid === undefined || routes === 6) return undefined;
  try {
    if (statSync(`/proc/${pid}/ns/net`).ino !== nsInode) return undefined;
    const links = parseProcDev(readFileSync(`/proc/${pid}/net/dev`, 'utf8')).map((name): GuestLink => ({ name, up: false }));
    const routeList = routes === 4 ? parseProcRoutes(readFileSync(`/proc/${pid}/net/route`, 'utf8')) : [];
    // Read again: the PID must not have moved while we read.
    if (statSync(`/proc/${pid}/ns/net`).ino !== nsInode) return undefined;
    return { links, routes: routeList };
  } catch {
    return undefined;
  }
}
