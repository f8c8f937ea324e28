/**
 * `pipework del [-i IF | --all] <guest>`: remove what pipework plumbed; absent is fine.
 * `pipework del --stale [<guest>]`, or `del` of a guest that is gone: clean what dead guests
 * left on the host (OVS rows, NICs given back under their guest-side name).
 */
import type { DelRequest } from '../cli/request.js';
import { ipJsonBatch } from '../exec/ip.js';
import { openNetns } from '../exec/netns.js';
import { processRunner, type Runner } from '../exec/runner.js';
import { readGuestFacts } from '../guest/facts.js';
import { resolveGuest } from '../guest/resolve.js';
import { planStaleCleanup, returnedNics, staleMatches, staleOvsPorts } from '../host/stale.js';
import { NotFoundError } from '../model/errors.js';
import { applyPlan, failStepFromEnv } from '../plan/apply.js';
import { detachTargets, planDetach } from '../plan/detach.js';
import { formatPlan } from '../plan/print.js';
import type { Plan } from '../plan/types.js';
import { DHCP_AGENT } from '../dhcp/paths.js';
import { planDhcpStop } from '../dhcp/plan.js';
import { planJson, printJson, recordJson, reportPlan } from './output.js';

async function cleanStale(request: DelRequest, runner: Runner, why?: string): Promise<number> {
  const [hostLinks] = await ipJsonBatch(runner, [['link', 'show']], { where: 'the host' });
  const ports = (await staleOvsPorts(runner)).filter((p) => staleMatches(request.guest, p));
  const nics = returnedNics(hostLinks as { ifname: string; ifalias?: string }[]).filter((n) => staleMatches(request.guest, n));
  const steps = planStaleCleanup(ports, nics);
  const plan: Plan = { guestLabel: 'the host', steps, warnings: [], outcome: steps.length > 0 ? 'removed' : 'unchanged' };
  if (!request.dryRun && steps.length > 0) {
    const host = openNetns('/proc/self/ns/net', 'the host');
    try {
      await applyPlan(plan, { runner, ns: host });
    } finally {
      host.close();
    }
  }
  if (request.json) {
    printJson({
      command: 'del',
      outcome: request.dryRun ? `would-be-${plan.outcome}` : plan.outcome,
      guest: { name: request.guest ?? null, found: false },
      removed: [
        ...ports.map((p) => ({ staleOvsPort: p.port, bridge: p.bridge, externalIds: p.ids })),
        ...nics.map((n) => ({ returnedNic: n.link, ...recordJson(n.record) })),
      ],
      ...(request.dryRun && { plan: planJson(plan) }),
    });
  } else if (request.dryRun) {
    process.stdout.write(steps.length > 0 ? formatPlan(plan) : '# nothing to clean\n');
  } else if (steps.length === 0 && why !== undefined) {
    process.stderr.write(`pipework: nothing to remove: ${why}\n`);
  }
  return 0;
}

export async function del(request: DelRequest, runner: Runner = processRunner): Promise<number> {
  const { which } = request;
  if ('stale' in which || request.guest === undefined) return cleanStale(request, runner);
  let guest;
  try {
    guest = await resolveGuest(request.guest, { runner });
  } catch (err) {
    // A guest that is gone took its veths and macvlans with it; what it left on the host
    // (OVS rows, a NIC given back) is cleaned like --stale, for this guest only.
    if (!(err instanceof NotFoundError)) throw err;
    return cleanStale(request, runner, err.message);
  }
  try {
    const facts = await readGuestFacts(runner, guest.ns);
    const targets = detachTargets(facts, which, guest.ns.label);
    const plan = planDetach(targets, guest.ns.label);
    // DHCP clients that renew these interfaces' leases (or helper containers) stop first.
    plan.steps.unshift(...targets.flatMap((t) => planDhcpStop(t.record, t.guestIf, DHCP_AGENT, guest.id)));
    if (!request.dryRun) {
      const failAtStep = failStepFromEnv();
      await applyPlan(plan, { runner, ns: guest.ns, ...(failAtStep !== undefined && { failAtStep }) });
    }
    reportPlan('del', plan, guest, request.json, request.dryRun, {
      removed: targets.map((t) => ({ guestIf: t.guestIf, ...recordJson(t.record) })),
    });
    return 0;
  } finally {
    guest.ns.close();
  }
}
