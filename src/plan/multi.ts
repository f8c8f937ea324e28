/**
 * Apply many plans together (`pipework batch`): the host steps of every plan go into one
 * `ip -batch` per wave, each guest gets one process per wave, and a failure anywhere undoes
 * everything every plan did, as a single run would.
 */
import { accessSync, constants, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { batchLine, inProcessIp, ipBatch } from '../exec/ip.js';
import { inNetns } from '../exec/netns.js';
import type { NetnsHandle } from '../exec/netns.js';
import { NS_PATH_IN_CHILD, nsPathOfFd, spawnDetached, type Runner } from '../exec/runner.js';
import { readHostLink } from '../host/facts.js';
import { interruption } from '../exec/signals.js';
import { StepFailedError } from '../model/errors.js';
import { HalfDoneError, rollback, runExec } from './apply.js';
import { mapLimit } from './pool.js';
import type { ExecAction, IpAction, Plan, Step } from './types.js';

export interface PlanJob {
  plan: Plan;
  ns: NetnsHandle;
  /** For messages: where the plan came from ("line 12"). */
  label: string;
}

export interface MultiOptions {
  runner: Runner;
  /** Called as guests finish, for a progress display. */
  onProgress?: (done: number, total: number) => void;
  /** How many guest processes run at once. */
  concurrency?: number;
}

interface Cursor {
  job: PlanJob;
  next: number;
  done: Step[];
}

/** The next segment of a plan: a run of ip steps of one place, or one exec step. */
function segment(c: Cursor): Step[] {
  const steps = c.job.plan.steps;
  const first = steps[c.next];
  if (!first) return [];
  if (first.action.kind === 'exec' || first.raceOk) return [first];
  const out = [first];
  for (let j = c.next + 1; j < steps.length; j++) {
    const s = steps[j]!;
    if (s.action.kind !== 'ip' || s.action.place !== first.action.place || s.raceOk) break;
    out.push(s);
  }
  return out;
}

class JobFailure extends Error {
  constructor(readonly cursor: Cursor, readonly stepIndex: number, message: string) {
    super(message);
  }
}

export async function applyPlans(jobs: PlanJob[], opts: MultiOptions): Promise<void> {
  const cursors: Cursor[] = jobs.map((job) => ({ job, next: 0, done: [] }));
  const limit = opts.concurrency ?? 8;
  // With the in-process prototype, each guest's lines are a few syscalls here: no fan-out.
  const inProcess = (await inProcessIp(opts.runner)) !== undefined;
  let finished = 0;
  try {
    for (;;) {
      const active = cursors.filter((c) => c.next < c.job.plan.steps.length);
      if (active.length === 0) break;
      const signal = interruption();
      if (signal !== undefined) throw new Error(`interrupted by ${signal}`);
      const hostIp: { c: Cursor; seg: Step[] }[] = [];
      const perGuest: { c: Cursor; seg: Step[] }[] = [];
      for (const c of active) {
        const seg = segment(c);
        const a = seg[0]!.action;
        if (a.kind === 'ip' && a.place === 'host' && !seg[0]!.raceOk) hostIp.push({ c, seg });
        else perGuest.push({ c, seg });
      }
      if (hostIp.length > 0) await mergedHostBatch(hostIp, opts.runner);
      // Guest batches of many guests, and the gratuitous ARPs, each go to one xargs: one fork
      // of ours instead of one per guest (a fork of this process costs more than ip's work).
      const isGuestIp = (s: Step) => s.action.kind === 'ip' && s.action.place === 'guest';
      const isDetached = (s: Step) => s.action.kind === 'exec' && s.action.detached === true;
      const guestIp = perGuest.filter(({ seg }) => isGuestIp(seg[0]!));
      const detached = perGuest.filter(({ seg }) => isDetached(seg[0]!));
      const rest = perGuest.filter((x) => !guestIp.includes(x) && !detached.includes(x));
      const fanOut = guestIp.length > 1 && !inProcess;
      if (fanOut) await fannedGuestBatches(guestIp, opts.runner);
      if (detached.length > 1) detachedMany(detached);
      const single = [...rest, ...(fanOut ? [] : guestIp), ...(detached.length === 1 ? detached : [])];
      await mapLimit(single, limit, async ({ c, seg }) => runSegment(c, seg, opts.runner));
      for (const { c } of [...hostIp, ...perGuest]) if (c.next >= c.job.plan.steps.length) opts.onProgress?.(++finished, cursors.length);
    }
  } catch (err) {
    // Undo every plan, newest plan first; each plan's steps in reverse.
    const undoFailures: string[] = [];
    for (const c of cursors.slice().reverse()) {
      undoFailures.push(...(await rollback(c.done, { runner: opts.runner, ns: c.job.ns })));
    }
    const undone = undoFailures.length === 0 ? 'everything the batch did was undone' : `undoing also failed: ${undoFailures.join('; ')}`;
    if (err instanceof JobFailure) {
      const step = err.cursor.job.plan.steps[err.stepIndex]!;
      throw new StepFailedError(`${err.cursor.job.label}: step ${err.stepIndex + 1} (${step.title}) failed: ${err.message}; ${undone}`, err.stepIndex, undoFailures, { cause: err });
    }
    throw new StepFailedError(`${(err as Error).message}; ${undone}`, -1, undoFailures, { cause: err });
  }
}

/** One guest-side segment, an exec step, or a step that must run alone (a shared bridge). */
async function runSegment(c: Cursor, seg: Step[], runner: Runner): Promise<void> {
  const first = seg[0]!;
  if (first.action.kind === 'exec') {
    try {
      await runExec(first.action, { runner, ns: c.job.ns });
    } catch (err) {
      if (err instanceof HalfDoneError) c.done.push(first);
      throw new JobFailure(c, c.next, (err as Error).message);
    }
    c.done.push(first);
    c.next++;
    return;
  }
  if (first.raceOk) {
    // Several lines (or other runs) may create the same bridge: whoever is second uses it
    // and never removes it.
    const failure = await ipBatch(runner, [(first.action).args], { where: 'the host' });
    if (failure && !(/File exists/u.test(failure.message) && readHostLink(first.raceOk.bridgeExists)?.isBridge)) {
      throw new JobFailure(c, c.next, failure.message);
    }
    c.done.push(failure ? { ...first, undo: [] } : first);
    c.next++;
    return;
  }
  const failure = await ipBatch(runner, seg.map((s) => (s.action as IpAction).args), {
    ns: c.job.ns, enter: first.action.place === 'guest', where: `the guest (${c.job.ns.label})`,
  });
  const ok = failure ? failure.failedLine : seg.length;
  c.done.push(...seg.slice(0, ok));
  c.next += ok;
  if (failure) throw new JobFailure(c, c.next, failure.message);
}

/** Every plan's host segment in one ip -batch; each guest's namespace is its own fd. */
async function mergedHostBatch(items: { c: Cursor; seg: Step[] }[], runner: Runner): Promise<void> {
  const lines: string[][] = [];
  const owner: { c: Cursor; step: Step }[] = [];
  const fds: number[] = [];
  items.forEach(({ c, seg }, k) => {
    fds.push(c.job.ns.fd);
    for (const step of seg) {
      lines.push((step.action as IpAction).args.map((a) => (a === NS_PATH_IN_CHILD ? nsPathOfFd(k) : a)));
      owner.push({ c, step });
    }
  });
  const failure = await ipBatch(runner, lines, { where: 'the host', fds });
  const ok = failure ? failure.failedLine : lines.length;
  for (const { c, step } of owner.slice(0, ok)) {
    c.done.push(step);
    c.next++;
  }
  if (failure) {
    const { c } = owner[ok]!;
    throw new JobFailure(c, c.next, failure.message);
  }
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

/**
 * Each guest's segment in its own `ip -batch FILE` inside its namespace, run by one xargs
 * (8 at a time) that holds every namespace as an fd. A failing batch says
 * "Command failed FILE:LINE", which names the guest and the step.
 */
async function fannedGuestBatches(items: { c: Cursor; seg: Step[] }[], runner: Runner): Promise<void> {
  const dir = mkdtempSync(join(scratchDir(), 'pipework-batch-'));
  try {
    const files = items.map(({ seg }, k) => {
      const file = join(dir, `g${k}.batch`);
      writeFileSync(file, seg.map((s) => batchLine((s.action as IpAction).args)).join('\n') + '\n');
      return file;
    });
    const groups = items.map((_, k) => [`--net=${nsPathOfFd(k)}`, '--', 'ip', '-batch', files[k]!]);
    const result = await runner.run(['xargs', '-0', '-n', '5', '-P', '8', 'nsenter'], {
      input: xargsInput(groups), fds: items.map(({ c }) => c.job.ns.fd), where: 'the guests', timeoutMs: 120_000,
    });
    const failed = new Map<number, { line: number; message: string }>();
    const lines = result.stderr.split('\n');
    lines.forEach((l, idx) => {
      const m = /^Command failed (.*)\.batch:(\d+)$/u.exec(l.trim());
      const k = m ? Number(/g(\d+)$/u.exec(m[1]!)?.[1]) : NaN;
      if (m && !Number.isNaN(k)) failed.set(k, { line: Number(m[2]) - 1, message: lines[idx - 1]?.trim() || l.trim() });
    });
    let first: JobFailure | undefined;
    items.forEach(({ c, seg }, k) => {
      const f = failed.get(k);
      const ok = f ? f.line : seg.length;
      c.done.push(...seg.slice(0, ok));
      c.next += ok;
      if (f && !first) first = new JobFailure(c, c.next, f.message);
    });
    if (first) throw first;
    if (result.code !== 0) throw new Error(`running the guests' batches failed: ${result.stderr.trim().split('\n')[0] ?? `exit ${result.code}`}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Fire-and-forget programs in many guests (the gratuitous ARPs), through one detached xargs. */
function detachedMany(items: { c: Cursor; seg: Step[] }[]): void {
  const groups = items.map(({ seg }, k) => {
    const argv = (seg[0]!.action as ExecAction).argv;
    return [`--net=${nsPathOfFd(k)}`, '--', ...argv];
  });
  const per = groups[0]!.length;
  if (groups.some((g) => g.length !== per)) {
    for (const { c, seg } of items) spawnDetached(inNetns((seg[0]!.action as ExecAction).argv), c.job.ns.fd);
  } else {
    spawnDetached(['xargs', '-0', '-n', String(per), '-P', '32', 'nsenter'], undefined, {
      input: xargsInput(groups), fds: items.map(({ c }) => c.job.ns.fd),
    });
  }
  for (const { c, seg } of items) {
    c.done.push(seg[0]!);
    c.next++;
  }
}
