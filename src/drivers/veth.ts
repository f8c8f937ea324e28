/**
 * A veth pair for a bridge (Linux or OVS): the peer is created directly inside the guest with
 * its final name, MTU and MAC (no rename, no move), and both ends carry pipework's record.
 */
import { ConflictError } from '../model/errors.js';
import { decodeRecord, encodeRecord, type AttachRecord } from '../model/record.js';
import { hostLink, type Facts } from './facts.js';
import { GUEST_NETNS, type Step } from '../model/plan.js';

export interface VethInput {
  localIf: string;
  guestIf: string;
  mtu: number;
  mac?: string;
  facts: Facts;
  /** The record both ends carry. */
  record: AttachRecord;
  /** The host end of the interface a --replace parked under another name (it is not in the way). */
  parkedHostEnd?: string;
}

export function planVeth(input: VethInput): Step[] {
  const { localIf, guestIf, mtu } = input;
  const steps: Step[] = [];
  const existing = input.parkedHostEnd !== undefined ? undefined : hostLink(input.facts, localIf);
  if (existing) {
    // The classic rule: a link that is up is in use; one that is down is stale and is re-made —
    // but only one pipework made (its record says so): an interface it did not make is never touched.
    if (existing.up) throw new ConflictError(`Link ${localIf} exists and is up`);
    if (existing.kind !== 'veth') {
      throw new ConflictError(`link ${localIf} exists and is not a veth (${existing.kind ?? 'unknown kind'}); refusing to replace it`, { advice: 'choose another name with -l' });
    }
    if (decodeRecord(existing.alias)?.role !== 'host') {
      throw new ConflictError(`link ${localIf} exists (down) and was not made by pipework; refusing to remove it`, { advice: 'choose another name with -l, or remove it yourself' });
    }
    steps.push({
      title: `remove stale link ${localIf} (made by pipework, down)`,
      action: { kind: 'ip', place: 'host', args: ['link', 'del', 'dev', localIf] },
      undo: [],
    });
  }
  const mtuArgs = ['mtu', String(mtu)];
  steps.push({
    title: `create veth pair ${localIf} (host) and ${guestIf} (guest)`,
    action: {
      kind: 'ip',
      place: 'host',
      args: [
        'link', 'add', 'name', localIf, ...mtuArgs, 'type', 'veth',
        'peer', 'name', guestIf, ...mtuArgs, ...(input.mac !== undefined ? ['address', input.mac] : []), 'netns', GUEST_NETNS,
      ],
    },
    // Deleting one end deletes the pair, with every address and route on the guest end.
    undo: [{ kind: 'ip', place: 'host', args: ['link', 'del', 'dev', localIf] }],
  });
  steps.push(hostEndRecordStep(localIf, input.record));
  return steps;
}

/** The record on a veth's host end (the one the host believes: src/engine/trust.ts). */
export function hostEndRecordStep(localIf: string, record: AttachRecord): Step {
  return {
    title: `record the configuration on ${localIf}`,
    action: { kind: 'ip', place: 'host', args: ['link', 'set', 'dev', localIf, 'alias', encodeRecord({ ...record, localIf, role: 'host' })] },
    undo: [],
  };
}

/** A veth kind's `rerecord`: its host end carries the record again. */
export function rerecordHostEnd(input: { record: AttachRecord }): Step[] {
  const end = input.record.localIf;
  return end !== undefined ? [hostEndRecordStep(end, input.record)] : [];
}

export function upStep(name: string): Step {
  return { title: `bring ${name} up`, action: { kind: 'ip', place: 'host', args: ['link', 'set', 'dev', name, 'up'] }, undo: [] };
}

/** A veth's host end, live: it must exist and be up (it goes with its guest end, so it exists if that does). */
export function hostEndDrift(facts: Facts, localIf: string): { what: string; repair: Step[] }[] {
  const link = hostLink(facts, localIf);
  if (!link) return [];
  return link.up ? [] : [{ what: `host end ${localIf} is down`, repair: [upStep(localIf)] }];
}

/** The guest end goes, and the host end with it (a veth pair is one device). */
export function removeGuestLinkStep(guestIf: string, record: AttachRecord): Step {
  const host = record.localIf !== undefined ? ` and its host end ${record.localIf}` : '';
  return {
    title: `remove ${guestIf}${host} (${record.hostKind} ${record.hostIf})`,
    action: { kind: 'ip', place: 'guest', args: ['link', 'del', 'dev', guestIf] },
    undo: [],
    irreversible: true,
  };
}
