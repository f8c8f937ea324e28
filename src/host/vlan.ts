/**
 * An 802.1Q sub-interface `<nic>.<vlan>` of a host NIC: reused when it already is a VLAN
 * device with that id on that NIC, refused when it is something else, made otherwise.
 */
import { IFNAME_MAX } from '../model/ifname.js';
import { ConflictError } from '../model/errors.js';
import type { Step } from '../plan/types.js';
import type { HostFacts } from './facts.js';
import { featureText } from './kernel.js';
import { digest } from '../model/hash.js';

/** `<nic>.<vlan>` as the classic tool names it, or a hashed name when that is too long. */
export function vlanIfName(nic: string, vlan: number): string {
  const classic = `${nic}.${vlan}`;
  if (classic.length <= IFNAME_MAX) return classic;
  return `pwq${digest('sha256', classic).toString('hex').slice(0, IFNAME_MAX - 3)}`;
}

/** The alias of a VLAN sub-interface pipework made: removed when its last user goes. */
export const VLAN_MARK = 'pipework/vlan';

export interface VlanPlan {
  name: string;
  steps: Step[];
  /** True when this plan makes the sub-interface. */
  created: boolean;
}

export function planVlanIf(nic: string, vlan: number, mtu: number, host: HostFacts): VlanPlan {
  const name = vlanIfName(nic, vlan);
  if (host.link(name)) {
    const d = host.details?.get(name);
    if (d?.kind !== 'vlan' || d.vlanId !== vlan || (d.parent !== undefined && d.parent !== nic)) {
      throw new ConflictError(`${name} already exists but is not a VLAN device for tag ${vlan} on ${nic}`);
    }
    return { name, steps: [], created: false };
  }
  return {
    name,
    created: true,
    steps: [{
      title: `create VLAN ${vlan} sub-interface ${name} on ${nic}`,
      action: { kind: 'ip', place: 'host', args: ['link', 'add', 'link', nic, 'name', name, 'mtu', String(mtu), 'type', 'vlan', 'id', String(vlan)] },
      undo: [{ kind: 'ip', place: 'host', args: ['link', 'del', 'dev', name] }],
      needs: featureText('vlan'),
    }, {
      title: `mark ${name} as made by pipework`,
      action: { kind: 'ip', place: 'host', args: ['link', 'set', 'dev', name, 'alias', VLAN_MARK] },
      undo: [],
    }],
  };
}
