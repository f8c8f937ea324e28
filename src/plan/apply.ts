/**
 * Run a plan: consecutive `ip` steps of one place go in one `ip -batch`; if any step fails,
 * every step already done is undone in reverse and the error names the failed step.
 */
import { ipBatch } from '../exec/ip.js';
import { inNetns, type NetnsHandle } from '../exec/netns.js';
import { firstLine, runOk, spawnDetached, type Runner } from '../exec/runner.js';
import { readHostLink } from '../host/facts.js';
import { vlanKept } from '../host/vlan-users.js';
import { interruption } from '../exec/signals.js';
import { StepFailedError, UnsupportedError } from '../model/errors.js';
import type { Action, IpAction, Plan, Step } from './types.js';

export interface ApplyContext {
  runner: Runner;
  ns: NetnsHandle;
  /** Test hook: pretend step N (1-based) fails, to prove rollback at every step. */
  failAtStep?: number;
}

/** PIPEWORK_FAIL_STEP=N makes step N fail (tests of rollback). */
export function failStepFromEnv(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const v = env['PIPEWORK_FAIL_STEP'];
  return v !== undefined && /^\d+$/u.test(v) ? Number(v) : undefined;
}

function where(place: 'host' | 'guest', ns: NetnsHandle): string {
  return place === 'host' ? 'the host' : `the guest (${ns.label})`;
}

async function ovsBridgeEmpty(runner: Runner, bridge: string): Promise<boolean> {
  const res = await runner.run(['ovs-vsctl', '--timeout=10', 'list-ports', bridge], { timeoutMs: 15_000 });
  return res.code === 0 && res.stdout.trim() === '';
}

/** Undo what was done, newest first. Returns the undo actions that failed. */
export async function rollback(done: Step[], ctx: ApplyContext): Promise<string[]> {
  const actions = done.slice().reverse().flatMap((s) => s.undo.slice().reverse());
  const failures: string[] = [];
  let i = 0;
  while (i < actions.length) {
    const action = actions[i]!;
    if (action.kind === 'exec') {
      i++;
      if (action.onlyIfOvsBridgeEmpty !== undefined && !(await ovsBridgeEmpty(ctx.runner, action.onlyIfOvsBridgeEmpty))) continue;
      try {
        await runOk(ctx.runner, action.place === 'guest' ? inNetns(action.argv) : action.argv, { nsFd: ctx.ns.fd, timeoutMs: 30_000 });
      } catch (err) {
        failures.push((err as Error).message);
      }
      continue;
    }
    i++;
    // A bridge is removed only if no port is left once the undos before it have run (so it
    // starts a new batch, decided now, not when the batch before it was put together).
    if (action.onlyIfBridgeEmpty !== undefined && (readHostLink(action.onlyIfBridgeEmpty)?.ports.length ?? 1) !== 0) continue;
    // Group ip undos of one place; -force makes ip try every line even if one fails.
    const group: IpAction[] = [action];
    while (i < actions.length && actions[i]!.kind === 'ip' && actions[i]!.place === action.place
      && (actions[i] as IpAction).onlyIfBridgeEmpty === undefined) {
      group.push(actions[i] as IpAction);
      i++;
    }
    const failure = await ipBatch(ctx.runner, group.map((a) => a.args), {
      ns: ctx.ns, enter: action.place === 'guest', force: true, where: where(action.place, ctx.ns),
    });
    if (failure) failures.push(`ip ${group[failure.failedLine]?.args.join(' ') ?? ''}: ${failure.message}`);
  }
  return failures;
}

/** The kernel's words for a device type or operation it was built without. */
const MISSING_FEATURE = /Unknown device type|Operation not supported|not supported/iu;

function stepError(plan: Plan, index: number, message: string, undoFailures: string[], cause?: unknown): StepFailedError | UnsupportedError {
  const step = plan.steps[index]!;
  const kept = plan.steps.slice(0, index).filter((s) => s.irreversible).map((s) => s.title);
  let undone = undoFailures.length === 0
    ? (index === 0 ? 'nothing was changed' : 'everything done before it was undone')
    : `undoing the earlier steps also failed: ${undoFailures.join('; ')}`;
  if (kept.length > 0) {
    undone = undoFailures.length === 0
      ? `everything done before it was undone, except what cannot be: ${kept.join('; ')}`
      : `${undone}; and what cannot be undone: ${kept.join('; ')}`;
  }
  if (step.needs !== undefined && MISSING_FEATURE.test(message)) {
    return new UnsupportedError(`this kernel lacks ${step.needs}, needed to ${step.title}; ${undone}`);
  }
  return new StepFailedError(
    `step ${index + 1} of ${plan.steps.length} (${step.title}) failed: ${message}; ${undone}`,
    index, undoFailures, { cause },
  );
}

/** The program exited 0 but failed: what it did must be undone too. */
export class HalfDoneError extends Error {}

export async function runExec(action: Action & { kind: 'exec' }, ctx: ApplyContext): Promise<void> {
  const argv = action.place === 'guest' ? inNetns(action.argv) : action.argv;
  if (action.detached) {
    spawnDetached(argv, ctx.ns.fd);
    return;
  }
  const options = { nsFd: ctx.ns.fd, where: where(action.place, ctx.ns), timeoutMs: action.timeoutMs ?? 60_000 };
  if (action.errorLabel !== undefined) {
    // Our own programs (the DHCP agent) say what went wrong in their first line of stderr.
    const res = await ctx.runner.run(argv, options);
    if (res.code !== 0) {
      throw new Error(`${action.errorLabel}: ${firstLine(res.stderr) || (res.timedOut ? `timed out after ${options.timeoutMs} ms` : `exit ${res.code ?? res.signal}`)}`);
    }
    return;
  }
  const result = await runOk(ctx.runner, argv, options);
  if (action.failOnStderr !== undefined && result.stderr.includes(action.failOnStderr)) {
    throw new HalfDoneError(`${action.argv[0] ?? ''} reported: ${firstLine(result.stderr.slice(result.stderr.indexOf(action.failOnStderr)))}`);
  }
}

export async function applyPlan(plan: Plan, ctx: ApplyContext): Promise<void> {
  const { steps } = plan;
  const done: Step[] = [];
  const fail = async (index: number, message: string, cause?: unknown): Promise<never> => {
    throw stepError(plan, index, message, await rollback(done, ctx), cause);
  };

  let i = 0;
  while (i < steps.length) {
    if (ctx.failAtStep === i + 1) await fail(i, 'injected failure (PIPEWORK_FAIL_STEP)');
    const signal = interruption();
    if (signal !== undefined) await fail(i, `interrupted by ${signal} before it ran`);
    const step = steps[i]!;
    const action = step.action;
    if (action.kind === 'exec') {
      try {
        await runExec(action, ctx);
      } catch (err) {
        if (err instanceof HalfDoneError) done.push(step);
        await fail(i, (err as Error).message, err);
      }
      done.push(step);
      i++;
      continue;
    }
    // A step that removes a VLAN sub-interface only if nothing uses it is decided now, alone.
    if (action.onlyIfVlanUnused !== undefined && await vlanKept(ctx.runner, action.onlyIfVlanUnused)) {
      i++;
      continue;
    }
    // A batch: this step and the following ip steps of the same place. A step that may race
    // with another run goes alone, and so does everything up to an injected failure.
    const group: Step[] = [step];
    if (!step.raceOk && action.onlyIfVlanUnused === undefined) {
      for (let j = i + 1; j < steps.length; j++) {
        const next = steps[j]!;
        if (next.action.kind !== 'ip' || next.action.place !== action.place || next.raceOk || ctx.failAtStep === j + 1
          || next.action.onlyIfVlanUnused !== undefined) break;
        group.push(next);
      }
    }
    let failure;
    try {
      failure = await ipBatch(ctx.runner, group.map((s) => (s.action as IpAction).args), {
        ns: ctx.ns, enter: action.place === 'guest', where: where(action.place, ctx.ns),
      });
    } catch (err) {
      await fail(i, (err as Error).message, err);
    }
    if (!failure) {
      done.push(...group);
      i += group.length;
      continue;
    }
    done.push(...group.slice(0, failure.failedLine));
    const failedIndex = i + failure.failedLine;
    const failed = steps[failedIndex]!;
    if (failed.raceOk && /File exists/u.test(failure.message) && readHostLink(failed.raceOk.bridgeExists)?.isBridge) {
      // Another run created the shared bridge first: use it, and never delete it on undo.
      done.push({ ...failed, undo: [] });
      i = failedIndex + 1;
      continue;
    }
    await fail(failedIndex, failure.message, failure.error);
  }
}
