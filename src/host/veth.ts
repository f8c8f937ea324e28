/**
 * A veth pair for a bridge (Linux or OVS): the peer is created directly inside the guest with
 * its final name, MTU and MAC (no rename, no move), and both ends carry pipework's record.
 */
import { NS_PATH_IN_CHILD } from '../exec/runner.js';
import { ConflictError } from '../model/errors.js';
import type { Step } from '../plan/types.js';
import type { HostFacts } from './facts.js';

export interface VethInput {
  localIf: string;
  guestIf: string;
  mtu: number;
  mac?: string;
  host: HostFacts;
  /** The record (model/record.ts) to put in the host end's alias. */
  hostAlias: string;
  /** The host end of a pipework interface this plan removes first (--replace). */
  replacingLocalIf?: string;
}

export function planVeth(input: VethInput): Step[] {
  const { localIf, guestIf, mtu } = input;
  const steps: Step[] = [];
  const existing = input.replacingLocalIf === localIf ? undefined : input.host.link(localIf);
  if (existing) {
    // The classic rule: a link that is up is in use; one that is down is stale and is re-made.
    if (existing.up) throw new ConflictError(`Link ${localIf} exists and is up`);
    const kind = input.host.details?.get(localIf)?.kind;
    if (kind !== 'veth') {
      throw new ConflictError(`link ${localIf} exists and is not a veth (${kind ?? 'unknown kind'}); refusing to replace it — choose another name with -l`);
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
  return steps;
}

export function upStep(name: string): Step {
  return { title: `bring ${name} up`, action: { kind: 'ip', place: 'host', args: ['link', 'set', 'dev', name, 'up'] }, undo: [] };
}
