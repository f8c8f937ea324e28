/**
 * IPoIB (link type 32): a child of the InfiniBand interface, created directly inside the
 * guest; `@<vlan>` is the partition key. Classic names `<if>.<pid>` / `<if>.<pkey>.<pid>`
 * only ever existed on the host for a moment: ours never appear there.
 */
import { NS_PATH_IN_CHILD } from '../exec/runner.js';
import { InvalidArgumentError } from '../model/errors.js';
import type { Step } from '../plan/types.js';
import { featureText } from './kernel.js';

/**
 * The partition key from `@<text>`, hexadecimal as the classic tool passed it (`pkey 0x<text>`).
 * 0x0000 and 0x8000 (no partition) are refused; the top bit is the full-membership flag.
 */
export function parsePkey(text: string): number {
  const pkey = /^[0-9a-fA-F]{1,4}$/u.test(text) ? parseInt(text, 16) : NaN;
  if (Number.isNaN(pkey) || (pkey & 0x7fff) === 0) {
    throw new InvalidArgumentError(`invalid IPoIB partition key '${text}': expected 1 to 4 hex digits (0001 to ffff, not 0 or 8000)`);
  }
  return pkey;
}

export function pkeyHex(pkey: number): string {
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
