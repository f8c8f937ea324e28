/**
 * Who may ask (SPEC part F). A label comes from whoever starts the container, or from an image's
 * author, and the watcher runs as root: it acts only on the host interfaces the operator named
 * with --allow, on the VLANs granted there (without `@`: untagged only), and moves a NIC into a
 * container (--direct-phys) only with --allow-direct. Pure.
 */
import type { AttachRequest } from '../classic/request.js';
import { hostIfOf, vlanOf, type AttachSpec } from '../../model/attach-spec.js';
import { formatGrant, type AllowGrant, type WatchOptions } from './options.js';

export interface Grant {
  untagged: boolean;
  vlans: ReadonlySet<number>;
}

export interface Policy {
  /** Host interface → what is served on it. */
  allow: ReadonlyMap<string, Grant>;
  allowDirect: boolean;
}

export function policyOf(options: Pick<WatchOptions, 'allow' | 'allowDirect'>): Policy {
  return {
    allow: new Map(options.allow.map((g) => [g.hostIf, { untagged: g.untagged, vlans: new Set(g.vlans) }])),
    allowDirect: options.allowDirect,
  };
}

function served(policy: Policy): string {
  if (policy.allow.size === 0) return 'this watcher serves no host interface (start it with --allow <hostif>,…)';
  const grants: AllowGrant[] = [...policy.allow].map(([hostIf, g]) => ({ hostIf, untagged: g.untagged, vlans: [...g.vlans] }));
  return `it serves only ${grants.map(formatGrant).join(', ')} (--allow)`;
}

function vlanList(g: Grant): string {
  const v = [...g.vlans];
  return `${v.length > 1 ? 'VLANs' : 'VLAN'} ${v.join(', ')}`;
}

/** A VLAN (its text as the label wrote it after `@`; undefined: none) on a served host interface. */
function refuseVlan(hostIf: string, g: Grant, vlanText: string | undefined, vlan: number | undefined): string | undefined {
  if (vlanText === undefined) {
    return g.untagged ? undefined : `${hostIf} is served on ${vlanList(g)} only, and the label names no VLAN (--allow ${hostIf} would serve it untagged)`;
  }
  if (vlan !== undefined && g.vlans.has(vlan)) return undefined;
  const what = g.vlans.size === 0 ? 'untagged traffic only' : `${vlanList(g)} only`;
  return `VLAN ${vlanText} on ${hostIf} is not served: ${hostIf} serves ${what} (--allow ${hostIf}@${vlanText} would grant it)`;
}

/** Before anything is looked up on the host: the interface as named, its VLAN, and --direct-phys. */
export function refuseRequest(request: AttachRequest, policy: Policy): string | undefined {
  if (request.directPhys && !policy.allowDirect) return '--direct-phys moves a host NIC into the container, which this watcher does not do without --allow-direct';
  if (request.hostIf.by !== 'name') return undefined;
  const g = policy.allow.get(request.hostIf.name);
  if (g === undefined) return `host interface ${request.hostIf.name} is not served: ${served(policy)}`;
  return refuseVlan(request.hostIf.name, g, request.vlanText, request.vlan);
}

/** Once the classic heuristics said what the host side is (mac:<hostmac> resolved to a name). */
export function refuseSpec(spec: AttachSpec, policy: Policy): string | undefined {
  const hostIf = hostIfOf(spec.host);
  const g = policy.allow.get(hostIf);
  if (g === undefined) return `host interface ${hostIf} is not served: ${served(policy)}`;
  if (spec.host.kind === 'phys' && !policy.allowDirect) return `moving ${hostIf} into the container needs --allow-direct`;
  // An IPoIB partition is no VLAN --allow can grant: a label gets the default partition only.
  if (spec.host.kind === 'ipoib' && spec.host.pkey !== undefined) {
    return `IPoIB partition ${spec.host.pkey.toString(16)} on ${hostIf} is not served: a label gets the default partition only`;
  }
  const vlan = vlanOf(spec.host);
  return refuseVlan(hostIf, g, vlan === undefined ? undefined : String(vlan), vlan);
}
