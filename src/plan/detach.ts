/**
 * Taking down what pipework plumbed, read back from the records on the interfaces.
 */
import type { GuestFacts } from '../guest/facts.js';
import { ConflictError } from '../model/errors.js';
import { decodeRecord, type AttachRecord } from '../model/record.js';
import type { Plan, Step } from './types.js';

/** Steps that remove one pipework interface from the guest (and its host side). */
export function planDetachLink(guestIf: string, record: AttachRecord): Step[] {
  // A veth pair goes as a whole: deleting the guest end removes the host end, its bridge
  // port, and every address and route on it. It cannot be undone.
  return [{
    title: `remove ${guestIf} and its host end ${record.localIf ?? ''} from ${record.hostKind} ${record.hostIf}`.replace('  ', ' '),
    action: { kind: 'ip', place: 'guest', args: ['link', 'del', 'dev', guestIf] },
    undo: [],
  }];
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
