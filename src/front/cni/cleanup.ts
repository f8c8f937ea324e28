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
import { readGuestFacts } from '../../guest/netstate.js';
import { resolveGuest } from '../../guest/resolve.js';
import { formatOwner } from '../../model/owner.js';
import { decodeRecord, type AttachRecord } from '../../model/record.js';
import { parseNetConf } from './config.js';
import { execDelegate, findPlugin } from './ipam.js';
import { loadOperatorFile } from './operator.js';
import type { RawRequest } from './protocol.js';
import { execOptions, runFor, type Request } from './request.js';
import { guestName, hostEndName, hostSide, ownerOf } from './spec.js';
import type { AttachmentState } from './state.js';

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

/**
 * Why the configuration a record kept from its ADD (`ipamConfig`) cannot be handed to the IPAM
 * plugin, or undefined. It is read back from a file only root writes, and still checked as the
 * configuration parser checks a runtime's: a configuration at all, of a version pipework speaks,
 * a records' directory allowed, this record's network, and naming the IPAM plugin the record does.
 */
export function recordedIpamProblem(s: Pick<AttachmentState, 'network' | 'ipam' | 'ipamConfig' | 'cniArgs'>): string | undefined {
  if (s.ipamConfig === undefined) return 'no configuration was recorded';
  try {
    const recorded = parseNetConf(s.ipamConfig, { args: s.cniArgs ?? '', command: 'DEL' }, { lenient: true, operator: () => loadOperatorFile() });
    if (recorded.name !== s.network) return `it is network ${recorded.name}'s, not ${s.network}'s`;
    if (recorded.ipam?.type !== s.ipam) return `it names IPAM plugin ${recorded.ipam?.type ?? 'none'}, not ${s.ipam ?? 'none'}`;
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

/** What releasing recorded addresses could not do. */
export interface Released {
  failures: string[];
  /** The configuration the record kept was not handed to the IPAM plugin: why (nothing was released). */
  refused?: string;
}

/**
 * Release what IPAM gave an attachment, with the configuration its ADD had (GC, a stale record,
 * a DEL whose configuration names no ipam); `fallback`: the request's own, when none was
 * recorded.
 */
export async function releaseRecorded(req: Request, s: AttachmentState, env: RawRequest['env'], fallback?: string): Promise<Released> {
  if (s.ipam === undefined) return { failures: [] };
  const problem = s.ipamConfig === undefined && fallback !== undefined ? undefined : recordedIpamProblem(s);
  if (problem !== undefined) {
    return { failures: [], refused: `the IPAM configuration recorded for ${s.containerId}/${s.ifname} is not used (${problem}): its addresses were not released` };
  }
  const file = findPlugin(s.ipam, req.params.path);
  if (file === undefined) return { failures: [`IPAM plugin ${s.ipam} not found in CNI_PATH: the addresses of ${s.containerId}/${s.ifname} were not released`] };
  try {
    await execDelegate({ type: s.ipam, file }, 'DEL', execOptions(req, s.ipamConfig ?? fallback, env));
    return { failures: [] };
  } catch (err) {
    return { failures: [(err as Error).message] };
  }
}

/**
 * Is this request's attachment there — CNI_IFNAME in CNI_NETNS, carrying this attachment's
 * owner? A record whose netns path and inode match says so, but a new namespace can take a dead
 * one's inode under the same path: then the interface is not there, and the record is stale.
 */
export async function attachedHere(req: Request): Promise<boolean> {
  const { conf, params } = req;
  const guest = await resolveGuest({ kind: 'netns-path', path: params.netns }, { runner: req.runner });
  try {
    const facts = await readGuestFacts(req.runner, guest.ns);
    const link = facts.links.find((l) => l.name === params.ifname);
    return link !== undefined && decodeRecord(link.alias)?.owner === formatOwner(ownerOf(conf.name, params.containerId, params.ifname));
  } finally {
    guest.ns.close();
  }
}
