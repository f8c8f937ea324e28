/**
 * The in-process prototype (PIPEWORK_NETLINK=1): a plan's ip lines sent as route netlink
 * messages from this process, instead of one `ip` process per place. It needs the native addon
 * (`npm run build:native`, native/netlink.c). Without it, or for any line it does not know,
 * iproute2 runs the batch as always.
 */
import { closeSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { endianness } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CHILD_NS_FD, ownNetnsFd } from '../runner.js';
import * as msg from './message.js';
import { translateBatch, type NetlinkOp, type NsRef } from './translate.js';

interface Addon {
  openRoute(nsFd: number): number;
  transact(fd: number, request: Buffer): Buffer;
  strerror(errno: number): string;
}

const ADDON_FILE = 'native/build/Release/pipework_netlink.node';
let addon: Addon | null | undefined;

/** The addon, found next to this package (the bundle and tsc's output sit at different depths). */
export function loadAddon(): Addon | undefined {
  if (addon !== undefined) return addon ?? undefined;
  addon = null;
  if (endianness() !== 'LE') return undefined;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let up = 0; up < 5; up++, dir = dirname(dir)) {
    const file = process.env['PIPEWORK_NETLINK_ADDON'] ?? join(dir, ADDON_FILE);
    if (!existsSync(file)) continue;
    try {
      addon = createRequire(import.meta.url)(file) as Addon;
    } catch (err) {
      process.stderr.write(`pipework: warning: PIPEWORK_NETLINK=1 but the addon does not load (${(err as Error).message.split('\n')[0]}); using iproute2\n`);
    }
    return addon ?? undefined;
  }
  process.stderr.write('pipework: warning: PIPEWORK_NETLINK=1 but the addon is not built (npm run build:native); using iproute2\n');
  return undefined;
}

class NetlinkError extends Error {}

const RT_SCOPE_LINK = 253;

/** One route netlink socket, in one namespace, with the indexes it has looked up. */
class Socket {
  private seq = 1;
  private readonly indexes = new Map<string, number>();
  constructor(private readonly lib: Addon, readonly fd: number) {}

  private call(request: (seq: number) => Buffer): msg.Reply {
    const seq = this.seq++;
    let answer: Buffer;
    try {
      answer = this.lib.transact(this.fd, request(seq));
    } catch (err) {
      throw new NetlinkError((err as Error).message);
    }
    const replies = msg.parseReplies(answer);
    const reply = replies.find((r) => r.seq === seq);
    if (!reply) throw new NetlinkError('netlink: no answer to the request');
    if (reply.kind === 'error') {
      throw new NetlinkError(reply.text !== undefined ? `Error: ${reply.text}.` : `RTNETLINK answers: ${this.lib.strerror(reply.errno)}`);
    }
    return reply;
  }

  index(name: string): number {
    const known = this.indexes.get(name);
    if (known !== undefined) return known;
    let reply: msg.Reply;
    try {
      reply = this.call((seq) => msg.getLinkByName(seq, name));
    } catch (err) {
      if (err instanceof NetlinkError) throw new NetlinkError(`Cannot find device "${name}"`);
      throw err;
    }
    if (reply.kind !== 'link') throw new NetlinkError(`Cannot find device "${name}"`);
    this.indexes.set(name, reply.index);
    return reply.index;
  }

  run(op: NetlinkOp, nsFd: (ref: NsRef) => number): void {
    switch (op.op) {
      case 'veth': {
        const peer = { name: op.peer.name, ...(op.peer.mtu !== undefined && { mtu: op.peer.mtu }), ...(op.peer.mac !== undefined && { mac: op.peer.mac }), ...(op.peer.ns !== undefined && { nsFd: nsFd(op.peer.ns) }) };
        this.call((seq) => msg.newVeth(seq, { name: op.name, ...(op.mtu !== undefined && { mtu: op.mtu }), peer }));
        return;
      }
      case 'bridge':
        this.call((seq) => msg.newBridge(seq, op.name));
        return;
      case 'set': {
        const { master, ns, ...rest } = op.change;
        const change: msg.LinkChange = { ...rest };
        if (master !== undefined) change.master = master === null ? 0 : this.index(master);
        if (ns !== undefined) change.nsFd = nsFd(ns);
        const index = this.index(op.dev);
        this.call((seq) => msg.setLink(seq, index, change));
        if (change.name !== undefined || change.nsFd !== undefined) this.indexes.delete(op.dev);
        return;
      }
      case 'del': {
        const index = this.index(op.dev);
        this.call((seq) => msg.delLink(seq, index));
        this.indexes.delete(op.dev);
        return;
      }
      case 'addr': {
        const index = this.index(op.dev);
        this.call((seq) => msg.newAddr(seq, index, op.addr, op.prefix, op.brd));
        return;
      }
      case 'route': {
        const { verb, dev, op: _op, ...rest } = op;
        const spec: msg.RouteSpec = { ...rest, op: verb };
        if (dev !== undefined) spec.oif = this.index(dev);
        this.call((seq) => msg.route(seq, spec));
        return;
      }
    }
  }

  /** Every address of the link with this index (a dump of the host's, read whole). */
  addresses(index: number): msg.DumpedAddr[] {
    const seq = this.seq++;
    let answer: Buffer;
    try {
      answer = this.lib.transact(this.fd, msg.getAddrDump(seq));
    } catch (err) {
      throw new NetlinkError((err as Error).message);
    }
    const { addrs, done, errno } = msg.parseAddrDump(answer, seq);
    if (!done || errno !== undefined) throw new NetlinkError(`netlink: the address dump ${errno !== undefined ? `failed: ${this.lib.strerror(errno)}` : 'was cut short'}`);
    return addrs.filter((a) => a.index === index);
  }

  /** Indexes are kept for one batch only: between batches other programs may change links. */
  forget(): void {
    this.indexes.clear();
  }

  close(): void {
    closeSync(this.fd);
  }
}

let hostSocket: Socket | undefined;

export interface NetlinkBatchOptions {
  /** Run inside this namespace (an open fd); else on the host. */
  enterFd?: number;
  /** How child processes would have named namespaces: /proc/self/fd/3+k is fds[k]. */
  fds: readonly number[];
  /** Go on after a failing line (ip -force); the first failure is reported. */
  force?: boolean;
}

/**
 * Run a batch in-process. Returns 'unsupported' (nothing was done: use iproute2), undefined
 * when every line succeeded, or the first failing line and the message ip would print.
 */
export function netlinkBatch(lines: readonly (readonly string[])[], opts: NetlinkBatchOptions): 'unsupported' | undefined | { failedLine: number; message: string } {
  const lib = loadAddon();
  const ops = lib && translateBatch(lines);
  if (!lib || !ops) return 'unsupported';
  const refs = ops.flatMap((o) => (o.op === 'veth' ? [o.peer.ns] : o.op === 'set' ? [o.change.ns] : [])).filter((r): r is string => r !== undefined);
  const fdOf = (ref: NsRef): number | undefined => opts.fds[Number(ref.slice('/proc/self/fd/'.length)) - CHILD_NS_FD];
  if (refs.some((r) => fdOf(r) === undefined)) return 'unsupported';

  let socket: Socket;
  try {
    socket = opts.enterFd === undefined ? (hostSocket ??= new Socket(lib, lib.openRoute(-1))) : new Socket(lib, lib.openRoute(opts.enterFd));
  } catch {
    // No socket there (setns refused, say): iproute2 tries, and words its own error.
    return 'unsupported';
  }
  socket.forget();
  let first: { failedLine: number; message: string } | undefined;
  try {
    ops.forEach((op, i) => {
      if (first && !opts.force) return;
      try {
        socket.run(op, (ref) => fdOf(ref)!);
      } catch (err) {
        if (!(err instanceof NetlinkError)) throw err;
        first ??= { failedLine: i, message: err.message };
      }
    });
  } finally {
    if (socket !== hostSocket) socket.close();
  }
  return first;
}

/**
 * The addresses of a host link, link-scope ones left out (what `ip -json addr show dev NAME`
 * lists as `local`/`prefixlen`), read in-process: 'unsupported' when the addon is not there or
 * the kernel's answer cannot be read (iproute2 is asked instead).
 */
export function hostAddresses(name: string): msg.DumpedAddr[] | 'unsupported' {
  const lib = loadAddon();
  if (!lib) return 'unsupported';
  try {
    const socket = hostSocket ??= new Socket(lib, lib.openRoute(-1));
    socket.forget();
    return socket.addresses(socket.index(name)).filter((a) => a.scope !== RT_SCOPE_LINK);
  } catch (err) {
    if (err instanceof NetlinkError) return 'unsupported';
    throw err;
  }
}

/** The namespace fds a batch's lines may name, as ipBatch hands them to a child. */
export function childFds(opts: { ns?: { fd: number }; fds?: number[] }): number[] {
  if (opts.fds) return opts.fds;
  return opts.ns ? [opts.ns.fd, ownNetnsFd()] : [];
}
