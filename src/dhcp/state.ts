/**
 * Where pipework keeps what it knows of the DHCP clients it left running: one directory per
 * guest interface, /run/pipework/dhcp/<netns inode>-<interface>/, holding client.json (who the
 * client is, which guest it serves and how to tell that guest is alive), the client's hook and
 * private state (dhcpcd's /run/dhcpcd and /var/lib/dhcpcd are bind-mounted from here, so two
 * guests never share them). /run is a tmpfs: nothing of this outlives a reboot, nor do the clients.
 */
import { readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { privateDir } from '../exec/private-dir.js';
import { ifNameProblem } from '../model/ifname.js';
import { processAlive } from '../exec/proc.js';

export const STATE_ROOT = '/run/pipework/dhcp';

/**
 * How to tell that a guest is still alive without holding its namespace (holding it would keep
 * it alive): a process of the guest (PID + start time), or a netns file that still names the
 * same namespace (its nsfs inode).
 */
export type GuestWatch =
  | { kind: 'pid'; pid: number; start: string }
  | { kind: 'nsfile'; path: string; inode: number };

export function formatWatch(w: GuestWatch): string {
  return w.kind === 'pid' ? `pid:${w.pid}:${w.start}` : `nsfile:${w.inode}:${w.path}`;
}

export function parseWatch(text: string): GuestWatch | undefined {
  let m = /^pid:(\d+):(\d+)$/u.exec(text);
  if (m) return { kind: 'pid', pid: Number(m[1]), start: m[2]! };
  m = /^nsfile:(\d+):(\/.+)$/u.exec(text);
  if (m) return { kind: 'nsfile', inode: Number(m[1]), path: m[2]! };
  return undefined;
}

export function guestAlive(w: GuestWatch): boolean {
  if (w.kind === 'pid') return processAlive(w.pid, w.start);
  try {
    return statSync(w.path).ino === w.inode;
  } catch {
    return false;
  }
}

/** Where the DNS servers of a lease go: the guest's own resolv.conf. */
export interface DnsTarget {
  path: string;
  /** Create the file (and its directory) when missing: /etc/netns/<name>/resolv.conf. */
  create: boolean;
  /** `dev:ino` of the host's /etc/resolv.conf: a target that turns out to be it is refused. */
  hostId?: string;
}

/** A staying client, as the supervisor and `del` see it. */
export interface ClientRecord {
  method: string;
  /** The client program (udhcpc, dhclient, dhcpcd). */
  program: string;
  pid: number;
  start: string;
  /** Its session: dhcpcd's helpers share it. */
  session: number;
  guest: string;
  guestIf: string;
  nsInode: number;
  watch: GuestWatch;
  /** The classic pidfile, removed with the client. */
  pidfile?: string;
  dns?: DnsTarget;
  startedAt: string;
}

export function stateKey(nsInode: number, guestIf: string): string {
  return `${nsInode}-${guestIf}`;
}

/**
 * The state directory of a key — only of a key as stateKey makes it (a netns inode, '-', an
 * interface name): a key read back from a record or handed to the agent never names another path.
 */
export function stateDir(key: string): string {
  const m = /^(\d{1,20})-(.*)$/su.exec(key);
  if (m === null || ifNameProblem(m[2]!) !== undefined) throw new Error(`internal: bad DHCP state key ${JSON.stringify(key)}`);
  return join(STATE_ROOT, key);
}

export function readClient(dir: string): ClientRecord | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, 'client.json'), 'utf8')) as ClientRecord;
  } catch {
    return undefined;
  }
}

/** Written whole, then renamed: a reader never sees half a record. */
export function writeClient(dir: string, record: ClientRecord): void {
  const tmp = join(dir, 'client.json.tmp');
  writeFileSync(tmp, `${JSON.stringify(record, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, join(dir, 'client.json'));
}

export function removeState(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** Every state directory (key → path). */
export function listStates(): string[] {
  try {
    return readdirSync(STATE_ROOT, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => join(STATE_ROOT, e.name));
  } catch {
    return [];
  }
}

/** The state directory, made when missing, and root's alone (its records name processes to stop). */
export function ensureRoot(): void {
  privateDir(STATE_ROOT);
}
