import { InvalidArgumentError } from './errors.js';

/** An 802.1Q VLAN id: 1 to 4094. */
export function parseVlan(text: string): number {
  if (!/^\d{1,4}$/u.test(text) || Number(text) < 1 || Number(text) > 4094) {
    throw new InvalidArgumentError(`invalid VLAN id '${text}': expected a number from 1 to 4094`);
  }
  return Number(text);
}
