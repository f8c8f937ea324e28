/**
 * Links → attach specs (src/model/attach-spec.ts): one spec per link, owner `topology:<name>`,
 * onConflict `replace` (a link whose configuration changed in the file is re-made; the others
 * stay as they are). `address: auto` is settled here: a link keeps the address it has (read back
 * from its live record); a new one takes the next free address of the network's subnet.
 */
import { parseAddressSpec, type StaticAddress } from '../../model/address.js';
import { DEFAULT_DHCP_TIMEOUT_SEC } from '../../dhcp/methods.js';
import { recordAddresses, type AttachRecord } from '../../model/record.js';
import type { AttachSpec, GuestRef, HostSide } from '../../model/attach-spec.js';
import type { TopologyGuest, Link, Network, Topology } from './model.js';
import { TopologyFileError } from './problems.js';
import { freeAddresses, inSubnet } from './values.js';

export function guestRefOf(g: TopologyGuest): GuestRef {
  switch (g.kind) {
    case 'netns':
      return { kind: 'netns', name: g.netns };
    case 'container':
      return g.ref;
    case 'image':
      return { kind: g.runtime, name: g.container };
  }
}

/** The host side of a link; networks are made by the topology's own plan, never by an attach. */
export function hostSideOf(n: Network, link: Pick<Link, 'vlan'>, create = false): HostSide {
  const vlan = link.vlan !== undefined ? { vlan: link.vlan } : {};
  switch (n.kind) {
    case 'bridge':
      return { kind: 'bridge', bridge: n.device, create, ...vlan };
    case 'ovs':
      return { kind: 'ovs', bridge: n.device, create, ...vlan };
    case 'macvlan':
      return { kind: 'macvlan', parent: n.device, mode: 'bridge', ...vlan };
  }
}

export function specOf(topology: Topology, link: Link, autoAddress?: StaticAddress, create = false): AttachSpec {
  const guest = topology.guests.get(link.guest)!;
  const network = topology.networks.get(link.network)!;
  const a = link.addressing;
  return {
    guest: guestRefOf(guest),
    guestIf: link.ifname,
    host: hostSideOf(network, link, create),
    ...(link.mac !== undefined && { mac: link.mac }),
    ...(link.mtu !== undefined && { mtu: link.mtu }),
    addressing: a.kind === 'dhcp'
      ? { kind: 'dhcp', method: a.method, options: a.options, family: 4, timeoutSec: DEFAULT_DHCP_TIMEOUT_SEC }
      : {
        kind: 'static',
        // The auto address goes where the file put `auto`: after the others, as it reads.
        addresses: [...a.addresses, ...(autoAddress ? [autoAddress] : [])],
        ...(a.gateway4 !== undefined && { gateway4: a.gateway4 }),
        ...(a.gateway6 !== undefined && { gateway6: a.gateway6 }),
        routes: [],
      },
    ...(link.impair !== undefined && { impair: link.impair }),
    announce: true,
    owner: { kind: 'topology', name: topology.name },
    onConflict: 'replace',
  };
}

export interface AutoInput {
  topology: Topology;
  /** The live record of a link (this topology's), by guest key and interface. */
  recordOf(link: Link): AttachRecord | undefined;
  /** Addresses in use on a network's device besides the file's: other pipework interfaces, the host's own. */
  inUse(network: Network): Iterable<string>;
}

/** The address each `auto` link gets, by link index. */
export function assignAuto(input: AutoInput): Map<number, StaticAddress> {
  const { topology } = input;
  const out = new Map<number, StaticAddress>();
  const autos = topology.links.filter((l) => l.addressing.kind === 'static' && l.addressing.auto);
  if (autos.length === 0) return out;
  // Taken per device (networks sharing a device share its addresses): the file's own addresses
  // and gateways, and what else is live there.
  const taken = new Map<string, Set<string>>();
  const takenOn = (n: Network) => {
    let set = taken.get(n.device);
    if (!set) {
      set = new Set(input.inUse(n));
      for (const l of topology.links) {
        if (topology.networks.get(l.network)?.device !== n.device || l.addressing.kind !== 'static') continue;
        for (const a of l.addressing.addresses) set.add(a.address);
        for (const gw of [l.addressing.gateway4, l.addressing.gateway6]) if (gw !== undefined) set.add(gw);
      }
      taken.set(n.device, set);
    }
    return set;
  };
  // An address the file gives a link outright is not kept by an auto link that had it.
  const fileAddresses = new Set<string>();
  for (const l of topology.links) if (l.addressing.kind === 'static') for (const a of l.addressing.addresses) fileAddresses.add(a.address);
  // First, every link keeps what it has; then the new ones take what is left, in file order.
  const pending: Link[] = [];
  for (const link of autos) {
    const network = topology.networks.get(link.network)!;
    const subnet = network.subnet!;
    const record = input.recordOf(link);
    const kept = record !== undefined && record.hostIf === network.device
      ? recordAddresses(record).map((cidr) => cidr.split('/')).find(([ip, prefix]) => Number(prefix) === subnet.prefix && inSubnet(subnet, ip!))
      : undefined;
    const set = takenOn(network);
    if (kept && !fileAddresses.has(kept[0]!)) {
      out.set(link.index, parseAddressSpec(`${kept[0]!}/${kept[1]!}`).address!);
      set.add(kept[0]!);
    } else {
      pending.push(link);
    }
  }
  // One walk per device and subnet, on from where the last address was taken.
  const walks = new Map<string, Generator<string, undefined>>();
  for (const link of pending) {
    const network = topology.networks.get(link.network)!;
    const subnet = network.subnet!;
    const set = takenOn(network);
    const key = `${network.device} ${subnet.cidr}`;
    let walk = walks.get(key);
    if (!walk) walks.set(key, walk = freeAddresses(subnet, set));
    const address = walk.next().value;
    if (address === undefined) {
      throw new TopologyFileError(topology.file, [{
        ...link.at, path: `links[${link.index}]`,
        message: `no free address left in ${subnet.cidr} (network ${network.key}) for auto: the addresses in use on ${network.device} take the rest (a bigger subnet, or fewer auto links)`,
      }]);
    }
    set.add(address);
    out.set(link.index, parseAddressSpec(`${address}/${subnet.prefix}`).address!);
  }
  return out;
}
