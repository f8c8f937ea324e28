/**
 * An Open vSwitch bridge as a network: the one a topology network, a CNI network (`ovs`) or the
 * classic line's `ovs*` host interface makes when it is missing.
 */
import type { Step } from '../../model/plan.js';
import type { HostLink } from '../../host/links.js';
import { OVS_TIMEOUT, type OvsFacts } from '../../host/ovs-facts.js';
import { UnsupportedError } from '../../model/errors.js';
import { OVS_MARK_KEY } from './mark.js';
import type { NetworkCheck, NetworkRemoval } from './network.js';

/** ovs-vsctl can exit 0 and still have failed to make the device. */
export const OVS_SETUP_ERROR = 'Error detected while setting up';

export interface OvsBridgeWant {
  name: string;
  /** Its internal interface's MTU (mtu_request). */
  mtu?: number;
  /** The topology whose mark it carries. */
  owner?: string;
}

/** Open vSwitch installed and running, or why not (an UnsupportedError naming the bridge). */
export function checkOvsUsable(ovs: OvsFacts | undefined, bridge: string): OvsFacts {
  if (!ovs?.installed) throw new UnsupportedError(`Open vSwitch is not installed: cannot set up ${bridge} (install openvswitch-switch)`);
  if (!ovs.dbRunning) throw new UnsupportedError(`Open vSwitch is not running (no ovsdb-server socket): start it to use ${bridge}`);
  if (!ovs.switchRunning) throw new UnsupportedError(`ovs-vswitchd is not running: start it to use ${bridge}`);
  return ovs;
}

/**
 * Make the bridge in one transaction with its datapath, mark and MTU (it never exists without
 * them); `--may-exist`: another run making it at the same moment is no failure. Undone only
 * while no port is left on it.
 */
export function createOvsBridge(want: OvsBridgeWant, ovs: OvsFacts): { steps: Step[]; warnings: string[] } {
  const { name } = want;
  const warnings: string[] = [];
  const more: string[] = [];
  if (!ovs.kernelDatapath) {
    // Without the kernel module, add-br "succeeds" but makes no device; the userspace
    // datapath works everywhere ovs-vswitchd runs.
    more.push('--', 'set', 'bridge', name, 'datapath_type=netdev');
    warnings.push(`Note: this kernel has no Open vSwitch datapath; ${name} uses the userspace (netdev) datapath`);
  }
  if (want.owner !== undefined) more.push('--', 'set', 'bridge', name, `external-ids:${OVS_MARK_KEY}=${want.owner}`);
  if (want.mtu !== undefined) more.push('--', 'set', 'interface', name, `mtu_request=${want.mtu}`);
  const what = [want.owner !== undefined ? `marked as made by topology ${want.owner}` : '', want.mtu !== undefined ? `MTU ${want.mtu}` : ''].filter((w) => w !== '').join(', ');
  return {
    warnings,
    steps: [{
      title: `create Open vSwitch bridge ${name}${what !== '' ? `, ${what}` : ''}`,
      action: { kind: 'exec', place: 'host', argv: ['ovs-vsctl', OVS_TIMEOUT, '--may-exist', 'add-br', name, ...more], failOnStderr: OVS_SETUP_ERROR },
      undo: [{ kind: 'exec', place: 'host', argv: ['ovs-vsctl', OVS_TIMEOUT, '--if-exists', 'del-br', name], onlyIfOvsBridgeEmpty: name }],
    }],
  };
}

/**
 * The bridge, live, against what is wanted: Open vSwitch usable, the name not taken by a Linux
 * bridge or another link, and the bridge there (else it is made).
 */
export function checkOvsBridge(want: OvsBridgeWant, ovs: OvsFacts | undefined, link: HostLink | undefined): NetworkCheck {
  if (ovs?.bridges.includes(want.name) === true) return { drifts: [] };
  if (link?.isBridge === true) return { problem: `${want.name} is a Linux bridge, not an Open vSwitch bridge`, drifts: [] };
  if (link) return { problem: `${want.name} exists and is not an Open vSwitch bridge`, drifts: [] };
  try {
    const usable = checkOvsUsable(ovs, want.name);
    const made = createOvsBridge(want, usable);
    return { drifts: [{ what: `Open vSwitch bridge ${want.name} is missing`, repair: made.steps }], warnings: made.warnings };
  } catch (err) {
    if (!(err instanceof UnsupportedError)) throw err;
    return { problem: err.message, drifts: [] };
  }
}

/** An Open vSwitch bridge as it is live, for its removal. */
export interface LiveOvsBridge {
  name: string;
  /** Its `pipework.topology` external-id. */
  mark?: string;
  /** Its ports; undefined: they could not be read. */
  ports?: string[];
}

/**
 * Remove an Open vSwitch bridge `owner` made (its mark says so): only when no port but those this
 * run removes itself (`going`) is on it. The removal is checked again when it runs.
 */
export function removeOvsBridge(live: LiveOvsBridge | undefined, owner: string, going: readonly string[] = []): NetworkRemoval {
  if (!live) return { outcome: 'gone' };
  const { name } = live;
  if (live.mark !== owner) return { outcome: 'keep', why: `not made by topology ${owner}` };
  if (live.ports === undefined) return { outcome: 'keep', why: 'its ports could not be read' };
  const foreign = live.ports.filter((p) => !going.includes(p));
  if (foreign.length > 0) return { outcome: 'keep', why: `ports ${foreign.join(', ')} are not this topology's` };
  return {
    outcome: 'remove',
    steps: [{
      title: `remove Open vSwitch bridge ${name}`,
      action: { kind: 'exec', place: 'host', argv: ['ovs-vsctl', OVS_TIMEOUT, '--if-exists', 'del-br', name], onlyIfOvsBridgeEmpty: name },
      undo: [],
      irreversible: true,
    }],
  };
}
