/**
 * A minimal client for the Docker Engine API (also served by Podman) over a unix socket.
 */
import type { ClientRequest, IncomingMessage, RequestOptions } from 'node:http';
import { createRequire } from 'node:module';
import { connectUnix, showUnixPath, unixPathProblem } from '../exec/unix-socket.js';

// node:http loaded on the first request only: most runs (a netns, a CNI request) never make one,
// and loading it costs ~4 ms of every start-up.
let http: typeof import('node:http') | undefined;
function request(options: RequestOptions, onResponse: (res: IncomingMessage) => void): ClientRequest {
  http ??= createRequire(import.meta.url)('node:http') as typeof import('node:http');
  return http.request(options, onResponse);
}

export interface ApiResponse {
  status: number;
  body: string;
}

export class ApiUnavailableError extends Error {}

/** Where Docker listens: DOCKER_HOST=unix://… or the default socket. */
export function dockerSocketPath(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const host = env['DOCKER_HOST'];
  if (host === undefined || host === '') return '/var/run/docker.sock';
  if (host.startsWith('unix://')) return host.slice('unix://'.length);
  return undefined; // tcp:// and ssh:// are not supported: we need the daemon on this host
}

/** A socket path that cannot be reached as given (longer than sun_path): the API is unavailable, and why. */
function unreachablePath(socketPath: string): ApiUnavailableError | undefined {
  const problem = unixPathProblem(socketPath);
  return problem === undefined ? undefined : new ApiUnavailableError(`${showUnixPath(socketPath)}: ${problem}`);
}

export function apiGet(socketPath: string, path: string, timeoutMs = 10_000): Promise<ApiResponse> {
  const unreachable = unreachablePath(socketPath);
  if (unreachable !== undefined) return Promise.reject(unreachable);
  return new Promise((resolve, reject) => {
    // No agent: the default one looks the host name up (net.isIP), a few ms on a cold start.
    const req = request({ path, method: 'GET', headers: { Host: 'localhost' }, createConnection: () => connectUnix(socketPath) }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.setTimeout(timeoutMs, () => req.destroy(new ApiUnavailableError(`no answer from ${socketPath} within ${timeoutMs} ms`)));
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (err instanceof ApiUnavailableError) reject(err);
      else if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED' || err.code === 'EACCES') {
        reject(new ApiUnavailableError(`${socketPath}: ${err.code}`));
      } else reject(err);
    });
    req.end();
  });
}

/** The parts of GET /containers/{id}/json we use (Docker and Podman agree on these). */
export interface ContainerInspect {
  Id: string;
  Name: string;
  State?: { Pid?: number; Running?: boolean };
  NetworkSettings?: { SandboxKey?: string };
  /** `none`, `bridge`, a network's name; or another's namespace: `container:<id>`, `host`, Podman's `ns:<path>`. */
  HostConfig?: { NetworkMode?: string };
  Config?: { Labels?: Record<string, string> | null };
}

export function apiMessage(body: string): string {
  try {
    const parsed = JSON.parse(body) as { message?: string };
    return parsed.message ?? body.trim();
  } catch {
    return body.trim();
  }
}

/**
 * Any method with an optional JSON body (creating, starting and removing containers: the
 * topology door's `image:` guests). Rejects only when the socket cannot be reached.
 */
export function apiRequest(socketPath: string, method: string, path: string, body?: unknown, timeoutMs = 30_000): Promise<ApiResponse> {
  const unreachable = unreachablePath(socketPath);
  if (unreachable !== undefined) return Promise.reject(unreachable);
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const headers: Record<string, string> = { Host: 'localhost' };
    if (payload !== undefined) {
      headers['Content-Type'] = 'application/json';
      headers['Content-Length'] = String(Buffer.byteLength(payload));
    }
    const req = request({ path, method, headers, createConnection: () => connectUnix(socketPath) }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => { text += d; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      res.on('error', reject);
    });
    req.setTimeout(timeoutMs, () => req.destroy(new ApiUnavailableError(`no answer from ${socketPath} within ${timeoutMs} ms`)));
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (err instanceof ApiUnavailableError) reject(err);
      else if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED' || err.code === 'EACCES') reject(new ApiUnavailableError(`${socketPath}: ${err.code}`));
      else reject(err);
    });
    req.end(payload);
  });
}
