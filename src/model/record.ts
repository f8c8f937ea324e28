/**
 * What pipework records on the interfaces it makes, in the link's alias (IFLA_IFALIAS), so
 * teardown, inventory and re-runs read the truth from the kernel instead of a file that can
 * drift. Both ends of a pair carry the same record; `role` says which end this is.
 */

export type HostKindName = 'bridge';

export interface AttachRecord {
  role: 'guest' | 'host';
  /** How the guest was named, as `kind:name` (docker:web, netns:blue, pid:123). */
  guest: string;
  /** The guest's network namespace inode when plumbed. */
  nsInode: number;
  guestIf: string;
  /** The bridge or NIC on the host side. */
  hostIf: string;
  hostKind: HostKindName;
  /** The host end of the pair (veth). */
  localIf?: string;
  /** `address/prefix`, or absent for `0/0`. */
  address?: string;
  gateway?: string;
  /** Only when the user asked for a MAC. */
  mac?: string;
  vlan?: number;
}

const MAGIC = 'pipework/1';
/** IFALIASZ is 256 including the NUL. */
const ALIAS_MAX = 255;

const KEYS: [keyof AttachRecord, string][] = [
  ['role', 'r'], ['guest', 'g'], ['nsInode', 'n'], ['guestIf', 'i'], ['hostIf', 'h'], ['hostKind', 'k'],
  ['localIf', 'l'], ['address', 'a'], ['gateway', 'gw'], ['mac', 'm'], ['vlan', 'v'],
];

// Values go into an `ip -batch` line: escape anything but a safe set (no spaces, quotes, # or ;).
const escape = (v: string) => v.replace(/[^A-Za-z0-9._:/@+-]/gu, (c) => `%${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
const unescape = (v: string) => v.replace(/%([0-9a-f]{2})/giu, (_, h: string) => String.fromCharCode(parseInt(h, 16)));

export function encodeRecord(record: AttachRecord): string {
  const parts = [MAGIC];
  for (const [key, short] of KEYS) {
    const value = record[key];
    if (value !== undefined) parts.push(`${short}=${escape(String(value))}`);
  }
  let alias = parts.join(';');
  if (alias.length > ALIAS_MAX) alias = parts.filter((p) => !p.startsWith('g=')).join(';');
  return alias;
}

/** The record in an alias, or undefined when pipework did not make this interface. */
export function decodeRecord(alias: string | undefined): AttachRecord | undefined {
  if (alias === undefined || !alias.startsWith(`${MAGIC};`)) return undefined;
  const fields = new Map<string, string>();
  for (const part of alias.split(';').slice(1)) {
    const eq = part.indexOf('=');
    if (eq > 0) fields.set(part.slice(0, eq), unescape(part.slice(eq + 1)));
  }
  const get = (k: keyof AttachRecord) => fields.get(KEYS.find(([key]) => key === k)![1]);
  const role = get('role');
  const guestIf = get('guestIf');
  const hostIf = get('hostIf');
  const hostKind = get('hostKind');
  if ((role !== 'guest' && role !== 'host') || guestIf === undefined || hostIf === undefined || hostKind !== 'bridge') {
    return undefined;
  }
  const record: AttachRecord = {
    role, guest: get('guest') ?? '?', nsInode: Number(get('nsInode') ?? 0), guestIf, hostIf, hostKind,
  };
  const localIf = get('localIf');
  const address = get('address');
  const gateway = get('gateway');
  const mac = get('mac');
  const vlan = get('vlan');
  if (localIf !== undefined) record.localIf = localIf;
  if (address !== undefined) record.address = address;
  if (gateway !== undefined) record.gateway = gateway;
  if (mac !== undefined) record.mac = mac;
  if (vlan !== undefined) record.vlan = Number(vlan);
  return record;
}

/** The parts of a record that make a configuration (what a re-run must match). */
export function configOf(r: AttachRecord): string {
  return [
    `${r.hostKind} ${r.hostIf}`,
    r.address ?? 'no address',
    ...(r.gateway !== undefined ? [`gateway ${r.gateway}`] : []),
    ...(r.mac !== undefined ? [`mac ${r.mac}`] : []),
    ...(r.vlan !== undefined ? [`vlan ${r.vlan}`] : []),
  ].join(', ');
}
