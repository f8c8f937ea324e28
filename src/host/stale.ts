/**
 * What a dead guest leaves on the host: Open vSwitch rows for ports whose device went with the
 * guest, --direct-phys NICs the kernel gave back under their guest-side name, and the
 * resolv.conf a DHCP lease wrote for a named netns that is gone.
 */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import type { Runner } from '../exec/runner.js';
import { ConflictError } from '../model/errors.js';
import { ifNameProblem } from '../model/ifname.js';
import { decodeRecord, type AttachRecord } from '../model/record.js';
import { allKept, type Kept } from './kept-records.js';
import type { GuestRef } from '../model/attach-spec.js';
import type { Step } from '../model/plan.js';
import { OVS_TIMEOUT, readOvsPortTable, type OvsPortRow } from './ovs-facts.js';

export interface StaleOvsPort {
  port: string;
  bridge: string;
  ids: Record<string, string>;
}

/** Pipework's port rows (they carry pipework.interface) whose device does not exist. */
export function staleOvsRows(rows: Iterable<OvsPortRow>, deviceExists: (name: string) => boolean): StaleOvsPort[] {
  const out: StaleOvsPort[] = [];
  for (const row of rows) {
    const ids = row.externalIds;
    const bridge = ids['pipework.bridge'] ?? row.bridge;
    if (ids['pipework.interface'] === undefined || bridge === undefined || deviceExists(row.name)) continue;
    out.push({ port: row.name, bridge, ids });
  }
  return out;
}

export async function staleOvsPorts(runner: Runner): Promise<StaleOvsPort[]> {
  return staleOvsRows((await readOvsPortTable(runner)).values(), (name) => existsSync(`/sys/class/net/${name}`));
}

export interface ReturnedNic {
  /** Its name now (the kernel keeps the guest-side name, or picks devN). */
  link: string;
  /** What pipework kept of it on the host when it moved it in (never what it carries back). */
  record: AttachRecord;
  /** That kept record's file. */
  key: string;
}

interface RawLink {
  ifname: string;
  ifalias?: string;
  address?: string;
}

/**
 * NICs a dead guest gave back: what pipework kept on the host of a NIC it moved into a guest
 * (src/host/kept-records.ts), found on the host again by its MAC — the one of that MAC named as
 * it was in the guest, or carrying its guest-side record, where several share it (a VLAN device
 * and its NIC). What the device carries back was the guest's to write: it only helps to find it.
 */
export function returnedNics(hostLinks: RawLink[], kept: ReadonlyMap<string, Kept> = allKept()): ReturnedNic[] {
  const out: ReturnedNic[] = [];
  for (const [key, k] of kept) {
    const same = hostLinks.filter((l) => k.mac !== undefined && l.address?.toLowerCase() === k.mac);
    const carried = (l: RawLink) => {
      const r = decodeRecord(l.ifalias);
      return r?.role === 'guest' && r.nsInode === k.record.nsInode && r.guestIf === k.record.guestIf;
    };
    const found = same.length === 1 ? same[0] : (same.find((l) => l.ifname === k.record.guestIf) ?? same.find(carried));
    if (found !== undefined) out.push({ link: found.ifname, record: k.record, key });
  }
  return out;
}

/** A resolv.conf pipework wrote for a named netns (`/etc/netns/NAME/resolv.conf`). */
export interface StaleResolvConf {
  path: string;
  netns: string;
}

const DNS_MARK = /^# Written by pipework from the DHCP lease on \S+ \([^,)]*(?:, netns (\d+))?\)/u;

/**
 * Those whose netns is gone, or is another one of the same name (the one the lease was for went:
 * a new netns must not inherit its DNS).
 */
export function staleResolvConfs(etcNetns = '/etc/netns', runNetns = '/var/run/netns'): StaleResolvConf[] {
  let names: string[];
  try {
    names = readdirSync(etcNetns);
  } catch {
    return [];
  }
  return names.flatMap((netns) => {
    const path = `${etcNetns}/${netns}/resolv.conf`;
    let first: string;
    try {
      first = readFileSync(path, 'utf8').split('\n', 1)[0] ?? '';
    } catch {
      return [];
    }
    const m = DNS_MARK.exec(first);
    if (!m) return [];
    let inode: number | undefined;
    try {
      inode = statSync(`${runNetns}/${netns}`).ino;
    } catch {
      return [{ path, netns }];
    }
    return m[1] !== undefined && Number(m[1]) !== inode ? [{ path, netns }] : [];
  });
}

/** What a stale entry says about its guest. */
export interface StaleOwner {
  /** `kind:name` from our record or pipework.guest. */
  guest?: string;
  containerName?: string;
  containerId?: string;
  nsPid?: string;
}

export function staleOwner(entry: { record?: AttachRecord; ids?: Record<string, string>; netns?: string }): StaleOwner {
  // An Open vSwitch row's own ids say more than the record made of them (which runtime, which id).
  if (entry.record && entry.ids === undefined) return { guest: entry.record.guest };
  if (entry.netns !== undefined) return { guest: `netns:${entry.netns}` };
  const ids = entry.ids ?? {};
  const guest = ids['pipework.guest'];
  return {
    ...(guest !== undefined && { guest: guest.replace(/^"|"$/gu, '') }),
    ...(ids['pipework.containername'] !== undefined && { containerName: ids['pipework.containername'].replace(/^\//u, '') }),
    ...(ids['pipework.containerid'] !== undefined && { containerId: ids['pipework.containerid'] }),
    ...(ids['pipework.nspid'] !== undefined && { nsPid: ids['pipework.nspid'] }),
  };
}

function byName(ref: GuestRef, o: StaleOwner): boolean {
  switch (ref.kind) {
    case 'pid':
      return o.guest === `pid:${ref.pid}` || o.nsPid === String(ref.pid);
    case 'netns-path':
      return false;
    case 'any':
      return o.guest?.endsWith(`:${ref.name}`) === true || o.containerName === ref.name || o.containerId === ref.name
        || o.nsPid === ref.name;
    case 'docker':
    case 'podman':
      // The classic keys do not say which runtime: a container of that name or full id.
      return o.guest === `${ref.kind}:${ref.name}` || (o.guest === undefined && (o.containerName === ref.name || o.containerId === ref.name));
    default:
      return o.guest === `${ref.kind}:${ref.name}`;
  }
}

/**
 * The stale entries of one guest. A guest named exactly (`docker:web`) matches only itself; a
 * bare name matches that name under any kind. A container id prefix counts only when no entry
 * matches by name, and only if it names one container (else: ambiguous).
 */
export function selectStale<T extends { record?: AttachRecord; ids?: Record<string, string>; netns?: string }>(ref: GuestRef | undefined, entries: T[]): T[] {
  if (ref === undefined) return entries;
  const named = entries.filter((e) => byName(ref, staleOwner(e)));
  if (named.length > 0 || !(ref.kind === 'any' || ref.kind === 'docker' || ref.kind === 'podman') || !/^[0-9a-f]+$/u.test(ref.name)) return named;
  const prefixed = entries.filter((e) => staleOwner(e).containerId?.startsWith(ref.name) === true);
  const ids = new Set(prefixed.map((e) => staleOwner(e).containerId));
  if (ids.size > 1) throw new ConflictError(`'${ref.name}' is the start of more than one dead container's id (${[...ids].map((i) => i?.slice(0, 12)).join(', ')}); give more of it`);
  return prefixed;
}

export function planStaleCleanup(ports: StaleOvsPort[], resolvConfs: StaleResolvConf[], agent: readonly string[]): Step[] {
  return [
    // (Rows pipework wrote, of names it made: checked all the same before they reach a command.)
    ...ports.filter((p) => ifNameProblem(p.port) === undefined && ifNameProblem(p.bridge) === undefined).map((p): Step => ({
      title: `remove stale Open vSwitch port ${p.port} from ${p.bridge}`,
      action: { kind: 'exec', place: 'host', argv: ['ovs-vsctl', OVS_TIMEOUT, '--if-exists', 'del-port', p.bridge, p.port] },
      undo: [],
    })),
    ...resolvConfs.map((r): Step => ({
      title: `remove ${r.path}, written by a DHCP lease for a netns ${r.netns} that is gone`,
      action: { kind: 'exec', place: 'host', argv: [...agent, 'stop', '--stale-dns', r.path] },
      undo: [],
    })),
  ];
}
