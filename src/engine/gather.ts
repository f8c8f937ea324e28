/**
 * The one fact gatherer: what a spec needs to know, read once into plain data (src/drivers/facts.ts).
 * It spawns as little as it can: host links come from sysfs, a guest with a PID is read through
 * /proc, and `ip` is asked only where nothing else can tell (an interface that exists, a link's
 * kind, a netns guest's routes).
 */
import { ipJsonBatch } from '../exec/ip.js';
import { hasProgram } from '../exec/programs.js';
import { gatherDhcpFacts } from '../dhcp/environment.js';
import { driverFor } from '../drivers/registry.js';
import { guestFactsFromProc, readGuestFacts, type GuestFacts } from '../guest/netstate.js';
import type { Guest } from '../guest/guest.js';
import type { HostLink } from '../host/links.js';
import { readOvsFacts, readOvsPortTable } from '../host/ovs-facts.js';
import type { AttachSpec } from '../model/attach-spec.js';
import type { RunContext } from './context.js';
import type { Facts } from '../drivers/facts.js';
import type { GuestInfo } from '../model/guest-info.js';
import { vethHostName, type AttachNames } from '../drivers/names.js';
import { confirmedRecord } from './trust.js';

export function guestInfo(guest: Guest): GuestInfo {
  return {
    kind: guest.kind,
    name: guest.name,
    ...(guest.id !== undefined && { id: guest.id }),
    ...(guest.pid !== undefined && { pid: guest.pid }),
    nsInode: guest.ns.inode,
    label: guest.ns.label,
  };
}

interface RawLink {
  ifname: string;
  link?: string;
  linkinfo?: { info_kind?: string; info_data?: { id?: number } };
}

/** `ip -d` details (kind, VLAN id and parent) of host links that exist: one process, only when needed. */
async function addDetails(ctx: RunContext, links: HostLink[]): Promise<void> {
  if (links.length === 0) return;
  const results = await ipJsonBatch(ctx.runner, links.map((l) => ['link', 'show', 'dev', l.name]), { where: 'the host' });
  for (const [raw] of results as RawLink[][]) {
    const link = links.find((l) => l.name === raw?.ifname);
    if (!raw || !link) continue;
    if (raw.linkinfo?.info_kind !== undefined) link.kind = raw.linkinfo.info_kind;
    if (raw.linkinfo?.info_data?.id !== undefined) link.vlanId = raw.linkinfo.info_data.id;
    if (raw.link !== undefined) link.parent = raw.link;
  }
}

/**
 * The guest's links and routes. `full`: one `ip` run inside the guest. Otherwise /proc when the
 * guest has a PID, or — for a guest with no PID, no gateway to route and no host end in the way
 * — nothing at all: the plan assumes the interface is new, and if the kernel says it exists
 * after all ("File exists"), the engine plans again with the full read.
 */
async function guestFacts(ctx: RunContext, spec: AttachSpec, guest: Guest, names: AttachNames, full: boolean): Promise<GuestFacts> {
  // A NIC moved in (--direct-phys) may already be in the guest (a re-run): nothing on the host tells.
  if (full || ctx.dryRun || driverFor(spec.host.kind).movesIn === true) return readGuestFacts(ctx.runner, guest.ns);
  const a = spec.addressing;
  const routes = a.kind === 'static' && a.gateway6 !== undefined ? 6 : a.kind === 'static' && a.gateway4 !== undefined ? 4 : 'none';
  const fast = guestFactsFromProc(guest.pid, guest.ns.inode, routes);
  if (fast) return fast.links.some((l) => l.name === spec.guestIf) ? readGuestFacts(ctx.runner, guest.ns) : fast;
  const hostEnd = names.hostEnd ?? vethHostName({ nsInode: guest.ns.inode }, spec.guestIf);
  if (guest.pid === undefined && routes === 'none' && !ctx.cache.hostLinks.link(hostEnd)) return { links: [], routes: [], complete: false };
  return readGuestFacts(ctx.runner, guest.ns);
}

export async function gatherFacts(ctx: RunContext, spec: AttachSpec, guest: Guest, names: AttachNames, full: boolean): Promise<Facts> {
  const driver = driverFor(spec.host.kind);
  const [guestSide, ovs] = await Promise.all([
    guestFacts(ctx, spec, guest, names, full),
    driver.needsOvs === true ? (ctx.cache.ovs ??= readOvsFacts(ctx.runner, ctx.cache.programs)) : undefined,
  ]);
  const present = guestSide.links.find((l) => l.name === spec.guestIf);
  const existing = present !== undefined ? confirmedRecord(present, guest.ns.inode, ctx.cache.hostLinks) : undefined;

  const hostNames = [...driver.hostLinks(spec.host as never), names.hostEnd, names.vlanIf, existing?.localIf].filter((n): n is string => n !== undefined);
  const host: Record<string, HostLink | null> = {};
  for (const name of hostNames) {
    const link = ctx.cache.hostLinks.link(name);
    // A copy: details added below belong to this plan's facts, not to the cache.
    host[name] = link ? { ...link } : null;
  }
  // A link's kind matters only where the plan would make one of that name (it refuses what is not its own).
  const creating = !present || (existing !== undefined && spec.onConflict === 'replace');
  const detailed = creating ? [names.hostEnd, names.vlanIf].map((n) => (n !== undefined ? host[n] : null)).filter((l): l is HostLink => !!l) : [];
  const facts: Facts = { host, guest: guestSide, arping: hasProgram('arping', ctx.cache.programs), ...(existing !== undefined && { existing }) };
  await addDetails(ctx, detailed);
  if (ovs !== undefined) facts.ovs = ovs;
  // The port rows of the host end: a re-run checks its row; a new port replaces a row of its name
  // a guest that died may have left (once a run: a batch reads the table once).
  if (ovs?.dbRunning === true) {
    const table = await (ctx.cache.ovsPorts ??= readOvsPortTable(ctx.runner));
    const ports = [names.hostEnd, existing !== undefined && driverFor(existing.hostKind).needsOvs === true ? existing.localIf : undefined].filter((n): n is string => n !== undefined);
    facts.ovsPorts = Object.fromEntries(ports.map((n) => [n, table.get(n) ?? null]));
  }
  const a = spec.addressing;
  if (a.kind === 'dhcp') facts.dhcp = await gatherDhcpFacts({ method: a.method, timeoutSec: a.timeoutSec, ...(a.image !== undefined && { image: a.image }) }, guest, ctx.cache.programs);
  if (existing?.dhcp !== undefined && spec.onConflict === 'replace') {
    facts.replacedDhcp = await gatherDhcpFacts({ method: existing.dhcp }, guest, ctx.cache.programs).catch(() => undefined);
    if (facts.replacedDhcp === undefined) delete facts.replacedDhcp;
  }
  return facts;
}
