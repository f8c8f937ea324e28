// What the watcher's integration tests share: a watcher process (its JSON log read as it comes),
// looking into a container's namespace by its PID (links, addresses, ping with the host's
// busybox), Open vSwitch rows, Docker containers on any Engine API socket, and a Docker daemon of
// the test's own (its own socket, data root, exec root and pidfile) that a test may kill.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { dockerApi } from './helpers/docker.js';
import { buildBusyboxTar } from './helpers/image.js';
import { pipeworkBin, sh, shOk, sleep, waitFor } from './helpers/run.js';

export interface WatchLine {
  time: string;
  action: string;
  result: string;
  runtime?: string;
  container?: string;
  id?: string;
  interface?: string;
  source?: string;
  text?: string;
  hostIf?: string;
  addresses?: string[];
  durationMs?: number;
  sinceEventMs?: number;
  trigger?: string;
  message?: string;
}

/** A running `pipework watch --json`. */
export class WatcherProc {
  readonly lines: WatchLine[] = [];
  stderr = '';
  private exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private exited = false;

  constructor(readonly child: ChildProcess) {
    let buffer = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      buffer += d;
      let nl: number;
      while ((nl = buffer.indexOf('\n')) !== -1) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        try {
          this.lines.push(JSON.parse(line) as WatchLine);
        } catch {
          this.stderr += `[not JSON on stdout] ${line}\n`;
        }
      }
    });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => { this.stderr += d; });
    this.exit = new Promise((resolve) => child.on('exit', (code, signal) => {
      this.exited = true;
      resolve({ code, signal });
    }));
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** The first line (from `from` on) that matches; bounded. */
  async waitFor(what: string, pred: (l: WatchLine) => boolean, timeoutMs = 20_000, from = 0): Promise<WatchLine> {
    return waitFor(`the watcher to log ${what}\n--- its log:\n${this.dump()}`, () => {
      if (this.exited) throw new Error(`the watcher exited\n${this.dump()}`);
      return this.lines.slice(from).find(pred);
    }, timeoutMs, 20);
  }

  has(pred: (l: WatchLine) => boolean): boolean {
    return this.lines.some(pred);
  }

  dump(): string {
    return `${this.lines.map((l) => JSON.stringify(l)).join('\n')}\n${this.stderr}`;
  }

  /** Send `signal`; resolves with the exit status and how long it took. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 10_000): Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }> {
    const t0 = performance.now();
    if (!this.exited) this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    const r = await this.exit;
    clearTimeout(timer);
    return { ...r, ms: performance.now() - t0 };
  }

  /** Wait for it to exit by itself (--once). */
  async done(timeoutMs = 60_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    const r = await this.exit;
    clearTimeout(timer);
    return r;
  }
}

/** `pipework watch --json ARGS`, from this worktree's build. */
export async function startWatcher(args: readonly string[], env: Record<string, string> = {}): Promise<WatcherProc> {
  const child = spawn(process.execPath, [pipeworkBin, 'watch', '--json', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  const w = new WatcherProc(child);
  if (!args.includes('--once')) await w.waitFor('that it started', (l) => l.action === 'watch' && l.result === 'started', 10_000);
  return w;
}

/** Links in a process's network namespace (no process started: /proc/PID/net/dev). */
export function linksOf(pid: number): string[] {
  return readFileSync(`/proc/${pid}/net/dev`, 'utf8').split('\n').slice(2).map((l) => l.split(':')[0]!.trim()).filter((n) => n !== '');
}

/** IPv4 addresses (address/prefix) of an interface inside a process's namespace. */
export async function addressesOf(pid: number, ifname: string): Promise<string[]> {
  const r = await sh(['nsenter', '-t', String(pid), '-n', 'ip', '-j', '-4', 'addr', 'show', 'dev', ifname], { timeoutMs: 10_000 });
  if (r.code !== 0) return [];
  const [link] = JSON.parse(r.stdout) as { addr_info?: { local: string; prefixlen: number }[]; operstate?: string }[];
  return (link?.addr_info ?? []).map((a) => `${a.local}/${a.prefixlen}`);
}

/** One ping from inside a process's namespace (the host's busybox; only to test-made addresses). */
export async function pingFrom(pid: number, address: string): Promise<boolean> {
  const r = await sh(['nsenter', '-t', String(pid), '-n', '/bin/busybox', 'ping', '-c', '1', '-W', '2', address], { timeoutMs: 10_000 });
  return r.code === 0;
}

/** Open vSwitch Interface rows: name → external-ids. */
export async function ovsInterfaceRows(): Promise<Map<string, Record<string, string>>> {
  const out = await shOk(['ovs-vsctl', '--timeout=10', '--format=json', '--columns=name,external_ids', 'list', 'Interface'], { timeoutMs: 15_000 });
  const table = JSON.parse(out) as { data: [string, ['map', [string, string][]]][] };
  return new Map(table.data.map(([name, ids]) => [name, Object.fromEntries(ids[1])]));
}

/** Rows whose pipework.containerid is this container. */
export async function ovsRowsOf(containerId: string): Promise<string[]> {
  return [...(await ovsInterfaceRows())].filter(([, ids]) => ids['pipework.containerid'] === containerId).map(([n]) => n);
}

// --- Docker containers on any Engine API socket --------------------------------------------------

export interface Started {
  id: string;
  name: string;
  pid: number;
}

async function ok(method: string, path: string, socketPath: string, json?: unknown): Promise<string> {
  const r = await dockerApi(method, path, { socketPath, ...(json !== undefined && { json }) });
  if (r.status < 200 || r.status >= 300) throw new Error(`${method} ${path} on ${socketPath}: HTTP ${r.status}: ${r.body.trim()}`);
  return r.body;
}

export interface ContainerOptions {
  labels?: Record<string, string>;
  env?: string[];
  restart?: 'always' | 'no';
  image?: string;
  /** Default: wait until it runs with a PID. */
  noWait?: boolean;
}

/** Create and start a container (network none) on the Docker daemon at `socket`. */
export async function dockerRun(socket: string, name: string, opts: ContainerOptions = {}): Promise<Started> {
  await dockerApi('DELETE', `/containers/${encodeURIComponent(name)}?force=true`, { socketPath: socket });
  const created = JSON.parse(await ok('POST', `/containers/create?name=${encodeURIComponent(name)}`, socket, {
    Image: opts.image ?? 'pipework-test-busybox:latest', Cmd: ['sleep', '3600'], Labels: opts.labels ?? {}, Env: opts.env ?? [],
    HostConfig: { NetworkMode: 'none', RestartPolicy: { Name: opts.restart ?? 'no' } },
  })) as { Id: string };
  await ok('POST', `/containers/${created.Id}/start`, socket);
  if (opts.noWait === true) return { id: created.Id, name, pid: 0 };
  return { id: created.Id, name, pid: await runningPid(socket, created.Id) };
}

/** The PID of a running container (waits up to 15 s for it to run). */
export async function runningPid(socket: string, id: string, notPid?: number): Promise<number> {
  return waitFor(`container ${id.slice(0, 12)} to run`, async () => {
    const r = await dockerApi('GET', `/containers/${id}/json`, { socketPath: socket });
    if (r.status !== 200) return undefined;
    const c = JSON.parse(r.body) as { State: { Running: boolean; Pid: number } };
    return c.State.Running && c.State.Pid > 0 && c.State.Pid !== notPid ? c.State.Pid : undefined;
  }, 15_000, 50);
}

export async function dockerKill(socket: string, id: string): Promise<void> {
  await ok('POST', `/containers/${id}/kill`, socket);
}

export async function dockerRestart(socket: string, id: string): Promise<void> {
  await ok('POST', `/containers/${id}/restart?t=0`, socket);
}

export async function dockerRemove(socket: string, name: string): Promise<void> {
  const r = await dockerApi('DELETE', `/containers/${encodeURIComponent(name)}?force=true`, { socketPath: socket });
  if (r.status !== 204 && r.status !== 404) throw new Error(`rm ${name}: HTTP ${r.status}`);
}

export async function dockerRemovePrefix(socket: string, prefix: string): Promise<void> {
  const r = await dockerApi('GET', '/containers/json?all=true', { socketPath: socket });
  if (r.status !== 200) return;
  for (const c of JSON.parse(r.body) as { Names: string[] }[]) {
    const n = c.Names[0]?.replace(/^\//u, '') ?? '';
    if (n.startsWith(prefix)) await dockerRemove(socket, n);
  }
}

/** Import the busybox rootfs as `name` into the daemon at `socket`. */
export async function importImage(socket: string, name: string): Promise<void> {
  if ((await dockerApi('GET', `/images/${encodeURIComponent(name)}/json`, { socketPath: socket })).status === 200) return;
  const tar = await buildBusyboxTar();
  try {
    const [repo, tag] = name.split(':') as [string, string];
    const body = (await dockerApi('POST', `/images/create?${new URLSearchParams({ fromSrc: '-', repo, tag }).toString()}`, { socketPath: socket, tarFile: tar.path, timeoutMs: 120_000 })).body;
    if (/"error"\s*:/u.test(body)) throw new Error(`import into ${socket}: ${body}`);
  } finally {
    await tar.dispose();
  }
}

// --- A Docker daemon of the test's own -------------------------------------------------------------

export class OwnDockerd {
  child: ChildProcess | undefined;
  log = '';
  readonly socket: string;
  constructor(readonly root: string) {
    this.socket = join(root, 'docker.sock');
  }

  async start(): Promise<void> {
    mkdirSync(this.root, { recursive: true });
    // Its own everything, so the machine's dockerd is never touched; no bridge, no iptables.
    this.child = spawn('dockerd', [
      `--host=unix://${this.socket}`, `--data-root=${join(this.root, 'data')}`, `--exec-root=${join(this.root, 'exec')}`,
      `--pidfile=${join(this.root, 'docker.pid')}`, '--bridge=none', '--iptables=false', '--ip6tables=false',
      '--storage-driver=overlay2',
    ], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const keep = (d: Buffer) => { this.log = (this.log + d.toString('utf8')).slice(-20_000); };
    this.child.stdout!.on('data', keep);
    this.child.stderr!.on('data', keep);
    await waitFor(`our dockerd to answer on ${this.socket}\n${this.log}`, async () => {
      if (this.child?.exitCode !== null) throw new Error(`our dockerd exited: ${this.log.slice(-2000)}`);
      try {
        return (await dockerApi('GET', '/_ping', { socketPath: this.socket, timeoutMs: 2_000 })).status === 200;
      } catch {
        return false;
      }
    }, 60_000, 200);
  }

  /** SIGTERM it (it stops its containers) and wait for it to be gone. */
  async stop(): Promise<void> {
    const child = this.child;
    if (child?.pid === undefined || child.exitCode !== null) return;
    const gone = new Promise<void>((r) => child.on('exit', () => r()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    await gone;
    clearTimeout(timer);
    this.child = undefined;
  }

  /** Remove what it kept (after stop). */
  async dispose(): Promise<void> {
    await this.stop();
    // Its overlay mounts and netns files go with their directories once unmounted.
    for (const sub of ['exec', 'data']) {
      const dir = join(this.root, sub);
      if (!existsSync(dir)) continue;
      const mounts = readFileSync('/proc/self/mounts', 'utf8').split('\n').map((l) => l.split(' ')[1] ?? '').filter((m) => m.startsWith(dir)).sort().reverse();
      for (const m of mounts) await sh(['umount', '-l', m], { timeoutMs: 10_000 });
    }
    await sleep(100);
    rmSync(this.root, { recursive: true, force: true });
  }
}
