/** `pipework <hostif> ... <guest> <address>`: resolve, read facts, plan, apply. */
import type { AttachRequest } from '../cli/request.js';
import { ipJsonBatch } from '../exec/ip.js';
import { processRunner, type Runner } from '../exec/runner.js';
import { hasProgram } from '../guest/containers.js';
import { readGuestFacts } from '../guest/facts.js';
import { resolveGuest } from '../guest/resolve.js';
import { sysfsHostFacts } from '../host/facts.js';
import { vethHostName } from '../host/naming.js';
import { applyPlan, failStepFromEnv } from '../plan/apply.js';
import { planAttach } from '../plan/attach.js';
import { reportPlan } from './output.js';

/** The `ip -d` kind of a host link (only asked when a link with the host end's name exists). */
async function hostLinkKind(runner: Runner, name: string): Promise<string | undefined> {
  const [links] = await ipJsonBatch(runner, [['link', 'show', 'dev', name]], { where: 'the host' });
  return (links as { linkinfo?: { info_kind?: string } }[])[0]?.linkinfo?.info_kind;
}

export async function attach(request: AttachRequest, runner: Runner = processRunner): Promise<number> {
  const guest = await resolveGuest(request.guest, { runner });
  try {
    const guestFacts = await readGuestFacts(runner, guest.ns);
    const identity = { ...(guest.pid !== undefined && { pid: guest.pid }), nsInode: guest.ns.inode };
    const localIf = request.localIf ?? vethHostName(identity, request.guestIf ?? 'eth1');
    const existing = sysfsHostFacts.link(localIf);
    const localKind = existing && !existing.up ? await hostLinkKind(runner, localIf) : undefined;
    const plan = planAttach({
      request,
      guestLabel: guest.ns.label,
      guestRef: `${guest.kind}:${guest.name}`,
      guest: identity,
      host: sysfsHostFacts,
      guestFacts,
      hasArping: hasProgram('arping'),
      ...(localKind !== undefined && { localKind }),
    });
    if (!request.dryRun) {
      const failAtStep = failStepFromEnv();
      await applyPlan(plan, { runner, ns: guest.ns, ...(failAtStep !== undefined && { failAtStep }) });
    }
    reportPlan('attach', plan, guest, request.json, request.dryRun);
    return 0;
  } finally {
    guest.ns.close();
  }
}
