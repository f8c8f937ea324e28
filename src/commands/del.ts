/** `pipework del [-i IF | --all] <guest>`: remove what pipework plumbed; absent is fine. */
import type { DelRequest } from '../cli/request.js';
import { processRunner, type Runner } from '../exec/runner.js';
import { readGuestFacts } from '../guest/facts.js';
import { resolveGuest } from '../guest/resolve.js';
import { NotFoundError } from '../model/errors.js';
import { applyPlan, failStepFromEnv } from '../plan/apply.js';
import { detachTargets, planDetach } from '../plan/detach.js';
import { printJson, recordJson, reportPlan } from './output.js';

export async function del(request: DelRequest, runner: Runner = processRunner): Promise<number> {
  let guest;
  try {
    guest = await resolveGuest(request.guest, { runner });
  } catch (err) {
    // A guest that is gone took its interfaces with it (veth, macvlan): nothing left to remove.
    if (!(err instanceof NotFoundError)) throw err;
    if (request.json) printJson({ command: 'del', outcome: 'unchanged', guest: { name: request.guest, found: false }, removed: [] });
    else process.stderr.write(`pipework: nothing to remove: ${err.message}\n`);
    return 0;
  }
  try {
    const facts = await readGuestFacts(runner, guest.ns);
    const targets = detachTargets(facts, request.which, guest.ns.label);
    const plan = planDetach(targets, guest.ns.label);
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
