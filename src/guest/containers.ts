/**
 * Docker and Podman guests: one API call resolves a name, full id or unique id prefix.
 */
import { existsSync } from 'node:fs';
import { hasProgram } from '../exec/programs.js';
import type { Runner } from '../exec/runner.js';
import { ConflictError, PipeworkError } from '../model/errors.js';
import { ApiUnavailableError, apiGet, apiMessage, dockerSocketPath, type ContainerInspect } from './runtime-api.js';
import type { GuestLocation } from './guest.js';

export type Lookup =
  | { found: true; location: GuestLocation }
  | { found: false; reason: 'absent' | 'unavailable' | 'not-running'; detail: string };

function locate(kind: 'docker' | 'podman', info: ContainerInspect): Lookup {
  const name = info.Name.replace(/^\//u, '');
  const pid = info.State?.Pid ?? 0;
  if (pid === 0) {
    return { found: false, reason: 'not-running', detail: `${kind} container ${name} is not running (${kind} reports PID 0)` };
  }
  const sandbox = info.NetworkSettings?.SandboxKey ?? '';
  // The SandboxKey is the namespace itself (a bind mount); the PID path is a fallback for
  // containers that share another's network (SandboxKey empty).
  const nsPath = sandbox !== '' && existsSync(sandbox) ? sandbox : `/proc/${pid}/ns/net`;
  const networkMode = info.HostConfig?.NetworkMode;
  return { found: true, location: { kind, name, id: info.Id, pid, nsPath, ...(networkMode !== undefined && { networkMode }) } };
}

/** Docker and Podman names are [a-zA-Z0-9][a-zA-Z0-9_.-]* (a leading / is Docker's own); ids are hex. */
function possibleContainerRef(ref: string): boolean {
  return /^\/?[a-zA-Z0-9][a-zA-Z0-9_.-]*$/u.test(ref);
}

async function lookupViaApi(kind: 'docker' | 'podman', socket: string, ref: string): Promise<Lookup> {
  if (!possibleContainerRef(ref)) return { found: false, reason: 'absent', detail: `'${ref}' cannot be a ${kind} container name` };
  let res;
  try {
    res = await apiGet(socket, `/containers/${encodeURIComponent(ref)}/json`);
  } catch (err) {
    if (err instanceof ApiUnavailableError) return { found: false, reason: 'unavailable', detail: err.message };
    throw err;
  }
  if (res.status === 200) return locate(kind, JSON.parse(res.body) as ContainerInspect);
  const message = apiMessage(res.body);
  if (/multiple|ambiguous/iu.test(message)) {
    throw new ConflictError(`found more than one ${kind} container matching ${ref}: ${message}`);
  }
  if (res.status === 404) return { found: false, reason: 'absent', detail: message };
  throw new PipeworkError(`the ${kind} API answered ${res.status} for container ${ref}: ${message}`);
}

export function lookupDocker(ref: string): Promise<Lookup> {
  const socket = dockerSocketPath();
  if (socket === undefined) {
    return Promise.resolve({ found: false, reason: 'unavailable', detail: 'DOCKER_HOST is not a unix:// socket' });
  }
  return lookupViaApi('docker', socket, ref);
}

function podmanSockets(env: NodeJS.ProcessEnv = process.env): string[] {
  const out: string[] = [];
  const host = env['CONTAINER_HOST'];
  if (host?.startsWith('unix://')) out.push(host.slice('unix://'.length));
  out.push('/run/podman/podman.sock');
  return out;
}

/**
 * A container by id (or name), asked of Docker's API and then Podman's: what it is called, its
 * labels and network mode. Undefined when no runtime's API knows it (or none answers).
 */
export async function inspectAnyRuntime(ref: string): Promise<{ kind: 'docker' | 'podman'; info: ContainerInspect } | undefined> {
  if (!possibleContainerRef(ref)) return undefined;
  const docker = dockerSocketPath();
  const sockets: ['docker' | 'podman', string][] = [
    ...(docker !== undefined ? [['docker', docker] as ['docker', string]] : []),
    ...podmanSockets().map((s): ['podman', string] => ['podman', s]),
  ];
  for (const [kind, socket] of sockets) {
    if (!existsSync(socket)) continue;
    try {
      const res = await apiGet(socket, `/containers/${encodeURIComponent(ref)}/json`);
      if (res.status === 200) return { kind, info: JSON.parse(res.body) as ContainerInspect };
    } catch (err) {
      if (!(err instanceof ApiUnavailableError)) throw err;
    }
  }
  return undefined;
}

/** Podman: its Docker-compatible socket when its service runs, else the podman program itself. */
export async function lookupPodman(runner: Runner, ref: string): Promise<Lookup> {
  for (const socket of podmanSockets()) {
    if (!existsSync(socket)) continue;
    const result = await lookupViaApi('podman', socket, ref);
    if (result.found || result.reason !== 'unavailable') return result;
  }
  if (!possibleContainerRef(ref)) return { found: false, reason: 'absent', detail: `'${ref}' cannot be a podman container name` };
  if (!hasProgram('podman')) return { found: false, reason: 'unavailable', detail: 'podman is not installed' };
  const res = await runner.run(['podman', 'container', 'inspect', '--format', 'json', ref], { timeoutMs: 20_000 });
  if (res.code !== 0) {
    if (/no such container|no container with name or ID/iu.test(res.stderr)) return { found: false, reason: 'absent', detail: res.stderr.trim() };
    if (/more than one/iu.test(res.stderr)) throw new ConflictError(`found more than one podman container matching ${ref}`);
    return { found: false, reason: 'unavailable', detail: res.stderr.trim() };
  }
  const list = JSON.parse(res.stdout) as ContainerInspect[];
  const info = list[0];
  if (info === undefined) return { found: false, reason: 'absent', detail: 'podman printed no container' };
  return locate('podman', info);
}

