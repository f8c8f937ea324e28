/** `pipework <hostif> ... <guest> <address>`: resolve, read facts, plan, apply. */
import type { AttachRequest } from '../cli/request.js';
import { ipJsonBatch } from '../exec/ip.js';
import { processRunner, type Runner } from '../exec/runner.js';
import { hasProgram } from '../exec/programs.js';
import { guestFactsFromProc, readGuestFacts, type GuestFacts } from '../guest/facts.js';
import type { Guest } from '../guest/guest.js';
import { resolveGuest } from '../guest/resolve.js';
import { LINK_TYPE_INFINIBAND, sysfsHostFacts, type HostFacts, type LinkDetails } from '../host/facts.js';
import { vethHostName } from '../host/naming.js';
import { readOvsFacts } from '../host/ovs-facts.js';
import { vlanIfName } from '../host/vlan.js';
import { applyPlan, failStepFromEnv } from '../plan/apply.js';
import { planAttach } from '../plan/attach.js';
import type { Plan } from '../plan/types.js';
import { StepFailedError } from '../model/errors.js';
import { gatherDhcpFacts } from '../dhcp/facts.js';
import { reportPlan } from './output.js';

interface RawLink {
  ifname: string;
  link?: string;
  linkinfo?: { info_kind?: string; info_data?: { id?: number } };
}

/** `ip -d` details of the named host links that exist (one process, only when needed). */
async function linkDetails(runner: Runner, names: string[], sysfs: HostFacts): Promise<Map<string, LinkDetails>> {
  const map = new Map<string, LinkDetails>();
  const existing = names.filter((n) => sysfs.link(n) !== undefined);
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
async function hostFacts(runner: Runner, request: AttachRequest, guest: Guest, sysfs: HostFacts): Promise<HostFacts> {
  const facts: HostFacts = { ...sysfs };
  const name = request.hostIf.by === 'name' ? request.hostIf.name : sysfs.byMac(request.hostIf.mac);
  const link = name !== undefined ? sysfs.link(name) : undefined;
  // Only an interface that is neither a Linux bridge nor IPoIB (or a missing ovs*) may be OVS.
  if ((link && !link.isBridge && link.type !== LINK_TYPE_INFINIBAND) || (!link && name?.startsWith('ovs'))) {
    facts.ovs = await readOvsFacts(runner);
  }
  const guestIf = request.guestIf ?? 'eth1';
  const localIf = request.localIf ?? vethHostName({ ...(guest.pid !== undefined && { pid: guest.pid }), nsInode: guest.ns.inode }, guestIf);
  const wanted = [localIf, ...(name !== undefined && request.vlan !== undefined ? [vlanIfName(name, request.vlan)] : [])];
  facts.details = await linkDetails(runner, wanted, sysfs);
  return facts;
}

/**
 * The guest's links and routes. `full`: one `ip` run inside the guest. Otherwise /proc when
 * the guest has a PID, or — for a guest with no PID and no gateway to route — nothing at all:
 * the plan assumes the interface is new, and if the kernel says it exists after all
 * ("File exists"), the caller plans again with the full read (`runWithRetry`).
 */
export async function attachGuestFacts(
  runner: Runner, request: AttachRequest, guest: Guest, full: boolean, sysfs: HostFacts = sysfsHostFacts,
): Promise<GuestFacts> {
  // --direct-phys: the NIC may already be in the guest (a re-run); only its record tells.
  if (full || request.directPhys) return readGuestFacts(runner, guest.ns);
  const spec = request.config.kind === 'static' ? request.config.spec : undefined;
  const routes = spec?.gateway !== undefined ? spec.address!.family : 'none';
  // Without -i the name depends on the host kind (eth1, or ib0 for IPoIB): check both.
  const names = request.guestIf !== undefined ? [request.guestIf] : ['eth1', 'ib0'];
  const fast = guestFactsFromProc(guest.pid, guest.ns.inode, routes);
  if (fast) return fast.links.some((l) => names.includes(l.name)) ? readGuestFacts(runner, guest.ns) : fast;
  // No PID to read /proc through: assume a new interface unless its host end is already there.
  const hostEnd = request.localIf ?? vethHostName({ nsInode: guest.ns.inode }, names[0]!);
  if (guest.pid === undefined && routes === 'none' && !sysfs.link(hostEnd)) return { links: [], routes: [] };
  return readGuestFacts(runner, guest.ns);
}

/**
 * Plan an attach for a resolved guest. `sysfs`: where host links are read (a batch passes one
 * that reads each link once for all its lines).
 */
export async function planFor(
  runner: Runner, request: AttachRequest, guest: Guest, full: boolean, sysfs: HostFacts = sysfsHostFacts,
): Promise<Plan> {
  const [guestFacts, host, dhcp] = await Promise.all([
    attachGuestFacts(runner, request, guest, full, sysfs), hostFacts(runner, request, guest, sysfs), gatherDhcpFacts(request, guest),
  ]);
  return planAttach({
    request,
    guestLabel: guest.ns.label,
    guestRef: `${guest.kind}:${guest.name}`,
    guest: { ...(guest.pid !== undefined && { pid: guest.pid }), nsInode: guest.ns.inode },
    ...(guest.id !== undefined && { container: { id: guest.id, name: guest.name } }),
    host,
    guestFacts,
    hasArping: hasProgram('arping'),
    ...(dhcp !== undefined && { dhcp }),
  });
}

/** Plan and apply; when the quick facts were wrong (an interface exists), once more with the full read. */
export async function runWithRetry<T>(attempt: (full: boolean) => Promise<T>): Promise<T> {
  try {
    return await attempt(false);
  } catch (err) {
    if (!(err instanceof StepFailedError) || !/File exists/u.test(err.message)) throw err;
    return attempt(true);
  }
}

export async function attach(request: AttachRequest, runner: Runner = processRunner): Promise<number> {
  const guest = await resolveGuest(request.guest, { runner });
  try {
    const plan = await runWithRetry(async (full) => {
      // A dry run must tell the truth about existing interfaces: always the full read.
      const p = await planFor(runner, request, guest, full || request.dryRun);
      if (!request.dryRun) {
        const failAtStep = failStepFromEnv();
        await applyPlan(p, { runner, ns: guest.ns, ...(failAtStep !== undefined && { failAtStep }) });
      }
      return p;
    });
    reportPlan('attach', plan, guest, request.json, request.dryRun);
    return 0;
  } finally {
    guest.ns.close();
  }
}
