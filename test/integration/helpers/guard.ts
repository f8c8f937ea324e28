// Host hygiene for integration tests: a comparable snapshot of what tests must leave as they
// found it (host links, their addresses, host routes, named netns, /etc/resolv.conf), and a
// prefix-based cleanup of what a test made. Never touches eth0, lo or ifb*.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import {
  delLink,
  delNetns,
  getRoutes,
  ipJson,
  isProtectedLink,
  listNetns,
  type IpAddrLink,
  type IpRoute,
} from './netns.js';
import { sh, sleep } from './run.js';

export interface LinkSnapshot {
  name: string;
  kind: string;
  master: string;
  mtu: number;
  operstate: string;
  addresses: string[];
}

export interface HostSnapshot {
  links: LinkSnapshot[];
  routes4: string[];
  routes6: string[];
  netns: string[];
  resolvConf: string;
}

/** Links owned by long-running daemons the test run starts (OVS userspace datapath). */
const INFRA_LINKS = new Set(['ovs-netdev', 'ovs-system']);

function routeKey(r: Record<string, unknown>): string {
  // Only stable fields (not e.g. "expires").
  const f = (k: string): string => {
    const v = r[k];
    if (v === undefined) return '';
    return `${k}=${typeof v === 'string' || typeof v === 'number' ? String(v) : JSON.stringify(v)}`;
  };
  return ['dst', 'gateway', 'dev', 'protocol', 'scope', 'metric', 'prefsrc', 'type'].map(f).filter((s) => s !== '').join(' ');
}

function readResolv(): string {
  try {
    return readFileSync('/etc/resolv.conf', 'utf8');
  } catch {
    return '<unreadable>';
  }
}

export interface SnapshotOptions {
  /**
   * Keep only links, netns and routes (by their dev) whose name passes this test, e.g.
   * `(n) => n.startsWith('pwx-')`. Default: everything — which is what catches leaks with
   * unforeseen names, but also trips when another suite runs on the same host at the same time.
   */
  only?: (name: string) => boolean;
}

/** Take a snapshot of the host's network state. */
export async function snapshotHost(opts: SnapshotOptions = {}): Promise<HostSnapshot> {
  const only = opts.only ?? ((): boolean => true);
  const raw = (await ipJson(['-d', 'addr', 'show'])) as (IpAddrLink & { linkinfo?: { info_kind?: string } })[];
  const links = raw
    .filter((l) => !INFRA_LINKS.has(l.ifname) && only(l.ifname))
    .map((l) => ({
      name: l.ifname,
      kind: l.linkinfo?.info_kind ?? '',
      master: l.master ?? '',
      mtu: l.mtu,
      operstate: l.operstate,
      addresses: (l.addr_info ?? []).map((a) => `${a.local}/${a.prefixlen}`).sort(),
    }))
    .sort((a, b) => a.name.localeCompare(b.name));
  const keepRoute = (r: IpRoute): boolean => r.dev === undefined || only(r.dev);
  const routes4 = (await getRoutes(undefined, 4)).filter(keepRoute).map((r) => routeKey(r)).sort();
  const routes6 = (await getRoutes(undefined, 6)).filter(keepRoute).map((r) => routeKey(r)).sort();
  const netns = (await listNetns()).filter(only).sort();
  return { links, routes4, routes6, netns, resolvConf: readResolv() };
}

/**
 * Assert the host is as in `before` (pass the same `opts` as to snapshotHost). Polls up to `timeoutMs` first, because the kernel tears
 * down a deleted namespace's devices (and the host ends of their veths) asynchronously.
 */
export async function assertHostUnchanged(
  before: HostSnapshot,
  timeoutMs = 5_000,
  opts: SnapshotOptions = {},
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const now = await snapshotHost(opts);
    try {
      assert.deepStrictEqual(now, before, 'the host network state changed (links/routes/netns/resolv.conf)');
      return;
    } catch (e) {
      if (Date.now() >= deadline) throw e;
    }
    await sleep(200);
  }
}

const OVS_SOCK = '/var/run/openvswitch/db.sock';

async function ovsList(args: string[]): Promise<string[]> {
  const r = await sh(['ovs-vsctl', '--timeout=5', ...args], { timeoutMs: 10_000 });
  if (r.code !== 0) return [];
  return r.stdout.split('\n').map((s) => s.trim()).filter((s) => s !== '');
}

/**
 * Delete what a test made under PREFIX: named netns (killing their processes), OVS bridges and
 * ports, host links, and /etc/netns/PREFIX* directories. Then wait (at most 5 s) until no host
 * link with that prefix is left. Refuses prefixes shorter than 3 characters.
 */
export async function cleanupPrefix(prefix: string): Promise<void> {
  if (prefix.length < 3 || isProtectedLink(prefix)) throw new Error(`refusing cleanup with prefix '${prefix}'`);
  const errors: string[] = [];
  const attempt = async (what: string, f: () => Promise<void>): Promise<void> => {
    try {
      await f();
    } catch (e) {
      errors.push(`${what}: ${e instanceof Error ? e.message : String(e)}`);
    }
  };

  for (const ns of await listNetns()) {
    if (ns.startsWith(prefix)) await attempt(`netns ${ns}`, () => delNetns(ns));
  }

  if (existsSync(OVS_SOCK)) {
    for (const br of await ovsList(['list-br'])) {
      if (br.startsWith(prefix)) {
        await attempt(`ovs bridge ${br}`, async () => {
          await sh(['ovs-vsctl', '--timeout=5', '--if-exists', 'del-br', br], { timeoutMs: 10_000 });
        });
        continue;
      }
      for (const port of await ovsList(['list-ports', br])) {
        if (port.startsWith(prefix)) {
          await attempt(`ovs port ${port}`, async () => {
            await sh(['ovs-vsctl', '--timeout=5', '--if-exists', 'del-port', br, port], { timeoutMs: 10_000 });
          });
        }
      }
    }
  }

  const links = (await ipJson(['link', 'show'])) as { ifname: string }[];
  for (const l of links) {
    // "name@peer" never appears in JSON, but VLAN-like names "X.10" can: both start with prefix.
    if (l.ifname.startsWith(prefix) && !isProtectedLink(l.ifname)) {
      // Deleting one end of a veth pair (or a netns, in the background) takes the other with it:
      // a link listed above that is gone by now is not a failure.
      await attempt(`link ${l.ifname}`, async () => {
        try {
          await delLink(l.ifname);
        } catch (e) {
          if (((await ipJson(['link', 'show'])) as { ifname: string }[]).some((x) => x.ifname === l.ifname)) throw e;
        }
      });
    }
  }

  if (existsSync('/etc/netns')) {
    for (const d of readdirSync('/etc/netns')) {
      if (d.startsWith(prefix)) rmSync(join('/etc/netns', d), { recursive: true, force: true });
    }
  }

  const deadline = Date.now() + 5_000;
  for (;;) {
    const left = ((await ipJson(['link', 'show'])) as { ifname: string }[])
      .map((l) => l.ifname)
      .filter((n) => n.startsWith(prefix));
    if (left.length === 0) break;
    if (Date.now() >= deadline) {
      errors.push(`links still present after cleanup: ${left.join(', ')}`);
      break;
    }
    await sleep(100);
  }
  if (errors.length > 0) throw new Error(`cleanupPrefix(${prefix}):\n${errors.join('\n')}`);
}
