/**
 * The VXLAN device of a topology network that spans hosts (SPEC part G): one per network and
 * host, a port of the network's Linux bridge, with no learning; broadcasts reach the other hosts
 * by head-end replication (one all-zero FDB entry per peer host) or through a multicast group.
 * Pure: the live state is read in src/host/vxlan-facts.ts and handed in.
 */
import type { Step } from '../../model/plan.js';
import { ZERO_MAC, type LiveVxlan } from '../../host/vxlan-facts.js';
import type { Drift } from '../driver.js';
import type { NetworkRemoval } from './network.js';

export type { LiveVxlan } from '../../host/vxlan-facts.js';

/** Outer IPv4 (20) + UDP (8) + VXLAN (8) + inner Ethernet (14); IPv6's outer header is 40. */
export function vxlanOverhead(family: 4 | 6): number {
  return family === 6 ? 70 : 50;
}

/** The inner MTU an underlay of this MTU leaves. */
export function vxlanMtu(underlayMtu: number, family: 4 | 6): number {
  return underlayMtu - vxlanOverhead(family);
}

/** A VNI's device: deterministic, at most 3 + 8 = 11 characters (a VNI is one per host anyway). */
export function vxlanDeviceName(vni: number): string {
  return `pwx${vni}`;
}

/** A VXLAN device as one host makes it. */
export interface VxlanDevice {
  /** The topology network it serves. */
  network: string;
  name: string;
  vni: number;
  port: number;
  /** This host's underlay address (the outer source). */
  local: string;
  /** The underlay device. */
  dev?: string;
  group?: string;
  bridge: string;
  mtu: number;
  /** Underlay addresses of the other hosts (head-end replication; none with a group). */
  peers: { host: string; address: string }[];
}

function addArgs(d: VxlanDevice): string[] {
  const args = ['link', 'add', 'name', d.name, 'mtu', String(d.mtu), 'type', 'vxlan', 'id', String(d.vni), 'dstport', String(d.port), 'local', d.local];
  if (d.group !== undefined) args.push('group', d.group);
  if (d.dev !== undefined) args.push('dev', d.dev);
  args.push('nolearning');
  return args;
}

const fdb = (verb: 'append' | 'del', name: string, dst: string) => ({ kind: 'exec' as const, place: 'host' as const, argv: ['bridge', 'fdb', verb, ZERO_MAC, 'dev', name, 'dst', dst] });

/** The flood destinations the device should have (none with a group). */
function wantedFloods(d: VxlanDevice): string[] {
  return d.group !== undefined ? [] : d.peers.map((p) => p.address);
}

/** Does the live device carry the settings the file asks (else it is made again)? */
export function vxlanSettingsDiffer(d: VxlanDevice, live: LiveVxlan): string | undefined {
  if (live.vni !== d.vni) return `VNI ${String(live.vni)} instead of ${d.vni}`;
  if (live.port !== d.port) return `port ${String(live.port)} instead of ${d.port}`;
  if (live.local !== d.local) return `local address ${String(live.local)} instead of ${d.local}`;
  if ((live.group ?? undefined) !== d.group) return `group ${live.group ?? 'none'} instead of ${d.group ?? 'none'}`;
  return undefined;
}

/** Make the device (marked as `mark`'s), plug it into its bridge, flood broadcasts to the peers. */
export function createVxlan(d: VxlanDevice, mark: string): Step[] {
  return [
    {
      title: `create VXLAN device ${d.name} (VNI ${d.vni}, port ${d.port}, local ${d.local}${d.group !== undefined ? `, group ${d.group}` : ''}, no learning)`,
      action: { kind: 'ip', place: 'host', args: addArgs(d) },
      undo: [{ kind: 'ip', place: 'host', args: ['link', 'del', 'dev', d.name] }],
      needs: 'VXLAN devices (CONFIG_VXLAN)',
    },
    { title: `mark VXLAN device ${d.name} as pipework's`, action: { kind: 'ip', place: 'host', args: ['link', 'set', 'dev', d.name, 'alias', mark] }, undo: [] },
    { title: `plug ${d.name} into ${d.bridge} and bring it up`, action: { kind: 'ip', place: 'host', args: ['link', 'set', 'dev', d.name, 'master', d.bridge, 'up'] }, undo: [] },
    ...wantedFloods(d).map((dst): Step => ({ title: `flood broadcasts of ${d.name} to ${dst}`, action: fdb('append', d.name, dst), undo: [] })),
  ];
}

/** A drift of a VXLAN device, and what putting it right changes, in words. */
export interface VxlanDrift extends Drift {
  change: string;
}

/**
 * The device, live, against the file: missing (made), other settings (made again), not a port of
 * its bridge, another MTU, down or unmarked (set right), a peer's flood entry missing (added), one
 * for a host no longer in the file (removed).
 */
export function checkVxlan(d: VxlanDevice, live: LiveVxlan | undefined, mark: string): { drifts: VxlanDrift[] } {
  const wanted = wantedFloods(d);
  if (!live) {
    return {
      drifts: [{
        what: `${d.name} does not exist`, repair: createVxlan(d, mark),
        change: `made VXLAN device ${d.name} on ${d.bridge} (VNI ${d.vni}, MTU ${d.mtu}${wanted.length > 0 ? `, peers ${wanted.join(', ')}` : ''})`,
      }],
    };
  }
  const differs = vxlanSettingsDiffer(d, live);
  if (differs !== undefined) {
    return {
      drifts: [{
        what: differs,
        repair: [
          { title: `remove VXLAN device ${d.name} (${differs})`, action: { kind: 'ip', place: 'host', args: ['link', 'del', 'dev', d.name] }, undo: [], irreversible: true },
          ...createVxlan(d, mark),
        ],
        change: `replaced VXLAN device ${d.name} (${differs})`,
      }],
    };
  }
  const drifts: VxlanDrift[] = [];
  const state = [
    live.master !== d.bridge ? `not a port of ${d.bridge}` : '',
    live.mtu !== d.mtu ? `MTU ${live.mtu} instead of ${d.mtu}` : '',
    !live.up ? 'down' : '',
    live.alias !== mark ? 'not marked as this topology\'s' : '',
  ].filter((w) => w !== '');
  if (state.length > 0) {
    drifts.push({
      what: state.join(', '),
      repair: [{
        title: `set ${d.name} to MTU ${d.mtu}, a port of ${d.bridge}, up`,
        action: { kind: 'ip', place: 'host', args: ['link', 'set', 'dev', d.name, 'mtu', String(d.mtu), 'master', d.bridge, 'alias', mark, 'up'] },
        undo: [],
      }],
      change: `repaired VXLAN device ${d.name} (MTU, bridge or state)`,
    });
  }
  for (const p of d.group !== undefined ? [] : d.peers) {
    if (live.floods.includes(p.address)) continue;
    drifts.push({
      what: `no FDB entry for peer ${p.host} (${p.address})`,
      repair: [{ title: `flood broadcasts of ${d.name} to peer ${p.host} (${p.address})`, action: fdb('append', d.name, p.address), undo: [fdb('del', d.name, p.address)] }],
      change: `added peer ${p.host} (${p.address}) to ${d.name}`,
    });
  }
  for (const dst of live.floods) {
    if (wanted.includes(dst)) continue;
    drifts.push({
      what: `floods broadcasts to ${dst}, no longer a host of the file`,
      repair: [{ title: `stop flooding broadcasts of ${d.name} to ${dst} (no longer a host of the file)`, action: fdb('del', d.name, dst), undo: [fdb('append', d.name, dst)] }],
      change: `removed peer ${dst} from ${d.name}`,
    });
  }
  return { drifts };
}

/** The steps that make the device or put it right, and what they change in words. */
export function planVxlan(d: VxlanDevice, live: LiveVxlan | undefined, mark: string): { steps: Step[]; changes: string[] } {
  const { drifts } = checkVxlan(d, live, mark);
  return { steps: drifts.flatMap((x) => x.repair), changes: drifts.map((x) => x.change) };
}

/** Remove a VXLAN device `mark`'s owner made: only one that carries that mark. */
export function removeVxlan(name: string, live: { alias?: string } | undefined, mark: string): NetworkRemoval {
  if (!live) return { outcome: 'gone' };
  if (live.alias !== mark) return { outcome: 'keep', why: 'not made by this topology' };
  return { outcome: 'remove', steps: [{ title: `remove VXLAN device ${name}`, action: { kind: 'ip', place: 'host', args: ['link', 'del', 'dev', name] }, undo: [], irreversible: true }] };
}
