/**
 * One undo journal for a run of several stages (a topology apply: make its netns and networks,
 * start its containers, plumb its links, remove what the file no longer names). Every stage's
 * work goes in: the executor's plans (through RunContext.journal) and work done outside it with
 * its undo (a container started). A failure or an interrupt in any stage undoes everything, newest
 * first, in one rollback, and the error says it once: what failed, and that everything was undone
 * — or exactly what was not.
 */
import type { NetnsHandle } from '../exec/netns.js';
import { openNetns } from '../exec/netns.js';
import { InterruptedError, PipeworkError } from '../model/errors.js';
import type { RunContext } from './context.js';
import { leftBehind, undoPlans, type Done } from './executor.js';
import type { HostLocks } from '../model/plan.js';

/** Work a stage did outside the executor. */
export interface JournalTask {
  title: string;
  /** Undo it; none: it cannot be undone. */
  undo?: () => Promise<void>;
}

/** What one plan of an executor stage did, in which namespace. */
export interface PlanDone {
  done: Done[];
  ns: NetnsHandle;
  locks?: HostLocks;
}

type Entry = { stage: string } & ({ kind: 'plans'; plans: PlanDone[] } | { kind: 'task'; task: JournalTask });

/** What the journal holds at a moment, for a message. */
export interface JournalSummary {
  /** The stages that did something, in order. */
  stages: string[];
  /** What was done that cannot be undone. */
  irreversible: string[];
}

export class Journal {
  private entries: Entry[] = [];
  private stageName = 'the run';
  /** Namespaces the entries' undo runs in, held open until the journal closes (by inode). */
  private readonly held = new Map<number, NetnsHandle>();
  /**
   * Plans executed in the stages before the current one: plans are counted across the run
   * (PIPEWORK_FAIL_STEP=K:N names the K-th plan of the whole run).
   */
  planCount = 0;

  /** The stage the next entries belong to, as messages name it ("the links it plumbed"). */
  stage(name: string): void {
    this.stageName = name;
  }

  get currentStage(): string {
    return this.stageName;
  }

  get empty(): boolean {
    return this.entries.length === 0;
  }

  /**
   * What an executor stage did; the namespaces its undo runs in are held until the journal closes
   * (only those: holding a namespace keeps it, and what is in it, alive).
   */
  addPlans(plans: readonly PlanDone[]): void {
    const kept = plans.filter((p) => p.done.length > 0).map((p) => (p.done.some((d) => d.step.undo.length > 0) ? { ...p, ns: this.hold(p.ns) } : p));
    if (kept.length > 0) this.entries.push({ stage: this.stageName, kind: 'plans', plans: kept });
  }

  /** Work done outside the executor, with its undo (none: it cannot be undone). */
  did(task: JournalTask): void {
    this.entries.push({ stage: this.stageName, kind: 'task', task });
  }

  summary(): JournalSummary {
    return {
      stages: [...new Set(this.entries.map((e) => e.stage))],
      irreversible: this.entries.flatMap((e) => (e.kind === 'task'
        ? (e.task.undo === undefined ? [e.task.title] : [])
        : e.plans.flatMap((p) => p.done.filter((d) => d.step.irreversible).map((d) => d.step.title)))),
    };
  }

  /**
   * Undo everything, newest first; the journal is empty afterwards. Returns what could not be
   * undone (failed undo actions, links the kernel still shows).
   */
  async rollback(ctx: Pick<RunContext, 'runner' | 'ip' | 'purpose' | 'onWait' | 'held'>): Promise<string[]> {
    const entries = this.entries.reverse();
    this.entries = [];
    const failures: string[] = [];
    for (const e of entries) {
      if (e.kind === 'plans') failures.push(...await undoPlans(e.plans, ctx));
      else if (e.task.undo) await e.task.undo().catch((err: unknown) => failures.push(`${e.task.title}: ${(err as Error).message}`));
    }
    if (failures.length === 0) {
      const left = await leftBehind(entries.flatMap((e) => (e.kind === 'plans' ? e.plans : [])), ctx.runner);
      if (left.length > 0) failures.push(`still there after undoing: ${left.join(', ')}`);
    }
    return failures;
  }

  /**
   * A stage failed (or was interrupted) outside the executor: undo everything and say so on the
   * error. An error the executor explained has nothing left here to undo and is returned as is.
   */
  async abort(err: unknown, ctx: Pick<RunContext, 'runner' | 'ip' | 'purpose' | 'onWait' | 'held'>): Promise<unknown> {
    if (this.empty) return err;
    const before = this.summary();
    const failures = await this.rollback(ctx);
    const note = undoNote(before, failures);
    if (err instanceof InterruptedError) return new InterruptedError(`${err.message}; ${note}`, { cause: err });
    if (err instanceof PipeworkError) {
      // Same class (a bad file stays a bad file): only the message says what was undone.
      Object.defineProperty(err, 'message', { value: `${err.message}; ${note}`, enumerable: false, writable: true, configurable: true });
    }
    return err;
  }

  /** What a rollback of several stages did, in words. */
  note(what: JournalSummary, failures: readonly string[]): string {
    return undoNote(what, failures);
  }

  /** Release the namespaces held for the undo. */
  close(): void {
    for (const ns of this.held.values()) ns.close();
    this.held.clear();
  }

  private hold(ns: NetnsHandle): NetnsHandle {
    let mine = this.held.get(ns.inode);
    if (!mine) {
      // Its own descriptor: the stage's closes when the stage ends.
      mine = openNetns(`/proc/self/fd/${ns.fd}`, ns.label);
      this.held.set(ns.inode, mine);
    }
    return mine;
  }
}

/** What a rollback of several stages did, in words. */
export function undoNote(what: JournalSummary, failures: readonly string[]): string {
  const stages = what.stages.length > 0 ? ` (${what.stages.join(', ')})` : '';
  if (failures.length > 0) {
    const kept = what.irreversible.length > 0 ? `; and what cannot be undone: ${what.irreversible.join('; ')}` : '';
    return `undoing what the run did${stages} also failed: ${failures.join('; ')}${kept}`;
  }
  if (what.irreversible.length > 0) return `everything the run did was undone${stages}, except what cannot be: ${what.irreversible.join('; ')}`;
  return `everything the run did was undone${stages}`;
}
