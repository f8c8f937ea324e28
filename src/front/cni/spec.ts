/**
 * A CNI request (configuration, parameters, what IPAM gave) → the engine's attach spec, the way
 * the reference plugins read it: the IPAM addresses on CNI_IFNAME, its routes (a route without
 * a gateway takes the first gateway of its family), `isGateway` computing a missing gateway and
 * `isDefaultGateway` adding a default route through it. Names are deterministic — the host end
 * and the MAC come from the container id and interface name — so DEL and GC find what ADD made
 * without the netns. Pure.
 */
import ipaddr from 'ipaddr.js';
import { digest } from '../../model/hash.js';
import { IFNAME_MAX } from '../../model/ifname.js';
import type { AttachSpec, HostSide, RouteSpec } from '../../model/attach-spec.js';
import type { Owner } from '../../model/owner.js';
import type { NetConf } from './config.js';
import type { CniParams } from './protocol.js';
import type { IpConfig, ResultData, RouteConf } from './result.js';

/** The host end of a veth: `pwc` + a hash of container id and interface name (15 characters). */
export function hostEndName(containerId: string, ifname: string): string {
  const prefix = 'pwc';
  return prefix + digest('sha256', `${containerId}/${ifname}`).toString('hex').slice(0, IFNAME_MAX - prefix.length);
}

/**
 * The container interface's MAC when none is asked for: locally administered, from the network,
 * container id and interface name — stable across a container's restarts, and known without
 * reading it back from the netns.
 */
export function attachmentMac(network: string, containerId: string, ifname: string): string {
  const h = digest('sha256', `pipework-cni/${network}/${containerId}/${ifname}`);
  return ['02', ...[...h.subarray(0, 5)].map((b) => b.toString(16).padStart(2, '0'))].join(':');
}

/**
 * The container id as the owner recorded on interfaces names it: as given up to 24 characters;
 * longer (runtimes use 64), its first 12 and a hash of all of it after a `+` (which no container
 * id has) — the record must fit in a link alias (255 bytes), and stays unique.
 */
export function ownerContainerId(id: string): string {
  if (id.length <= 24) return id;
  return `${id.slice(0, 12)}+${digest('sha256', id).toString('hex').slice(0, 11)}`;
}

export function ownerOf(network: string, containerId: string, ifname: string): Extract<Owner, { kind: 'cni' }> {
  return { kind: 'cni', network, containerId: ownerContainerId(containerId), ifname };
}

/** How the guest is named in records and messages: the pod (or Podman container) name, else the id. */
export function guestName(params: Pick<CniParams, 'containerId'>, conf: Pick<NetConf, 'args'>): string {
  const pod = conf.args.k8sPod;
  if (pod !== undefined && pod !== '') return conf.args.k8sNamespace !== undefined && conf.args.k8sNamespace !== '' ? `${conf.args.k8sNamespace}/${pod}` : pod;
  return params.containerId.slice(0, 12);
}

/** The reference bridge plugin's calcGatewayIP: the subnet's first address. */
export function firstAddress(cidr: string): string {
  const [addr] = ipaddr.parseCIDR(cidr);
  const net = addr.kind() === 'ipv4' ? ipaddr.IPv4.networkAddressFromCIDR(cidr) : ipaddr.IPv6.networkAddressFromCIDR(cidr);
  const bytes = net.toByteArray();
  for (let i = bytes.length - 1; i >= 0; i--) {
    bytes[i] = (bytes[i]! + 1) & 0xff;
    if (bytes[i] !== 0) break;
  }
  return ipaddr.fromByteArray(bytes).toString();
}

export interface CniAttach {
  spec: AttachSpec;
  /** The result's IPs (gateways as the result reports them) and routes. */
  ips: IpConfig[];
  routes: RouteConf[];
  /** isGateway: the addresses the bridge gets, `gateway/prefix`. */
  gateways: { cidr: string; family: 4 | 6 }[];
}

export interface BuildInput {
  conf: NetConf;
  params: CniParams;
  ipam?: ResultData;
  /** macvlan without `master`: the interface the host's default route goes through. */
  master?: string;
}

/** The network's host side as the engine takes it (macvlan without `master`: the one found for it). */
export function hostSide(conf: NetConf, master: string | undefined): HostSide {
  const h = conf.host;
  const vlan = h.vlan !== undefined ? { vlan: h.vlan } : {};
  switch (h.kind) {
    case 'bridge':
      return { kind: 'bridge', bridge: h.bridge, create: true, ...vlan, ...(h.hairpin && { hairpin: true }), ...(h.promisc && { promisc: true }) };
    case 'ovs':
      return { kind: 'ovs', bridge: h.bridge, create: true, ...vlan };
    case 'macvlan':
      return { kind: 'macvlan', parent: h.master ?? master ?? '', mode: h.mode, ...vlan };
    case 'phys':
      return { kind: 'phys', device: h.device, ...vlan };
  }
}

const DEFAULT_DST = { 4: '0.0.0.0/0', 6: '::/0' } as const;

export function buildAttach({ conf, params, ipam, master }: BuildInput): CniAttach {
  const h = conf.host;
  const isGateway = h.kind === 'bridge' && h.isGateway;
  const isDefaultGateway = h.kind === 'bridge' && h.isDefaultGateway;
  const ips: IpConfig[] = [];
  const routes: RouteConf[] = [...(ipam?.routes ?? [])];
  const gateways: CniAttach['gateways'] = [];
  const defaultFound = { 4: false, 6: false };
  for (const ip of ipam?.ips ?? []) {
    const family = ip.address.family;
    let gateway = ip.gateway;
    if (gateway === undefined && isGateway) gateway = firstAddress(ip.address.cidr);
    if (isDefaultGateway && !defaultFound[family]) {
      defaultFound[family] = routes.some((r) => r.gw !== undefined && r.dst === DEFAULT_DST[family]);
      if (!defaultFound[family] && gateway !== undefined) {
        routes.push({ dst: DEFAULT_DST[family], family, gw: gateway });
        defaultFound[family] = true;
      }
    }
    if (isGateway && gateway !== undefined) gateways.push({ cidr: `${gateway}/${ip.address.prefix}`, family });
    ips.push({ address: ip.address, ...(gateway !== undefined && { gateway }) });
  }
  // ConfigureIface: a route without a gateway goes through the first gateway of its family.
  const firstGw = (family: 4 | 6) => ips.find((ip) => ip.gateway !== undefined && ip.address.family === family)?.gateway;
  const guestRoutes: RouteSpec[] = routes.map((r) => {
    const gw = r.gw ?? firstGw(r.family);
    return { dst: r.dst === DEFAULT_DST[r.family] ? 'default' : r.dst, family: r.family, ...(gw !== undefined && { gateway: gw }) };
  });

  const host = hostSide(conf, master);
  // A passthru macvlan takes its master's MAC, and a NIC moved in keeps its own, unless one is asked for.
  const keepsOwnMac = host.kind === 'phys' || (host.kind === 'macvlan' && host.mode === 'passthru');
  const mac = conf.mac ?? (keepsOwnMac ? undefined : attachmentMac(conf.name, params.containerId, params.ifname));
  const dns = conf.dns ?? ipam?.dns;
  const spec: AttachSpec = {
    guest: { kind: 'netns-path', path: params.netns, name: guestName(params, conf) },
    guestIf: params.ifname,
    host,
    ...((host.kind === 'bridge' || host.kind === 'ovs') && { hostEnd: hostEndName(params.containerId, params.ifname) }),
    ...(mac !== undefined && { mac }),
    ...(conf.mtu !== undefined && { mtu: conf.mtu }),
    // DAD off unless enabledad, as the reference bridge plugin does.
    addressing: { kind: 'static', addresses: ips.map((ip) => ip.address), routes: guestRoutes, dad: conf.dad },
    ...(dns !== undefined && { dns }),
    // The gratuitous ARP is sent after the attach, by the request's own process (add.ts).
    announce: false,
    owner: ownerOf(conf.name, params.containerId, params.ifname),
    onConflict: 'refuse',
  };
  return { spec, ips, routes, gateways };
}
