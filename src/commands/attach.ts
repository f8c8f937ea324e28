/** `pipework <hostif> ... <guest> <address>`: resolve, read facts, plan, apply. */
import type { AttachRequest } from '../cli/request.js';
import { ipJsonBatch } from '../exec/ip.js';
import { processRunner, type Runner } from '../exec/runner.js';
import { hasProgram } from '../guest/containers.js';
import { readGuestFacts } from '../guest/facts.js';
import type { Guest } from '../guest/guest.js';
import { resolveGuest } from '../guest/resolve.js';
import { LINK_TYPE_INFINIBAND, sysfsHostFacts, type HostFacts, type LinkDetails } from '../host/facts.js';
import { vethHostName } from '../host/naming.js';
import { readOvsFacts } from '../host/ovs-facts.js';
import { vlanIfName } from '../host/vlan.js';
import { applyPlan, failStepFromEnv } from '../plan/apply.js';
import { planAttach } from '../plan/attach.js';
import { reportPlan } from './output.js';

interface RawLink {
  ifname: string;
  link?: string;
  linkinfo?: { info_kind?: string; info_data?: { id?: number } };
}

/** `ip -d` details of the named host links that exist (one process, only when needed). */
async function linkDetails(runner: Runner, names: string[]): Promise<Map<string, LinkDetails>> {
  const map = new Map<string, LinkDetails>();
  const existing = names.filter((n) => sysfsHostFacts.link(n) !== undefined);
  if (existing.length === 0) return map;
  const results = await ipJsonBatch(runner, existing.map((n) => ['link', 'show', 'dev', n]), { where: 'the host' });
  for (const [l] of results as RawLink[][]) {
    if (!l) continue;
    const d: LinkDetails = {};
    if (l.linkinfo?.info_kind !== undefined) d.kind = l.linkinfo.info_kind;
    if (l.linkinfo?.info_data?.id !== undefined) d.vlanId = l.linkinfo.info_data.id;
    if (l.link !== undefined) d.parent = l.link;
    map.set(l.ifname, d);
  }
  return map;
}

/** Host facts: sysfs, plus what this line may need (link details, Open vSwitch). */
async function hostFacts(runner: Runner, request: AttachRequest, guest: Guest): Promise<HostFacts> {
  const facts: HostFacts = { ...sysfsHostFacts };
  const name = request.hostIf.by === 'name' ? request.hostIf.name : sysfsHostFacts.byMac(request.hostIf.mac);
  const link = name !== undefined ? sysfsHostFacts.link(name) : undefined;
  // Only an interface that is neither a Linux bridge nor IPoIB (or a missing ovs*) may be OVS.
  if ((link && !link.isBridge && link.type !== LINK_TYPE_INFINIBAND) || (!link && name?.startsWith('ovs'))) {
    facts.ovs = await readOvsFacts(runner);
  }
  const guestIf = request.guestIf ?? 'eth1';
  const localIf = request.localIf ?? vethHostName({ ...(guest.pid !== undefined && { pid: guest.pid }), nsInode: guest.ns.inode }, guestIf);
  const wanted = [localIf, ...(name !== undefined && request.vlan !== undefined ? [vlanIfName(name, request.vlan)] : [])];
  facts.details = await linkDetails(runner, wanted);
  return facts;
}

export async function attach(request: AttachRequest, runner: Runner = processRunner): Promise<number> {
  const guest = await resolveGuest(request.guest, { runner });
  try {
    const [guestFacts, host] = await Promise.all([readGuestFacts(runner, guest.ns), hostFacts(runner, request, guest)]);
    const plan = planAttach({
      request,
      guestLabel: guest.ns.label,
      guestRef: `${guest.kind}:${guest.name}`,
      guest: { ...(guest.pid !== undefined && { pid: guest.pid }), nsInode: guest.ns.inode },
      ...(guest.id !== undefined && { container: { id: guest.id, name: guest.name } }),
      host,
      guestFacts,
      hasArping: hasProgram('arping'),
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
