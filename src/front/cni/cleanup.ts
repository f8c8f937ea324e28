/**
 * Removing one attachment, whatever is left of it, through the engine (src/engine/remove.ts):
 * its interface in the netns when the netns is still there, what it left on the host (its host
 * kind's driver knows: a host end, an Open vSwitch row, a NIC given back, a VLAN sub-interface),
 * and its masquerading chain — one run. Absent is fine everywhere; only what this attachment's
 * owner made is touched. DEL, GC and an ADD that finds a stale record all come here.
 */
import { statSync } from 'node:fs';
import { planMasqRemove, type Masq } from '../../engine/networks.js';
import { intendedRecord, removeAttachment } from '../../engine/remove.js';
import type { AttachRecord } from '../../model/record.js';
import { runFor, type Request } from './request.js';
import { guestName, hostEndName, hostSide, ownerOf } from './spec.js';

export interface CleanupTarget {
  containerId: string;
  ifname: string;
  /** The netns to look in ('' or a path that is gone: none). */
  netns: string;
  /** Only when the path is still this namespace (GC: a path may have been reused). */
  nsInode?: number;
  /** What the attachment is: pipework's record of it, or what its configuration says it would be. */
  record: AttachRecord;
  masq?: Masq;
}

/** What an ADD of this request would record, for a DEL that finds no record (ADD died before writing it, or it was lost). */
export function recordFromConf(req: Request, master?: string): AttachRecord {
  const { conf, params } = req;
  const host = hostSide(conf, master);
  return intendedRecord({
    host, guestIf: params.ifname, owner: ownerOf(conf.name, params.containerId, params.ifname), guest: `netns:${guestName(params, conf)}`,
    // (A kind without a veth takes no host end name.)
    nsInode: inodeOf(params.netns) ?? 0, hostEnd: hostEndName(params.containerId, params.ifname),
  });
}

/** Clean one attachment; returns what could not be done (the record is then kept, for a retry). */
export async function cleanAttachment(req: Request, t: CleanupTarget): Promise<string[]> {
  try {
    const out = await removeAttachment({
      record: t.record,
      netns: { path: t.netns, ...(t.nsInode !== undefined && { inode: t.nsInode }) },
      extra: t.masq !== undefined ? planMasqRemove(t.masq) : [],
      label: t.containerId.slice(0, 12),
    }, runFor(req));
    // CNI_IFNAME there is someone else's: it stays.
    if (out.left !== undefined) req.log(`pipework: left ${out.left}`);
    return [];
  } catch (err) {
    return [`removing ${t.ifname}: ${(err as Error).message}`];
  }
}

/** The inode of a netns path, if it is one now. */
export function inodeOf(path: string): number | undefined {
  try {
    return statSync(path).ino;
  } catch {
    return undefined;
  }
}
