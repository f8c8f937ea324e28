/**
 * `pipework inspect FILE`: each link desired vs live — `ok`, `missing`, or `drift` with what
 * differs — and what the topology made that the file no longer names. The engine answers: every
 * link is planned as a dry run (nothing changes), and its plan says it all: nothing to do (ok),
 * a new interface (missing), repairs (drift: what had drifted), a replacement (drift: which
 * fields of the configuration differ). Links are planned as apply would plan them: a bridge
 * apply would make again (deleted by hand) counts as made, so what is told is what apply does.
 * Scripts read the answer from the exit code (`differs`): 0 the host matches the file,
 * INSPECT_DIFFERS it does not, 1 an error.
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
import { liveNeeds, markText, netnsInode, readLive, type Live } from './live.js';
import { networkPresent, PlannedHostLinks, plannedBridges, planMake, type MakePlan } from './make.js';
import { checkVxlan } from '../../engine/networks.js';
import { readVxlans } from '../../host/vxlan-facts.js';
import type { Runner } from '../../exec/runner.js';
import { linkName, ownerText, type Link, type Topology } from './model.js';

export type LinkState = 'ok' | 'missing' | 'drift' | 'unknown';

/** inspect's exit code when the host differs from the file (0: it matches; 1: an error). */
export const INSPECT_DIFFERS = 2;

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
  /** Each network's device; `made`: missing, and apply makes it again (not external, not a NIC). */
  networks: { key: string; present: boolean; device?: string; made?: boolean }[];
  /** `made`: missing, and apply makes or starts it (a netns, an image's container). */
  guests: { key: string; present: boolean; detail?: string; made?: boolean }[];
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

/** What apply would make (netns, bridges, OVS bridges); undefined when it cannot tell (apply refuses then). */
function wouldMake(topology: Topology, live: Live, ctx: RunContext): MakePlan | undefined {
  try {
    return planMake(topology, live, (n) => ctx.cache.hostLinks.link(n), (n) => netnsInode(n) !== undefined);
  } catch {
    return undefined;
  }
}

export async function inspectTopology(topology: Topology, ctx: RunContext): Promise<InspectReport> {
  const live = await readLive(topology.name, ctx.runner, liveNeeds(topology, (n) => ctx.cache.hostLinks.link(n)));
  const networks = [...topology.networks.values()].map((n) => ({ key: n.key, device: n.device, present: networkPresent(n, (d) => ctx.cache.hostLinks.link(d), live.ovs) }));
  // Links plan as apply plans them: with the bridges it would make again.
  const make = wouldMake(topology, live, ctx);
  const dry: RunContext = { ...ctx, dryRun: true, cache: { ...ctx.cache, hostLinks: new PlannedHostLinks(plannedBridges(topology, make?.bridges ?? [])) } };
  if (live.ovs) dry.cache.ovs = Promise.resolve({ ...live.ovs, bridges: [...live.ovs.bridges, ...(make?.ovsBridges ?? [])] });
  const made = new Set([...(make?.bridges ?? []), ...(make?.ovsBridges ?? [])]);
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
      networks: networks.map((n) => ({ ...n, ...(!n.present && { made: made.has(n.device) }) })),
      guests: [...topology.guests.values()].map((g) => ({
        key: g.key, present: held.has(g.key), ...(missingGuests.has(g.key) && { detail: missingGuests.get(g.key)!, made: g.kind !== 'container' }),
      })),
      leftovers: await leftovers(topology, live, held, dry),
      ...(topology.part && { vxlans: await vxlanStatus(topology, dry) }),
    };
    // A link on a network apply makes again says so first.
    const gone = new Map(report.networks.filter((n) => n.made === true).map((n) => [n.key, `${topology.networks.get(n.key)!.kind === 'ovs' ? 'Open vSwitch bridge' : 'bridge'} ${n.device!} is missing (apply makes it again)`]));
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
      const first = gone.has(link.network) ? [gone.get(link.network)!] : [];
      try {
        const [o] = await attachSpecs([specs.get(link.index)!], dry);
        if (!o) continue;
        if (o.outcome === 'unchanged') report.links.push({ ...base, status: first.length > 0 ? 'drift' : 'ok', details: first });
        else if (o.outcome === 'created') report.links.push({ ...base, status: 'missing', details: [...first, `${link.ifname} is not in ${o.guest.label}`] });
        else if (o.outcome === 'repaired') report.links.push({ ...base, status: 'drift', details: [...first, ...(o.plan.repairs ?? [])] });
        else report.links.push({ ...base, status: 'drift', details: [...first, ...(entry ? configDiff(entry.record, o.record) : ['its configuration differs'])] });
      } catch (err) {
        if (!(err instanceof PipeworkError)) throw err;
        const mine = entry?.record.owner === owner;
        report.links.push({ ...base, status: err.reason === 'not-found' && !mine ? 'missing' : 'drift', details: [...first, err.message] });
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

/** Does the host differ from the file: a link not ok, a network, guest or VXLAN device not as it says, a leftover? (A peer that does not answer is no difference: apply cannot change it.) */
export function differs(report: InspectReport): boolean {
  return report.links.some((l) => l.status !== 'ok') || report.networks.some((n) => !n.present)
    || report.guests.some((g) => !g.present && g.detail !== undefined) || Object.values(report.leftovers).some((x) => x.length > 0)
    || (report.vxlans ?? []).some((v) => v.status !== 'ok');
}

/** One line per link, for people; `file` (as given) for the advice when the host differs. */
export function formatInspect(report: InspectReport, file?: string): string {
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
  const nets = report.networks.filter((n) => !n.present).map((n) => `network ${n.key}: ${n.device ?? ''} is missing${n.made === true ? ' (apply makes it again)' : ' (apply never makes it: create it first)'}`);
  // What apply cannot put right: a network it never makes (external, a NIC), a container: guest not there.
  const cannot = [
    ...report.networks.filter((n) => !n.present && n.made !== true).map((n) => `network ${n.key}`),
    ...report.guests.filter((g) => !g.present && g.detail !== undefined && g.made !== true).map((g) => `guest ${g.key}`),
  ];
  const advice = file === undefined || !differs(report) ? []
    : cannot.length > 0 ? [`the host differs from the file; 'pipework apply ${file}' makes it match once ${cannot.join(', ')} ${cannot.length > 1 ? 'are' : 'is'} there`]
      : [`the host differs from the file: 'pipework apply ${file}' makes it match`];
  return `${[...lines, ...vx, ...nets, ...extra, ...advice].join('\n')}\n`;
}
