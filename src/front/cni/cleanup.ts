/**
 * Removing one attachment, whatever is left of it: the interface in the netns when the netns is
 * still there, then what may stay on the host after it is gone — the host end, the Open vSwitch
 * row, a NIC the kernel gave back, a VLAN sub-interface pipework made, the masquerading rules.
 * Absent is fine everywhere; only what this attachment's owner made is touched. DEL, GC and an
 * ADD that finds a stale record all come here.
 */
import { existsSync, statSync } from 'node:fs';
import { ipJsonBatch } from '../../exec/ip.js';
import { planVlanRemoval } from '../../drivers/vlan.js';
import { detachFromGuest } from '../../engine/detach.js';
import { execute } from '../../engine/executor.js';
import { acquire, guestIfLock, hostEndLock } from '../../engine/lock.js';
import { vlanIfName } from '../../drivers/names.js';
import type { Plan, Step } from '../../engine/plan.js';
import { planDetach } from '../../engine/planner.js';
import { resolveGuest } from '../../guest/resolve.js';
import { readHostLink } from '../../host/facts.js';
import { OVS_RUN_DIR, OVS_TIMEOUT, readOvsPortTable } from '../../host/ovs-facts.js';
import { returnedNics } from '../../host/stale.js';
import { planReturnedNic } from '../../drivers/phys.js';
import { ConflictError, NotFoundError } from '../../model/errors.js';
import { decodeRecord, type AttachRecord } from '../../model/record.js';
import { formatOwner } from '../../spec/owner.js';
import { masqRemoval } from './host-side.js';
import { hostNamespace, runFor, type Request } from './request.js';
import { hostEndName, ownerOf } from './spec.js';
import type { AttachmentState } from './state.js';

export interface CleanupTarget {
  network: string;
  containerId: string;
  ifname: string;
  /** The netns to look in ('' or a path that is gone: none). */
  netns: string;
  /** Only when the path is still this namespace (GC: a path may have been reused). */
  nsInode?: number;
  state?: AttachmentState;
  /** The host side, from the record or else from the configuration. */
  hostKind: AttachmentState['hostKind'];
  hostIf: string;
  vlan?: number;
}

function plan(steps: Step[]): Plan {
  return { guestLabel: 'the host', steps, warnings: [], outcome: steps.length > 0 ? 'removed' : 'unchanged' };
}

async function onHost(req: Request, steps: Step[]): Promise<void> {
  if (steps.length === 0) return;
  const host = hostNamespace();
  try {
    await execute([{ plan: plan(steps), ns: host }], runFor(req));
  } finally {
    host.close();
  }
}

/** Our record on a host link (the host end), or undefined. */
function hostRecord(name: string, owner: string): AttachRecord | undefined {
  const r = decodeRecord(readHostLink(name)?.alias);
  return r?.role === 'host' && r.owner === owner ? r : undefined;
}

/** The interface in the netns, through the engine; true when its host side went with it. */
async function fromGuest(req: Request, t: CleanupTarget, owner: string, hostEnd: string): Promise<boolean> {
  let guest;
  try {
    guest = await resolveGuest({ kind: 'netns-path', path: t.netns, name: t.containerId.slice(0, 12) }, { runner: req.runner });
  } catch (err) {
    if (err instanceof NotFoundError) return false; // not a namespace (any more)
    throw err;
  }
  try {
    if (t.nsInode !== undefined && guest.ns.inode !== t.nsInode) return false;
    const rec = hostRecord(hostEnd, owner);
    if (rec !== undefined && rec.nsInode === guest.ns.inode && rec.guestIf === t.ifname) {
      // The host end says what its guest end is: removed from that record, without reading the guest.
      const run = runFor(req);
      const held = await acquire([guestIfLock(guest.ns.inode, t.ifname), hostEndLock(hostEnd)], {
        signal: req.signal, purpose: run.purpose, onWait: req.log, what: () => `interface ${t.ifname}`,
      });
      try {
        const p = planDetach([{ guestIf: t.ifname, record: { ...rec, role: 'guest' } }], { links: [], routes: [] }, guest.ns.label);
        await execute([{ plan: p, ns: guest.ns }], run);
      } finally {
        held.release();
      }
      return true;
    }
    try {
      await detachFromGuest(guest, { guest: { kind: 'netns-path', path: t.netns }, which: { guestIf: t.ifname }, owner: (o) => o === owner, ownerName: owner }, runFor(req));
    } catch (err) {
      // CNI_IFNAME there is someone else's: it stays.
      if (!(err instanceof ConflictError)) throw err;
      req.log(`pipework: left ${t.ifname} in ${t.netns}: ${err.message}`);
    }
    return false;
  } finally {
    guest.ns.close();
  }
}

/** Clean one attachment; returns what could not be done (each step is tried regardless). */
export async function cleanAttachment(req: Request, t: CleanupTarget): Promise<string[]> {
  const errors: string[] = [];
  const attempt = async (what: string, f: () => Promise<void>) => {
    try {
      await f();
    } catch (err) {
      errors.push(`${what}: ${(err as Error).message}`);
    }
  };
  const owner = formatOwner(ownerOf(t.network, t.containerId, t.ifname));
  const hostEnd = t.state?.hostEnd ?? hostEndName(t.containerId, t.ifname);
  const veth = t.hostKind === 'bridge' || t.hostKind === 'ovs';

  let removed = false;
  if (t.netns !== '' && existsSync(t.netns)) {
    await attempt(`removing ${t.ifname} from ${t.netns}`, async () => {
      removed = await fromGuest(req, t, owner, hostEnd);
    });
  }

  if (veth) {
    // A host end whose netns is gone goes with it; one left (the netns is held elsewhere) goes now.
    const rec = hostRecord(hostEnd, owner);
    if (rec !== undefined) {
      await attempt(`removing host end ${hostEnd}`, () => onHost(req, [{
        title: `remove host end ${hostEnd} of ${t.ifname}`, action: { kind: 'ip', place: 'host', args: ['link', 'del', 'dev', hostEnd] }, undo: [],
      }]));
    }
  }
  // Removed through its record, the port went with it (the driver's removal includes the row).
  if (t.hostKind === 'ovs' && !removed) {
    if (existsSync(`${OVS_RUN_DIR}/db.sock`)) {
      const ports = await readOvsPortTable(req.delegates);
      const row = ports.get(hostEnd);
      const ours = row !== undefined && (row.externalIds['pipework.owner']?.replace(/^"|"$/gu, '') === owner || row.externalIds['pipework.interface'] === hostEnd);
      if (ours && !existsSync(`/sys/class/net/${hostEnd}`)) {
        await attempt(`removing Open vSwitch port ${hostEnd}`, () => onHost(req, [{
          title: `remove Open vSwitch port ${hostEnd} (its device is gone)`,
          action: { kind: 'exec', place: 'host', argv: ['ovs-vsctl', OVS_TIMEOUT, '--if-exists', 'del-port', hostEnd] }, undo: [],
        }]));
      }
    } else {
      req.log(`pipework: Open vSwitch is not running: a port row ${hostEnd} may be left (GC removes it once it runs)`);
    }
  }
  if (t.hostKind === 'phys') {
    await attempt('giving the NIC back its name', async () => {
      const [links] = await ipJsonBatch(req.delegates, [['link', 'show']], { where: 'the host' });
      const nics = returnedNics(links as { ifname: string; ifalias?: string; address?: string }[]).filter((n) => n.record.owner === owner);
      await onHost(req, nics.flatMap((n) => planReturnedNic(n.link, n.record, n.key)));
    });
  }
  if ((t.hostKind === 'macvlan' || t.hostKind === 'phys') && t.vlan !== undefined) {
    const vlanIf = vlanIfName(t.hostIf, t.vlan);
    if (existsSync(`/sys/class/net/${vlanIf}`)) {
      const rec: AttachRecord = { role: 'guest', guest: '', nsInode: 0, guestIf: t.ifname, hostIf: t.hostIf, hostKind: t.hostKind, vlanIf };
      await attempt(`removing VLAN sub-interface ${vlanIf}`, () => onHost(req, planVlanRemoval(rec)));
    }
  }
  const masq = t.state?.masq;
  if (masq !== undefined) {
    for (const argv of masqRemoval(masq.chain, masq.comment, masq.rules)) {
      // Each may be gone already (a DEL after a DEL): its failure is not ours to report.
      await req.delegates.run(argv, { timeoutMs: 30_000 }).catch(() => undefined);
    }
  }
  return errors;
}

/** The inode of a netns path, if it is one now. */
export function inodeOf(path: string): number | undefined {
  try {
    return statSync(path).ino;
  } catch {
    return undefined;
  }
}

