/**
 * Results: what an IPAM plugin (or a prevResult) says, read into plain data; and our ADD result,
 * printed in the shape of the version asked for — 0.3.x/0.4.0 with `ips[].version`, 1.0.0
 * without, 1.1.0 with interface MTUs. Pure.
 */
import ipaddr from 'ipaddr.js';
import { parseAddressSpec, type StaticAddress } from '../../model/address.js';
import type { DnsSpec } from '../../model/attach-spec.js';
import { Code, CniError, versionAtLeast, type CniVersion } from './protocol.js';

export interface IpConfig {
  address: StaticAddress;
  gateway?: string;
  /** Index into the result's interfaces (undefined in an IPAM plugin's abbreviated result). */
  interface?: number;
}

export interface RouteConf {
  /** As the plugin wrote it (0.0.0.0/0, 10.1.0.0/16). */
  dst: string;
  family: 4 | 6;
  gw?: string;
}

export interface ResultInterface {
  name: string;
  mac?: string;
  /** The container's netns (CNI_NETNS) on the container side. */
  sandbox?: string;
  mtu?: number;
}

export interface ResultData {
  interfaces: ResultInterface[];
  ips: IpConfig[];
  routes: RouteConf[];
  dns?: DnsSpec;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function bad(from: string, what: string): never {
  throw new CniError(Code.DecodingFailure, `${from} returned ${what}`);
}

function ipText(v: unknown, from: string, what: string): string {
  if (typeof v !== 'string') bad(from, `an invalid ${what}: ${JSON.stringify(v)}`);
  try {
    return ipaddr.parse(v).toString();
  } catch {
    return bad(from, `an invalid ${what}: ${JSON.stringify(v)}`);
  }
}

/** A prefix as its network address (10.1.2.3/16 → 10.1.0.0/16), as Go's ParseCIDR reads it. */
export function canonicalPrefix(text: string): { text: string; family: 4 | 6 } | undefined {
  try {
    const [addr, bits] = ipaddr.parseCIDR(text);
    const net = addr.kind() === 'ipv4'
      ? ipaddr.IPv4.networkAddressFromCIDR(text)
      : ipaddr.IPv6.networkAddressFromCIDR(text);
    return { text: `${net.toString()}/${bits}`, family: addr.kind() === 'ipv4' ? 4 : 6 };
  } catch {
    return undefined;
  }
}

/** Route fields of CNI 1.1.0 that the engine's routes cannot carry (yet): refused, not ignored. */
const ROUTE_EXTRAS = ['mtu', 'advmss', 'priority', 'table', 'scope'];

/**
 * An IPAM plugin's result, or a prevResult, in any version ≥ 0.3.0. `from` names it in errors.
 * `othersRoutes`: the routes are other plugins' (a prevResult), so 1.1.0's route attributes are
 * theirs to have set, not refused (and not read: pipework sets none of them).
 */
export function parseResult(value: unknown, from: string, othersRoutes = false): ResultData {
  if (!isObject(value)) bad(from, 'a result that is not a JSON object');
  if (value['ip4'] !== undefined || value['ip6'] !== undefined) bad(from, 'a 0.2.0 result (ip4/ip6); pipework speaks 0.3.0 and later');
  const interfaces: ResultInterface[] = [];
  for (const i of Array.isArray(value['interfaces']) ? value['interfaces'] as unknown[] : []) {
    if (!isObject(i) || typeof i['name'] !== 'string') bad(from, `an invalid interface: ${JSON.stringify(i)}`);
    interfaces.push({
      name: i['name'],
      ...(typeof i['mac'] === 'string' && i['mac'] !== '' && { mac: i['mac'].toLowerCase() }),
      ...(typeof i['sandbox'] === 'string' && i['sandbox'] !== '' && { sandbox: i['sandbox'] }),
      ...(typeof i['mtu'] === 'number' && { mtu: i['mtu'] }),
    });
  }
  const ips: IpConfig[] = [];
  for (const ip of Array.isArray(value['ips']) ? value['ips'] as unknown[] : []) {
    if (!isObject(ip) || typeof ip['address'] !== 'string') bad(from, `an invalid IP: ${JSON.stringify(ip)}`);
    let address: StaticAddress | undefined;
    try {
      address = parseAddressSpec(ip['address']).address;
    } catch (err) {
      bad(from, `an invalid address ${JSON.stringify(ip['address'])}: ${(err as Error).message}`);
    }
    if (address === undefined) bad(from, `an invalid address ${JSON.stringify(ip['address'])}`);
    const gateway = ip['gateway'] !== undefined && ip['gateway'] !== '' ? ipText(ip['gateway'], from, 'gateway') : undefined;
    if (gateway !== undefined && gateway.includes(':') !== (address.family === 6)) bad(from, `gateway ${gateway} of another family than ${address.cidr}`);
    const index = ip['interface'];
    ips.push({
      address,
      ...(gateway !== undefined && { gateway }),
      ...(typeof index === 'number' && Number.isInteger(index) && { interface: index }),
    });
  }
  const routes: RouteConf[] = [];
  for (const r of Array.isArray(value['routes']) ? value['routes'] as unknown[] : []) {
    if (!isObject(r) || typeof r['dst'] !== 'string') bad(from, `an invalid route: ${JSON.stringify(r)}`);
    const extra = othersRoutes ? undefined : ROUTE_EXTRAS.find((k) => r[k] !== undefined);
    if (extra !== undefined) {
      throw new CniError(Code.UnsupportedField, `unsupported field routes[].${extra}: ${JSON.stringify(r[extra])}`, `${from} returned a route with ${extra}, which pipework cannot set yet`);
    }
    const dst = canonicalPrefix(r['dst']);
    if (dst === undefined) bad(from, `an invalid route destination ${JSON.stringify(r['dst'])}`);
    const gw = r['gw'] !== undefined && r['gw'] !== '' ? ipText(r['gw'], from, 'route gateway') : undefined;
    if (gw !== undefined && gw.includes(':') !== (dst.family === 6)) bad(from, `route ${dst.text} with a gateway ${gw} of another family`);
    routes.push({ dst: dst.text, family: dst.family, ...(gw !== undefined && { gw }) });
  }
  const dns = isObject(value['dns']) ? value['dns'] : undefined;
  const out: ResultData = { interfaces, ips, routes };
  if (dns !== undefined) {
    const d: DnsSpec = {};
    const list = (k: string) => (Array.isArray(dns[k]) ? (dns[k] as unknown[]).filter((x): x is string => typeof x === 'string') : []);
    if (list('nameservers').length > 0) d.nameservers = list('nameservers');
    if (typeof dns['domain'] === 'string' && dns['domain'] !== '') d.domain = dns['domain'];
    if (list('search').length > 0) d.search = list('search');
    if (list('options').length > 0) d.options = list('options');
    if (Object.keys(d).length > 0) out.dns = d;
  }
  return out;
}

/** An IPAM plugin's stdout. */
export function parseIpamOutput(stdout: string, plugin: string): ResultData {
  let value: unknown;
  try {
    value = JSON.parse(stdout);
  } catch (err) {
    throw new CniError(Code.DecodingFailure, `IPAM plugin ${plugin} printed something that is not JSON: ${(err as Error).message}`);
  }
  const r = parseResult(value, `IPAM plugin ${plugin}`);
  if (r.ips.length === 0) throw new CniError(Code.InvalidConfig, `IPAM plugin ${plugin} returned no IP configuration`);
  return r;
}

/**
 * What came before pipework in a chain (ADD's prevResult), checked, each entry as given: ADD
 * passes it on ahead of its own part. What it says is only printed again, never acted on.
 */
export interface PrevResult {
  interfaces: Record<string, unknown>[];
  ips: { entry: Record<string, unknown>; family: 4 | 6 }[];
  routes: Record<string, unknown>[];
  dns?: DnsSpec;
}

/** Interface and route keys of 1.1.0 (a whole number each, but a route's scope and an interface's two paths). */
const INTERFACE_EXTRAS = ['mtu', 'socketPath', 'pciID'];

function wholeNumber(v: unknown): boolean {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** ADD's prevResult: a result of any version ≥ 0.3.0 whose interface indices point into it. */
export function readPrevResult(value: unknown): PrevResult {
  const parsed = parseResult(value, 'prevResult', true);
  const v = value as Record<string, unknown>;
  const list = (k: string) => (Array.isArray(v[k]) ? v[k] as Record<string, unknown>[] : []);
  const interfaces = list('interfaces');
  interfaces.forEach((i) => {
    for (const k of ['mac', 'sandbox', 'socketPath', 'pciID']) if (i[k] !== undefined && typeof i[k] !== 'string') bad('prevResult', `an interface with an invalid ${k}: ${JSON.stringify(i[k])}`);
    if (i['mtu'] !== undefined && !wholeNumber(i['mtu'])) bad('prevResult', `an interface with an invalid mtu: ${JSON.stringify(i['mtu'])}`);
  });
  const ips = list('ips').map((entry, n) => {
    const index = entry['interface'];
    if (index !== undefined && (!wholeNumber(index) || (index as number) >= interfaces.length)) bad('prevResult', `an IP whose interface ${JSON.stringify(index)} is not one of its ${interfaces.length} interfaces`);
    return { entry, family: parsed.ips[n]!.address.family };
  });
  const routes = list('routes');
  routes.forEach((r) => {
    for (const k of ROUTE_EXTRAS) if (r[k] !== undefined && !wholeNumber(r[k])) bad('prevResult', `a route with an invalid ${k}: ${JSON.stringify(r[k])}`);
  });
  return { interfaces, ips, routes, ...(parsed.dns !== undefined && { dns: parsed.dns }) };
}

/** Only `keys` of `entry`, those it has. */
function pick(entry: Record<string, unknown>, keys: readonly string[]): Record<string, unknown> {
  return Object.fromEntries(keys.filter((k) => entry[k] !== undefined && entry[k] !== '').map((k) => [k, entry[k]]));
}

/** Lists put together, the first one's order kept, each value once. */
function union(a: string[] | undefined, b: string[] | undefined): string[] | undefined {
  const all = [...new Set([...(a ?? []), ...(b ?? [])])];
  return all.length > 0 ? all : undefined;
}

/** What came before and ours: lists joined, our domain first. */
function mergeDns(prev: DnsSpec | undefined, ours: DnsSpec | undefined): DnsSpec {
  const nameservers = union(prev?.nameservers, ours?.nameservers);
  const search = union(prev?.search, ours?.search);
  const options = union(prev?.options, ours?.options);
  const domain = ours?.domain ?? prev?.domain;
  return {
    ...(nameservers !== undefined && { nameservers }),
    ...(domain !== undefined && { domain }),
    ...(search !== undefined && { search }),
    ...(options !== undefined && { options }),
  };
}

/**
 * A result in the shape of `version`: after what came before in the chain (`prev`), as the spec
 * asks of a plugin that is not first — its interfaces, IPs and routes first (their indices
 * unchanged), then ours (our IPs' indices moved past them), DNS merged. An entry of `prev`
 * keeps only the keys `version` has (0.3.x and 0.4.0 give each IP its `version`, 1.0.0 none).
 */
export function formatResult(r: ResultData, version: CniVersion, prev?: PrevResult): string {
  const withVersion = !versionAtLeast(version, '1.0.0');
  const withMtu = versionAtLeast(version, '1.1.0');
  const out: Record<string, unknown> = { cniVersion: version };
  const before = prev?.interfaces.length ?? 0;
  const interfaces = [
    ...(prev?.interfaces ?? []).map((i) => pick(i, ['name', 'mac', ...(withMtu ? INTERFACE_EXTRAS : []), 'sandbox'])),
    ...r.interfaces.map((i) => ({
      name: i.name,
      ...(i.mac !== undefined && { mac: i.mac }),
      ...(withMtu && i.mtu !== undefined && { mtu: i.mtu }),
      ...(i.sandbox !== undefined && { sandbox: i.sandbox }),
    })),
  ];
  if (interfaces.length > 0) out['interfaces'] = interfaces;
  const ips = [
    ...(prev?.ips ?? []).map(({ entry, family }) => ({
      ...(withVersion && { version: String(family) }),
      ...pick(entry, ['interface', 'address', 'gateway']),
    })),
    ...r.ips.map((ip) => ({
      ...(withVersion && { version: String(ip.address.family) }),
      ...(ip.interface !== undefined && { interface: ip.interface + before }),
      address: ip.address.cidr,
      ...(ip.gateway !== undefined && { gateway: ip.gateway }),
    })),
  ];
  if (ips.length > 0) out['ips'] = ips;
  const routes = [
    ...(prev?.routes ?? []).map((x) => pick(x, ['dst', 'gw', ...(withMtu ? ROUTE_EXTRAS : [])])),
    ...r.routes.map((x) => ({ dst: x.dst, ...(x.gw !== undefined && { gw: x.gw }) })),
  ];
  if (routes.length > 0) out['routes'] = routes;
  out['dns'] = prev !== undefined ? mergeDns(prev.dns, r.dns) : (r.dns ?? {});
  return `${JSON.stringify(out)}\n`;
}
