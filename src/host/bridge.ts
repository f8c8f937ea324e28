/**
 * Linux bridge host side: a veth pair whose host end joins the bridge and whose peer is
 * created directly inside the guest with its final name, MTU and MAC (no rename, no move).
 */
import { NS_PATH_IN_CHILD } from '../exec/runner.js';
import { ConflictError } from '../model/errors.js';
import type { Step } from '../plan/types.js';
import type { HostFacts } from './facts.js';

export interface BridgePlanInput {
  bridge: string;
  /** The bridge does not exist yet and is ours to create (a `br*` name). */
  create: boolean;
  localIf: string;
  guestIf: string;
  mtu: number;
  mac?: string;
  host: HostFacts;
  /** `ip -d` kind of `localIf` when it exists (only a stale veth may be replaced). */
  localKind?: string;
  /** The record (model/record.ts) to put in the host end's alias. */
  hostAlias: string;
  /** The host end of a pipework interface this plan removes first (--replace). */
  replacingLocalIf?: string;
}

export function planBridgeHost(input: BridgePlanInput): Step[] {
  const { bridge, localIf, guestIf, mtu } = input;
  const steps: Step[] = [];
  if (input.create) {
    steps.push({
      title: `create bridge ${bridge}`,
      action: { kind: 'ip', place: 'host', args: ['link', 'add', 'name', bridge, 'type', 'bridge'] },
      undo: [{ kind: 'ip', place: 'host', args: ['link', 'del', 'dev', bridge], onlyIfBridgeEmpty: bridge }],
      raceOk: { bridgeExists: bridge },
    });
    steps.push({
      title: `bring bridge ${bridge} up`,
      action: { kind: 'ip', place: 'host', args: ['link', 'set', 'dev', bridge, 'up'] },
      undo: [],
    });
  }

  const existing = input.replacingLocalIf === localIf ? undefined : input.host.link(localIf);
  if (existing) {
    // The classic rule: a link that is up is in use; one that is down is stale and is re-made.
    if (existing.up) throw new ConflictError(`Link ${localIf} exists and is up`);
    if (input.localKind !== 'veth') {
      throw new ConflictError(`link ${localIf} exists and is not a veth (${input.localKind ?? 'unknown kind'}); refusing to replace it — choose another name with -l`);
    }
    steps.push({
      title: `remove stale link ${localIf} (exists and is down)`,
      action: { kind: 'ip', place: 'host', args: ['link', 'del', 'dev', localIf] },
      undo: [],
    });
  }

  const mtuArgs = ['mtu', String(mtu)];
  steps.push({
    title: `create veth pair ${localIf} (host) and ${guestIf} (guest)`,
    action: {
      kind: 'ip',
      place: 'host',
      args: [
        'link', 'add', 'name', localIf, ...mtuArgs, 'type', 'veth',
        'peer', 'name', guestIf, ...mtuArgs, ...(input.mac ? ['address', input.mac] : []), 'netns', NS_PATH_IN_CHILD,
      ],
    },
    // Deleting one end deletes the pair, with every address and route on the guest end.
    undo: [{ kind: 'ip', place: 'host', args: ['link', 'del', 'dev', localIf] }],
  });
  steps.push({
    title: `record the configuration on ${localIf}`,
    action: { kind: 'ip', place: 'host', args: ['link', 'set', 'dev', localIf, 'alias', input.hostAlias] },
    undo: [],
  });
  steps.push({
    title: `attach ${localIf} to bridge ${bridge}`,
    action: { kind: 'ip', place: 'host', args: ['link', 'set', 'dev', localIf, 'master', bridge] },
    undo: [],
  });
  steps.push({
    title: `bring ${localIf} up`,
    action: { kind: 'ip', place: 'host', args: ['link', 'set', 'dev', localIf, 'up'] },
    undo: [],
  });
  return steps;
}
