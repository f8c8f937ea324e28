/**
 * The `ip` lines our plans are made of, read as netlink operations. Only the forms the planner
 * writes for the common attach (a veth pair, link settings, an address, routes) are known; any
 * other line gives undefined, and its whole batch then goes to iproute2 as always.
 */
import { AF_INET, AF_INET6, ipBytes, type IpBytes, type LinkChange } from './message.js';

/** A namespace named the way a child process names it (/proc/self/fd/N), mapped later. */
export type NsRef = string;

export interface VethOp { op: 'veth'; name: string; mtu?: number; peer: { name: string; mtu?: number; mac?: string; ns?: NsRef } }

export type NetlinkOp =
  | VethOp
  | { op: 'bridge'; name: string }
  | { op: 'set'; dev: string; change: Omit<LinkChange, 'master' | 'nsFd'> & { master?: string | null; ns?: NsRef } }
  | { op: 'del'; dev: string }
  | { op: 'addr'; dev: string; addr: IpBytes; prefix: number; brd?: IpBytes }
  | {
    op: 'route'; verb: 'add' | 'replace' | 'del'; family: typeof AF_INET | typeof AF_INET6; dst?: Uint8Array; dstLen: number;
    gateway?: Uint8Array; dev?: string; protocol?: number; metric?: number;
  };

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/iu;
const PROTOCOLS: Record<string, number> = { kernel: 2, boot: 3, static: 4, ra: 9, dhcp: 16 };

function uint(text: string | undefined, max: number): number | undefined {
  if (text === undefined || !/^\d+$/u.test(text)) return undefined;
  const n = Number(text);
  return n <= max ? n : undefined;
}

/** Key/value options in any order; undefined when one is unknown or malformed. */
function options(tokens: readonly string[], known: Record<string, (v: string) => boolean>): Map<string, string> | undefined {
  const out = new Map<string, string>();
  for (let i = 0; i < tokens.length; i += 2) {
    const key = tokens[i]!;
    const value = tokens[i + 1];
    const check = known[key];
    if (!check || value === undefined || out.has(key) || !check(value)) return undefined;
    out.set(key, value);
  }
  return out;
}

const isMtu = (v: string): boolean => uint(v, 0xffffffff) !== undefined;
const isMac = (v: string): boolean => MAC.test(v);
const isNs = (v: string): boolean => /^\/proc\/self\/fd\/\d+$/u.test(v);

function linkAdd(t: readonly string[]): NetlinkOp | undefined {
  // link add name A type bridge
  if (t.length === 6 && t[2] === 'name' && t[4] === 'type' && t[5] === 'bridge') return { op: 'bridge', name: t[3]! };
  // link add name A [mtu M] type veth peer name B [mtu M] [address MAC] [netns NS]
  const name = t[3];
  const typeAt = t.indexOf('type');
  const peerName = t[typeAt + 4];
  if (t[2] !== 'name' || name === undefined || typeAt < 0 || peerName === undefined) return undefined;
  if (t[typeAt + 1] !== 'veth' || t[typeAt + 2] !== 'peer' || t[typeAt + 3] !== 'name') return undefined;
  const own = options(t.slice(4, typeAt), { mtu: isMtu });
  const peer = options(t.slice(typeAt + 5), { mtu: isMtu, address: isMac, netns: isNs });
  if (!own || !peer) return undefined;
  const op: VethOp = { op: 'veth', name, peer: { name: peerName } };
  if (own.has('mtu')) op.mtu = Number(own.get('mtu'));
  if (peer.has('mtu')) op.peer.mtu = Number(peer.get('mtu'));
  if (peer.has('address')) op.peer.mac = peer.get('address')!;
  if (peer.has('netns')) op.peer.ns = peer.get('netns')!;
  return op;
}

function linkSet(t: readonly string[]): NetlinkOp | undefined {
  if (t[2] !== 'dev' || t[3] === undefined) return undefined;
  const change: Extract<NetlinkOp, { op: 'set' }>['change'] = {};
  for (let i = 4; i < t.length; i++) {
    const word = t[i]!;
    if (word === 'up' || word === 'down') {
      if (change.up !== undefined) return undefined;
      change.up = word === 'up';
      continue;
    }
    if (word === 'nomaster') {
      if (change.master !== undefined) return undefined;
      change.master = null;
      continue;
    }
    const value = t[++i];
    if (value === undefined) return undefined;
    if (word === 'alias' && change.alias === undefined) change.alias = value;
    else if (word === 'master' && change.master === undefined) change.master = value;
    else if (word === 'address' && change.mac === undefined && isMac(value)) change.mac = value;
    else if (word === 'mtu' && change.mtu === undefined && isMtu(value)) change.mtu = Number(value);
    else if (word === 'name' && change.name === undefined) change.name = value;
    else if (word === 'netns' && change.ns === undefined && isNs(value)) change.ns = value;
    else return undefined;
  }
  return { op: 'set', dev: t[3], change };
}

function addrAdd(t: readonly string[]): NetlinkOp | undefined {
  // addr add CIDR [brd B] dev X
  const [addrText, lenText] = (t[2] ?? '').split('/');
  const addr = ipBytes(addrText ?? '');
  if (!addr) return undefined;
  const prefix = uint(lenText ?? (addr.family === AF_INET ? '32' : '128'), addr.family === AF_INET ? 32 : 128);
  const opts = options(t.slice(3), { brd: (v) => ipBytes(v)?.family === addr.family, dev: (v) => v !== '' });
  if (prefix === undefined || !opts?.has('dev')) return undefined;
  const op: NetlinkOp = { op: 'addr', dev: opts.get('dev')!, addr, prefix };
  if (opts.has('brd')) op.brd = ipBytes(opts.get('brd')!)!;
  return op;
}

function routeOp(t: readonly string[]): NetlinkOp | undefined {
  const verb = t[1];
  if (verb !== 'add' && verb !== 'replace' && verb !== 'del') return undefined;
  const opts = options(t.slice(3), {
    via: (v) => ipBytes(v) !== undefined,
    dev: (v) => v !== '',
    proto: (v) => PROTOCOLS[v] !== undefined || uint(v, 255) !== undefined,
    metric: (v) => uint(v, 0xffffffff) !== undefined,
  });
  if (!opts) return undefined;
  const gw = opts.has('via') ? ipBytes(opts.get('via')!) : undefined;
  const dstText = t[2];
  let family: typeof AF_INET | typeof AF_INET6;
  let dst: Uint8Array | undefined;
  let dstLen: number;
  if (dstText === 'default') {
    family = gw?.family ?? AF_INET;
    dstLen = 0;
  } else {
    const [a, l] = (dstText ?? '').split('/');
    const ip = ipBytes(a ?? '');
    if (!ip) return undefined;
    family = ip.family;
    const len = uint(l ?? (family === AF_INET ? '32' : '128'), family === AF_INET ? 32 : 128);
    if (len === undefined) return undefined;
    dstLen = len;
    if (len > 0) dst = ip.bytes;
  }
  if (gw && gw.family !== family) return undefined;
  const op: NetlinkOp = { op: 'route', verb, family, dstLen };
  if (dst) op.dst = dst;
  if (gw) op.gateway = gw.bytes;
  if (opts.has('dev')) op.dev = opts.get('dev')!;
  if (opts.has('proto')) op.protocol = PROTOCOLS[opts.get('proto')!] ?? Number(opts.get('proto'));
  if (opts.has('metric')) op.metric = Number(opts.get('metric'));
  return op;
}

/** One `ip` line (the words of a batch line) as a netlink operation, or undefined. */
export function translateIpLine(args: readonly string[]): NetlinkOp | undefined {
  const [object, verb] = args;
  if (object === 'link' && verb === 'add') return linkAdd(args);
  if (object === 'link' && verb === 'set') return linkSet(args);
  if (object === 'link' && verb === 'del' && args[2] === 'dev' && args[3] !== undefined && args.length === 4) return { op: 'del', dev: args[3] };
  if (object === 'addr' && verb === 'add') return addrAdd(args);
  if (object === 'route') return routeOp(args);
  return undefined;
}

/** Every line of a batch, or undefined when any one of them is not known. */
export function translateBatch(lines: readonly (readonly string[])[]): NetlinkOp[] | undefined {
  const ops: NetlinkOp[] = [];
  for (const l of lines) {
    const op = translateIpLine(l);
    if (!op) return undefined;
    ops.push(op);
  }
  return ops;
}
