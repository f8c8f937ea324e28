/** How the command line reports: quiet text by default (as the classic tool), JSON with --json. */
import type { AttachOutcome } from '../engine/attach.js';
import type { GuestInfo } from '../model/guest-info.js';
import type { Plan } from '../model/plan.js';
import { formatPlan, nsNaming, planJson } from '../engine/print.js';
import type { AttachRecord } from '../model/record.js';

export function guestJson(guest: GuestInfo): Record<string, unknown> {
  return {
    kind: guest.kind,
    name: guest.name,
    ...(guest.id !== undefined && { id: guest.id }),
    ...(guest.pid !== undefined && { pid: guest.pid }),
    netnsInode: guest.nsInode,
  };
}

export function recordJson(record: AttachRecord): Record<string, unknown> {
  const { role: _role, nsInode: _ns, ...rest } = record;
  return { ...rest, owner: record.owner ?? 'cli' };
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

export function outcomeText(outcome: string, dryRun: boolean): string {
  return dryRun ? `would-be-${outcome}` : outcome;
}

/** Common ending of attach and del: dry-run, JSON, warnings. */
export function reportPlan(command: string, plan: Plan, guest: GuestInfo, json: boolean, dryRun: boolean, extra: Record<string, unknown> = {}): void {
  if (json) {
    printJson({
      command,
      outcome: outcomeText(plan.outcome, dryRun),
      guest: guestJson(guest),
      ...(plan.record && { interface: recordJson(plan.record) }),
      ...(plan.repairs && { repaired: plan.repairs }),
      ...extra,
      ...(dryRun && { plan: planJson(plan, nsNaming(guest)) }),
      warnings: plan.warnings,
    });
    return;
  }
  if (dryRun) {
    process.stdout.write(plan.steps.length === 0 ? `# ${plan.guestLabel}: nothing to do (${plan.outcome})\n` : formatPlan(plan, nsNaming(guest)));
    return;
  }
  for (const w of plan.warnings) process.stdout.write(`${w}\n`);
  if (plan.repairs) process.stderr.write(`pipework: ${plan.record?.guestIf ?? 'the interface'} in ${plan.guestLabel} had drifted and was put right: ${plan.repairs.join('; ')}\n`);
}

export function reportAttach(o: AttachOutcome, json: boolean, dryRun: boolean): void {
  reportPlan('attach', o.plan, o.guest, json, dryRun, json ? { result: o.result } : {});
}
