/**
 * An 802.1Q sub-interface `<nic>.<vlan>` of a host NIC: reused when it already is a VLAN
 * device with that id on that NIC, refused when it is something else, made otherwise.
 */
import { ConflictError } from '../model/errors.js';
import { VLAN_MARK } from '../model/vlan.js';
import type { AttachRecord } from '../model/record.js';
import { hostLink, type Facts } from './facts.js';
import type { Step } from '../model/plan.js';
import { featureText } from '../host/kernel.js';


export interface VlanPlan {
  steps: Step[];
  /** True when this plan makes the sub-interface. */
  created: boolean;
}

export function planVlanIf(nic: string, name: string, vlan: number, mtu: number, facts: Facts): VlanPlan {
  const link = hostLink(facts, name);
  if (link) {
    if (link.kind !== 'vlan' || link.vlanId !== vlan || (link.parent !== undefined && link.parent !== nic)) {
      throw new ConflictError(`${name} already exists but is not a VLAN device for tag ${vlan} on ${nic}`);
    }
    return { steps: [], created: false };
  }
  return {
    created: true,
    steps: [{
      title: `create VLAN ${vlan} sub-interface ${name} on ${nic}`,
      action: { kind: 'ip', place: 'host', args: ['link', 'add', 'link', nic, 'name', name, 'mtu', String(mtu), 'type', 'vlan', 'id', String(vlan)] },
      undo: [{ kind: 'ip', place: 'host', args: ['link', 'del', 'dev', name] }],
      needs: featureText('vlan'),
      requires: [nic],
      // Several attaches of one run (or runs at once) may make the same sub-interface.
      raceOk: { vlanExists: name },
    }, {
      title: `mark ${name} as made by pipework`,
      action: { kind: 'ip', place: 'host', args: ['link', 'set', 'dev', name, 'alias', VLAN_MARK] },
      undo: [],
    }],
  };
}

/** A VLAN sub-interface pipework made goes with its last user (decided when the step runs). */
export function planVlanRemoval(record: AttachRecord): Step[] {
  if (record.vlanIf === undefined) return [];
  return [{
    title: `remove VLAN sub-interface ${record.vlanIf} if pipework made it and nothing else uses it`,
    action: { kind: 'ip', place: 'host', args: ['link', 'del', 'dev', record.vlanIf], onlyIfVlanUnused: record.vlanIf },
    undo: [],
  }];
}

/**
 * The mark pipework leaves on a NIC it brought up (an alternative name: state kept in the kernel,
 * on the NIC itself), so that whichever del removes its last user brings it down again.
 */
export function upMark(name: string): string {
  return `pwup.${name}`;
}

/** Bring a host link up when it is down, and mark it as brought up by pipework. */
export function upIfDown(name: string, facts: Facts): { steps: Step[]; broughtUp: boolean } {
  const link = hostLink(facts, name);
  if (link?.up) return { steps: [], broughtUp: false };
  const up: Step = {
    title: `bring ${name} up`,
    action: { kind: 'ip', place: 'host', args: ['link', 'set', 'dev', name, 'up'] },
    undo: link ? [{ kind: 'ip', place: 'host', args: ['link', 'set', 'dev', name, 'down'] }] : [],
  };
  // (A link made by this plan, a VLAN sub-interface, goes with its last user: no mark.)
  if (!link) return { steps: [up], broughtUp: false };
  return {
    broughtUp: true,
    steps: [up, {
      title: `mark ${name} as brought up by pipework (alternative name ${upMark(name)})`,
      action: { kind: 'ip', place: 'host', args: ['link', 'property', 'add', 'dev', name, 'altname', upMark(name)] },
      undo: [{ kind: 'ip', place: 'host', args: ['link', 'property', 'del', 'dev', name, 'altname', upMark(name)] }],
    }],
  };
}

/**
 * A NIC pipework brought up goes down again (and loses the mark) once nothing uses it — decided
 * when the del runs: its mark, and its users here and in every guest.
 */
export function planNicDown(nic: string): Step[] {
  const guard = { onlyIfLinkUnused: nic, onlyIfAltName: upMark(nic) };
  return [
    {
      title: `bring ${nic} down again if pipework brought it up and nothing uses it any more`,
      action: { kind: 'ip', place: 'host', args: ['link', 'set', 'dev', nic, 'down'], ...guard },
      undo: [],
    },
    {
      title: `take the mark ${upMark(nic)} off ${nic} then`,
      action: { kind: 'ip', place: 'host', args: ['link', 'property', 'del', 'dev', nic, 'altname', upMark(nic)], ...guard },
      undo: [],
    },
  ];
}
