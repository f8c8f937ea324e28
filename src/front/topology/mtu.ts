/**
 * A link's MTU against its Linux bridge's, before anything changes. The kernel takes a bridge
 * whose MTU nobody set down to its smallest port's, so one link with a smaller `mtu` lowers the
 * whole bridge — the host's own address on it included — while every other guest on it keeps
 * its MTU (and a frame that fits one end no longer fits the other). A link whose `mtu` is below
 * its bridge's is refused, unless that is the network's MTU as a whole: the bridge is this
 * topology's alone (made by it, or about to be; not external, no other topology's mark), it has
 * no port that is not this topology's (a link's host end, its VXLAN device), and every link on
 * it has that same `mtu`. Open vSwitch bridges and macvlan parents are not judged here.
 */
import type { HostLink } from '../../host/links.js';
import { markedBy } from '../../engine/networks.js';
import type { Live } from './live.js';
import { linkName, type Link, type Topology } from './model.js';
import type { Problem } from './problems.js';

const DEFAULT_MTU = 1500;

export function mtuProblems(topology: Topology, live: Pick<Live, 'hostEnds' | 'unmarkedBridges'>, link: (name: string) => HostLink | undefined): Problem[] {
  const out: Problem[] = [];
  // Networks by device (two networks may name one bridge).
  const devices = new Map<string, { keys: string[]; external: boolean; mtu?: number }>();
  for (const n of topology.networks.values()) {
    if (n.kind !== 'bridge') continue;
    const d = devices.get(n.device) ?? { keys: [], external: false };
    d.keys.push(n.key);
    d.external ||= n.external;
    if (d.mtu === undefined && n.mtu !== undefined) d.mtu = n.mtu;
    devices.set(n.device, d);
  }
  for (const [device, d] of devices) {
    const links = topology.links.filter((l) => d.keys.includes(l.network));
    const have = link(device);
    if (have !== undefined && !have.isBridge) continue; // not a Linux bridge: hostProblems says so
    // Its MTU when the links are plugged in: as it is, or as apply makes it.
    const bridgeMtu = have?.mtu ?? d.mtu ?? DEFAULT_MTU;
    const below = links.filter((l): l is Link & { mtu: number } => l.mtu !== undefined && l.mtu < bridgeMtu);
    if (below.length === 0) continue;
    // Its ports that are this topology's: its links' host ends, its part's VXLAN device (which takes the network's MTU).
    const ours = new Set([
      ...[...live.hostEnds.values()].filter((e) => e.record.hostIf === device).map((e) => e.link),
      ...(topology.part?.vxlans ?? []).filter((v) => v.bridge === device).map((v) => v.name),
    ]);
    const foreign = (have?.ports ?? []).filter((p) => !ours.has(p));
    // (One a run given up made and never marked is this topology's: live.ts.)
    const marks = have === undefined || live.unmarkedBridges?.has(device) === true ? [topology.name] : markedBy(have.alias);
    const own = !d.external && marks.length === 1 && marks[0] === topology.name;
    const one = below[0]!.mtu;
    if (own && foreign.length === 0 && links.every((l) => l.mtu === one)) continue;
    const whose = d.external ? 'an external bridge' : !own ? (marks.length > 0 ? `shared with topology ${marks.filter((m) => m !== topology.name).join(', ')}` : 'not made by this topology') : undefined;
    const others = [
      ...links.filter((l) => l.mtu !== one).map((l) => linkName(l)),
      ...foreign,
    ];
    const network = d.keys.length === 1 ? `mtu: ${one} on network ${d.keys[0]!}` : `mtu: ${one} on networks ${d.keys.join(', ')}`;
    for (const l of below) {
      const affects = others.length > 0 ? ` while ${others.length > 3 ? `${others.slice(0, 2).join(', ')} and ${others.length - 2} more` : others.join(', ')} keep${others.length === 1 ? 's' : ''} ${bridgeMtu}` : '';
      const fix = whose === undefined ? `give every link on ${device} mtu ${l.mtu} (${network}), or remove this link's mtu` : `lower ${device}'s MTU to ${l.mtu} first if every port can take it, or remove this link's mtu`;
      out.push({
        line: l.at.line, col: l.at.col, path: `links[${l.index}].mtu`,
        message: `${linkName(l)} has mtu ${l.mtu}, below the MTU of bridge ${device} (${bridgeMtu}${whose !== undefined ? `, ${whose}` : ''}): plugged in, it would lower the whole bridge to ${l.mtu} (unless its MTU was set by hand)${affects}; ${fix}`,
      });
    }
  }
  return out;
}
