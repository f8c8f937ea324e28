/**
 * `pipework batch` with many Docker guests: one `GET /containers/json` names them all, and each
 * running container's PID comes from its cgroup — instead of one inspect call per guest (about
 * 2 ms each, the largest cost of a big batch). What the index cannot settle goes to the API.
 */
import { existsSync } from 'node:fs';
import { ConflictError } from '../model/errors.js';
import { ApiUnavailableError, apiGet, dockerSocketPath } from './runtime-api.js';
import type { GuestLocation } from './guest.js';
import { firstPid, hostCgroupRoots, inCgroup } from './lxc.js';

interface Listed {
  Id: string;
  Names?: string[];
  State?: string;
}

export interface DockerIndex {
  /** A running container by name, full id or unique id prefix; undefined to ask the API. */
  locate(ref: string): GuestLocation | undefined;
  /** Does any container (running or not) answer to this name, id or id prefix? No: not Docker's. */
  knows(ref: string): boolean;
}

/** The cgroup directories a Docker container can have (cgroupfs and systemd drivers). */
export function dockerCgroupCandidates(root: string, id: string): string[] {
  return [`${root}/docker/${id}`, `${root}/system.slice/docker-${id}.scope`];
}

function pidOf(id: string, roots: string[]): { pid: number; dir: string; root: string } | undefined {
  for (const root of roots) {
    for (const dir of dockerCgroupCandidates(root, id)) {
      if (!existsSync(dir)) continue;
      const pid = firstPid(dir);
      if (pid !== undefined) return { pid, dir, root };
    }
  }
  return undefined;
}

export async function dockerIndex(): Promise<DockerIndex | undefined> {
  const socket = dockerSocketPath();
  if (socket === undefined || !existsSync(socket)) return undefined;
  let list: Listed[];
  try {
    const res = await apiGet(socket, '/containers/json?all=1');
    if (res.status !== 200) return undefined;
    list = JSON.parse(res.body) as Listed[];
  } catch (err) {
    if (err instanceof ApiUnavailableError) return undefined;
    throw err;
  }
  const roots = hostCgroupRoots();
  const byName = new Map<string, Listed>();
  for (const c of list) for (const n of c.Names ?? []) byName.set(n.replace(/^\//u, ''), c);
  const find = (name: string): Listed | undefined => byName.get(name) ?? list.find((x) => x.Id === name)
    ?? (/^[0-9a-f]+$/u.test(name) ? list.find((x) => x.Id.startsWith(name)) : undefined);
  return {
    knows: (ref) => find(ref.replace(/^\//u, '')) !== undefined,
    locate(ref) {
      const name = ref.replace(/^\//u, '');
      let c = byName.get(name) ?? list.find((x) => x.Id === name);
      if (!c && /^[0-9a-f]+$/u.test(name)) {
        const matches = list.filter((x) => x.Id.startsWith(name));
        if (matches.length > 1) throw new ConflictError(`found more than one docker container matching ${ref}`);
        c = matches[0];
      }
      if (c?.State !== 'running') return undefined; // unknown, or not running: the API decides (with the classic retries)
      const found = pidOf(c.Id, roots);
      if (!found) return undefined;
      const { pid, dir, root } = found;
      return {
        kind: 'docker',
        name: (c.Names?.[0] ?? name).replace(/^\//u, ''),
        id: c.Id,
        pid,
        nsPath: `/proc/${pid}/ns/net`,
        stillValid: () => inCgroup(pid, dir, root),
      };
    },
  };
}
