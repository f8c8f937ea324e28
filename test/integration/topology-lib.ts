// Shared by the topology integration tests: the examples copied under the tests' prefix (tg),
// a whole-host state dump (links with ifindex, addresses, routes, qdiscs, per namespace; OVS
// rows; containers) to prove "byte-identical" and "exactly as before", and cleanup by prefix.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cleanupPrefix } from './helpers/guard.js';
import { dockerAvailable, listContainers, removeContainersByPrefix } from './helpers/docker.js';
import { delLink, delNetns, ipJson, listNetns } from './helpers/netns.js';
import { repoRoot, runPipework, sh, type RunResult } from './helpers/run.js';

export const PREFIXES = ['tg', 'br-tg', 'ovs-tg'];
export const STATE_DIR = '/run/pipework/topology';

export function scratch(): string {
  return mkdtempSync(join(process.env['PIPEWORK_TEST_TMP'] ?? tmpdir(), 'tg-'));
}

/** An example rewritten under the tests' prefix: every name it makes starts with tg / br-tg / ovs-tg. */
export function example(file: string, dir: string, rewrite: [string | RegExp, string][]): string {
  let text = readFileSync(join(repoRoot, 'examples/topology', file), 'utf8');
  for (const [from, to] of rewrite) text = text.replaceAll(from, to);
  const out = join(dir, file);
  writeFileSync(out, text);
  return out;
}

export function write(dir: string, name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

export async function pw(args: string[], env: Record<string, string> = {}): Promise<RunResult> {
  return runPipework(args, { timeoutMs: 120_000, env: { PIPEWORK_FAIL_STEP: '', ...env } });
}

/** pipework, which must succeed. */
export async function pwOk(args: string[], env: Record<string, string> = {}): Promise<RunResult> {
  const r = await pw(args, env);
  assert.equal(r.code, 0, `pipework ${args.join(' ')} failed (${r.code}):\n${r.stderr}${r.stdout}`);
  return r;
}

/** One echo from a named netns; true when answered (bounded: 1 s wait, a few tries). */
export async function ping(ns: string, address: string, tries = 3): Promise<boolean> {
  for (let i = 0; i < tries; i++) {
    const r = await sh(['ip', 'netns', 'exec', ns, 'ping', '-n', '-c', '1', '-W', '1', address], { timeoutMs: 5_000 });
    if (r.code === 0) return true;
  }
  return false;
}

interface RawLink { ifindex: number; ifname: string; ifalias?: string; mtu: number; operstate: string; address?: string; master?: string; link_type?: string;
  linkinfo?: { info_kind?: string }; addr_info?: { local: string; prefixlen: number; scope?: string }[] }

/** Ours: a name under the tests' prefixes, or a host end whose record names a guest of ours. */
function mine(l: RawLink): boolean {
  return /^(tg|br-tg|ovs-tg)/u.test(l.ifname) || /;g=(netns|docker|podman):tg/u.test(l.ifalias ?? '');
}

async function nsDump(ns?: string): Promise<unknown> {
  // Other suites may run on this host at the same time: on the host, only what is ours counts.
  const all = (await ipJson(['-d', 'addr', 'show'], ns)) as RawLink[];
  const links = ns === undefined ? all.filter(mine) : all;
  const names = new Set(links.map((l) => l.ifname));
  const ours = (r: { dev?: string }) => ns !== undefined || (r.dev !== undefined && names.has(r.dev));
  const routes4 = ((await ipJson(['-4', 'route', 'show', 'table', 'all'], ns)) as { dev?: string }[]).filter(ours);
  const routes6 = ((await ipJson(['-6', 'route', 'show', 'table', 'all'], ns)) as { dst: string; dev?: string; expires?: number }[])
    .filter((r) => ours(r) && !String(r.dst).startsWith('fe80') && !String(r.dst).startsWith('ff00')).map((r) => ({ ...r, expires: undefined }));
  const argv = ns === undefined ? ['tc', '-j', 'qdisc', 'show'] : ['ip', 'netns', 'exec', ns, 'tc', '-j', 'qdisc', 'show'];
  const qdiscs = (JSON.parse((await sh(argv)).stdout || '[]') as { dev?: string }[]).filter(ours);
  return {
    links: links.map((l) => ({
      ifindex: l.ifindex, name: l.ifname, alias: l.ifalias, mtu: l.mtu, state: l.operstate, mac: l.address, master: l.master, kind: l.linkinfo?.info_kind,
      addresses: (l.addr_info ?? []).filter((a) => a.scope !== 'link').map((a) => `${a.local}/${a.prefixlen}`).sort(),
    })).sort((a, b) => a.name.localeCompare(b.name)),
    // The kernel may list routes in another order after an address came back: order is no change.
    routes4: routes4.map((r) => JSON.stringify(r)).sort(), routes6: routes6.map((r) => JSON.stringify(r)).sort(), qdiscs,
  };
}

/** Our OVS bridges with their ports (name, tag, external-ids), and any row naming a guest of ours. */
async function ovsDump(): Promise<unknown> {
  const list = async (table: string, columns: string) => {
    const r = await sh(['ovs-vsctl', '--timeout=5', '--format=json', `--columns=${columns}`, 'list', table], { timeoutMs: 10_000 });
    return r.code !== 0 || r.stdout === '' ? [] : (JSON.parse(r.stdout) as { data: unknown[][] }).data.map((row) => JSON.stringify(row.map((c) => (Array.isArray(c) && c[0] === 'uuid' ? 'uuid' : c))));
  };
  const keep = (rows: string[]) => rows.filter((r) => /"(tg|br-tg|ovs-tg)|netns:tg|\/tg-/u.test(r)).sort();
  const bridges = (await list('Bridge', 'name,external_ids')).filter((r) => /^\["ovs-tg/u.test(r)).sort();
  const ports: Record<string, string[]> = {};
  for (const b of bridges) {
    const name = (JSON.parse(b) as string[])[0]!;
    ports[name] = (await sh(['ovs-vsctl', '--timeout=5', 'list-ports', name])).stdout.split('\n').filter((p) => p !== '').sort();
  }
  return { bridges, ports, portRows: keep(await list('Port', 'name,tag,external_ids')), interfaces: keep(await list('Interface', 'name,external_ids')) };
}

/**
 * Everything the topology tests could change, as comparable data: host links, addresses, routes
 * and qdiscs; the same inside every named netns of the tests' prefix; OVS ports, interfaces and
 * bridges; containers; state files.
 */
export async function hostState(): Promise<unknown> {
  const netns = (await listNetns()).filter((n) => n.startsWith('tg')).sort();
  const inside: Record<string, unknown> = {};
  for (const n of netns) inside[n] = await nsDump(n);
  const host = await nsDump();
  return {
    host,
    netns: inside,
    ovs: await ovsDump(),
    containers: (await dockerAvailable()) ? (await listContainers()).filter((c) => c.startsWith('tg')).sort() : [],
    state: existsSync(STATE_DIR) ? readdirSync(STATE_DIR).filter((f) => f.startsWith('tg')).sort() : [],
  };
}

export async function assertSameState(before: unknown, message: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const now = await hostState();
    try {
      assert.deepStrictEqual(now, before, message);
      return;
    } catch (err) {
      if (Date.now() >= deadline) throw err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

/** Remove everything a topology test may have made (by prefix), and its state files. */
export async function cleanupAll(): Promise<void> {
  await removeContainersByPrefix('tg-').catch(() => undefined);
  // cleanupPrefix wants 3 characters or more: the netns and links named tg… are removed here.
  for (const n of await listNetns()) if (n.startsWith('tg')) await delNetns(n);
  for (const l of (await ipJson(['link', 'show'])) as { ifname: string }[]) if (/^tg[a-z]/u.test(l.ifname)) await delLink(l.ifname);
  for (const p of PREFIXES.filter((x) => x.length >= 3)) await cleanupPrefix(p);
  if (existsSync(STATE_DIR)) for (const f of readdirSync(STATE_DIR)) if (f.startsWith('tg')) rmSync(join(STATE_DIR, f), { force: true });
  // Validated models of the tests' files (src/front/topology/cache.ts).
  const models = join(STATE_DIR, 'models');
  if (existsSync(models)) {
    for (const f of readdirSync(models)) {
      try {
        if ((JSON.parse(readFileSync(join(models, f), 'utf8')) as { name?: string }).name?.startsWith('tg') === true) rmSync(join(models, f), { force: true });
      } catch {
        // not a model
      }
    }
  }
}

/** The ifindex of an interface inside a named netns. */
export async function ifindex(ns: string, dev: string): Promise<number> {
  const [l] = (await ipJson(['link', 'show', 'dev', dev], ns)) as { ifindex: number }[];
  return l!.ifindex;
}

export async function addresses(ns: string, dev: string): Promise<string[]> {
  const [l] = (await ipJson(['addr', 'show', 'dev', dev], ns)) as RawLink[];
  return (l?.addr_info ?? []).filter((a) => a.scope !== 'link').map((a) => `${a.local}/${a.prefixlen}`);
}

export async function hasLink(ns: string | undefined, dev: string): Promise<boolean> {
  const argv = ns === undefined ? ['ip', 'link', 'show', 'dev', dev] : ['ip', '-n', ns, 'link', 'show', 'dev', dev];
  return (await sh(argv)).code === 0;
}
