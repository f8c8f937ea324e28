/**
 * The small value grammars of a topology file: the brief link (it reads like a classic line and
 * reuses the classic grammar's address and `[<mac>][@<vlan>]` parsers), durations, percentages,
 * rates and subnets. Pure; each refusal is an InvalidArgumentError whose message names the value.
 */
import ipaddr from 'ipaddr.js';
import { InvalidArgumentError } from '../../model/errors.js';
import type { Impairment } from '../../model/attach-spec.js';
import type { Subnet } from './model.js';
import type { RawImpair } from './schema.js';

/** One word of a brief link and where it starts in the text (0-based). */
export interface Word {
  text: string;
  offset: number;
}

export interface BriefLink {
  guest: Word;
  ifname?: Word;
  network: Word;
  /** `<address|dhcp-method|auto>` as written. */
  config: Word;
  /** `[<mac>][@<vlan>]` as written. */
  macVlan?: Word;
}

/** `<guest>[:<ifname>] <network> <address|dhcp-method|auto> [<mac>][@<vlan>]`. */
export function splitBrief(text: string): BriefLink {
  const words: Word[] = [];
  for (const m of text.matchAll(/\S+/gu)) words.push({ text: m[0], offset: m.index });
  if (words.length < 3 || words.length > 4) {
    throw new InvalidArgumentError(
      `expected "<guest>[:<ifname>] <network> <address|dhcp-method|auto> [<mac>][@<vlan>]" (3 or 4 words), got ${words.length} word${words.length === 1 ? '' : 's'}`,
    );
  }
  const [first, network, config, macVlan] = words as [Word, Word, Word, Word | undefined];
  const colon = first.text.indexOf(':');
  const guest = colon === -1 ? first : { text: first.text.slice(0, colon), offset: first.offset };
  const ifname = colon === -1 ? undefined : { text: first.text.slice(colon + 1), offset: first.offset + colon + 1 };
  if (guest.text === '') throw new InvalidArgumentError(`the guest before ':' in '${first.text}' is empty`);
  if (ifname?.text === '') throw new InvalidArgumentError(`the interface name after ':' in '${first.text}' is empty`);
  return { guest, network, config, ...(ifname && { ifname }), ...(macVlan && { macVlan }) };
}

/** `20ms`, `1.5s`, `300us`, or a number of milliseconds → milliseconds. */
export function parseDuration(value: string | number, what: string): number {
  if (typeof value === 'number') {
    if (Number.isFinite(value) && value >= 0) return value;
  } else {
    const m = /^(\d+(?:\.\d+)?)\s*(us|ms|s)?$/u.exec(value.trim());
    if (m) return Number(m[1]) * ({ us: 0.001, ms: 1, s: 1000 }[m[2] ?? 'ms'] ?? 1);
  }
  throw new InvalidArgumentError(`invalid ${what} '${String(value)}': expected a time like 20ms, 1.5s or 300us`);
}

/** `1%`, `0.5%`, or a number → percent (0 to 100). */
export function parsePercent(value: string | number, what: string): number {
  const n = typeof value === 'number' ? value : /^(\d+(?:\.\d+)?)\s*%?$/u.exec(value.trim())?.[1];
  const p = n === undefined ? NaN : Number(n);
  if (!Number.isFinite(p) || p < 0 || p > 100) throw new InvalidArgumentError(`invalid ${what} '${String(value)}': expected a percentage from 0% to 100%`);
  return p;
}

/** tc's rate units: bits (bit, kbit, mbit, gbit, tbit) and bytes per second (bps, kbps, mbps, gbps). */
const RATE_UNITS: Record<string, number> = {
  bit: 1, kbit: 1e3, mbit: 1e6, gbit: 1e9, tbit: 1e12,
  bps: 8, kbps: 8e3, mbps: 8e6, gbps: 8e9,
};

/** `10mbit` → bits per second (an integer, at least 8). */
export function parseRate(value: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]+)$/iu.exec(value.trim());
  const unit = m?.[2]?.toLowerCase();
  const factor = unit !== undefined ? RATE_UNITS[unit] : undefined;
  const bps = m && factor !== undefined ? Math.round(Number(m[1]) * factor) : NaN;
  if (!Number.isFinite(bps) || bps < 8) {
    throw new InvalidArgumentError(`invalid rate '${value}': expected a number and a unit, like 10mbit, 512kbit or 1gbit (${Object.keys(RATE_UNITS).join(', ')})`);
  }
  return bps;
}

/** The `impair:` block as the engine's Impairment; undefined when it asks for nothing. */
export function parseImpair(raw: RawImpair, fail: (key: keyof RawImpair, err: unknown) => void): Impairment | undefined {
  const out: Impairment = {};
  const take = <K extends keyof RawImpair>(key: K, parse: (v: NonNullable<RawImpair[K]>) => number, set: (n: number) => void) => {
    const v = raw[key];
    if (v === undefined) return;
    try {
      set(parse(v));
    } catch (err) {
      fail(key, err);
    }
  };
  take('delay', (v) => parseDuration(v, 'delay'), (n) => { out.delayMs = n; });
  take('jitter', (v) => parseDuration(v, 'jitter'), (n) => { out.jitterMs = n; });
  take('loss', (v) => parsePercent(v, 'loss'), (n) => { out.lossPercent = n; });
  take('rate', (v) => parseRate(v), (n) => { out.rateBps = n; });
  return Object.keys(out).length > 0 ? out : undefined;
}

/** `10.10.0.0/24` (a network address, not a host's). */
export function parseSubnet(text: string): Subnet {
  let parsed: [ipaddr.IPv4 | ipaddr.IPv6, number];
  try {
    parsed = ipaddr.parseCIDR(text);
  } catch {
    throw new InvalidArgumentError(`invalid subnet '${text}': expected a network like 10.10.0.0/24 or fd00:10::/64`);
  }
  const [addr, prefix] = parsed;
  const family = addr.kind() === 'ipv4' ? 4 : 6;
  const bits = family === 4 ? 32 : 128;
  if (family === 4 && !ipaddr.IPv4.isValidFourPartDecimal(text.split('/')[0]!)) {
    throw new InvalidArgumentError(`invalid subnet '${text}': expected four decimal parts, like 10.10.0.0/24`);
  }
  if (prefix > bits - 2 && !(family === 6 && prefix <= 127)) {
    throw new InvalidArgumentError(`subnet '${text}' is too small to take addresses from: at most /${bits - 2}`);
  }
  const value = toBigInt(addr);
  const hostMask = (1n << BigInt(bits - prefix)) - 1n;
  if ((value & hostMask) !== 0n) {
    const base = fromBigInt(value & ~hostMask, family);
    throw new InvalidArgumentError(`subnet '${text}' has host bits set: did you mean ${base}/${prefix}?`);
  }
  return { cidr: `${addr.toString()}/${prefix}`, family, base: value, prefix };
}

/** An address (no prefix, one that parses) as a number. */
export function addressValue(text: string): bigint {
  return toBigInt(ipaddr.parse(text));
}

export function toBigInt(addr: ipaddr.IPv4 | ipaddr.IPv6): bigint {
  return addr.toByteArray().reduce((acc, b) => (acc << 8n) | BigInt(b), 0n);
}

export function fromBigInt(value: bigint, family: 4 | 6): string {
  if (family === 4) {
    const n = Number(value);
    return `${(n >>> 24) & 255}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
  }
  const bytes: number[] = [];
  let v = value;
  for (let i = 0; i < 16; i++) {
    bytes.unshift(Number(v & 255n));
    v >>= 8n;
  }
  return new ipaddr.IPv6(bytes).toString();
}

/** Is this address (no prefix) inside the subnet? */
export function inSubnet(subnet: Subnet, address: string): boolean {
  let addr: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    addr = ipaddr.parse(address);
  } catch {
    return false;
  }
  if ((addr.kind() === 'ipv4' ? 4 : 6) !== subnet.family) return false;
  const bits = subnet.family === 4 ? 32 : 128;
  const hostMask = (1n << BigInt(bits - subnet.prefix)) - 1n;
  return (toBigInt(addr) & ~hostMask) === subnet.base;
}

/**
 * The free addresses of the subnet, from the lowest host up, one at a time as they are asked
 * for: never the network address itself nor (IPv4) its broadcast address, nor one in `taken`.
 * The caller may add to `taken` between two (the addresses it gave out): the walk goes on from
 * where it stopped, so giving n addresses out of a subnet costs n + |taken| steps, not n².
 * Bounded: at most |taken| + 1 steps past the last address given (one of them is free if the
 * subnet is that large), so a /8 or an IPv6 /64 is never walked to its end.
 */
export function* freeAddresses(subnet: Subnet, taken: ReadonlySet<string>): Generator<string, undefined> {
  const bits = subnet.family === 4 ? 32 : 128;
  const size = 1n << BigInt(bits - subnet.prefix);
  const last = subnet.family === 4 ? size - 2n : size - 1n;
  let given = 0;
  for (let i = 1n; i <= last && i <= BigInt(taken.size + given + 2); i++) {
    const candidate = fromBigInt(subnet.base + i, subnet.family);
    if (taken.has(candidate)) continue;
    given++;
    yield candidate;
  }
  return undefined;
}

/** The first address of the subnet that is not taken (freeAddresses' first). */
export function nextFree(subnet: Subnet, taken: ReadonlySet<string>): string | undefined {
  return freeAddresses(subnet, taken).next().value;
}

/** A container image reference: [registry[:port]/]name[:tag][@digest]. */
export function checkImage(text: string): string {
  if (text.length === 0 || text.length > 255 || !/^[a-z0-9][a-z0-9._\-/:]*(@sha256:[0-9a-f]{64})?$/u.test(text) || text.includes('//')) {
    throw new InvalidArgumentError(`invalid image '${text}': expected an image name like busybox or registry.example/busybox:1.36 (lower case)`);
  }
  return text;
}

/** A named network namespace (a file in /var/run/netns). */
export function checkNetnsName(text: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/u.test(text)) {
    throw new InvalidArgumentError(`invalid network namespace name '${text}': expected up to 63 letters, digits, '_', '.' or '-', not starting with a symbol`);
  }
  return text;
}
