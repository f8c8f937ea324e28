/**
 * A physical NIC (anything that is not a bridge, an OVS bridge or IPoIB): a macvlan child in
 * bridge mode created directly inside the guest, or with --direct-phys the NIC itself moved
 * in and renamed (its host name is recorded so it can be given back). With @vlan, both sit
 * on the NIC's 802.1Q sub-interface.
 */
import { HOST_NS_PATH_IN_CHILD, NS_PATH_IN_CHILD } from '../exec/runner.js';
import type { Step } from '../plan/types.js';
import type { HostFacts } from './facts.js';
import { featureText } from './kernel.js';
import { planVlanIf } from './vlan.js';

export interface NicInput {
  nic: string;
  guestIf: string;
  vlan?: number;
  mac?: string;
  directPhys: boolean;
  host: HostFacts;
}

export interface NicPlan {
  steps: Step[];
  /** The device the guest interface hangs off (the NIC or its VLAN sub-interface). */
  parent: string;
  /** The VLAN sub-interface the guest interface hangs off (made now or before). */
  vlanIf?: string;
  /** This plan makes `vlanIf`. */
  vlanMade?: boolean;
  /** --direct-phys with a MAC: the NIC's own MAC. */
  origMac?: string;
}

function upIfDown(name: string, host: HostFacts): Step[] {
  const link = host.link(name);
  if (link?.up) return [];
  return [{
    title: `bring ${name} up`,
    action: { kind: 'ip', place: 'host', args: ['link', 'set', 'dev', name, 'up'] },
    undo: link ? [{ kind: 'ip', place: 'host', args: ['link', 'set', 'dev', name, 'down'] }] : [],
  }];
}

export function planNic(input: NicInput): NicPlan {
  const { nic, guestIf, host } = input;
  const mtu = host.link(nic)?.mtu ?? 1500;
  const steps: Step[] = [];
  let parent = nic;
  let vlanIf: string | undefined;
  let origMac: string | undefined;
  let vlanMade = false;
  if (input.vlan !== undefined) {
    const vlan = planVlanIf(nic, input.vlan, mtu, host);
    steps.push(...vlan.steps, ...upIfDown(nic, host));
    parent = vlan.name;
    vlanIf = vlan.name;
    vlanMade = vlan.created;
  }
  if (input.directPhys) {
    steps.push({
      title: `move ${parent} into the guest as ${guestIf}`,
      action: { kind: 'ip', place: 'host', args: ['link', 'set', 'dev', parent, 'netns', NS_PATH_IN_CHILD, 'name', guestIf] },
      // Give it back under its own name.
      undo: [{ kind: 'ip', place: 'guest', args: ['link', 'set', 'dev', guestIf, 'netns', HOST_NS_PATH_IN_CHILD, 'name', parent] }],
    });
    if (input.mac !== undefined) {
      const current = host.link(parent)?.mac;
      origMac = current;
      steps.push({
        title: `set the MAC of ${guestIf} to ${input.mac}`,
        action: { kind: 'ip', place: 'guest', args: ['link', 'set', 'dev', guestIf, 'address', input.mac] },
        undo: current ? [{ kind: 'ip', place: 'guest', args: ['link', 'set', 'dev', guestIf, 'address', current] }] : [],
      });
    }
  } else {
    steps.push({
      title: `create macvlan ${guestIf} on ${parent} in the guest`,
      action: {
        kind: 'ip', place: 'host',
        args: [
          'link', 'add', 'link', parent, 'name', guestIf, 'mtu', String(mtu),
          ...(input.mac !== undefined ? ['address', input.mac] : []),
          'netns', NS_PATH_IN_CHILD, 'type', 'macvlan', 'mode', 'bridge',
        ],
      },
      undo: [{ kind: 'ip', place: 'guest', args: ['link', 'del', 'dev', guestIf] }],
      needs: featureText('macvlan'),
    });
    steps.push(...upIfDown(parent, host));
  }
  return { steps, parent, ...(vlanIf !== undefined && { vlanIf }), ...(vlanMade && { vlanMade }), ...(origMac !== undefined && { origMac }) };
}
