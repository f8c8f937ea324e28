import { isCidrText, isIpText } from './address.js';
import { isDhcpMethod, type DhcpMethod } from './dhcp-methods.js';
import { InvalidArgumentError } from './errors.js';
import { ifNameProblem } from './ifname.js';
import { parseMac } from './mac.js';

/**
 * What pipework records on the interfaces it makes, in the link's alias (IFLA_IFALIAS), so
 * teardown, inventory and re-runs read the truth from the kernel instead of a file that can
 * drift. Both ends of a pair carry the same record; `role` says which end this is.
 */

export const HOST_KINDS = ['bridge', 'ovs', 'macvlan', 'phys', 'dummy', 'ipoib'] as const;
/** bridge: veth on a Linux bridge; ovs: veth on an OVS bridge; macvlan: a child of a NIC;
 * phys: the NIC itself (--direct-phys); dummy; ipoib: an IPoIB child. */
export type HostKindName = (typeof HOST_KINDS)[number];

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
  /** VLAN id (OVS tag, 802.1Q id, bridge VLAN) or IPoIB partition key. */
  vlan?: number;
  /** The VLAN sub-interface on the host this interface hangs off (if pipework made it, it goes with its last user). */
  vlanIf?: string;
  /** This attach made `vlanIf` (with --direct-phys, where the sub-interface itself moves in). */
  vlanMade?: boolean;
  /** --direct-phys: the NIC's name on the host, to give it back under. */
  origName?: string;
  /** --direct-phys with a MAC: the NIC's own MAC, restored when it goes back. */
  origMac?: string;
  /** The address comes from DHCP, by this method (`del` stops a staying client or the helper container). */
  dhcp?: DhcpMethod;
  /** DHCPv6 (`-a 6`). */
  dhcp6?: boolean;
  /** Who made it (src/model/owner.ts); absent: the command line (records older than owners). */
  owner?: string;
  /** More addresses than `address` (a topology link with IPv4 and IPv6), comma-separated. */
  moreAddresses?: string;
  /** The IPv6 gateway, when IPv6 has its own (a topology link's gateway6). */
  gateway6?: string;
  /** The MTU asked for (absent: the host side's). */
  mtu?: number;
  /** macvlan mode other than bridge. */
  mode?: string;
  /**
   * The default route(s) that `@gateway` replaced, as `<gateway>@<dev>` (IPv4) so that `del` can
   * put it back; `replaced6` for IPv6.
   */
  replaced4?: string;
  replaced6?: string;
  /** Impairments inside the guest (src/engine/impair.ts), changed live rather than re-made. */
  impair?: string;
}

const MAGIC = 'pipework/1';
/** IFALIASZ is 256 including the NUL. */
const ALIAS_MAX = 255;

const KEYS: [keyof AttachRecord, string][] = [
  ['role', 'r'], ['guest', 'g'], ['nsInode', 'n'], ['guestIf', 'i'], ['hostIf', 'h'], ['hostKind', 'k'],
  ['localIf', 'l'], ['address', 'a'], ['gateway', 'gw'], ['mac', 'm'], ['vlan', 'v'], ['vlanIf', 'q'], ['vlanMade', 'qm'], ['origName', 'o'], ['origMac', 'om'],
  ['dhcp', 'd'], ['dhcp6', 'd6'], ['owner', 'ow'], ['moreAddresses', 'a2'], ['gateway6', 'g6'], ['mtu', 'mt'], ['mode', 'mo'],
  ['replaced4', 'r4'], ['replaced6', 'r6'], ['impair', 'im'],
];

// Values go into an `ip -batch` line: percent-encode the UTF-8 bytes of anything but a safe
// set (no spaces, quotes, #, backslash, ; or %).
const escape = (v: string) =>
  v.replace(/[^A-Za-z0-9._:/@+=,-]/gu, (c) => [...Buffer.from(c, 'utf8')].map((b) => `%${b.toString(16).padStart(2, '0')}`).join(''));
function unescape(v: string): string | undefined {
  try {
    return decodeURIComponent(v);
  } catch {
    return undefined;
  }
}

export function encodeRecord(record: AttachRecord): string {
  const parts = [MAGIC];
  for (const [key, short] of KEYS) {
    const value = record[key];
    if (value !== undefined && value !== false) parts.push(`${short}=${escape(value === true ? '1' : String(value))}`);
  }
  let alias = parts.join(';');
  // What can be told again or lived without goes first: the default routes to restore on del,
  // then the guest's name is shortened (…): the kernel and the runtimes know it in full.
  for (const drop of ['r6=', 'r4=']) {
    if (Buffer.byteLength(alias) > ALIAS_MAX) alias = alias.split(';').filter((p) => !p.startsWith(drop)).join(';');
  }
  if (Buffer.byteLength(alias) > ALIAS_MAX) {
    const name = [...record.guest];
    const parts = alias.split(';');
    const at = parts.findIndex((p) => p.startsWith('g='));
    for (let keep = name.length - 1; keep >= 0 && at !== -1; keep--) {
      parts[at] = `g=${escape(`${name.slice(0, keep).join('')}…`)}`;
      alias = parts.join(';');
      if (Buffer.byteLength(alias) <= ALIAS_MAX) break;
    }
  }
  if (Buffer.byteLength(alias) > ALIAS_MAX) {
    throw new InvalidArgumentError(`pipework's record of this interface does not fit in a link alias (${ALIAS_MAX} bytes); use shorter interface names`);
  }
  return alias;
}

const MACVLAN_MODES = new Set(['private', 'vepa', 'bridge', 'passthru', 'source']);

const isName = (v: string | undefined) => v === undefined || ifNameProblem(v) === undefined;
const isIp = (v: string | undefined) => v === undefined || isIpText(v);
function isMac(v: string | undefined): boolean {
  if (v === undefined) return true;
  try {
    return parseMac(v) === v && !v.startsWith('U:');
  } catch {
    return false;
  }
}
/** A default route as recorded: `<gateway>@<device>[@<metric>]`. */
const isRoute = (v: string | undefined) => {
  if (v === undefined) return true;
  const [gateway, dev, metric, ...rest] = v.split('@');
  return rest.length === 0 && isIpText(gateway ?? '') && dev !== undefined && ifNameProblem(dev) === undefined && (metric === undefined || /^\d{1,10}$/u.test(metric));
};
/** The guest as named, `kind:name` (text for people: names of netns may hold any character but `/`). */
const isGuestText = (v: string) => v === '?' || (/^[a-z-]+:.{1,240}$/su.test(v) && !v.includes('\0'));
const isOwnerText = (v: string | undefined) => v === undefined || /^(cli|watch|topology:[a-z0-9][a-z0-9-]{0,15}(?:@[A-Za-z0-9][A-Za-z0-9_.-]{0,62})?|cni:[^/\s]{1,253}\/[^/\s]{1,253}\/[^/\s]{1,15})$/u.test(v);
const isImpair = (v: string | undefined) => v === undefined || /^[djlr]\d+(?:\.\d+)?(?:,[djlr]\d+(?:\.\d+)?)*$/u.test(v);

/**
 * Is every value of a decoded record of the shape pipework writes? What is read back from a link's
 * alias may have been written by someone else (a guest can rewrite the alias of any interface in
 * its namespace): a name that is not an interface name, an address that is not one, a MAC, an
 * owner or a route of another shape is never passed on to a command or a path.
 */
export function recordProblem(r: AttachRecord): string | undefined {
  for (const k of ['guestIf', 'hostIf', 'localIf', 'vlanIf', 'origName'] as const) if (!isName(r[k])) return `${k} is not an interface name`;
  if (!isGuestText(r.guest)) return 'guest is not a guest reference';
  for (const a of [r.address, ...(r.moreAddresses?.split(',') ?? [])]) if (a !== undefined && !isCidrText(a)) return 'an address is not address/prefix';
  if (!isIp(r.gateway) || !isIp(r.gateway6)) return 'a gateway is not an address';
  if (!isMac(r.mac) || !isMac(r.origMac)) return 'a MAC is not a unicast MAC';
  if (r.vlan !== undefined && !(r.vlan >= 0 && r.vlan <= 0xffff)) return 'vlan is out of range';
  if (r.mtu !== undefined && !(r.mtu >= 68 && r.mtu <= 65535)) return 'mtu is out of range';
  if (r.mode !== undefined && !MACVLAN_MODES.has(r.mode)) return 'mode is not a macvlan mode';
  if (!isRoute(r.replaced4) || !isRoute(r.replaced6)) return 'a replaced route is not gateway@device';
  if (!isOwnerText(r.owner)) return 'owner is not an owner';
  if (!isImpair(r.impair)) return 'impair is not an impairment';
  return undefined;
}

/**
 * The record in an alias, or undefined when pipework did not make this interface — or when any
 * value in it is not of the shape pipework writes (recordProblem).
 */
export function decodeRecord(alias: string | undefined): AttachRecord | undefined {
  if (alias === undefined || !alias.startsWith(`${MAGIC};`)) return undefined;
  const fields = new Map<string, string>();
  for (const part of alias.split(';').slice(1)) {
    const eq = part.indexOf('=');
    const value = eq > 0 ? unescape(part.slice(eq + 1)) : undefined;
    if (value === undefined) return undefined;
    fields.set(part.slice(0, eq), value);
  }
  const get = (k: keyof AttachRecord) => fields.get(KEYS.find(([key]) => key === k)![1]);
  const role = get('role');
  const guestIf = get('guestIf');
  const hostIf = get('hostIf');
  const hostKind = get('hostKind');
  const isCount = (v: string | undefined) => v === undefined || /^\d+$/u.test(v);
  if ((role !== 'guest' && role !== 'host') || !guestIf || !hostIf
    || !(HOST_KINDS as readonly string[]).includes(hostKind ?? '') || !isCount(get('nsInode')) || !isCount(get('vlan')) || !isCount(get('mtu'))) {
    return undefined;
  }
  const record: AttachRecord = {
    role, guest: get('guest') ?? '?', nsInode: Number(get('nsInode') ?? 0), guestIf, hostIf, hostKind: hostKind as HostKindName,
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
  const vlanIf = get('vlanIf');
  // Booleans are written as 1 (encodeRecord); `true` is accepted too.
  const flag = (k: keyof AttachRecord) => get(k) === '1' || get(k) === 'true';
  if (flag('vlanMade')) record.vlanMade = true;
  for (const k of ['owner', 'moreAddresses', 'gateway6', 'mode', 'replaced4', 'replaced6', 'impair'] as const) {
    const v = get(k);
    if (v !== undefined) record[k] = v;
  }
  const mtu = get('mtu');
  if (mtu !== undefined) record.mtu = Number(mtu);
  const origName = get('origName');
  if (vlanIf !== undefined) record.vlanIf = vlanIf;
  if (origName !== undefined) record.origName = origName;
  const origMac = get('origMac');
  if (origMac !== undefined) record.origMac = origMac;
  const dhcp = get('dhcp');
  if (dhcp !== undefined) {
    if (!isDhcpMethod(dhcp)) return undefined;
    record.dhcp = dhcp;
    if (flag('dhcp6')) record.dhcp6 = true;
  }
  return recordProblem(record) === undefined ? record : undefined;
}

/** Who made what a record describes ('cli' for records older than owners). */
export function ownerText(r: Pick<AttachRecord, 'owner'>): string {
  return r.owner ?? 'cli';
}

/**
 * Do two records describe the same attachment: one owner, one guest interface, one namespace
 * (when both know it: a record written before the namespace was known has inode 0)?
 */
export function sameAttachment(a: AttachRecord, b: AttachRecord): boolean {
  return ownerText(a) === ownerText(b) && a.guestIf === b.guestIf && (a.nsInode === 0 || b.nsInode === 0 || a.nsInode === b.nsInode);
}

/** Every address a record names. */
export function recordAddresses(r: AttachRecord): string[] {
  return [...(r.address !== undefined ? [r.address] : []), ...(r.moreAddresses?.split(',').filter((a) => a !== '') ?? [])];
}

/** The parts of a record that make a configuration (what a re-run must match). */
export function configOf(r: AttachRecord): string {
  return configFields(r).map(([k, v]) => (k === 'host' || k === 'address' ? v : `${k} ${v}`)).join(', ');
}

/** The configuration as named fields, so a conflict can say which one differs. */
export function configFields(r: AttachRecord): [string, string][] {
  const addresses = recordAddresses(r);
  return [
    ['host', `${r.hostKind} ${r.hostIf}`],
    ['address', r.dhcp !== undefined ? `dhcp ${r.dhcp}${r.dhcp6 === true ? ' (IPv6)' : ''}` : (addresses.join(' ') || 'no address')],
    ...(r.gateway !== undefined ? [['gateway', r.gateway] as [string, string]] : []),
    ...(r.gateway6 !== undefined ? [['gateway6', r.gateway6] as [string, string]] : []),
    ...(r.mac !== undefined ? [['mac', r.mac] as [string, string]] : []),
    ...(r.vlan !== undefined ? [['vlan', String(r.vlan)] as [string, string]] : []),
    ...(r.mtu !== undefined ? [['mtu', String(r.mtu)] as [string, string]] : []),
    ...(r.mode !== undefined ? [['mode', r.mode] as [string, string]] : []),
  ];
}

/** What differs between two configurations, as `field: old → new` (empty when they are the same). */
export function configDiff(existing: AttachRecord, wanted: AttachRecord): string[] {
  const a = new Map(configFields(existing));
  const b = new Map(configFields(wanted));
  const keys = [...new Set([...a.keys(), ...b.keys()])];
  return keys.flatMap((k) => (a.get(k) === b.get(k) ? [] : [`${k} ${a.get(k) ?? 'none'} → ${b.get(k) ?? 'none'}`]));
}
