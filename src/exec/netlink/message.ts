/**
 * Route netlink messages (rtnetlink(7)), built and read as plain bytes: no I/O here.
 * Only what the in-process prototype sends: links (new, set, delete, get by name), addresses
 * (new, and a dump of them), and routes. Layouts are the kernel's UAPI structs in host byte order (little-endian on
 * x86-64 and arm64, the two targets; `os.endianness()` is checked where the addon loads).
 */

export const RTM = { NEWLINK: 16, DELLINK: 17, GETLINK: 18, NEWADDR: 20, GETADDR: 22, NEWROUTE: 24, DELROUTE: 25 } as const;
export const NLM_F = { REQUEST: 0x1, ACK: 0x4, REPLACE: 0x100, EXCL: 0x200, CREATE: 0x400, DUMP: 0x300 } as const;
const NLMSG_ERROR = 2;
const NLMSG_DONE = 3;
/** In an error message's flags: only the request's header is echoed (not its payload). */
const NLM_F_CAPPED = 0x100;
/** In an error message's flags: extended-ack attributes follow the echoed request. */
const NLM_F_ACK_TLVS = 0x200;
/** In a dump's messages: the kernel's tables changed during it (its answer may be inconsistent). */
const NLM_F_DUMP_INTR = 0x10;
const NLMSGERR_ATTR_MSG = 1;

export const IFLA = {
  ADDRESS: 1, IFNAME: 3, MTU: 4, MASTER: 10, LINKINFO: 18, IFALIAS: 20, NET_NS_FD: 28,
} as const;
const IFLA_INFO_KIND = 1;
const IFLA_INFO_DATA = 2;
const VETH_INFO_PEER = 1;
const IFA_ADDRESS = 1;
const IFA_LOCAL = 2;
const IFA_BROADCAST = 4;
const RTA = { DST: 1, OIF: 4, GATEWAY: 5, PRIORITY: 6 } as const;

export const AF_UNSPEC = 0;
export const AF_INET = 2;
export const AF_INET6 = 10;
export const IFF_UP = 0x1;
const RT_TABLE_MAIN = 254;
const RT_SCOPE_UNIVERSE = 0;
const RT_SCOPE_HOST = 254;
const RT_SCOPE_LINK = 253;
const RT_SCOPE_NOWHERE = 255;
const RTN_UNICAST = 1;

/** One attribute: its type and payload, or nested attributes. */
export interface Attr {
  type: number;
  data: Uint8Array | Attr[];
}

const align4 = (n: number): number => (n + 3) & ~3;

function attrBytes(attrs: readonly Attr[]): Buffer {
  const parts: Buffer[] = [];
  for (const a of attrs) {
    const payload = Array.isArray(a.data) ? attrBytes(a.data) : Buffer.from(a.data);
    const head = Buffer.alloc(4);
    head.writeUInt16LE(4 + payload.length, 0);
    head.writeUInt16LE(a.type, 2);
    parts.push(head, payload, Buffer.alloc(align4(payload.length) - payload.length));
  }
  return Buffer.concat(parts);
}

export const u32 = (n: number): Uint8Array => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0, 0);
  return b;
};
export const i32 = (n: number): Uint8Array => {
  const b = Buffer.alloc(4);
  b.writeInt32LE(n, 0);
  return b;
};
/** A C string with its NUL, as iproute2 sends names. */
export const cstr = (s: string): Uint8Array => Buffer.from(`${s}\0`, 'utf8');
/** Bytes of a string without a NUL (an interface alias, a link kind). */
export const str = (s: string): Uint8Array => Buffer.from(s, 'utf8');
export const macBytes = (mac: string): Uint8Array => Buffer.from(mac.split(':').map((h) => parseInt(h, 16)));

/** struct ifinfomsg. */
export function ifinfomsg(opts: { index?: number; flags?: number; change?: number } = {}): Buffer {
  const b = Buffer.alloc(16);
  b.writeUInt8(AF_UNSPEC, 0);
  b.writeInt32LE(opts.index ?? 0, 4);
  b.writeUInt32LE(opts.flags ?? 0, 8);
  b.writeUInt32LE(opts.change ?? 0, 12);
  return b;
}

/** One message: nlmsghdr, the fixed header of its family, then attributes. */
export function message(type: number, flags: number, seq: number, head: Uint8Array, attrs: readonly Attr[] = []): Buffer {
  const body = Buffer.concat([Buffer.from(head), Buffer.alloc(align4(head.length) - head.length), attrBytes(attrs)]);
  const hdr = Buffer.alloc(16);
  hdr.writeUInt32LE(16 + body.length, 0);
  hdr.writeUInt16LE(type, 4);
  hdr.writeUInt16LE(flags, 6);
  hdr.writeUInt32LE(seq >>> 0, 8);
  hdr.writeUInt32LE(0, 12);
  return Buffer.concat([hdr, body]);
}

/** An address as bytes, with its family. */
export interface IpBytes {
  family: typeof AF_INET | typeof AF_INET6;
  bytes: Uint8Array;
}

export function ipBytes(text: string): IpBytes | undefined {
  if (/^\d{1,3}(\.\d{1,3}){3}$/u.test(text)) {
    const parts = text.split('.').map(Number);
    return parts.every((p) => p <= 255) ? { family: AF_INET, bytes: Uint8Array.from(parts) } : undefined;
  }
  if (!text.includes(':') || !/^[0-9a-fA-F:.]+$/u.test(text)) return undefined;
  const [headText, tailText, extra] = text.split('::');
  if (extra !== undefined) return undefined;
  const groups = (s: string | undefined): number[] | undefined => {
    if (s === undefined || s === '') return [];
    const out: number[] = [];
    for (const g of s.split(':')) {
      if (g.includes('.')) {
        const v4 = ipBytes(g);
        if (v4?.family !== AF_INET) return undefined;
        out.push((v4.bytes[0]! << 8) | v4.bytes[1]!, (v4.bytes[2]! << 8) | v4.bytes[3]!);
      } else if (/^[0-9a-fA-F]{1,4}$/u.test(g)) out.push(parseInt(g, 16));
      else return undefined;
    }
    return out;
  };
  const head = groups(headText);
  const tail = tailText === undefined ? [] : groups(tailText);
  if (!head || !tail) return undefined;
  const fill = 8 - head.length - tail.length;
  if (tailText === undefined ? fill !== 0 : fill < 1) return undefined;
  const all = [...head, ...new Array<number>(fill).fill(0), ...tail];
  const bytes = new Uint8Array(16);
  all.forEach((g, i) => {
    bytes[2 * i] = g >> 8;
    bytes[2 * i + 1] = g & 0xff;
  });
  return { family: AF_INET6, bytes };
}

/** RTM_GETLINK by name: how the prototype learns an interface's index. */
export function getLinkByName(seq: number, name: string): Buffer {
  return message(RTM.GETLINK, NLM_F.REQUEST, seq, ifinfomsg(), [{ type: IFLA.IFNAME, data: cstr(name) }]);
}

export interface VethSpec {
  name: string;
  mtu?: number;
  peer: { name: string; mtu?: number; mac?: string; nsFd?: number };
}

/** `ip link add name A [mtu M] type veth peer name B [mtu M] [address MAC] [netns FD]`. */
export function newVeth(seq: number, v: VethSpec): Buffer {
  const peerAttrs: Attr[] = [{ type: IFLA.IFNAME, data: cstr(v.peer.name) }];
  if (v.peer.mtu !== undefined) peerAttrs.push({ type: IFLA.MTU, data: u32(v.peer.mtu) });
  if (v.peer.mac !== undefined) peerAttrs.push({ type: IFLA.ADDRESS, data: macBytes(v.peer.mac) });
  if (v.peer.nsFd !== undefined) peerAttrs.push({ type: IFLA.NET_NS_FD, data: u32(v.peer.nsFd) });
  const peer = Buffer.concat([ifinfomsg(), attrBytes(peerAttrs)]);
  const attrs: Attr[] = [{ type: IFLA.IFNAME, data: cstr(v.name) }];
  if (v.mtu !== undefined) attrs.push({ type: IFLA.MTU, data: u32(v.mtu) });
  attrs.push({
    type: IFLA.LINKINFO,
    data: [
      { type: IFLA_INFO_KIND, data: str('veth') },
      { type: IFLA_INFO_DATA, data: [{ type: VETH_INFO_PEER, data: peer }] },
    ],
  });
  return message(RTM.NEWLINK, NLM_F.REQUEST | NLM_F.ACK | NLM_F.CREATE | NLM_F.EXCL, seq, ifinfomsg(), attrs);
}

/** `ip link add name B type bridge`. */
export function newBridge(seq: number, name: string): Buffer {
  return message(RTM.NEWLINK, NLM_F.REQUEST | NLM_F.ACK | NLM_F.CREATE | NLM_F.EXCL, seq, ifinfomsg(), [
    { type: IFLA.IFNAME, data: cstr(name) },
    { type: IFLA.LINKINFO, data: [{ type: IFLA_INFO_KIND, data: str('bridge') }] },
  ]);
}

export interface LinkChange {
  up?: boolean;
  alias?: string;
  /** Index of the new master; 0 for none. */
  master?: number;
  mac?: string;
  mtu?: number;
  name?: string;
  nsFd?: number;
}

/** `ip link set dev X ...` on a link known by its index. */
export function setLink(seq: number, index: number, c: LinkChange): Buffer {
  const attrs: Attr[] = [];
  if (c.name !== undefined) attrs.push({ type: IFLA.IFNAME, data: cstr(c.name) });
  if (c.mtu !== undefined) attrs.push({ type: IFLA.MTU, data: u32(c.mtu) });
  if (c.mac !== undefined) attrs.push({ type: IFLA.ADDRESS, data: macBytes(c.mac) });
  if (c.master !== undefined) attrs.push({ type: IFLA.MASTER, data: u32(c.master) });
  if (c.alias !== undefined) attrs.push({ type: IFLA.IFALIAS, data: str(c.alias) });
  if (c.nsFd !== undefined) attrs.push({ type: IFLA.NET_NS_FD, data: u32(c.nsFd) });
  const head = c.up === undefined ? ifinfomsg({ index }) : ifinfomsg({ index, flags: c.up ? IFF_UP : 0, change: IFF_UP });
  return message(RTM.NEWLINK, NLM_F.REQUEST | NLM_F.ACK, seq, head, attrs);
}

export function delLink(seq: number, index: number): Buffer {
  return message(RTM.DELLINK, NLM_F.REQUEST | NLM_F.ACK, seq, ifinfomsg({ index }));
}

/** `ip addr add ADDR/LEN [brd B] dev X`: local and address both ADDR, as ip sends them. */
export function newAddr(seq: number, index: number, addr: IpBytes, prefix: number, brd?: IpBytes): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt8(addr.family, 0);
  head.writeUInt8(prefix, 1);
  // ip gives 127.0.0.0/8 host scope; everything else is universe.
  head.writeUInt8(addr.family === AF_INET && addr.bytes[0] === 127 ? RT_SCOPE_HOST : RT_SCOPE_UNIVERSE, 3);
  head.writeUInt32LE(index, 4);
  const attrs: Attr[] = [{ type: IFA_LOCAL, data: addr.bytes }, { type: IFA_ADDRESS, data: addr.bytes }];
  if (brd) attrs.push({ type: IFA_BROADCAST, data: brd.bytes });
  return message(RTM.NEWADDR, NLM_F.REQUEST | NLM_F.ACK | NLM_F.CREATE | NLM_F.EXCL, seq, head, attrs);
}

/** RTM_GETADDR dump of every address on the host (`ip addr show`): the kernel filters none out. */
export function getAddrDump(seq: number): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt8(AF_UNSPEC, 0);
  return message(RTM.GETADDR, NLM_F.REQUEST | NLM_F.DUMP, seq, head);
}

/** One address of a dump, as `ip -json addr show` would give it (local, prefixlen, scope). */
export interface DumpedAddr {
  index: number;
  family: typeof AF_INET | typeof AF_INET6;
  prefixlen: number;
  scope: number;
  /** IFA_LOCAL where there is one (IPv4), else IFA_ADDRESS: 4 or 16 bytes. */
  bytes: Uint8Array;
}

/**
 * The addresses in a dump's answer (RTM_NEWADDR messages); anything malformed ends the reading,
 * and an interrupted dump is not done (the caller asks iproute2 instead).
 */
export function parseAddrDump(buf: Buffer, seq: number): { addrs: DumpedAddr[]; done: boolean; errno?: number } {
  const addrs: DumpedAddr[] = [];
  let off = 0;
  while (off + 16 <= buf.length) {
    const len = buf.readUInt32LE(off);
    if (len < 16 || off + len > buf.length) break;
    const type = buf.readUInt16LE(off + 4);
    if (buf.readUInt32LE(off + 8) === seq) {
      // Addresses changed while the kernel listed them: the list may lack one (iproute2 warns).
      if ((buf.readUInt16LE(off + 6) & NLM_F_DUMP_INTR) !== 0) return { addrs, done: false };
      if (type === NLMSG_DONE) return { addrs, done: true };
      if (type === NLMSG_ERROR && len >= 20) return { addrs, done: true, errno: -buf.readInt32LE(off + 16) };
      if (type === RTM.NEWADDR && len >= 24) {
        const family = buf.readUInt8(off + 16);
        let local: Uint8Array | undefined;
        let address: Uint8Array | undefined;
        for (let p = off + 24; p + 4 <= off + len;) {
          const alen = buf.readUInt16LE(p);
          if (alen < 4 || p + alen > off + len) break;
          const atype = buf.readUInt16LE(p + 2);
          if (atype === IFA_LOCAL) local = buf.subarray(p + 4, p + alen);
          else if (atype === IFA_ADDRESS) address = buf.subarray(p + 4, p + alen);
          p += align4(alen);
        }
        const bytes = local ?? address;
        const size = family === AF_INET ? 4 : family === AF_INET6 ? 16 : 0;
        if (bytes !== undefined && size > 0 && bytes.length === size) {
          addrs.push({ index: buf.readInt32LE(off + 20), family: family as DumpedAddr['family'], prefixlen: buf.readUInt8(off + 17), scope: buf.readUInt8(off + 19), bytes: Uint8Array.from(bytes) });
        }
      }
    }
    off += align4(len);
  }
  return { addrs, done: false };
}

export interface RouteSpec {
  op: 'add' | 'replace' | 'del';
  family: typeof AF_INET | typeof AF_INET6;
  dst?: Uint8Array;
  dstLen: number;
  gateway?: Uint8Array;
  oif?: number;
  protocol?: number;
  metric?: number;
}

/** `ip route add|replace|del DST [via GW] [dev X] [proto P] [metric M]` in the main table. */
export function route(seq: number, r: RouteSpec): Buffer {
  const head = Buffer.alloc(12);
  head.writeUInt8(r.family, 0);
  head.writeUInt8(r.dstLen, 1);
  head.writeUInt8(RT_TABLE_MAIN, 4);
  if (r.op === 'del') {
    head.writeUInt8(r.protocol ?? 0, 5);
    head.writeUInt8(RT_SCOPE_NOWHERE, 6);
  } else {
    head.writeUInt8(r.protocol ?? 3 /* boot */, 5);
    // As ip: an IPv4 route with no gateway is a link-scope route.
    head.writeUInt8(r.family === AF_INET && r.gateway === undefined ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE, 6);
    head.writeUInt8(RTN_UNICAST, 7);
  }
  const attrs: Attr[] = [];
  if (r.dst) attrs.push({ type: RTA.DST, data: r.dst });
  if (r.gateway) attrs.push({ type: RTA.GATEWAY, data: r.gateway });
  if (r.oif !== undefined) attrs.push({ type: RTA.OIF, data: u32(r.oif) });
  if (r.metric !== undefined) attrs.push({ type: RTA.PRIORITY, data: u32(r.metric) });
  const flags = r.op === 'del' ? NLM_F.REQUEST | NLM_F.ACK
    : r.op === 'replace' ? NLM_F.REQUEST | NLM_F.ACK | NLM_F.CREATE | NLM_F.REPLACE
      : NLM_F.REQUEST | NLM_F.ACK | NLM_F.CREATE | NLM_F.EXCL;
  return message(r.op === 'del' ? RTM.DELROUTE : RTM.NEWROUTE, flags, seq, head, attrs);
}

export type Reply =
  | { kind: 'ack'; seq: number }
  | { kind: 'error'; seq: number; errno: number; text?: string }
  | { kind: 'link'; seq: number; index: number }
  | { kind: 'other'; seq: number; type: number };

/** The messages of one datagram from the kernel. */
export function parseReplies(buf: Buffer): Reply[] {
  const out: Reply[] = [];
  let off = 0;
  while (off + 16 <= buf.length) {
    const len = buf.readUInt32LE(off);
    if (len < 16 || off + len > buf.length) break;
    const type = buf.readUInt16LE(off + 4);
    const flags = buf.readUInt16LE(off + 6);
    const seq = buf.readUInt32LE(off + 8);
    if (type === NLMSG_ERROR && len >= 20) {
      const err = buf.readInt32LE(off + 16);
      if (err === 0) out.push({ kind: 'ack', seq });
      else {
        const text = (flags & NLM_F_ACK_TLVS) !== 0 ? extAckText(buf, off, len, (flags & NLM_F_CAPPED) !== 0) : undefined;
        out.push({ kind: 'error', seq, errno: -err, ...(text !== undefined && { text }) });
      }
    } else if (type === RTM.NEWLINK && len >= 32) {
      out.push({ kind: 'link', seq, index: buf.readInt32LE(off + 20) });
    } else if (type !== NLMSG_DONE) {
      out.push({ kind: 'other', seq, type });
    }
    off += align4(len);
  }
  return out;
}

/** The kernel's own text of an error (NLMSGERR_ATTR_MSG), after the echoed request header. */
function extAckText(buf: Buffer, off: number, len: number, capped: boolean): string | undefined {
  // Our header (16), the error (4), then the request as echoed: its header alone when capped,
  // else the whole request as we sent it.
  const echoed = capped ? 16 : align4(Math.max(16, Math.min(buf.readUInt32LE(off + 20), len - 20)));
  let p = off + 20 + echoed;
  while (p + 4 <= off + len) {
    const alen = buf.readUInt16LE(p);
    const atype = buf.readUInt16LE(p + 2) & 0x3fff;
    if (alen < 4) break;
    if (atype === NLMSGERR_ATTR_MSG) return buf.toString('utf8', p + 4, p + alen).replace(/\0+$/u, '');
    p += align4(alen);
  }
  return undefined;
}
