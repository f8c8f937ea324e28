/**
 * What the veth drivers' `leftovers` share: a host end found by the record it carries (only root
 * writes a host link's alias).
 */
import { decodeRecord, sameAttachment, type AttachRecord, type HostKindName } from '../model/record.js';
import type { HostLink } from '../host/links.js';
import type { Step } from '../model/plan.js';
import type { LeftoverView } from './driver.js';

/** Host ends of this kind, by their own records: all, or (`of`) that attachment's. */
export function hostEnds(view: LeftoverView, kind: HostKindName, of?: AttachRecord): { link: HostLink; record: AttachRecord }[] {
  const candidates = of === undefined ? view.links() : of.localIf !== undefined ? [view.link(of.localIf)].filter((l) => l !== undefined) : [];
  return candidates.flatMap((link) => {
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
