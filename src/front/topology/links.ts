/**
 * The file's links against the host: its guests resolved (their namespaces held), and one attach
 * spec per link with `address: auto` settled — for apply, its --dry-run and inspect alike.
 */
import type { RunContext } from '../../engine/context.js';
import { guestEntries } from '../../engine/inventory.js';
import { ipJsonBatch } from '../../exec/ip.js';
import type { Guest as HeldGuest } from '../../guest/guest.js';
import { resolveGuest } from '../../guest/resolve.js';
import { readHostLink } from '../../host/links.js';
import { PipeworkError } from '../../model/errors.js';
import { recordAddresses, type AttachRecord } from '../../model/record.js';
import type { AttachSpec } from '../../model/attach-spec.js';
import type { Live } from './live.js';
import { ownerText, type TopologyGuest, type Link, type Topology } from './model.js';
import type { Problem } from './problems.js';
import { assignAuto, guestRefOf, specOf } from './specs.js';

/** Resolve the guests that exist now (by key); problems for those that should and do not. */
export async function resolveTopologyGuests(topology: Topology, ctx: RunContext, skip: (g: TopologyGuest) => boolean, problems: Problem[]): Promise<Map<string, HeldGuest>> {
  const held = new Map<string, HeldGuest>();
  for (const g of topology.guests.values()) {
    if (skip(g) || !topology.links.some((l) => l.guest === g.key)) continue;
    try {
      held.set(g.key, await resolveGuest(guestRefOf(g), { runner: ctx.runner }));
    } catch (err) {
      if (!(err instanceof PipeworkError)) throw err;
      problems.push({ line: g.at.line, col: g.at.col, path: `guests.${g.key}.${g.kind}`, message: err.message });
    }
  }
  return held;
}


/** Records of this topology's links, by `<nsInode>/<guestIf>`: host ends, and inside guests with no host end. */
async function liveRecords(topology: Topology, live: Live, held: Map<string, HeldGuest>, ctx: RunContext): Promise<Map<string, AttachRecord>> {
  const out = new Map<string, AttachRecord>();
  for (const [key, e] of live.hostEnds) out.set(key, e.record);
  // Guests whose links (in the file) have no host end are asked directly.
  const inside = new Set<string>();
  for (const l of topology.links) if (topology.networks.get(l.network)!.kind === 'macvlan') inside.add(l.guest);
  const owner = ownerText(topology.name);
  for (const key of inside) {
    const g = held.get(key);
    if (!g) continue;
    for (const e of await guestEntries(ctx, g.ns)) if (e.record.owner === owner) out.set(`${e.record.nsInode}/${e.record.guestIf}`, e.record);
  }
  return out;
}

/** Addresses on a device that are not the topology's to give: the host's own there, other pipework interfaces'. */
async function addressesInUse(device: string, live: Live, ctx: RunContext): Promise<string[]> {
  const out = live.allHostEnds.filter((e) => e.record.hostIf === device).flatMap((e) => recordAddresses(e.record).map((c) => c.split('/')[0]!));
  if (readHostLink(device) !== undefined) {
    try {
      const [links] = await ipJsonBatch(ctx.runner, [['addr', 'show', 'dev', device]], { where: 'the host' });
      for (const l of links as { addr_info?: { local: string }[] }[]) for (const a of l.addr_info ?? []) out.push(a.local);
    } catch {
      // a device that went meanwhile has no addresses
    }
  }
  return out;
}

/** Specs of every link (auto addresses settled). */
export async function buildSpecs(topology: Topology, live: Live, held: Map<string, HeldGuest>, ctx: RunContext, create: (l: Link) => boolean): Promise<Map<number, AttachSpec>> {
  const records = await liveRecords(topology, live, held, ctx);
  const inUse = new Map<string, string[]>();
  for (const l of topology.links) {
    const n = topology.networks.get(l.network)!;
    if (l.addressing.kind === 'static' && l.addressing.auto && !inUse.has(n.device)) inUse.set(n.device, await addressesInUse(n.device, live, ctx));
  }
  const auto = assignAuto({
    topology,
    recordOf: (l) => {
      const g = held.get(l.guest);
      return g ? records.get(`${g.ns.inode}/${l.ifname}`) : undefined;
    },
    inUse: (n) => inUse.get(n.device) ?? [],
  });
  return new Map(topology.links.map((l) => [l.index, specOf(topology, l, auto.get(l.index), create(l))]));
}

