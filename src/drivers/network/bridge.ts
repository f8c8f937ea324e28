/**
 * A Linux bridge as a network: the one that a topology network, a CNI network (`bridge`, with
 * isGateway or not) or the classic line's `br*` host interface makes when it is missing.
 */
import type { Step } from '../../model/plan.js';
import type { HostLink } from '../../host/links.js';
import { ConflictError } from '../../model/errors.js';
import type { Drift } from '../driver.js';
import { MAX_ALIAS_BYTES, markedBy, markOf, markText } from './mark.js';
import type { NetworkCheck, NetworkRemoval } from './network.js';

/** The classic tool's refusal, kept where the kernel has no bridge VLAN filtering. */
export const BRIDGE_VLAN_UNSUPPORTED = 'VLAN configuration currently unsupported for Linux bridge';

export interface BridgeWant {
  name: string;
  /** Its MTU, set (so it holds as ports come and go); undefined: it follows its ports. */
  mtu?: number;
  /** Made with VLAN filtering on (it serves a VLAN). */
  vlanFiltering?: boolean;
  /** The topology whose mark it carries (made by it, or shared with it). */
  owner?: string;
}

function up(name: string, mtu?: number): Step {
  // An MTU set on a bridge holds as ports come and go; one it was only made with follows them
  // (and is 1500 again once the last port has left).
  const set = mtu !== undefined ? ['mtu', String(mtu)] : [];
  return { title: `bring bridge ${name} up${mtu !== undefined ? ` with MTU ${mtu}` : ''}`, action: { kind: 'ip', place: 'host', args: ['link', 'set', 'dev', name, ...set, 'up'] }, undo: [] };
}

/**
 * Make the bridge, mark it, bring it up with its MTU. Another run may make it at the same moment:
 * then this one uses it and never removes it (raceOk). Undone only while no port is left in it.
 */
export function createBridge(want: BridgeWant): Step[] {
  const { name } = want;
  const vlan = want.vlanFiltering === true;
  const steps: Step[] = [{
    title: `create bridge ${name}${vlan ? ' with VLAN filtering' : ''}`,
    action: { kind: 'ip', place: 'host', args: ['link', 'add', 'name', name, 'type', 'bridge', ...(vlan ? ['vlan_filtering', '1'] : [])] },
    undo: [{ kind: 'ip', place: 'host', args: ['link', 'del', 'dev', name], onlyIfBridgeEmpty: name }],
    raceOk: { bridgeExists: name },
    needs: vlan ? `bridge VLAN filtering (${BRIDGE_VLAN_UNSUPPORTED})` : 'Linux bridges (CONFIG_BRIDGE)',
  }];
  if (want.owner !== undefined) steps.push(markBridge(name, want.owner));
  steps.push(up(name, want.mtu));
  return steps;
}

/** The owner's mark on a bridge it made (a step of its own: the kernel takes no alias on creation). */
export function markBridge(name: string, owner: string): Step {
  return {
    title: `mark bridge ${name} as made by topology ${owner}`,
    action: { kind: 'ip', place: 'host', args: ['link', 'set', 'dev', name, 'alias', markText(owner)] },
    undo: [],
  };
}

/** Add `owner` to the co-owners a bridge's mark names; undone by putting the mark back as it was. */
function coOwn(name: string, before: string, owners: string[], owner: string): Step {
  const after = markOf([...owners, owner])!;
  if (Buffer.byteLength(after) > MAX_ALIAS_BYTES) {
    throw new ConflictError(`bridge ${name} is shared by too many topologies to name them all on it (${owners.join(',')}); give topology ${owner} a bridge of its own`);
  }
  return {
    title: `mark bridge ${name} as used by topology ${owner} too`,
    action: { kind: 'ip', place: 'host', args: ['link', 'set', 'dev', name, 'alias', after] },
    undo: [{ kind: 'ip', place: 'host', args: ['link', 'set', 'dev', name, 'alias', before] }],
  };
}

/**
 * The bridge, live, against what is wanted: missing (made), down (brought up), and — for an owner —
 * a bridge another topology made that this one now uses too (its mark names both). A bridge
 * nobody marked stays unmarked: it is not pipework's. The MTU is not judged: ports change it.
 */
export function checkBridge(want: BridgeWant, live: HostLink | undefined): NetworkCheck {
  if (!live) return { drifts: [{ what: `bridge ${want.name} is missing`, repair: createBridge(want) }] };
  if (!live.isBridge) return { problem: `${want.name} exists but is not a Linux bridge`, drifts: [] };
  const drifts: Drift[] = [];
  if (!live.up) drifts.push({ what: `bridge ${want.name} is down`, repair: [up(want.name)] });
  const owners = markedBy(live.alias);
  if (want.owner !== undefined && owners.length > 0 && !owners.includes(want.owner)) {
    drifts.push({ what: `bridge ${want.name} is topology ${owners.join(', ')}'s`, repair: [coOwn(want.name, live.alias!, owners, want.owner)] });
  }
  return { drifts };
}

/**
 * Remove a bridge `owner` made or shares: only when it is marked as `owner`'s; when other
 * topologies share it only `owner` leaves its mark; when ports other than those this run removes
 * itself (`going`) are in it, it stays. The removal is checked again when it runs: a bridge that
 * has ports by then is left.
 */
export function removeBridge(name: string, live: HostLink | undefined, owner: string, going: readonly string[] = []): NetworkRemoval {
  if (!live?.isBridge) return { outcome: 'gone' };
  const owners = markedBy(live.alias);
  if (!owners.includes(owner)) return { outcome: 'keep', why: `not made by topology ${owner}` };
  const others = owners.filter((o) => o !== owner);
  if (others.length > 0) {
    return {
      outcome: 'leave', why: `topology ${others.join(', ')} uses it too`,
      steps: [{ title: `leave bridge ${name} to topology ${others.join(', ')}`, action: { kind: 'ip', place: 'host', args: ['link', 'set', 'dev', name, 'alias', markOf(others)!] }, undo: [{ kind: 'ip', place: 'host', args: ['link', 'set', 'dev', name, 'alias', live.alias!] }] }],
    };
  }
  const foreign = live.ports.filter((p) => !going.includes(p));
  if (foreign.length > 0) return { outcome: 'keep', why: `ports ${foreign.join(', ')} are not this topology's` };
  return {
    outcome: 'remove',
    steps: [{
      title: `remove bridge ${name}`,
      action: { kind: 'ip', place: 'host', args: ['link', 'del', 'dev', name], onlyIfBridgeEmpty: name },
      undo: [],
      irreversible: true,
    }],
  };
}
