/**
 * Facts about a guest's network namespace: its links and routes, read in one `ip` process.
 */
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
}

export interface GuestFacts {
  links: GuestLink[];
  routes: GuestRoute[];
}

interface RawLink {
  ifname: string;
  ifalias?: string;
  address?: string;
  flags?: string[];
  linkinfo?: { info_kind?: string };
}

export function parseLinks(raw: RawLink[]): GuestLink[] {
  return raw.map((l) => {
    const link: GuestLink = { name: l.ifname, up: l.flags?.includes('UP') ?? false };
    if (l.ifalias !== undefined && l.ifalias !== '') link.alias = l.ifalias;
    if (l.linkinfo?.info_kind !== undefined) link.kind = l.linkinfo.info_kind;
    if (l.address !== undefined) link.mac = l.address;
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

export async function readGuestFacts(runner: Runner, ns: NetnsHandle): Promise<GuestFacts> {
  const [links, routes] = await ipJsonBatch(runner, [['link', 'show'], ['route', 'show', 'table', 'all']], {
    ns,
    where: `the guest (${ns.label})`,
  });
  return {
    links: parseLinks(links as RawLink[]),
    routes: parseRoutes(routes as RawRoute[]),
  };
}
