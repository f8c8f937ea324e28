/**
 * "This network namespace is the container's alone": asked by the resolver for a guest named by
 * untrusted input (the watcher's: a container's own labels), so that a label can never plumb an
 * interface — or a default route — into another container's namespace, or the host's.
 *
 * Refused: a container whose runtime says it joined another's namespace (`--network
 * container:<id>`, a Podman pod member's `container:<infra>`, Podman's `ns:<path>`, `host`);
 * and a namespace the host holds (its inode is init's) or another container holds (processes in
 * it that are not in the container's cgroup). Processes that are pipework's own are not
 * "another": the staying DHCP clients its records name (PID and start time, or their session),
 * and its `dhcp` method's helper container for this very guest — so a re-list of a container the
 * watcher plumbed with them still finds it unchanged.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { listStates, readClient } from '../dhcp/state.js';
import { readStat } from '../exec/proc.js';
import type { NetnsHandle } from '../exec/netns.js';
import { ConflictError } from '../model/errors.js';
import type { ContainerInspect } from './runtime-api.js';
import type { GuestLocation } from './guest.js';

/** The label pipework puts on its `dhcp` method's helper container (src/dhcp/container.ts). */
const HELPER_LABEL = 'pipework.dhcp-helper-for';

/** The namespace is not the container's alone: the attach is refused, and nothing was changed. */
export class NotOwnNetnsError extends ConflictError {
  override get reason(): string {
    return 'shared-netns';
  }
}

/** Whose namespace a network mode joins; undefined: the container has one of its own. */
export type Joined = { kind: 'host' } | { kind: 'container'; ref: string } | { kind: 'path'; path: string };

export function joinedNamespace(mode: string | undefined): Joined | undefined {
  if (mode === undefined) return undefined;
  if (mode === 'host') return { kind: 'host' };
  if (mode.startsWith('container:')) return { kind: 'container', ref: mode.slice('container:'.length) };
  if (mode.startsWith('ns:')) return { kind: 'path', path: mode.slice('ns:'.length) };
  return undefined;
}

/** A process in the namespace, as /proc tells it. */
export interface NsProcess {
  pid: number;
  comm: string;
  /** Start time (clock ticks since boot): with the PID, one process for good. */
  start: string;
  session: number;
  /** /proc/PID/cgroup, whole. */
  cgroup: string;
}

/** A staying DHCP client pipework recorded in that namespace. */
export interface ClientMark {
  pid: number;
  start: string;
  session: number;
}

export type Holder =
  | { kind: 'container'; id: string; pids: number[] }
  | { kind: 'lxc'; name: string; pids: number[] }
  | { kind: 'process'; pid: number; comm: string };

/**
 * Programs pipework itself runs inside a guest's namespace from the host, for a moment: the
 * gratuitous ARP after an attach (it lingers about a second), a run's `ip` batch. A host process
 * (in no container's cgroup) with one of these names is pipework's own, not another holder.
 */
const OWN_PROGRAMS = new Set(['arping', 'ip', 'tc', 'sysctl']);

/** Docker's, Podman's, containerd's and CRI-O's containers all have 64-hex ids in their cgroup paths. */
const CONTAINER_ID = /[0-9a-f]{64}/u;
/** LXC 4/5 (`lxc.payload.NAME`) and the older or configured `lxc/NAME`. */
const LXC_CGROUP = /(?:lxc\.payload\.|\/lxc\/)([^/\n]+)/u;

/**
 * The processes in a namespace that are neither the container's (its id in their cgroup) nor
 * pipework's recorded DHCP clients, grouped by the container they belong to. Pure.
 */
export function foreignHolders(procs: readonly NsProcess[], ownId: string, clients: readonly ClientMark[]): Holder[] {
  const out: Holder[] = [];
  for (const p of procs) {
    if (p.cgroup.includes(ownId)) continue;
    if (clients.some((c) => (c.pid === p.pid && c.start === p.start) || c.session === p.session)) continue;
    const id = CONTAINER_ID.exec(p.cgroup)?.[0];
    const lxc = id === undefined ? LXC_CGROUP.exec(p.cgroup)?.[1] : undefined;
    if (id === undefined && lxc === undefined && OWN_PROGRAMS.has(p.comm)) continue;
    if (id !== undefined) {
      const had = out.find((h): h is Extract<Holder, { kind: 'container' }> => h.kind === 'container' && h.id === id);
      if (had) had.pids.push(p.pid);
      else out.push({ kind: 'container', id, pids: [p.pid] });
    } else if (lxc !== undefined) {
      const had = out.find((h): h is Extract<Holder, { kind: 'lxc' }> => h.kind === 'lxc' && h.name === lxc);
      if (had) had.pids.push(p.pid);
      else out.push({ kind: 'lxc', name: lxc, pids: [p.pid] });
    } else {
      out.push({ kind: 'process', pid: p.pid, comm: p.comm });
    }
  }
  return out;
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** Every live process whose network namespace is this one (from /proc; those that go meanwhile are skipped). */
export function processesIn(nsInode: number): NsProcess[] {
  const out: NsProcess[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/u.test(name)) continue;
    try {
      if (statSync(`/proc/${name}/ns/net`).ino !== nsInode) continue;
    } catch {
      continue;
    }
    const st = readStat(Number(name));
    const cgroup = readText(`/proc/${name}/cgroup`);
    if (st === undefined || cgroup === undefined || st.state === 'Z' || st.state === 'X') continue;
    out.push({ pid: st.pid, comm: st.comm, start: st.start, session: st.session, cgroup });
  }
  return out;
}

/** pipework's staying DHCP clients in that namespace, from its own records (root's, under /run). */
export function dhcpClientsIn(nsInode: number): ClientMark[] {
  return listStates().flatMap((dir) => {
    const rec = readClient(dir);
    return rec?.nsInode === nsInode ? [{ pid: rec.pid, start: rec.start, session: rec.session }] : [];
  });
}

/** What the check asks a runtime: a container by id or name (undefined: no runtime knows it). */
export type InspectAny = (ref: string) => Promise<{ kind: 'docker' | 'podman'; info: ContainerInspect } | undefined>;

/** What the check reads of the host; injectable for tests. */
export interface HostView {
  inspect: InspectAny;
  processesIn(nsInode: number): NsProcess[];
  dhcpClientsIn(nsInode: number): ClientMark[];
  /** The host's network namespace (init's), undefined when it cannot be read. */
  hostInode(): number | undefined;
}

export const HOST_VIEW: Omit<HostView, 'inspect'> = {
  processesIn,
  dhcpClientsIn,
  hostInode: () => {
    try {
      return statSync('/proc/1/ns/net').ino;
    } catch {
      return undefined;
    }
  },
};

const short = (id: string): string => (/^[0-9a-f]{64}$/u.test(id) ? id.slice(0, 12) : id);

function describeHolder(h: Holder, names: Map<string, string>): string {
  switch (h.kind) {
    case 'container':
      return names.get(h.id) ?? `container ${short(h.id)}`;
    case 'lxc':
      return `lxc container ${h.name}`;
    case 'process':
      return `process ${h.pid} (${h.comm})`;
  }
}

function listed(items: string[]): string {
  if (items.length <= 3) return items.join(', ');
  return `${items.slice(0, 3).join(', ')} and ${items.length - 3} more`;
}

/** Another holder of the namespace, named; `joiner`: a container that itself joined it (not its owner). */
interface Other {
  name: string;
  joiner: boolean;
}

/**
 * Who else holds the namespace: foreign holders, less pipework's own DHCP helper containers for
 * this guest, each named as its runtime calls it.
 */
async function othersIn(nsInode: number, ownId: string, view: HostView): Promise<Other[]> {
  const holders = foreignHolders(view.processesIn(nsInode), ownId, view.dhcpClientsIn(nsInode));
  const names = new Map<string, string>();
  const out: Other[] = [];
  for (const h of holders) {
    let joiner = false;
    if (h.kind === 'container') {
      const found = await view.inspect(h.id);
      const info = found?.info;
      // pipework's own helper for this guest: made by pipework with exactly this guest's namespace.
      if (info?.Config?.Labels?.[HELPER_LABEL] === ownId && info.HostConfig?.NetworkMode === `container:${ownId}`) continue;
      if (found !== undefined) names.set(h.id, `${found.kind} container ${found.info.Name.replace(/^\//u, '')}`);
      joiner = joinedNamespace(info?.HostConfig?.NetworkMode) !== undefined;
    }
    out.push({ name: describeHolder(h, names), joiner });
  }
  return out;
}

const RULE = 'a label may plumb only a network namespace that is its container\'s alone';

/**
 * Refuse (NotOwnNetnsError) unless the namespace held as `ns` is the container's alone. `loc` is
 * the container as its runtime described it (its id and network mode).
 */
export async function checkOwnNetns(loc: GuestLocation, ns: NetnsHandle, view: HostView): Promise<void> {
  const who = `${loc.kind} container ${loc.name}`;
  const ownId = loc.id;
  if (ownId === undefined) throw new NotOwnNetnsError(`${who}: its runtime gave no id, so whose network namespace it is cannot be told; ${RULE}`);
  const joined = joinedNamespace(loc.networkMode);
  if (joined?.kind === 'host') throw new NotOwnNetnsError(`${who} joined the host's network namespace (--network host); ${RULE}`);
  if (ns.inode === view.hostInode()) throw new NotOwnNetnsError(`${who} is in the host's network namespace; ${RULE}`);
  if (joined?.kind === 'container') {
    const owner = await view.inspect(joined.ref);
    const ownerName = owner !== undefined ? `${owner.kind} container ${owner.info.Name.replace(/^\//u, '')}` : `container ${short(joined.ref)}`;
    throw new NotOwnNetnsError(`${who} joined the network namespace of ${ownerName} (--network container:${short(joined.ref)}); ${RULE}`);
  }
  if (joined?.kind === 'path') {
    const others = await othersIn(ns.inode, ownId, view);
    // Its owner: whoever holds it without having joined it (others may have joined it too).
    const owners = others.filter((o) => !o.joiner);
    const owner = owners.length > 0 ? listed(owners.map((o) => o.name)) : others.length > 0 ? listed(others.map((o) => o.name)) : `the namespace at ${joined.path}`;
    throw new NotOwnNetnsError(`${who} joined the network namespace of ${owner} (--network ns:${joined.path}); ${RULE}`);
  }
  const others = await othersIn(ns.inode, ownId, view);
  if (others.length > 0) {
    throw new NotOwnNetnsError(`the network namespace of ${who} is also held by ${listed(others.map((o) => o.name))}; ${RULE}`);
  }
}
