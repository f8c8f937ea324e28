/**
 * What apply says, as lines a person reads at 3 links and at 2,500: one line per link that
 * changed while they are few; past LINES_BOUND of one kind, one line with their count and the
 * first names (`created 2500 links: eth1 of g1, g2, g3 and 2497 more`); the summary line with
 * counts, and the names of what it made up to NAMES_BOUND. Pure.
 */
import type { Link } from './model.js';

/** Links of one outcome listed one per line up to this many; more are one line. */
export const LINES_BOUND = 50;
/** Names on one line, at most. */
export const NAMES_BOUND = 8;

/** `a, b, c`; past `bound`, the first ones and how many more: `a, b, c and 97 more`. */
export function someNames(names: readonly string[], bound = NAMES_BOUND): string {
  if (names.length <= bound) return names.join(', ');
  const shown = Math.max(bound - 1, 1);
  return `${names.slice(0, shown).join(', ')} and ${names.length - shown} more`;
}

/**
 * Links by interface, their guests named up to `bound` in all: `eth1 of web, db and 98 more`,
 * `eth1 of web and db; eth2 of app`.
 */
export function someLinks(links: readonly Pick<Link, 'guest' | 'ifname'>[], bound = NAMES_BOUND): string {
  const byIf = new Map<string, string[]>();
  for (const l of links) {
    let guests = byIf.get(l.ifname);
    if (!guests) byIf.set(l.ifname, (guests = []));
    guests.push(l.guest);
  }
  const parts: string[] = [];
  let left = bound;
  let more = 0;
  for (const [ifname, guests] of byIf) {
    if (left <= 0) {
      more += guests.length;
      continue;
    }
    const shown = guests.length <= left ? guests : guests.slice(0, Math.max(left - 1, 1));
    left -= shown.length;
    const rest = guests.length - shown.length;
    parts.push(`${ifname} of ${rest > 0 ? `${shown.join(', ')} and ${rest} more` : shown.length > 1 ? `${shown.slice(0, -1).join(', ')} and ${shown.at(-1)!}` : shown[0]!}`);
  }
  return `${parts.join('; ')}${more > 0 ? `; and ${more} more` : ''}`;
}

/** What apply made, as the summary line says it: every name while they are few, else by kind with counts. */
export interface Made {
  netns: readonly string[];
  bridges: readonly string[];
  ovsBridges: readonly string[];
  vxlans: readonly string[];
  containers: readonly string[];
}

export function madeText(made: Made, bound = NAMES_BOUND): string {
  const all = [...made.netns, ...made.bridges, ...made.ovsBridges, ...made.vxlans, ...made.containers];
  if (all.length <= bound) return all.join(', ');
  const kinds: [readonly string[], string, string][] = [
    [made.netns, 'network namespace', 'network namespaces'], [made.bridges, 'bridge', 'bridges'],
    [made.ovsBridges, 'Open vSwitch bridge', 'Open vSwitch bridges'], [made.vxlans, 'VXLAN device', 'VXLAN devices'],
    [made.containers, 'container', 'containers'],
  ];
  // Each kind gets its share of the names (at least one).
  const per = Math.max(Math.floor(bound / kinds.filter(([n]) => n.length > 0).length), 1);
  return kinds.filter(([names]) => names.length > 0)
    .map(([names, one, many]) => (names.length === 1 ? `${one} ${names[0]!}` : `${names.length} ${many} (${someNames(names, Math.max(per, 2))})`))
    .join(', ');
}

/**
 * Links of one outcome, as lines: one per link (`line(link)`) up to LINES_BOUND, else one line,
 * `<verb> <n> links: <some of them>`.
 */
export function linkLines<T extends { link: Pick<Link, 'guest' | 'ifname'> }>(items: readonly T[], verb: string, line: (item: T) => string, bound = LINES_BOUND): string[] {
  if (items.length <= bound) return items.map(line);
  return [`${verb} ${items.length} links: ${someLinks(items.map((i) => i.link))}`];
}
