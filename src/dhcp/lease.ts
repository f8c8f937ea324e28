/**
 * What a DHCP client tells its script, normalised (pure): udhcpc passes the event as argv[1],
 * dhclient and dhcpcd as $reason; the lease comes in environment variables named differently
 * by each. Everything that reaches an `ip` command or the guest's resolv.conf is validated here:
 * a DHCP server's answer is input from the network.
 */
import ipaddr from 'ipaddr.js';
import { cidrContains } from '../model/address.js';

export type ClientProgram = 'udhcpc' | 'dhclient' | 'dhcpcd';

export interface Route4 {
  /** `a.b.c.d/len` */
  dst: string;
  /** 0.0.0.0 means on-link. */
  gateway: string;
}

export interface Bind4 {
  kind: 'bind4';
  address: string;
  prefix: number;
  broadcast?: string;
  /** Option 3, in order. */
  routers: string[];
  /** Option 121 (RFC 3442): when present, the routers option is ignored. */
  classless?: Route4[];
  dns: string[];
  search: string[];
  /** The client says it had another address before (dhclient's old_ip_address). */
  old?: string;
  lease?: number;
}

export interface Bind6 {
  kind: 'bind6';
  address: string;
  prefix: number;
  dns: string[];
  search: string[];
  old?: { address: string; prefix: number };
}

export type HookEvent =
  | { kind: 'preinit'; family: 4 | 6 }
  | Bind4
  | Bind6
  | { kind: 'unbind4'; address?: string; prefix?: number }
  | { kind: 'unbind6'; address: string; prefix: number }
  /** Refuse what the client proposes (dhclient TIMEOUT: a stale lease from its file). */
  | { kind: 'reject'; why: string }
  | { kind: 'ignore'; why: string };

type Env = Readonly<Record<string, string | undefined>>;

export function isIpv4(text: string | undefined): text is string {
  return text !== undefined && ipaddr.IPv4.isValidFourPartDecimal(text);
}

export function isIpv6(text: string | undefined): text is string {
  return text !== undefined && !text.includes('%') && ipaddr.IPv6.isValid(text);
}

/** 255.255.255.0 → 24; undefined unless a contiguous mask. */
export function maskToPrefix(mask: string | undefined): number | undefined {
  if (!isIpv4(mask)) return undefined;
  const bits = ipaddr.IPv4.parse(mask).prefixLengthFromSubnetMask();
  return bits ?? undefined;
}

function prefix4(text: string | undefined): number | undefined {
  if (text === undefined || !/^\d{1,2}$/u.test(text)) return undefined;
  const n = Number(text);
  return n >= 1 && n <= 32 ? n : undefined;
}

function list(text: string | undefined, valid: (s: string) => boolean): string[] {
  return (text ?? '').split(/\s+/u).filter((s) => s !== '' && valid(s));
}

/** A DNS search domain we are willing to write into resolv.conf. */
export function isDomain(text: string): boolean {
  return text.length <= 253 && /^[A-Za-z0-9_]([A-Za-z0-9_-]{0,62})(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,62}))*\.?$/u.test(text);
}

function domains(...texts: (string | undefined)[]): string[] {
  const out: string[] = [];
  // dhclient writes domain-search names fully qualified ("example.org."): resolv.conf wants them bare.
  for (const t of texts) for (const d of list(t, isDomain).map((x) => x.replace(/\.$/u, ''))) if (!out.includes(d)) out.push(d);
  return out.slice(0, 6);
}

/** `a.b.c.d/len` with the host bits cleared, or undefined. */
function network4(address: string, len: number): string | undefined {
  if (!isIpv4(address) || len < 0 || len > 32) return undefined;
  const b = ipaddr.IPv4.parse(address).toByteArray();
  const v = ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
  const m = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
  const n = (v & m) >>> 0;
  return `${[n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.')}/${len}`;
}

/** busybox udhcpc's $staticroutes, and dhcpcd's: "10.0.0.0/8 10.1.1.1 0.0.0.0/0 10.1.1.254". */
export function parseRoutePairs(text: string | undefined): Route4[] | undefined {
  if (text === undefined || text.trim() === '') return undefined;
  const parts = text.trim().split(/\s+/u);
  const out: Route4[] = [];
  for (let i = 0; i + 1 < parts.length; i += 2) {
    const [net, len] = parts[i]!.split('/');
    const gw = parts[i + 1]!;
    const dst = net !== undefined && len !== undefined && /^\d{1,2}$/u.test(len) ? network4(net, Number(len)) : undefined;
    if (dst !== undefined && isIpv4(gw)) out.push({ dst, gateway: gw });
  }
  return out;
}

/** dhclient's $new_rfc3442_classless_static_routes: "24 192 168 10 192 168 1 1 0 10 0 0 1" (RFC 3442 encoding, in decimal). */
export function parseRfc3442(text: string | undefined): Route4[] | undefined {
  if (text === undefined || text.trim() === '') return undefined;
  const n = text.trim().split(/\s+/u).map(Number);
  if (n.some((v) => !Number.isInteger(v) || v < 0 || v > 255)) return undefined;
  const out: Route4[] = [];
  let i = 0;
  while (i < n.length) {
    const width = n[i]!;
    if (width > 32) return undefined;
    const significant = Math.ceil(width / 8);
    if (i + 1 + significant + 4 > n.length) return undefined;
    const dstBytes = [...n.slice(i + 1, i + 1 + significant), 0, 0, 0, 0].slice(0, 4);
    const gw = n.slice(i + 1 + significant, i + 5 + significant).join('.');
    const dst = network4(dstBytes.join('.'), width);
    if (dst !== undefined) out.push({ dst, gateway: gw });
    i += 5 + significant;
  }
  return out;
}

function bind4(e: {
  address: string | undefined; prefix: number | undefined; broadcast: string | undefined; routers: string | undefined;
  classless: Route4[] | undefined; dns: string | undefined; search: string[]; old?: string | undefined; lease?: string | undefined;
}): HookEvent {
  if (!isIpv4(e.address) || e.prefix === undefined) {
    return { kind: 'ignore', why: `no valid IPv4 address in the lease (${String(e.address)}/${String(e.prefix)})` };
  }
  const out: Bind4 = {
    kind: 'bind4',
    address: e.address,
    prefix: e.prefix,
    routers: list(e.routers, isIpv4),
    dns: list(e.dns, isIpv4).slice(0, 3),
    search: e.search,
  };
  if (isIpv4(e.broadcast)) out.broadcast = e.broadcast;
  if (e.classless !== undefined) out.classless = e.classless;
  if (isIpv4(e.old) && e.old !== e.address) out.old = e.old;
  if (e.lease !== undefined && /^\d+$/u.test(e.lease)) out.lease = Number(e.lease);
  return out;
}

function prefix6(text: string | undefined, fallback: number): number {
  return text !== undefined && /^\d{1,3}$/u.test(text) && Number(text) >= 1 && Number(text) <= 128 ? Number(text) : fallback;
}

function bind6(address: string | undefined, prefix: number, dns: string | undefined, search: string[], old?: { address: string | undefined; prefix: number }): HookEvent {
  if (!isIpv6(address)) return { kind: 'ignore', why: `no valid IPv6 address in the lease (${String(address)})` };
  const out: Bind6 = { kind: 'bind6', address, prefix, dns: list(dns, isIpv6).slice(0, 3), search };
  if (old !== undefined && isIpv6(old.address) && old.address !== address) out.old = { address: old.address, prefix: old.prefix };
  return out;
}

export function fromUdhcpc(event: string | undefined, env: Env): HookEvent {
  switch (event) {
    case 'deconfig':
      return { kind: 'unbind4' };
    case 'bound':
    case 'renew':
      return bind4({
        address: env['ip'],
        prefix: prefix4(env['mask']) ?? maskToPrefix(env['subnet']),
        broadcast: env['broadcast'],
        routers: env['router'],
        classless: parseRoutePairs(env['staticroutes']),
        dns: env['dns'],
        search: domains(env['search'], env['domain']),
        lease: env['lease'],
      });
    default:
      return { kind: 'ignore', why: `udhcpc event ${String(event)}` };
  }
}

export function fromDhclient(env: Env): HookEvent {
  const reason = env['reason'];
  switch (reason) {
    case 'PREINIT':
      return { kind: 'preinit', family: 4 };
    case 'PREINIT6':
      return { kind: 'preinit', family: 6 };
    case 'BOUND':
    case 'RENEW':
    case 'REBIND':
    case 'REBOOT':
      return bind4({
        address: env['new_ip_address'],
        prefix: maskToPrefix(env['new_subnet_mask']),
        broadcast: env['new_broadcast_address'],
        routers: env['new_routers'],
        classless: parseRfc3442(env['new_rfc3442_classless_static_routes']),
        dns: env['new_domain_name_servers'],
        search: domains(env['new_domain_search'], env['new_domain_name']),
        old: env['old_ip_address'],
        lease: env['new_dhcp_lease_time'],
      });
    case 'BOUND6':
    case 'RENEW6':
    case 'REBIND6':
    case 'REBOOT6':
      return bind6(
        env['new_ip6_address'], prefix6(env['new_ip6_prefixlen'], 128), env['new_dhcp6_name_servers'],
        domains(env['new_dhcp6_domain_search']), { address: env['old_ip6_address'], prefix: prefix6(env['old_ip6_prefixlen'], 128) },
      );
    case 'EXPIRE':
    case 'FAIL': {
      const old = env['old_ip_address'];
      const prefix = maskToPrefix(env['old_subnet_mask']);
      return isIpv4(old) ? { kind: 'unbind4', address: old, ...(prefix !== undefined && { prefix }) } : { kind: 'unbind4' };
    }
    case 'EXPIRE6': {
      const old = env['old_ip6_address'];
      return isIpv6(old) ? { kind: 'unbind6', address: old, prefix: prefix6(env['old_ip6_prefixlen'], 128) } : { kind: 'ignore', why: 'EXPIRE6 without an address' };
    }
    case 'TIMEOUT':
      // dhclient found no server and offers a lease remembered in its lease file: a lease
      // the server has not confirmed is not one pipework configures.
      return { kind: 'reject', why: 'no DHCP server answered; not using a remembered lease' };
    default:
      // STOP, RELEASE (pipework stops dhclient itself), MEDIUM, ARPCHECK, ARPSEND, DEPREF6, …
      return { kind: 'ignore', why: `dhclient reason ${String(reason)}` };
  }
}

export function fromDhcpcd(env: Env): HookEvent {
  const reason = env['reason'];
  switch (reason) {
    case 'BOUND':
    case 'RENEW':
    case 'REBIND':
    case 'REBOOT':
      return bind4({
        address: env['new_ip_address'],
        prefix: prefix4(env['new_subnet_cidr']) ?? maskToPrefix(env['new_subnet_mask']),
        broadcast: env['new_broadcast_address'],
        routers: env['new_routers'],
        classless: parseRoutePairs(env['new_classless_static_routes']),
        dns: env['new_domain_name_servers'],
        search: domains(env['new_domain_search'], env['new_domain_name']),
        lease: env['new_dhcp_lease_time'],
      });
    case 'BOUND6':
    case 'RENEW6':
    case 'REBIND6':
    case 'REBOOT6':
      return bind6(env['new_dhcp6_ia_na1_ia_addr1'], 128, env['new_dhcp6_name_servers'], domains(env['new_dhcp6_domain_search']));
    default:
      // dhcpcd configures and removes addresses itself: PREINIT, CARRIER, EXPIRE, STOP, …
      return { kind: 'ignore', why: `dhcpcd reason ${String(reason)}` };
  }
}

export function normalize(program: ClientProgram, argv1: string | undefined, env: Env): HookEvent {
  switch (program) {
    case 'udhcpc': return fromUdhcpc(argv1, env);
    case 'dhclient': return fromDhclient(env);
    case 'dhcpcd': return fromDhcpcd(env);
  }
}

// ---- what to do about it, as ip batch lines (pure) ---------------------------------------------

export interface CurrentState {
  /** IPv4 addresses on the interface: `a.b.c.d/len`. */
  addrs4: string[];
  /** The main table's IPv4 default routes. */
  defaults: { gateway?: string; dev?: string }[];
}

export interface PlanOptions {
  guestIf: string;
  /** The client configures addresses itself (dhcpcd): only routes, DNS and lifetimes are ours. */
  clientConfigures: boolean;
  /** The client exits once leased: the address must not expire with the lease. */
  oneshot: boolean;
}

/** The default gateway a lease asks for: option 121's 0.0.0.0/0 entry, else the first router. */
export function defaultGateway(e: Bind4): string | undefined {
  if (e.classless !== undefined) return e.classless.find((r) => r.dst === '0.0.0.0/0')?.gateway;
  return e.routers[0];
}

/**
 * ip batch lines for a new or renewed IPv4 lease. The default route follows the classic
 * clients' scripts: it is set on this interface unless the guest already routes by default
 * through another one (its own network stays its default), and replaced when the router changes.
 */
export function planBind4(e: Bind4, now: CurrentState, o: PlanOptions): string[][] {
  const dev = o.guestIf;
  const cidr = `${e.address}/${e.prefix}`;
  const lines: string[][] = [];
  const brd = e.broadcast !== undefined ? ['brd', e.broadcast] : [];
  if (!o.clientConfigures) {
    for (const a of now.addrs4) if (a !== cidr) lines.push(['addr', 'del', a, 'dev', dev]);
    lines.push(['addr', 'replace', cidr, ...brd, 'dev', dev]);
  } else if (o.oneshot) {
    // dhcpcd gave the address the lease's lifetime; the client is gone, so make it permanent.
    lines.push(['addr', 'change', cidr, ...brd, 'dev', dev, 'noprefixroute', 'valid_lft', 'forever', 'preferred_lft', 'forever']);
  }
  if (!o.clientConfigures) {
    for (const r of e.classless ?? []) {
      if (r.dst === '0.0.0.0/0') continue;
      lines.push(r.gateway === '0.0.0.0'
        ? ['route', 'replace', r.dst, 'dev', dev, 'scope', 'link']
        : ['route', 'replace', r.dst, 'via', r.gateway, 'dev', dev, ...(cidrContains(cidr, r.gateway) ? [] : ['onlink'])]);
    }
  }
  const gw = defaultGateway(e);
  const mine = now.defaults.filter((r) => r.dev === dev);
  if (gw !== undefined && gw !== '0.0.0.0' && !mine.some((r) => r.gateway === gw)) {
    for (const r of mine) lines.push(['route', 'del', 'default', ...(r.gateway !== undefined ? ['via', r.gateway] : []), 'dev', dev]);
    if (!now.defaults.some((r) => r.dev !== dev)) {
      lines.push(['route', 'add', 'default', 'via', gw, 'dev', dev, ...(cidrContains(cidr, gw) ? [] : ['onlink'])]);
    }
  }
  return lines;
}

export function planBind6(e: Bind6, o: PlanOptions): string[][] {
  const dev = o.guestIf;
  const cidr = `${e.address}/${e.prefix}`;
  if (o.clientConfigures) {
    return o.oneshot ? [['addr', 'change', cidr, 'dev', dev, 'noprefixroute', 'valid_lft', 'forever', 'preferred_lft', 'forever']] : [];
  }
  return [
    ...(e.old !== undefined ? [['addr', 'del', `${e.old.address}/${e.old.prefix}`, 'dev', dev]] : []),
    ['addr', 'replace', cidr, 'dev', dev],
  ];
}

/** The guest's resolv.conf for a lease (undefined when the lease names no DNS server). */
export function resolvConf(dns: string[], search: string[], label: string): string | undefined {
  if (dns.length === 0) return undefined;
  return [
    `# ${label}`,
    ...(search.length > 0 ? [`search ${search.join(' ')}`] : []),
    ...dns.map((s) => `nameserver ${s}`),
  ].join('\n') + '\n';
}
