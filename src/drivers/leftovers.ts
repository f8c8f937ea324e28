/**
 * What the drivers' `leftovers` share: a veth's host end found by the record it carries (only
 * root writes a host link's alias), and an Open vSwitch row found by the ids pipework wrote.
 */
import { ifNameProblem } from '../model/ifname.js';
import { decodeRecord, ownerText, sameAttachment, type AttachRecord, type HostKindName } from '../model/record.js';
import type { HostLink } from '../host/facts.js';
import { OVS_TIMEOUT } from '../host/ovs-facts.js';
import { staleOvsRows } from '../host/stale.js';
import { lockKey, type Step } from '../engine/plan.js';
import type { Leftover, LeftoverView } from './driver.js';

/** Host ends of this kind, by their own records: all, or (`of`) that attachment's. */
export function hostEnds(view: LeftoverView, kind: HostKindName, of?: AttachRecord): { link: HostLink; record: AttachRecord }[] {
  return view.links.flatMap((link) => {
    const r = decodeRecord(link.alias);
    if (r?.role !== 'host' || r.hostKind !== kind) return [];
    if (of !== undefined && (link.name !== of.localIf || !sameAttachment(r, of))) return [];
    return [{ link, record: r }];
  });
}

/** Removing a host end takes its guest end with it; it may have gone with its guest meanwhile. */
export function removeHostEndStep(name: string, record: AttachRecord): Step {
  return {
    title: `remove host end ${name} of ${record.guestIf} in ${record.guest}`,
    action: { kind: 'ip', place: 'host', args: ['link', 'del', 'dev', name], onlyIfExists: name },
    undo: [],
    irreversible: true,
  };
}

/** The owner an Open vSwitch row names (written quoted), if any. */
export function rowOwner(ids: Record<string, string>): string | undefined {
  return ids['pipework.owner']?.replace(/^"|"$/gu, '');
}

/**
 * Rows pipework wrote whose device is gone (it went with its guest): all, or (`of`) the one of
 * that attachment's host end — a row of that name with no owner (the command line's) counts too.
 */
export function deadRows(view: LeftoverView, of?: AttachRecord): Leftover[] {
  if (view.ovsPorts === undefined) return [];
  return staleOvsRows(view.ovsPorts.values(), (name) => view.link(name) !== undefined).flatMap((p): Leftover[] => {
    const owner = rowOwner(p.ids);
    if (of !== undefined && (p.port !== of.localIf || (owner !== undefined && owner !== ownerText(of)))) return [];
    // (Rows of names pipework made: checked all the same before they reach a command.)
    if (ifNameProblem(p.port) !== undefined || ifNameProblem(p.bridge) !== undefined) return [];
    return [{
      what: `stale Open vSwitch port ${p.port} of ${p.bridge}`, name: p.port,
      owner: owner ?? 'cli',
      ids: p.ids,
      live: false,
      steps: [{
        title: `remove stale Open vSwitch port ${p.port} from ${p.bridge}`,
        action: { kind: 'exec', place: 'host', argv: ['ovs-vsctl', OVS_TIMEOUT, '--if-exists', 'del-port', p.bridge, p.port] },
        undo: [],
      }],
      locks: { uses: [lockKey.ovs(p.bridge)], changes: [] },
    }];
  });
}
