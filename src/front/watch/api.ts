/**
 * What the watcher asks a runtime (Docker, or Podman's Docker-compatible service) over its
 * socket: the running containers, one container, one image. Through src/guest/runtime-api.ts.
 */
import { ApiUnavailableError, apiGet, apiMessage } from '../../guest/runtime-api.js';
import { PipeworkError } from '../../model/errors.js';
import type { ContainerView } from './asks.js';
import type { Runtime } from './options.js';

/** The parts of GET /containers/{id}/json the watcher reads (Docker and Podman agree on these). */
export interface InspectBody {
  Id: string;
  Name: string;
  Image?: string;
  State?: { Running?: boolean; Pid?: number };
  Config?: { Labels?: Record<string, string> | null; Env?: string[] | null; Hostname?: string };
  HostConfig?: { NetworkMode?: string };
}

export interface Inspected {
  view: Omit<ContainerView, 'image'>;
  imageId?: string;
  running: boolean;
  networkMode?: string;
}

/** The runtime could not be asked (socket absent, refused, no answer). */
export class RuntimeDownError extends PipeworkError {}

async function get(socket: string, path: string, timeoutMs?: number): Promise<{ status: number; body: string }> {
  try {
    return await apiGet(socket, path, timeoutMs);
  } catch (err) {
    if (err instanceof ApiUnavailableError) throw new RuntimeDownError(err.message);
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ECONNRESET' || e.code === 'EPIPE' || e.code === 'ENOTSOCK') throw new RuntimeDownError(`${socket}: ${e.code}`);
    throw err;
  }
}

function parse<T>(body: string, what: string): T {
  try {
    return JSON.parse(body) as T;
  } catch {
    throw new PipeworkError(`${what}: the answer is not JSON`);
  }
}

export function inspectedOf(runtime: Runtime, body: InspectBody): Inspected {
  const hostname = body.Config?.Hostname;
  return {
    view: {
      runtime,
      id: body.Id,
      name: body.Name.replace(/^\//u, ''),
      labels: body.Config?.Labels ?? {},
      env: body.Config?.Env ?? [],
      ...(hostname !== undefined && hostname !== '' && { hostname }),
    },
    ...(body.Image !== undefined && body.Image !== '' && { imageId: body.Image }),
    running: body.State?.Running === true && (body.State.Pid ?? 0) > 0,
    ...(body.HostConfig?.NetworkMode !== undefined && { networkMode: body.HostConfig.NetworkMode }),
  };
}

/** One container; undefined when the runtime does not know it (any more). */
export async function inspectContainer(runtime: Runtime, socket: string, id: string): Promise<Inspected | undefined> {
  const res = await get(socket, `/containers/${encodeURIComponent(id)}/json`);
  if (res.status === 404) return undefined;
  if (res.status !== 200) throw new PipeworkError(`${runtime} answered ${res.status} for container ${id}: ${apiMessage(res.body)}`);
  return inspectedOf(runtime, parse<InspectBody>(res.body, `${runtime} inspect ${id}`));
}

/** The running containers' full ids. */
export async function listRunning(runtime: Runtime, socket: string): Promise<string[]> {
  const res = await get(socket, '/containers/json');
  if (res.status !== 200) throw new PipeworkError(`${runtime} answered ${res.status} to the container list: ${apiMessage(res.body)}`);
  return parse<{ Id: string }[]>(res.body, `${runtime} container list`).map((c) => c.Id);
}

export interface ImageConfig {
  labels: Record<string, string>;
  env: string[];
}

/** An image's own labels and environment; undefined when it is gone. */
export async function imageConfig(runtime: Runtime, socket: string, image: string): Promise<ImageConfig | undefined> {
  const res = await get(socket, `/images/${encodeURIComponent(image)}/json`);
  if (res.status === 404) return undefined;
  if (res.status !== 200) throw new PipeworkError(`${runtime} answered ${res.status} for image ${image}: ${apiMessage(res.body)}`);
  const body = parse<{ Config?: { Labels?: Record<string, string> | null; Env?: string[] | null } }>(res.body, `${runtime} image ${image}`);
  return { labels: body.Config?.Labels ?? {}, env: body.Config?.Env ?? [] };
}

/** A small cache of image configurations by image id (an id names one content for good). */
export class ImageCache {
  private readonly map = new Map<string, ImageConfig>();
  constructor(private readonly max = 256) {}

  async get(runtime: Runtime, socket: string, image: string): Promise<ImageConfig | undefined> {
    const key = `${runtime}/${image}`;
    const hit = this.map.get(key);
    if (hit !== undefined) {
      this.map.delete(key);
      this.map.set(key, hit);
      return hit;
    }
    const config = await imageConfig(runtime, socket, image);
    // Only an image named by its id is cached: a tag may move to another image.
    if (config !== undefined && /^(sha256:)?[0-9a-f]{64}$/u.test(image)) {
      this.map.set(key, config);
      if (this.map.size > this.max) this.map.delete(this.map.keys().next().value!);
    }
    return config;
  }

  get size(): number {
    return this.map.size;
  }
}
