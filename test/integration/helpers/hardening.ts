// Shared pieces of the hardening tests (test/integration/hardening-*.test.ts, issue 11): running
// pipework in its own process group so a test can signal the whole group as a terminal's ^C
// does, one-line error checks, reading many guests at once, and a cleanup per theme.
//
// Naming: every theme uses its own letter X: netns `hdX…` (or `hd-X…`), Linux bridges `br-hdX…`,
// Open vSwitch bridges `ovshdX…`, other host links `hdX…`, Docker containers `hd-X…`.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { cleanupPrefix } from './guard.js';
import { removeContainersByPrefix } from './docker.js';
import { ipJson, listLinks, listNetns, type IpLink } from './netns.js';
import { pipeworkBin, runPipework, sh, shOk, type RunResult } from './run.js';
import { netnsIds } from './bridge-common.js';

/** Bounded pipework run (default 60 s), extra environment merged. */
export function pw(args: readonly string[], env?: Record<string, string>, timeoutMs = 60_000): Promise<RunResult> {
  return runPipework(args, { timeoutMs, ...(env !== undefined && { env }) });
}

export function show(args: readonly string[], r: RunResult): string {
  return `pipework ${args.join(' ')}\nexit ${r.code}\nstdout: ${JSON.stringify(r.stdout.slice(0, 3000))}\nstderr: ${JSON.stringify(r.stderr.slice(0, 3000))}`;
}

/** Exit 0; returns stdout. */
export async function pwOk(args: readonly string[], env?: Record<string, string>): Promise<RunResult> {
  const r = await pw(args, env);
  assert.equal(r.code, 0, show(args, r));
  assertNoCrash(r, args);
  return r;
}

/** What a crash looks like: a stack trace, an unhandled error event, EPIPE, "internal error". */
export const CRASH = /\n\s+at |node:events|Unhandled|EPIPE|internal error|TypeError|ReferenceError/u;

export function assertNoCrash(r: RunResult, args: readonly string[]): void {
  assert.doesNotMatch(r.stderr, CRASH, `no crash or stack trace\n${show(args, r)}`);
  assert.doesNotMatch(r.stdout, CRASH, `no crash or stack trace\n${show(args, r)}`);
}

/** stderr is exactly one line "pipework: …" (matching `re` when given), and nothing crashed. */
export function assertOneLine(r: RunResult, args: readonly string[], re?: RegExp): void {
  assertNoCrash(r, args);
  assert.match(r.stderr, /^pipework: [^\n]+\n$/u, `exactly one line on stderr\n${show(args, r)}`);
  if (re !== undefined) assert.match(r.stderr, re, show(args, r));
}

/** A refusal: exit 1, one stderr line matching `re`; with --json (added here) `error.reason`. */
export async function refused(args: readonly string[], reason: string, re: RegExp): Promise<RunResult> {
  const r = await pw(args);
  assert.equal(r.code, 1, show(args, r));
  assertOneLine(r, args, re);
  assert.equal(r.stdout, '', `nothing on stdout\n${show(args, r)}`);
  const j = await pw(['--json', ...args]);
  assert.equal(j.code, 1, show(['--json', ...args], j));
  assertNoCrash(j, ['--json', ...args]);
  let parsed: { error?: { reason?: string; message?: string } };
  try {
    parsed = JSON.parse(j.stdout) as typeof parsed;
  } catch {
    assert.fail(`--json prints a JSON error\n${show(['--json', ...args], j)}`);
  }
  assert.equal(parsed.error?.reason, reason, `error.reason\n${show(['--json', ...args], j)}`);
  return r;
}

// ---- a run in its own process group -------------------------------------------------------------

export interface Started {
  /** PID of pipework, which is also its process group id. */
  pid: number;
  /** Milliseconds since the spawn (performance.now() at spawn). */
  t0: number;
  result: Promise<RunResult & { ms: number; signal: NodeJS.Signals | null }>;
}

/**
 * Start pipework as the leader of a new process group (as a shell's job is), stdin closed.
 * Killed (the whole group) after timeoutMs.
 */
export function startPipework(args: readonly string[], timeoutMs = 90_000, env?: Record<string, string>): Started {
  const t0 = performance.now();
  const child = spawn(process.execPath, [pipeworkBin, ...args], {
    detached: true,
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on('data', (b: Buffer) => out.push(b));
  child.stderr.on('data', (b: Buffer) => err.push(b));
  child.stdin.on('error', () => undefined);
  child.stdin.end();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      process.kill(-(child.pid ?? 0), 'SIGKILL');
    } catch {
      // gone
    }
  }, timeoutMs);
  const result = new Promise<RunResult & { ms: number; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const nums: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };
      resolve({
        code: timedOut ? 124 : code ?? 128 + (signal !== null ? (nums[signal] ?? 0) : 0),
        signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8') + (timedOut ? `\n[killed after ${timeoutMs} ms]` : ''),
        timedOut,
        ms: performance.now() - t0,
      });
    });
  });
  if (child.pid === undefined) throw new Error('spawn failed');
  return { pid: child.pid, t0, result };
}

/** Send SIG to the process group PGID, as a terminal does; false when the group is gone. */
export function signalGroup(pgid: number, sig: NodeJS.Signals): boolean {
  try {
    process.kill(-pgid, sig);
    return true;
  } catch {
    return false;
  }
}

/** Wait until `ms` after `t0` (performance.now() time). */
export async function sleepUntil(t0: number, ms: number): Promise<void> {
  const left = t0 + ms - performance.now();
  if (left > 0) await new Promise((r) => setTimeout(r, left));
}

// ---- reading state --------------------------------------------------------------------------

/** Map with at most N promises at once. */
export async function mapLimit<T, R>(items: readonly T[], n: number, f: (x: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    for (;;) {
      const i = next++;
      if (i >= items.length) return;
      out[i] = await f(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
  return out;
}

/**
 * For each named netns: its links other than lo, as "name kind alias" strings (one bash process
 * running `ip` per netns, so 100 guests cost one spawn from here).
 */
export async function guestLinks(names: readonly string[]): Promise<Map<string, string[]>> {
  const script = 'for n in "$@"; do printf "@@ %s\\n" "$n"; ip -n "$n" -o link show 2>&1; done';
  const out = await shOk(['bash', '-c', script, 'bash', ...names], { timeoutMs: 60_000 });
  const map = new Map<string, string[]>();
  let cur: string[] | undefined;
  for (const line of out.split('\n')) {
    if (line.startsWith('@@ ')) {
      cur = [];
      map.set(line.slice(3), cur);
    } else if (line.trim() !== '' && cur !== undefined) {
      const m = /^\d+: ([^:@]+)[@:]/u.exec(line);
      const name = m?.[1] ?? line;
      if (name !== 'lo') cur.push(name);
    }
  }
  return map;
}

/** The alias (pipework's record) of a link from `ip -d -json link`. */
export function aliasOf(l: IpLink): string {
  const a = l['ifalias'];
  return typeof a === 'string' ? a : '';
}

/**
 * Host links that belong to our test: named in `names`, enslaved to one of `bridges`, with a
 * veth peer in a netns whose name passes `ours`, or carrying a pipework record of such a guest.
 */
export async function ourHostLinks(ours: (netns: string) => boolean, bridges: readonly string[] = []): Promise<IpLink[]> {
  const ids = await netnsIds();
  const links = await listLinks();
  return links.filter((l) => {
    if (bridges.includes(l.ifname) || (l.master !== undefined && bridges.includes(l.master))) return true;
    if (l.link_netnsid !== undefined && ours(ids.get(l.link_netnsid) ?? '')) return true;
    const g = /;g=[a-z]+:([^;]*)/u.exec(aliasOf(l))?.[1];
    return g !== undefined && ours(g);
  });
}

/** Our netns names (by a predicate) as `ip netns list` shows them. */
export async function ourNetns(ours: (n: string) => boolean): Promise<string[]> {
  return (await listNetns()).filter(ours).sort();
}

export interface OvsPort {
  name: string;
  bridge: string;
  tag: number | undefined;
  ids: Record<string, string>;
}

/** Every port of every OVS bridge with its tag and its Interface's external-ids. */
export async function ovsPorts(): Promise<OvsPort[]> {
  const r = await sh(['ovs-vsctl', '--timeout=10', '--format=json',
    '--', '--columns=name,ports', 'list', 'Bridge',
    '--', '--columns=_uuid,name,tag', 'list', 'Port',
    '--', '--columns=name,external_ids', 'list', 'Interface'], { timeoutMs: 20_000 });
  if (r.code !== 0) throw new Error(`ovs-vsctl list: ${r.stderr}`);
  type Table = { headings: string[]; data: unknown[][] };
  const [br, ports, ifs] = r.stdout.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as Table);
  const rows = (t: Table | undefined): Record<string, unknown>[] =>
    (t?.data ?? []).map((d) => Object.fromEntries(t!.headings.map((h, i) => [h, d[i]])));
  const set = (v: unknown): unknown[] => (Array.isArray(v) && v[0] === 'set' ? (v[1] as unknown[]) : v === undefined ? [] : [v]);
  const uuid = (v: unknown): string => (Array.isArray(v) && v[0] === 'uuid' ? String(v[1]) : '');
  const map = (v: unknown): Record<string, string> =>
    (Array.isArray(v) && v[0] === 'map' ? Object.fromEntries((v[1] as [string, unknown][]).map(([k, x]) => [k, String(x)])) : {});
  const bridgeOf = new Map<string, string>();
  for (const b of rows(br)) for (const p of set(b['ports'])) bridgeOf.set(uuid(p), String(b['name']));
  const idsOf = new Map<string, Record<string, string>>();
  for (const i of rows(ifs)) idsOf.set(String(i['name']), map(i['external_ids']));
  return rows(ports).map((p) => {
    const tag = set(p['tag'])[0];
    return {
      name: String(p['name']),
      bridge: bridgeOf.get(uuid(p['_uuid'])) ?? '',
      tag: typeof tag === 'number' ? tag : undefined,
      ids: idsOf.get(String(p['name'])) ?? {},
    };
  });
}

/** OVS bridges (names). */
export async function ovsBridges(): Promise<string[]> {
  const r = await sh(['ovs-vsctl', '--timeout=10', 'list-br'], { timeoutMs: 20_000 });
  return r.code === 0 ? r.stdout.split('\n').map((s) => s.trim()).filter((s) => s !== '') : [];
}

/** True when Open vSwitch answers and ovs-vswitchd runs. */
export async function ovsAvailable(): Promise<boolean> {
  const r = await sh(['ovs-vsctl', '--timeout=5', 'show'], { timeoutMs: 10_000 });
  if (r.code !== 0) return false;
  const pid = await sh(['ovs-appctl', '-t', 'ovs-vswitchd', 'version'], { timeoutMs: 10_000 });
  return pid.code === 0;
}

/** Make an OVS bridge with the userspace datapath (the kernel here has none). */
export async function addOvsBridge(name: string): Promise<void> {
  await shOk(['ovs-vsctl', '--timeout=10', '--may-exist', 'add-br', name, '--', 'set', 'bridge', name, 'datapath_type=netdev'], { timeoutMs: 20_000 });
}

export interface LsEntry {
  guest: string;
  guestIf?: string;
  hostIf?: string;
  hostKind?: string;
  localIf?: string;
  address?: string;
  mac?: string;
  currentMac?: string;
  state?: string;
  drift?: unknown;
  vlan?: number;
  [k: string]: unknown;
}

/** `pipework ls [ARGS] --json`'s interfaces (asserting exit 0). */
export async function lsJson(args: readonly string[] = []): Promise<LsEntry[]> {
  const r = await pw(['ls', ...args, '--json']);
  assert.equal(r.code, 0, show(['ls', ...args, '--json'], r));
  return (JSON.parse(r.stdout) as { interfaces: LsEntry[] }).interfaces;
}

/** IPv4 addresses (a/p) of DEV in netns NS ([] when DEV is missing). */
export async function v4(ns: string, dev: string): Promise<string[]> {
  const r = await sh(['ip', '-n', ns, '-json', '-4', 'addr', 'show', 'dev', dev]);
  if (r.code !== 0) return [];
  const [l] = JSON.parse(r.stdout) as { addr_info?: { local: string; prefixlen: number }[] }[];
  return (l?.addr_info ?? []).map((a) => `${a.local}/${a.prefixlen}`);
}

/** Default routes of a family in NS as "via dev". */
export async function defaults(ns: string, family: 4 | 6 = 4): Promise<string[]> {
  return ((await ipJson([`-${family}`, 'route', 'show', 'default'], ns)) as { gateway?: string; dev?: string }[])
    .map((r) => `${r.gateway ?? '-'} ${r.dev ?? '-'}`);
}

/** Is PROGRAM in PATH (or the sbin directories) and executable? */
export function hasProgram(program: string): boolean {
  const dirs = [...(process.env['PATH'] ?? '').split(':'), '/usr/sbin', '/sbin'];
  return dirs.some((d) => {
    try {
      accessSync(`${d}/${program}`, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

// ---- cleanup ----------------------------------------------------------------------------------

/** Delete what theme X made: netns, links, OVS bridges and ports, /etc/netns entries, containers. */
export async function cleanupTheme(x: string, opts: { docker?: boolean } = {}): Promise<void> {
  for (const p of [`hd${x}`, `hd-${x}`, `br-hd${x}`, `ovshd${x}`]) await cleanupPrefix(p);
  if (opts.docker === true) await removeContainersByPrefix(`hd-${x}`);
}
