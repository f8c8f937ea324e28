/** How commands report: quiet text by default (as the classic tool), JSON with --json. */
import type { Guest } from '../guest/guest.js';
import { NS_PATH_IN_CHILD } from '../exec/runner.js';
import type { AttachRecord } from '../model/record.js';
import { formatPlan } from '../plan/print.js';
import type { Action, Plan } from '../plan/types.js';

export function guestJson(guest: Guest): Record<string, unknown> {
  return {
    kind: guest.kind,
    name: guest.name,
    ...(guest.id !== undefined && { id: guest.id }),
    ...(guest.pid !== undefined && { pid: guest.pid }),
    netnsInode: guest.ns.inode,
  };
}

export function recordJson(record: AttachRecord): Record<string, unknown> {
  const { role: _role, nsInode: _ns, ...rest } = record;
  return rest;
}

function commandOf(action: Action): string[] {
  const swap = (args: readonly string[]) => args.map((a) => (a === NS_PATH_IN_CHILD ? '<netns>' : a));
  return action.kind === 'ip' ? ['ip', ...swap(action.args)] : swap(action.argv);
}

export function planJson(plan: Plan): Record<string, unknown>[] {
  return plan.steps.map((s) => ({
    title: s.title,
    where: s.action.place,
    command: commandOf(s.action),
  }));
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Common ending of attach and del: dry-run, JSON, warnings. */
export function reportPlan(command: string, plan: Plan, guest: Guest, json: boolean, dryRun: boolean, extra: Record<string, unknown> = {}): void {
  if (json) {
    printJson({
      command,
      outcome: dryRun ? `would-be-${plan.outcome}` : plan.outcome,
      guest: guestJson(guest),
      ...(plan.record && { interface: recordJson(plan.record) }),
      ...extra,
      ...(dryRun && { plan: planJson(plan) }),
      warnings: plan.warnings,
    });
    return;
  }
  if (dryRun) {
    process.stdout.write(plan.steps.length === 0 ? `# ${plan.guestLabel}: nothing to do (${plan.outcome})\n` : formatPlan(plan));
    return;
  }
  for (const w of plan.warnings) process.stdout.write(`${w}\n`);
}
