/**
 * Removing what pipework plumbed in a guest, read back from the records on its interfaces — only
 * what the asking owner made. (What dead guests left on the host: remove.ts.)
 */
import { DHCP_AGENT } from '../dhcp/paths.js';
import { readGuestFacts, type GuestFacts } from '../guest/netstate.js';
import type { Guest } from '../guest/guest.js';
import { resolveGuest } from '../guest/resolve.js';
import { planStaleCleanup, staleResolvConfs } from '../host/stale.js';
import { ConflictError } from '../model/errors.js';
import { DEFAULT_GUEST_IF, defaultGuestIf, defaultGuestIfs } from '../drivers/registry.js';
import type { GuestRef } from '../model/attach-spec.js';
import type { RunContext } from './context.js';
import { execute } from './executor.js';
import type { GuestInfo } from '../model/guest-info.js';
import { guestInfo } from './gather.js';
import { acquire, guestIfLock } from './lock.js';
import type { Plan } from '../model/plan.js';
import { planDetach, type DetachTarget } from './planner.js';
import { confirmedLinks, type HostView } from './trust.js';

export interface DetachRequest {
  guest: GuestRef;
  /** One interface (undefined: eth1, or a kind's own default where an attach of that kind made it), or all of them. */
  which: { all: true } | { guestIf?: string };
  /** Only what this owner made (its text, src/model/owner.ts); others are left, and named. */
  owner: (owner: string) => boolean;
  /** The owner, as the messages name it. */
  ownerName: string;
}

export interface DetachOutcome {
  guest: GuestInfo;
  plan: Plan;
  removed: DetachTarget[];
  /** Pipework interfaces left alone because another owner made them. */
  othersKept: DetachTarget[];
}

/** The pipework interfaces of a guest, with their records as the host confirms them (trust.ts). */
export function pipeworkTargets(facts: GuestFacts, nsInode: number, host: HostView): DetachTarget[] {
  return confirmedLinks(facts, nsInode, host).map(({ link, record }) => ({ guestIf: link.name, record }));
}

/**
 * Which interfaces a del removes (and which it leaves to their owners), among the guest's
 * interfaces (`facts`) those pipework made (`mine`).
 */
export function chooseTargets(facts: GuestFacts, mine: DetachTarget[], req: DetachRequest, label: string): { targets: DetachTarget[]; others: DetachTarget[] } {
  const owned = (t: DetachTarget) => req.owner(t.record.owner ?? 'cli');
  if ('all' in req.which) return { targets: mine.filter(owned), others: mine.filter((t) => !owned(t)) };
  // Without -i: eth1, or a kind's own default name where an attach of that kind made it (ib0 for IPoIB).
  const name = req.which.guestIf
    ?? (mine.some((t) => t.guestIf === DEFAULT_GUEST_IF) ? DEFAULT_GUEST_IF
      : mine.find((t) => t.guestIf !== DEFAULT_GUEST_IF && t.guestIf === defaultGuestIf(t.record.hostKind))?.guestIf ?? DEFAULT_GUEST_IF);
  const found = mine.find((t) => t.guestIf === name);
  if (found) {
    if (!owned(found)) {
      const by = found.record.owner ?? 'cli';
      throw new ConflictError(`${name} in ${label} was plumbed by ${by}, not ${req.ownerName}; remove it through ${by}${by === 'cli' ? '' : ` (or: pipework del --owner ${by})`}`);
    }
    return { targets: [found], others: [] };
  }
  if (facts.links.some((l) => l.name === name)) {
    throw new ConflictError(`${name} in ${label} was not plumbed by pipework (or the host does not confirm its record); not removing it`);
  }
  return { targets: [], others: [] };
}

/** Remove one or all of a guest's pipework interfaces; absent ones are fine (like CNI DEL). */
export async function detachFromGuest(guest: Guest, req: DetachRequest, ctx: RunContext): Promise<DetachOutcome> {
  const label = guest.ns.label;
  // Which interfaces to lock: decided without judging them (another run may be half-way through
  // making one); once locked, what is there then decides.
  const names = 'all' in req.which
    ? pipeworkTargets(await readGuestFacts(ctx.runner, guest.ns), guest.ns.inode, ctx.cache.hostLinks).map((t) => t.guestIf)
    : req.which.guestIf !== undefined ? [req.which.guestIf] : defaultGuestIfs();
  const held = ctx.dryRun ? undefined : await acquire(
    names.map((n) => guestIfLock(guest.ns.inode, n)),
    { signal: ctx.signal, purpose: ctx.purpose, ...(ctx.onWait && { onWait: ctx.onWait }), what: (key) => `interface ${key.split('/')[2]} of ${label}` },
  );
  try {
    const facts = await readGuestFacts(ctx.runner, guest.ns);
    ctx.cache.hostLinks.forget();
    const { targets, others } = chooseTargets(facts, pipeworkTargets(facts, guest.ns.inode, ctx.cache.hostLinks), req, label);
    const plan = planDetach(targets, facts, label, guest.id);
    // A resolv.conf a lease wrote for an earlier netns of this name must not stay for this one.
    if (guest.kind === 'netns') plan.steps.push(...planStaleCleanup([], staleResolvConfs().filter((r) => r.netns === guest.name), DHCP_AGENT));
    if (plan.steps.length > 0 && plan.outcome === 'unchanged') plan.outcome = 'removed';
    if (!ctx.dryRun) await execute([{ plan, ns: guest.ns }], ctx);
    return { guest: guestInfo(guest), plan, removed: targets, othersKept: others };
  } finally {
    held?.release();
  }
}

export async function detach(req: DetachRequest, ctx: RunContext): Promise<DetachOutcome> {
  const guest = await resolveGuest(req.guest, { runner: ctx.runner });
  try {
    return await detachFromGuest(guest, req, ctx);
  } finally {
    guest.ns.close();
  }
}
