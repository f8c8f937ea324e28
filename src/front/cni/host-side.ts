/**
 * The host-side steps the reference bridge plugin takes beyond the port itself, as a prelude
 * plan the engine runs first in the same run (and undoes with it): `isGateway` (the gateway
 * address on the bridge, its MAC pinned, forwarding on); `ipMasq` is a driver of its own
 * (src/drivers/network/masq.ts). Builders are pure; the readers below them look at the host.
 */
import { readFileSync } from 'node:fs';
import ipaddr from 'ipaddr.js';
import { inProcessIp, ipJsonBatch, type IpBackend } from '../../exec/ip.js';
import type { Runner } from '../../exec/runner.js';
import { parseAddressSpec } from '../../model/address.js';
import { createBridge } from '../../engine/networks.js';
import type { Step } from '../../model/plan.js';
import type { LinkBasics } from '../../host/links.js';
import { Code, CniError } from './protocol.js';

export interface BridgeFacts {
  /** undefined: there is no such link yet (the run makes the bridge). */
  link?: LinkBasics;
  /** Its addresses, `address/prefix` (only read when it exists and a gateway goes on it). */
  addresses: string[];
  /** Its MAC was set explicitly (addr_assign_type 3), so it no longer follows its ports. */
  macPinned: boolean;
  forwarding: { 4: boolean; 6: boolean };
}

function overlaps(a: string, b: string): boolean {
  try {
    const [na, la] = ipaddr.parseCIDR(a);
    const [nb, lb] = ipaddr.parseCIDR(b);
    if (na.kind() !== nb.kind()) return false;
    return na.match(nb, lb) || nb.match(na, la);
  } catch {
    return false;
  }
}

/**
 * isGateway on bridge `bridge`: make it if missing (with the network's MTU), bring it up, put each gateway address on it
 * (an address of the same family in the way is an error, or replaced with forceAddress, as the
 * reference plugin's ensureAddr does), pin its MAC, and turn forwarding on.
 */
export function planGatewayPrelude(
  bridge: string, vlan: number | undefined, gateways: { cidr: string; family: 4 | 6 }[], facts: BridgeFacts, forceAddress: boolean, mtu?: number,
): Step[] {
  const steps: Step[] = [];
  // (The same steps as the attach's own: one run makes the bridge once.)
  if (!facts.link) steps.push(...createBridge({ name: bridge, vlanFiltering: vlan !== undefined, ...(mtu !== undefined && { mtu }) }));
  else if (!facts.link.up) {
    steps.push({
      title: `bring bridge ${bridge} up`,
      action: { kind: 'ip', place: 'host', args: ['link', 'set', 'dev', bridge, 'up'] },
      undo: [{ kind: 'ip', place: 'host', args: ['link', 'set', 'dev', bridge, 'down'] }],
    });
  }
  const have = [...facts.addresses];
  for (const gw of gateways) {
    if (have.includes(gw.cidr)) continue;
    for (const other of have.slice()) {
      const sameFamily = other.includes(':') === (gw.family === 6);
      if (!sameFamily || (gw.family === 6 && !overlaps(other, gw.cidr))) continue;
      if (!forceAddress) {
        throw new CniError(Code.Conflict, `"${bridge}" already has an IP address different from ${gw.cidr}`, `bridge ${bridge} has ${other}; set "forceAddress": true to replace it`);
      }
      steps.push({
        title: `remove address ${other} from bridge ${bridge} (forceAddress)`,
        action: { kind: 'ip', place: 'host', args: ['addr', 'del', other, 'dev', bridge] },
        undo: [{ kind: 'ip', place: 'host', args: ['addr', 'add', other, 'dev', bridge] }],
      });
      have.splice(have.indexOf(other), 1);
    }
    const brd = parseAddressSpec(gw.cidr).address?.broadcast;
    steps.push({
      title: `put gateway address ${gw.cidr} on bridge ${bridge}`,
      // `replace`: another ADD on this bridge may put it there at the same moment. It serves every
      // container on the bridge, so a failed ADD takes it away only when no port is left.
      action: { kind: 'ip', place: 'host', args: ['addr', 'replace', gw.cidr, ...(brd !== undefined ? ['brd', brd] : []), 'dev', bridge] },
      undo: [{ kind: 'ip', place: 'host', args: ['addr', 'del', gw.cidr, 'dev', bridge], onlyIfBridgeEmpty: bridge }],
    });
    have.push(gw.cidr);
  }
  // As the reference plugin does: the bridge keeps its MAC instead of taking its lowest port's
  // as ports come and go (a gateway whose MAC changes breaks its neighbours' ARP caches). A bridge
  // this run makes is pinned once its first port has joined (pinBridgeMac).
  if (facts.link && !facts.macPinned && facts.link.mac !== '') {
    steps.push({
      title: `pin the MAC of bridge ${bridge} (${facts.link.mac})`,
      action: { kind: 'ip', place: 'host', args: ['link', 'set', 'dev', bridge, 'address', facts.link.mac] },
      undo: [],
    });
  }
  for (const family of [4, 6] as const) {
    if (facts.forwarding[family] || !gateways.some((g) => g.family === family)) continue;
    const key = family === 4 ? 'net.ipv4.ip_forward=1' : 'net.ipv6.conf.all.forwarding=1';
    steps.push({
      title: `turn on IPv${family} forwarding (${key})`,
      action: { kind: 'exec', place: 'host', argv: ['sysctl', '-q', '-w', key] },
      undo: [],
    });
  }
  return steps;
}

// ---- readers -----------------------------------------------------------------------------

function readSys(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** The interface of the host's default route (IPv4 first), as the reference macvlan plugin picks a master. */
export function defaultRouteInterface(route4 = '/proc/net/route', route6 = '/proc/net/ipv6_route'): string | undefined {
  for (const line of (readSys(route4) ?? '').split('\n').slice(1)) {
    const [dev, dst, , , , , , mask] = line.trim().split(/\s+/u);
    if (dev !== undefined && dst === '00000000' && mask === '00000000') return dev;
  }
  for (const line of (readSys(route6) ?? '').split('\n')) {
    const f = line.trim().split(/\s+/u);
    if (f[0] === '00000000000000000000000000000000' && f[1] === '00' && f[9] !== undefined && f[9] !== 'lo') return f[9];
  }
  return undefined;
}

export function forwardingOn(): { 4: boolean; 6: boolean } {
  return {
    4: readSys('/proc/sys/net/ipv4/ip_forward') === '1',
    6: readSys('/proc/sys/net/ipv6/conf/all/forwarding') === '1',
  };
}

/** Its MAC was set (NET_ADDR_SET), rather than random or taken from a port. */
export function macPinned(name: string): boolean {
  return readSys(`/sys/class/net/${name}/addr_assign_type`) === '3';
}

/** A host link's addresses, but link-scope ones: in-process with the netlink backend, else one `ip` process. */
export async function linkAddresses(runner: Runner, name: string, backend?: IpBackend): Promise<string[]> {
  // In-process where the run's ip lines are (no `ip` process: ~4 ms of an ADD with isGateway).
  const read = (await inProcessIp(backend))?.hostAddresses(name);
  if (read !== undefined && read !== 'unsupported') return read.map((a) => `${ipaddr.fromByteArray([...a.bytes]).toString()}/${a.prefixlen}`);
  const [links] = await ipJsonBatch(runner, [['addr', 'show', 'dev', name]], { where: 'the host' });
  const link = (links as { addr_info?: { local: string; prefixlen: number; scope?: string }[] }[])[0];
  return (link?.addr_info ?? []).filter((a) => a.scope !== 'link').map((a) => `${a.local}/${a.prefixlen}`);
}

/** A bridge made by this ADD, its first port joined: its MAC stays what it is now. */
export function pinBridgeMacStep(bridge: string, mac: string): Step {
  return {
    title: `pin the MAC of bridge ${bridge} (${mac})`,
    action: { kind: 'ip', place: 'host', args: ['link', 'set', 'dev', bridge, 'address', mac] },
    undo: [],
  };
}
