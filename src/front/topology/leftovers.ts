/**
 * What a topology made that goes — by apply (what the file no longer names) and by destroy
 * (everything) — chosen by one function for the real run and its --dry-run alike, and removed
 * through the engine: links by the engine's detach (this owner's only) — or, in a netns the run
 * removes, by their host ends, all at once, before it — the containers it made as
 * entries of the run's journal, and its netns, VXLAN devices, Linux and Open vSwitch bridges by
 * their drivers' removal steps in two host plans (what holds ports first, then the bridges). A
 * bridge with a port that is not this topology's stays, and says why; one shared with another
 * topology is left to it.
 */
import type { RunContext } from '../../engine/context.js';
import { detachFromGuest } from '../../engine/detach.js';
import { execute } from '../../engine/executor.js';
import { guestEntries } from '../../engine/inventory.js';
import { mapLimit } from '../../engine/pool.js';
import { planHostEndsRemoval, unusedLinkGroup } from '../../engine/remove.js';
import { mergeLocks, type Plan, type Step } from '../../model/plan.js';
import type { AttachRecord } from '../../model/record.js';
import { removeBridge, removeOvsBridge, removeVxlan, type NetworkRemoval } from '../../engine/networks.js';
import { ipJsonBatch } from '../../exec/ip.js';
import { openNetns, type NetnsHandle } from '../../exec/netns.js';
import type { Guest as HeldGuest } from '../../guest/guest.js';
import { parseGuestRef, resolveGuest } from '../../guest/resolve.js';
import { readHostLink, type HostLink } from '../../host/links.js';
import { OVS_TIMEOUT } from '../../host/ovs-facts.js';
import type { AttachSpec } from '../../model/attach-spec.js';
import { removeContainer, type MadeContainer } from './containers.js';
import { anythingMade, markText, netnsInode, type Live } from './live.js';
import { topologyLocks } from './make.js';
import { ownerText, type Topology } from './model.js';
import { forgetOwned } from './owned.js';

/** A leftover interface of this topology: in which guest, which interface (and, found by its host end, its record). */
export interface Leftover {
  nsInode: number;
  guestIf: string;
  guestText: string;
  /** The record its host end carries (a veth's), when it was found by it. */
  hostEnd?: { link: string; record: AttachRecord };
}

/** Interfaces this topology made that the file does not name (any guest of the host); all of them without keepFileLinks. */
export async function leftoverLinks(topology: Topology | undefined, live: Live, held: Map<string, HeldGuest>, ctx: RunContext, keepFileLinks = true): Promise<Leftover[]> {
  const owner = ownerText(live.topology);
  const wanted = new Set<string>();
  for (const l of keepFileLinks ? topology?.links ?? [] : []) {
    const g = held.get(l.guest);
    if (g) wanted.add(`${g.ns.inode}/${l.ifname}`);
  }
  const found = new Map<string, Leftover>();
  for (const [key, e] of live.hostEnds) found.set(key, { nsInode: e.record.nsInode, guestIf: e.record.guestIf, guestText: e.record.guest, hostEnd: e });
  // Found inside a guest (its host end, if any, found already stays known).
  const inGuest = (r: AttachRecord) => {
    const key = `${r.nsInode}/${r.guestIf}`;
    const end = found.get(key)?.hostEnd;
    found.set(key, { nsInode: r.nsInode, guestIf: r.guestIf, guestText: r.guest, ...(end && { hostEnd: end }) });
  };
  // Guests where links without a host end were (state file), and those of the file: asked directly.
  const inside = new Map<number, { text: string; open: () => Promise<{ ns: NetnsHandle; close: boolean }> }>();
  for (const s of live.state?.inside ?? []) {
    inside.set(s.nsInode, {
      text: JSON.stringify(s.ref),
      open: async () => ({ ns: (await resolveGuest(s.ref, { runner: ctx.runner })).ns, close: true }),
    });
  }
  for (const l of topology?.links ?? []) {
    const g = held.get(l.guest);
    if (g && topology!.networks.get(l.network)!.kind === 'macvlan') inside.set(g.ns.inode, { text: l.guest, open: () => Promise.resolve({ ns: g.ns, close: false }) });
  }
  for (const [inode, { open }] of inside) {
    let handle;
    try {
      handle = await open();
    } catch {
      continue; // the guest is gone, and its links with it
    }
    try {
      if (handle.ns.inode !== inode) continue;
      for (const e of await guestEntries(ctx, handle.ns)) {
        if (e.record.owner === owner) inGuest(e.record);
      }
    } finally {
      if (handle.close) handle.ns.close();
    }
  }
  if (live.state === undefined && anythingMade(live)) {
    // The state file was lost (removed by hand): look everywhere once.
    const { inventory } = await import('../../engine/inventory.js');
    for (const e of await inventory(ctx)) {
      if (e.record.owner === owner && e.record.role === 'guest') inGuest(e.record);
    }
  }
  return [...found.entries()].filter(([k]) => !wanted.has(k)).map(([, v]) => v);
}

/** Detach leftovers through the engine (only this topology's; absent is fine), several guests at a time. */
export async function detachLeftovers(leftovers: Leftover[], held: Map<string, HeldGuest>, owner: string, ctx: RunContext): Promise<string[]> {
  const byInode = new Map<number, Leftover[]>();
  for (const l of leftovers) byInode.set(l.nsInode, [...(byInode.get(l.nsInode) ?? []), l]);
  const removed = await mapLimit([...byInode], ctx.concurrency, async ([inode, list]) => {
    let guest = [...held.values()].find((g) => g.ns.inode === inode);
    let opened = false;
    if (!guest) {
      try {
        guest = await resolveGuest(parseGuestRef(list[0]!.guestText), { runner: ctx.runner });
        opened = true;
      } catch {
        return []; // its guest is gone: its veths went with it
      }
      if (guest.ns.inode !== inode) {
        guest.ns.close();
        return [];
      }
    }
    const done: string[] = [];
    try {
      for (const l of list) {
        await detachFromGuest(guest, { guest: guestRefOfHeld(guest), which: { guestIf: l.guestIf }, owner: (o) => o === owner, ownerName: owner }, ctx);
        done.push(`${guest.kind}:${guest.name}:${l.guestIf}`);
      }
    } finally {
      if (opened) guest.ns.close();
    }
    return done;
  });
  return removed.flat();
}

function guestRefOfHeld(g: HeldGuest): AttachSpec['guest'] {
  return g.kind === 'pid' ? { kind: 'pid', pid: g.pid ?? 0 } : { kind: g.kind, name: g.name };
}

/** What a run keeps of what the topology made: apply, what its file names; destroy, nothing. */
export interface Keep {
  netns: ReadonlySet<string>;
  containers: ReadonlySet<string>;
  /** Bridges and Open vSwitch bridges the file's networks name. */
  devices: ReadonlySet<string>;
  vxlans: ReadonlySet<string>;
}

export const KEEP_NOTHING: Keep = { netns: new Set(), containers: new Set(), devices: new Set(), vxlans: new Set() };

/** What a file names (and its apply keeps). */
export function keepOf(topology: Topology): Keep {
  const guests = [...topology.guests.values()];
  return {
    netns: new Set(guests.flatMap((g) => (g.kind === 'netns' ? [g.netns] : []))),
    containers: new Set(guests.flatMap((g) => (g.kind === 'image' ? [g.container] : []))),
    devices: new Set([...topology.networks.values()].map((n) => n.device)),
    vxlans: new Set((topology.part?.vxlans ?? []).map((d) => d.name)),
  };
}

export interface RemovalInput {
  /** The topology (its owner mark). */
  topology: string;
  live: Live;
  keep: Keep;
  /** Its links that go (leftoverLinks). */
  links: Leftover[];
  /** The netns it made that may go. */
  netns: readonly string[];
  /** Host steps that go before the networks (destroy: the rows of its dead guests' OVS ports), the ports they remove, and the OVS bridges they change. */
  before?: { steps: Step[]; ports: string[]; ovsBridges: string[] };
  /** A device group no host link is in (unusedLinkGroup): its veths in netns that go are removed in it, at once. */
  group?: number;
}

/** What goes, and what stays (with why), as plans on the host. */
export interface Removals {
  links: Leftover[];
  /**
   * Of `links`, those that go with a netns this run removes: not detached inside it one by one —
   * their host ends are removed together (the first plan), which takes their guest ends.
   */
  withNetns: Leftover[];
  containers: MadeContainer[];
  netns: string[];
  vxlans: string[];
  bridges: string[];
  ovsBridges: string[];
  /** What it made that stays: "br-x (topology b uses it too)". */
  kept: string[];
  /** On the host: VXLAN devices, netns and the `before` steps first; then marks left to co-owners, bridges, OVS bridges. */
  first: Plan;
  last: Plan;
  /** Ports of its bridges that go before the bridges do (with the first plan, or before it). */
  going: string[];
}

/**
 * The one choice of what goes, for a run and its --dry-run alike (pure: what the host shows is
 * given). A bridge goes only if no port but those this run removes is in it; the removal steps
 * check it again when they run.
 */
export function chooseRemovals(
  input: RemovalInput, link: (name: string) => HostLink | undefined, ovsPorts: (bridge: string) => string[] | undefined,
  peerNetns: (port: string) => string | undefined = () => undefined, nsInodeOf: (netns: string) => number | undefined = () => undefined,
): Removals {
  const { topology, live, keep } = input;
  const mark = markText(topology);
  const r: Removals = {
    links: input.links, withNetns: [], containers: live.containers.filter((c) => !keep.containers.has(c.name)),
    netns: [...new Set(input.netns)].filter((n) => !keep.netns.has(n)), vxlans: [], bridges: [], ovsBridges: [], kept: [],
    first: { guestLabel: 'the host', steps: [], warnings: [], outcome: 'removed' }, last: { guestLabel: 'the host', steps: [], warnings: [], outcome: 'removed' }, going: [],
  };
  const vxlanSteps: Step[] = [];
  for (const v of [...live.vxlans].filter((x) => !keep.vxlans.has(x))) {
    const removal = removeVxlan(v, link(v), mark);
    if (removal.outcome === 'remove') {
      r.vxlans.push(v);
      vxlanSteps.push(...removal.steps);
    }
  }
  // Its links' host ends leave a bridge the file no longer names: as leftovers, or re-made on the
  // network the file names now (before the removals, in a real run).
  const hostEnds = [...live.hostEnds.values()].map((e) => e.link);
  const bridges = [...live.bridges].filter((b) => !keep.devices.has(b));
  // And a veth whose other end is in a netns this run removes goes with it (one a run given up
  // half-way made, before it could record it).
  const withNetns = bridges.flatMap((b) => link(b)?.ports ?? []).filter((p) => r.netns.includes(peerNetns(p) ?? ''));
  r.going = [...new Set([...hostEnds, ...r.vxlans, ...withNetns, ...(input.before?.ports ?? [])])];
  const leave: Step[] = [];
  const remove: Step[] = [];
  const take = (name: string, removal: NetworkRemoval, into: string[]) => {
    if (removal.outcome === 'remove') {
      into.push(name);
      remove.push(...removal.steps);
    } else if (removal.outcome === 'leave') {
      leave.push(...removal.steps);
      r.kept.push(`${name} (${removal.why})`);
    } else if (removal.outcome === 'keep') {
      r.kept.push(`${name} (${removal.why})`);
    }
  };
  // One a run given up made and never marked (the state file names it) is this topology's all the same.
  const seen = (b: string): HostLink | undefined => {
    const l = link(b);
    return l !== undefined && live.unmarkedBridges?.has(b) === true ? { ...l, alias: mark } : l;
  };
  for (const b of bridges) take(b, removeBridge(b, seen(b), topology, r.going), r.bridges);
  const ovsBridges = [...live.ovsBridges].filter((b) => !keep.devices.has(b));
  for (const b of ovsBridges) {
    const ports = ovsPorts(b);
    take(b, removeOvsBridge({ name: b, mark: topology, ...(ports !== undefined && { ports }) }, topology, r.going), r.ovsBridges);
  }
  // A netns that goes takes its links with it: those with a host end (a veth on a bridge or an
  // Open vSwitch port, no DHCP client to stop) are not detached inside it; their host ends are
  // removed at once, before it (deleting a netns alone leaves its veths to the kernel for seconds
  // after). The rest (a DHCP client, a macvlan's VLAN sub-interface) are detached as before.
  const goneInodes = new Set(r.netns.map(nsInodeOf).filter((i) => i !== undefined));
  const viaHostEnd = input.group === undefined ? [] : input.links.filter((l) => l.hostEnd !== undefined && goneInodes.has(l.nsInode)
    && l.hostEnd.record.dhcp === undefined && l.hostEnd.record.dhcp6 !== true);
  const ends = planHostEndsRemoval(viaHostEnd.map((l) => l.hostEnd!.record), link, input.group ?? 0);
  r.withNetns = viaHostEnd.filter((l) => ends.done.includes(l.hostEnd!.record));
  const netnsSteps = r.netns.map((n): Step => ({ title: `remove network namespace ${n}`, action: { kind: 'ip', place: 'host', args: ['netns', 'del', n] }, undo: [], irreversible: true }));
  r.first.steps = [...vxlanSteps, ...ends.steps, ...netnsSteps, ...(input.before?.steps ?? [])];
  r.first.locks = mergeLocks(topologyLocks({ netns: r.netns, vxlans: r.vxlans, ovsBridges: input.before?.ovsBridges ?? [] }), ends.locks);
  r.last.steps = [...leave, ...remove];
  r.last.locks = topologyLocks({ bridges, ovsBridges });
  return r;
}

/** Ports of an Open vSwitch bridge (undefined: Open vSwitch did not answer). */
async function listOvsPorts(ctx: RunContext, bridge: string): Promise<string[] | undefined> {
  const res = await ctx.runner.run(['ovs-vsctl', OVS_TIMEOUT, 'list-ports', bridge], { timeoutMs: 15_000 });
  return res.code === 0 ? res.stdout.split('\n').map((p) => p.trim()).filter((p) => p !== '') : undefined;
}

/** The named netns the other end of each port of these bridges is in (one `ip`); none known when it fails. */
async function peersOf(ctx: RunContext, bridges: string[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  if (bridges.length === 0) return out;
  try {
    const [named, ...ports] = await ipJsonBatch(ctx.runner, [['netns', 'list'], ...bridges.map((b) => ['link', 'show', 'master', b])], { where: 'the host' });
    const byId = new Map((named as { name?: string; id?: number }[]).flatMap((n) => (n.id !== undefined && n.name !== undefined ? [[n.id, n.name] as const] : [])));
    for (const list of ports) {
      for (const p of list as { ifname?: string; link_netnsid?: number }[]) {
        const ns = p.link_netnsid !== undefined ? byId.get(p.link_netnsid) : undefined;
        if (p.ifname !== undefined && ns !== undefined) out.set(p.ifname, ns);
      }
    }
  } catch {
    // Unknown: such a port counts as another's, and its bridge stays.
  }
  return out;
}

/** Read what the choice looks at (sysfs, Open vSwitch's ports of its bridges, ports' peers) and choose. */
export async function selectRemovals(input: RemovalInput, ctx: RunContext): Promise<Removals> {
  const ovs = new Map<string, string[] | undefined>();
  for (const b of input.live.ovsBridges) if (!input.keep.devices.has(b)) ovs.set(b, await listOvsPorts(ctx, b));
  // Only ports that are not its links' host ends need their peer looked up, and only when a netns
  // goes (a run given up before it recorded a link leaves such a port).
  const ours = new Set([...input.live.hostEnds.values()].map((e) => e.link));
  const goingNetns = input.netns.some((n) => !input.keep.netns.has(n));
  const bridges = [...input.live.bridges].filter((b) => !input.keep.devices.has(b) && (readHostLink(b)?.ports ?? []).some((p) => !ours.has(p)));
  const peers = goingNetns && bridges.length > 0 ? await peersOf(ctx, bridges) : new Map<string, string>();
  const group = goingNetns && input.links.some((l) => l.hostEnd !== undefined) ? unusedLinkGroup() : undefined;
  return chooseRemovals({ ...input, ...(group !== undefined && { group }) }, readHostLink, (b) => ovs.get(b), (p) => peers.get(p), (n) => input.live.netns.get(n) ?? netnsInode(n));
}

/** What a removal did: links detached, what it removed and what stayed. */
export interface Removed {
  links: string[];
  bridges: string[];
  ovsBridges: string[];
  kept: string[];
}

/**
 * Remove what was chosen, through the engine (and the run's journal, when it has one): links,
 * then containers, then the host plans. A bridge whose removal found a port when it ran stays.
 * `linksDone`: called once the links are detached (destroy lets go of its guests then).
 */
export async function removeChosen(r: Removals, held: Map<string, HeldGuest>, topology: string, ctx: RunContext, linksDone?: () => void): Promise<Removed> {
  const links = await detachLeftovers(r.links.filter((l) => !r.withNetns.includes(l)), held, ownerText(topology), ctx);
  linksDone?.();
  for (const c of r.containers) {
    await removeContainer(c.runtime, c.id);
    forgetOwned(topology, [c.id]);
    ctx.journal?.did({ title: `remove container ${c.name}` });
  }
  const kept = [...r.kept];
  // Those that go with their netns go in the first plan (it fails whole, or they are gone).
  links.push(...r.withNetns.map((l) => `${l.guestText}:${l.guestIf}`));
  if (r.first.steps.length + r.last.steps.length === 0) return { links, bridges: r.bridges, ovsBridges: r.ovsBridges, kept };
  const host = openNetns('/proc/self/ns/net', 'the host');
  try {
    await execute([{ plan: r.first, ns: host }], ctx);
    // A netns's veths (and a guest's) leave their bridge a moment after it went: wait, bounded.
    await settle(() => r.bridges.every((b) => !(readHostLink(b)?.ports ?? []).some((p) => r.going.includes(p))));
    await execute([{ plan: r.last, ns: host }], ctx);
  } finally {
    host.close();
  }
  const bridges = r.bridges.filter((b) => {
    const still = readHostLink(b);
    if (still?.isBridge === true) kept.push(`${b} (ports ${still.ports.join(', ')} joined it meanwhile)`);
    return still?.isBridge !== true;
  });
  const ovsBridges: string[] = [];
  for (const b of r.ovsBridges) {
    const ports = await listOvsPorts(ctx, b);
    if (ports !== undefined) kept.push(`${b} (${ports.length > 0 ? `ports ${ports.join(', ')} joined it meanwhile` : 'still there'})`);
    else ovsBridges.push(b);
  }
  return { links, bridges, ovsBridges, kept };
}

/** Wait until `done`, at most `timeoutMs`. */
async function settle(done: () => boolean, timeoutMs = 3_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
}
