/**
 * What a topology makes besides its links — named netns, Linux bridges, Open vSwitch bridges,
 * VXLAN devices (their drivers: src/drivers/network/, reached through src/engine/networks.ts) —
 * as one plan of steps with undo (src/model/plan.ts), each step marking what it makes (live.ts),
 * and the host checks that refuse a file before anything changes (an external network that is
 * not there, a name taken by another kind of link).
 */
import { checkBridge, checkOvsUsable, createOvsBridge, markBridge, planVxlan, type LiveVxlan } from '../../engine/networks.js';
import { lockKey, type HostLocks, type Step } from '../../model/plan.js';
import { HostLinkCache, type HostLink } from '../../host/links.js';
import type { OvsFacts } from '../../host/ovs-facts.js';
import { PipeworkError } from '../../model/errors.js';
import type { Problem } from './problems.js';
import { markText, type Live } from './live.js';
import type { Network, Topology } from './model.js';

export interface MakePlan {
  steps: Step[];
  netns: string[];
  bridges: string[];
  ovsBridges: string[];
  /** VXLAN devices made. */
  vxlans: string[];
  /** What the VXLAN steps change, in words (a peer added, a device made). */
  changes: string[];
  warnings: string[];
}

/** Does this network's device exist as what the network says it is? */
export function networkPresent(n: Network, link: (name: string) => HostLink | undefined, ovs: OvsFacts | undefined): boolean {
  if (n.kind === 'bridge') return link(n.device)?.isBridge === true;
  if (n.kind === 'ovs') return ovs?.bridges.includes(n.device) === true;
  return link(n.device) !== undefined;
}

/** Problems the host has with the file (reported like the file's own, before any change). */
export function hostProblems(topology: Topology, link: (name: string) => HostLink | undefined, ovs: OvsFacts | undefined, vxlans?: Map<string, LiveVxlan>): Problem[] {
  const out: Problem[] = [];
  const add = (n: Network, message: string) => out.push({ line: n.at.line, col: n.at.col, path: `networks.${n.key}.${n.kind}`, message });
  const used = new Set(topology.links.map((l) => l.network));
  for (const n of topology.networks.values()) {
    const have = link(n.device);
    const isOvs = ovs?.bridges.includes(n.device) === true;
    if (n.kind === 'bridge') {
      if (have && !have.isBridge) add(n, `${n.device} exists and is ${isOvs ? 'an Open vSwitch bridge (write ovs:)' : 'not a Linux bridge'}`);
      else if (!have && n.external) add(n, `bridge ${n.device} does not exist, and the network is external: true (never made): create it first`);
    } else if (n.kind === 'ovs') {
      if (have?.isBridge === true) add(n, `${n.device} is a Linux bridge (write bridge:)`);
      else if (!isOvs && have) add(n, `${n.device} exists and is not an Open vSwitch bridge`);
      else if (!isOvs && n.external) add(n, `Open vSwitch bridge ${n.device} does not exist, and the network is external: true (never made): create it first`);
      else if (!isOvs && used.has(n.key)) {
        try {
          checkOvsUsable(ovs, n.device);
        } catch (err) {
          if (!(err instanceof PipeworkError)) throw err;
          add(n, err.message);
        }
      }
    } else if (!have) {
      add(n, `NIC ${n.device} does not exist on this host (macvlan children need their parent)`);
    }
  }
  const mark = markText(topology.name);
  for (const d of topology.part?.vxlans ?? []) {
    const have = link(d.name);
    const n = topology.networks.get(d.network)!;
    const at = { line: n.vxlan!.at.line, col: n.vxlan!.at.col, path: `networks.${n.key}.vxlan.vni` };
    if (have && vxlans?.get(d.name)?.alias !== mark) out.push({ ...at, message: `${d.name} (the device of VNI ${d.vni}) exists and is not this topology part's: another file or someone else uses VNI ${d.vni} here` });
  }
  return out;
}

function markNetns(netns: string, mark: string, topology: string): Step {
  return {
    title: `bring lo up in ${netns} and mark it as made by topology ${topology}`,
    action: { kind: 'ip', place: 'host', args: ['netns', 'exec', netns, 'ip', 'link', 'set', 'dev', 'lo', 'up', 'alias', mark] },
    undo: [],
  };
}

/** The plan that makes what is missing: netns, bridges and OVS bridges, each marked as this topology's. */
export function planMake(
  topology: Topology, live: Live, link: (name: string) => HostLink | undefined, netnsExists: (name: string) => boolean, vxlans: Map<string, LiveVxlan> = new Map(),
): MakePlan {
  const plan: MakePlan = { steps: [], netns: [], bridges: [], ovsBridges: [], vxlans: [], changes: [], warnings: [] };
  const mark = markText(topology.name);
  for (const g of topology.guests.values()) {
    if (g.kind !== 'netns') continue;
    // One a run given up half-way left: made but not marked (finish it), or not even mounted
    // (the empty file goes first, or `ip netns add` would refuse the name).
    const unfinished = live.unfinished.get(g.netns);
    if (unfinished === 'pristine') {
      plan.steps.push(markNetns(g.netns, mark, topology.name));
      continue;
    }
    if (unfinished === undefined && netnsExists(g.netns)) continue;
    plan.netns.push(g.netns);
    if (unfinished === 'unmounted') {
      plan.steps.push({ title: `remove the unmounted file ${g.netns} a run given up left`, action: { kind: 'ip', place: 'host', args: ['netns', 'del', g.netns] }, undo: [], irreversible: true });
    }
    plan.steps.push(
      {
        title: `create network namespace ${g.netns}`,
        action: { kind: 'ip', place: 'host', args: ['netns', 'add', g.netns] },
        undo: [{ kind: 'ip', place: 'host', args: ['netns', 'del', g.netns] }],
      },
      markNetns(g.netns, mark, topology.name),
    );
  }
  const seen = new Set<string>();
  for (const n of topology.networks.values()) {
    if (n.external || seen.has(n.device)) continue;
    seen.add(n.device);
    const mtu = n.mtu !== undefined ? { mtu: n.mtu } : {};
    if (n.kind === 'bridge') {
      // Missing: made, marked; another topology's: this one's too from now on (it goes with the
      // last of them); down: brought up. (A name taken by another kind is one of hostProblems.)
      const check = checkBridge({ name: n.device, owner: topology.name, ...mtu }, link(n.device));
      if (check.problem !== undefined) continue;
      if (!link(n.device)) plan.bridges.push(n.device);
      // One a run given up made and never marked: finished.
      if (live.unmarkedBridges?.has(n.device) === true) plan.steps.push(markBridge(n.device, topology.name));
      plan.steps.push(...check.drifts.flatMap((d) => d.repair));
    } else if (n.kind === 'ovs' && live.ovs?.bridges.includes(n.device) !== true) {
      plan.ovsBridges.push(n.device);
      const created = createOvsBridge({ name: n.device, owner: topology.name, ...mtu }, checkOvsUsable(live.ovs, n.device));
      plan.warnings.push(...created.warnings);
      plan.steps.push(...created.steps);
    }
  }
  // VXLAN devices after the bridges they are ports of.
  for (const d of topology.part?.vxlans ?? []) {
    const have = vxlans.get(d.name);
    const vx = planVxlan(d, have, mark);
    if (!have) plan.vxlans.push(d.name);
    plan.steps.push(...vx.steps);
    plan.changes.push(...vx.changes);
  }
  return plan;
}

/** What a plan of these makes or removes, as lock keys it takes alone (src/engine/lock.ts). */
export function topologyLocks(what: { netns?: readonly string[]; bridges?: readonly string[]; ovsBridges?: readonly string[]; vxlans?: readonly string[] }): HostLocks {
  return {
    uses: [],
    changes: [
      ...(what.netns ?? []).map(lockKey.netns), ...(what.bridges ?? []).map(lockKey.bridge),
      ...(what.ovsBridges ?? []).map(lockKey.ovs), ...(what.vxlans ?? []).map(lockKey.vxlan),
    ],
  };
}

/** A host-link view in which the bridges apply would make already exist (so links plan as they will once it has). */
export class PlannedHostLinks extends HostLinkCache {
  constructor(private readonly planned: Map<string, HostLink>) {
    super();
  }
  override link(name: string): HostLink | undefined {
    return this.planned.get(name) ?? super.link(name);
  }
}

/** The bridges a make plan makes, as they will be: empty, up, with their network's MTU. */
export function plannedBridges(topology: Topology, bridges: readonly string[]): Map<string, HostLink> {
  const planned = new Map<string, HostLink>();
  for (const b of bridges) {
    const mtu = [...topology.networks.values()].find((n) => n.device === b)?.mtu ?? 1500;
    planned.set(b, { name: b, isBridge: true, type: 1, mtu, up: true, mac: '00:00:00:00:00:00', ports: [], vlanFiltering: 'off' });
  }
  return planned;
}
