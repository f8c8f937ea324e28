/**
 * Linux bridge host side: the bridge (created for a missing br* name), the veth's host end
 * as a port, and — beyond the classic tool — a VLAN with bridge VLAN filtering.
 */
import { UnsupportedError } from '../model/errors.js';
import type { Step } from '../plan/types.js';
import type { HostFacts } from './facts.js';
import { upStep } from './veth.js';

/** The classic tool's refusal, kept where the kernel has no bridge VLAN filtering. */
export const BRIDGE_VLAN_UNSUPPORTED = 'VLAN configuration currently unsupported for Linux bridge';

export function planBridgeCreate(bridge: string, vlan: number | undefined): Step[] {
  return [
    {
      title: `create bridge ${bridge}${vlan !== undefined ? ' with VLAN filtering' : ''}`,
      action: { kind: 'ip', place: 'host', args: ['link', 'add', 'name', bridge, 'type', 'bridge', ...(vlan !== undefined ? ['vlan_filtering', '1'] : [])] },
      undo: [{ kind: 'ip', place: 'host', args: ['link', 'del', 'dev', bridge], onlyIfBridgeEmpty: bridge }],
      raceOk: { bridgeExists: bridge },
      ...(vlan !== undefined && { needs: `bridge VLAN filtering (${BRIDGE_VLAN_UNSUPPORTED})` }),
    },
    { title: `bring bridge ${bridge} up`, action: { kind: 'ip', place: 'host', args: ['link', 'set', 'dev', bridge, 'up'] }, undo: [] },
  ];
}

/** Steps after the veth exists: join the bridge (with its VLAN), come up. */
export function planBridgePort(bridge: string, localIf: string, vlan: number | undefined, created: boolean, host: HostFacts): Step[] {
  const steps: Step[] = [];
  if (vlan !== undefined && !created) {
    const filtering = host.bridgeVlanFiltering?.(bridge) ?? 'unsupported';
    if (filtering === 'unsupported') throw new UnsupportedError(`${BRIDGE_VLAN_UNSUPPORTED} (this kernel has no bridge VLAN filtering)`);
    if (filtering === 'off') {
      // Other ports keep working: with filtering on they are untagged members of VLAN 1.
      steps.push({
        title: `turn on VLAN filtering on bridge ${bridge}`,
        action: { kind: 'ip', place: 'host', args: ['link', 'set', 'dev', bridge, 'type', 'bridge', 'vlan_filtering', '1'] },
        undo: [{ kind: 'ip', place: 'host', args: ['link', 'set', 'dev', bridge, 'type', 'bridge', 'vlan_filtering', '0'] }],
      });
    }
  }
  steps.push({
    title: `attach ${localIf} to bridge ${bridge}`,
    action: { kind: 'ip', place: 'host', args: ['link', 'set', 'dev', localIf, 'master', bridge] },
    undo: [],
  });
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
