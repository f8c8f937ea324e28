// What the CNI integration tests share: running a plugin (ours or Debian's reference) the way a
// runtime does, a fake IPAM plugin that speaks 1.1.0 (Debian's stop at 1.0.0), reading what an
// attachment left on the host, and cleaning up everything of networks named cn*.
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_DATA_DIR } from '../../src/front/cni/config.js';
import { masqChain, masqComment, planMasqCreate, planMasqRemove, type Masq } from '../../src/drivers/network/masq.js';
import { decodeRecord } from '../../src/model/record.js';
import type { Step } from '../../src/model/plan.js';
import { ip, ipJson, type IpAddrLink, type IpRoute } from './helpers/netns.js';
import { pipeworkBin, sh, type RunResult } from './helpers/run.js';

/** Everything these tests make starts with this (netns, bridges, networks, containers cn-…). */
export const PREFIX = 'cn';

export const REFERENCE_DIR = '/usr/lib/cni';

/** A scratch directory of this test file, removed by its `dispose`. */
export function scratch(name: string): { dir: string; dispose(): void } {
  const base = process.env['PIPEWORK_TEST_TMP'] ?? tmpdir();
  mkdirSync(base, { recursive: true });
  const dir = mkdtempSync(join(base, `${PREFIX}-${name}-`));
  return { dir, dispose: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface Call {
  command: string;
  containerId?: string;
  netns?: string;
  ifname?: string;
  conf: Record<string, unknown>;
  args?: string;
  /** CNI_PATH (default: the reference plugins' directory). */
  path?: string;
  env?: Record<string, string | undefined>;
  timeoutMs?: number;
  /** The plugin's working directory (a test's scratch directory, where a payload would write). */
  cwd?: string;
}

export interface CallResult extends RunResult {
  json?: Record<string, unknown>;
}

/** Run a plugin as a runtime does: CNI_* in the environment, the configuration on stdin. */
export async function runPluginBinary(argv: string[], c: Call): Promise<CallResult> {
  const env: Record<string, string | undefined> = {
    CNI_COMMAND: c.command,
    CNI_CONTAINERID: c.containerId ?? '',
    CNI_NETNS: c.netns ?? '',
    CNI_IFNAME: c.ifname ?? '',
    CNI_ARGS: c.args ?? '',
    CNI_PATH: c.path ?? REFERENCE_DIR,
    ...c.env,
  };
  const r = await sh(argv, { input: JSON.stringify(c.conf), env, timeoutMs: c.timeoutMs ?? 60_000, ...(c.cwd !== undefined && { cwd: c.cwd }) });
  let json: Record<string, unknown> | undefined;
  if (r.stdout.trim() !== '') {
    try {
      json = JSON.parse(r.stdout) as Record<string, unknown>;
    } catch {
      json = undefined;
    }
  }
  return { ...r, ...(json !== undefined && { json }) };
}

/** Our plugin, started as the launcher's cold path does (Node on bin/pipework, CNI_COMMAND set). */
export function runOurs(c: Call): Promise<CallResult> {
  return runPluginBinary([process.execPath, pipeworkBin], c);
}

/** Debian's reference plugin TYPE. */
export function runReference(type: string, c: Call): Promise<CallResult> {
  return runPluginBinary([join(REFERENCE_DIR, type)], c);
}

/** Is stdout exactly one JSON document (nothing else)? */
export function onlyJson(r: RunResult): boolean {
  if (r.stdout === '') return true;
  try {
    JSON.parse(r.stdout);
    return r.stdout.trim().split('\n').length === 1;
  } catch {
    return false;
  }
}

/**
 * A fake IPAM plugin (Node, behind a shell wrapper) that speaks every version up to 1.1.0: ADD
 * hands out `ipam.addresses[containerID]` (or `ipam.address`), keeps a lease file per container
 * and interface in `ipam.dataDir`, refuses a second ADD; DEL releases; CHECK wants the lease; GC
 * keeps only the valid attachments; STATUS fails when `ipam.statusFails`. `ipam.sleepMs` delays
 * ADD. Every call is logged to `ipam.dataDir/calls.log` (a JSON line: command, id, ifname, and the
 * NODE_EXTRA_CA_CERTS and NODE_OPTIONS it was given — the wrapper keeps the latter from its own
 * Node — and the name of the process that started it).
 */
export function writeFakeIpam(dir: string, name = 'cn-ipam'): string {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, name);
  const js = join(dir, `${name}.js`);
  writeFileSync(file, `#!/bin/sh\nCN_NODE_OPTIONS="\${NODE_OPTIONS-}" NODE_OPTIONS= exec '${process.execPath}' '${js}'\n`);
  writeFileSync(js, `const fs = require('fs');
const env = process.env;
const cmd = env.CNI_COMMAND;
const versions = ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'];
const input = fs.readFileSync(0, 'utf8');
const conf = JSON.parse(input || '{}');
if (cmd === 'VERSION') { process.stdout.write(JSON.stringify({ cniVersion: conf.cniVersion || '1.1.0', supportedVersions: versions })); process.exit(0); }
const ipam = conf.ipam || {};
const dir = ipam.dataDir;
fs.mkdirSync(dir, { recursive: true });
fs.appendFileSync(dir + '/calls.log', JSON.stringify({ cmd, id: env.CNI_CONTAINERID || '', ifname: env.CNI_IFNAME || '', ca: env.NODE_EXTRA_CA_CERTS, opts: env.CN_NODE_OPTIONS, parent: fs.readFileSync('/proc/' + process.ppid + '/comm', 'utf8').trim() }) + '\\n');
const lease = dir + '/lease-' + env.CNI_CONTAINERID + '-' + env.CNI_IFNAME;
const fail = (code, msg) => { process.stdout.write(JSON.stringify({ cniVersion: conf.cniVersion, code, msg, details: '' })); process.exit(1); };
const run = () => {
  if (cmd === 'ADD') {
    if (fs.existsSync(lease)) return fail(7, 'duplicate allocation for ' + env.CNI_CONTAINERID);
    const address = (ipam.addresses || {})[env.CNI_CONTAINERID] || ipam.address;
    if (!address) return fail(7, 'no address for ' + env.CNI_CONTAINERID);
    fs.writeFileSync(lease, address);
    const v1 = conf.cniVersion.startsWith('1.');
    const ip = Object.assign(v1 ? {} : { version: address.includes(':') ? '6' : '4' }, { address }, ipam.gateway ? { gateway: ipam.gateway } : {});
    process.stdout.write(JSON.stringify({ cniVersion: conf.cniVersion, ips: [ip], routes: ipam.routes || [], dns: {} }));
  } else if (cmd === 'DEL') {
    fs.rmSync(lease, { force: true });
  } else if (cmd === 'CHECK') {
    if (!fs.existsSync(lease)) return fail(7, 'no lease for ' + env.CNI_CONTAINERID);
  } else if (cmd === 'GC') {
    const valid = (conf['cni.dev/valid-attachments'] || []).map((a) => 'lease-' + a.containerID + '-' + a.ifname);
    for (const f of fs.readdirSync(dir)) if (f.startsWith('lease-') && !valid.includes(f)) fs.rmSync(dir + '/' + f);
  } else if (cmd === 'STATUS') {
    if (ipam.statusFails) return fail(50, 'the address pool is exhausted');
  }
};
if (cmd === 'ADD' && ipam.sleepMs) setTimeout(run, ipam.sleepMs); else run();
`);
  chmodSync(file, 0o755);
  return file;
}

export interface FakeCall {
  cmd: string;
  id: string;
  ifname: string;
  ca?: string;
  opts?: string;
  /** The command name of the process that ran it (`pipework`: the launcher; `node`: Node). */
  parent?: string;
}

export function fakeIpamCalls(dataDir: string): FakeCall[] {
  try {
    return readFileSync(join(dataDir, 'calls.log'), 'utf8').trim().split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as FakeCall);
  } catch {
    return [];
  }
}

export function fakeLeases(dataDir: string): string[] {
  try {
    return readdirSync(dataDir).filter((f) => f.startsWith('lease-')).sort();
  } catch {
    return [];
  }
}

/** host-local's reservations in its data directory for a network: one file per address. */
export function hostLocalLeases(dataDir: string, network: string): string[] {
  try {
    return readdirSync(join(dataDir, network)).filter((f) => /^[0-9a-f.:]+$/u.test(f) && !f.startsWith('last_reserved_ip')).sort();
  } catch {
    return [];
  }
}

/** Where pipework keeps its records (the default; a configuration may not name another). */
export const RECORDS = DEFAULT_DATA_DIR;

/** pipework's records of a network (container/ifname). */
export function records(dataDir: string, network: string): string[] {
  const root = join(dataDir, network);
  if (!existsSync(root)) return [];
  return readdirSync(root).flatMap((id) => readdirSync(join(root, id)).map((f) => `${id}/${f.replace(/\.json$/u, '')}`)).sort();
}

/** Run the iptables steps of a masquerading plan (its actions only). */
async function runMasqSteps(steps: Step[]): Promise<void> {
  for (const st of steps) {
    if (st.action.kind !== 'exec') continue;
    const r = await sh(st.action.argv, { timeoutMs: 30_000 });
    if (r.code !== 0 && st.action.mayFail !== true) throw new Error(`${st.action.argv.join(' ')}: ${r.stderr}`);
  }
}

/**
 * Make attachment network/id/ifname look as pipework made it before records of version 3: its
 * record of `version` (1: the fields of the first format; 2: the one record format) and its
 * masquerading chain the container's on the network (rules commented without the interface)
 * instead of the interface's own. What DEL and GC then find is what an older pipework left.
 */
export async function recordAsBefore(network: string, id: string, ifname: string, version: 1 | 2): Promise<void> {
  const file = join(RECORDS, network, id, `${ifname}.json`);
  const now = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown> & { record: string; masq?: Masq };
  let masq: Masq | undefined;
  if (now.masq !== undefined) {
    masq = { chain: masqChain(network, id), comment: masqComment(network, id), rules: now.masq.rules };
    await runMasqSteps(planMasqRemove(now.masq));
    await runMasqSteps(planMasqCreate(masq));
  }
  const { record, masq: _m, ...rest } = now;
  const r = decodeRecord(record)!;
  const old = version === 2
    ? { ...rest, version, record }
    : { ...rest, version, hostKind: r.hostKind, hostIf: r.hostIf, hostEnd: r.localIf, nsInode: r.nsInode };
  writeFileSync(file, `${JSON.stringify({ ...old, ...(masq !== undefined && { masq }) })}\n`);
}

/** The guest side as the differential compares it: addresses, MTU, up, routes. */
export interface GuestState {
  kind: string;
  up: boolean;
  mtu: number;
  addresses: string[];
  routes: string[];
}

export async function guestState(netns: string, ifname: string): Promise<GuestState | undefined> {
  const links = (await ipJson(['-d', 'addr', 'show'], netns)) as (IpAddrLink & { linkinfo?: { info_kind?: string } })[];
  const l = links.find((x) => x.ifname === ifname);
  if (!l) return undefined;
  const routes = [...(await ipJson(['route', 'show'], netns)), ...(await ipJson(['-6', 'route', 'show'], netns))] as IpRoute[];
  return {
    kind: l.linkinfo?.info_kind ?? '',
    up: l.flags.includes('UP'),
    mtu: l.mtu,
    addresses: (l.addr_info ?? []).filter((a) => a.scope !== 'link').map((a) => `${a.local}/${a.prefixlen}`).sort(),
    routes: routes.filter((r) => r.dev === ifname && !String(r.dst).startsWith('fe80:'))
      .map((r) => `${String(r.dst)}${r.gateway !== undefined ? ` via ${String(r.gateway)}` : ''}`).sort(),
  };
}

/** The MAC of IFNAME in NETNS. */
export async function macOf(netns: string, ifname: string): Promise<string | undefined> {
  const links = (await ipJson(['link', 'show', 'dev', ifname], netns).catch(() => [])) as { address?: string }[];
  return links[0]?.address;
}

/** Host links carrying a pipework record whose owner is a cn* network (host ends). */
export async function ourHostLinks(network?: string): Promise<string[]> {
  const links = (await ipJson(['link', 'show'])) as { ifname: string; ifalias?: string }[];
  return links.filter((l) => {
    const o = decodeRecord(l.ifalias)?.owner;
    return o !== undefined && o.startsWith(`cni:${network ?? PREFIX}`);
  }).map((l) => l.ifname).sort();
}

/** Open vSwitch ports whose pipework.owner names a cn* network. */
export async function ourOvsPorts(network?: string): Promise<string[]> {
  if (!existsSync('/var/run/openvswitch/db.sock')) return [];
  const r = await sh(['ovs-vsctl', '--timeout=5', '--format=csv', '--data=bare', '--no-headings', '--columns=name,external_ids', 'list', 'Interface'], { timeoutMs: 10_000 });
  return r.stdout.split('\n').filter((l) => l.includes(`pipework.owner="cni:${network ?? PREFIX}`) || l.includes(`pipework.owner=cni:${network ?? PREFIX}`)).map((l) => l.split(',')[0]!).sort();
}

/** iptables nat rules whose comment names a cn* network. */
export async function ourNatRules(): Promise<string[]> {
  const out: string[] = [];
  for (const tool of ['iptables', 'ip6tables']) {
    const r = await sh([tool, '-w', '-t', 'nat', '-S'], { timeoutMs: 10_000 });
    out.push(...r.stdout.split('\n').filter((l) => l.includes(`name: \\"${PREFIX}`)));
  }
  return out;
}

/** Remove everything of cn* networks: host ends, OVS rows, nat rules and chains, records. */
export async function cleanupCni(): Promise<void> {
  if (existsSync(RECORDS)) for (const n of readdirSync(RECORDS).filter((x) => x.startsWith(PREFIX))) rmSync(join(RECORDS, n), { recursive: true, force: true });
  for (const l of await ourHostLinks()) await ip(['link', 'del', l]).catch(() => undefined);
  for (const p of await ourOvsPorts()) await sh(['ovs-vsctl', '--timeout=5', '--if-exists', 'del-port', p], { timeoutMs: 10_000 });
  for (const tool of ['iptables', 'ip6tables']) {
    const r = await sh([tool, '-w', '-t', 'nat', '-S'], { timeoutMs: 10_000 });
    const lines = r.stdout.split('\n').filter((l) => l.includes(`name: \\"${PREFIX}`));
    for (const l of lines.filter((x) => x.startsWith('-A POSTROUTING'))) {
      const m = /-j (PW-[0-9A-F]+|CNI-[0-9a-f]+)/u.exec(l);
      if (m) await sh([tool, '-w', '-t', 'nat', '-D', 'POSTROUTING', ...splitRule(l.slice('-A POSTROUTING '.length))], { timeoutMs: 10_000 });
    }
    const chains = new Set(lines.map((l) => /-A ((?:PW|CNI)-[0-9A-Fa-f]+) /u.exec(l)?.[1]).filter((c): c is string => c !== undefined));
    for (const c of chains) {
      await sh([tool, '-w', '-t', 'nat', '-F', c], { timeoutMs: 10_000 });
      await sh([tool, '-w', '-t', 'nat', '-X', c], { timeoutMs: 10_000 });
    }
  }
}

/** An iptables -S rule's words (quoted comment kept as one word). */
function splitRule(rule: string): string[] {
  const words: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|(\S+)/gu;
  for (const m of rule.matchAll(re)) words.push(m[1] !== undefined ? m[1].replace(/\\"/gu, '"') : m[2]!);
  return words;
}
