/**
 * IPoIB (link type 32): a child of the InfiniBand interface, created directly inside the
 * guest; `@<vlan>` is the partition key. Classic names `<if>.<pid>` / `<if>.<pkey>.<pid>`
 * only ever existed on the host for a moment: ours never appear there.
 */
import { NS_PATH_IN_CHILD } from '../exec/runner.js';
import { InvalidArgumentError } from '../model/errors.js';
import type { Step } from '../plan/types.js';
import { featureText } from './kernel.js';

/** Partition keys are 15 bits (the top bit is the membership type). */
export function pkeyHex(pkey: number): string {
  if (pkey < 1 || pkey > 0x7fff) throw new InvalidArgumentError(`invalid IPoIB partition key ${pkey}: expected 1 to 32767`);
  return `0x${pkey.toString(16)}`;
}

export function planIpoib(parent: string, guestIf: string, pkey: number | undefined, mac: string | undefined): Step[] {
  if (mac !== undefined) throw new InvalidArgumentError('MACADDR configuration unsupported for IPoIB interfaces');
  return [
    {
      title: `create IPoIB child ${guestIf} of ${parent}${pkey !== undefined ? ` (pkey ${pkeyHex(pkey)})` : ''} in the guest`,
      action: {
        kind: 'ip', place: 'host',
        args: ['link', 'add', 'link', parent, 'name', guestIf, 'netns', NS_PATH_IN_CHILD, 'type', 'ipoib', ...(pkey !== undefined ? ['pkey', pkeyHex(pkey)] : [])],
      },
      undo: [{ kind: 'ip', place: 'guest', args: ['link', 'del', 'dev', guestIf] }],
      needs: featureText('ipoib'),
    },
    { title: `bring ${parent} up`, action: { kind: 'ip', place: 'host', args: ['link', 'set', 'dev', parent, 'up'] }, undo: [] },
  ];
}
