/**
 * `npm run bench`: what one attach costs, side by side, on the same guests in the same run.
 *
 *   classic     the classic shell script in a loop (PIPEWORK_CLASSIC=<path>), with a PATH that
 *               has no arping, so it is spared its ~1 s arping wait
 *   one-shot    ours, one process per attach, in a loop
 *   batch       ours, `pipework batch FILE`, all N lines in one run
 *   batch -arp  the same with arping absent (no gratuitous ARP process per guest)
 *   netlink     one-shot and batch again with PIPEWORK_NETLINK=1: the in-process prototype
 *               (rows only when `npm run build:native` has built its addon)
 *   floor       the same kernel operations as hand-written iproute2: one `ip -batch` for every
 *               host side, then one `ip -n <ns> -batch` per guest, 8 at a time (`xargs -P 8`),
 *               as batch runs them
 *
 * on N Docker containers (the classic script knows only Docker/LXC), N named network namespaces
 * and N PID guests (`unshare --net sleep`), for N in BENCH_SIZES (default 1,10,100,200). With
 * BENCH_BEFORE=/path/to/an/older/bin/pipework the same one-shot and batch runs are made with that
 * build too, interleaved with ours ("before" rows: a refactor measured against what it replaced).
 * It prints a markdown
 * table (median wall ms per attach, processes per attach counted under strace, ratios to the
 * classic script and to the floor), Node's own start-up beside `pipework --version`, the peak
 * RSS of a 200-line batch (GNU time), and whether the targets of issue #6 are met.
 *
 * Fairness on a small, noisy machine: the two loops alternate attach by attach (classic on the
 * even guests and ours on the odd ones, then the other way round); batch, batch -arp and floor
 * run in rotating order, several rounds. Between runs every interface made is removed, so each
 * run starts from the same state: the guests, an empty bridge.
 *
 * Runs as root. Everything it makes is named pwbn…: bridge brpwbn0, netns pwbn-nNNN, containers
 * pwbn-dNNN, /var/run/netns/pwbn-lNNN links to the containers' namespaces (for `ip -n`), image
 * pwbn-busybox; it is all removed at the end, on Ctrl-C, and (left over from a killed run) at
 * the start.
 *
 * Environment: BENCH_SIZES=1,10 (smaller runs), PIPEWORK_CLASSIC=/path/to/pipework (the classic
 * script; without it that column is skipped), BENCH_BEFORE=/path/to/bin/pipework (an earlier
 * build, measured beside this one), BENCH_JSON=FILE (raw samples as JSON).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import {
  copyFileSync, chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync,
  readlinkSync, rmSync, symlinkSync, unlinkSync, writeFileSync,
} from 'node:fs';
import { request } from 'node:http';
import { cpus, loadavg } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

// --- names, all ours ----------------------------------------------------------------------
const BRIDGE = 'brpwbn0';
const PREFIX = 'pwbn-';
const IMAGE_REPO = 'pwbn-busybox';
const IMAGE = `${IMAGE_REPO}:latest`;
/** A link group only this bench uses ("pwbn" in ASCII): `ip link del group` removes many links at once. */
const LINK_GROUP = 0x7077626e;
const NETNS_DIR = '/var/run/netns';
const pad = (i: number): string => String(i).padStart(3, '0');
const containerName = (i: number): string => `${PREFIX}d${pad(i)}`;
const netnsName = (i: number): string => `${PREFIX}n${pad(i)}`;
/** /var/run/netns/<this> → /proc/PID/ns/net of container i, for the floor's `ip -n`. */
const dockerNsLink = (i: number): string => `${PREFIX}l${pad(i)}`;
/** The same for PID guest i. */
const pidNsLink = (i: number): string => `${PREFIX}p${pad(i)}`;

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const PIPEWORK = join(ROOT, 'bin/pipework');
const DOCKER_SOCK = process.env['DOCKER_HOST']?.startsWith('unix://') ? process.env['DOCKER_HOST'].slice(7) : '/var/run/docker.sock';
const CLASSIC = process.env['PIPEWORK_CLASSIC'];
/** An earlier build of pipework, measured beside this one (its "before" rows). */
const BEFORE = process.env['BENCH_BEFORE'];
/** `pipework batch` runs this many guest processes at once; the floor does the same. */
const GUEST_CONCURRENCY = 8;
/** A plain PATH for every scenario (node's own directory first, for bin/pipework's `env node`). */
const STD_PATH = [...new Set([dirname(process.execPath), '/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'])].join(delimiter);

const log = (msg: string): void => { process.stderr.write(`bench: ${msg}\n`); };

// --- processes ----------------------------------------------------------------------------
interface Cmd {
  argv: string[];
  env?: Record<string, string>;
  input?: string;
}

interface Done {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

const live = new Set<ChildProcess>();
let aborting = false;

class Aborted extends Error {}

interface RunOpts {
  timeoutMs?: number;
  /** A cleanup command: runs even after Ctrl-C. */
  cleanup?: boolean;
}

function run(cmd: Cmd, opts: RunOpts = {}): Promise<Done> {
  if (aborting && !opts.cleanup) return Promise.reject(new Aborted('aborted'));
  const [file, ...args] = cmd.argv;
  if (file === undefined) throw new Error('empty argv');
  return new Promise((resolveRun, reject) => {
    const started = performance.now();
    const child = spawn(file, args, {
      stdio: [cmd.input !== undefined ? 'pipe' : 'ignore', 'pipe', 'pipe'],
      env: { ...process.env, PATH: STD_PATH, LC_ALL: 'C', ...cmd.env },
    });
    live.add(child);
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 300_000);
    child.stdout?.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr?.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    child.on('error', (err) => {
      clearTimeout(timer);
      live.delete(child);
      reject(err);
    });
    child.on('close', (code, signal) => {
      const ms = performance.now() - started;
      clearTimeout(timer);
      live.delete(child);
      resolveRun({ code, signal, stdout, stderr, ms });
    });
    if (cmd.input !== undefined) child.stdin?.end(cmd.input);
  });
}

async function runOk(cmd: Cmd, opts: RunOpts = {}): Promise<Done> {
  const r = await run(cmd, opts);
  if (r.code !== 0) {
    if (aborting) throw new Aborted('aborted');
    throw new Error(`${cmd.argv.join(' ')} exited ${r.code ?? r.signal}: ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' | ')}`);
  }
  return r;
}

function which(name: string, path = STD_PATH): string | undefined {
  for (const dir of path.split(delimiter)) {
    const p = join(dir, name);
    if (dir !== '' && existsSync(p)) return p;
  }
  return undefined;
}

async function pool<T>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const k = next++;
      await fn(items[k]!, k);
    }
  }));
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Clock ticks per second of /proc/self/stat (USER_HZ; set from `getconf CLK_TCK`). */
let clkTck = 100;

/**
 * CPU time (ms) used so far by this process and every child it reaped (their reaped children
 * included): the cost of a run, far steadier than wall time on a busy machine. Processes that
 * outlive their parent (the detached arping) are not in it.
 */
function cpuMs(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const own = process.cpuUsage();
  return ((Number(f[13]) + Number(f[14])) * 1000) / clkTck + (own.user + own.system) / 1000;
}

// --- Docker Engine API ----------------------------------------------------------------------
interface ApiResponse { status: number; body: string }

function api(method: string, path: string, body?: unknown, stream?: NodeJS.ReadableStream): Promise<ApiResponse> {
  return new Promise((resolveApi, reject) => {
    const payload = body !== undefined ? JSON.stringify(body) : undefined;
    const headers: Record<string, string> = { Host: 'localhost' };
    if (payload !== undefined) {
      headers['Content-Type'] = 'application/json';
      headers['Content-Length'] = String(Buffer.byteLength(payload));
    }
    if (stream) headers['Content-Type'] = 'application/x-tar';
    const req = request({ socketPath: DOCKER_SOCK, path, method, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => { text += d; });
      res.on('end', () => resolveApi({ status: res.statusCode ?? 0, body: text }));
      res.on('error', reject);
    });
    req.setTimeout(120_000, () => req.destroy(new Error(`docker ${method} ${path}: no answer in 120 s`)));
    req.on('error', reject);
    if (stream) stream.pipe(req);
    else req.end(payload);
  });
}

async function dockerUp(): Promise<boolean> {
  try {
    return (await api('GET', '/_ping')).status === 200;
  } catch {
    return false;
  }
}

interface Container { name: string; pid: number }

async function ensureImage(work: string): Promise<void> {
  if ((await api('GET', `/images/${IMAGE}/json`)).status === 200) return;
  // The smallest image that can sleep: /bin/busybox alone (busybox-static).
  const root = join(work, 'rootfs');
  mkdirSync(join(root, 'bin'), { recursive: true });
  copyFileSync('/bin/busybox', join(root, 'bin/busybox'));
  chmodSync(join(root, 'bin/busybox'), 0o755);
  const tar = spawn('tar', ['-C', root, '-c', 'bin'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const res = await api('POST', `/images/create?fromSrc=-&repo=${IMAGE_REPO}&tag=latest`, undefined, tar.stdout);
  if (res.status !== 200 || (await api('GET', `/images/${IMAGE}/json`)).status !== 200) {
    throw new Error(`docker image import failed (${res.status}): ${res.body.slice(0, 300)}`);
  }
}

/** Container creations in flight: a cleanup after Ctrl-C waits for them, so none is missed. */
let creating = 0;

async function startContainer(name: string): Promise<Container> {
  creating++;
  try {
    return await createAndStart(name);
  } finally {
    creating--;
  }
}

async function createAndStart(name: string): Promise<Container> {
  const created = await api('POST', `/containers/create?name=${name}`, {
    Image: IMAGE,
    Cmd: ['/bin/busybox', 'sleep', '1000000'],
    HostConfig: { NetworkMode: 'none' },
    Labels: { 'pipework.bench': '1' },
  });
  if (created.status !== 201) throw new Error(`docker create ${name}: ${created.status} ${created.body.trim()}`);
  const started = await api('POST', `/containers/${name}/start`);
  if (started.status !== 204 && started.status !== 304) throw new Error(`docker start ${name}: ${started.status} ${started.body.trim()}`);
  const info = JSON.parse((await api('GET', `/containers/${name}/json`)).body) as { State?: { Pid?: number } };
  const pid = info.State?.Pid ?? 0;
  if (pid <= 0) throw new Error(`container ${name} has no PID`);
  return { name, pid };
}

async function ourContainers(): Promise<string[]> {
  const filters = encodeURIComponent(JSON.stringify({ name: [`^/${PREFIX}`] }));
  const res = await api('GET', `/containers/json?all=1&filters=${filters}`);
  if (res.status !== 200) return [];
  const list = JSON.parse(res.body) as { Names?: string[] }[];
  return list.flatMap((c) => c.Names ?? []).map((n) => n.replace(/^\//u, '')).filter((n) => n.startsWith(PREFIX));
}

// --- the host: bridge, ports, guests --------------------------------------------------------
async function bridgePorts(cleanup = false): Promise<string[]> {
  const r = await run({ argv: ['ip', '-j', 'link', 'show', 'master', BRIDGE] }, { cleanup });
  if (r.code !== 0) return [];
  const links = JSON.parse(r.stdout || '[]') as { ifname?: string }[];
  return links.flatMap((l) => (l.ifname !== undefined ? [l.ifname] : []));
}

/**
 * Remove every port of our bridge (the host ends; each takes its guest end with it). One by
 * one the kernel waits a grace period per link (~20 ms each); tagged with our link group and
 * deleted as a group it is one wait for all. Returns how many there were.
 */
async function clearPorts(cleanup = false): Promise<number> {
  const ports = await bridgePorts(cleanup);
  if (ports.length > 0) {
    await runOk({ argv: ['ip', '-force', '-batch', '-'], input: ports.map((p) => `link set dev ${p} group ${LINK_GROUP}\n`).join('') }, { cleanup });
    await runOk({ argv: ['ip', 'link', 'del', 'group', String(LINK_GROUP)] }, { cleanup });
  }
  const left = await bridgePorts(cleanup);
  if (left.length > 0) throw new Error(`could not remove ${left.join(' ')} from ${BRIDGE}`);
  return ports.length;
}

function isSymlink(path: string): boolean {
  return lstatSync(path, { throwIfNoEntry: false })?.isSymbolicLink() ?? false;
}

/** Remove everything named pwbn… (best effort, quiet): ports, bridge, netns, links, containers, image. */
async function cleanupAll(opts: { image: boolean; pids: number[] }): Promise<void> {
  const step = async (what: string, fn: () => Promise<unknown>): Promise<void> => {
    try {
      await fn();
    } catch (err) {
      log(`cleanup: ${what}: ${(err as Error).message}`);
    }
  };
  await step('ports', async () => {
    if (existsSync(`/sys/class/net/${BRIDGE}`)) await clearPorts(true);
  });
  await step('bridge', async () => {
    if (existsSync(`/sys/class/net/${BRIDGE}`)) await runOk({ argv: ['ip', 'link', 'del', 'dev', BRIDGE] }, { cleanup: true });
  });
  await step('floor host ends', async () => {
    const stray = readdirSync('/sys/class/net').filter((n) => n.startsWith('pwbnf'));
    if (stray.length > 0) await run({ argv: ['ip', '-force', '-batch', '-'], input: stray.map((n) => `link del dev ${n}\n`).join('') }, { cleanup: true });
  });
  await step('named netns', async () => {
    if (!existsSync(NETNS_DIR)) return;
    const mine = readdirSync(NETNS_DIR).filter((n) => n.startsWith(PREFIX));
    const links = mine.filter((n) => isSymlink(join(NETNS_DIR, n)));
    for (const n of links) unlinkSync(join(NETNS_DIR, n));
    const netns = mine.filter((n) => !links.includes(n));
    if (netns.length > 0) await run({ argv: ['ip', '-force', '-batch', '-'], input: netns.map((n) => `netns del ${n}\n`).join('') }, { cleanup: true });
  });
  await step('classic leftovers', () => {
    // The classic script leaves /var/run/netns/<PID> behind when it stops on an error.
    for (const pid of opts.pids) {
      const p = join(NETNS_DIR, String(pid));
      if (isSymlink(p) && readlinkSync(p) === `/proc/${pid}/ns/net`) unlinkSync(p);
    }
    return Promise.resolve();
  });
  await step('containers', async () => {
    if (!(await dockerUp())) return;
    for (let k = 0; k < 300 && creating > 0; k++) await sleep(100);
    const names = await ourContainers();
    await pool(names, 8, async (n) => {
      await api('DELETE', `/containers/${n}?force=true&v=true`);
    });
    if (opts.image && (await api('GET', `/images/${IMAGE}/json`)).status === 200) await api('DELETE', `/images/${IMAGE}?force=true`);
  });
}

// --- process counting (strace) -------------------------------------------------------------
/**
 * Processes in a strace -f log: the traced command itself, plus every successful fork, vfork,
 * clone or clone3 without CLONE_THREAD (threads are not processes).
 */
function countProcesses(trace: string): number {
  const pending = new Map<string, string>();
  let count = 1;
  for (const line of trace.split('\n')) {
    const m = /^(\d+)\s+(.*)$/u.exec(line);
    if (!m) continue;
    const pid = m[1]!;
    let text = m[2]!;
    if (text.endsWith('<unfinished ...>')) {
      pending.set(pid, text);
      continue;
    }
    const resumed = /^<\.\.\. (\w+) resumed>(.*)$/u.exec(text);
    if (resumed) {
      text = (pending.get(pid) ?? `${resumed[1]!}(`) + resumed[2]!;
      pending.delete(pid);
    }
    if (!/^(?:clone3?|fork|vfork)\(/u.test(text)) continue;
    if (text.includes('CLONE_THREAD')) continue;
    if (/=\s*[1-9]\d*(?:\s|$)/u.test(text.slice(text.lastIndexOf(')')))) count++;
  }
  return count;
}

let straceArgs: string[] | undefined;

/** Run the commands one after another under strace; total processes. */
async function countUnderStrace(cmds: Cmd[], work: string): Promise<number> {
  let total = 0;
  const out = join(work, 'strace.out');
  for (const cmd of cmds) {
    rmSync(out, { force: true });
    await runOk({ ...cmd, argv: ['strace', ...straceArgs!, '-o', out, ...cmd.argv] });
    total += countProcesses(readFileSync(out, 'utf8'));
  }
  return total;
}

// --- scenarios ------------------------------------------------------------------------------
type GuestType = 'docker' | 'netns' | 'pid';

interface Guest {
  /** What the command lines name: the container or the netns. */
  ref: string;
  /** The name under /var/run/netns for `ip -n` (the floor). */
  nsName: string;
  address: string;
  /** Floor host end. */
  floorIf: string;
  pid?: number;
}

interface Scenario {
  key: string;
  label: string;
  type: GuestType;
  kind: 'loop' | 'batch' | 'floor';
  /** The commands of a run on these guests (a loop: one per attach; else all of the run). */
  commands(guests: Guest[]): Cmd[];
}

function addressOf(type: GuestType, i: number): string {
  const base = type === 'docker' ? 1 : type === 'netns' ? 11 : 21;
  return `10.213.${base + Math.floor(i / 250)}.${1 + (i % 250)}/16`;
}

const BROADCAST = '10.213.255.255';

function classicScenario(noArpPath: string): Scenario {
  return {
    key: 'classic', label: 'classic script, loop (no arping)', type: 'docker', kind: 'loop',
    commands: (gs) => gs.map((g) => ({ argv: ['sh', CLASSIC!, BRIDGE, g.ref, g.address], env: { PATH: noArpPath } })),
  };
}

/** The in-process prototype's switch (ours only; needs `npm run build:native`). */
const NETLINK_ENV = { PIPEWORK_NETLINK: '1' };

function oneShotScenario(type: GuestType, opts: { netlink?: boolean; before?: boolean; noArpPath?: string } = {}): Scenario {
  const { netlink = false, before = false, noArpPath } = opts;
  const env = { ...(noArpPath && { PATH: noArpPath }), ...(netlink && NETLINK_ENV) };
  return {
    key: `oneshot${netlink ? '-nl' : ''}${noArpPath ? '-noarp' : ''}${before ? '-before' : ''}`,
    label: `${before ? 'BEFORE: ' : ''}pipework one-shot, loop${netlink ? ', in-process netlink' : ''}${noArpPath ? ', arping absent' : ''}`,
    type, kind: 'loop',
    commands: (gs) => gs.map((g) => ({ argv: [before ? BEFORE! : PIPEWORK, BRIDGE, g.ref, g.address], ...(Object.keys(env).length > 0 && { env }) })),
  };
}

function batchScenario(type: GuestType, work: string, opts: { noArpPath?: string; netlink?: boolean; before?: boolean } = {}): Scenario {
  const { noArpPath, netlink = false, before = false } = opts;
  return {
    key: `batch${netlink ? '-nl' : ''}${noArpPath ? '-noarp' : ''}${before ? '-before' : ''}`,
    label: `${before ? 'BEFORE: ' : ''}pipework batch${netlink ? ', in-process netlink' : ''}${noArpPath ? ', arping absent' : ''}`,
    type, kind: 'batch',
    commands: (gs) => {
      const file = join(work, `batch-${type}-${gs.length}.txt`);
      writeFileSync(file, gs.map((g) => `${BRIDGE} ${g.ref} ${g.address}\n`).join(''));
      const env = { ...(noArpPath && { PATH: noArpPath }), ...(netlink && NETLINK_ENV) };
      return [{ argv: [before ? BEFORE! : PIPEWORK, 'batch', file], ...(Object.keys(env).length > 0 && { env }) }];
    },
  };
}

/**
 * The same kernel operations as `pipework batch` (veth with its peer made in the guest, both
 * ends' alias, bridge port, up; address with broadcast, up), as one would write them by hand:
 * `ip -batch HOSTFILE`, then `xargs -P 8 ... ip -n NS -batch FILE` (8 guests at a time, as
 * `pipework batch` does). The files are written before the clock starts.
 */
function floorScenario(type: GuestType, work: string): Scenario {
  return {
    key: 'floor', label: 'floor: ip -batch, xargs -P8 ip -n NS -batch', type, kind: 'floor',
    commands: (gs) => {
      const dir = join(work, `floor-${type}-${gs.length}`);
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'host'), gs.map((g) => [
        `link add name ${g.floorIf} mtu 1500 type veth peer name eth1 mtu 1500 netns ${g.nsName}`,
        `link set dev ${g.floorIf} alias pipework/1;r=host;g=${g.ref};i=eth1;h=${BRIDGE};k=bridge;l=${g.floorIf};a=${g.address}`,
        `link set dev ${g.floorIf} master ${BRIDGE}`,
        `link set dev ${g.floorIf} up`,
      ].join('\n')).join('\n') + '\n');
      for (const g of gs) {
        writeFileSync(join(dir, g.nsName), [
          `link set dev eth1 alias pipework/1;r=guest;g=${g.ref};i=eth1;h=${BRIDGE};k=bridge;l=${g.floorIf};a=${g.address}`,
          `addr add ${g.address} brd ${BROADCAST} dev eth1`,
          'link set dev eth1 up',
        ].join('\n') + '\n');
      }
      writeFileSync(join(dir, 'list'), gs.map((g) => `-n ${g.nsName} -batch ${join(dir, g.nsName)}\n`).join(''));
      return [
        { argv: ['ip', '-batch', join(dir, 'host')] },
        { argv: ['xargs', '-P', String(GUEST_CONCURRENCY), '-L', '1', '-a', join(dir, 'list'), 'ip'] },
      ];
    },
  };
}

/** One timed run of a batch or floor scenario: wall and CPU ms per attach. */
async function timeRun(s: Scenario, guests: Guest[]): Promise<{ ms: number; cpu: number }> {
  const cmds = s.commands(guests);
  const c0 = cpuMs();
  const t0 = performance.now();
  for (const c of cmds) await runOk(c);
  return { ms: (performance.now() - t0) / guests.length, cpu: (cpuMs() - c0) / guests.length };
}

/** After a run: exactly one port per guest, and guest 0 has its address; then clear. */
async function checkAndClear(s: Scenario, guests: Guest[], checkGuest: boolean): Promise<void> {
  if (checkGuest) {
    const g = guests[0]!;
    const r = await run({ argv: ['ip', '-n', g.nsName, '-o', '-4', 'addr', 'show', 'dev', 'eth1'] });
    if (!r.stdout.includes(`inet ${g.address} brd ${BROADCAST}`)) {
      throw new Error(`${s.label}: ${g.ref} has no eth1 with ${g.address} (${(r.stdout || r.stderr).trim()})`);
    }
  }
  const n = await clearPorts();
  if (n !== guests.length) throw new Error(`${s.label} on ${guests.length} ${s.type} guests made ${n} bridge ports`);
}

// --- statistics and output ------------------------------------------------------------------
function quantile(xs: readonly number[], q: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo]! + (s[hi]! - s[lo]!) * (pos - lo);
}
const median = (xs: readonly number[]): number => quantile(xs, 0.5);
const fmt = (x: number, digits = 1): string => (Number.isFinite(x) ? x.toFixed(digits) : '—');
const ratio = (a: number, b: number): string => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? `${(a / b).toFixed(2)}×` : '—');

interface Result {
  n: number;
  scenario: Scenario;
  samples: number[];
  /** CPU ms per attach, one per sample. */
  cpu: number[];
  procs?: number;
  procsSampled?: number;
}

// --- main -------------------------------------------------------------------------------------
async function main(): Promise<number> {
  const t0 = performance.now();
  const loadAtStart = loadavg()[0]!;
  if (process.getuid?.() !== 0) {
    log('run as root (it makes network namespaces, containers and a bridge)');
    return 1;
  }
  const sizes = (process.env['BENCH_SIZES'] ?? '1,10,100,200').split(',').map((s) => Number(s.trim()));
  if (sizes.some((n) => !Number.isInteger(n) || n < 1 || n > 999)) {
    log(`BENCH_SIZES must be whole numbers 1..999, comma-separated (got '${process.env['BENCH_SIZES']}')`);
    return 1;
  }
  const maxN = Math.max(...sizes);
  for (const p of ['ip', 'nsenter']) {
    if (!which(p)) {
      log(`${p} not found: install iproute2 / util-linux`);
      return 1;
    }
  }
  if (!existsSync(join(ROOT, 'build/dist/pipework.cjs'))) {
    log('build/dist/pipework.cjs is missing: run `npm run build` first (bin/pipework would fall back to the slower unbundled build)');
    return 1;
  }
  const beforeOk = BEFORE !== undefined && BEFORE !== '' && existsSync(BEFORE);
  if (BEFORE !== undefined && !beforeOk) {
    log(`BENCH_BEFORE=${BEFORE} does not exist`);
    return 1;
  }

  const notes: string[] = [];
  const tck = Number((await run({ argv: ['getconf', 'CLK_TCK'] })).stdout.trim());
  if (Number.isInteger(tck) && tck > 0) clkTck = tck;
  const hasStrace = which('strace') !== undefined;
  if (hasStrace) {
    const seccomp = (await run({ argv: ['strace', '-f', '-qq', '--seccomp-bpf', '-e', 'trace=process', '-o', '/dev/null', 'true'] })).code === 0;
    straceArgs = ['-f', '-qq', ...(seccomp ? ['--seccomp-bpf'] : []), '-e', 'trace=process'];
  } else {
    notes.push('strace is not installed (Debian: `apt-get install strace`): the procs/attach column is empty.');
  }
  const gnuTime = existsSync('/usr/bin/time') && (await run({ argv: ['/usr/bin/time', '-f', '%M', 'true'] })).stderr.trim().match(/^\d+$/u) !== null;
  if (!gnuTime) notes.push('GNU time (/usr/bin/time) is not installed (Debian: `apt-get install time`): no peak RSS.');
  const classicOk = CLASSIC !== undefined && CLASSIC !== '' && existsSync(CLASSIC) && which('docker') !== undefined;
  if (!classicOk) {
    const why = !CLASSIC ? 'PIPEWORK_CLASSIC is not set' : !existsSync(CLASSIC) ? `PIPEWORK_CLASSIC=${CLASSIC} does not exist` : 'the docker CLI (which the classic script runs) is not installed';
    log(`${why}: the classic script is not run (set it to the path of jpetazzo's pipework script to compare)`);
    notes.push(`${why}: no classic-script column.`);
  }
  const netlinkOk = existsSync(join(ROOT, 'native/build/Release/pipework_netlink.node'));
  if (!netlinkOk) notes.push('The in-process netlink addon is not built (`npm run build:native`): no in-process rows.');
  const docker = await dockerUp();
  if (!docker) {
    log(`Docker does not answer on ${DOCKER_SOCK}: Docker guests (classic, one-shot) are skipped; start dockerd to include them`);
    notes.push('Docker was not running: netns guests only.');
  } else if (!existsSync('/bin/busybox')) {
    log('/bin/busybox is missing (install busybox-static): it makes the tiny container image');
    return 1;
  }

  const work = mkdtempSync('/tmp/pwbn-');
  const pids: number[] = [];
  /** The PID guests' processes (ours: stopped by PID at the end). */
  const sleepers: number[] = [];
  let cleaned: Promise<void> | undefined;
  const cleanup = (): Promise<void> => {
    cleaned ??= (async () => {
      log('cleaning up (containers, netns, PID guests, bridge, image)');
      for (const pid of sleepers) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone already
        }
      }
      await cleanupAll({ image: true, pids });
      rmSync(work, { recursive: true, force: true });
    })();
    return cleaned;
  };
  const onSignal = (sig: NodeJS.Signals): void => {
    if (aborting) {
      log('still cleaning up, please wait');
      return;
    }
    aborting = true;
    log(`${sig}: stopping`);
    for (const c of live) c.kill('SIGTERM');
    void cleanup().finally(() => process.exit(sig === 'SIGINT' ? 130 : 143));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal);
  // `npm run bench | head` must not skip the cleanup: a closed stdout is ignored.
  process.stdout.on('error', () => undefined);
  process.stderr.on('error', () => undefined);
  process.on('uncaughtException', (err) => {
    log(`internal error: ${err.stack ?? err.message}`);
    if (aborting) return;
    aborting = true;
    for (const c of live) c.kill('SIGTERM');
    void cleanup().finally(() => process.exit(70));
  });

  try {
    // Leftovers of a killed run.
    const leftover = (existsSync(`/sys/class/net/${BRIDGE}`) ? 1 : 0)
      + (existsSync(NETNS_DIR) ? readdirSync(NETNS_DIR).filter((n) => n.startsWith(PREFIX)).length : 0)
      + (docker ? (await ourContainers()).length : 0);
    if (leftover > 0) {
      log('removing what an earlier interrupted run left (pwbn…)');
      await cleanupAll({ image: false, pids: [] });
    }

    // PATH without arping: every program of the standard PATH but arping, as symlinks.
    const noArpPath = join(work, 'path-no-arping');
    mkdirSync(noArpPath);
    for (const dir of STD_PATH.split(delimiter)) {
      if (!existsSync(dir)) continue;
      for (const name of readdirSync(dir)) {
        const dst = join(noArpPath, name);
        if (name === 'arping' || existsSync(dst) || isSymlink(dst)) continue;
        symlinkSync(join(dir, name), dst);
      }
    }
    if (!which('arping')) notes.push('arping is not installed: ours spawns no gratuitous ARP either (batch = batch -arp).');

    log(`setting up: bridge ${BRIDGE}, ${maxN} netns${docker ? `, ${maxN} containers` : ''}`);
    await runOk({ argv: ['ip', 'link', 'add', 'name', BRIDGE, 'type', 'bridge'] });
    await runOk({ argv: ['ip', 'link', 'set', 'dev', BRIDGE, 'up'] });
    mkdirSync(NETNS_DIR, { recursive: true });
    const netnsGuests: Guest[] = [];
    for (let i = 0; i < maxN; i++) {
      netnsGuests.push({ ref: netnsName(i), nsName: netnsName(i), address: addressOf('netns', i), floorIf: `pwbnfn${pad(i)}` });
    }
    await runOk({ argv: ['ip', '-batch', '-'], input: netnsGuests.map((g) => `netns add ${g.nsName}\n`).join('') });

    // PID guests: a process in a network namespace of its own (no netns name, no container).
    const pidGuests: Guest[] = [];
    for (let i = 0; i < maxN; i++) {
      const child = spawn('unshare', ['--net', 'sleep', 'infinity'], { stdio: 'ignore', detached: true });
      child.unref();
      if (child.pid === undefined) throw new Error('unshare --net sleep did not start');
      sleepers.push(child.pid);
    }
    for (const [i, pid] of sleepers.entries()) {
      // Wait until it is in its own namespace (unshare has done its work and exec'd sleep).
      for (let k = 0; k < 100 && readlinkSync(`/proc/${pid}/ns/net`) === readlinkSync('/proc/self/ns/net'); k++) await sleep(10);
      symlinkSync(`/proc/${pid}/ns/net`, join(NETNS_DIR, pidNsLink(i)));
      pidGuests.push({ ref: String(pid), nsName: pidNsLink(i), address: addressOf('pid', i), floorIf: `pwbnfp${pad(i)}`, pid });
    }

    const dockerGuests: Guest[] = [];
    if (docker) {
      await ensureImage(work);
      const containers = new Array<Container>(maxN);
      const tc = performance.now();
      await pool(Array.from({ length: maxN }, (_, i) => i), 6, async (i) => {
        if (aborting) throw new Aborted('aborted');
        containers[i] = await startContainer(containerName(i));
      });
      log(`${maxN} containers started in ${fmt((performance.now() - tc) / 1000)} s`);
      containers.forEach((c, i) => {
        pids.push(c.pid);
        symlinkSync(`/proc/${c.pid}/ns/net`, join(NETNS_DIR, dockerNsLink(i)));
        dockerGuests.push({ ref: c.name, nsName: dockerNsLink(i), address: addressOf('docker', i), floorIf: `pwbnfd${pad(i)}`, pid: c.pid });
      });
    }

    // --- Node's own start-up vs pipework --version (interleaved) ---
    const nodeMs: number[] = [];
    const versionMs: number[] = [];
    // NODE_EXTRA_CA_CERTS makes every Node start read that CA bundle (pipework never speaks
    // TLS); when it is set, start-up is measured without it too, since it is the machine's.
    const caCerts = process.env['NODE_EXTRA_CA_CERTS'];
    const noCa = { NODE_EXTRA_CA_CERTS: '' };
    const nodeNoCaMs: number[] = [];
    const versionNoCaMs: number[] = [];
    const versionBeforeMs: number[] = [];
    const versionBeforeNoCaMs: number[] = [];
    for (let k = 0; k < 21; k++) {
      nodeMs.push((await runOk({ argv: [process.execPath, '-e', '0'] })).ms);
      versionMs.push((await runOk({ argv: [PIPEWORK, '--version'] })).ms);
      if (beforeOk) versionBeforeMs.push((await runOk({ argv: [BEFORE, '--version'] })).ms);
      if (caCerts === undefined || caCerts === '') continue;
      nodeNoCaMs.push((await runOk({ argv: [process.execPath, '-e', '0'], env: noCa })).ms);
      versionNoCaMs.push((await runOk({ argv: [PIPEWORK, '--version'], env: noCa })).ms);
      if (beforeOk) versionBeforeNoCaMs.push((await runOk({ argv: [BEFORE, '--version'], env: noCa })).ms);
    }

    const guestsOf = (t: GuestType): Guest[] => (t === 'docker' ? dockerGuests : t === 'pid' ? pidGuests : netnsGuests);
    const types: GuestType[] = docker ? ['docker', 'netns', 'pid'] : ['netns', 'pid'];
    // One-shot loops on every guest kind; the classic script (Docker only) beside ours, with
    // arping absent for both (it would cost the classic script a second), and ours as it runs.
    const loopsOf = (t: GuestType): Scenario[] => [
      ...(t === 'docker' && classicOk ? [classicScenario(noArpPath)] : []),
      oneShotScenario(t), oneShotScenario(t, { noArpPath }),
      ...(beforeOk ? [oneShotScenario(t, { before: true })] : []),
      ...(netlinkOk && t === 'docker' ? [oneShotScenario(t, { netlink: true })] : []),
    ];
    const multi = (t: GuestType): Scenario[] => [
      batchScenario(t, work), batchScenario(t, work, { noArpPath }),
      ...(beforeOk ? [batchScenario(t, work, { before: true })] : []),
      ...(netlinkOk ? [batchScenario(t, work, { netlink: true }), batchScenario(t, work, { netlink: true, noArpPath })] : []),
      floorScenario(t, work),
    ];
    const results: Result[] = [];
    const resultOf = (n: number, s: Scenario): Result => {
      let r = results.find((x) => x.n === n && x.scenario === s);
      if (!r) {
        r = { n, scenario: s, samples: [], cpu: [] };
        results.push(r);
      }
      return r;
    };
    const multiByType = new Map(types.map((t) => [t, multi(t)] as const));
    const loopsByType = new Map(types.map((t) => [t, loopsOf(t)] as const));
    const checked = new Set<Scenario>();

    for (const n of sizes) {
      const tn = performance.now();
      // Loops: the classic script and ours alternate attach by attach on the same guests.
      const loopRounds = n === 1 ? 11 : n <= 10 ? 2 : 1;
      for (const t of types) {
        const loopScenarios = loopsByType.get(t)!;
        const gs = guestsOf(t).slice(0, n);
        for (let r = 0; r < loopRounds; r++) {
          // Every guest runs every scenario once a round, in an order that rotates.
          const phases = loopScenarios.map((_, k) => (k + r) % loopScenarios.length);
          for (const phase of phases) {
            for (const [i, g] of gs.entries()) {
              const s = loopScenarios[(i + phase) % loopScenarios.length]!;
              const [cmd] = s.commands([g]);
              const c0 = cpuMs();
              const done = await run(cmd!, { timeoutMs: 60_000 });
              const cpu = cpuMs() - c0;
              if (done.code !== 0) throw new Error(`${s.label}: ${cmd!.argv.join(' ')} exited ${done.code ?? done.signal}: ${done.stderr.trim()}`);
              resultOf(n, s).samples.push(done.ms);
              resultOf(n, s).cpu.push(cpu);
            }
            // Guest 0 was plumbed by this phase's first scenario: check it once per scenario.
            const s0 = loopScenarios[phase % loopScenarios.length]!;
            await checkAndClear(s0, gs, !checked.has(s0));
            checked.add(s0);
          }
        }
      }
      // batch, batch without arping, floor: rotating order, several rounds, per guest type.
      const rounds = n === 1 ? 7 : n <= 10 ? 5 : 3;
      for (const t of types) {
        const ss = multiByType.get(t)!;
        const gs = guestsOf(t).slice(0, n);
        for (let r = 0; r < rounds; r++) {
          for (let k = 0; k < ss.length; k++) {
            const s = ss[(r + k) % ss.length]!;
            const { ms, cpu } = await timeRun(s, gs);
            resultOf(n, s).samples.push(ms);
            resultOf(n, s).cpu.push(cpu);
            await checkAndClear(s, gs, !checked.has(s));
            checked.add(s);
          }
        }
      }
      // Processes per attach, under strace (loops: the first three attaches).
      if (hasStrace) {
        for (const t of types) {
          for (const s of loopsByType.get(t)!) {
            const gs = guestsOf(t).slice(0, Math.min(n, 3));
            const r = resultOf(n, s);
            r.procs = (await countUnderStrace(s.commands(gs), work)) / gs.length;
            r.procsSampled = gs.length;
            await checkAndClear(s, gs, false);
          }
        }
        for (const t of types) {
          const gs = guestsOf(t).slice(0, n);
          for (const s of multiByType.get(t)!) {
            resultOf(n, s).procs = (await countUnderStrace(s.commands(gs), work)) / n;
            await checkAndClear(s, gs, false);
          }
        }
      }
      log(`N=${n} done in ${fmt((performance.now() - tn) / 1000)} s`);
    }

    // --- peak RSS of the biggest batch: the whole (GNU time) and each child (time in PATH shims) ---
    const rssLines: string[] = [];
    const rssKiB = new Map<GuestType, number>();
    if (gnuTime) {
      const shims = join(work, 'path-rss');
      mkdirSync(shims);
      const childLog = join(work, 'children-rss.txt');
      for (const p of ['ip', 'nsenter', 'arping']) {
        const real = which(p);
        if (!real) continue;
        writeFileSync(join(shims, p), `#!/bin/sh\nexec /usr/bin/time -a -o ${childLog} -f '%M %C' ${real} "$@"\n`, { mode: 0o755 });
      }
      for (const t of types) {
        const gs = guestsOf(t).slice(0, maxN);
        const [cmd] = batchScenario(t, work).commands(gs);
        const out = join(work, 'time.txt');
        await runOk({ argv: ['/usr/bin/time', '-o', out, '-f', '%M', ...cmd!.argv] });
        const whole = Number(readFileSync(out, 'utf8').trim().split('\n').pop());
        await checkAndClear(batchScenario(t, work), gs, false);
        rmSync(childLog, { force: true });
        await runOk({ ...cmd!, env: { PATH: `${shims}${delimiter}${STD_PATH}` } });
        await checkAndClear(batchScenario(t, work), gs, false);
        // arping outlives the batch by about a second: wait for its line.
        for (let k = 0; k < 30 && (readFileSync(childLog, 'utf8').match(/arping/gu)?.length ?? 0) < gs.length && which('arping'); k++) await sleep(100);
        const children = readFileSync(childLog, 'utf8').trim().split('\n').map((l) => {
          const m = /^(\d+) (\S+)/u.exec(l);
          return m ? { kib: Number(m[1]), prog: m[2]!.split('/').pop()! } : undefined;
        }).filter((c) => c !== undefined);
        const biggest = children.reduce((a, b) => (b.kib > a.kib ? b : a), { kib: 0, prog: '—' });
        rssKiB.set(t, whole);
        rssLines.push(`- Peak RSS, \`pipework batch\` of ${maxN} ${t} guests: ${fmt(whole / 1024)} MiB (GNU time %M: the pipework process, or a child if larger); largest of its ${children.length} child processes: ${fmt(biggest.kib / 1024)} MiB (${biggest.prog}).`);
      }
    }

    // --- the table ---
    const floorOf = (n: number, t: GuestType): number => median(results.find((r) => r.n === n && r.scenario.type === t && r.scenario.kind === 'floor')?.samples ?? []);
    const classicOf = (n: number): number => median(results.find((r) => r.n === n && r.scenario.key === 'classic')?.samples ?? []);
    const lines: string[] = [];
    lines.push('| N | guests | scenario | ms/attach (median) | IQR | samples | CPU ms/attach | procs/attach | × classic | × floor |');
    lines.push('|---:|---|---|---:|---:|---:|---:|---:|---:|---:|');
    const order = ['classic', 'oneshot-before', 'oneshot', 'oneshot-noarp', 'oneshot-nl', 'batch-before', 'batch', 'batch-noarp', 'batch-nl', 'batch-nl-noarp', 'floor'];
    const sorted = [...results].sort((a, b) => a.n - b.n || a.scenario.type.localeCompare(b.scenario.type) || order.indexOf(a.scenario.key) - order.indexOf(b.scenario.key));
    for (const r of sorted) {
      const m = median(r.samples);
      const procs = r.procs === undefined ? '—' : `${fmt(r.procs, 2)}${r.procsSampled !== undefined && r.procsSampled < r.n ? ` (${r.procsSampled} sampled)` : ''}`;
      const cpu = r.cpu.reduce((a, b) => a + b, 0) / r.cpu.length;
      lines.push(`| ${r.n} | ${r.scenario.type} | ${r.scenario.label} | ${fmt(m)} | ${fmt(quantile(r.samples, 0.25))}–${fmt(quantile(r.samples, 0.75))} | ${r.samples.length} | ${fmt(cpu)} | ${procs} | ${r.scenario.type === 'docker' ? ratio(m, classicOf(r.n)) : '—'} | ${ratio(m, floorOf(r.n, r.scenario.type))} |`);
    }

    // --- targets ---
    const verdict = (ok: boolean | undefined): string => (ok === undefined ? 'not measured' : ok ? 'MET' : 'NOT MET');
    const targets: string[] = [];
    const medianOf = (n: number, t: GuestType, key: string): number => median(results.find((r) => r.n === n && r.scenario.type === t && r.scenario.key === key)?.samples ?? []);
    const pooled = (t: GuestType, key: string): number[] => results.filter((r) => r.scenario.type === t && r.scenario.key === key).flatMap((r) => r.samples);
    if (classicOk && docker) {
      // Both spared the gratuitous ARP (which costs the classic script a second).
      const per = sizes.map((n) => ({ n, x: medianOf(n, 'docker', 'oneshot-noarp') / classicOf(n) }));
      const all = median(pooled('docker', 'oneshot-noarp')) / median(pooled('docker', 'classic'));
      targets.push(`- One-shot Docker attach ≤ 0.8× the classic script (arping absent for both): ${per.map((p) => `N=${p.n} ${p.x.toFixed(2)}×`).join(', ')}; all attaches pooled ${all.toFixed(2)}× → ${verdict(all <= 0.8)}`);
    } else {
      targets.push('- One-shot Docker attach ≤ 0.8× the classic script: not measured (needs Docker and PIPEWORK_CLASSIC)');
    }
    const startRatio = median(versionMs) / median(nodeMs);
    const startRatioNoCa = nodeNoCaMs.length > 0 ? median(versionNoCaMs) / median(nodeNoCaMs) : undefined;
    targets.push(`- \`pipework --version\` ≤ 1.15× \`node -e 0\`: ${startRatio.toFixed(2)}× as this environment is${startRatioNoCa !== undefined ? `, ${startRatioNoCa.toFixed(2)}× without NODE_EXTRA_CA_CERTS` : ''} → ${verdict(startRatio <= 1.15 && (startRatioNoCa === undefined || startRatioNoCa <= 1.15))}`);
    const bigN = sizes.includes(200) ? 200 : undefined;
    for (const t of types) {
      const b = bigN !== undefined ? medianOf(bigN, t, 'batch') / floorOf(bigN, t) : undefined;
      targets.push(`- \`batch\` of 200 ${t} guests ≤ 1.1× the floor: ${b === undefined ? 'not measured (200 not in BENCH_SIZES)' : `${b.toFixed(2)}× → ${verdict(b <= 1.1)}`}`);
    }
    if (beforeOk) {
      // No row slower than before: each of ours against the same scenario with the earlier build.
      const slower: string[] = [];
      for (const r of results) {
        if (!r.scenario.key.endsWith('-before')) continue;
        const ours = medianOf(r.n, r.scenario.type, r.scenario.key.replace(/-before$/u, ''));
        const was = median(r.samples);
        if (ours > was * 1.05) slower.push(`N=${r.n} ${r.scenario.type} ${r.scenario.key.replace(/-before$/u, '')} ${ratio(ours, was)}`);
      }
      targets.push(`- No row slower than before (BENCH_BEFORE, beyond 5% noise): ${slower.length === 0 ? 'none slower → MET' : `${slower.join(', ')} → NOT MET`}`);
      targets.push(`- \`pipework --version\`: ${fmt(median(versionMs))} ms, before ${fmt(median(versionBeforeMs))} ms${versionNoCaMs.length > 0 ? `; without NODE_EXTRA_CA_CERTS ${fmt(median(versionNoCaMs))} ms, before ${fmt(median(versionBeforeNoCaMs))} ms` : ''}`);
    }
    if (netlinkOk && bigN !== undefined) {
      // Not a target: what the in-process prototype (PIPEWORK_NETLINK=1) would give.
      const parts = types.map((t) => `${t} ${ratio(medianOf(bigN, t, 'batch-nl'), floorOf(bigN, t))} (arping absent ${ratio(medianOf(bigN, t, 'batch-nl-noarp'), floorOf(bigN, t))})`);
      targets.push(`- In-process prototype, \`batch\` of 200 vs the floor (no target): ${parts.join(', ')}`);
    }
    for (const t of types) {
      const kib = rssKiB.get(t);
      targets.push(`- Peak RSS of a ${maxN}-attach batch (${t}) < 100 MiB${maxN !== 200 ? ` (asked of 200; measured at ${maxN})` : ''}: ${kib === undefined ? 'not measured' : `${fmt(kib / 1024)} MiB → ${verdict(kib < 100 * 1024)}`}`);
    }

    const out: string[] = [];
    out.push('');
    out.push(`pipework bench — ${new Date().toISOString()}, node ${process.version}, ${cpus().length} CPUs, 1-min load average ${loadAtStart.toFixed(2)} at the start, ${loadavg()[0]!.toFixed(2)} at the end`);
    out.push('');
    out.push(...lines);
    out.push('');
    out.push(`- Node start-up floor: \`node -e 0\` ${fmt(median(nodeMs))} ms; \`pipework --version\` ${fmt(median(versionMs))} ms (medians of ${nodeMs.length}, interleaved; ${ratio(median(versionMs), median(nodeMs))}).`);
    if (nodeNoCaMs.length > 0) {
      out.push(`- NODE_EXTRA_CA_CERTS is set in this environment (every scenario runs with it): Node reads that CA bundle at each start. Without it, \`node -e 0\` ${fmt(median(nodeNoCaMs))} ms and \`pipework --version\` ${fmt(median(versionNoCaMs))} ms (medians of ${nodeNoCaMs.length}, interleaved with the above).`);
    }
    out.push(...rssLines);
    out.push('- Targets:');
    out.push(...targets.map((t) => `  ${t}`));
    out.push('- How: wall time from spawn to exit, per attach (loops: each attach; batch and floor: the run ÷ N). The loops alternate attach by attach on the same containers (each guest gets every loop scenario once a round, in rotating order); the batch scenarios and floor rotate over several rounds; every run starts from the guests and an empty bridge. procs/attach: processes under `strace -f -e trace=process` (forks/clones that are not threads, plus the command itself) ÷ N; for the loops, the first attaches only. CPU ms/attach: mean user+sys time of the run (the bench itself, spawning, plus every process it reaped; the detached arping, which outlives pipework, is not in it). The floor is `ip -batch` for the host sides, then `xargs -P 8 -L 1 ip` running `ip -n NS -batch FILE` per guest (8 at a time, as `pipework batch` does; procs/attach counts xargs too); it sends no gratuitous ARP (compare with batch -arp). × classic of batch rows compares runs that are not interleaved with the loops.');
    out.push(...notes.map((n) => `- Note: ${n}`));
    out.push(`- Bench wall time ${fmt((performance.now() - t0) / 1000)} s (before cleanup).`);
    process.stdout.write(`${out.join('\n')}\n`);

    const jsonPath = process.env['BENCH_JSON'];
    if (jsonPath) {
      writeFileSync(jsonPath, JSON.stringify({
        date: new Date().toISOString(), node: process.version, load: loadavg(),
        startup: { node: nodeMs, version: versionMs },
        rssKiB: Object.fromEntries(rssKiB),
        startupBefore: { version: versionBeforeMs, versionNoCa: versionBeforeNoCaMs },
        results: results.map((r) => ({ n: r.n, guests: r.scenario.type, scenario: r.scenario.key, samples: r.samples, cpu: r.cpu, procs: r.procs })),
      }, null, 1));
    }
    return 0;
  } catch (err) {
    if (err instanceof Aborted || aborting) return 130;
    log(`FAILED: ${(err as Error).message}`);
    return 1;
  } finally {
    if (!aborting) await cleanup();
  }
}

process.exitCode = await main();
