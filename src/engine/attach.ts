/**
 * The engine's front: attach specs → held guests → locks → facts → plans → one execution → results.
 * One spec or many (a batch, a topology, a container's labels): many are all or nothing.
 */
import { dockerIndex } from '../guest/docker-index.js';
import type { Guest } from '../guest/guest.js';
import { formatGuestRef, resolveGuest } from '../guest/resolve.js';
import { ConflictError, InterruptedError, PipeworkError, StepFailedError, withPrefix } from '../model/errors.js';
import type { AttachRecord } from '../model/record.js';
import type { AttachSpec, StaticAddressing } from '../model/attach-spec.js';
import type { Facts } from '../drivers/facts.js';
import { Journal } from './journal.js';
import type { RunContext } from './context.js';
import { StaleFactsError, execute, type Job } from './executor.js';
import type { GuestInfo } from '../model/guest-info.js';
import { gatherFacts, guestInfo } from './gather.js';
import { acquire, guestIfLock, hostEndLock } from './lock.js';
import type { AttachNames } from '../drivers/names.js';
import { attachNames } from '../drivers/registry.js';
import type { Outcome, Plan } from '../model/plan.js';
import { planAddressing, planAttach } from './planner.js';
import { mapLimit } from './pool.js';
import { resultOf, type AttachResult } from './result.js';

export interface AttachOutcome {
  spec: AttachSpec;
  guest: GuestInfo;
  plan: Plan;
  outcome: Outcome;
  /** What is recorded on the interface now. */
  record: AttachRecord;
  /** The interface, its addresses and routes, as data (a CNI result, --json). */
  result: AttachResult;
  warnings: string[];
}

export interface AttachOptions {
  /** Per spec, what messages call it ("line 12"); errors are prefixed with it when there are several. */
  labels?: string[];
  /**
   * Plans of the same run that go first and are undone with it (a topology's networks: a bridge,
   * an OVS bridge, a VXLAN device): one execution, all or nothing.
   */
  prelude?: Job[];
  /**
   * The addresses are known only once the interfaces exist (a CNI IPAM plugin such as dhcp looks
   * the interface up in the guest): the run is then made in two halves, through one journal. The
   * first makes every interface (and the prelude) as if it had no address — up, recorded — and
   * this is called with what it made and the run's journal; it returns each spec's addresses
   * (and jobs of its own that go before them), and whatever it does meanwhile outside the engine
   * goes in that journal with its undo. The second half records and adds the addresses and
   * routes. A failure anywhere, or an interrupt, undoes all of it, newest first. The specs'
   * own `addressing` is not used (a dry run plans the first half only).
   */
  addressLater?: AddressLater;
}

/** See AttachOptions.addressLater. */
export type AddressLater = (made: readonly AttachOutcome[], journal: Journal) => Promise<{ addressing: StaticAddressing[]; jobs?: Job[] }>;

/** The first half of an attach whose addresses come later: no address, no route. */
const NO_ADDRESS: StaticAddressing = { kind: 'static', addresses: [], routes: [] };

/** Resolve each distinct guest once (its namespace held), many at a time. */
export async function resolveGuests(specs: readonly AttachSpec[], ctx: RunContext, labels?: string[]): Promise<Guest[]> {
  const keys = specs.map((s) => JSON.stringify(s.guest));
  const distinct = [...new Set(keys)];
  // Many guests: list Docker's containers once instead of one inspect call each.
  const index = distinct.length > 1 ? await (ctx.cache.dockerIndex ??= dockerIndex()) : undefined;
  const byKey = new Map<string, Guest>();
  try {
    await mapLimit(distinct, 16, async (key) => {
      const at = keys.indexOf(key);
      try {
        byKey.set(key, await resolveGuest(specs[at]!.guest, { runner: ctx.runner, ...(index && { dockerIndex: index }) }));
      } catch (err) {
        throw labels && specs.length > 1 && err instanceof PipeworkError ? withPrefix(err, `${labels[at]}: `) : err;
      }
    });
  } catch (err) {
    for (const g of byKey.values()) g.ns.close();
    throw err;
  }
  return keys.map((k) => byKey.get(k)!);
}

/**
 * Two specs for one guest interface: the same one twice is done once (as running it twice
 * would be); two different ones are refused, naming what differs. Returns, per spec, the index
 * of the spec it repeats (or itself).
 */
export function dedupe(specs: readonly AttachSpec[], guests: Pick<Guest, 'ns'>[], names: AttachNames[], label: (i: number) => string): number[] {
  const seen = new Map<string, number>();
  const hostEnds = new Map<string, number>();
  const gateways = new Map<string, number>();
  return specs.map((spec, i) => {
    const key = `${guests[i]!.ns.inode}/${spec.guestIf}`;
    const first = seen.get(key);
    if (first !== undefined) {
      // Compared once resolved: the guest is the namespace (c1 and docker:c1 may be one), the host end its name.
      const resolved = (k: number): Record<string, unknown> => ({ ...specs[k], guest: undefined, hostEnd: names[k]!.hostEnd });
      const a = resolved(first);
      const b = resolved(i);
      const fields = Object.keys({ ...a, ...b }).filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k]));
      if (fields.length === 0) return first;
      throw new ConflictError(`${label(i)}: ${formatGuestRef(spec.guest)} interface ${spec.guestIf} is already plumbed by ${label(first)} with another ${fields.join(', ')}`);
    }
    seen.set(key, i);
    // A guest has one default route per family: two specs that both set it contradict each other.
    const a = spec.addressing;
    for (const [family, gw] of [[4, a.kind === 'static' ? a.gateway4 : undefined], [6, a.kind === 'static' ? a.gateway6 : undefined]] as const) {
      if (gw === undefined) continue;
      const gkey = `${guests[i]!.ns.inode}/${family}`;
      const other = gateways.get(gkey);
      if (other !== undefined) throw new ConflictError(`${label(i)}: ${formatGuestRef(spec.guest)} gets its IPv${family} default route from ${label(other)} already; give only one of them a gateway`);
      gateways.set(gkey, i);
    }
    const hostEnd = names[i]!.hostEnd;
    if (hostEnd !== undefined) {
      const other = hostEnds.get(hostEnd);
      if (other !== undefined) throw new ConflictError(`${label(i)}: host end ${hostEnd} is also the host end of ${label(other)}; give each its own -l`);
      hostEnds.set(hostEnd, i);
    }
    return i;
  });
}

/** Plan (and, unless a dry run, apply) every spec: all or nothing. */
export async function attachSpecs(specs: readonly AttachSpec[], ctx: RunContext, options: AttachOptions = {}): Promise<AttachOutcome[]> {
  if (specs.length === 0) {
    if (!ctx.dryRun && options.prelude !== undefined) await execute(options.prelude, ctx);
    return [];
  }
  const label = (i: number) => options.labels?.[i] ?? `attach ${i + 1}`;
  const many = specs.length > 1;
  const prefixed = (i: number, err: unknown) => (many && err instanceof PipeworkError ? withPrefix(err, `${label(i)}: `) : err);
  const guests = await resolveGuests(specs, ctx, options.labels);
  try {
    const names = specs.map((s, i) => attachNames(s, guestIdentity(guests[i]!)));
    const firstOf = dedupe(specs, guests, names, label);
    const unique = specs.map((_, i) => i).filter((i) => firstOf[i] === i);
    const held = ctx.dryRun ? undefined : await acquire(
      unique.flatMap((i) => [guestIfLock(guests[i]!.ns.inode, specs[i]!.guestIf), ...(names[i]!.hostEnd !== undefined ? [hostEndLock(names[i]!.hostEnd)] : [])]),
      {
        signal: ctx.signal, purpose: ctx.purpose, ...(ctx.onWait && { onWait: ctx.onWait }),
        what: (key) => (key.startsWith('if/') ? `interface ${key.split('/')[2]} of that guest` : `host link ${key.slice('link/'.length)}`),
      },
    );
    try {
      if (options.addressLater !== undefined) {
        const halves = { unique, firstOf, guests, names, prefixed, label, prelude: options.prelude ?? [], later: options.addressLater };
        return await inTwoHalves(specs, ctx, halves);
      }
      const { plans } = await planAndRun(unique, specs, guests, names, ctx, prefixed, label, options.prelude ?? []);
      return outcomesOf(specs, firstOf, guests, plans);
    } finally {
      held?.release();
    }
  } finally {
    for (const g of new Set(guests)) g.ns.close();
  }
}

function outcomesOf(specs: readonly AttachSpec[], firstOf: number[], guests: Guest[], plans: Map<number, Plan>): AttachOutcome[] {
  return specs.map((spec, i) => {
    const plan = plans.get(firstOf[i]!)!;
    const guest = guestInfo(guests[i]!);
    const record = plan.record!;
    return { spec, guest, plan, outcome: plan.outcome, record, result: resultOf(spec, guest, record), warnings: plan.warnings };
  });
}

interface Halves {
  unique: number[];
  firstOf: number[];
  guests: Guest[];
  names: AttachNames[];
  prefixed: (i: number, err: unknown) => unknown;
  label: (i: number) => string;
  prelude: Job[];
  later: AddressLater;
}

/**
 * AttachOptions.addressLater: the interfaces with no address, then the caller's part (IPAM), then
 * the addresses — one journal, so a failure in any of them undoes all three, newest first (what
 * the caller did, such as an allocation, goes before the interface it was for).
 */
async function inTwoHalves(specs: readonly AttachSpec[], ctx: RunContext, h: Halves): Promise<AttachOutcome[]> {
  const first = specs.map((s) => ({ ...s, addressing: NO_ADDRESS }));
  if (ctx.dryRun) return outcomesOf(first, h.firstOf, h.guests, (await planAndRun(h.unique, first, h.guests, h.names, ctx, h.prefixed, h.label, h.prelude)).plans);
  // A run of several stages already has its journal (and undoes it when this fails).
  const own = ctx.journal === undefined ? new Journal() : undefined;
  const run: RunContext = own !== undefined ? { ...ctx, journal: own } : ctx;
  const journal = run.journal!;
  try {
    journal.stage('the interfaces');
    const made = await planAndRun(h.unique, first, h.guests, h.names, run, h.prefixed, h.label, h.prelude);
    const madeOutcomes = outcomesOf(first, h.firstOf, h.guests, made.plans);
    journal.stage('what came before the addresses');
    const given = await h.later(madeOutcomes, journal);
    if (given.addressing.length !== specs.length) throw new PipeworkError(`internal: ${given.addressing.length} addressings for ${specs.length} interfaces`);
    if (run.signal.aborted) throw new InterruptedError(`interrupted by ${typeof run.signal.reason === 'string' ? run.signal.reason : 'a signal'}`);
    const final = specs.map((s, i) => ({ ...s, addressing: given.addressing[i]! }));
    journal.stage('the addresses');
    const plans = new Map<number, Plan>();
    for (const i of h.unique) {
      try {
        const input = { spec: final[i]!, guest: guestInfo(h.guests[i]!), names: h.names[i]!, facts: made.facts.get(i)! };
        plans.set(i, planAddressing(input, made.plans.get(i)!.record!));
      } catch (err) {
        throw h.prefixed(i, err);
      }
    }
    const jobs: Job[] = [...(given.jobs ?? []), ...h.unique.map((i) => ({ plan: plans.get(i)!, ns: h.guests[i]!.ns, label: h.label(i) }))];
    await execute(jobs, run);
    return final.map((spec, i) => {
      const half = madeOutcomes[i]!;
      const plan = plans.get(h.firstOf[i]!)!;
      const record = plan.record!;
      return {
        spec, guest: half.guest, plan: { ...plan, steps: [...half.plan.steps, ...plan.steps] }, outcome: half.outcome, record,
        result: resultOf(spec, half.guest, record), warnings: [...half.warnings, ...plan.warnings],
      };
    });
  } catch (err) {
    if (own === undefined) throw err;
    throw await own.abort(err, run);
  } finally {
    own?.close();
  }
}

function guestIdentity(g: Guest): { pid?: number; nsInode: number } {
  return { ...(g.pid !== undefined && { pid: g.pid }), nsInode: g.ns.inode };
}

/**
 * Facts → plans → execution. When the quick facts were wrong (an interface the kernel says
 * exists), or the host changed under the plan (a bridge another run removed), it reads the
 * facts again and plans anew — at most twice more.
 */
async function planAndRun(
  unique: number[], specs: readonly AttachSpec[], guests: Guest[], names: AttachNames[], ctx: RunContext,
  prefixed: (i: number, err: unknown) => unknown, label: (i: number) => string, prelude: Job[],
): Promise<{ plans: Map<number, Plan>; facts: Map<number, Facts> }> {
  for (let attempt = 0; ; attempt++) {
    const full = attempt > 0;
    if (full) ctx.cache.hostLinks.forget();
    const plans = new Map<number, Plan>();
    const factsOf = new Map<number, Facts>();
    let assumed = false;
    await mapLimit(unique, 16, async (i) => {
      try {
        const facts = await gatherFacts(ctx, specs[i]!, guests[i]!, names[i]!, full);
        if (facts.guest.complete !== true) assumed = true;
        factsOf.set(i, facts);
        plans.set(i, planAttach({ spec: specs[i]!, guest: guestInfo(guests[i]!), names: names[i]!, facts }));
      } catch (err) {
        throw prefixed(i, err);
      }
    });
    if (ctx.dryRun) return { plans, facts: factsOf };
    const jobs: Job[] = [...prelude, ...unique.map((i) => ({ plan: plans.get(i)!, ns: guests[i]!.ns, label: label(i) }))];
    const retry = (err: unknown) => attempt < 2 && (err instanceof StaleFactsError
      || (assumed && !full && err instanceof StepFailedError && /File exists/u.test(err.message)));
    try {
      // (A run of several stages keeps its earlier stages while this one is tried again.)
      await execute(jobs, ctx, { retryable: retry });
      return { plans, facts: factsOf };
    } catch (err) {
      if (!retry(err)) throw err;
    }
  }
}
