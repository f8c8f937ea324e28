// Network namespaces, veth pairs and bridges for integration tests, and readers of `ip -json`.
// Every name is chosen by the caller (use a test prefix); nothing here touches eth0, lo, ifb*
// or host routes except the links the caller names.
import { sh, shOk, sleep, type RunOptions } from './run.js';

/**
 * Where to run: `undefined` = the host's namespace, a string = a named netns
 * (/var/run/netns/NAME), a number = the network namespace of that PID.
 */
export type NsRef = string | number | undefined;

/** argv that runs `argv` inside `ns`. */
export function inNs(ns: NsRef, argv: readonly string[]): string[] {
  if (ns === undefined) return [...argv];
  if (typeof ns === 'number') return ['nsenter', `--net=/proc/${ns}/ns/net`, ...argv];
  return ['ip', 'netns', 'exec', ns, ...argv];
}

/** argv for `ip ARGS` in `ns` (`ip -n NS` for a named netns, nsenter for a PID). */
export function ipArgv(args: readonly string[], ns?: NsRef): string[] {
  if (ns === undefined) return ['ip', ...args];
  if (typeof ns === 'number') return ['nsenter', `--net=/proc/${ns}/ns/net`, 'ip', ...args];
  return ['ip', '-n', ns, ...args];
}

/** Run `ip ARGS` in `ns`; returns stdout, throws with stderr on failure. */
export function ip(args: readonly string[], ns?: NsRef, opts?: RunOptions): Promise<string> {
  return shOk(ipArgv(args, ns), opts);
}

/** Run `ip -json ARGS` in `ns` and parse it ([] for empty output). */
export async function ipJson(args: readonly string[], ns?: NsRef): Promise<unknown[]> {
  const out = await ip(['-json', ...args], ns);
  if (out.trim() === '') return [];
  const parsed: unknown = JSON.parse(out);
  if (!Array.isArray(parsed)) throw new Error(`ip -json ${args.join(' ')}: not an array`);
  return parsed as unknown[];
}

// ---- shapes of `ip -json` output (only the fields tests use; all optional where ip omits) ----

export interface IpLinkInfo {
  info_kind?: string;
  info_data?: Record<string, unknown>;
  info_slave_kind?: string;
  info_slave_data?: Record<string, unknown>;
}

export interface IpLink {
  ifindex: number;
  ifname: string;
  flags: string[];
  mtu: number;
  operstate: string;
  link_type: string;
  address?: string;
  master?: string;
  /** Peer/parent name when it is in the same namespace. */
  link?: string | null;
  link_netnsid?: number;
  linkinfo?: IpLinkInfo;
  [key: string]: unknown;
}

export interface IpAddrInfo {
  family: 'inet' | 'inet6';
  local: string;
  prefixlen: number;
  broadcast?: string;
  scope: string;
  label?: string;
  tentative?: boolean;
  dadfailed?: boolean;
  [key: string]: unknown;
}

export interface IpAddrLink extends IpLink {
  addr_info: IpAddrInfo[];
}

export interface IpRoute {
  dst: string;
  gateway?: string;
  dev?: string;
  protocol?: string;
  scope?: string;
  prefsrc?: string;
  metric?: number;
  flags: string[];
  [key: string]: unknown;
}

function isErrNoDevice(e: unknown): boolean {
  return e instanceof Error && /does not exist|Cannot find device|No such device/i.test(e.message);
}

/** `ip -json -d link show dev DEV` in `ns`; undefined when there is no such link. */
export async function getLink(dev: string, ns?: NsRef): Promise<IpLink | undefined> {
  try {
    const [l] = (await ipJson(['-d', 'link', 'show', 'dev', dev], ns)) as IpLink[];
    return l;
  } catch (e) {
    if (isErrNoDevice(e)) return undefined;
    throw e;
  }
}

/** All links (with details) in `ns`. */
export async function listLinks(ns?: NsRef): Promise<IpLink[]> {
  return (await ipJson(['-d', 'link', 'show'], ns)) as IpLink[];
}

/** Addresses of DEV in `ns` (family: 4, 6 or both). */
export async function getAddrs(dev: string, ns?: NsRef, family?: 4 | 6): Promise<IpAddrInfo[]> {
  const fam = family === undefined ? [] : [`-${family}`];
  const [l] = (await ipJson([...fam, 'addr', 'show', 'dev', dev], ns)) as IpAddrLink[];
  return l?.addr_info ?? [];
}

/** Routes in `ns` (family 4 by default), from table `table` (default main). */
export async function getRoutes(ns?: NsRef, family: 4 | 6 = 4, table = 'main'): Promise<IpRoute[]> {
  return (await ipJson([`-${family}`, 'route', 'show', 'table', table], ns)) as IpRoute[];
}

/** Default route of `family` in `ns`, if any. */
export async function getDefaultRoute(ns?: NsRef, family: 4 | 6 = 4): Promise<IpRoute | undefined> {
  return (await getRoutes(ns, family)).find((r) => r.dst === 'default');
}

// ---- named netns ----

/** Names in `ip netns list`. */
export async function listNetns(): Promise<string[]> {
  const out = await shOk(['ip', 'netns', 'list']);
  return out
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0] ?? '')
    .filter((n) => n !== '');
}

/** Create a named netns with `lo` up (deletes a leftover of the same name first). */
export async function addNetns(name: string): Promise<void> {
  await delNetns(name);
  await shOk(['ip', 'netns', 'add', name]);
  await ip(['link', 'set', 'lo', 'up'], name);
}

/**
 * A named netns shaped like a container's: its own eth0 (a veth pair living inside it) with
 * ADDRESS and a default route via GATEWAY, so an attach with a gateway has one to replace.
 */
export async function addContainerLikeNetns(name: string, address: string, gateway: string): Promise<void> {
  await addNetns(name);
  await ip(['link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0p'], name);
  await ip(['link', 'set', 'eth0p', 'up'], name);
  await ip(['addr', 'add', address, 'dev', 'eth0'], name);
  await ip(['link', 'set', 'eth0', 'up'], name);
  await ip(['route', 'add', 'default', 'via', gateway, 'dev', 'eth0'], name);
}

/** Kill processes living in netns NAME and delete it; no error if it does not exist. */
export async function delNetns(name: string): Promise<void> {
  if (!(await listNetns()).includes(name)) return;
  const pids = await sh(['ip', 'netns', 'pids', name], { timeoutMs: 5_000 });
  for (const p of pids.stdout.split(/\s+/).filter((s) => /^\d+$/.test(s))) {
    try {
      process.kill(Number(p), 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  await shOk(['ip', 'netns', 'del', name]);
}

// ---- links ----

/** Create a Linux bridge NAME (in `ns`) and bring it up; reuses an existing bridge. */
export async function addBridge(name: string, ns?: NsRef): Promise<void> {
  const l = await getLink(name, ns);
  if (l === undefined) await ip(['link', 'add', name, 'type', 'bridge'], ns);
  else if (l.linkinfo?.info_kind !== 'bridge') throw new Error(`${name} exists and is not a bridge`);
  await ip(['link', 'set', name, 'up'], ns);
}

/** Delete link NAME in `ns`; no error if it does not exist. Refuses eth0, lo and ifb*. */
export async function delLink(name: string, ns?: NsRef): Promise<void> {
  if (ns === undefined && isProtectedLink(name)) throw new Error(`refusing to delete host link ${name}`);
  if ((await getLink(name, ns)) === undefined) return;
  await ip(['link', 'del', name], ns);
}

/** Host links no helper may ever delete or change. */
export function isProtectedLink(name: string): boolean {
  return name === 'eth0' || name === 'lo' || name.startsWith('ifb');
}

export interface VethOptions {
  /** Namespace the pair is created in (host by default). */
  ns?: NsRef;
  /** Namespace the peer is moved into, by netns name or PID. */
  peerNs?: string | number;
  /** Rename the peer to this once moved. */
  peerRename?: string;
}

/** Create veth NAME <-> PEER, optionally moving the peer into another namespace. Both stay down. */
export async function addVeth(name: string, peer: string, opts: VethOptions = {}): Promise<void> {
  await ip(['link', 'add', name, 'type', 'veth', 'peer', 'name', peer], opts.ns);
  if (opts.peerNs === undefined) return;
  await ip(['link', 'set', peer, 'netns', String(opts.peerNs)], opts.ns);
  if (opts.peerRename !== undefined && opts.peerRename !== peer) {
    await ip(['link', 'set', peer, 'name', opts.peerRename], opts.peerNs);
  }
}

export interface AttachOptions {
  /** Host-side veth name (must be unique, <= 15 chars). */
  hostIf: string;
  /** Guest-side interface name inside the namespace (default eth0). */
  guestIf?: string;
  /** Addresses with prefix, e.g. ['10.0.0.1/24', 'fd00::1/64']. */
  addrs?: string[];
  /** Namespace of the bridge (host by default). */
  bridgeNs?: NsRef;
}

/**
 * Plumb a named netns or PID onto BRIDGE by hand (without pipework): a veth pair whose host end
 * joins the bridge and whose other end is renamed guestIf inside `guest`, addressed and up.
 */
export async function attachToBridge(guest: string | number, bridge: string, o: AttachOptions): Promise<void> {
  const guestIf = o.guestIf ?? 'eth0';
  const tmpPeer = `${o.hostIf.slice(0, 13)}p`;
  await addVeth(o.hostIf, tmpPeer, { ns: o.bridgeNs, peerNs: guest, peerRename: guestIf });
  await ip(['link', 'set', o.hostIf, 'master', bridge, 'up'], o.bridgeNs);
  for (const a of o.addrs ?? []) {
    const six = a.includes(':');
    await ip([six ? '-6' : '-4', 'addr', 'add', a, 'dev', guestIf, ...(six ? ['nodad'] : [])], guest);
  }
  await ip(['link', 'set', guestIf, 'up'], guest);
}

// ---- reachability ----

export interface PingOptions {
  /** Keep retrying this long (default 3000 ms for IPv6 — DAD, 1500 ms for IPv4). */
  retryMs?: number;
}

/**
 * One echo from `from` to `addr` (iputils ping: `ping -c 1 -W 1`, `-6` for v6), retried until it
 * answers or `retryMs` passes. Returns true when a reply came back.
 */
export async function ping(from: NsRef, addr: string, family: 4 | 6 = 4, opts: PingOptions = {}): Promise<boolean> {
  const retryMs = opts.retryMs ?? (family === 6 ? 3_000 : 1_500);
  const deadline = Date.now() + retryMs;
  const argv = inNs(from, ['ping', ...(family === 6 ? ['-6'] : ['-4']), '-n', '-c', '1', '-W', '1', addr]);
  for (;;) {
    const r = await sh(argv, { timeoutMs: 5_000 });
    if (r.code === 0) return true;
    if (Date.now() >= deadline) return false;
    await sleep(200);
  }
}

/** Wait until DEV in `ns` has no tentative IPv6 address (DAD done), at most timeoutMs. */
export async function waitDad(dev: string, ns?: NsRef, timeoutMs = 3_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const addrs = await getAddrs(dev, ns, 6);
    if (!addrs.some((a) => a.tentative === true)) return;
    if (Date.now() >= deadline) throw new Error(`IPv6 DAD on ${dev} not done after ${timeoutMs} ms`);
    await sleep(100);
  }
}
