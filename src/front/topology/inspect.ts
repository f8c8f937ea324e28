/**
 * `pipework inspect FILE`: each link desired vs live — `ok`, `missing`, or `drift` with what
 * differs — and what the topology made that the file no longer names. The engine answers: every
 * link is planned as a dry run (nothing changes), and its plan says it all: nothing to do (ok),
 * a new interface (missing), repairs (drift: what had drifted), a replacement (drift: which
 * fields of the configuration differ).
 */
import { attachSpecs } from '../../engine/attach.js';
import type { RunContext } from '../../engine/context.js';
import { guestEntries, type InventoryEntry } from '../../engine/inventory.js';
import type { Guest as HeldGuest } from '../../guest/guest.js';
import { PipeworkError } from '../../model/errors.js';
import { configDiff, recordAddresses, type AttachRecord } from '../../model/record.js';
import { leftoverLinks } from './leftovers.js';
import { buildSpecs, resolveTopologyGuests } from './links.js';
import type { Problem } from './problems.js';
import { liveNeeds, markText, readLive, type Live } from './live.js';
import { networkPresent } from './make.js';
import { checkVxlan } from '../../engine/networks.js';
import { readVxlans } from '../../host/vxlan-facts.js';
import type { Runner } from '../../exec/runner.js';
import { linkName, ownerText, type Link, type Topology } from './model.js';

export type LinkState = 'ok' | 'missing' | 'drift' | 'unknown';

export interface LinkStatus {
  link: Link;
  status: LinkState;
  /** What differs (drift), or why it is missing. */
  details: string[];
  /** The live record, when there is one. */
  record?: AttachRecord;
  /** Addresses on the guest interface now. */
  addresses?: string[];
}

export interface InspectReport {
  topology: string;
  links: LinkStatus[];
  networks: { key: string; present: boolean }[];
  guests: { key: string; present: boolean; detail?: string }[];
  leftovers: { links: string[]; netns: string[]; containers: string[]; bridges: string[]; ovsBridges: string[] };
  /** A host's part of a multi-host file: each VXLAN device, its peers and whether each answers. */
  vxlans?: VxlanStatus[];
}

export interface VxlanStatus {
  network: string;
  device: string;
  vni: number;
  status: 'ok' | 'missing' | 'drift';
  details: string[];
  peers: { host: string; address: string; fdb: boolean; reachable: boolean }[];
}

/** One echo to a peer's underlay address (1 s): does the underlay reach it? */
async function answers(runner: Runner, address: string): Promise<boolean> {
  const res = await runner.run(['ping', '-n', '-c', '1', '-W', '1', address], { timeoutMs: 5_000 });
  return res.code === 0;
}

async function vxlanStatus(topology: Topology, ctx: RunContext): Promise<VxlanStatus[]> {
  const devices = topology.part?.vxlans ?? [];
  if (devices.length === 0) return [];
  const live = await readVxlans(ctx.runner);
  const reach = new Map<string, Promise<boolean>>();
  for (const d of devices) for (const p of d.peers) if (!reach.has(p.address)) reach.set(p.address, answers(ctx.runner, p.address));
  const out: VxlanStatus[] = [];
  for (const d of devices) {
    const l = live.get(d.name);
    // The device's own check, in its words (missing, other settings, MTU, state, flood entries).
    const details = checkVxlan(d, l, markText(topology.name)).drifts.map((x) => x.what);
    out.push({
      network: d.network, device: d.name, vni: d.vni, status: !l ? 'missing' : details.length > 0 ? 'drift' : 'ok', details,
      peers: await Promise.all(d.peers.map(async (p) => ({ ...p, fdb: l?.floods.includes(p.address) === true, reachable: await reach.get(p.address)! }))),
    });
  }
  return out;
}

export async function inspectTopology(topology: Topology, ctx: RunContext): Promise<InspectReport> {
  const dry: RunContext = { ...ctx, dryRun: true };
  const live = await readLive(topology.name, ctx.runner, liveNeeds(topology, (n) => ctx.cache.hostLinks.link(n)));
  if (live.ovs) dry.cache.ovs = Promise.resolve(live.ovs);
  // Guests that cannot be found are states here, not problems.
  const problems: Problem[] = [];
  const held = await resolveTopologyGuests(topology, dry, () => false, problems);
  const missingGuests = new Map<string, string>();
  for (const g of topology.guests.values()) {
    if (held.has(g.key) || !topology.links.some((l) => l.guest === g.key)) continue;
    missingGuests.set(g.key, problems.find((p) => p.path.startsWith(`guests.${g.key}.`))?.message ?? guestMissing(g.key, topology));
  }
  try {
    const report: InspectReport = {
      topology: topology.name,
      links: [],
      networks: [...topology.networks.values()].map((n) => ({ key: n.key, present: networkPresent(n, (d) => dry.cache.hostLinks.link(d), live.ovs) })),
      guests: [...topology.guests.values()].map((g) => ({ key: g.key, present: held.has(g.key), ...(missingGuests.has(g.key) && { detail: missingGuests.get(g.key)! }) })),
      leftovers: await leftovers(topology, live, held, dry),
      ...(topology.part && { vxlans: await vxlanStatus(topology, dry) }),
    };
    const specs = await buildSpecs(topology, live, held, dry, () => false);
    const entries = new Map<string, InventoryEntry[]>();
    const owner = ownerText(topology.name);
    for (const link of topology.links) {
      const guest = held.get(link.guest);
      if (!guest) {
        report.links.push({ link, status: 'missing', details: [missingGuests.get(link.guest) ?? `guest ${link.guest} is not there`] });
        continue;
      }
      if (!entries.has(link.guest)) entries.set(link.guest, await guestEntries(dry, guest.ns).catch(() => []));
      const entry = entries.get(link.guest)!.find((e) => e.record.guestIf === link.ifname);
      const base = { link, ...(entry && { record: entry.record }), ...(entry?.addresses && { addresses: entry.addresses }) };
      try {
        const [o] = await attachSpecs([specs.get(link.index)!], dry);
        if (!o) continue;
        if (o.outcome === 'unchanged') report.links.push({ ...base, status: 'ok', details: [] });
        else if (o.outcome === 'created') report.links.push({ ...base, status: 'missing', details: [`${link.ifname} is not in ${o.guest.label}`] });
        else if (o.outcome === 'repaired') report.links.push({ ...base, status: 'drift', details: o.plan.repairs ?? [] });
        else report.links.push({ ...base, status: 'drift', details: entry ? configDiff(entry.record, o.record) : ['its configuration differs'] });
      } catch (err) {
        if (!(err instanceof PipeworkError)) throw err;
        const mine = entry?.record.owner === owner;
        report.links.push({ ...base, status: err.reason === 'not-found' && !mine ? 'missing' : 'drift', details: [err.message] });
      }
    }
    return report;
  } finally {
    for (const g of held.values()) g.ns.close();
  }
}

function guestMissing(key: string, topology: Topology): string {
  const g = topology.guests.get(key)!;
  if (g.kind === 'netns') return `network namespace ${g.netns} does not exist`;
  if (g.kind === 'image') return `container ${g.container} is not running`;
  return `${g.text} is not there (or not running)`;
}

async function leftovers(topology: Topology, live: Live, held: Map<string, HeldGuest>, ctx: RunContext): Promise<InspectReport['leftovers']> {
  const netnsInFile = new Set([...topology.guests.values()].flatMap((g) => (g.kind === 'netns' ? [g.netns] : [])));
  const containersInFile = new Set([...topology.guests.values()].flatMap((g) => (g.kind === 'image' ? [g.container] : [])));
  const devices = new Set([...topology.networks.values()].map((n) => n.device));
  return {
    links: (await leftoverLinks(topology, live, held, ctx)).map((l) => `${l.guestText}:${l.guestIf}`),
    netns: [...live.netns.keys()].filter((n) => !netnsInFile.has(n)),
    containers: live.containers.filter((c) => !containersInFile.has(c.name)).map((c) => c.name),
    bridges: [...live.bridges].filter((b) => !devices.has(b)),
    ovsBridges: [...live.ovsBridges].filter((b) => !devices.has(b)),
  };
}

/** One line per link, for people. */
export function formatInspect(report: InspectReport): string {
  const rows = report.links.map((s) => [
    `links[${s.link.index}]`, linkName(s.link), s.link.network, s.status,
    s.status === 'ok' ? (s.addresses ?? (s.record ? recordAddresses(s.record) : [])).join(',') || '-' : s.details.join('; '),
  ]);
  const head = ['LINK', 'INTERFACE', 'NETWORK', 'STATE', 'DETAIL'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const lines = [head, ...rows].map((r) => r.map((v, i) => (i === r.length - 1 ? v : v.padEnd(widths[i]!))).join('  ').trimEnd());
  const l = report.leftovers;
  const extra = [
    ...l.links.map((x) => `leftover link ${x} (made by topology ${report.topology}, no longer in the file; apply removes it)`),
    ...l.netns.map((x) => `leftover network namespace ${x}`),
    ...l.containers.map((x) => `leftover container ${x}`),
    ...l.bridges.map((x) => `leftover bridge ${x}`),
    ...l.ovsBridges.map((x) => `leftover Open vSwitch bridge ${x}`),
  ];
  const vx = (report.vxlans ?? []).flatMap((v) => [
    `vxlan ${v.device} (network ${v.network}, VNI ${v.vni}): ${v.status}${v.details.length > 0 ? ` (${v.details.join('; ')})` : ''}`,
    ...v.peers.map((p) => `  peer ${p.host} ${p.address}: ${p.reachable ? 'reachable' : 'unreachable'}, FDB entry ${p.fdb ? 'present' : 'missing'}`),
  ]);
  return `${[...lines, ...vx, ...extra].join('\n')}\n`;
}
