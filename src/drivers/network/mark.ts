/**
 * pipework's owner mark on the network objects a topology makes: on a Linux bridge (or VXLAN
 * device) its alias `pipework-topology:<name>[,<name>…]` — every topology that uses a bridge one of
 * them made is its co-owner, and it goes with the last of them; on an Open vSwitch bridge the
 * external-id `pipework.topology=<name>` (kept in OVS's database across reboots).
 */

const MARK_PREFIX = 'pipework-topology:';

export const OVS_MARK_KEY = 'pipework.topology';

/** The alias marking a link (or a netns's `lo`) as made by one topology. */
export function markText(owner: string): string {
  return `${MARK_PREFIX}${owner}`;
}

/** The owners a mark names (a bridge's may name several); [] for anything else. */
export function markedBy(alias: string | undefined): string[] {
  if (alias?.startsWith(MARK_PREFIX) !== true) return [];
  return alias.slice(MARK_PREFIX.length).split(',').filter((t) => /^[a-z0-9][a-z0-9-]{0,15}(?:@[A-Za-z0-9][A-Za-z0-9_.-]{0,62})?$/u.test(t));
}

/** A mark naming these owners (undefined: none left, the alias goes). */
export function markOf(owners: readonly string[]): string | undefined {
  const list = [...new Set(owners)].sort();
  return list.length > 0 ? `${MARK_PREFIX}${list.join(',')}` : undefined;
}

/** The most an alias holds (IFALIASZ - 1). */
export const MAX_ALIAS_BYTES = 255;
