/**
 * GC: every attachment of this network that is not in `cni.dev/valid-attachments` (or the older
 * `cni.dev/attachments`) goes — its interface if its netns is still there, what it left on the
 * host, and its addresses (released with the configuration its ADD had). Then what pipework
 * made for this network with no record left (an Open vSwitch row, a host end, a NIC given back)
 * goes too, and so do folders of records left empty; GC is forwarded to the IPAM plugin when it
 * speaks this version. It keeps going after an error and reports them all at the end.
 */
import { findLeftovers, removeLeftovers } from '../../engine/remove.js';
import { parseOwner } from '../../model/owner.js';
import type { Attachment } from './config.js';
import { cleanAttachment, releaseRecorded } from './cleanup.js';
import { delegateSupports, execDelegate } from './ipam.js';
import { Code, CniError } from './protocol.js';
import { delegateOf, execOptions, lockAttachment, runFor, tidyRecords, type Request } from './request.js';
import { ownerContainerId } from './spec.js';
import { listStates, readState, removeState, type AttachmentState } from './state.js';

function keyOf(a: Attachment): string {
  return `${a.containerId}/${a.ifname}`;
}

/** The same key as an owner recorded on interfaces spells it. */
function ownerKeyOf(a: Attachment): string {
  return `${ownerContainerId(a.containerId)}/${a.ifname}`;
}

async function collect(req: Request, state: AttachmentState, errors: string[]): Promise<void> {
  const { conf } = req;
  const held = await lockAttachment(req, conf.name, state.containerId, state.ifname);
  try {
    // A DEL may have come meanwhile.
    const s = readState(conf.dataDir, conf.name, state.containerId, state.ifname);
    if (s === undefined) return;
    const failures = await cleanAttachment(req, {
      containerId: s.containerId, ifname: s.ifname,
      // Without the inode ADD saw, the path cannot be trusted to be that namespace still.
      netns: s.record.nsInode !== 0 ? s.netns : '', nsInode: s.record.nsInode,
      record: s.record, ...(s.masq !== undefined && { masq: s.masq }),
    });
    const env = { ...req.raw.env, CNI_CONTAINERID: s.containerId, CNI_IFNAME: s.ifname, CNI_NETNS: '', CNI_ARGS: s.cniArgs ?? '' };
    const released = await releaseRecorded(req, s, env, req.raw.stdin);
    // (A configuration the record cannot vouch for: reported, and the record left for the operator.)
    failures.push(...released.failures, ...(released.refused !== undefined ? [released.refused] : []));
    if (failures.length === 0) {
      removeState(conf.dataDir, conf.name, s.containerId, s.ifname);
      req.log(`pipework: GC removed ${s.containerId}/${s.ifname} of network ${conf.name}`);
    } else {
      errors.push(...failures.map((f) => `${s.containerId}/${s.ifname}: ${f}`));
    }
  } finally {
    held.release();
  }
}

/** The (container, ifname) of a CNI owner of this network, from its text. */
function ownerKey(text: string, network: string): string | undefined {
  const o = parseOwner(text);
  return o?.kind === 'cni' && o.network === network ? `${o.containerId}/${o.ifname}` : undefined;
}

/**
 * What pipework made for this network that no valid attachment owns and no record named (a host
 * end, an Open vSwitch row, a NIC given back): its drivers find it, one run removes it.
 */
async function sweep(req: Request, valid: Set<string>, errors: string[]): Promise<void> {
  const run = runFor(req);
  try {
    const stale = (await findLeftovers(run)).filter((l) => {
      const key = ownerKey(l.owner, req.conf.name);
      return key !== undefined && !valid.has(key);
    });
    if (stale.length === 0) return;
    for (const l of stale) req.log(`pipework: GC removes ${l.what}`);
    await removeLeftovers(stale, [], run);
  } catch (err) {
    errors.push((err as Error).message);
  }
}

export async function gc(req: Request): Promise<void> {
  const { conf } = req;
  if (conf.validAttachments === undefined) {
    throw new CniError(Code.InvalidConfig, 'GC needs cni.dev/valid-attachments', 'without the list of valid attachments pipework cannot tell which are stale');
  }
  const valid = new Set(conf.validAttachments.map(keyOf));
  const errors: string[] = [];
  // What is there and is not a record pipework wrote is left alone, and reported.
  let recorded: AttachmentState[] = [];
  try {
    recorded = listStates(conf.dataDir, conf.name, errors);
  } catch (err) {
    errors.push((err as Error).message);
  }
  for (const s of recorded) {
    if (valid.has(keyOf(s))) continue;
    try {
      await collect(req, s, errors);
    } catch (err) {
      errors.push(`${s.containerId}/${s.ifname}: ${(err as Error).message}`);
    }
  }
  await sweep(req, new Set(conf.validAttachments.map(ownerKeyOf)), errors);
  await tidyRecords(req);
  const delegate = (() => {
    try {
      return delegateOf(req);
    } catch (err) {
      errors.push((err as Error).message);
      return undefined;
    }
  })();
  if (delegate !== undefined && await delegateSupports(delegate, conf.cniVersion, execOptions(req))) {
    try {
      await execDelegate(delegate, 'GC', execOptions(req));
    } catch (err) {
      errors.push((err as Error).message);
    }
  }
  if (errors.length > 0) throw new CniError(Code.StepFailed, `GC of network ${conf.name} left ${errors.length} problem(s): ${errors[0]!}`, errors.slice(1).join('; '));
}
