// Docker for integration tests, through the Engine API on /var/run/docker.sock (node's http
// with socketPath), with `docker import` only as a fallback for the image import.
import { request } from 'node:http';
import { createReadStream, existsSync } from 'node:fs';
import { buildBusyboxTar } from './image.js';
import { shOk, sleep } from './run.js';

export const DOCKER_SOCK = '/var/run/docker.sock';
/** The image the tests run (built locally from busybox-static by ensureImage). */
export const DOCKER_TEST_IMAGE = 'pipework-test-busybox:latest';

export interface DockerResponse {
  status: number;
  body: string;
}

export interface DockerRequestOptions {
  /** JSON body (sent as application/json). */
  json?: unknown;
  /** Raw body from a file (sent as application/x-tar). */
  tarFile?: string;
  timeoutMs?: number;
  /** Another Docker-compatible API socket (e.g. a `podman system service`). */
  socketPath?: string;
}

/** One Engine API call; rejects on socket errors and timeouts, not on HTTP error statuses. */
export function dockerApi(method: string, path: string, opts: DockerRequestOptions = {}): Promise<DockerResponse> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  return new Promise<DockerResponse>((resolve, reject) => {
    const headers: Record<string, string> = {};
    let payload: string | undefined;
    if (opts.json !== undefined) {
      payload = JSON.stringify(opts.json);
      headers['Content-Type'] = 'application/json';
      headers['Content-Length'] = String(Buffer.byteLength(payload));
    } else if (opts.tarFile !== undefined) {
      headers['Content-Type'] = 'application/x-tar';
    }
    const req = request({ socketPath: opts.socketPath ?? DOCKER_SOCK, host: 'localhost', path, method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (b: Buffer) => chunks.push(b));
      res.on('end', () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') });
      });
      res.on('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
    });
    const timer = setTimeout(() => req.destroy(new Error(`docker ${method} ${path}: timeout after ${timeoutMs} ms`)), timeoutMs);
    req.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    if (payload !== undefined) {
      req.end(payload);
    } else if (opts.tarFile !== undefined) {
      const src = createReadStream(opts.tarFile);
      src.on('error', (e) => req.destroy(e));
      src.pipe(req);
    } else {
      req.end();
    }
  });
}

async function dockerOk(method: string, path: string, opts: DockerRequestOptions = {}): Promise<string> {
  const r = await dockerApi(method, path, opts);
  if (r.status < 200 || r.status >= 300) {
    throw new Error(`docker ${method} ${path}: HTTP ${r.status}: ${r.body.trim()}`);
  }
  return r.body;
}

/** True when a Docker daemon answers /_ping on /var/run/docker.sock within 2 s. */
export async function dockerAvailable(): Promise<boolean> {
  if (!existsSync(DOCKER_SOCK)) return false;
  try {
    const r = await dockerApi('GET', '/_ping', { timeoutMs: 2_000 });
    return r.status === 200;
  } catch {
    return false;
  }
}

function splitImage(name: string): { repo: string; tag: string } {
  const slash = name.lastIndexOf('/');
  const colon = name.lastIndexOf(':');
  if (colon > slash) return { repo: name.slice(0, colon), tag: name.slice(colon + 1) };
  return { repo: name, tag: 'latest' };
}

/** Make sure image NAME exists, importing the busybox-static rootfs under that name if not. */
export async function ensureImage(name: string = DOCKER_TEST_IMAGE): Promise<void> {
  const have = await dockerApi('GET', `/images/${encodeURIComponent(name)}/json`);
  if (have.status === 200) return;
  const tar = await buildBusyboxTar();
  try {
    const { repo, tag } = splitImage(name);
    const q = new URLSearchParams({ fromSrc: '-', repo, tag });
    let apiError = '';
    try {
      // The answer is a stream of JSON progress objects; a failure is one with "error".
      const body = await dockerOk('POST', `/images/create?${q.toString()}`, { tarFile: tar.path, timeoutMs: 120_000 });
      if (/"error"\s*:/.test(body)) apiError = body.trim();
    } catch (e) {
      apiError = e instanceof Error ? e.message : String(e);
    }
    if (apiError !== '' || (await dockerApi('GET', `/images/${encodeURIComponent(name)}/json`)).status !== 200) {
      // Fallback: the CLI (Debian's client first; a newer one may sit in /usr/local/bin).
      const cli = existsSync('/usr/bin/docker') ? '/usr/bin/docker' : 'docker';
      await shOk([cli, 'import', tar.path, name], { timeoutMs: 120_000 });
    }
  } finally {
    await tar.dispose();
  }
}

/** The part of GET /containers/{id}/json the tests use. */
export interface DockerInspect {
  Id: string;
  Name: string;
  State: { Status: string; Running: boolean; Pid: number };
  Config: { Hostname: string; Labels: Record<string, string> | null };
  NetworkSettings: { SandboxKey: string };
  HostConfig: { NetworkMode: string };
}

/** Inspect a container by name or id; undefined when it does not exist. */
export async function inspectContainer(nameOrId: string): Promise<DockerInspect | undefined> {
  const r = await dockerApi('GET', `/containers/${encodeURIComponent(nameOrId)}/json`);
  if (r.status === 404) return undefined;
  if (r.status !== 200) throw new Error(`docker inspect ${nameOrId}: HTTP ${r.status}: ${r.body.trim()}`);
  return JSON.parse(r.body) as DockerInspect;
}

export interface DockerContainer {
  id: string;
  name: string;
  /** PID of the container's init process on the host. */
  pid: number;
  /** NetworkSettings.SandboxKey (the netns file Docker holds), '' if none. */
  sandboxKey: string;
}

export interface DockerRunOptions {
  hostname?: string;
  labels?: Record<string, string>;
  env?: string[];
  /** Default 'none' (no interface but lo). */
  networkMode?: string;
  capAdd?: string[];
  /** host:container[:ro] bind mounts. */
  binds?: string[];
  privileged?: boolean;
}

/**
 * Create and start container NAME from IMAGE running CMD (network none by default); waits
 * (at most 15 s) until it runs with a PID. A leftover container of that name is removed first.
 */
export async function runContainer(
  name: string,
  image: string = DOCKER_TEST_IMAGE,
  cmd: string[] = ['sleep', '3600'],
  opts: DockerRunOptions = {},
): Promise<DockerContainer> {
  await removeContainer(name);
  const body = {
    Image: image,
    Cmd: cmd,
    Hostname: opts.hostname,
    Labels: opts.labels ?? {},
    Env: opts.env ?? [],
    HostConfig: {
      NetworkMode: opts.networkMode ?? 'none',
      CapAdd: opts.capAdd ?? null,
      Binds: opts.binds ?? null,
      Privileged: opts.privileged ?? false,
    },
  };
  const created = JSON.parse(
    await dockerOk('POST', `/containers/create?name=${encodeURIComponent(name)}`, { json: body }),
  ) as { Id: string };
  await dockerOk('POST', `/containers/${created.Id}/start`);
  const deadline = Date.now() + 15_000;
  for (;;) {
    const c = await inspectContainer(created.Id);
    if (c?.State.Running === true && c.State.Pid > 0) {
      return { id: c.Id, name, pid: c.State.Pid, sandboxKey: c.NetworkSettings.SandboxKey };
    }
    if (c !== undefined && !c.State.Running && c.State.Status === 'exited') {
      throw new Error(`container ${name} exited right after start`);
    }
    if (Date.now() >= deadline) throw new Error(`container ${name} not running after 15 s`);
    await sleep(100);
  }
}

/** Stop a container (SIGKILL after t seconds; default 0). */
export async function stopContainer(nameOrId: string, t = 0): Promise<void> {
  const r = await dockerApi('POST', `/containers/${encodeURIComponent(nameOrId)}/stop?t=${t}`, { timeoutMs: 30_000 + t * 1000 });
  if (r.status !== 204 && r.status !== 304) throw new Error(`docker stop ${nameOrId}: HTTP ${r.status}: ${r.body.trim()}`);
}

/** Force-remove a container with its anonymous volumes; no error if it does not exist. */
export async function removeContainer(nameOrId: string): Promise<void> {
  const r = await dockerApi('DELETE', `/containers/${encodeURIComponent(nameOrId)}?force=true&v=true`);
  if (r.status !== 204 && r.status !== 404) throw new Error(`docker rm ${nameOrId}: HTTP ${r.status}: ${r.body.trim()}`);
}

/** Names (without the leading '/') of all containers, running or not. */
export async function listContainers(): Promise<string[]> {
  const list = JSON.parse(await dockerOk('GET', '/containers/json?all=true')) as { Names: string[] }[];
  return list.flatMap((c) => c.Names.map((n) => n.replace(/^\//, '')));
}

/** Force-remove every container whose name starts with PREFIX (no-op without a daemon). */
export async function removeContainersByPrefix(prefix: string): Promise<void> {
  if (prefix.length < 3) throw new Error(`prefix too short: '${prefix}'`);
  if (!(await dockerAvailable())) return;
  for (const n of await listContainers()) {
    if (n.startsWith(prefix)) await removeContainer(n);
  }
}
