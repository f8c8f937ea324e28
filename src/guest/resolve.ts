/**
 * A guest reference → a held network namespace. A reference with a kind looks only there; a
 * bare name (`any`) is looked up as a named netns, an LXC container, a Docker container and a
 * PID — more than one of those is ambiguous, and the error names the prefixes to choose — then
 * as a Podman container, and finally through lxc-info.
 */
import { existsSync } from 'node:fs';
import { hostNetnsInode, openNetns } from '../exec/netns.js';
import type { Runner } from '../exec/runner.js';
import { ConflictError, InvalidArgumentError, NotFoundError, PipeworkError } from '../model/errors.js';
import { inspectAnyRuntime, lookupDocker, lookupPodman, type Lookup } from './containers.js';
import { HOST_VIEW, checkOwnNetns } from './exclusive.js';
import type { Guest, GuestKind, GuestLocation } from './guest.js';
import { lookupLxcCgroup, lookupLxcInfo } from './lxc.js';
import type { DockerIndex } from './docker-index.js';
import type { GuestRef } from '../model/attach-spec.js';

export const NETNS_DIR = '/var/run/netns';
const KINDS: readonly GuestKind[] = ['docker', 'podman', 'lxc', 'pid', 'netns'];

export interface ResolveOptions {
  runner: Runner;
  /** Docker containers listed up front (pipework batch): asked before the API. */
  dockerIndex?: DockerIndex;
  /** Sleep between the classic tool's PID-0 retries (injectable for tests). */
  sleep?: (ms: number) => Promise<void>;
}

export function splitGuestRef(ref: string): { kind?: GuestKind; name: string } {
  const colon = ref.indexOf(':');
  if (colon > 0) {
    const prefix = ref.slice(0, colon);
    if ((KINDS as readonly string[]).includes(prefix)) return { kind: prefix as GuestKind, name: ref.slice(colon + 1) };
  }
  return { name: ref };
}

/**
 * A guest as a person writes it: `[docker:|podman:|lxc:|pid:|netns:]NAME`. A leading `/` of a
 * container name (as `docker inspect` prints it) is dropped.
 */
export function parseGuestRef(text: string): GuestRef {
  const { kind, name } = splitGuestRef(text);
  if (name === '') throw new InvalidArgumentError(`the guest name in '${text}' is empty`);
  const bare = /^\/[^/]/u.test(name) ? name.slice(1) : name;
  switch (kind) {
    case 'pid':
      if (!/^\d+$/u.test(name) || Number(name) <= 0) throw new InvalidArgumentError(`invalid PID '${name}' in '${text}': expected a process id like 1234`);
      return { kind: 'pid', pid: Number(name) };
    case 'netns':
      return { kind: 'netns', name };
    case 'docker':
    case 'podman':
      return { kind, name: bare };
    case 'lxc':
      return { kind, name };
    case undefined:
      // `/name` is how Docker spells its containers' names: a container, not a netns or a PID.
      return bare !== name ? { kind: 'docker', name: bare } : { kind: 'any', name };
  }
}

/** A reference written back as text (records, messages). */
export function formatGuestRef(ref: GuestRef): string {
  switch (ref.kind) {
    case 'pid':
      return `pid:${ref.pid}`;
    case 'netns-path':
      return ref.name ?? ref.path;
    case 'any':
      return ref.name;
    default:
      return `${ref.kind}:${ref.name}`;
  }
}

function lookupNetns(name: string): GuestLocation | undefined {
  if (name === '' || name.includes('/') || name === '.' || name === '..') return undefined;
  const path = `${NETNS_DIR}/${name}`;
  return existsSync(path) ? { kind: 'netns', name, nsPath: path } : undefined;
}

function lookupPid(name: string): GuestLocation | undefined {
  if (!/^\d+$/u.test(name)) return undefined;
  const pid = Number(name);
  if (pid <= 0) return undefined;
  return existsSync(`/proc/${pid}`) ? { kind: 'pid', name, pid, nsPath: `/proc/${pid}/ns/net` } : undefined;
}

const sleepMs = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Docker/Podman with the classic tool's patience for PID 0: three tries, one second apart. */
async function lookupContainer(look: () => Promise<Lookup>, sleep: (ms: number) => Promise<void>): Promise<Lookup> {
  let result = await look();
  for (let tries = 1; tries < 3 && !result.found && result.reason === 'not-running'; tries++) {
    await sleep(1000);
    result = await look();
  }
  return result;
}

async function locate(guestRef: GuestRef, opts: ResolveOptions): Promise<GuestLocation> {
  if (guestRef.kind === 'netns-path') {
    return { kind: 'netns', name: guestRef.name ?? guestRef.path, nsPath: guestRef.path };
  }
  const kind = guestRef.kind === 'any' ? undefined : guestRef.kind;
  const exclusive = (guestRef.kind === 'docker' || guestRef.kind === 'podman') && guestRef.exclusive === true;
  const name = guestRef.kind === 'pid' ? String(guestRef.pid) : guestRef.name;
  if (name === '') throw new InvalidArgumentError('the guest name is empty');
  const sleep = opts.sleep ?? sleepMs;
  const notRunning: string[] = [];
  const unreachable: string[] = [];
  const take = (r: Lookup, runtime?: string): GuestLocation | undefined => {
    if (r.found) return r.location;
    if (r.reason === 'not-running') notRunning.push(r.detail);
    if (r.reason === 'unavailable' && runtime !== undefined) unreachable.push(`${runtime} could not be asked: ${r.detail}`);
    return undefined;
  };

  switch (kind) {
    case 'netns': return lookupNetns(name) ?? fail(`network namespace ${name} not found in ${NETNS_DIR}`);
    case 'pid': return lookupPid(name) ?? fail(`no process with PID ${name}`);
    case 'lxc': return lookupLxcCgroup(name) ?? (await lookupLxcInfo(opts.runner, name)) ?? fail(`LXC container ${name} not found (or not running)`);
    // A guest that must own its namespace is asked of the API (its network mode), never of the index.
    case 'docker': return (exclusive ? undefined : opts.dockerIndex?.locate(name)) ?? take(await lookupContainer(() => lookupDocker(name), sleep), 'Docker') ?? fail(notRunning[0] ?? `container ${name} not found, and unknown to Docker${unreachable.length > 0 ? ` (${unreachable.join('; ')})` : ''}`);
    case 'podman': return take(await lookupContainer(() => lookupPodman(opts.runner, name), sleep)) ?? fail(notRunning[0] ?? `container ${name} not found, and unknown to Podman`);
    case undefined: break;
  }

  const netns = lookupNetns(name);
  const lxc = lookupLxcCgroup(name);
  // Docker that cannot be reached is worth a mention only where it is expected to run.
  const dockerExpected = process.env['DOCKER_HOST'] !== undefined || existsSync('/var/run/docker.sock');
  // With Docker's containers listed up front (a batch), a name it does not know is not Docker's:
  // no API call per guest (a PID guest's number included).
  const askDocker = possibleContainerName(name) && (opts.dockerIndex === undefined || opts.dockerIndex.knows(name));
  const docker = opts.dockerIndex?.locate(name)
    ?? (askDocker ? take(await lookupContainer(() => lookupDocker(name), sleep), dockerExpected ? 'Docker' : undefined) : undefined);
  const pid = lookupPid(name);
  const found = [netns, lxc, docker, pid].filter((l): l is GuestLocation => l !== undefined);
  if (found.length > 1) {
    throw new ConflictError(
      `found more than one guest matching ${name}: ${found.map(describe).join(' and ')}; write ${found.map((l) => `${l.kind}:${name}`).join(' or ')}`,
    );
  }
  if (found[0]) return found[0];
  const podman = take(await lookupContainer(() => lookupPodman(opts.runner, name), sleep));
  if (podman) return podman;
  const lxcInfo = await lookupLxcInfo(opts.runner, name);
  if (lxcInfo) return lxcInfo;
  const why = unreachable.length > 0 ? ` (${unreachable.join('; ')})` : '';
  return fail(notRunning[0] ?? `container ${name} not found: no Docker, Podman or LXC container, PID or named network namespace has that name${why}`);
}

/** Could a Docker container be called this? (Not worth an API call otherwise.) */
function possibleContainerName(name: string): boolean {
  return /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/u.test(name);
}

function fail(message: string): never {
  throw new NotFoundError(message);
}

function describe(loc: GuestLocation): string {
  const what = loc.kind === 'pid' ? `PID ${loc.name}` : loc.kind === 'netns' ? `network namespace ${loc.name}` : `${loc.kind} container ${loc.name}`;
  return loc.pid !== undefined && loc.kind !== 'pid' ? `${what} (pid ${loc.pid})` : what;
}

/** Resolve and hold the guest's namespace. The caller closes `guest.ns`. */
export async function resolveGuest(ref: GuestRef, opts: ResolveOptions): Promise<Guest> {
  const loc = await locate(ref, opts);
  const ns = openNetns(loc.nsPath, describe(loc));
  if (loc.stillValid && !loc.stillValid()) {
    ns.close();
    throw new PipeworkError(`${describe(loc)} exited while it was being looked up; try again`);
  }
  if ((ref.kind === 'docker' || ref.kind === 'podman') && ref.exclusive === true) {
    try {
      await checkOwnNetns(loc, ns, { ...HOST_VIEW, inspect: inspectAnyRuntime });
    } catch (err) {
      ns.close();
      throw err;
    }
  }
  if (ns.inode === hostNetnsInode()) {
    ns.close();
    throw new ConflictError(`${describe(loc)} shares the host's network namespace; pipework plumbs only guests with their own`);
  }
  return {
    kind: loc.kind,
    name: loc.name,
    ...(loc.id !== undefined && { id: loc.id }),
    ...(loc.pid !== undefined && { pid: loc.pid }),
    ns,
  };
}
