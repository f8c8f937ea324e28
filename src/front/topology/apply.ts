/**
 * `pipework apply FILE`: make the host match the file, all or nothing — one run, one undo journal
 * (src/engine/journal.ts) across its stages:
 *
 *   1. Read what the topology made (live.ts) and check the host against the file (external
 *      networks there, names not taken by other kinds): problems are reported like the file's.
 *   2. Make the missing netns, bridges, OVS bridges and VXLAN devices, each marked (plan 1 of the
 *      run, for PIPEWORK_FAIL_STEP).
 *   3. Start the containers of `image:` guests that are not running.
 *   4. Every link that is not quickly seen to be as the file says (quick.ts) goes to the engine
 *      in one call (plans 2, 3, … of the run): made, repaired, or replaced when its configuration
 *      changed; the others are not touched.
 *   5. What the topology made that the file no longer names goes (leftovers.ts: the same choice
 *      as --dry-run shows): links, then the netns and containers it made, then the bridges it
 *      made once nothing else is plugged into them.
 *   A failure or an interrupt in any stage undoes everything every stage did, newest first, and
 *   says so once (or names exactly what could not be undone).
 */
import { attachSpecs, type AttachOutcome } from '../../engine/attach.js';
import type { RunContext } from '../../engine/context.js';
import { execute } from '../../engine/executor.js';
import { guestInfo } from '../../engine/gather.js';
import { impairChange, impairText, parseImpairText } from '../../engine/impair.js';
import { Journal } from '../../engine/journal.js';
import type { Plan } from '../../model/plan.js';
import { openNetns } from '../../exec/netns.js';
import type { Guest as HeldGuest } from '../../guest/guest.js';
import { readOvsPortTable } from '../../host/ovs-facts.js';
import { readVxlans, type LiveVxlan } from '../../host/vxlan-facts.js';
import { InterruptedError, PipeworkError } from '../../model/errors.js';
import type { AttachRecord } from '../../model/record.js';
import { containerAction, createContainer, pruneOwned, removeContainer, startContainer, stopContainer } from './containers.js';
import { forgetOwned, readOwned, recordOwned } from './owned.js';
import { TopologyFileError, type Problem } from './problems.js';
import { keepOf, leftoverLinks, removeChosen, selectRemovals, type Removals } from './leftovers.js';
import { buildSpecs, resolveTopologyGuests } from './links.js';
import { liveNeeds, markedLinks, netnsInode, readLive, removeState, writeState, type Live, type StateFile } from './live.js';
import { lockTopology, ownBridges } from './lock.js';
import { hostProblems, PlannedHostLinks, plannedBridges, planMake, topologyLocks, type MakePlan } from './make.js';
import { linkName, type TopologyGuest, type Link, type Topology } from './model.js';
import { mtuProblems } from './mtu.js';
import { quickUnchanged } from './quick.js';
import { guestRefOf } from './specs.js';

export interface LinkReport {
  link: Link;
  /**
   * What happened (or, in a dry run, would): unchanged, created, edited (a setting changed in
   * place because the file changed it: impairments), repaired (drift put right), replaced.
   */
  outcome: string;
  record?: AttachRecord;
  /** What had drifted and is put right. */
  repairs?: string[];
  /** What the file changed and is changed in place, in words: `rate 50mbit → 20mbit`. */
  edits?: string[];
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
  /** What it made that the file no longer names and stays, with why ("br-x (ports … are not this topology's)"). */
  kept: string[];
  /** What changed on the VXLAN devices, in words (peers added or removed, a device repaired). */
  changes: string[];
  /** Plan 1 of the run (netns, bridges, OVS bridges to make). */
  makePlan: Plan;
  warnings: string[];
  changed: boolean;
}

/** What the stages are called in messages ("everything the run did was undone (…)"). */
const STAGES = {
  make: 'the netns and networks it made',
  containers: 'the containers it started',
  links: 'the links it plumbed',
  removals: 'what it removed',
} as const;

function closeAll(held: Map<string, HeldGuest>): void {
  for (const g of held.values()) g.ns.close();
}

function interrupted(ctx: RunContext, what: string): InterruptedError | undefined {
  if (!ctx.signal.aborted) return undefined;
  return new InterruptedError(`interrupted by ${typeof ctx.signal.reason === 'string' ? ctx.signal.reason : 'a signal'} ${what}`);
}

/**
 * `fileProblems`: the file's own (parse.ts), when `topology` is the part of it that resolved: they
 * are listed with the host's, and nothing changes.
 */
export async function applyTopology(topology: Topology, ctx: RunContext, opts: { deep?: boolean; fileProblems?: Problem[] } = {}): Promise<ApplyReport> {
  // (The bridges it made that the file no longer names are taken too: it may leave them.)
  const lock = ctx.dryRun ? undefined : await lockTopology(topology.name, [...ownBridges(topology), ...markedLinks(topology.name)], ctx);
  try {
    return await applyHeld(topology, ctx, opts);
  } finally {
    lock?.release();
  }
}

/** The selection of what goes: the same for --dry-run and the real run. */
async function removals(topology: Topology, live: Live, held: Map<string, HeldGuest>, ctx: RunContext): Promise<Removals> {
  const links = await leftoverLinks(topology, live, held, ctx);
  return selectRemovals({ topology: topology.name, live, keep: keepOf(topology), links, netns: [...live.netns.keys()] }, ctx);
}

async function applyHeld(topology: Topology, ctx: RunContext, opts: { deep?: boolean; fileProblems?: Problem[] }): Promise<ApplyReport> {
  const live = await readLive(topology.name, ctx.runner, liveNeeds(topology, (n) => ctx.cache.hostLinks.link(n)));
  if (live.ovs) ctx.cache.ovs = Promise.resolve(live.ovs);
  const vxlans = (topology.part?.vxlans.length ?? 0) > 0 || live.vxlans.size > 0 ? await readVxlans(ctx.runner) : new Map<string, LiveVxlan>();
  const problems = [...(opts.fileProblems ?? []), ...hostProblems(topology, (n) => ctx.cache.hostLinks.link(n), live.ovs, vxlans)];
  problems.push(...mtuProblems(topology, live, (n) => ctx.cache.hostLinks.link(n)));

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
  const notYet = (g: TopologyGuest) => (g.kind === 'netns' && (netnsInode(g.netns) === undefined || live.unfinished.get(g.netns) === 'unmounted')) || (g.kind === 'image' && actions.get(g.key)?.kind !== 'running');
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
      kept: [],
    };
    if (ctx.dryRun) return await dryRun(topology, live, held, make, actions, report, ctx);

    const journal = new Journal();
    const run: RunContext = { ...ctx, journal };
    try {
      await stages(topology, live, held, make, makePlan, actions, report, run, opts);
    } catch (err) {
      throw await journal.abort(err, run);
    } finally {
      journal.close();
    }
    report.changed = report.links.some((l) => l.outcome !== 'unchanged') || make.steps.length > 0 || report.made.containers.length > 0
      || report.made.started.length > 0 || Object.values(report.removed).some((r) => r.length > 0);
    saveState(topology, live, held, make, report);
    return report;
  } finally {
    closeAll(held);
  }
}

/** Every stage of a real apply, into the run's journal (`ctx.journal`). */
async function stages(
  topology: Topology, live: Live, held: Map<string, HeldGuest>, make: MakePlan, makePlan: Plan,
  actions: Map<string, Awaited<ReturnType<typeof containerAction>>>, report: ApplyReport, ctx: RunContext, opts: { deep?: boolean },
): Promise<void> {
  const journal = ctx.journal!;
  journal.stage(STAGES.make);
  if (make.netns.length > 0 || make.bridges.length > 0) {
    // What it is about to make is written down first: whatever a run given up half-way leaves
    // is then found by the next apply or destroy. Undone: the state as it was.
    const before = live.state ?? { version: 1 as const, netns: {}, inside: [] };
    writeState(topology.name, {
      ...before, netns: { ...before.netns, ...Object.fromEntries(make.netns.map((n) => [n, 0])) },
      ...(make.bridges.length > 0 && { bridges: [...new Set([...(before.bridges ?? []), ...make.bridges])] }),
    });
    journal.did({
      title: `record the netns and bridges it makes in the state of topology ${topology.name}`,
      undo: () => Promise.resolve(live.state !== undefined ? writeState(topology.name, live.state) : removeState(topology.name)),
    });
  }
  // Plan 1 of the run, even when it has nothing to do.
  const host = openNetns('/proc/self/ns/net', 'the host');
  try {
    await execute([{ plan: makePlan, ns: host, label: 'the topology\'s netns and networks' }], ctx);
  } finally {
    host.close();
  }
  if (make.steps.length > 0) {
    ctx.cache.hostLinks.forget();
    delete ctx.cache.ovs;
  }

  journal.stage(STAGES.containers);
  for (const g of topology.guests.values()) {
    if (g.kind !== 'image') continue;
    const stop = interrupted(ctx, 'while starting containers');
    if (stop) throw stop;
    const action = actions.get(g.key)!;
    if (action.kind === 'create') {
      const id = await createContainer(topology.name, g);
      // Recorded at once: the record is what makes it this topology's (a label is no proof).
      recordOwned(topology.name, [{ runtime: g.runtime, id, name: g.container, guest: g.key }]);
      journal.did({
        title: `create container ${g.container}`,
        undo: async () => {
          await removeContainer(g.runtime, id);
          forgetOwned(topology.name, [id]);
        },
      });
      report.made.containers.push(g.container);
    } else if (action.kind === 'start') {
      await startContainer(g.runtime, action.id, g.container);
      journal.did({ title: `start container ${g.container}`, undo: () => stopContainer(g.runtime, action.id) });
      report.made.started.push(g.container);
    }
  }
  const stop = interrupted(ctx, [...actions.values()].some((a) => a.kind !== 'running') ? 'while starting containers' : 'before plumbing the links');
  if (stop) throw stop;

  journal.stage(STAGES.links);
  const problems: TopologyFileError['problems'] = [];
  const more = await resolveTopologyGuests(topology, ctx, (g) => held.has(g.key), problems);
  for (const [k, g] of more) held.set(k, g);
  if (problems.length > 0) throw new TopologyFileError(topology.file, problems);
  const specs = await buildSpecs(topology, live, held, ctx, () => false);
  const ovsPorts = !opts.deep && topology.links.some((l) => topology.networks.get(l.network)!.kind === 'ovs') ? await readOvsPortTable(ctx.runner) : undefined;
  const engineLinks: Link[] = [];
  for (const l of topology.links) {
    const spec = specs.get(l.index)!;
    const quick = opts.deep ? undefined : quickUnchanged(spec, held.get(l.guest)!, ovsPorts, live.hostEnds.get(`${held.get(l.guest)!.ns.inode}/${l.ifname}`), (n) => ctx.cache.hostLinks.link(n));
    if (quick) report.links.push({ link: l, outcome: 'unchanged', record: quick, guest: guestInfo(held.get(l.guest)!) });
    else engineLinks.push(l);
  }
  const outcomes = await attachSpecs(engineLinks.map((l) => specs.get(l.index)!), ctx, { labels: engineLinks.map((l) => `links[${l.index}] ${linkName(l)}`) });
  outcomes.forEach((o, i) => {
    report.links.push(linkReport(engineLinks[i]!, o));
    report.warnings.push(...o.warnings);
  });
  report.links.sort((a, b) => a.link.index - b.link.index);

  journal.stage(STAGES.removals);
  const chosen = await removals(topology, live, held, ctx);
  const removed = await removeChosen(chosen, held, topology.name, ctx);
  // Recorded containers that are gone (removed by hand) are forgotten.
  if (readOwned(topology.name).length > live.containers.length - chosen.containers.length + report.made.containers.length) await pruneOwned(topology.name);
  report.removed = {
    links: removed.links, containers: chosen.containers.map((c) => c.name), netns: chosen.netns, vxlans: chosen.vxlans,
    bridges: removed.bridges, ovsBridges: removed.ovsBridges,
  };
  report.kept = removed.kept;
}

/**
 * A link's outcome as apply tells it: the engine's `repaired` is an edit when the file changed
 * a setting that is changed in place (its impairments), said in words; drift put right stays a
 * repair. The record is the one on the interface afterwards.
 */
export function linkReport(link: Link, o: Pick<AttachOutcome, 'spec' | 'outcome' | 'record' | 'plan' | 'guest'>): LinkReport {
  const edits = o.plan.edits ?? [];
  const repairs = (o.plan.repairs ?? []).filter((r) => !edits.includes(r));
  const edited = o.outcome === 'repaired' && edits.length > 0;
  if (!edited) return { link, outcome: o.outcome, record: o.record, guest: o.guest, ...(repairs.length > 0 && { repairs }) };
  const wanted = o.spec.impair;
  const record: AttachRecord = { ...o.record };
  const text = impairText(wanted);
  if (text !== undefined) record.impair = text;
  else delete record.impair;
  return {
    link, outcome: 'edited', record, guest: o.guest, edits: impairChange(parseImpairText(o.record.impair), wanted), ...(repairs.length > 0 && { repairs }),
  };
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
  const dry: RunContext = { ...ctx, cache: { ...ctx.cache, hostLinks: new PlannedHostLinks(plannedBridges(topology, make.bridges)) } };
  if (live.ovs) dry.cache.ovs = Promise.resolve({ ...live.ovs, bridges: [...live.ovs.bridges, ...make.ovsBridges] });
  const specs = await buildSpecs(topology, live, held, dry, () => false);
  const ready = topology.links.filter((l) => held.has(l.guest));
  const outcomes = ready.length > 0 ? await attachSpecs(ready.map((l) => specs.get(l.index)!), dry, { labels: ready.map((l) => `links[${l.index}] ${linkName(l)}`) }) : [];
  outcomes.forEach((o, i) => report.links.push({ ...linkReport(ready[i]!, o), plan: o.plan }));
  for (const l of topology.links) {
    if (held.has(l.guest)) continue;
    const g = topology.guests.get(l.guest)!;
    report.links.push({ link: l, outcome: 'created', pending: g.kind === 'netns' ? `network namespace ${g.netns} is made first` : `container ${g.kind === 'image' ? g.container : g.key} is started first` });
  }
  report.links.sort((a, b) => a.link.index - b.link.index);
  // What goes: the very choice the real run makes.
  const chosen = await removals(topology, live, held, dry);
  report.removed = {
    links: chosen.links.map((l) => `${l.guestText}:${l.guestIf}`), containers: chosen.containers.map((c) => c.name), netns: chosen.netns,
    vxlans: chosen.vxlans, bridges: chosen.bridges, ovsBridges: chosen.ovsBridges,
  };
  report.kept = chosen.kept;
  report.changed = make.steps.length > 0 || report.links.some((l) => l.outcome !== 'unchanged') || Object.values(report.removed).some((r) => r.length > 0)
    || report.made.containers.length > 0 || report.made.started.length > 0;
  return report;
}

