/**
 * Who may ask (SPEC part F). A label comes from whoever starts the container, or from an image's
 * author, and the watcher runs as root: it acts only on the host interfaces the operator named
 * with --allow, and moves a NIC into a container (--direct-phys) only with --allow-direct. Pure.
 */
import type { AttachRequest } from '../cli/request.js';
import { hostIfOf, type AttachSpec } from '../../spec/attach-spec.js';

export interface Policy {
  allow: ReadonlySet<string>;
  allowDirect: boolean;
}

function served(policy: Policy): string {
  return policy.allow.size === 0 ? 'this watcher serves no host interface (start it with --allow <hostif>,…)' : `it serves only ${[...policy.allow].join(', ')} (--allow)`;
}

/** Before anything is looked up on the host: the interface as named, and --direct-phys. */
export function refuseRequest(request: AttachRequest, policy: Policy): string | undefined {
  if (request.directPhys && !policy.allowDirect) return '--direct-phys moves a host NIC into the container, which this watcher does not do without --allow-direct';
  if (request.hostIf.by === 'name' && !policy.allow.has(request.hostIf.name)) return `host interface ${request.hostIf.name} is not served: ${served(policy)}`;
  return undefined;
}

/** Once the classic heuristics said what the host side is (mac:<hostmac> resolved to a name). */
export function refuseSpec(spec: AttachSpec, policy: Policy): string | undefined {
  const hostIf = hostIfOf(spec.host);
  if (!policy.allow.has(hostIf)) return `host interface ${hostIf} is not served: ${served(policy)}`;
  if (spec.host.kind === 'phys' && !policy.allowDirect) return `moving ${hostIf} into the container needs --allow-direct`;
  return undefined;
}
