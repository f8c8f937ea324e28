/**
 * What a front door may ask about a host kind without knowing its driver (front doors never
 * import drivers): can the host serve it now, does it plug a veth, what differs live.
 */
import type { Runner } from '../exec/runner.js';
import { readHostLink } from '../host/links.js';
import { readOvsFacts, type OvsFacts } from '../host/ovs-facts.js';
import type { AttachRecord } from '../model/record.js';
import type { HostKind, HostSide } from '../model/attach-spec.js';
import type { LiveHost, Preflight } from '../drivers/driver.js';
import { driverFor } from '../drivers/registry.js';

export type { LiveHost, Preflight } from '../drivers/driver.js';
export { vlanIfName } from '../drivers/names.js';

/**
 * What the host lacks for an attach of this host side now (its driver's preflight): something it
 * names that is missing, or a service or feature; undefined: nothing. Open vSwitch is read only
 * for a kind that needs it.
 */
export async function hostPreflight(side: HostSide, runner: Runner, readOvs: (runner: Runner) => Promise<OvsFacts> = readOvsFacts): Promise<Preflight | undefined> {
  const driver = driverFor(side.kind);
  return driver.preflight(side, { link: readHostLink, ...(driver.needsOvs === true && { ovs: await readOvs(runner) }) });
}

/** Does this kind plug a veth whose host end pipework names and records? */
export function usesVeth(kind: HostKind): boolean {
  return driverFor(kind).veth;
}

/** What differs on the host from a record, live (its driver's check). */
export function hostSideDrift(record: AttachRecord, live: LiveHost): string[] {
  return driverFor(record.hostKind).drift(record, live);
}

export { defaultGuestIf } from '../drivers/registry.js';
