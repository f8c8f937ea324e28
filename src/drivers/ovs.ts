/**
 * Open vSwitch: the bridge (created when missing and the spec allows it), and a veth pair whose
 * host end is a port with the classic external-ids and, for a VLAN, its tag.
 */
import { NotFoundError } from '../model/errors.js';
import { ownerText, type AttachRecord } from '../model/record.js';
import { formatOwner } from '../model/owner.js';
import { hostLink } from './facts.js';
import type { GuestInfo } from '../model/guest-info.js';
import type { Step } from '../model/plan.js';
import { OVS_TIMEOUT } from '../host/ovs-facts.js';
import { lockKey, type Drift, type Driver, type DriverInput, type Leftover, type LeftoverView } from './driver.js';
import { hostEndDrift, planVeth, removeGuestLinkStep, rerecordHostEnd, upStep } from './veth.js';
import { confirmVeth } from './confirm.js';
import { hostEnds, removeHostEndStep } from './leftovers.js';
import { staleOvsRows, type StaleOvsPort } from '../host/stale.js';
import { ifNameProblem } from '../model/ifname.js';
import { vethHostName } from './names.js';
import { OVS_SETUP_ERROR, checkOvsBridge, checkOvsUsable, createOvsBridge } from './network/ovs-bridge.js';

export { OVS_SETUP_ERROR, checkOvsUsable };

/** The classic external-ids, each only when known. */
export interface OvsPortIds {
  containerId?: string;
  containerName?: string;
  nsPid?: number;
  /** pipework.guest, only for guests the classic keys cannot name. */
  guest?: string;
  /** pipework.owner, for owners other than the command line. */
  owner?: string;
}

export function ovsIds(guest: GuestInfo, record: AttachRecord): OvsPortIds {
  const container = guest.id !== undefined && (guest.kind === 'docker' || guest.kind === 'podman');
  return {
    ...(container && { containerId: guest.id, containerName: `/${guest.name}` }),
    ...(guest.pid !== undefined && { nsPid: guest.pid }),
    // A guest the classic keys cannot name (a named netns) is named by ours, so its stale
    // row can be found again.
    ...(!container && guest.pid === undefined && { guest: `${guest.kind}:${guest.name}` }),
    ...(record.owner !== undefined && record.owner !== formatOwner({ kind: 'cli' }) && { owner: record.owner }),
  };
}

/**
 * The argv that makes port `localIf` on `bridge` with exactly pipework's columns. `accessOnly`:
 * an access port (tagged frames the guest sends are dropped; without a tag, VLAN 0 — untagged
 * traffic only), not the trunk a port without a tag is by default.
 */
export function ovsPortArgv(bridge: string, localIf: string, vlan: number | undefined, ids: OvsPortIds, accessOnly = false): string[] {
  const externalIds = [
    `external-ids:pipework.interface=${localIf}`,
    `external-ids:pipework.bridge=${bridge}`,
    ...(ids.containerId !== undefined ? [`external-ids:pipework.containerid=${ids.containerId}`] : []),
    ...(ids.containerName !== undefined ? [`external-ids:pipework.containername=${ids.containerName}`] : []),
    ...(ids.nsPid !== undefined ? [`external-ids:pipework.nspid=${ids.nsPid}`] : []),
    ...(vlan !== undefined ? [`external-ids:pipework.vlan=${vlan}`] : []),
    ...(ids.guest !== undefined ? [`external-ids:pipework.guest=${JSON.stringify(ids.guest)}`] : []),
    ...(ids.owner !== undefined ? [`external-ids:pipework.owner=${JSON.stringify(ids.owner)}`] : []),
  ];
  // A row of that name may be left from a guest that died (its device went, the row stayed) or
  // made under another configuration: it goes in the same transaction, so the new row has
  // exactly these columns — never an old tag that would put the guest in another VLAN.
  return [
    'ovs-vsctl', OVS_TIMEOUT, '--', '--if-exists', 'del-port', localIf,
    '--', 'add-port', bridge, localIf, ...(vlan !== undefined ? [`tag=${vlan}`] : []), ...(accessOnly ? ['vlan_mode=access'] : []),
    '--', 'set', 'Interface', localIf, ...externalIds,
  ];
}

export function planOvsPort(bridge: string, localIf: string, vlan: number | undefined, ids: OvsPortIds, accessOnly = false): Step[] {
  const how = vlan !== undefined ? ` with tag ${vlan}` : accessOnly ? ' as an access port of untagged traffic' : '';
  return [{
    title: `add ${localIf} to Open vSwitch bridge ${bridge}${how}`,
    action: { kind: 'exec', place: 'host', argv: ovsPortArgv(bridge, localIf, vlan, ids, accessOnly), failOnStderr: OVS_SETUP_ERROR },
    undo: [{ kind: 'exec', place: 'host', argv: ['ovs-vsctl', OVS_TIMEOUT, '--if-exists', 'del-port', bridge, localIf] }],
  }];
}

export function planOvsPortRemoval(bridge: string, localIf: string): Step {
  return {
    title: `remove port ${localIf} from Open vSwitch bridge ${bridge}`,
    action: { kind: 'exec', place: 'host', argv: ['ovs-vsctl', OVS_TIMEOUT, '--if-exists', 'del-port', bridge, localIf] },
    undo: [],
  };
}

export const ovsDriver: Driver<'ovs'> = {
  kind: 'ovs',
  veth: true,
  needsOvs: true,
  hostLinks: (host) => [host.bridge],
  names: (_host, guestIf, guest, hostEnd) => ({ hostEnd: hostEnd ?? vethHostName(guest, guestIf) }),
  confirm: (link, _own, nsInode, host) => confirmVeth('ovs', link, nsInode, host),

  drift(record, live) {
    const out: string[] = [];
    const name = record.localIf;
    const end = name !== undefined ? live.link(name) : undefined;
    if (name === undefined || end === undefined) return out;
    // (Rows not read, Open vSwitch not running: they are not judged.)
    if (live.ovsPorts !== undefined) {
      const row = live.ovsPorts.get(name);
      if (!row) out.push(`${name} is not a port of ${record.hostIf}`);
      else if (row.bridge !== undefined && row.bridge !== record.hostIf) out.push(`${name} is a port of ${row.bridge}, not ${record.hostIf}`);
      else if (row.tag !== record.vlan) out.push(`port ${name} has tag ${row.tag ?? 'none'}, not ${record.vlan ?? 'none'}`);
    }
    if (!end.up) out.push(`host end ${name} is down`);
    return out;
  },

  preflight: (host, probe) => {
    const ovs = probe.ovs;
    if (ovs?.installed !== true) return { lacks: 'Open vSwitch is not installed (install openvswitch-switch)' };
    if (!ovs.dbRunning) return { lacks: 'Open vSwitch is not running (no ovsdb-server socket)' };
    if (!ovs.switchRunning) return { lacks: 'ovs-vswitchd is not running' };
    const link = probe.link(host.bridge);
    if (link?.isBridge === true) return { missing: `${host.bridge} is a Linux bridge, not an Open vSwitch bridge` };
    if (!ovs.bridges.includes(host.bridge)) {
      // Another link of that name (a veth, a NIC): ovs-vswitchd could not open the bridge's device.
      if (link !== undefined) return { missing: `${host.bridge} exists and is not an Open vSwitch bridge` };
      if (!host.create) return { missing: `Open vSwitch bridge ${host.bridge} does not exist` };
    }
    return undefined;
  },

  planAdd(input: DriverInput<'ovs'>) {
    const { host, facts, spec } = input;
    const ovs = checkOvsUsable(facts.ovs, host.bridge);
    const exists = ovs.bridges.includes(host.bridge);
    if (!exists && !host.create) throw new NotFoundError(`Open vSwitch bridge ${host.bridge} does not exist (and is not to be made): create it first`);
    const created = exists ? { steps: [], warnings: [] } : createOvsBridge({ name: host.bridge, ...(spec.mtu !== undefined && { mtu: spec.mtu }) }, ovs);
    const localIf = input.names.hostEnd!;
    // A row of that name (left by a guest that died, or a stale port re-made) goes first, in a
    // transaction of its own: replaced by the new row in the same transaction, ovs-vswitchd
    // (userspace datapath) keeps the old device open as the port and the new one passes nothing.
    const oldRow = facts.ovsPorts?.[localIf];
    const rowGoes = oldRow ? [{ ...planOvsPortRemoval(oldRow.bridge ?? host.bridge, localIf), title: `remove the old Open vSwitch row of ${localIf}` }] : [];
    const steps = planVeth({
      localIf, guestIf: spec.guestIf, mtu: spec.mtu ?? hostLink(facts, host.bridge)?.mtu ?? 1500, facts, record: input.record,
      ...(spec.mac !== undefined && { mac: spec.mac }),
      ...(input.parkedHostEnd !== undefined && { parkedHostEnd: input.parkedHostEnd }),
    });
    return {
      steps: [...created.steps, ...rowGoes, ...steps, upStep(localIf), ...planOvsPort(host.bridge, localIf, host.vlan, ovsIds(input.guest, input.record), host.accessOnly === true)],
      warnings: created.warnings,
      record: { localIf },
    };
  },

  rerecord: rerecordHostEnd,

  planDel(record: AttachRecord, guestIf: string, opts) {
    return [
      removeGuestLinkStep(guestIf, record),
      // (A parked host end's row went when it was parked.)
      ...(record.localIf !== undefined && opts?.parked !== true ? [planOvsPortRemoval(record.hostIf, record.localIf)] : []),
    ];
  },

  // A parked host end's row goes at once, in a transaction of its own: replaced by the new port's
  // row in one transaction under the same name, ovs-vswitchd (userspace datapath) keeps the parked
  // device open as that port and the new interface gets no traffic. The park's undo puts it back.
  parkHostEnd(existing, guest, facts) {
    const old = existing.localIf!;
    return {
      takeOff: [{ ...planOvsPortRemoval(existing.hostIf, old), title: `take parked ${old}'s row off Open vSwitch bridge ${existing.hostIf}` }],
      putBack: [{ kind: 'exec', place: 'host', argv: ovsPortArgv(existing.hostIf, old, existing.vlan, ovsIds(guest, existing)) }],
      facts: facts.ovsPorts !== undefined ? { ...facts, ovsPorts: { ...facts.ovsPorts, [old]: null } } : facts,
    };
  },

  check(input: DriverInput<'ovs'>): Drift[] {
    const { host, facts } = input;
    const localIf = input.names.hostEnd!;
    const drifts: Drift[] = [];
    if (facts.ovs !== undefined && !facts.ovs.bridges.includes(host.bridge)) {
      if (!host.create) return [{ what: `Open vSwitch bridge ${host.bridge} is gone`, repair: [] }];
      const network = checkOvsBridge({ name: host.bridge, ...(input.spec.mtu !== undefined && { mtu: input.spec.mtu }) }, facts.ovs, hostLink(facts, host.bridge));
      drifts.push(...(network.problem !== undefined ? [{ what: network.problem, repair: [] }] : network.drifts));
    }
    const row = facts.ovsPorts?.[localIf];
    if (row !== undefined) {
      const problem = row === null ? `${localIf} is not a port of ${host.bridge}`
        : row.bridge !== host.bridge ? `${localIf} is a port of ${row.bridge ?? 'no bridge'}, not ${host.bridge}`
          : row.tag !== host.vlan ? `port ${localIf} has tag ${row.tag ?? 'none'}, not ${host.vlan ?? 'none'}`
            : undefined;
      if (problem !== undefined) drifts.push({ what: problem, repair: planOvsPort(host.bridge, localIf, host.vlan, ovsIds(input.guest, input.record), host.accessOnly === true) });
    }
    drifts.push(...hostEndDrift(facts, localIf));
    return drifts;
  },

  // Ports are added beside others', and a missing bridge is made with --may-exist: shared.
  locks: ({ host }) => ({ uses: [lockKey.ovs(host.bridge)], changes: [] }),
  locksOf: (record) => ({ uses: [lockKey.ovs(record.hostIf)], changes: [] }),
  // A host end held alive with its guest's namespace goes with its row; a row whose device went
  // with its guest goes alone.
  leftovers: (view, of) => [
    ...hostEnds(view, 'ovs', of).map(({ link, record }) => ({
      what: `host end ${link.name} of ${record.guestIf} in ${record.guest}`, name: link.name, owner: ownerText(record), record, live: true,
      steps: [planOvsPortRemoval(record.hostIf, link.name), removeHostEndStep(link.name, record)],
      locks: { uses: [lockKey.ovs(record.hostIf)], changes: [lockKey.hostEnd(link.name)] },
    })),
    ...deadRows(view, of),
  ],
};

/** The owner an Open vSwitch row names (written quoted), if any. */
function rowOwner(ids: Record<string, string>): string | undefined {
  return ids['pipework.owner']?.replace(/^"|"$/gu, '');
}

/**
 * Rows pipework wrote whose device is gone (it went with its guest): all, or (`of`) the one of
 * that attachment's host end — a row of that name with no owner (the command line's) counts too.
 */
function deadRows(view: LeftoverView, of?: AttachRecord): Leftover[] {
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
      record: rowRecord(p),
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

/**
 * A dead row as a record (it has the classic external-ids, not ours): the guest as those ids name
 * it, the tag as its VLAN.
 */
export function rowRecord(p: StaleOvsPort): AttachRecord {
  const ids = p.ids;
  const guest = ids['pipework.guest']?.replace(/^"|"$/gu, '') ?? ids['pipework.containername']?.replace(/^\//u, '') ?? ids['pipework.containerid']
    ?? (ids['pipework.nspid'] !== undefined ? `pid:${ids['pipework.nspid']}` : '?');
  const owner = rowOwner(ids);
  return {
    role: 'host', guest, nsInode: 0, guestIf: '?', hostIf: p.bridge, hostKind: 'ovs', localIf: p.port,
    ...(ids['pipework.vlan'] !== undefined && { vlan: Number(ids['pipework.vlan']) }),
    ...(owner !== undefined && { owner }),
  };
}
