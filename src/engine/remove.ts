/**
 * Removing attachments the engine knows only from a record a front door kept (a CNI DEL or GC,
 * an ADD that finds a stale attachment), and sweeping what dead guests left on the host: facts
 * read once, a pure plan (planner.ts: planRemoval), one executor run. Whatever the host kind, its
 * driver says what is left of it and how it goes.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { openNetns } from '../exec/netns.js';
import { readGuestFacts, type GuestFacts } from '../guest/netstate.js';
import type { Guest } from '../guest/guest.js';
import { resolveGuest } from '../guest/resolve.js';
import { readHostLink, type HostLink } from '../host/links.js';
import { allKept } from '../host/kept-records.js';
import { planStaleCleanup, selectStale, staleResolvConfs, type StaleResolvConf } from '../host/stale.js';
import { DHCP_AGENT } from '../dhcp/paths.js';
import { OVS_RUN_DIR, readOvsPortTable, type OvsPortRow } from '../host/ovs-facts.js';
import { NotFoundError } from '../model/errors.js';
import { ownerText, recordProblem, sameAttachment, type AttachRecord, type HostKindName } from '../model/record.js';
import type { Leftover, LeftoverView } from '../drivers/driver.js';
import { allDrivers, driverFor } from '../drivers/registry.js';
import { hostIfOf, recordedTagOf, type GuestRef, type HostSide } from '../model/attach-spec.js';
import { formatOwner, type Owner } from '../model/owner.js';
import type { RunContext } from './context.js';
import { pipeworkTargets } from './detach.js';
import { execute } from './executor.js';
import { acquire, guestIfLock, hostEndLock } from './lock.js';
import { mergeLocks, type HostLocks, type Plan, type Step } from '../model/plan.js';
import { planRemoval, type DetachTarget } from './planner.js';

/** A view of the host's links (read when asked, each once), Open vSwitch's rows (when read), what was kept. */
export function leftoverView(names: () => readonly string[], ovsPorts: ReadonlyMap<string, OvsPortRow> | undefined): LeftoverView {
  const read = new Map<string, HostLink | undefined>();
  const link = (name: string): HostLink | undefined => {
    if (!read.has(name)) read.set(name, readHostLink(name));
    return read.get(name);
  };
  let all: HostLink[] | undefined;
  return {
    links: () => (all ??= names().map(link).filter((l): l is HostLink => l !== undefined)),
    link, ...(ovsPorts !== undefined && { ovsPorts }), kept: allKept(),
  };
}

function sysfsLinks(): string[] {
  try {
    return readdirSync('/sys/class/net');
  } catch {
    return []; // no sysfs: no links
  }
}

/**
 * The host as removal sees it: its links, Open vSwitch's rows (when a kind needs them, and
 * `withOvs`), what was kept.
 */
export async function readLeftoverView(ctx: Pick<RunContext, 'runner'>, kinds: readonly HostKindName[], withOvs = true): Promise<LeftoverView> {
  const ovs = withOvs && kinds.some((k) => driverFor(k).needsOvs === true) && existsSync(`${OVS_RUN_DIR}/db.sock`);
  return leftoverView(sysfsLinks, ovs ? await readOvsPortTable(ctx.runner) : undefined);
}

/**
 * A device group no host link is in now (read from sysfs): a run's own, to remove many host ends
 * in one request (planHostEndsRemoval). Drawn at random, so two runs do not pick the same one.
 */
export function unusedLinkGroup(): number {
  const used = new Set<number>();
  for (const name of sysfsLinks()) {
    try {
      used.add(Number(readFileSync(`/sys/class/net/${name}/netdev_group`, 'utf8').trim()));
    } catch {
      // gone meanwhile: not in any group
    }
  }
  for (;;) {
    const group = 0x1000_0000 + Math.floor(Math.random() * 0x6fff_ffff);
    if (!used.has(group)) return group;
  }
}

/**
 * Removing veth attachments through their host ends, all at once: a host end takes its guest end
 * with it (the guest is not entered), so what is left to do is what its driver removes on the host
 * besides (an Open vSwitch row, first), then each host end joins the run's device group `group`
 * (one no other link is in: unusedLinkGroup) and one `ip link del group` deletes them together —
 * one unregister in the kernel, where a request per veth waits ~20 ms each for it. Only what the
 * host (`link`) confirms by its record (live host ends, this very attachment's); the others are returned
 * (`left`) for the caller to remove another way. An empty list plans nothing.
 */
export function planHostEndsRemoval(records: readonly AttachRecord[], link: (name: string) => HostLink | undefined, group: number): { steps: Step[]; locks: HostLocks; done: AttachRecord[]; left: AttachRecord[] } {
  // (A veth's host end is found by its name and its own record: no list of links, nothing kept.)
  const view: LeftoverView = { links: () => [], link, kept: new Map() };
  const before: Step[] = [];
  const join: Step[] = [];
  const locks: HostLocks[] = [];
  const done: AttachRecord[] = [];
  const left: AttachRecord[] = [];
  for (const record of records) {
    const end = record.localIf;
    const found = end === undefined || !driverFor(record.hostKind).veth ? [] : driverFor(record.hostKind).leftovers(view, record).filter((l) => l.live && l.name === end);
    if (end === undefined || found.length !== 1) {
      left.push(record);
      continue;
    }
    const isEndRemoval = (s: Step) => s.action.kind === 'ip' && s.action.args.join(' ') === `link del dev ${end}`;
    before.push(...found[0]!.steps.filter((s) => !isEndRemoval(s)));
    join.push({
      title: `take host end ${end} of ${record.guestIf} in ${record.guest} into device group ${group} (removed together)`,
      action: { kind: 'ip', place: 'host', args: ['link', 'set', 'dev', end, 'group', String(group)] },
      undo: [{ kind: 'ip', place: 'host', args: ['link', 'set', 'dev', end, 'group', '0'] }],
    });
    locks.push(found[0]!.locks);
    done.push(record);
  }
  if (done.length === 0) return { steps: [], locks: { uses: [], changes: [] }, done, left };
  const remove: Step = {
    title: `remove ${done.length} host end${done.length === 1 ? '' : 's'} at once (device group ${group}; their guest ends go with them)`,
    action: { kind: 'ip', place: 'host', args: ['link', 'del', 'group', String(group)] },
    undo: [],
    irreversible: true,
  };
  return { steps: [...before, ...join, remove], locks: mergeLocks(...locks), done, left };
}

/** What every driver finds in a view. */
export function leftoversIn(view: LeftoverView): Leftover[] {
  return allDrivers().flatMap((d) => d.leftovers(view));
}

/**
 * The record an attach of this host side writes, as far as it is known before the engine makes
 * it (a front door keeps it first, so that a crash half-way leaves what removal needs): the
 * names its driver derives, the owner.
 */
export function intendedRecord(a: { host: HostSide; guestIf: string; owner: Owner; guest: string; nsInode: number; hostEnd?: string }): AttachRecord {
  const driver = driverFor(a.host.kind);
  const names = driver.names(a.host, a.guestIf, { nsInode: a.nsInode }, a.hostEnd);
  const vlan = recordedTagOf(a.host);
  const owner = formatOwner(a.owner);
  return {
    role: 'guest', guest: a.guest, nsInode: a.nsInode, guestIf: a.guestIf, hostIf: hostIfOf(a.host), hostKind: a.host.kind,
    ...(names.hostEnd !== undefined && { localIf: names.hostEnd }),
    ...(names.vlanIf !== undefined && { vlanIf: names.vlanIf }),
    ...(vlan !== undefined && { vlan }),
    ...(owner !== 'cli' && { owner }),
  };
}

export interface RemoveRequest {
  /** What the front door kept of the attachment (its guest end's record). */
  record: AttachRecord;
  /** Where its guest end may still be, and the namespace that path must still be (a path can be reused). */
  netns?: { path: string; inode?: number };
  /** What the front door made for it besides, removed in the same run (a nat chain). */
  extra?: Step[];
  /** The guest, for messages. */
  label: string;
}

export interface RemoveOutcome {
  plan: Plan;
  /** Its guest interface stayed: it is another's (in words). */
  left?: string;
}

async function liveGuest(netns: RemoveRequest['netns'], label: string, ctx: RunContext): Promise<Guest | undefined> {
  if (netns === undefined || netns.path === '' || !existsSync(netns.path)) return undefined;
  let guest: Guest;
  try {
    guest = await resolveGuest({ kind: 'netns-path', path: netns.path, name: label }, { runner: ctx.runner });
  } catch (err) {
    if (err instanceof NotFoundError) return undefined; // not a namespace (any more)
    throw err;
  }
  if (netns.inode !== undefined && netns.inode !== 0 && guest.ns.inode !== netns.inode) {
    guest.ns.close();
    return undefined;
  }
  return guest;
}

/** Which of the guest's interfaces is the recorded one, as the host confirms it (or why it stays). */
function chooseTarget(facts: GuestFacts, guest: Guest, record: AttachRecord, ctx: RunContext): { targets: DetachTarget[]; left?: string } {
  const found = pipeworkTargets(facts, guest.ns.inode, ctx.cache.hostLinks).find((t) => t.guestIf === record.guestIf);
  if (found !== undefined && sameAttachment({ ...found.record, nsInode: 0 }, { ...record, nsInode: 0 })) return { targets: [found] };
  if (found !== undefined) return { targets: [], left: `${record.guestIf} in ${guest.ns.label} was plumbed by ${ownerText(found.record)}, not ${ownerText(record)}` };
  if (facts.links.some((l) => l.name === record.guestIf)) {
    return { targets: [], left: `${record.guestIf} in ${guest.ns.label} was not plumbed by pipework (or the host does not confirm its record)` };
  }
  return { targets: [] };
}

/**
 * Remove one recorded attachment: its guest interface if its namespace is still there (and the
 * interface is this attachment's), what it left on the host, and `extra`. Absent is fine everywhere.
 *
 * Where the host holds a live part of it (a veth's host end, whose own record only root writes),
 * removing that part removes the whole attachment, whatever its guest did to its end meanwhile
 * (renamed it, put another interface under its name): the guest is not entered at all.
 */
export async function removeAttachment(req: RemoveRequest, ctx: RunContext): Promise<RemoveOutcome> {
  const { record } = req;
  const driver = driverFor(record.hostKind);
  const usable = recordProblem(record) === undefined;
  // (Held for the run: its executor takes what the plan changes, and these are among them.)
  const lock = async (keys: string[]) => (ctx.dryRun ? undefined : acquire(keys, {
    signal: ctx.signal, purpose: ctx.purpose, held: ctx.held, ...(ctx.onWait && { onWait: ctx.onWait }),
    what: (key) => (key.startsWith('if/') ? `interface ${record.guestIf} of ${req.label}` : `host link ${key.slice('link/'.length)}`),
  }));
  const hostEnd = record.localIf !== undefined ? [hostEndLock(record.localIf)] : [];
  // What only the guest can undo (a DHCP client there, a default route to put back) needs the guest.
  const guestOnly = record.dhcp !== undefined || record.replaced4 !== undefined || record.replaced6 !== undefined;
  if (usable && !guestOnly) {
    const held = await lock(hostEnd);
    try {
      const live = driver.leftovers(await readLeftoverView(ctx, [record.hostKind], false), record).filter((l) => l.live);
      if (live.length > 0) {
        const plan = planRemoval({ targets: [], guestFacts: { links: [], routes: [] }, guestLabel: req.label, leftovers: live, extra: req.extra ?? [] });
        if (!ctx.dryRun) await onGuestOrHost(plan, undefined, ctx);
        return { plan };
      }
    } finally {
      held?.release();
    }
  }
  const guest = await liveGuest(req.netns, req.label, ctx);
  try {
    const held = await lock([...(guest !== undefined ? [guestIfLock(guest.ns.inode, record.guestIf)] : []), ...hostEnd]);
    try {
      let guestFacts: GuestFacts = { links: [], routes: [] };
      let chosen: { targets: DetachTarget[]; left?: string } = { targets: [] };
      if (guest !== undefined) {
        guestFacts = await readGuestFacts(ctx.runner, guest.ns);
        ctx.cache.hostLinks.forget();
        chosen = chooseTarget(guestFacts, guest, record, ctx);
      }
      // With its guest end found, what is left of it on the host is what the driver's del leaves.
      const view = await readLeftoverView(ctx, [record.hostKind], chosen.targets.length === 0);
      const plan = planRemoval({
        targets: chosen.targets, guestFacts, guestLabel: guest?.ns.label ?? req.label,
        // (A record whose host names are not of the shape pipework writes names nothing on the host.)
        leftovers: usable ? driver.leftovers(view, record) : [], extra: req.extra ?? [],
      });
      if (!ctx.dryRun) await onGuestOrHost(plan, guest, ctx);
      return { plan, ...(chosen.left !== undefined && { left: chosen.left }) };
    } finally {
      held?.release();
    }
  } finally {
    guest?.ns.close();
  }
}

async function onGuestOrHost(plan: Plan, guest: Guest | undefined, ctx: RunContext): Promise<void> {
  if (plan.steps.length === 0) return;
  if (guest !== undefined) return execute([{ plan, ns: guest.ns }], ctx);
  const host = openNetns('/proc/self/ns/net', 'the host');
  try {
    await execute([{ plan, ns: host }], ctx);
  } finally {
    host.close();
  }
}

/** Every leftover the drivers find on the host, as one view (read once) shows it. */
export async function findLeftovers(ctx: Pick<RunContext, 'runner'>): Promise<Leftover[]> {
  return leftoversIn(await readLeftoverView(ctx, allDrivers().map((d) => d.kind)));
}

/** Remove these leftovers (and `extra`) in one run on the host. */
export async function removeLeftovers(leftovers: readonly Leftover[], extra: Step[], ctx: RunContext): Promise<Plan> {
  const plan = planRemoval({ targets: [], guestFacts: { links: [], routes: [] }, guestLabel: 'the host', leftovers: [...leftovers], extra });
  if (!ctx.dryRun) await onGuestOrHost(plan, undefined, ctx);
  return plan;
}

export interface StaleOutcome {
  plan: Plan;
  /** What dead guests left (the drivers' leftovers whose guest is gone). */
  leftovers: Leftover[];
  resolvConfs: StaleResolvConf[];
}

/** Clean what dead guests (all, or the one named) left on the host: one run. */
export async function cleanStale(guest: GuestRef | undefined, ctx: RunContext): Promise<StaleOutcome> {
  const leftovers = selectStale(guest, (await findLeftovers(ctx)).filter((l) => !l.live));
  const resolvConfs = selectStale(guest, staleResolvConfs());
  const plan = await removeLeftovers(leftovers, planStaleCleanup([], resolvConfs, DHCP_AGENT), ctx);
  return { plan, leftovers, resolvConfs };
}
