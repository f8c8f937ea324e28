// A containerd of the tests' own, serving CRI the way a kubelet's node runs it: Debian's
// containerd with a config, root, state and sockets in a scratch directory (it never touches
// dockerd's instance), the CNI plugins in a `bin_dir` of its own (pipework's launcher, installed
// by `pipework cni install --dir`, beside symlinks to Debian's reference plugins), one CNI
// `conf_dir` per runtime handler (a pod picks its network through RunPodSandbox's
// runtime_handler, as a RuntimeClass does), and a sandbox image made here from the local busybox.
// It is started and stopped by PID; stopping removes its sandboxes through CRI first, then
// unmounts what is left under its directory and removes it. Everything is named tcr….
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import {
  chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, openSync, closeSync, readFileSync, readdirSync, rmdirSync, rmSync, symlinkSync, writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildBusyboxTar } from '../helpers/image.js';
import { pipeworkBin, sh, shOk, sleep } from '../helpers/run.js';
import { CriClient, CriError, GRPC, netnsPathOf } from './client.js';
import type { PodSandboxConfig, PortMapping } from './proto.js';

export const REFERENCE_DIR = '/usr/lib/cni';
/** The sandbox image every pod runs (busybox, `sleep` as its command). */
export const SANDBOX_IMAGE = 'docker.io/library/tcr-pause:1';
/** The pods' namespace (Kubernetes') and the parent of their cgroups (cgroupfs style). */
export const POD_NAMESPACE = 'tcr';
export const CGROUP_PARENT = '/tcr-pods';
/** The default runtime handler (an empty runtime_handler picks it). */
export const DEFAULT_HANDLER = 'runc';

export interface ContainerdOptions {
  /**
   * A conflist per runtime handler (`runc` is the default one), given the fixture (for its
   * directories); written before containerd starts, so that it loads them all at start.
   */
  networks: (c: Containerd) => Record<string, Record<string, unknown>>;
  /** Extra environment of containerd (and so of the plugins it runs). */
  env?: Record<string, string>;
  /**
   * More launchers in bin_dir: type name → the daemon socket it is compiled with (as `cni install
   * --socket`); the default one, `pipework`, uses `<dir>/run/cni.sock` (daemonSocket).
   */
  launchers?: (c: Containerd) => Record<string, string>;
  /** Programs to put in bin_dir as they are (name → file content, made executable). */
  extraPlugins?: (c: Containerd) => Record<string, string>;
}

/**
 * An OCI image archive (`ctr images import` reads it) of one layer, the busybox root filesystem,
 * whose command sleeps: the pods' "pause" container.
 */
export async function buildSandboxImage(out: string, name = SANDBOX_IMAGE): Promise<void> {
  const rootfs = await buildBusyboxTar();
  const dir = mkdtempSync(join(process.env['PIPEWORK_TEST_TMP'] ?? tmpdir(), 'tcr-image-'));
  try {
    const blobs = join(dir, 'blobs', 'sha256');
    mkdirSync(blobs, { recursive: true });
    const blob = (data: Buffer, mediaType: string) => {
      const d = createHash('sha256').update(data).digest('hex');
      writeFileSync(join(blobs, d), data);
      return { mediaType, digest: `sha256:${d}`, size: data.length };
    };
    const layerData = readFileSync(rootfs.path);
    const layer = blob(layerData, 'application/vnd.oci.image.layer.v1.tar');
    const arch = process.arch === 'x64' ? 'amd64' : process.arch === 'arm64' ? 'arm64' : process.arch;
    const config = blob(Buffer.from(JSON.stringify({
      architecture: arch,
      os: 'linux',
      config: { Cmd: ['/bin/sleep', '1000000'], WorkingDir: '/' },
      rootfs: { type: 'layers', diff_ids: [layer.digest] },
    })), 'application/vnd.oci.image.config.v1+json');
    const manifest = blob(Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config, layers: [layer] })), 'application/vnd.oci.image.manifest.v1+json');
    writeFileSync(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    writeFileSync(join(dir, 'index.json'), JSON.stringify({
      schemaVersion: 2,
      manifests: [{ ...manifest, platform: { architecture: arch, os: 'linux' }, annotations: { 'io.containerd.image.name': name, 'org.opencontainers.image.ref.name': name.split(':').pop() } }],
    }));
    await shOk(['tar', '-C', dir, '-cf', out, 'oci-layout', 'index.json', 'blobs'], { timeoutMs: 30_000 });
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await rootfs.dispose();
  }
}

function toml(s: string): string {
  return JSON.stringify(s);
}

/** Pods made by `Containerd.pod`, with what the tests read back. */
export interface Pod {
  id: string;
  name: string;
  uid: string;
  /** network.ip of PodSandboxStatus. */
  ip: string;
  additionalIps: string[];
  /** The network namespace's path, from the verbose status. */
  netns: string;
}

export interface PodOptions {
  handler?: string;
  portMappings?: PortMapping[];
  timeoutMs?: number;
}

export class Containerd {
  readonly dir: string;
  readonly binDir: string;
  readonly rootDir: string;
  readonly stateDir: string;
  readonly socket: string;
  /** The pipework CNI daemon's socket the default launcher is compiled with. */
  readonly daemonSocket: string;
  /** host-local's dataDir for the conflists of the tests. */
  readonly ipamDir: string;
  readonly logFile: string;
  readonly client: CriClient;
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private readonly env: Record<string, string>;

  private constructor(readonly name: string, private readonly o: ContainerdOptions) {
    const base = process.env['PIPEWORK_TEST_TMP'] ?? tmpdir();
    mkdirSync(base, { recursive: true });
    this.dir = mkdtempSync(join(base, `${name}-`));
    this.binDir = join(this.dir, 'bin');
    this.rootDir = join(this.dir, 'root');
    this.stateDir = join(this.dir, 'state');
    this.socket = join(this.dir, 'containerd.sock');
    this.daemonSocket = join(this.dir, 'run', 'cni.sock');
    this.ipamDir = join(this.dir, 'ipam');
    this.logFile = join(this.dir, 'containerd.log');
    this.client = new CriClient(this.socket);
    this.env = o.env ?? {};
  }

  /** Prepare the scratch directory, start containerd, import the sandbox image, wait for CRI. */
  static async start(name: string, o: ContainerdOptions): Promise<Containerd> {
    if (!name.startsWith('tcr')) throw new Error(`containerd fixture names start with tcr: ${name}`);
    const c = new Containerd(name, o);
    try {
      await c.prepare();
      await c.launch();
      await c.importImage();
      await c.waitReady();
      return c;
    } catch (e) {
      await c.stop().catch(() => undefined);
      throw e;
    }
  }

  confDir(handler: string): string {
    return join(this.dir, 'net.d', handler);
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** The last lines of containerd's log (for failure messages). */
  logTail(lines = 30): string {
    try {
      return readFileSync(this.logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
    } catch {
      return '';
    }
  }

  private async prepare(): Promise<void> {
    for (const d of [this.binDir, this.rootDir, this.stateDir, this.ipamDir, join(this.dir, 'run'), join(this.dir, 'logs')]) mkdirSync(d, { recursive: true, mode: 0o700 });
    const install = async (dir: string, socket: string) => {
      const r = await sh([process.execPath, pipeworkBin, 'cni', 'install', '--dir', dir, '--socket', socket], { timeoutMs: 120_000 });
      if (r.code !== 0) throw new Error(`pipework cni install --dir ${dir}: ${r.stderr.trim()}`);
    };
    await install(this.binDir, this.daemonSocket);
    for (const [type, socket] of Object.entries(this.o.launchers?.(this) ?? {})) {
      const dir = join(this.dir, `launcher-${type}`);
      await install(dir, socket);
      copyFileSync(join(dir, 'pipework'), join(this.binDir, type));
      rmSync(dir, { recursive: true, force: true });
      chmodSync(join(this.binDir, type), 0o755);
    }
    for (const p of readdirSync(REFERENCE_DIR)) {
      if (!existsSync(join(this.binDir, p))) symlinkSync(join(REFERENCE_DIR, p), join(this.binDir, p));
    }
    for (const [p, text] of Object.entries(this.o.extraPlugins?.(this) ?? {})) writeFileSync(join(this.binDir, p), text, { mode: 0o755 });
    const networks = this.o.networks(this);
    const handlers = Object.keys(networks);
    for (const [h, conflist] of Object.entries(networks)) {
      mkdirSync(this.confDir(h), { recursive: true });
      writeFileSync(join(this.confDir(h), `10-${String(conflist['name'])}.conflist`), JSON.stringify(conflist, null, 2));
    }
    if (!handlers.includes(DEFAULT_HANDLER)) mkdirSync(this.confDir(DEFAULT_HANDLER), { recursive: true });
    const cri = 'plugins."io.containerd.grpc.v1.cri"';
    const runtime = (h: string) => [
      `[${cri}.containerd.runtimes.${toml(h)}]`,
      `  runtime_type = "io.containerd.runc.v2"`,
      `  cni_conf_dir = ${toml(this.confDir(h))}`,
      `  cni_max_conf_num = 1`,
      `[${cri}.containerd.runtimes.${toml(h)}.options]`,
      `  Root = ${toml(join(this.stateDir, 'runc'))}`,
      `  SystemdCgroup = false`,
    ].join('\n');
    writeFileSync(join(this.dir, 'config.toml'), `version = 2
root = ${toml(this.rootDir)}
state = ${toml(this.stateDir)}
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs", "io.containerd.internal.v1.tracing", "io.containerd.tracing.processor.v1.otlp"]

[grpc]
  address = ${toml(this.socket)}
[ttrpc]
  address = ${toml(`${this.socket}.ttrpc`)}
[debug]
  address = ""
[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = ${toml(join(this.rootDir, 'opt'))}

[${cri}]
  sandbox_image = ${toml(SANDBOX_IMAGE)}
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  disable_tcp_service = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  disable_apparmor = true
[${cri}.cni]
  bin_dir = ${toml(this.binDir)}
  conf_dir = ${toml(this.confDir(DEFAULT_HANDLER))}
  max_conf_num = 1
[${cri}.containerd]
  snapshotter = "overlayfs"
  default_runtime_name = ${toml(DEFAULT_HANDLER)}
${[DEFAULT_HANDLER, ...handlers.filter((h) => h !== DEFAULT_HANDLER)].map(runtime).join('\n')}
`);
  }

  private async launch(): Promise<void> {
    const log = openSync(this.logFile, 'a');
    try {
      const child = spawn('containerd', ['--config', join(this.dir, 'config.toml'), '--log-level', 'info'], {
        stdio: ['ignore', log, log],
        env: { ...process.env, ...this.env },
      });
      this.child = child;
      this.exited = new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.once('error', () => resolve());
      });
    } finally {
      closeSync(log);
    }
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (this.child?.exitCode !== null || this.child.signalCode !== null) throw new Error(`containerd exited at start:\n${this.logTail()}`);
      if (existsSync(this.socket)) {
        try {
          await this.client.version({ timeoutMs: 2_000 });
          return;
        } catch {
          // not serving CRI yet
        }
      }
      if (Date.now() > deadline) throw new Error(`containerd did not answer on ${this.socket} within 30 s:\n${this.logTail()}`);
      await sleep(100);
    }
  }

  private async importImage(): Promise<void> {
    const tar = join(this.dir, 'tcr-pause.tar');
    await buildSandboxImage(tar);
    await shOk(['ctr', '-a', this.socket, '-n', 'k8s.io', 'images', 'import', tar], { timeoutMs: 60_000 });
    rmSync(tar, { force: true });
  }

  /** Until the runtime and every CNI network are ready (containerd loads the conflists). */
  private async waitReady(): Promise<void> {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const s = await this.client.status(true, { timeoutMs: 5_000 });
      const bad = s.conditions.filter((c) => !c.status);
      if (bad.length === 0 && s.conditions.length > 0) return;
      if (Date.now() > deadline) throw new Error(`containerd's CRI is not ready within 30 s: ${JSON.stringify(bad)}`);
      await sleep(200);
    }
  }

  /** kill -9 of the containerd this fixture started (its shims and pods live on). */
  async kill9(): Promise<void> {
    const child = this.child;
    if (child?.pid === undefined || child.exitCode !== null || child.signalCode !== null) throw new Error('containerd is not running');
    this.client.destroy();
    process.kill(child.pid, 'SIGKILL');
    await this.exited;
    this.child = undefined;
  }

  /** Start it again on the same root, state and config (after kill9). */
  async restart(): Promise<void> {
    if (this.child !== undefined) throw new Error('containerd is still running');
    await this.launch();
    await this.waitReady();
  }

  /** Run a pod sandbox as the kubelet does and read back its address and netns. */
  async pod(name: string, o: PodOptions = {}): Promise<Pod> {
    const config = podConfig(name, this.dir, o.portMappings);
    mkdirSync(config.logDirectory!, { recursive: true });
    const id = await this.client.runPodSandbox(config, o.handler, { timeoutMs: o.timeoutMs ?? 120_000 });
    const st = await this.client.podSandboxStatus(id, true);
    return { id, name, uid: config.metadata.uid, ip: st.status.ip, additionalIps: st.status.additionalIps, netns: netnsPathOf(st) };
  }

  /** StopPodSandbox then RemovePodSandbox, as the kubelet does when a pod goes. */
  async removePod(id: string): Promise<void> {
    await this.client.stopPodSandbox(id, { timeoutMs: 120_000 });
    await this.client.removePodSandbox(id, { timeoutMs: 120_000 });
  }

  /** Stop and remove every sandbox containerd knows (what a test left). */
  async removeAll(): Promise<string[]> {
    const left = await this.client.listPodSandbox(undefined, { timeoutMs: 10_000 });
    const errors: string[] = [];
    for (const p of left) {
      try {
        await this.removePod(p.id);
      } catch (e) {
        errors.push(`${p.id}: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    if (errors.length > 0) throw new Error(`removing sandboxes: ${errors.join('; ')}`);
    return left.map((p) => p.id);
  }

  /**
   * Remove the pods, stop containerd (SIGTERM, then SIGKILL after 10 s), end the shims it started
   * that are still running (by PID, found by their -address argument), unmount what is left under
   * the scratch directory, remove it and the pods' cgroups.
   */
  async stop(): Promise<void> {
    const errors: string[] = [];
    if (this.child !== undefined) {
      await this.removeAll().catch((e: unknown) => errors.push(e instanceof Error ? e.message : String(e)));
      this.client.close();
      const child = this.child;
      if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await this.exited;
        clearTimeout(t);
      }
      this.child = undefined;
    }
    for (const pid of shimPids(this.socket)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
    await unmountUnder(this.dir);
    try {
      rmSync(this.dir, { recursive: true, force: true });
    } catch (e) {
      errors.push(`removing ${this.dir}: ${e instanceof Error ? e.message : String(e)}`);
    }
    removeCgroups(CGROUP_PARENT);
    if (errors.length > 0) throw new Error(`stopping containerd ${this.name}: ${errors.join('; ')}`);
  }
}

/** The sandbox config a kubelet sends for a pod of the tests' namespace. */
export function podConfig(name: string, dir: string, portMappings?: PortMapping[]): PodSandboxConfig {
  const uid = randomUUID();
  return {
    metadata: { name, uid, namespace: POD_NAMESPACE, attempt: 0 },
    hostname: name,
    logDirectory: join(dir, 'logs', `${POD_NAMESPACE}_${name}_${uid}`),
    ...(portMappings !== undefined && { portMappings }),
    labels: { 'io.kubernetes.pod.name': name, 'io.kubernetes.pod.namespace': POD_NAMESPACE, 'io.kubernetes.pod.uid': uid },
    annotations: { 'kubernetes.io/config.source': 'api' },
    linux: { cgroupParent: `${CGROUP_PARENT}/pod${uid}`, namespaceOptions: { network: 'POD', pid: 'CONTAINER', ipc: 'POD' } },
  };
}

/**
 * What a killed run left in `base`: scratch directories `<prefix>-*` whose containerd is gone are
 * unmounted and removed. Processes still running there (a containerd, shims) are not this run's
 * to end: they are reported, and their directory kept.
 */
export async function cleanupStale(prefix: string, base: string = process.env['PIPEWORK_TEST_TMP'] ?? tmpdir()): Promise<string[]> {
  const kept: string[] = [];
  if (!existsSync(base)) return kept;
  for (const d of readdirSync(base).filter((x) => x.startsWith(`${prefix}-`))) {
    const dir = join(base, d);
    const live = [...processesWith(`${dir}/`)];
    if (live.length > 0) {
      kept.push(`${dir} (processes ${live.join(' ')} still run there)`);
      continue;
    }
    await unmountUnder(dir);
    rmSync(dir, { recursive: true, force: true });
  }
  return kept;
}

/** PIDs whose command line has an argument starting with `prefix`. */
function processesWith(prefix: string): number[] {
  const out: number[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/u.test(p)) continue;
    try {
      if (readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0').some((a) => a.startsWith(prefix))) out.push(Number(p));
    } catch {
      // gone
    }
  }
  return out;
}

/** Running containerd-shim processes whose -address is this containerd's socket. */
function shimPids(socket: string): number[] {
  const out: number[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/u.test(p)) continue;
    let argv: string[];
    try {
      argv = readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0');
    } catch {
      continue;
    }
    if (!(argv[0] ?? '').includes('containerd-shim')) continue;
    const i = argv.indexOf('-address');
    if (i >= 0 && argv[i + 1] === socket) out.push(Number(p));
  }
  return out;
}

/** Unmount every mount point under `dir`, deepest first (netns files, shm, rootfs overlays). */
export async function unmountUnder(dir: string): Promise<void> {
  const decode = (s: string) => s.replace(/\\(\d{3})/gu, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
  for (let round = 0; round < 3; round++) {
    const points = readFileSync('/proc/self/mountinfo', 'utf8').split('\n')
      .map((l) => decode(l.split(' ')[4] ?? ''))
      .filter((p) => p === dir || p.startsWith(`${dir}/`))
      .sort((a, b) => b.length - a.length);
    if (points.length === 0) return;
    for (const p of points) {
      const r = await sh(['umount', p], { timeoutMs: 10_000 });
      if (r.code !== 0) await sh(['umount', '-l', p], { timeoutMs: 10_000 });
    }
  }
}

/** rmdir the cgroup `parent` (and the pods' cgroups left in it) in every v1 hierarchy and v2. */
export function removeCgroups(parent: string): void {
  const root = '/sys/fs/cgroup';
  const hierarchies = existsSync(join(root, 'cgroup.controllers')) ? [root] : readdirSync(root).map((h) => join(root, h));
  const rmTree = (d: string) => {
    let entries: string[];
    try {
      entries = readdirSync(d, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
    } catch {
      return;
    }
    for (const e of entries) rmTree(join(d, e));
    try {
      rmdirSync(d);
    } catch {
      // busy (a process still in it) or gone
    }
  };
  for (const h of hierarchies) rmTree(join(h, parent));
}

/** CriError with NOT_FOUND (Stop/Remove of a sandbox already gone). */
export function isNotFound(e: unknown): boolean {
  return e instanceof CriError && e.code === GRPC.NOT_FOUND;
}
