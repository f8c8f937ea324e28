/**
 * Linux bridge: the bridge (created when missing and the spec allows it), a veth pair whose host
 * end is a port, and — beyond the classic tool — a VLAN with bridge VLAN filtering.
 */
import { ConflictError, NotFoundError, UnsupportedError } from '../model/errors.js';
import type { AttachRecord } from '../model/record.js';
import { hostLink, type Facts } from './facts.js';
import type { Step } from '../model/plan.js';
import { changes, lockKey, type Drift, type Driver, type DriverInput, type HostSidePlan } from './driver.js';
import { hostEndDrift, planVeth, removeGuestLinkStep, rerecordHostEnd, upStep } from './veth.js';
import { confirmVeth } from './confirm.js';
import { hostEnds, removeHostEndStep } from './leftovers.js';
import { ownerText } from '../model/record.js';
import { vethHostName } from './names.js';
import { BRIDGE_VLAN_UNSUPPORTED, checkBridge, createBridge } from './network/bridge.js';

export { BRIDGE_VLAN_UNSUPPORTED };

function joinStep(bridge: string, localIf: string, created: boolean): Step {
  return {
    title: `attach ${localIf} to bridge ${bridge}`,
    action: { kind: 'ip', place: 'host', args: ['link', 'set', 'dev', localIf, 'master', bridge] },
    undo: [],
    // A bridge found at planning time may be gone by now (another run's undo removed it).
    ...(!created && { requires: [bridge] }),
  };
}

/**
 * Steps after the veth exists: join the bridge (with its VLAN), come up. `keepSettings`: the
 * bridge's own settings are not pipework's to change (the spec came from a container's label),
 * so a bridge without VLAN filtering cannot serve a VLAN.
 */
export function planBridgePort(bridge: string, localIf: string, vlan: number | undefined, created: boolean, facts: Facts, keepSettings = false): Step[] {
  const steps: Step[] = [];
  if (vlan !== undefined && !created) {
    const filtering = hostLink(facts, bridge)?.vlanFiltering ?? 'unsupported';
    if (filtering === 'unsupported') throw new UnsupportedError(`${BRIDGE_VLAN_UNSUPPORTED} (this kernel has no bridge VLAN filtering)`);
    if (filtering === 'off' && keepSettings) {
      throw new ConflictError(`bridge ${bridge} has VLAN filtering off, and a container's label does not change an operator's bridge: `
        + `turn it on (ip link set dev ${bridge} type bridge vlan_filtering 1) to serve VLAN ${vlan}`);
    }
    if (filtering === 'off') {
      // Other ports keep working: with filtering on they are untagged members of VLAN 1.
      steps.push({
        title: `turn on VLAN filtering on bridge ${bridge}`,
        action: { kind: 'ip', place: 'host', args: ['link', 'set', 'dev', bridge, 'type', 'bridge', 'vlan_filtering', '1'] },
        undo: [{ kind: 'ip', place: 'host', args: ['link', 'set', 'dev', bridge, 'type', 'bridge', 'vlan_filtering', '0'] }],
      });
    }
  }
  steps.push(joinStep(bridge, localIf, created));
  if (vlan !== undefined) {
    const v = String(vlan);
    steps.push(
      {
        title: `make ${localIf} an untagged port of VLAN ${v}`,
        action: { kind: 'exec', place: 'host', argv: ['bridge', 'vlan', 'add', 'dev', localIf, 'vid', v, 'pvid', 'untagged'] },
        undo: [],
      },
      {
        title: `take ${localIf} out of the default VLAN 1`,
        action: { kind: 'exec', place: 'host', argv: ['bridge', 'vlan', 'del', 'dev', localIf, 'vid', '1'] },
        undo: [],
      },
    );
  }
  steps.push(upStep(localIf));
  return steps;
}

/** The reference bridge plugin's port and bridge options (hairpinMode, promiscMode). */
function bridgeOptions(bridge: string, localIf: string, hairpin: boolean | undefined, promisc: boolean | undefined): Step[] {
  const steps: Step[] = [];
  if (hairpin === true) {
    steps.push({
      title: `turn on hairpin mode on port ${localIf}`,
      action: { kind: 'ip', place: 'host', args: ['link', 'set', 'dev', localIf, 'type', 'bridge_slave', 'hairpin', 'on'] },
      undo: [],
    });
  }
  if (promisc === true) {
    steps.push({
      title: `make bridge ${bridge} promiscuous`,
      action: { kind: 'ip', place: 'host', args: ['link', 'set', 'dev', bridge, 'promisc', 'on'] },
      undo: [],
    });
  }
  return steps;
}

/** Where the bridge must exist and does not: the spec forbids making it. */
function missingBridge(bridge: string): never {
  throw new NotFoundError(`bridge ${bridge} does not exist (and is not to be made): create it first, or let pipework make it`);
}

export const bridgeDriver: Driver<'bridge'> = {
  kind: 'bridge',
  veth: true,
  hostLinks: (host) => [host.bridge],
  names: (_host, guestIf, guest, hostEnd) => ({ hostEnd: hostEnd ?? vethHostName(guest, guestIf) }),
  confirm: (link, _own, nsInode, host) => confirmVeth('bridge', link, nsInode, host),

  drift(record, live) {
    const out: string[] = [];
    const bridge = live.link(record.hostIf);
    if (bridge?.isBridge !== true) out.push(`bridge ${record.hostIf} is gone`);
    else if (!bridge.up) out.push(`bridge ${record.hostIf} is down`);
    const end = record.localIf !== undefined ? live.link(record.localIf) : undefined;
    if (end === undefined) return out;
    if (end.master !== record.hostIf) out.push(`${end.name} is not a port of ${record.hostIf}`);
    if (!end.up) out.push(`host end ${end.name} is down`);
    return out;
  },

  preflight: (host, probe) => {
    const link = probe.link(host.bridge);
    if (link !== undefined && !link.isBridge) return { missing: `${host.bridge} exists but is not a Linux bridge` };
    if (link === undefined && !host.create) return { missing: `bridge ${host.bridge} does not exist` };
    return undefined;
  },

  planAdd(input: DriverInput<'bridge'>): HostSidePlan {
    const { host, facts, spec } = input;
    const link = hostLink(facts, host.bridge);
    if (link && !link.isBridge) throw new NotFoundError(`${host.bridge} exists but is not a Linux bridge`);
    if (!link && !host.create) missingBridge(host.bridge);
    const localIf = input.names.hostEnd!;
    const create = !link;
    const steps: Step[] = [
      ...(create ? createBridge({ name: host.bridge, vlanFiltering: host.vlan !== undefined, ...(spec.mtu !== undefined && { mtu: spec.mtu }) }) : []),
      ...planVeth({
        localIf, guestIf: spec.guestIf, mtu: spec.mtu ?? link?.mtu ?? 1500, facts, record: input.record,
        ...(spec.mac !== undefined && { mac: spec.mac }),
        ...(input.parkedHostEnd !== undefined && { parkedHostEnd: input.parkedHostEnd }),
      }),
      ...planBridgePort(host.bridge, localIf, host.vlan, create, facts, host.keepSettings === true),
      ...bridgeOptions(host.bridge, localIf, host.hairpin, host.promisc),
    ];
    return { steps, warnings: [], record: { localIf } };
  },

  rerecord: rerecordHostEnd,

  planDel(record: AttachRecord, guestIf: string): Step[] {
    return [removeGuestLinkStep(guestIf, record)];
  },

  check(input: DriverInput<'bridge'>): Drift[] {
    const { host, facts } = input;
    const localIf = input.names.hostEnd!;
    const bridge = hostLink(facts, host.bridge);
    if ((!bridge || !bridge.isBridge) && !host.create) return [{ what: `bridge ${host.bridge} is gone`, repair: [] }];
    const network = checkBridge({ name: host.bridge, vlanFiltering: host.vlan !== undefined, ...(input.spec.mtu !== undefined && { mtu: input.spec.mtu }) }, bridge);
    const drifts: Drift[] = network.problem !== undefined ? [{ what: network.problem, repair: [] }] : [...network.drifts];
    const end = hostLink(facts, localIf);
    if (end && end.master !== host.bridge) {
      drifts.push({
        what: end.master === undefined ? `${localIf} is not a port of ${host.bridge}` : `${localIf} is a port of ${end.master}, not ${host.bridge}`,
        repair: [joinStep(host.bridge, localIf, !bridge)],
      });
    }
    drifts.push(...hostEndDrift(facts, localIf));
    return drifts;
  },

  // A port joins beside other runs' ports, and making a missing bridge may race another run's
  // making it (the loser uses the winner's): both shared. Turning its VLAN filtering on is done
  // alone, as is undoing a bridge made (the executor takes undo's keys alone).
  locks({ host }) {
    const key = lockKey.bridge(host.bridge);
    return host.vlan === undefined ? { uses: [key], changes: [] } : changes(key);
  },
  locksOf: (record) => ({ uses: [lockKey.bridge(record.hostIf)], changes: [] }),
  // A host end outlives its guest end only while the guest's namespace does (held elsewhere).
  leftovers: (view, of) => hostEnds(view, 'bridge', of).map(({ link, record }) => ({
    what: `host end ${link.name} of ${record.guestIf} in ${record.guest}`, name: link.name, owner: ownerText(record), record, live: true,
    steps: [removeHostEndStep(link.name, record)],
    locks: { uses: [lockKey.bridge(record.hostIf)], changes: [lockKey.hostEnd(link.name)] },
  })),
};
