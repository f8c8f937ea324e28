/**
 * Who made an interface: every front door marks what it makes, so each removes only its own
 * and `pipework ls` can say who made what. The text form is recorded on the interfaces.
 */
import { InvalidArgumentError } from './errors.js';

export type Owner =
  | { kind: 'cli' }
  | { kind: 'topology'; name: string }
  | { kind: 'cni'; network: string; containerId: string; ifname: string }
  | { kind: 'watch' };

export const CLI_OWNER: Owner = { kind: 'cli' };

export function formatOwner(owner: Owner): string {
  switch (owner.kind) {
    case 'cli':
    case 'watch':
      return owner.kind;
    case 'topology':
      return `topology:${owner.name}`;
    case 'cni':
      return `cni:${owner.network}/${owner.containerId}/${owner.ifname}`;
  }
}

/** The owner in a record (undefined when the record predates owners: the CLI made it). */
export function parseOwner(text: string | undefined): Owner | undefined {
  if (text === undefined || text === 'cli') return CLI_OWNER;
  if (text === 'watch') return { kind: 'watch' };
  if (text.startsWith('topology:') && text.length > 'topology:'.length) return { kind: 'topology', name: text.slice('topology:'.length) };
  const cni = /^cni:([^/]+)\/([^/]+)\/([^/]+)$/u.exec(text);
  if (cni) return { kind: 'cni', network: cni[1]!, containerId: cni[2]!, ifname: cni[3]! };
  return undefined;
}

export function sameOwner(a: Owner, b: Owner): boolean {
  return formatOwner(a) === formatOwner(b);
}

/**
 * `ls --owner X` / `del --owner X`: `cli`, `watch`, `topology` (any topology), `topology:NAME`,
 * `cni` (any network), `cni:NET`, or a whole `cni:NET/ID/IF`.
 */
export function ownerFilter(text: string): (owner: string) => boolean {
  if (!/^(cli|watch|topology(:[^\s]+)?|cni(:[^\s]+)?)$/u.test(text)) {
    throw new InvalidArgumentError(`invalid owner '${text}': expected cli, watch, topology[:NAME] or cni[:NETWORK[/CONTAINER/IFNAME]]`);
  }
  if (text === 'topology' || text === 'cni') return (o) => o === text || o.startsWith(`${text}:`);
  if (/^cni:[^/]+$/u.test(text)) return (o) => o.startsWith(`${text}/`) || o === text;
  return (o) => o === text;
}
