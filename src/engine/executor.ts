/**
 * The one executor, for one plan or many (a batch, a topology): the same step semantics either
 * way. Consecutive `ip` steps of one place run as one `ip -batch`; with many plans the host
 * segments of every plan share one `ip -batch` per wave and the guests' segments are fanned out
 * through one xargs. If anything fails — or the run is interrupted — every step of every plan
 * that was done (or may have been: a child that died mid-batch) is undone in reverse, and the
 * error names the failed step.
 */
import { accessSync, constants, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { batchLine, inProcessIp, ipBatch, ipJsonBatch, type BatchFailure } from '../exec/ip.js';
import { inNetns, type NetnsHandle } from '../exec/netns.js';
import { firstLine, nsPathOfFd, ownNetnsFd, runOk, spawnDetached, type Runner } from '../exec/runner.js';
import { hostLinkExists, isHostBridge, readHostLink } from '../host/links.js';
import { forget, keep } from '../host/kept-records.js';
import { linkInUse, vlanKept } from '../host/link-users.js';
import { OVS_TIMEOUT } from '../host/ovs-facts.js';
import { BusyError, CommandError, InterruptedError, PipeworkError, StepFailedError, UnsupportedError } from '../model/errors.js';
import type { RunContext } from './context.js';
import { HOST_LOCK, acquire, describeKey, type Held, type LockKey } from './lock.js';
import { mapLimit } from './pool.js';
import type { JournalSummary, PlanDone } from './journal.js';
import { GUEST_NETNS, HOST_NETNS, decidedWhenRun, mergeLocks, type Action, type ExecAction, type IpAction, type HostLocks, type KeepAction, type Plan, type Step } from '../model/plan.js';

/**
 * The locks host steps of these plans take (src/engine/lock.ts): the host's links shared, with
 * what the plans use (shared) and change (alone) — or, for a plan that does not say, the whole
 * host alone. Undoing (`alone`) takes everything alone.
 */
export function hostLockKeys(plans: readonly Plan[], alone = false): LockKey[] {
  if (plans.some((p) => p.locks === undefined)) return [HOST_LOCK];
  const all = mergeLocks(...plans.map((p) => p.locks));
  return [{ key: HOST_LOCK, shared: true }, ...all.uses.map((key): LockKey => (alone ? key : { key, shared: true })), ...all.changes];
}

export interface Job {
  plan: Plan;
  ns: NetnsHandle;
  /** For messages when a run has several plans ("line 12"). */
  label?: string;
}

/** A host link a step requires is gone: facts are stale, the engine reads them again. */
export class StaleFactsError extends PipeworkError {
  constructor(readonly link: string) {
    super(`${link} vanished while this run was planned (another run removed it)`);
  }
}

export interface Done {
  step: Step;
  /** A child died before it could tell whether it did this: undone too, its failure ignored. */
  uncertain?: boolean;
}

interface Cursor {
  job: Job;
  index: number;
  next: number;
  done: Done[];
}

/** A step of one plan failed (or may have: `uncertain`). */
class JobFailure extends Error {
  constructor(readonly cursor: Cursor, readonly stepIndex: number, message: string, override readonly cause?: unknown, readonly argv?: readonly string[]) {
    super(message);
  }
}

/** The program exited 0 but failed: what it did must be undone too. */
class HalfDoneError extends Error {}

class Executor {
  private readonly cursors: Cursor[];
  /** raceOk steps already done by a plan of this run (a shared bridge, VLAN sub-interface): the others skip them. */
  private readonly sharedDone = new Set<string>();
  private finished = 0;

  /** `jobs` with their index among the plans of the run (what PIPEWORK_FAIL_STEP counts). */
  constructor(
    jobs: { job: Job; index: number }[], private readonly ctx: RunContext, private readonly inProcess: boolean, private readonly many: boolean,
    private readonly options: ExecuteOptions = {},
  ) {
    this.cursors = jobs.map(({ job, index }) => ({ job, index, next: 0, done: [] }));
  }

  private get runner(): Runner {
    return this.ctx.runner;
  }

  async run(): Promise<void> {
    try {
      for (;;) {
        const active = this.cursors.filter((c) => c.next < c.job.plan.steps.length);
        if (active.length === 0) break;
        const aborted = this.interruptedBefore(active[0]!);
        if (aborted) throw aborted;
        await this.wave(active);
        for (const c of active) if (c.next >= c.job.plan.steps.length) this.ctx.onProgress?.(++this.finished, this.cursors.length);
      }
    } catch (err) {
      throw await this.undoAll(err);
    }
    // A run of several stages keeps what this one did, to undo it if a later stage fails.
    this.ctx.journal?.addPlans(this.planDone());
  }

  private planDone(): PlanDone[] {
    return this.cursors.map((c) => ({ done: c.done, ns: c.job.ns, ...(c.job.plan.locks !== undefined && { locks: c.job.plan.locks }) }));
  }

  private interruptedBefore(c: Cursor): JobFailure | undefined {
    if (!this.ctx.signal.aborted) return undefined;
    const why = typeof this.ctx.signal.reason === 'string' ? this.ctx.signal.reason : 'a signal';
    return new JobFailure(c, c.next, `interrupted by ${why}`, new InterruptedError(`interrupted by ${why}`));
  }

  private isFailPoint(c: Cursor, index: number): boolean {
    return this.ctx.failAt?.job === c.index && this.ctx.failAt.step === index;
  }

  /** The next segment of a plan: a run of plain ip steps of one place, or one step that goes alone. */
  private segment(c: Cursor): Step[] {
    const steps = c.job.plan.steps;
    const first = steps[c.next]!;
    if (alone(first)) return [first];
    const out = [first];
    for (let j = c.next + 1; j < steps.length; j++) {
      const s = steps[j]!;
      if (alone(s) || s.action.place !== first.action.place || this.isFailPoint(c, j)) break;
      out.push(s);
    }
    return out;
  }

  private async wave(active: Cursor[]): Promise<void> {
    const hostIp: Seg[] = [];
    const guestIp: Seg[] = [];
    const detached: Seg[] = [];
    const rest: Seg[] = [];
    for (const c of active) {
      if (this.isFailPoint(c, c.next)) throw new JobFailure(c, c.next, 'injected failure (PIPEWORK_FAIL_STEP)');
      const seg = this.segment(c);
      const a = seg[0]!.action;
      if (!alone(seg[0]!) && a.kind === 'ip') (a.place === 'host' ? hostIp : guestIp).push({ c, seg });
      else if (a.kind === 'exec' && a.detached === true) detached.push({ c, seg });
      else rest.push({ c, seg });
    }
    if (hostIp.length > 0) await this.withHostLock(hostIp.map(({ c }) => c.job.plan), () => this.hostBatch(hostIp));
    // Guest batches of many guests, and the gratuitous ARPs, each go to one xargs: one fork
    // of ours instead of one per guest (a fork of this process costs more than ip's work).
    const fanOut = guestIp.length > 1 && !this.inProcess;
    if (fanOut) await this.fannedGuestBatches(guestIp);
    if (detached.length > 1) this.detachedMany(detached);
    const single = [...rest, ...(fanOut ? [] : guestIp), ...(detached.length === 1 ? detached : [])];
    await mapLimit(single, this.ctx.concurrency, (s) => this.runAlone(s));
  }

  private async withHostLock<T>(plans: readonly Plan[], fn: () => Promise<T>): Promise<T> {
    // Waiting starts nothing: an interrupt ends the wait (undoing, in rollback, waits regardless).
    const held: Held = await acquire(hostLockKeys(plans), {
      what: describeKey, purpose: this.ctx.purpose, signal: this.ctx.signal, held: this.ctx.held, ...(this.ctx.onWait && { onWait: this.ctx.onWait }),
    });
    try {
      return await fn();
    } finally {
      held.release();
    }
  }

  /** Host links the steps require must still be there (checked under the host lock). */
  private checkRequires(steps: Step[]): void {
    for (const s of steps) for (const link of s.requires ?? []) if (!hostLinkExists(link)) throw new StaleFactsError(link);
  }

  private mark(c: Cursor, steps: Step[], uncertain = false): void {
    for (const step of steps) c.done.push(uncertain ? { step, uncertain } : { step });
    c.next += steps.length;
  }

  /** A failed batch line: the steps before it are done; a child that died leaves every line uncertain. */
  private settle(c: Cursor, seg: Step[], failure: BatchFailure): never {
    if (failure.uncertain) {
      this.mark(c, seg, true);
      throw new JobFailure(c, c.next - seg.length, failure.message, failure.error, ['ip', ...(seg[0]!.action as IpAction).args]);
    }
    // (A line number past the batch would be ip's nonsense: then the last line failed.)
    const at = Math.min(failure.failedLine, seg.length - 1);
    this.mark(c, seg.slice(0, at));
    const failed = seg[at]!;
    throw new JobFailure(c, c.next, failure.message, failure.error, ['ip', ...(failed.action as IpAction).args]);
  }

  /** One segment by itself: an exec step, a step that may race, a guarded step, or one plan's ip batch. */
  private async runAlone({ c, seg }: Seg): Promise<void> {
    const first = seg[0]!;
    const action = first.action;
    const host = action.place === 'host';
    const body = async () => {
      this.checkRequires(seg);
      if (action.kind === 'exec') return this.runExecStep(c, first, action);
      if (action.kind === 'keep') {
        runKeep(action);
        this.mark(c, [first]);
        return;
      }
      if (first.raceOk) return this.runShared(c, first, action);
      if (decidedWhenRun(action)) {
        if (!(await this.guardPasses(action))) {
          c.next++;
          return;
        }
      }
      const failure = await ipBatch(this.runner, seg.map((s) => (s.action as IpAction).args), {
        backend: this.ctx.ip, ns: c.job.ns, enter: !host, where: where(action.place, c.job.ns),
      });
      if (failure) this.settle(c, seg, failure);
      this.mark(c, seg);
    };
    // Changes on the host wait for other runs' changes there; a guest's own are its own, and a
    // program that only waits (a DHCP lease, an ARP) holds up nobody.
    const changesHost = host && action.kind !== 'keep' && !(action.kind === 'exec' && (action.detached === true || action.abortable === true));
    await (changesHost ? this.withHostLock([c.job.plan], body) : body());
  }

  /** What guards of this run found (a NIC's users are asked once, however many steps it guards). */
  private readonly guards = new Map<string, boolean>();

  /** Does a step decided when it runs go ahead? */
  private async guardPasses(action: IpAction): Promise<boolean> {
    const once = async (key: string, ask: () => Promise<boolean>): Promise<boolean> => {
      let v = this.guards.get(key);
      if (v === undefined) {
        v = await ask();
        this.guards.set(key, v);
      }
      return v;
    };
    if (action.onlyIfExists !== undefined && !hostLinkExists(action.onlyIfExists)) return false;
    if (action.onlyIfBridgeEmpty !== undefined && !bridgeEmpty(action.onlyIfBridgeEmpty)) return false;
    if (action.onlyIfVlanUnused !== undefined && await vlanKept(this.runner, action.onlyIfVlanUnused)) return false;
    if (action.onlyIfAltName !== undefined && !(await once(`alt/${action.onlyIfAltName}`, () => hasAltName(this.runner, action.onlyIfAltName!)))) return false;
    const unused = action.onlyIfLinkUnused;
    if (unused !== undefined) {
      return once(`unused/${unused}`, async () => hostLinkExists(unused) && !(await linkInUse(this.runner, unused)));
    }
    return true;
  }

  private async runExecStep(c: Cursor, step: Step, action: ExecAction): Promise<void> {
    if (action.onlyIfOvsBridgeEmpty !== undefined && !(await ovsBridgeEmpty(this.runner, action.onlyIfOvsBridgeEmpty))) {
      c.next++;
      return;
    }
    try {
      await runExec(action, this.runner, c.job.ns, this.ctx.signal);
    } catch (err) {
      if (action.mayFail === true && !this.ctx.signal.aborted && err instanceof CommandError && !err.timedOut) {
        this.mark(c, [step]);
        return;
      }
      if (err instanceof HalfDoneError) c.done.push({ step });
      // A child the interrupting signal reached (between its fork and its own process group) may
      // have done any part of its work: undone too, its failure ignored.
      else if (this.ctx.signal.aborted && err instanceof CommandError && err.signal !== null) c.done.push({ step, uncertain: true });
      if (this.ctx.signal.aborted && action.abortable === true) {
        throw new JobFailure(c, c.next, (err as Error).message, new InterruptedError((err as Error).message));
      }
      throw new JobFailure(c, c.next, (err as Error).message, err, action.argv);
    }
    this.mark(c, [step]);
  }

  /** A step several runs (or plans) may do at once: creating a shared bridge. */
  private async runShared(c: Cursor, step: Step, action: IpAction): Promise<void> {
    const key = action.args.join(' ');
    if (this.sharedDone.has(key) && sharedLinkThere(step.raceOk!)) {
      // Another plan of this run made it: use it, and leave its removal to that plan's undo.
      c.done.push({ step: { ...step, undo: [] } });
      c.next++;
      return;
    }
    const failure = await ipBatch(this.runner, [action.args], { where: 'the host', backend: this.ctx.ip });
    if (failure && !(/File exists/u.test(failure.message) && sharedLinkThere(step.raceOk!))) {
      this.settle(c, [step], failure);
    }
    // Whoever is second uses what the first made, and never removes it.
    c.done.push({ step: failure ? { ...step, undo: [] } : step });
    if (!failure) this.sharedDone.add(key);
    c.next++;
  }

  /** Every plan's host segment in one ip -batch; each guest's namespace is its own fd. */
  private async hostBatch(items: Seg[]): Promise<void> {
    for (const { seg } of items) this.checkRequires(seg);
    const layout = fdLayout(items.map(({ c }) => c.job.ns));
    const lines: string[][] = [];
    const owner: { item: Seg; k: number }[] = [];
    items.forEach((item, k) => {
      item.seg.forEach((step, i) => {
        lines.push(layout.rewrite((step.action as IpAction).args, k));
        owner.push({ item, k: i });
      });
    });
    const failure = await ipBatch(this.runner, lines, items.length === 1
      ? { ns: items[0]!.c.job.ns, where: 'the host', backend: this.ctx.ip }
      : { where: 'the host', fds: layout.fds, backend: this.ctx.ip });
    if (!failure) {
      for (const { c, seg } of items) this.mark(c, seg);
      return;
    }
    if (failure.uncertain) {
      for (const { c, seg } of items) this.mark(c, seg, true);
      const { c, seg } = items[0]!;
      throw new JobFailure(c, c.next - seg.length, failure.message, failure.error);
    }
    // Lines before the failed one are done, in whichever plans they belong to.
    const failedAt = owner[failure.failedLine]!;
    for (const item of items) {
      if (item === failedAt.item) break;
      this.mark(item.c, item.seg);
    }
    this.settle(failedAt.item.c, failedAt.item.seg, { ...failure, failedLine: failedAt.k });
  }

  /**
   * Each guest's segment in its own `ip -batch FILE` inside its namespace, run by one xargs
   * (8 at a time) that holds every namespace as an fd. A failing batch says
   * "Command failed FILE:LINE", which names the guest and the step.
   */
  private async fannedGuestBatches(items: Seg[]): Promise<void> {
    const dir = mkdtempSync(join(scratchDir(), 'pipework-batch-'));
    try {
      const layout = fdLayout(items.map(({ c }) => c.job.ns));
      const files = items.map(({ seg }, k) => {
        const file = join(dir, `g${k}.batch`);
        writeFileSync(file, seg.map((s) => batchLine(layout.rewrite((s.action as IpAction).args, k))).join('\n') + '\n');
        return file;
      });
      const groups = items.map((_, k) => [`--net=${nsPathOfFd(k)}`, '--', 'ip', '-batch', files[k]!]);
      const result = await this.runner.run(['xargs', '-0', '-n', '5', '-P', '8', 'nsenter'], {
        input: xargsInput(groups), fds: layout.fds, where: 'the guests', timeoutMs: 120_000,
      });
      const failed = new Map<number, { line: number; message: string }>();
      const lines = result.stderr.split('\n');
      lines.forEach((l, idx) => {
        const m = /^Command failed (.*)\.batch:(\d+)$/u.exec(l.trim());
        const k = m ? Number(/g(\d+)$/u.exec(m[1]!)?.[1]) : NaN;
        if (m && !Number.isNaN(k)) failed.set(k, { line: Number(m[2]) - 1, message: lines[idx - 1]?.trim() || l.trim() });
      });
      // xargs killed, or a guest's batch that failed without saying where (nsenter could not
      // enter): those guests may have done any part of theirs.
      const unexplained = result.code !== 0 && (result.signal !== null || result.timedOut || failed.size === 0);
      let first: JobFailure | undefined;
      items.forEach(({ c, seg }, k) => {
        const f = failed.get(k);
        if (f) {
          this.mark(c, seg.slice(0, f.line));
          first ??= new JobFailure(c, c.next, f.message, undefined, ['ip', ...(seg[f.line]!.action as IpAction).args]);
        } else {
          this.mark(c, seg, unexplained);
        }
      });
      if (first) throw first;
      if (result.code !== 0) {
        const { c, seg } = items[0]!;
        throw new JobFailure(c, c.next - seg.length, `running the guests' batches failed: ${firstLine(result.stderr) || `exit ${result.code ?? result.signal}`}`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  /** Fire-and-forget programs in many guests (the gratuitous ARPs), through one detached xargs. */
  private detachedMany(items: Seg[]): void {
    const groups = items.map(({ seg }, k) => [`--net=${nsPathOfFd(k)}`, '--', ...(seg[0]!.action as ExecAction).argv]);
    const per = groups[0]!.length;
    if (groups.some((g) => g.length !== per)) {
      for (const { c, seg } of items) spawnDetached(inNetns((seg[0]!.action as ExecAction).argv), c.job.ns.fd);
    } else {
      spawnDetached(['xargs', '-0', '-n', String(per), '-P', '32', 'nsenter'], undefined, {
        input: xargsInput(groups), fds: items.map(({ c }) => c.job.ns.fd),
      });
    }
    for (const { c, seg } of items) this.mark(c, seg);
  }

  // ---- undo ---------------------------------------------------------------------------------

  private async undoAll(err: unknown): Promise<unknown> {
    const mine = this.planDone();
    const failures = await undoPlans(mine, this.ctx);
    // "Undone" is said only when the kernel shows it: what the undo removed must be gone.
    const left = failures.length > 0 ? [] : await leftBehind(mine, this.runner);
    if (left.length > 0) failures.push(`still there after undoing: ${left.join(', ')}`);
    // The stages before this one (a run with a journal) are undone too — unless the caller tries
    // this stage again (facts that were stale): then they stay, and so does the journal.
    const journal = this.ctx.journal;
    if (journal === undefined || journal.empty || err instanceof StaleFactsError) return this.explain(err, failures);
    const alone = this.explain(err, failures);
    if (this.options.retryable?.(alone) === true) return alone;
    const earlier = journal.summary();
    failures.push(...await journal.rollback(this.ctx));
    return this.explain(err, failures, earlier);
  }

  /** `earlier`: what the stages before this one had done (undone with it). */
  private explain(err: unknown, undoFailures: string[], earlier?: JournalSummary): unknown {
    const doneHere = this.cursors.some((c) => c.done.length > 0);
    const anyDone = doneHere || earlier !== undefined;
    const kept = [...(earlier?.irreversible ?? []), ...this.cursors.flatMap((c) => c.done.filter((d) => d.step.irreversible).map((d) => d.step.title))];
    let undone = undoFailures.length > 0 ? `undoing the earlier steps also failed: ${undoFailures.join('; ')}`
      : !anyDone ? 'nothing was changed'
        : this.many ? 'everything the run did was undone' : 'everything done before it was undone';
    if (kept.length > 0) {
      undone = undoFailures.length === 0
        ? `everything done before it was undone, except what cannot be: ${kept.join('; ')}`
        : `${undone}; and what cannot be undone: ${kept.join('; ')}`;
    }
    if (earlier !== undefined) {
      const stages = [...new Set([...earlier.stages, ...(doneHere ? [this.ctx.journal!.currentStage] : [])])];
      undone = this.ctx.journal!.note({ stages, irreversible: kept }, undoFailures);
    }
    if (err instanceof StaleFactsError) return err;
    if (!(err instanceof JobFailure)) {
      // An interrupt (exit 130) or a host busy for too long keeps its class; what was done is undone all the same.
      if (err instanceof InterruptedError) return new InterruptedError(`${err.message}; ${undone}`, { cause: err });
      if (err instanceof BusyError) return new BusyError(`${err.message}; ${undone}`, { cause: err });
      if (err instanceof PipeworkError) return new StepFailedError(`${err.message}; ${undone}`, undefined, undoFailures, { cause: err });
      return err;
    }
    const { cursor, stepIndex } = err;
    const plan = cursor.job.plan;
    const step = plan.steps[stepIndex];
    const prefix = this.many && cursor.job.label !== undefined ? `${cursor.job.label}: ` : '';
    const at = step ? `step ${stepIndex + 1} of ${plan.steps.length} (${step.title})` : 'the run';
    if (this.ctx.signal.aborted && !(err.cause instanceof InterruptedError)) {
      // A step that failed because the signal reached its program too is the interrupt's doing.
      const why = typeof this.ctx.signal.reason === 'string' ? this.ctx.signal.reason : 'a signal';
      return new InterruptedError(`${prefix}interrupted by ${why} at ${at}; ${undone}`, { cause: err.cause ?? err });
    }
    if (err.cause instanceof InterruptedError) {
      // A program the interrupt stopped (a lease wait) says how it ended: the interrupt comes first.
      const why = typeof this.ctx.signal.reason === 'string' ? this.ctx.signal.reason : 'a signal';
      const what = err.message.startsWith('interrupted') || !this.ctx.signal.aborted ? err.message : `interrupted by ${why} (${err.message})`;
      return new InterruptedError(`${prefix}${what} at ${at}; ${undone}`, { cause: err.cause });
    }
    if (step?.needs !== undefined && MISSING_FEATURE.test(err.message)) {
      return new UnsupportedError(`${prefix}this kernel lacks ${step.needs}, needed to ${step.title}; ${undone}`, { cause: err.cause });
    }
    const argv = err.argv ?? (step ? commandOf(step.action) : []);
    return new StepFailedError(
      `${prefix}${at} failed: ${err.message}; ${undone}`,
      { index: stepIndex, title: step?.title ?? '', argv, ...(cursor.job.label !== undefined && { job: cursor.job.label }) },
      undoFailures,
      { cause: err.cause ?? err },
    );
  }
}

interface Seg {
  c: Cursor;
  seg: Step[];
}

/** Is the shared link a raceOk step makes there, as that kind of device? (sysfs; no process.) */
function sharedLinkThere(race: NonNullable<Step['raceOk']>): boolean {
  if ('bridgeExists' in race) return isHostBridge(race.bridgeExists);
  try {
    return /^DEVTYPE=vlan$/mu.test(readFileSync(`/sys/class/net/${race.vlanExists}/uevent`, 'utf8'));
  } catch {
    return false;
  }
}

/** Steps that run by themselves: programs, shared creations, and steps decided when they run. */
function alone(s: Step): boolean {
  const a = s.action;
  return a.kind !== 'ip' || s.raceOk !== undefined || decidedWhenRun(a);
}

/** A Linux bridge with no port (sysfs); one that is gone is not empty: there is nothing to remove. */
function bridgeEmpty(name: string): boolean {
  const link = readHostLink(name);
  return link?.isBridge === true && link.ports.length === 0;
}

/** Does a host link answer to this (alternative) name? sysfs does not list alternative names: ip does. */
async function hasAltName(runner: Runner, name: string): Promise<boolean> {
  return (await runner.run(['ip', 'link', 'show', 'dev', name], { timeoutMs: 10_000 })).code === 0;
}

/** The kernel's words for a device type or operation it was built without. */
const MISSING_FEATURE = /Unknown device type|Operation not supported|not supported|Unknown qdisc/iu;

function where(place: 'host' | 'guest', ns: NetnsHandle): string {
  return place === 'host' ? 'the host' : `the guest (${ns.label})`;
}

function commandOf(a: Action): string[] {
  return a.kind === 'ip' ? ['ip', ...a.args] : a.kind === 'exec' ? a.argv : [];
}

/** Write or remove a record pipework keeps on the host (no process). */
function runKeep(a: KeepAction): void {
  if (a.text === null) forget(a.key);
  else keep(a.key, a.text);
}

/**
 * The namespaces handed to one child for several plans: guest k as fd 3+k, the host's after
 * them. A plan's lines name its guest and the host by token (GUEST_NETNS, HOST_NETNS): each is
 * its fd here, so a NIC given back in plan k goes to the host, not to another guest.
 */
function fdLayout(namespaces: NetnsHandle[]): { fds: number[]; rewrite(args: readonly string[], k: number): string[] } {
  const hostK = namespaces.length;
  return {
    fds: [...namespaces.map((ns) => ns.fd), ownNetnsFd()],
    rewrite: (args, k) => args.map((a) => (a === GUEST_NETNS ? nsPathOfFd(k) : a === HOST_NETNS ? nsPathOfFd(hostK) : a)),
  };
}

/**
 * Where the guests' batch files go: /dev/shm when it is there, since creating 200 small files
 * costs about 47 ms on this disk file system and 3 ms on tmpfs.
 */
function scratchDir(): string {
  try {
    accessSync('/dev/shm', constants.W_OK);
    return '/dev/shm';
  } catch {
    return tmpdir();
  }
}

/** Arguments for xargs -0 -n <per>: one group per command. */
function xargsInput(groups: string[][]): string {
  return groups.map((g) => g.map((a) => `${a}\0`).join('')).join('');
}

async function runExec(action: ExecAction, runner: Runner, ns: NetnsHandle, signal?: AbortSignal): Promise<void> {
  const argv = action.place === 'guest' ? inNetns(action.argv) : action.argv;
  if (action.detached === true) {
    spawnDetached(argv, ns.fd);
    return;
  }
  const options = {
    nsFd: ns.fd, where: where(action.place, ns), timeoutMs: action.timeoutMs ?? 60_000,
    ...(action.abortable === true && signal !== undefined && { signal }),
  };
  if (action.errorLabel !== undefined) {
    // Our own programs (the DHCP agent) say what went wrong in their first line of stderr.
    const res = await runner.run(argv, options);
    if (res.code !== 0) {
      throw new Error(`${action.errorLabel}: ${firstLine(res.stderr) || (res.timedOut ? `timed out after ${options.timeoutMs} ms` : `exit ${res.code ?? res.signal}`)}`);
    }
    return;
  }
  const result = await runOk(runner, argv, options);
  if (action.failOnStderr !== undefined && result.stderr.includes(action.failOnStderr)) {
    throw new HalfDoneError(`${action.argv[0] ?? ''} reported: ${firstLine(result.stderr.slice(result.stderr.indexOf(action.failOnStderr)))}`);
  }
}

/**
 * Links an undo deleted (`ip link del`, not one decided when it runs) that the kernel still shows:
 * on the host from sysfs, in a guest with one `ip` there. Only a failed run pays for this.
 */
export async function leftBehind(plans: readonly { done: readonly Done[]; ns: NetnsHandle }[], runner: Runner): Promise<string[]> {
  const left: string[] = [];
  for (const c of plans) {
    const deleted = c.done.flatMap((d) => d.step.undo).filter((a): a is IpAction => a.kind === 'ip' && a.args[0] === 'link' && a.args[1] === 'del'
      && !decidedWhenRun(a));
    for (const a of deleted.filter((x) => x.place === 'host')) {
      const name = a.args[a.args.length - 1]!;
      if (hostLinkExists(name)) left.push(`${name} on the host`);
    }
    const inGuest = deleted.filter((x) => x.place === 'guest').map((x) => x.args[x.args.length - 1]!);
    if (inGuest.length === 0) continue;
    try {
      const [links] = await ipJsonBatch(runner, [['link', 'show']], { ns: c.ns, where: where('guest', c.ns) });
      const names = new Set((links as { ifname?: string }[]).map((l) => l.ifname));
      for (const name of inGuest) if (names.has(name)) left.push(`${name} in ${c.ns.label}`);
    } catch {
      // The guest is gone: so is what was in it.
    }
  }
  return left;
}

async function ovsBridgeEmpty(runner: Runner, bridge: string): Promise<boolean> {
  const res = await runner.run(['ovs-vsctl', OVS_TIMEOUT, 'list-ports', bridge], { timeoutMs: 15_000 });
  return res.code === 0 && res.stdout.trim() === '';
}

/**
 * Undo what several plans did: the newest plan first, each plan's steps in reverse. What several
 * plans shared (a bridge made by one of them, a VLAN sub-interface) goes last, once every plan's
 * own part is undone. Returns the undo actions that failed.
 */
export async function undoPlans(plans: readonly PlanDone[], ctx: Pick<RunContext, 'runner' | 'ip' | 'purpose' | 'onWait' | 'held'>): Promise<string[]> {
  const failures: string[] = [];
  const shared: { done: Done; ns: NetnsHandle; locks?: HostLocks }[] = [];
  for (const p of plans.slice().reverse()) failures.push(...(await rollback(p.done, ctx, p.ns, shared, p.locks)));
  for (const { done, ns, locks } of shared) failures.push(...(await rollback([done], ctx, ns, undefined, locks)));
  return failures;
}

/**
 * Undo what was done, newest first. Returns the undo actions that failed. With `shared`, the
 * steps that may serve other plans too (raceOk: a bridge, a VLAN sub-interface) are not undone
 * but handed there, for the caller to undo after the other plans.
 */
export async function rollback(
  done: Done[], ctx: Pick<RunContext, 'runner' | 'ip' | 'purpose' | 'onWait' | 'held'>, ns: NetnsHandle, shared?: { done: Done; ns: NetnsHandle; locks?: HostLocks }[],
  locks?: HostLocks,
): Promise<string[]> {
  const runner = ctx.runner;
  const own = shared === undefined ? done : done.filter((d) => {
    if (d.step.raceOk === undefined || d.step.undo.length === 0) return true;
    shared.push({ done: d, ns, ...(locks !== undefined && { locks }) });
    return false;
  });
  const actions = own.slice().reverse().flatMap((d) => d.step.undo.slice().reverse().map((action) => ({ action, uncertain: d.uncertain === true })));
  if (actions.length === 0) return [];
  const failures: string[] = [];
  // Undoing waits for the host's links however long another run holds them, whatever signal
  // comes: what this run made must not stay half-made because another run was slow.
  const hostHeld = actions.some((a) => a.action.place === 'host')
    ? await acquire(hostLockKeys([{ guestLabel: '', steps: [], warnings: [], outcome: 'removed', ...(locks !== undefined && { locks }) }], true), {
      what: describeKey, purpose: `undoing: ${ctx.purpose}`, patient: true, held: ctx.held, ...(ctx.onWait && { onWait: ctx.onWait }),
    })
    : undefined;
  try {
    let i = 0;
    while (i < actions.length) {
      const { action, uncertain } = actions[i]!;
      i++;
      if (action.kind === 'keep') {
        try {
          runKeep(action);
        } catch (err) {
          if (!uncertain) failures.push((err as Error).message);
        }
        continue;
      }
      if (action.kind === 'exec') {
        if (action.onlyIfOvsBridgeEmpty !== undefined && !(await ovsBridgeEmpty(runner, action.onlyIfOvsBridgeEmpty))) continue;
        try {
          await runOk(runner, action.place === 'guest' ? inNetns(action.argv) : action.argv, { nsFd: ns.fd, timeoutMs: action.timeoutMs ?? 30_000 });
        } catch (err) {
          if (!uncertain) failures.push((err as Error).message);
        }
        continue;
      }
      // A bridge is removed only if no port is left once the undos before it have run (so it
      // starts a new batch, decided now, not when the batch before it was put together).
      if (action.onlyIfBridgeEmpty !== undefined && (readHostLink(action.onlyIfBridgeEmpty)?.ports.length ?? 1) !== 0) continue;
      // Group ip undos of one place (and certainty); -force makes ip try every line even if one fails.
      const group: IpAction[] = [action];
      while (i < actions.length) {
        const next = actions[i]!;
        if (next.action.kind !== 'ip' || next.action.place !== action.place || next.uncertain !== uncertain || next.action.onlyIfBridgeEmpty !== undefined) break;
        group.push(next.action);
        i++;
      }
      const failure = await ipBatch(runner, group.map((a) => a.args), { ns, enter: action.place === 'guest', force: true, where: where(action.place, ns), backend: ctx.ip });
      if (failure && !uncertain) failures.push(`ip ${group[failure.failedLine]?.args.join(' ') ?? ''}: ${failure.message}`);
    }
  } finally {
    hostHeld?.release();
  }
  return failures;
}

export interface ExecuteOptions {
  /**
   * The caller will try this stage again after such a failure (facts read anew): the stages
   * before it (ctx.journal) are not undone then.
   */
  retryable?: (err: unknown) => boolean;
}

/**
 * Apply the plans of one run, all or nothing. Plans with no steps are fine. With a journal
 * (ctx.journal) this is one stage of a run: what it did stays in the journal, and a failure undoes
 * the stages before it too.
 */
export async function execute(jobs: Job[], ctx: RunContext, options: ExecuteOptions = {}): Promise<void> {
  const base = ctx.journal?.planCount ?? 0;
  const work = jobs.map((job, index) => ({ job, index: base + index })).filter(({ job }) => job.plan.steps.length > 0);
  if (work.length > 0) {
    // With the in-process prototype, each guest's lines are a few syscalls here: no fan-out.
    const inProcess = (await inProcessIp(ctx.ip)) !== undefined;
    await new Executor(work, ctx, inProcess, jobs.length > 1, options).run();
  }
  if (ctx.journal) ctx.journal.planCount += jobs.length;
}
