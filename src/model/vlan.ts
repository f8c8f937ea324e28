import { InvalidArgumentError } from './errors.js';

/** The alias of a VLAN sub-interface pipework made: removed when its last user goes. */
export const VLAN_MARK = 'pipework/vlan';

/** An 802.1Q VLAN id: 1 to 4094. */
export function parseVlan(text: string): number {
  if (!/^\d{1,4}$/u.test(text) || Number(text) < 1 || Number(text) > 4094) {
    throw new InvalidArgumentError(`invalid VLAN id '${text}': expected a number from 1 to 4094`);
  }
  return Number(text);
}

/**
 * An IPoIB partition key from `@<text>`, hexadecimal as the classic tool passed it (`pkey 0x<text>`).
 * 0x0000 and 0x8000 (no partition) are refused; the top bit is the full-membership flag.
 */
export function parsePkey(text: string): number {
  const pkey = /^[0-9a-fA-F]{1,4}$/u.test(text) ? parseInt(text, 16) : NaN;
  if (Number.isNaN(pkey) || (pkey & 0x7fff) === 0) {
    throw new InvalidArgumentError(`invalid IPoIB partition key '${text}': expected 1 to 4 hex digits (0001 to ffff, not 0 or 8000)`);
  }
  return pkey;
}
