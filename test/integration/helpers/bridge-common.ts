// Shared pieces of the Linux-bridge integration tests (bridge*.test.ts): running pipework,
// reading a guest's exact state, and a host snapshot scoped to what these tests (and pipework
// runs on their guests) can create, so another suite running on the same host at the same
// time does not make them fail.
//
// Naming: netns `pwb-…`, bridges `brpwb…` (or `pwb…` when a test makes its own), other host
// links `pwb…`. Host ends that pipework names itself for a netns guest are `pwv` + 12 hex: those
// are recognised by their peer living in one of our `pwb-` namespaces.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { cleanupPrefix, snapshotHost, type HostSnapshot } from './guard.js';
import { addVeth, ip, ipJson, isProtectedLink, listLinks, type IpLink, type IpRoute, type NsRef } from './netns.js';
import { runPipework, sh, shOk, sleep, waitFor, type RunResult } from './run.js';

export const NS_PREFIX = 'pwb-';
export const LINK_PREFIX = 'pwb';
export const BRIDGE_PREFIX = 'brpwb';

/** Guest interface names the tests use: one of these appearing on the host would be a leak. */
const GUEST_IFNAMES = new Set(['eth1', 'eth2', 'eth7', 'averyverylongif']);

/** A name these tests own on the host. */
export function isOurName(name: string): boolean {
  return name.startsWith(LINK_PREFIX) || name.startsWith(BRIDGE_PREFIX);
}

// ---- running pipework -----------------------------------------------------------------------

/** Run pipework (bounded: 30 s), with extra environment variables if given. */
export function pw(args: readonly string[], env?: Record<string, string>): Promise<RunResult> {
  return runPipework(args, { timeoutMs: 30_000, ...(env !== undefined && { env }) });
}

function show(args: readonly string[], r: RunResult): string {
  return `pipework ${args.join(' ')}\nexit ${r.code}\nstdout: ${JSON.stringify(r.stdout)}\nstderr: ${JSON.stringify(r.stderr)}`;
}

/** Run pipework, assert exit 0 and nothing on stderr; return stdout. */
export async function pwOk(args: readonly string[]): Promise<string> {
  const r = await pw(args);
  assert.equal(r.code, 0, show(args, r));
  assert.equal(r.stderr, '', show(args, r));
  return r.stdout;
}

/**
 * Run pipework and assert a refusal: exit 1, nothing on stdout, exactly one line on stderr
 * ("pipework: …") matching `message`.
 */
export async function pwRefused(args: readonly string[], message: RegExp, env?: Record<string, string>): Promise<RunResult> {
  const r = await pw(args, env);
  assert.equal(r.code, 1, show(args, r));
  assert.equal(r.stdout, '', show(args, r));
  assert.match(r.stderr, /^pipework: [^\n]+\n$/u, `one error line expected\n${show(args, r)}`);
  assert.match(r.stderr, message, show(args, r));
  return r;
}

/** The host end pipework would create, read from its --dry-run plan. */
export function hostEndFromPlan(plan: string): string {
  const m = /^ip link add name (\S+) mtu \d+ type veth /mu.exec(plan);
  assert.ok(m?.[1] !== undefined, `no veth creation in the plan:\n${plan}`);
  return m[1];
}

/** Number of steps of a --dry-run plan. */
export function planSteps(plan: string): number {
  return plan.split('\n').filter((l) => /# \d+\. /u.test(l)).length;
}

// ---- reading exact state --------------------------------------------------------------------

export interface IpAddr {
  ifname: string;
  addr_info: { family: string; local: string; prefixlen: number; broadcast?: string; scope: string }[];
}

/** A route as one `ip route`-like line (only stable fields), e.g. "default via 10.0.0.1 dev eth1". */
export function routeLine(r: IpRoute & { pref?: string; table?: string; type?: string }): string {
  const parts: string[] = [];
  if (r.type !== undefined && r.type !== 'unicast') parts.push(r.type);
  parts.push(r.dst);
  if (r.gateway !== undefined) parts.push('via', r.gateway);
  if (r.dev !== undefined) parts.push('dev', r.dev);
  if (r.table !== undefined) parts.push('table', r.table);
  if (r.protocol !== undefined) parts.push('proto', r.protocol);
  if (r.scope !== undefined) parts.push('scope', r.scope);
  if (r.prefsrc !== undefined) parts.push('src', r.prefsrc);
  if (r.metric !== undefined) parts.push('metric', String(r.metric));
  if (r.pref !== undefined) parts.push('pref', r.pref);
  if (r.flags.length > 0) parts.push(...r.flags);
  return parts.join(' ');
}

/** The routes of `ns` (family, table), as sorted `routeLine`s. */
export async function routeLines(ns: NsRef, family: 4 | 6 = 4, table = 'main'): Promise<string[]> {
  const routes = (await ipJson([`-${family}`, 'route', 'show', 'table', table], ns)) as IpRoute[];
  return routes.map(routeLine).sort();
}

/** Addresses of DEV in `ns` (family) as "local/prefixlen [brd B] scope S", sorted. */
export async function addrLines(dev: string, ns: NsRef, family: 4 | 6): Promise<string[]> {
  const [l] = (await ipJson([`-${family}`, 'addr', 'show', 'dev', dev], ns)) as IpAddr[];
  return (l?.addr_info ?? [])
    .map((a) => `${a.local}/${a.prefixlen}${a.broadcast !== undefined ? ` brd ${a.broadcast}` : ''} scope ${a.scope}`)
    .sort();
}

/** `ip -json netns list`: netns id (as seen from the host) → name. */
export async function netnsIds(): Promise<Map<number, string>> {
  const list = (await ipJson(['netns', 'list'])) as { name: string; id?: number }[];
  return new Map(list.filter((n) => n.id !== undefined).map((n) => [n.id!, n.name]));
}

/** Name of the netns holding the peer of host link `l` (undefined when none or not named). */
export async function peerNetns(l: IpLink): Promise<string | undefined> {
  if (l.link_netnsid === undefined) return undefined;
  return (await netnsIds()).get(l.link_netnsid);
}

/** Everything about a guest that an attach may change, in comparable form. */
export interface GuestSnapshot {
  links: string[];
  addrs: string[];
  routes: string[];
  rules: string[];
  qdiscs: string[];
}

export async function snapshotGuest(ns: string): Promise<GuestSnapshot> {
  // An interface made just before still has a tentative IPv6 link-local address; its local route
  // appears once DAD is done (about a second): snapshot the settled state.
  await waitFor(`DAD done in ${ns}`, async () => (await ipJson(['-6', 'addr', 'show', 'tentative'], ns)).length === 0, 5_000, 50);
  const raw = (await ipJson(['-d', 'addr', 'show'], ns)) as (IpLink & IpAddr)[];
  const links = raw
    .map((l) => `${l.ifname} kind=${l.linkinfo?.info_kind ?? ''} mtu=${l.mtu} state=${l.operstate} mac=${l.address ?? ''} ` +
      `master=${l.master ?? ''} flags=${l.flags.join(',')}`)
    .sort();
  const addrs = raw
    .flatMap((l) => l.addr_info.map((a) => `${l.ifname} ${a.local}/${a.prefixlen} brd=${a.broadcast ?? ''} scope=${a.scope}`))
    .sort();
  const routes: string[] = [];
  for (const fam of [4, 6] as const) {
    routes.push(...(await routeLines(ns, fam, 'all')));
  }
  const rules: string[] = [];
  for (const fam of ['-4', '-6']) {
    rules.push(...(await ipJson([fam, 'rule', 'show'], ns)).map((r) => JSON.stringify(r)));
  }
  const tc = await ipJsonTc(ns);
  return { links, addrs, routes: routes.sort(), rules, qdiscs: tc };
}

async function ipJsonTc(ns: string): Promise<string[]> {
  const out = await shOk(['ip', 'netns', 'exec', ns, 'tc', '-j', 'qdisc', 'show']);
  const list = (out.trim() === '' ? [] : JSON.parse(out)) as { kind: string; dev: string; handle?: string }[];
  return list.map((q) => `${q.dev} ${q.kind} ${q.handle ?? ''}`).sort();
}

// ---- host state scoped to these tests --------------------------------------------------------

/** Host links that are ours: our names, ports of our bridges, veths whose peer is in our netns. */
async function ourHostLinks(): Promise<Set<string>> {
  const ids = await netnsIds();
  const links = await listLinks();
  return new Set(links
    .filter((l) => isOurName(l.ifname) || GUEST_IFNAMES.has(l.ifname) ||
      (l.master !== undefined && isOurName(l.master)) ||
      (l.link_netnsid !== undefined && (ids.get(l.link_netnsid) ?? '').startsWith(NS_PREFIX)))
    .map((l) => l.ifname));
}

/** snapshotHost, scoped to what these tests and pipework runs on their guests can touch. */
export async function snapshotOurs(): Promise<HostSnapshot> {
  const ours = await ourHostLinks();
  return snapshotHost({ only: (n) => ours.has(n) || isOurName(n) || GUEST_IFNAMES.has(n) });
}

/** A snapshot as "key: item" lines, for short diffs. */
function flatten(snapshot: object): string[] {
  return Object.entries(snapshot).flatMap(([key, value]: [string, unknown]) =>
    (Array.isArray(value) ? value : [value]).map((v: unknown) => `${key}: ${typeof v === 'string' ? v : JSON.stringify(v)}`));
}

/** What changed between two snapshots, as "- gone" / "+ new" lines; empty when equal. */
export function snapshotDiff(before: object, after: object): string[] {
  const a = flatten(before);
  const b = flatten(after);
  return [...a.filter((l) => !b.includes(l)).map((l) => `- ${l}`), ...b.filter((l) => !a.includes(l)).map((l) => `+ ${l}`)];
}

/** Assert the scoped host snapshot equals `before` (polls up to timeoutMs: teardown is async). */
export async function assertOursUnchanged(before: HostSnapshot, timeoutMs = 3_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const now = await snapshotOurs();
    const diff = snapshotDiff(before, now);
    if (diff.length === 0) return;
    if (Date.now() >= deadline) assert.fail(`the host changed:\n${diff.join('\n')}`);
    await sleep(100);
  }
}

/** Assert guest NS is as in `before`. */
export async function assertGuestUnchanged(ns: string, before: GuestSnapshot): Promise<void> {
  const diff = snapshotDiff(before, await snapshotGuest(ns));
  if (diff.length > 0) assert.fail(`guest ${ns} changed:\n${diff.join('\n')}`);
}

/** Wait (at most 5 s) until host link NAME reports operstate STATE (it changes asynchronously). */
export async function waitOperstate(name: string, state: string): Promise<void> {
  await waitFor(`${name} operstate ${state}`, async () => {
    const [l] = (await ipJson(['link', 'show', 'dev', name])) as IpLink[];
    return l?.operstate === state;
  }, 5_000, 50);
}

/**
 * An existing, empty bridge NAME that is up and has had a port (PORT, with PEER, made and
 * removed): an empty bridge reports UNKNOWN until it has had a port and DOWN after, so
 * comparisons then see only what pipework did.
 */
export async function addSettledBridge(name: string, port: string, peer: string): Promise<void> {
  await ip(['link', 'add', name, 'type', 'bridge']);
  await ip(['link', 'set', name, 'up']);
  await addVeth(port, peer);
  await ip(['link', 'set', port, 'master', name]);
  await removeLink(port);
  await waitOperstate(name, 'DOWN');
}

// ---- cleanup -----------------------------------------------------------------------------------

/** Delete every netns and host link these tests may have made. */
export async function cleanupAll(): Promise<void> {
  await cleanupPrefix(NS_PREFIX);
  await cleanupPrefix(LINK_PREFIX);
  await cleanupPrefix(BRIDGE_PREFIX);
}

/**
 * Delete link NAME (host, or netns NS) if it is there. Never fails: a link may vanish on its own
 * meanwhile (deleting a netns tears its veths down asynchronously). Refuses eth0, lo, ifb*.
 */
export async function removeLink(name: string, ns?: string): Promise<void> {
  if (ns === undefined && isProtectedLink(name)) throw new Error(`refusing to delete host link ${name}`);
  await sh(['ip', ...(ns !== undefined ? ['-n', ns] : []), 'link', 'del', 'dev', name], { timeoutMs: 10_000 });
}

/** /etc/resolv.conf as it was when the test file loaded this module. */
const RESOLV_AT_LOAD = readFileSync('/etc/resolv.conf', 'utf8');

/** Fail if /etc/resolv.conf differs from what it was when the test file started. */
export function assertResolvConfUnchanged(): void {
  assert.equal(readFileSync('/etc/resolv.conf', 'utf8'), RESOLV_AT_LOAD, '/etc/resolv.conf changed');
}
