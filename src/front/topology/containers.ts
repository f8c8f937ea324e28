/**
 * `image:` guests: containers a topology starts (Docker, or Podman's Docker-compatible API) with
 * no network of their own (`--network none`). Each is recorded by id when it is made (owned.ts):
 * destroy and later applies act on exactly those, however the host was restarted meanwhile. They
 * are labelled with the topology's name too, for people and filters — but a label is no proof (an
 * image can carry it, anyone can set it): a container is the topology's only if its id is recorded.
 */
import { existsSync } from 'node:fs';
import { ApiUnavailableError, apiMessage, apiRequest, dockerSocketPath } from '../../guest/runtime-api.js';
import { ConflictError, NotFoundError, PipeworkError, UnsupportedError } from '../../model/errors.js';
import type { TopologyGuest } from './model.js';
import { forgetOwned, readOwned } from './owned.js';

export type Runtime = 'docker' | 'podman';

/** The labels on a container a topology made. */
export const TOPOLOGY_LABEL = 'pipework-topology';
export const GUEST_LABEL = 'pipework-topology-guest';

export interface MadeContainer {
  id: string;
  name: string;
  runtime: Runtime;
  running: boolean;
  /** The guest key it was made for. */
  guest?: string;
}

/** The API socket of a runtime, or undefined when none is there. */
export function runtimeSocket(runtime: Runtime, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (runtime === 'docker') {
    const path = dockerSocketPath(env);
    return path !== undefined && existsSync(path) ? path : undefined;
  }
  const host = env['CONTAINER_HOST'];
  const candidates = [...(host?.startsWith('unix://') ? [host.slice('unix://'.length)] : []), '/run/podman/podman.sock'];
  return candidates.find((p) => existsSync(p));
}

function needSocket(runtime: Runtime): string {
  const socket = runtimeSocket(runtime);
  if (socket !== undefined) return socket;
  throw new UnsupportedError(runtime === 'docker'
    ? 'Docker is not reachable (no /var/run/docker.sock, or DOCKER_HOST is not unix://): start dockerd to run image guests'
    : "Podman's API is not reachable: start it (podman system service) and point CONTAINER_HOST=unix://… at its socket, or use /run/podman/podman.sock");
}

async function call(runtime: Runtime, method: string, path: string, body?: unknown, timeoutMs?: number): Promise<{ status: number; body: string }> {
  const socket = needSocket(runtime);
  try {
    return await apiRequest(socket, method, path, body, timeoutMs);
  } catch (err) {
    if (err instanceof ApiUnavailableError) throw new UnsupportedError(`${runtime} could not be asked: ${err.message}`);
    throw err;
  }
}

interface ListedContainer {
  Id: string;
  Names?: string[];
  State?: string;
  Labels?: Record<string, string> | null;
}

/**
 * Containers this topology made (recorded by id, and labelled), running or not; none when the
 * runtime is not there. One that merely carries the label is not among them.
 */
export async function madeContainers(topology: string, runtime: Runtime): Promise<MadeContainer[]> {
  const owned = new Set(readOwned(topology).filter((c) => c.runtime === runtime).map((c) => c.id));
  if (owned.size === 0 || runtimeSocket(runtime) === undefined) return [];
  const filters = encodeURIComponent(JSON.stringify({ label: [`${TOPOLOGY_LABEL}=${topology}`] }));
  const res = await call(runtime, 'GET', `/containers/json?all=true&filters=${filters}`);
  if (res.status !== 200) throw new PipeworkError(`${runtime} would not list containers: ${apiMessage(res.body)}`);
  return (JSON.parse(res.body) as ListedContainer[])
    // Podman's compat API has honoured label filters loosely in some versions: check again.
    .filter((c) => c.Labels?.[TOPOLOGY_LABEL] === topology && owned.has(c.Id))
    .map((c) => ({
      id: c.Id, name: (c.Names?.[0] ?? c.Id).replace(/^\//u, ''), runtime, running: c.State === 'running',
      ...(c.Labels?.[GUEST_LABEL] !== undefined && { guest: c.Labels[GUEST_LABEL] }),
    }));
}

interface Inspected {
  Id: string;
  State?: { Running?: boolean; Pid?: number };
  Config?: { Labels?: Record<string, string> | null };
}

async function inspect(runtime: Runtime, ref: string): Promise<Inspected | undefined> {
  const res = await call(runtime, 'GET', `/containers/${encodeURIComponent(ref)}/json`);
  if (res.status === 404) return undefined;
  if (res.status !== 200) throw new PipeworkError(`${runtime} would not inspect container ${ref}: ${apiMessage(res.body)}`);
  return JSON.parse(res.body) as Inspected;
}

/** What apply does for an image guest: nothing (running), start it (ours, stopped), or create it. */
export type ContainerAction = { kind: 'running' } | { kind: 'start'; id: string } | { kind: 'create' };

/**
 * A container found under an image guest's name: adopted if this topology made it (its id is
 * recorded), refused otherwise — whatever labels it carries. Pure.
 */
export function existingAction(
  topology: string, guest: { runtime: Runtime; container: string }, found: { id: string; labels: Record<string, string>; running: boolean }, ownedIds: readonly string[],
): ContainerAction | { kind: 'refuse'; message: string } {
  if (ownedIds.includes(found.id)) return found.running ? { kind: 'running' } : { kind: 'start', id: found.id };
  const what = `a ${guest.runtime} container named ${guest.container} exists and was not made by topology ${topology}`;
  const labelled = found.labels[TOPOLOGY_LABEL] === topology
    ? `: it carries the label ${TOPOLOGY_LABEL}=${topology}, but its id is not one apply recorded (an image, or whoever started it, can set that label)`
    : '';
  return { kind: 'refuse', message: `${what}${labelled}; remove or rename it, or name the guest otherwise` };
}

/** Is the image there for the runtime (pulled or imported)? A create from one that is not fails. */
async function imagePresent(runtime: Runtime, image: string): Promise<boolean> {
  const res = await call(runtime, 'GET', `/images/${image.split('/').map(encodeURIComponent).join('/')}/json`);
  if (res.status === 404) return false;
  if (res.status !== 200) throw new PipeworkError(`${runtime} would not inspect image ${image}: ${apiMessage(res.body)}`);
  return true;
}

/** What apply does for an image guest; refused (before anything changes) when its image is not there to create it from. */
export async function containerAction(topology: string, guest: Extract<TopologyGuest, { kind: 'image' }>): Promise<ContainerAction> {
  const found = await inspect(guest.runtime, guest.container);
  if (!found) {
    if (!(await imagePresent(guest.runtime, guest.image))) throw new NotFoundError(`image ${guest.image} is not there for ${guest.runtime} (guest ${guest.key}): pull or import it first`);
    return { kind: 'create' };
  }
  const owned = readOwned(topology).filter((c) => c.runtime === guest.runtime).map((c) => c.id);
  const action = existingAction(topology, guest, { id: found.Id, labels: found.Config?.Labels ?? {}, running: found.State?.Running === true }, owned);
  if (action.kind === 'refuse') throw new ConflictError(action.message);
  return action;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function start(runtime: Runtime, id: string, name: string): Promise<void> {
  const res = await call(runtime, 'POST', `/containers/${encodeURIComponent(id)}/start`, undefined, 60_000);
  if (res.status !== 204 && res.status !== 304) throw new PipeworkError(`${runtime} could not start container ${name}: ${apiMessage(res.body)}`);
  // Running with a PID (the namespace to plumb), at most 15 s.
  const deadline = Date.now() + 15_000;
  for (;;) {
    const c = await inspect(runtime, id);
    if (c?.State?.Running === true && (c.State.Pid ?? 0) > 0) return;
    if (c !== undefined && c.State?.Running !== true && Date.now() > deadline - 14_000) {
      throw new PipeworkError(`container ${name} stopped right after it started: is its command (command:) one that keeps running?`);
    }
    if (Date.now() >= deadline) throw new PipeworkError(`container ${name} is not running 15 s after it was started`);
    await sleep(50);
  }
}

/** Create and start an image guest's container; returns its id (removed again if it cannot start). */
export async function createContainer(topology: string, guest: Extract<TopologyGuest, { kind: 'image' }>): Promise<string> {
  const body = {
    Image: guest.image,
    ...(guest.command !== undefined && { Cmd: guest.command }),
    Hostname: guest.key,
    Labels: { [TOPOLOGY_LABEL]: topology, [GUEST_LABEL]: guest.key },
    HostConfig: { NetworkMode: 'none' },
  };
  const res = await call(guest.runtime, 'POST', `/containers/create?name=${encodeURIComponent(guest.container)}`, body, 60_000);
  if (res.status === 404) throw new NotFoundError(`image ${guest.image} is not there for ${guest.runtime} (guest ${guest.key}): pull or import it first`);
  if (res.status !== 201) throw new PipeworkError(`${guest.runtime} could not create container ${guest.container}: ${apiMessage(res.body)}`);
  const { Id: id } = JSON.parse(res.body) as { Id: string };
  try {
    await start(guest.runtime, id, guest.container);
  } catch (err) {
    await removeContainer(guest.runtime, id).catch(() => undefined);
    throw err;
  }
  return id;
}

export function startContainer(runtime: Runtime, id: string, name: string): Promise<void> {
  return start(runtime, id, name);
}

export async function stopContainer(runtime: Runtime, id: string): Promise<void> {
  await call(runtime, 'POST', `/containers/${encodeURIComponent(id)}/stop?t=0`, undefined, 60_000);
}

/** Forget recorded containers their runtime no longer knows (removed by hand); a runtime not there is not asked. */
export async function pruneOwned(topology: string): Promise<void> {
  const gone: string[] = [];
  for (const c of readOwned(topology)) {
    if (runtimeSocket(c.runtime) === undefined) continue;
    if ((await inspect(c.runtime, c.id)) === undefined) gone.push(c.id);
  }
  if (gone.length > 0) forgetOwned(topology, gone);
}

/** Remove a container (and its anonymous volumes); gone already is fine. */
export async function removeContainer(runtime: Runtime, id: string): Promise<void> {
  const res = await call(runtime, 'DELETE', `/containers/${encodeURIComponent(id)}?force=true&v=true`, undefined, 60_000);
  if (res.status !== 204 && res.status !== 200 && res.status !== 404) throw new PipeworkError(`${runtime} could not remove container ${id.slice(0, 12)}: ${apiMessage(res.body)}`);
}
