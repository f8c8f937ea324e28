/**
 * Multi-host files (SPEC part G): which host of `hosts:` this machine is, and that host's part of
 * the file — its guests and their links, the networks they use (and every VXLAN network), each
 * VXLAN network's device with its peers (the other hosts) and MTU (the underlay's minus the
 * encapsulation, unless the file sets one that fits). A part is a topology of its own named
 * `<name>@<host>`: its marks, records, state file and lock are the part's, so two hosts sharing
 * one filesystem (or one host applying two parts) never see each other's.
 *
 * Pure except readInterfaces: the interfaces are facts handed in.
 */
import { vxlanDeviceName, vxlanMtu, vxlanOverhead, type VxlanDevice } from '../../engine/networks.js';
import type { Runner } from '../../exec/runner.js';
import { UsageError } from '../../model/errors.js';
import type { Problem } from './problems.js';
import type { Host, Link, Network, Topology } from './model.js';

/** An interface of this host: name, MTU and addresses (no prefix lengths). */
export interface Iface {
  name: string;
  mtu: number;
  addresses: string[];
}

/** `ip -json addr show` → interfaces (pure, for tests). */
export function parseIfaces(json: unknown): Iface[] {
  if (!Array.isArray(json)) return [];
  return (json as { ifname: string; mtu: number; addr_info?: { local?: string }[] }[]).map((l) => ({
    name: l.ifname, mtu: l.mtu, addresses: (l.addr_info ?? []).flatMap((a) => (typeof a.local === 'string' ? [a.local.toLowerCase()] : [])),
  }));
}

/** This network namespace's interfaces (pipework's own: the host it runs in). */
export async function readInterfaces(runner: Runner): Promise<Iface[]> {
  const res = await runner.run(['ip', '-json', 'addr', 'show'], { timeoutMs: 15_000 });
  if (res.code !== 0 || res.stdout.trim() === '') return [];
  return parseIfaces(JSON.parse(res.stdout));
}

const ifaceWith = (ifaces: readonly Iface[], address: string) => ifaces.find((i) => i.addresses.includes(address));

/**
 * Which host this is: the one `--host` names, or the one whose underlay address is on an
 * interface here. A file without hosts: has no parts (undefined).
 */
export function chooseHost(topology: Topology, wanted: string | undefined, ifaces: readonly Iface[], strict: boolean): { host?: string; problems: Problem[] } {
  const hosts = topology.hosts;
  if (!hosts) {
    if (wanted !== undefined) throw new UsageError(`--host ${wanted}: topology ${topology.name} has no hosts: (it is a one-host file)`);
    return { problems: [] };
  }
  if (wanted !== undefined) {
    const h = hosts.get(wanted);
    if (!h) throw new UsageError(`--host ${wanted}: topology ${topology.name} has no such host (hosts: ${[...hosts.keys()].join(', ') || 'none'})`);
    if (strict && !ifaceWith(ifaces, h.underlay)) {
      return { host: wanted, problems: [problemAt(h, `${h.underlay} is on no interface of this host, which --host says is ${h.key}: add the address, or name the right host`)] };
    }
    return { host: wanted, problems: [] };
  }
  const here = [...hosts.values()].filter((h) => ifaceWith(ifaces, h.underlay));
  if (here.length === 1) return { host: here[0]!.key, problems: [] };
  if (here.length === 0) {
    const first = [...hosts.values()][0];
    const listed = [...hosts.values()].map((h) => `${h.key} ${h.underlay}`).join(', ');
    return { problems: [first ? problemAt(first, `no host's underlay address (${listed}) is on an interface of this host: add one, or give --host NAME`) : { line: 1, col: 1, path: 'hosts', message: 'hosts: is empty: name at least this host' }] };
  }
  return { problems: [problemAt(here[1]!, `the underlay addresses of ${here.map((h) => h.key).join(' and ')} are all on this host: say which one this is with --host NAME`)] };
}

function problemAt(h: Host, message: string): Problem {
  return { line: h.at.line, col: h.at.col, path: `hosts.${h.key}.underlay`, message };
}

/** The part's name: records, marks and the state file are kept per host. */
export function partName(name: string, host: string): string {
  return `${name}@${host}`;
}

/**
 * One host's part: its guests, their links, the networks they use and every VXLAN network, with
 * each VXLAN device planned (peers, MTU). Problems: an underlay device that is not here, an MTU
 * that does not fit. With `strict` false (destroy) the facts are not held against the file.
 */
export function hostPart(topology: Topology, host: string, ifaces: readonly Iface[], strict = true): { part: Topology; problems: Problem[] } {
  const me = topology.hosts!.get(host)!;
  const problems: Problem[] = [];
  const guests = new Map([...topology.guests].filter(([, g]) => g.host === host));
  const links: Link[] = topology.links.filter((l) => guests.has(l.guest)).map((l) => ({ ...l }));
  const used = new Set(links.map((l) => l.network));
  const networks = new Map<string, Network>();
  const vxlans: VxlanDevice[] = [];
  for (const [key, n] of topology.networks) {
    if (!used.has(key) && !n.vxlan) continue;
    const copy: Network = { ...n };
    networks.set(key, copy);
    const v = n.vxlan;
    if (!v) continue;
    const underlay = v.dev !== undefined ? ifaces.find((i) => i.name === v.dev) : ifaceWith(ifaces, me.underlay);
    let fit: number | undefined;
    if (underlay) fit = vxlanMtu(underlay.mtu, me.family);
    else if (strict && v.dev !== undefined) problems.push({ line: v.at.line, col: v.at.col, path: `networks.${key}.vxlan.dev`, message: `underlay device ${v.dev} does not exist on this host (${host})` });
    const why = underlay ? `the underlay ${underlay.name} has MTU ${underlay.mtu}, less ${vxlanOverhead(me.family)} for VXLAN over IPv${me.family}: at most ${fit}` : '';
    if (strict && fit !== undefined && n.mtu !== undefined && n.mtu > fit) {
      problems.push({ line: n.at.line, col: n.at.col, path: `networks.${key}.mtu`, message: `MTU ${n.mtu} does not fit: ${why}` });
    }
    const mtu = n.mtu ?? fit ?? 1450;
    copy.mtu = mtu;
    for (const l of links) {
      if (l.network !== key) continue;
      if (l.mtu === undefined || l.mtu === n.mtu) l.mtu = mtu;
      else if (strict && fit !== undefined && l.mtu > fit) problems.push({ line: l.at.line, col: l.at.col, path: `links[${l.index}].mtu`, message: `MTU ${l.mtu} does not fit network ${key}: ${why}` });
    }
    const peers = v.group !== undefined ? [] : [...topology.hosts!.values()].filter((h) => h.key !== host && h.family === me.family).map((h) => ({ host: h.key, address: h.underlay }));
    vxlans.push({
      network: key, name: vxlanDeviceName(v.vni), vni: v.vni, port: v.port, local: me.underlay, bridge: n.device, mtu, peers,
      ...(v.dev !== undefined && { dev: v.dev }),
      ...(v.group !== undefined && { group: v.group }),
    });
  }
  const part: Topology = {
    name: partName(topology.name, host), file: topology.file, networks, guests, links,
    ...(topology.hosts && { hosts: topology.hosts }),
    part: { host, file: topology.name, vxlans },
  };
  return { part, problems };
}
