/**
 * Taking down what pipework plumbed, read back from the records on the interfaces.
 */
import type { GuestFacts } from '../guest/facts.js';
import { HOST_NS_PATH_IN_CHILD } from '../exec/runner.js';
import { OVS_TIMEOUT } from '../host/ovs-facts.js';
import { VLAN_MARK } from '../host/vlan.js';
import { ConflictError } from '../model/errors.js';
import { decodeRecord, type AttachRecord } from '../model/record.js';
import type { Plan, Step } from './types.js';

/** Steps that remove one pipework interface from the guest (and its host side). They cannot be undone. */
/** A VLAN sub-interface pipework made goes with its last user (decided when the step runs). */
function vlanRemoval(record: AttachRecord): Step[] {
  if (record.vlanIf === undefined) return [];
  return [{
    title: `remove VLAN sub-interface ${record.vlanIf} if pipework made it and nothing else uses it`,
    action: { kind: 'ip', place: 'host', args: ['link', 'del', 'dev', record.vlanIf], onlyIfVlanUnused: record.vlanIf },
    undo: [],
  }];
}

export function planDetachLink(guestIf: string, record: AttachRecord): Step[] {
  if (record.hostKind === 'phys' && record.origName !== undefined) {
    // The NIC goes back to the host under its own name, without pipework's record (a VLAN
    // sub-interface pipework made gets its mark back, and goes if nothing else uses it).
    return [
      ...(record.origMac !== undefined ? [{
        title: `restore the MAC of ${guestIf} to ${record.origMac}`,
        action: { kind: 'ip' as const, place: 'guest' as const, args: ['link', 'set', 'dev', guestIf, 'address', record.origMac] },
        undo: [],
      }] : []),
      {
        title: `give ${guestIf} back to the host as ${record.origName}`,
        action: { kind: 'ip', place: 'guest', args: ['link', 'set', 'dev', guestIf, 'netns', HOST_NS_PATH_IN_CHILD, 'name', record.origName] },
        undo: [],
        irreversible: true,
      },
      {
        title: `clear pipework's record on ${record.origName}`,
        action: { kind: 'ip', place: 'host', args: ['link', 'set', 'dev', record.origName, 'alias', record.vlanMade ? VLAN_MARK : ''] },
        undo: [],
      },
      ...vlanRemoval(record),
    ];
  }
  // A veth pair goes as a whole: deleting the guest end removes the host end, its bridge
  // port, and every address and route on it. macvlan, dummy and IPoIB children just go.
  const host = record.localIf !== undefined ? ` and its host end ${record.localIf}` : '';
  const steps: Step[] = [{
    title: `remove ${guestIf}${host} (${record.hostKind} ${record.hostIf})`,
    action: { kind: 'ip', place: 'guest', args: ['link', 'del', 'dev', guestIf] },
    undo: [],
    irreversible: true,
  }];
  steps.push(...vlanRemoval(record));
  if (record.hostKind === 'ovs' && record.localIf !== undefined) {
    steps.push({
      title: `remove port ${record.localIf} from Open vSwitch bridge ${record.hostIf}`,
      action: { kind: 'exec', place: 'host', argv: ['ovs-vsctl', OVS_TIMEOUT, '--if-exists', 'del-port', record.hostIf, record.localIf] },
      undo: [],
    });
  }
  return steps;
}

export interface DetachTarget {
  guestIf: string;
  record: AttachRecord;
}

/** The pipework interfaces to remove: one by name, or all of them. Absent ones are fine (like CNI DEL). */
export function detachTargets(facts: GuestFacts, which: { all: true } | { guestIf: string }, guestLabel: string): DetachTarget[] {
  const mine = facts.links.flatMap((l) => {
    const record = decodeRecord(l.alias);
    return record ? [{ guestIf: l.name, record }] : [];
  });
  if ('all' in which) return mine;
  const found = mine.find((t) => t.guestIf === which.guestIf);
  if (found) return [found];
  if (facts.links.some((l) => l.name === which.guestIf)) {
    throw new ConflictError(`${which.guestIf} in ${guestLabel} was not plumbed by pipework; not removing it`);
  }
  return [];
}

export function planDetach(targets: DetachTarget[], guestLabel: string): Plan {
  return {
    guestLabel,
    steps: targets.flatMap((t) => planDetachLink(t.guestIf, t.record)),
    warnings: [],
    outcome: targets.length === 0 ? 'unchanged' : 'removed',
  };
}
