/**
 * `pipework del [-i IF | --all] <guest>`: remove what pipework plumbed there (what the command
 * line made, or --owner's); absent is fine. `pipework del --stale [<guest>]`, or `del` of a guest
 * that is gone: clean what dead guests left on the host (OVS rows, NICs given back, resolv.conf).
 */
import type { RunContext } from '../../../engine/context.js';
import { detach } from '../../../engine/detach.js';
import { cleanStale } from '../../../engine/remove.js';
import { formatPlan, nsNaming, planJson } from '../../../engine/print.js';
import { parseGuestRef } from '../../../guest/resolve.js';
import { NotFoundError } from '../../../model/errors.js';
import type { GuestRef } from '../../../model/attach-spec.js';
import { ownerFilter } from '../../../model/owner.js';
import type { DelRequest } from '../../classic/request.js';
import { outcomeText, printJson, recordJson, reportPlan } from '../../output.js';

async function stale(request: DelRequest, guest: GuestRef | undefined, ctx: RunContext, why?: string): Promise<number> {
  const { plan, leftovers, resolvConfs } = await cleanStale(guest, ctx);
  ctx.commit();
  if (request.json) {
    printJson({
      command: 'del',
      outcome: outcomeText(plan.outcome, request.dryRun),
      guest: { name: request.guest ?? null, found: false },
      removed: [
        ...leftovers.map((l) => ({ leftover: l.name, what: l.what, owner: l.owner, ...(l.ids !== undefined && { externalIds: l.ids }), ...(l.record !== undefined && { record: recordJson(l.record) }) })),
        ...resolvConfs.map((r) => ({ staleResolvConf: r.path })),
      ],
      ...(request.dryRun && { plan: planJson(plan, nsNaming({ kind: 'netns', name: 'host', pid: 1 })) }),
    });
  } else if (request.dryRun) {
    process.stdout.write(plan.steps.length > 0 ? formatPlan(plan, nsNaming({ kind: 'netns', name: 'host', pid: 1 })) : '# nothing to clean\n');
  } else if (plan.steps.length === 0 && why !== undefined) {
    process.stderr.write(`pipework: nothing to remove: ${why}\n`);
  }
  return 0;
}

export async function del(request: DelRequest, ctx: RunContext): Promise<number> {
  const { which } = request;
  const guest = request.guest !== undefined ? parseGuestRef(request.guest) : undefined;
  if ('stale' in which || guest === undefined) return stale(request, guest, ctx);
  const ownerName = request.owner ?? 'cli';
  let outcome;
  try {
    outcome = await detach({ guest, which, owner: ownerFilter(ownerName), ownerName }, ctx);
    ctx.commit();
  } catch (err) {
    // A guest that is gone took its veths and macvlans with it; what it left on the host
    // (OVS rows, a NIC given back) is cleaned like --stale, for this guest only.
    if (!(err instanceof NotFoundError)) throw err;
    return stale(request, guest, ctx, err.message);
  }
  reportPlan('del', outcome.plan, outcome.guest, request.json, request.dryRun, {
    removed: outcome.removed.map((t) => ({ guestIf: t.guestIf, ...recordJson(t.record) })),
    ...(outcome.othersKept.length > 0 && { kept: outcome.othersKept.map((t) => ({ guestIf: t.guestIf, owner: t.record.owner ?? 'cli' })) }),
  });
  if (!request.json && outcome.othersKept.length > 0) {
    process.stderr.write(`pipework: left ${outcome.othersKept.map((t) => `${t.guestIf} (made by ${t.record.owner ?? 'cli'})`).join(', ')}; --owner removes another owner's\n`);
  }
  return 0;
}
