/**
 * The VXLAN host side of a topology network that spans hosts (SPEC part G): one VXLAN device per
 * network and host, a port of the network's Linux bridge, with no learning; broadcasts reach
 * the other hosts by head-end replication (one all-zero FDB entry per peer host) or through a
 * multicast group. Unlike the other drivers it serves a network, not one attach: the topology
 * door (src/front/topology/make.ts) plans it with the bridges. Pure: the live state is read
 * elsewhere (readVxlans) and handed in.
 */
import type { Step } from '../engine/plan.js';
import type { Runner } from '../exec/runner.js';

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

export const ZERO_MAC = '00:00:00:00:00:00';

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

/** A VXLAN device as it is live. */
export interface LiveVxlan {
  name: string;
  vni?: number;
  port?: number;
  local?: string;
  group?: string;
  alias?: string;
  master?: string;
  mtu: number;
  up: boolean;
  /** Destinations of its all-zero FDB entries. */
  floods: string[];
}

function addArgs(d: VxlanDevice): string[] {
  const args = ['link', 'add', 'name', d.name, 'mtu', String(d.mtu), 'type', 'vxlan', 'id', String(d.vni), 'dstport', String(d.port), 'local', d.local];
  if (d.group !== undefined) args.push('group', d.group);
  if (d.dev !== undefined) args.push('dev', d.dev);
  args.push('nolearning');
  return args;
}

const fdb = (verb: 'append' | 'del', name: string, dst: string) => ({ kind: 'exec' as const, place: 'host' as const, argv: ['bridge', 'fdb', verb, ZERO_MAC, 'dev', name, 'dst', dst] });

/** Does the live device carry the settings the file asks (else it is made again)? */
export function vxlanSettingsDiffer(d: VxlanDevice, live: LiveVxlan): string | undefined {
  if (live.vni !== d.vni) return `VNI ${String(live.vni)} instead of ${d.vni}`;
  if (live.port !== d.port) return `port ${String(live.port)} instead of ${d.port}`;
  if (live.local !== d.local) return `local address ${String(live.local)} instead of ${d.local}`;
  if ((live.group ?? undefined) !== d.group) return `group ${live.group ?? 'none'} instead of ${d.group ?? 'none'}`;
  return undefined;
}

/** The steps that make the device or put it right, and what they change in words. */
export function planVxlan(d: VxlanDevice, live: LiveVxlan | undefined, mark: string): { steps: Step[]; changes: string[] } {
  const steps: Step[] = [];
  const changes: string[] = [];
  const differs = live ? vxlanSettingsDiffer(d, live) : undefined;
  if (live && differs !== undefined) {
    steps.push({ title: `remove VXLAN device ${d.name} (${differs})`, action: { kind: 'ip', place: 'host', args: ['link', 'del', 'dev', d.name] }, undo: [], irreversible: true });
    changes.push(`replaced VXLAN device ${d.name} (${differs})`);
  }
  const wanted = d.group !== undefined ? [] : d.peers.map((p) => p.address);
  if (!live || differs !== undefined) {
    steps.push(
      {
        title: `create VXLAN device ${d.name} (VNI ${d.vni}, port ${d.port}, local ${d.local}${d.group !== undefined ? `, group ${d.group}` : ''}, no learning)`,
        action: { kind: 'ip', place: 'host', args: addArgs(d) },
        undo: [{ kind: 'ip', place: 'host', args: ['link', 'del', 'dev', d.name] }],
      },
      { title: `mark VXLAN device ${d.name} as pipework's`, action: { kind: 'ip', place: 'host', args: ['link', 'set', 'dev', d.name, 'alias', mark] }, undo: [] },
      { title: `plug ${d.name} into ${d.bridge} and bring it up`, action: { kind: 'ip', place: 'host', args: ['link', 'set', 'dev', d.name, 'master', d.bridge, 'up'] }, undo: [] },
      ...wanted.map((dst): Step => ({ title: `flood broadcasts of ${d.name} to ${dst}`, action: fdb('append', d.name, dst), undo: [] })),
    );
    if (!live) changes.push(`made VXLAN device ${d.name} on ${d.bridge} (VNI ${d.vni}, MTU ${d.mtu}${wanted.length > 0 ? `, peers ${wanted.join(', ')}` : ''})`);
    return { steps, changes };
  }
  if (live.master !== d.bridge || live.mtu !== d.mtu || !live.up || live.alias !== mark) {
    steps.push({
      title: `set ${d.name} to MTU ${d.mtu}, a port of ${d.bridge}, up`,
      action: { kind: 'ip', place: 'host', args: ['link', 'set', 'dev', d.name, 'mtu', String(d.mtu), 'master', d.bridge, 'alias', mark, 'up'] },
      undo: [],
    });
    changes.push(`repaired VXLAN device ${d.name} (MTU, bridge or state)`);
  }
  for (const p of d.group !== undefined ? [] : d.peers) {
    if (live.floods.includes(p.address)) continue;
    steps.push({ title: `flood broadcasts of ${d.name} to peer ${p.host} (${p.address})`, action: fdb('append', d.name, p.address), undo: [fdb('del', d.name, p.address)] });
    changes.push(`added peer ${p.host} (${p.address}) to ${d.name}`);
  }
  for (const dst of live.floods) {
    if (wanted.includes(dst)) continue;
    steps.push({ title: `stop flooding broadcasts of ${d.name} to ${dst} (no longer a host of the file)`, action: fdb('del', d.name, dst), undo: [fdb('append', d.name, dst)] });
    changes.push(`removed peer ${dst} from ${d.name}`);
  }
  return { steps, changes };
}

/** The step that removes a VXLAN device pipework made. */
export function planVxlanDel(name: string): Step {
  return { title: `remove VXLAN device ${name}`, action: { kind: 'ip', place: 'host', args: ['link', 'del', 'dev', name] }, undo: [], irreversible: true };
}

interface RawVxlanLink {
  ifname: string;
  ifalias?: string;
  master?: string;
  mtu: number;
  flags?: string[];
  linkinfo?: { info_kind?: string; info_data?: { id?: number; port?: number; local?: string; local6?: string; group?: string; group6?: string } };
}

/** `ip -json -details link show type vxlan` → the devices (pure, for tests). */
export function parseVxlanLinks(json: unknown): LiveVxlan[] {
  if (!Array.isArray(json)) return [];
  return (json as RawVxlanLink[]).filter((l) => l.linkinfo?.info_kind === 'vxlan').map((l) => {
    const data = l.linkinfo?.info_data ?? {};
    const local = data.local ?? data.local6;
    const group = data.group ?? data.group6;
    return {
      name: l.ifname, mtu: l.mtu, up: l.flags?.includes('UP') === true, floods: [],
      ...(data.id !== undefined && { vni: data.id }),
      ...(data.port !== undefined && { port: data.port }),
      ...(local !== undefined && { local: local.toLowerCase() }),
      ...(group !== undefined && { group: group.toLowerCase() }),
      ...(l.ifalias !== undefined && { alias: l.ifalias }),
      ...(l.master !== undefined && { master: l.master }),
    };
  });
}

/** `bridge -json fdb show dev X` → destinations of its all-zero entries (pure, for tests). */
export function parseFloods(json: unknown): string[] {
  if (!Array.isArray(json)) return [];
  return (json as { mac?: string; dst?: string }[]).filter((e) => e.mac === ZERO_MAC && typeof e.dst === 'string').map((e) => e.dst!.toLowerCase());
}

/** Every VXLAN device of this network namespace, with its flood entries. */
export async function readVxlans(runner: Runner): Promise<Map<string, LiveVxlan>> {
  const out = new Map<string, LiveVxlan>();
  const res = await runner.run(['ip', '-json', '-details', 'link', 'show', 'type', 'vxlan'], { timeoutMs: 15_000 });
  if (res.code !== 0 || res.stdout.trim() === '') return out;
  for (const l of parseVxlanLinks(JSON.parse(res.stdout))) {
    const f = await runner.run(['bridge', '-json', 'fdb', 'show', 'dev', l.name], { timeoutMs: 15_000 });
    if (f.code === 0 && f.stdout.trim() !== '') l.floods = parseFloods(JSON.parse(f.stdout));
    out.set(l.name, l);
  }
  return out;
}
