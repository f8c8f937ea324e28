import ipaddr from 'ipaddr.js';
import { InvalidArgumentError } from './errors.js';

export type Family = 4 | 6;

/** A static interface address: `10.0.0.2/24`, with its derived facts. */
export interface StaticAddress {
  family: Family;
  /** Address without prefix, canonical text. */
  address: string;
  prefix: number;
  /** `address/prefix` as iproute2 takes it. */
  cidr: string;
  /** IPv4 only: the subnet's broadcast address (what the classic tool set via `ipcalc -b`). */
  broadcast?: string;
}

/** What follows the guest on an attach line when it is not a DHCP method. */
export interface AddressSpec {
  /** Undefined for `0/0`: the interface is plumbed and up, with no address. */
  address?: StaticAddress;
  gateway?: string;
}

function familyOf(addr: ipaddr.IPv4 | ipaddr.IPv6): Family {
  return addr.kind() === 'ipv4' ? 4 : 6;
}

function parseIp(text: string, what: string): ipaddr.IPv4 | ipaddr.IPv6 {
  // ipaddr.parse also accepts legacy forms like "10.1" or octal; only take the strict ones.
  if (ipaddr.IPv4.isValidFourPartDecimal(text)) return ipaddr.IPv4.parse(text);
  if (!text.includes('%') && ipaddr.IPv6.isValid(text)) return ipaddr.IPv6.parse(text);
  throw new InvalidArgumentError(`invalid ${what} '${text}': not an IPv4 or IPv6 address`);
}

function broadcastOf(addr: ipaddr.IPv4, prefix: number): string {
  const bytes = addr.toByteArray();
  // (JavaScript shifts count modulo 32, so /32 needs its own case.)
  const host = prefix >= 32 ? 0 : 0xffffffff >>> prefix;
  const value = ((bytes[0]! << 24) | (bytes[1]! << 16) | (bytes[2]! << 8) | bytes[3]!) >>> 0;
  const b = (value | host) >>> 0;
  return [b >>> 24, (b >>> 16) & 255, (b >>> 8) & 255, b & 255].join('.');
}

/**
 * Parse `<ip>/<prefix>[@<gateway>]` (or `0/0`). `family` is what `-a` asked for, if given;
 * otherwise the family comes from the address itself.
 */
export function parseAddressSpec(text: string, family?: Family): AddressSpec {
  const at = text.indexOf('@');
  const cidrText = at === -1 ? text : text.slice(0, at);
  const gwText = at === -1 ? undefined : text.slice(at + 1);
  if (cidrText === '0/0') {
    if (gwText !== undefined) throw new InvalidArgumentError(`invalid address '${text}': 0/0 (no address) cannot have a gateway`);
    return {};
  }
  const slash = cidrText.indexOf('/');
  if (slash === -1) {
    throw new InvalidArgumentError(
      `the IP address '${cidrText}' should include a netmask: maybe you meant ${cidrText}/${cidrText.includes(':') ? 64 : 24}?`,
    );
  }
  const ipText = cidrText.slice(0, slash);
  const prefixText = cidrText.slice(slash + 1);
  const ip = parseIp(ipText, 'IP address');
  const fam = familyOf(ip);
  if (family !== undefined && family !== fam) {
    throw new InvalidArgumentError(`address '${ipText}' is IPv${fam} but '-a ${family}' asks for IPv${family}`);
  }
  const max = fam === 4 ? 32 : 128;
  if (!/^\d{1,3}$/u.test(prefixText) || Number(prefixText) < 1 || Number(prefixText) > max) {
    throw new InvalidArgumentError(`invalid prefix length '/${prefixText}' in '${cidrText}': expected 1 to ${max}`);
  }
  const prefix = Number(prefixText);
  const range = ip.range();
  if (range === 'unspecified' || range === 'multicast' || range === 'broadcast' || range === 'loopback') {
    throw new InvalidArgumentError(`invalid IP address '${ipText}': ${/^[aeiou]/u.test(range) ? 'an' : 'a'} ${range} address cannot be assigned to an interface`);
  }
  if (range === 'ipv4Mapped') {
    throw new InvalidArgumentError(`invalid IP address '${ipText}': an IPv4-mapped IPv6 address is not an interface address; give the IPv4 address itself`);
  }
  const canonical = ip.toString();
  const address: StaticAddress = { family: fam, address: canonical, prefix, cidr: `${canonical}/${prefix}` };
  // A /31 is a point-to-point pair (RFC 3021): a broadcast there would be the peer's address,
  // which the classic tool set and so made the peer unreachable. /32 keeps the classic value.
  if (ip instanceof ipaddr.IPv4 && prefix !== 31) address.broadcast = broadcastOf(ip, prefix);

  if (gwText === undefined) return { address };
  if (gwText === '') throw new InvalidArgumentError(`invalid gateway in '${text}': nothing after '@'`);
  const gw = parseIp(gwText, 'gateway');
  if (familyOf(gw) !== fam) {
    throw new InvalidArgumentError(`gateway '${gwText}' is IPv${familyOf(gw)} but the address '${ipText}' is IPv${fam}`);
  }
  const gwRange = gw.range();
  if (gwRange === 'unspecified' || gwRange === 'multicast' || gwRange === 'broadcast' || gwRange === 'loopback' || gwRange === 'ipv4Mapped') {
    throw new InvalidArgumentError(`invalid gateway '${gwText}': ${gwRange === 'ipv4Mapped' ? 'an IPv4-mapped' : `${/^[aeiou]/u.test(gwRange) ? 'an' : 'a'} ${gwRange}`} address cannot be a gateway`);
  }
  if (gw.toString() === canonical) {
    throw new InvalidArgumentError(`invalid gateway '${gwText}': it is the interface's own address`);
  }
  // Inside an IPv4 subnet of more than two addresses, its first and last addresses name the
  // subnet and its broadcast: no router answers there (the kernel refuses such a route).
  if (gw instanceof ipaddr.IPv4 && prefix <= 30 && cidrContains(address.cidr, gw.toString())) {
    const network = ipaddr.IPv4.networkAddressFromCIDR(address.cidr).toString();
    if (gw.toString() === network || gw.toString() === address.broadcast) {
      throw new InvalidArgumentError(`invalid gateway '${gwText}': it is the ${gw.toString() === network ? 'network' : 'broadcast'} address of ${network}/${prefix}, not a router's`);
    }
  }
  return { address, gateway: gw.toString() };
}

/** Is `text` one IPv4 or IPv6 address in a strict form (a value read back from a record)? */
export function isIpText(text: string): boolean {
  try {
    parseIp(text, 'address');
    return true;
  } catch {
    return false;
  }
}

/** Is `text` an `address/prefix` in a strict form, the prefix in range for its family? */
export function isCidrText(text: string): boolean {
  const slash = text.indexOf('/');
  if (slash === -1 || !isIpText(text.slice(0, slash)) || !/^\d{1,3}$/u.test(text.slice(slash + 1))) return false;
  return Number(text.slice(slash + 1)) <= (text.includes(':') ? 128 : 32);
}

/** True when `ip` lies inside `cidr` (same family). */
export function cidrContains(cidr: string, ip: string): boolean {
  try {
    const [net, bits] = ipaddr.parseCIDR(cidr.includes('/') ? cidr : `${cidr}/${cidr.includes(':') ? 128 : 32}`);
    const addr = ipaddr.parse(ip);
    if (net.kind() !== addr.kind()) return false;
    return addr.match(net, bits);
  } catch {
    return false;
  }
}

export function isLinkLocal(ip: string): boolean {
  try {
    return ipaddr.parse(ip).range() === 'linkLocal';
  } catch {
    return false;
  }
}

export function hostPrefix(family: Family): number {
  return family === 4 ? 32 : 128;
}
