/**
 * `pipework apply FILE`: make the host match the file, all or nothing.
 *
 *   1. Read what the topology made (live.ts) and check the host against the file (external
 *      networks there, names not taken by other kinds): problems are reported like the file's.
 *   2. Start the containers of `image:` guests that are not running.
 *   3. One plan (plan 1 of the run, for PIPEWORK_FAIL_STEP) makes the missing netns, bridges and
 *      OVS bridges, each marked.
 *   4. Every link that is not quickly seen to be as the file says (quick.ts) goes to the engine
 *      in one call (plans 2, 3, … of the run): made, repaired, or replaced when its configuration
 *      changed; the others are not touched.
 *   If 2–4 fail (or are interrupted), everything they did is undone: the engine undoes its
 *   plans, and this undoes plan 1 and the containers.
 *   5. What the topology made that the file no longer names goes: links (through the engine's
 *      detach, with this topology's owner filter), then the netns and containers it made, then
 *      the bridges it made once nothing is plugged into them.
 */
import { attachSpecs, type AttachOutcome } from '../../engine/attach.js';
import type { FailPoint, RunContext } from '../../engine/context.js';
import { detachFromGuest } from '../../engine/detach.js';
import { execute, rollback } from '../../engine/executor.js';
import { guestInfo } from '../../engine/gather.js';
import { guestEntries } from '../../engine/inventory.js';
import { acquire, describeKey } from '../../engine/lock.js';
import { mapLimit } from '../../engine/pool.js';
import { lockKey, type Plan, type Step } from '../../engine/plan.js';
import { openNetns, type NetnsHandle } from '../../exec/netns.js';
import { ipJsonBatch } from '../../exec/ip.js';
import type { Guest as HeldGuest } from '../../guest/guest.js';
import { parseGuestRef, resolveGuest } from '../../guest/resolve.js';
import { HostLinkCache, readHostLink, type HostLink } from '../../host/facts.js';
import { readOvsPortTable } from '../../host/ovs-facts.js';
import { readVxlans, type LiveVxlan } from '../../host/vxlan-facts.js';
import { InterruptedError, PipeworkError } from '../../model/errors.js';
import { recordAddresses, type AttachRecord } from '../../model/record.js';
import type { AttachSpec } from '../../spec/attach-spec.js';
import { containerAction, createContainer, pruneOwned, removeContainer, startContainer, stopContainer, type MadeContainer } from './containers.js';
import { forgetOwned, readOwned, recordOwned } from './owned.js';
import { TopologyFileError, type Problem } from './problems.js';
import { anythingMade, markedLinks, netnsInode, readLive, removeState, writeState, type Live, type StateFile } from './live.js';
import { bridgeRelease, hostProblems, planMake, planUnmake, topologyLocks, type MakePlan } from './make.js';
import { linkName, ownerText, type Guest, type Link, type Topology } from './model.js';
import { quickUnchanged } from './quick.js';
import { assignAuto, guestRefOf, specOf } from './specs.js';

export interface LinkReport {
  link: Link;
  /** What happened (or, in a dry run, would): unchanged, created, repaired, replaced. */
  outcome: string;
  record?: AttachRecord;
  repairs?: string[];
  plan?: Plan;
  guest?: ReturnType<typeof guestInfo>;
  /** Dry run: the guest does not exist yet, so the link cannot be planned in detail. */
  pending?: string;
}

export interface ApplyReport {
  topology: string;
  links: LinkReport[];
  made: { netns: string[]; bridges: string[]; ovsBridges: string[]; vxlans: string[]; containers: string[]; started: string[] };
  removed: { links: string[]; netns: string[]; bridges: string[]; ovsBridges: string[]; vxlans: string[]; containers: string[] };
  /** What changed on the VXLAN devices, in words (peers added or removed, a device repaired). */
  changes: string[];
  /** Plan 1 of the run (netns, bridges, OVS bridges to make). */
  makePlan: Plan;
  warnings: string[];
  changed: boolean;
}

/** The failure point of a part of the run: plan 1 is the topology's own, plans 2… are the links'. */
function failFor(failAt: FailPoint | undefined, first: number): FailPoint | undefined {
  if (!failAt) return undefined;
  if (first === 0) return failAt.job === 0 ? failAt : undefined;
  return failAt.job >= first ? { job: failAt.job - first, step: failAt.step } : undefined;
}

function withFail(ctx: RunContext, failAt: FailPoint | undefined): RunContext {
  const copy: RunContext = { ...ctx };
  if (failAt) copy.failAt = failAt;
  else delete copy.failAt;
  return copy;
}

/** A host-link view in which the bridges a dry run would make already exist (so links plan as they will). */
class PlannedHostLinks extends HostLinkCache {
  constructor(private readonly planned: Map<string, HostLink>) {
    super();
  }
  override link(name: string): HostLink | undefined {
    return this.planned.get(name) ?? super.link(name);
  }
}

export function hostNs(): NetnsHandle {
  return openNetns('/proc/self/ns/net', 'the host');
}

/** Resolve the guests that exist now (by key); problems for those that should and do not. */
export async function resolveTopologyGuests(topology: Topology, ctx: RunContext, skip: (g: Guest) => boolean, problems: Problem[]): Promise<Map<string, HeldGuest>> {
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

function closeAll(held: Map<string, HeldGuest>): void {
  for (const g of held.values()) g.ns.close();
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

/** Undo what a failed apply did itself (the engine has undone its own part). */
async function undoOwn(done: { makeSteps: Step[]; created: MadeContainer[]; started: MadeContainer[] }, ctx: RunContext, topology: string): Promise<string[]> {
  const failures: string[] = [];
  if (done.makeSteps.length > 0) {
    const ns = hostNs();
    try {
      failures.push(...await rollback(done.makeSteps.map((step) => ({ step })), ctx, ns));
    } finally {
      ns.close();
    }
  }
  const removed: string[] = [];
  for (const c of done.created) {
    await removeContainer(c.runtime, c.id).then(() => removed.push(c.id), (err: Error) => failures.push(err.message));
  }
  if (removed.length > 0) forgetOwned(topology, removed);
  for (const c of done.started) await stopContainer(c.runtime, c.id).catch((err: Error) => failures.push(err.message));
  return failures;
}

function addUndoNote(err: unknown, failures: string[], what: string): unknown {
  if (!(err instanceof PipeworkError)) return err;
  const note = failures.length > 0 ? `; undoing ${what} also failed: ${failures.join('; ')}` : what !== '' ? `; ${what}: undone too` : '';
  if (note === '') return err;
  Object.defineProperty(err, 'message', { value: `${err.message}${note}`, enumerable: false, writable: true, configurable: true });
  return err;
}

/** Does the file involve Open vSwitch (an OVS network, or a device that is no Linux bridge) or containers? */
export function needs(topology: Topology, ctx: RunContext): { ovs: boolean; containers: boolean } {
  const ovs = [...topology.networks.values()].some((n) => n.kind === 'ovs' || (n.kind === 'bridge' && ctx.cache.hostLinks.link(n.device)?.isBridge === false));
  const containers = [...topology.guests.values()].some((g) => g.kind === 'image');
  return { ovs, containers };
}

/**
 * Hold the topology, and the Linux bridges it may make or share: two runs on one topology never
 * interleave, and two topologies sharing a bridge take turns on it (making it, marking it as
 * theirs, leaving it) — all taken at once, in one order, so no two runs wait on each other.
 */
export function lockTopology(name: string, bridges: Iterable<string>, ctx: RunContext): Promise<{ release(): void }> {
  return acquire([`topology/${name}`, ...[...bridges].map(lockKey.bridge)], {
    signal: ctx.signal, purpose: ctx.purpose, held: ctx.held, ...(ctx.onWait && { onWait: ctx.onWait }),
    what: describeKey,
  });
}

/** The Linux bridges a file may make or share (not its external ones). */
export function ownBridges(topology: Topology): string[] {
  return [...topology.networks.values()].filter((n) => n.kind === 'bridge' && !n.external).map((n) => n.device);
}

export async function applyTopology(topology: Topology, ctx: RunContext, opts: { deep?: boolean } = {}): Promise<ApplyReport> {
  // (The bridges it made that the file no longer names are taken too: it may leave them.)
  const lock = ctx.dryRun ? undefined : await lockTopology(topology.name, [...ownBridges(topology), ...markedLinks(topology.name)], ctx);
  try {
    return await applyHeld(topology, ctx, opts);
  } finally {
    lock?.release();
  }
}

async function applyHeld(topology: Topology, ctx: RunContext, opts: { deep?: boolean }): Promise<ApplyReport> {
  const live = await readLive(topology.name, ctx.runner, needs(topology, ctx));
  if (live.ovs) ctx.cache.ovs = Promise.resolve(live.ovs);
  const vxlans = (topology.part?.vxlans.length ?? 0) > 0 || live.vxlans.size > 0 ? await readVxlans(ctx.runner) : new Map<string, LiveVxlan>();
  const problems = hostProblems(topology, (n) => ctx.cache.hostLinks.link(n), live.ovs, vxlans);

  // Image guests: what each needs (nothing, a start, or a new container).
  const actions = new Map<string, Awaited<ReturnType<typeof containerAction>>>();
  for (const g of topology.guests.values()) {
    if (g.kind !== 'image') continue;
    try {
      actions.set(g.key, await containerAction(topology.name, g));
    } catch (err) {
      if (!(err instanceof PipeworkError)) throw err;
      problems.push({ line: g.at.line, col: g.at.col, path: `guests.${g.key}.image`, message: err.message });
    }
  }
  const notYet = (g: Guest) => (g.kind === 'netns' && netnsInode(g.netns) === undefined) || (g.kind === 'image' && actions.get(g.key)?.kind !== 'running');
  const held = await resolveTopologyGuests(topology, ctx, notYet, problems);
  try {
    if (problems.length > 0) {
      problems.sort((a, b) => a.line - b.line || a.col - b.col);
      throw new TopologyFileError(topology.file, problems);
    }
    const make = planMake(topology, live, (n) => ctx.cache.hostLinks.link(n), (n) => netnsInode(n) !== undefined, vxlans);
    const makePlan: Plan = {
      guestLabel: 'the host', steps: make.steps, warnings: make.warnings, outcome: make.steps.length > 0 ? 'created' : 'unchanged',
      locks: topologyLocks({ ...make, bridges: ownBridges(topology) }),
    };
    const report: ApplyReport = {
      topology: topology.name, links: [], makePlan, warnings: [...make.warnings], changed: false, changes: make.changes,
      made: { netns: make.netns, bridges: make.bridges, ovsBridges: make.ovsBridges, vxlans: make.vxlans, containers: [], started: [] },
      removed: { links: [], netns: [], bridges: [], ovsBridges: [], vxlans: [], containers: [] },
    };
    if (ctx.dryRun) return await dryRun(topology, live, held, make, actions, report, ctx);

    const done = { makeSteps: [] as Step[], created: [] as MadeContainer[], started: [] as MadeContainer[] };
    let outcomes: AttachOutcome[];
    let engineLinks: Link[];
    try {
      for (const g of topology.guests.values()) {
        if (g.kind !== 'image') continue;
        const action = actions.get(g.key)!;
        if (action.kind === 'create') {
          const id = await createContainer(topology.name, g);
          // Recorded at once: the record is what makes it this topology's (a label is no proof).
          recordOwned(topology.name, [{ runtime: g.runtime, id, name: g.container, guest: g.key }]);
          done.created.push({ id, name: g.container, runtime: g.runtime, running: true });
          report.made.containers.push(g.container);
        } else if (action.kind === 'start') {
          await startContainer(g.runtime, action.id, g.container);
          done.started.push({ id: action.id, name: g.container, runtime: g.runtime, running: true });
          report.made.started.push(g.container);
        }
        if (ctx.signal.aborted) throw new InterruptedError(`interrupted by ${typeof ctx.signal.reason === 'string' ? ctx.signal.reason : 'a signal'} while starting containers`);
      }
      if (make.steps.length > 0) {
        // What it is about to make is written down first: whatever a run given up half-way leaves
        // is then found by the next apply or destroy.
        if (make.netns.length > 0) {
          const before = live.state ?? { version: 1 as const, netns: {}, inside: [] };
          writeState(topology.name, { ...before, netns: { ...before.netns, ...Object.fromEntries(make.netns.map((n) => [n, 0])) } });
        }
        const ns = hostNs();
        try {
          done.makeSteps = make.steps;
          await execute([{ plan: makePlan, ns, label: 'the topology\'s netns and networks' }], withFail(ctx, failFor(ctx.failAt, 0)));
        } catch (err) {
          // The executor undid its own steps.
          done.makeSteps = [];
          throw err;
        } finally {
          ns.close();
        }
        ctx.cache.hostLinks.forget();
        delete ctx.cache.ovs;
      }
      const more = await resolveTopologyGuests(topology, ctx, (g) => held.has(g.key), problems);
      for (const [k, g] of more) held.set(k, g);
      if (problems.length > 0) throw new TopologyFileError(topology.file, problems);

      const specs = await buildSpecs(topology, live, held, ctx, () => false);
      const ovsPorts = !opts.deep && topology.links.some((l) => topology.networks.get(l.network)!.kind === 'ovs') ? await readOvsPortTable(ctx.runner) : undefined;
      engineLinks = [];
      for (const l of topology.links) {
        const spec = specs.get(l.index)!;
        const quick = opts.deep ? undefined : quickUnchanged(spec, held.get(l.guest)!, ovsPorts, live.hostEnds.get(`${held.get(l.guest)!.ns.inode}/${l.ifname}`), (n) => ctx.cache.hostLinks.link(n));
        if (quick) report.links.push({ link: l, outcome: 'unchanged', record: quick, guest: guestInfo(held.get(l.guest)!) });
        else engineLinks.push(l);
      }
      outcomes = await attachSpecs(engineLinks.map((l) => specs.get(l.index)!), withFail(ctx, failFor(ctx.failAt, 1)), {
        labels: engineLinks.map((l) => `links[${l.index}] ${linkName(l)}`),
      });
    } catch (err) {
      const failures = await undoOwn(done, ctx, topology.name);
      // What it was about to make is undone: the state is as it was.
      if (make.netns.length > 0) {
        if (live.state !== undefined) writeState(topology.name, live.state);
        else removeState(topology.name);
      }
      const what = [done.makeSteps.length > 0 ? 'the netns and networks it made' : '', done.created.length > 0 ? 'the containers it created' : '', done.started.length > 0 ? 'the containers it started' : ''].filter((w) => w !== '').join(' and ');
      throw addUndoNote(err, failures, what);
    }
    outcomes.forEach((o, i) => {
      report.links.push({
        link: engineLinks[i]!, outcome: o.outcome, record: o.record, guest: o.guest, ...(o.plan.repairs && { repairs: o.plan.repairs }),
      });
      report.warnings.push(...o.warnings);
    });
    report.links.sort((a, b) => a.link.index - b.link.index);
    await removeLeftovers(topology, live, held, report, ctx);
    report.changed = report.links.some((l) => l.outcome !== 'unchanged') || make.steps.length > 0 || report.made.containers.length > 0
      || report.made.started.length > 0 || Object.values(report.removed).some((r) => r.length > 0);
    saveState(topology, live, held, make, report);
    return report;
  } finally {
    closeAll(held);
  }
}

function saveState(topology: Topology, live: Live, held: Map<string, HeldGuest>, make: MakePlan, report: ApplyReport): void {
  const devices = new Set([...topology.networks.values()].map((n) => n.device));
  const state: StateFile = {
    version: 1, netns: {}, inside: [],
    // What the file names (made now or before) and what is still there of what it made earlier.
    ovsBridges: [...new Set([...make.ovsBridges, ...[...live.ovsBridges].filter((b) => devices.has(b) || !report.removed.ovsBridges.includes(b))])],
  };
  for (const g of topology.guests.values()) {
    if (g.kind !== 'netns') continue;
    const inode = netnsInode(g.netns);
    if (inode !== undefined && (live.netns.get(g.netns) === inode || make.netns.includes(g.netns))) state.netns[g.netns] = inode;
  }
  const inside = new Set(topology.links.filter((l) => topology.networks.get(l.network)!.kind === 'macvlan').map((l) => l.guest));
  for (const key of inside) {
    const g = held.get(key);
    if (g) state.inside.push({ ref: guestRefOf(topology.guests.get(key)!), nsInode: g.ns.inode });
  }
  writeState(topology.name, state);
}

/** A leftover interface of this topology: in which guest, which interface. */
interface Leftover {
  nsInode: number;
  guestIf: string;
  guestText: string;
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
  for (const [key, e] of live.hostEnds) found.set(key, { nsInode: e.record.nsInode, guestIf: e.record.guestIf, guestText: e.record.guest });
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
        if (e.record.owner === owner) found.set(`${e.record.nsInode}/${e.record.guestIf}`, { nsInode: e.record.nsInode, guestIf: e.record.guestIf, guestText: e.record.guest });
      }
    } finally {
      if (handle.close) handle.ns.close();
    }
  }
  if (live.state === undefined && anythingMade(live)) {
    // The state file was lost (removed by hand): look everywhere once.
    const { inventory } = await import('../../engine/inventory.js');
    for (const e of await inventory(ctx)) {
      if (e.record.owner === owner && e.record.role === 'guest') found.set(`${e.record.nsInode}/${e.record.guestIf}`, { nsInode: e.record.nsInode, guestIf: e.record.guestIf, guestText: e.record.guest });
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

async function removeLeftovers(topology: Topology, live: Live, held: Map<string, HeldGuest>, report: ApplyReport, ctx: RunContext): Promise<void> {
  const owner = ownerText(topology.name);
  report.removed.links = await detachLeftovers(await leftoverLinks(topology, live, held, ctx), held, owner, ctx);
  const netnsInFile = new Set([...topology.guests.values()].flatMap((g) => (g.kind === 'netns' ? [g.netns] : [])));
  const containersInFile = new Set([...topology.guests.values()].flatMap((g) => (g.kind === 'image' ? [g.container] : [])));
  const devices = new Set([...topology.networks.values()].map((n) => n.device));
  for (const c of live.containers) {
    if (containersInFile.has(c.name)) continue;
    await removeContainer(c.runtime, c.id);
    forgetOwned(topology.name, [c.id]);
    report.removed.containers.push(c.name);
  }
  // Recorded containers that are gone (removed by hand) are forgotten.
  if (readOwned(topology.name).length > live.containers.length - report.removed.containers.length + report.made.containers.length) await pruneOwned(topology.name);
  const netns = [...live.netns.keys()].filter((n) => !netnsInFile.has(n));
  const vxlanNames = new Set((topology.part?.vxlans ?? []).map((d) => d.name));
  const vxlans = [...live.vxlans].filter((v) => !vxlanNames.has(v));
  // A bridge it made that the file no longer names goes once nothing is plugged in, unless another
  // topology shares it: then only this one's name leaves its mark.
  const bridges: string[] = [];
  const leave: Step[] = [];
  for (const b of live.bridges) {
    if (devices.has(b)) continue;
    const link = readHostLink(b);
    const release = bridgeRelease(b, link?.alias, topology.name, link?.ports.filter((p) => !vxlans.includes(p)) ?? []);
    if (release.remove) bridges.push(b);
    else if (release.step) leave.push(release.step);
  }
  const ovsBridges: string[] = [];
  for (const b of live.ovsBridges) {
    if (devices.has(b)) continue;
    const res = await ctx.runner.run(['ovs-vsctl', '--timeout=10', 'list-ports', b], { timeoutMs: 15_000 });
    if (res.code === 0 && res.stdout.trim() === '') ovsBridges.push(b);
  }
  const steps = [...leave, ...planUnmake({ netns, bridges, ovsBridges, vxlans })];
  if (steps.length > 0) {
    const ns = hostNs();
    try {
      const locks = topologyLocks({ netns, bridges: [...live.bridges].filter((b) => !devices.has(b)), ovsBridges, vxlans });
      await execute([{ plan: { guestLabel: 'the host', steps, warnings: [], outcome: 'removed', locks }, ns }], withFail(ctx, undefined));
    } finally {
      ns.close();
    }
  }
  report.removed.netns = netns;
  report.removed.vxlans = vxlans;
  report.removed.bridges = bridges;
  report.removed.ovsBridges = ovsBridges;
}

async function dryRun(
  topology: Topology, live: Live, held: Map<string, HeldGuest>, make: MakePlan,
  actions: Map<string, Awaited<ReturnType<typeof containerAction>>>, report: ApplyReport, ctx: RunContext,
): Promise<ApplyReport> {
  for (const g of topology.guests.values()) {
    if (g.kind !== 'image') continue;
    const a = actions.get(g.key);
    if (a?.kind === 'create') report.made.containers.push(g.container);
    if (a?.kind === 'start') report.made.started.push(g.container);
  }
  // Links plan as they will once the networks exist.
  const planned = new Map<string, HostLink>();
  for (const b of make.bridges) planned.set(b, { name: b, isBridge: true, type: 1, mtu: 1500, up: true, mac: '00:00:00:00:00:00', ports: [], vlanFiltering: 'off' });
  const dry: RunContext = { ...ctx, cache: { ...ctx.cache, hostLinks: new PlannedHostLinks(planned) } };
  if (live.ovs) dry.cache.ovs = Promise.resolve({ ...live.ovs, bridges: [...live.ovs.bridges, ...make.ovsBridges] });
  const specs = await buildSpecs(topology, live, held, dry, () => false);
  const ready = topology.links.filter((l) => held.has(l.guest));
  const outcomes = ready.length > 0 ? await attachSpecs(ready.map((l) => specs.get(l.index)!), dry, { labels: ready.map((l) => `links[${l.index}] ${linkName(l)}`) }) : [];
  outcomes.forEach((o, i) => report.links.push({ link: ready[i]!, outcome: o.outcome, record: o.record, plan: o.plan, guest: o.guest, ...(o.plan.repairs && { repairs: o.plan.repairs }) }));
  for (const l of topology.links) {
    if (held.has(l.guest)) continue;
    const g = topology.guests.get(l.guest)!;
    report.links.push({ link: l, outcome: 'created', pending: g.kind === 'netns' ? `network namespace ${g.netns} is made first` : `container ${g.kind === 'image' ? g.container : g.key} is started first` });
  }
  report.links.sort((a, b) => a.link.index - b.link.index);
  const leftovers = await leftoverLinks(topology, live, held, dry);
  report.removed.links = leftovers.map((l) => `${l.guestText}:${l.guestIf}`);
  const netnsInFile = new Set([...topology.guests.values()].flatMap((g) => (g.kind === 'netns' ? [g.netns] : [])));
  report.removed.netns = [...live.netns.keys()].filter((n) => !netnsInFile.has(n));
  const devices = new Set([...topology.networks.values()].map((n) => n.device));
  report.removed.bridges = [...live.bridges].filter((b) => !devices.has(b));
  const vxlanNames = new Set((topology.part?.vxlans ?? []).map((d) => d.name));
  report.removed.vxlans = [...live.vxlans].filter((v) => !vxlanNames.has(v));
  report.removed.ovsBridges = [...live.ovsBridges].filter((b) => !devices.has(b));
  const containersInFile = new Set([...topology.guests.values()].flatMap((g) => (g.kind === 'image' ? [g.container] : [])));
  report.removed.containers = live.containers.filter((c) => !containersInFile.has(c.name)).map((c) => c.name);
  report.changed = make.steps.length > 0 || report.links.some((l) => l.outcome !== 'unchanged') || Object.values(report.removed).some((r) => r.length > 0)
    || report.made.containers.length > 0 || report.made.started.length > 0;
  return report;
}

