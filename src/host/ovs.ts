/**
 * Open vSwitch host side: the bridge (created for a missing ovs* name), and the veth's host
 * end as a port with the classic external-ids and, for a VLAN, its tag.
 */
import { UnsupportedError } from '../model/errors.js';
import type { Step } from '../plan/types.js';
import type { OvsFacts } from './ovs-facts.js';
import { OVS_TIMEOUT } from './ovs-facts.js';

/** ovs-vsctl can exit 0 and still have failed to make the device. */
export const OVS_SETUP_ERROR = 'Error detected while setting up';

export function checkOvsUsable(ovs: OvsFacts | undefined, bridge: string): OvsFacts {
  if (!ovs?.installed) throw new UnsupportedError(`Open vSwitch is not installed: cannot set up ${bridge} (install openvswitch-switch)`);
  if (!ovs.dbRunning) throw new UnsupportedError(`Open vSwitch is not running (no ovsdb-server socket): start it to use ${bridge}`);
  if (!ovs.switchRunning) throw new UnsupportedError(`ovs-vswitchd is not running: start it to use ${bridge}`);
  return ovs;
}

export function planOvsBridgeCreate(bridge: string, ovs: OvsFacts): { steps: Step[]; warnings: string[] } {
  const warnings: string[] = [];
  const datapath: string[] = [];
  if (!ovs.kernelDatapath) {
    // Without the kernel module, add-br "succeeds" but makes no device; the userspace
    // datapath works everywhere ovs-vswitchd runs.
    datapath.push('--', 'set', 'bridge', bridge, 'datapath_type=netdev');
    warnings.push(`Note: this kernel has no Open vSwitch datapath; ${bridge} uses the userspace (netdev) datapath`);
  }
  return {
    warnings,
    steps: [{
      title: `create Open vSwitch bridge ${bridge}`,
      action: {
        kind: 'exec', place: 'host',
        argv: ['ovs-vsctl', OVS_TIMEOUT, '--may-exist', 'add-br', bridge, ...datapath],
        failOnStderr: OVS_SETUP_ERROR,
      },
      undo: [{ kind: 'exec', place: 'host', argv: ['ovs-vsctl', OVS_TIMEOUT, '--if-exists', 'del-br', bridge], onlyIfOvsBridgeEmpty: bridge }],
    }],
  };
}

/** The classic external-ids, each only when known. */
export interface OvsPortIds {
  containerId?: string;
  containerName?: string;
  nsPid?: number;
  /** pipework.guest, only for guests the classic keys cannot name. */
  guest?: string;
}

export function planOvsPort(bridge: string, localIf: string, vlan: number | undefined, ids: OvsPortIds): Step[] {
  const externalIds = [
    `external-ids:pipework.interface=${localIf}`,
    `external-ids:pipework.bridge=${bridge}`,
    ...(ids.containerId !== undefined ? [`external-ids:pipework.containerid=${ids.containerId}`] : []),
    ...(ids.containerName !== undefined ? [`external-ids:pipework.containername=${ids.containerName}`] : []),
    ...(ids.nsPid !== undefined ? [`external-ids:pipework.nspid=${ids.nsPid}`] : []),
    ...(vlan !== undefined ? [`external-ids:pipework.vlan=${vlan}`] : []),
    ...(ids.guest !== undefined ? [`external-ids:pipework.guest=${JSON.stringify(ids.guest)}`] : []),
  ];
  return [
    {
      title: `add ${localIf} to Open vSwitch bridge ${bridge}${vlan !== undefined ? ` with tag ${vlan}` : ''}`,
      action: {
        kind: 'exec', place: 'host',
        argv: [
          'ovs-vsctl', OVS_TIMEOUT, '--may-exist', 'add-port', bridge, localIf,
          ...(vlan !== undefined ? [`tag=${vlan}`] : []),
          '--', 'set', 'Interface', localIf, ...externalIds,
        ],
        failOnStderr: OVS_SETUP_ERROR,
      },
      undo: [{ kind: 'exec', place: 'host', argv: ['ovs-vsctl', OVS_TIMEOUT, '--if-exists', 'del-port', bridge, localIf] }],
    },
  ];
}
