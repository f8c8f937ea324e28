/**
 * LXC guests, found through their cgroups (no process spawned) or `lxc-info`.
 * Layouts: LXC 4/5 `lxc.payload.NAME` (cgroup v2 or v1), LXC 3 `lxc.payload/NAME`,
 * older `lxc/NAME` (also what `lxc.cgroup.dir.container = lxc/NAME` gives).
 */
import { existsSync, readFileSync, readdirSync, statfsSync } from 'node:fs';
import type { Runner } from '../exec/runner.js';
import type { GuestLocation } from './guest.js';
import { hasProgram } from '../exec/programs.js';

/** Mount points of cgroup hierarchies: the v2 one, and the v1 devices one (the classic tool's). */
export function cgroupRoots(mounts: string): string[] {
  const roots: string[] = [];
  for (const line of mounts.split('\n')) {
    const [, mnt, fstype, options] = line.split(' ');
    if (mnt === undefined || options === undefined) continue;
    if (fstype === 'cgroup2') roots.push(mnt);
    else if (fstype === 'cgroup' && options.split(',').includes('devices')) roots.push(mnt);
  }
  return roots;
}

/** statfs(2) magic of a cgroup v2 file system. */
const CGROUP2_SUPER_MAGIC = 0x63677270;
let rootsOfThisHost: string[] | undefined;

/**
 * This host's cgroup roots, found once per run. A host on the unified hierarchy alone has it at
 * /sys/fs/cgroup, which one statfs tells; only other layouts need /proc/mounts, which is large
 * on a host with many containers (100 KB with 200 overlay mounts: 1.6 ms to read and parse).
 */
export function hostCgroupRoots(): string[] {
  if (rootsOfThisHost) return rootsOfThisHost;
  try {
    if (statfsSync('/sys/fs/cgroup').type === CGROUP2_SUPER_MAGIC) return (rootsOfThisHost = ['/sys/fs/cgroup']);
  } catch {
    // no /sys/fs/cgroup: read the mount table
  }
  try {
    rootsOfThisHost = cgroupRoots(readFileSync('/proc/mounts', 'utf8'));
  } catch {
    rootsOfThisHost = [];
  }
  return rootsOfThisHost;
}

export function lxcCgroupCandidates(root: string, name: string): string[] {
  return [`${root}/lxc.payload.${name}`, `${root}/lxc.payload/${name}`, `${root}/lxc/${name}`];
}

/**
 * The lowest PID in a cgroup (the container's init, which started first) or, when it has none
 * itself (LXC 5 delegates inside the container), in one of its children.
 */
export function firstPid(dir: string, depth = 0): number | undefined {
  for (const file of ['cgroup.procs', 'tasks']) {
    try {
      const pids = readFileSync(`${dir}/${file}`, 'utf8').split('\n').filter((l) => /^\d+$/u.test(l)).map(Number);
      if (pids.length > 0) return Math.min(...pids);
      break;
    } catch {
      // try the next file name
    }
  }
  if (depth >= 3) return undefined;
  let entries: string[];
  try {
    entries = readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
  } catch {
    return undefined;
  }
  for (const sub of entries) {
    const pid = firstPid(`${dir}/${sub}`, depth + 1);
    if (pid !== undefined) return pid;
  }
  return undefined;
}

export function inCgroup(pid: number, cgroupDir: string, root: string): boolean {
  try {
    const rel = cgroupDir.slice(root.length);
    return readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n').some((l) => {
      const path = l.split(':')[2];
      return path !== undefined && (path === rel || path.startsWith(`${rel}/`));
    });
  } catch {
    return false;
  }
}

/** LXC by its cgroup: no process spawned. */
export function lookupLxcCgroup(name: string): GuestLocation | undefined {
  if (name.includes('/') || name === '.' || name === '..') return undefined;
  for (const root of hostCgroupRoots()) {
    for (const dir of lxcCgroupCandidates(root, name)) {
      if (!existsSync(dir)) continue;
      const pid = firstPid(dir);
      if (pid === undefined) continue;
      return { kind: 'lxc', name, pid, nsPath: `/proc/${pid}/ns/net`, stillValid: () => inCgroup(pid, dir, root) };
    }
  }
  return undefined;
}

/** LXC through `lxc-info`, for layouts we do not know (custom lxc.cgroup.dir settings). */
export async function lookupLxcInfo(runner: Runner, name: string): Promise<GuestLocation | undefined> {
  if (!hasProgram('lxc-info')) return undefined;
  const res = await runner.run(['lxc-info', '-n', name, '-p', '-H'], { timeoutMs: 10_000 });
  const pid = res.code === 0 ? Number(res.stdout.trim()) : NaN;
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  return { kind: 'lxc', name, pid, nsPath: `/proc/${pid}/ns/net` };
}
