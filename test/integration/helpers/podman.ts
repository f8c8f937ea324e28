// Podman for integration tests, through the `podman` CLI. As root on these VMs podman asks for
// rlimits the kernel cannot grant, so CONTAINERS_CONF must pin them (scripts/test.sh exports
// one; podmanConf() writes one if it is unset and exports it to this process and its children).
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync, existsSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildBusyboxTar } from './image.js';
import { sh, shOk, sleep, type RunOptions, type RunResult } from './run.js';

/** The image the tests run (imported locally from busybox-static by ensureImage). */
export const PODMAN_TEST_IMAGE = 'localhost/pipework-test-busybox:latest';

/** Hard limit of open files of this process (what `ulimit -Hn` prints). */
function hardNofile(): string {
  const line = readFileSync('/proc/self/limits', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('Max open files'));
  const hard = line?.trim().split(/\s+/)[4];
  if (hard === undefined || !/^\d+$/.test(hard)) return '1048576';
  return hard;
}

/** Path of the containers.conf in use; creates and exports one when CONTAINERS_CONF is unset. */
export function podmanConf(): string {
  const have = process.env.CONTAINERS_CONF;
  if (have !== undefined && have !== '' && existsSync(have)) return have;
  const path = join(process.env.PIPEWORK_TEST_TMP ?? tmpdir(), `pwh-containers-${process.getuid?.() ?? 0}.conf`);
  const n = hardNofile();
  writeFileSync(path, `[containers]\ndefault_ulimits = ["nofile=${n}:${n}", "nproc=32768:32768"]\n`);
  process.env.CONTAINERS_CONF = path;
  return path;
}

/** Run `podman ARGS` with CONTAINERS_CONF set. */
export function podman(args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const conf = podmanConf();
  return sh(['podman', ...args], { timeoutMs: 60_000, ...opts, env: { CONTAINERS_CONF: conf, ...opts.env } });
}

/** `podman ARGS`; stdout, or throw with stderr. */
export function podmanOk(args: readonly string[], opts: RunOptions = {}): Promise<string> {
  const conf = podmanConf();
  return shOk(['podman', ...args], { timeoutMs: 60_000, ...opts, env: { CONTAINERS_CONF: conf, ...opts.env } });
}

/** True when `podman version` works. */
export async function podmanAvailable(): Promise<boolean> {
  return (await podman(['version'], { timeoutMs: 20_000 })).code === 0;
}

/** Make sure image NAME exists, importing the busybox-static rootfs under that name if not. */
export async function ensureImage(name: string = PODMAN_TEST_IMAGE): Promise<void> {
  if ((await podman(['image', 'exists', name])).code === 0) return;
  const tar = await buildBusyboxTar();
  try {
    await podmanOk(['import', tar.path, name], { timeoutMs: 120_000 });
  } finally {
    await tar.dispose();
  }
}

/** The part of `podman container inspect` the tests use. */
export interface PodmanInspect {
  Id: string;
  Name: string;
  State: { Status: string; Running: boolean; Pid: number };
  Config: { Hostname: string; Labels: Record<string, string> | null };
  NetworkSettings: { SandboxKey: string };
}

/** Inspect a container; undefined when it does not exist. */
export async function inspectContainer(nameOrId: string): Promise<PodmanInspect | undefined> {
  const r = await podman(['container', 'inspect', nameOrId]);
  if (r.code !== 0) {
    if (/no such container/i.test(r.stderr)) return undefined;
    throw new Error(`podman container inspect ${nameOrId} (exit ${r.code}): ${r.stderr.trim()}`);
  }
  const [c] = JSON.parse(r.stdout) as PodmanInspect[];
  return c;
}

export interface PodmanContainer {
  id: string;
  name: string;
  /** PID of the container's init process on the host. */
  pid: number;
  /** NetworkSettings.SandboxKey ('' when podman reports none). */
  sandboxKey: string;
}

export interface PodmanRunOptions {
  hostname?: string;
  labels?: Record<string, string>;
  /** Default 'none'. */
  network?: string;
  capAdd?: string[];
  /** host:container[:opts] volumes. */
  volumes?: string[];
}

/**
 * `podman run -d --name NAME --network none IMAGE CMD...`, then wait (at most 15 s) for a PID.
 * A leftover container of that name is removed first.
 */
export async function runContainer(
  name: string,
  image: string = PODMAN_TEST_IMAGE,
  cmd: string[] = ['sleep', '3600'],
  opts: PodmanRunOptions = {},
): Promise<PodmanContainer> {
  await removeContainer(name);
  const args = ['run', '-d', '--name', name, '--network', opts.network ?? 'none'];
  if (opts.hostname !== undefined) args.push('--hostname', opts.hostname);
  for (const [k, v] of Object.entries(opts.labels ?? {})) args.push('--label', `${k}=${v}`);
  for (const c of opts.capAdd ?? []) args.push('--cap-add', c);
  for (const v of opts.volumes ?? []) args.push('--volume', v);
  await podmanOk([...args, image, ...cmd], { timeoutMs: 60_000 });
  const deadline = Date.now() + 15_000;
  for (;;) {
    const c = await inspectContainer(name);
    if (c?.State.Running === true && c.State.Pid > 0) {
      return { id: c.Id, name, pid: c.State.Pid, sandboxKey: c.NetworkSettings.SandboxKey };
    }
    if (Date.now() >= deadline) throw new Error(`podman container ${name} not running after 15 s`);
    await sleep(100);
  }
}

/** `podman stop -t 0` (container stays, PID 0). */
export async function stopContainer(name: string): Promise<void> {
  await podmanOk(['stop', '-t', '0', name]);
}

/** `podman rm -f -t 0 NAME`; no error if it does not exist. */
export async function removeContainer(name: string): Promise<void> {
  await podmanOk(['rm', '-f', '-i', '-t', '0', name]);
}

/** Names of all podman containers. */
export async function listContainers(): Promise<string[]> {
  const out = await podmanOk(['ps', '-a', '--format', '{{.Names}}']);
  return out.split('\n').map((l) => l.trim()).filter((l) => l !== '');
}

/** Remove every container whose name starts with PREFIX. */
export async function removeContainersByPrefix(prefix: string): Promise<void> {
  if (prefix.length < 3) throw new Error(`prefix too short: '${prefix}'`);
  for (const n of await listContainers()) {
    if (n.startsWith(prefix)) await removeContainer(n);
  }
}

/** A running `podman system service`; stop() ends it by PID. */
export interface PodmanService {
  pid: number;
  sockPath: string;
  stop(): Promise<void>;
}

function pingSocket(sockPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ socketPath: sockPath, host: 'localhost', path: '/_ping', method: 'GET' }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode === 200));
    });
    req.setTimeout(2_000, () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}

function killQuiet(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    /* already gone */
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Start `podman system service --time=0 unix://SOCKPATH` (the Docker-compatible API) and wait
 * (at most 20 s) until it answers /_ping.
 */
export async function startService(sockPath: string): Promise<PodmanService> {
  const conf = podmanConf();
  rmSync(sockPath, { force: true });
  const child = spawn('podman', ['system', 'service', '--time=0', `unix://${sockPath}`], {
    env: { ...process.env, CONTAINERS_CONF: conf },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => {
    stderr += b.toString('utf8');
  });
  let exited = false;
  const exitedP = new Promise<void>((resolve) => {
    child.on('exit', () => {
      exited = true;
      resolve();
    });
    child.on('error', (e) => {
      stderr += e.message;
      exited = true;
      resolve();
    });
  });
  const pid = child.pid;
  const stop = async (): Promise<void> => {
    if (pid !== undefined && !exited && alive(pid)) {
      killQuiet(pid, 'SIGTERM');
      const t = setTimeout(() => {
        if (!exited) killQuiet(pid, 'SIGKILL');
      }, 5_000);
      await exitedP;
      clearTimeout(t);
    }
    rmSync(sockPath, { force: true });
  };
  const deadline = Date.now() + 20_000;
  while (!(await pingSocket(sockPath))) {
    if (exited || pid === undefined) throw new Error(`podman system service exited: ${stderr.trim()}`);
    if (Date.now() >= deadline) {
      await stop();
      throw new Error(`podman system service did not answer on ${sockPath} in 20 s: ${stderr.trim()}`);
    }
    await sleep(200);
  }
  return { pid: pid ?? 0, sockPath, stop };
}
