/**
 * What pipework runs lock, and how long they wait for one another (the mechanism, root-only
 * flock files and a record per taking that names its holder, is src/exec/lock.ts). Keys:
 *   if/<netns inode>/<guest interface>  an interface of a guest, from facts to the end of a run
 *   link/<name>                          a host link a run names itself (a veth's host end)
 *   host                                 the host's links: shared by every run that names what
 *                                        it changes below, alone for a run that does not
 *   bridge/<name>, ovs/<name>            a bridge: shared by runs plugging ports in, alone for
 *                                        one making, changing or removing it
 *   nic/<name>                           a NIC or VLAN sub-interface a run uses or changes
 *   netns/<name>, vxlan/<name>           what a topology makes
 *   cni/<network>/<container>/<ifname>   one CNI attachment, for a whole request
 *   topology/<name>                      one topology, for a whole apply or destroy
 * Several keys are taken in sorted order, so two runs never wait on each other in a circle. A run
 * that holds a key already (a topology holds its bridges for its whole apply) is not stopped by
 * it again (`held`).
 */
import { announce, holderText, readHolder, tryLock, type LockedFile } from '../exec/lock.js';
import { BusyError, InterruptedError } from '../model/errors.js';
import { lockKey } from '../model/plan.js';

/**
 * The longest a run waits for another one to let go of something it needs (docs/security.md: "Locks").
 * PIPEWORK_LOCK_WAIT_MS shortens it for tests.
 */
export const LOCK_WAIT_MS = /^[1-9]\d{0,6}$/u.test(process.env['PIPEWORK_LOCK_WAIT_MS'] ?? '') ? Number(process.env['PIPEWORK_LOCK_WAIT_MS']) : 90_000;
/** How long a wait goes on before it is reported. */
const QUIET_WAIT_MS = 500;
/** How long a run holds what it took before it says so (well before a waiter asks). */
export const RECORD_AFTER_MS = 100;

/** The lock on the host's links, taken around every change made on the host. */
export const HOST_LOCK = 'host';

/** What a key protects, in words, for waits and errors. */
export function describeKey(key: string): string {
  if (key === HOST_LOCK) return "the host's links";
  const [kind, ...rest] = key.split('/');
  const name = rest.join('/');
  switch (kind) {
    case 'bridge': return `bridge ${name}`;
    case 'ovs': return `Open vSwitch bridge ${name}`;
    case 'nic': return `host interface ${name}`;
    case 'netns': return `network namespace ${name}`;
    case 'vxlan': return `VXLAN device ${name}`;
    case 'link': return `host end ${name}`;
    case 'topology': return `topology ${name}`;
    default: return key;
  }
}

export function guestIfLock(nsInode: number, guestIf: string): string {
  return `if/${nsInode}/${guestIf}`;
}

export function hostEndLock(name: string): string {
  return lockKey.hostEnd(name);
}

export interface Held {
  release(): void;
}

/** A key, taken alone (the default) or shared with other shared takers. */
export type LockKey = string | { key: string; shared: true };

/** What a run holds already, and how: its own locks do not stop it again. */
export type HeldKeys = Map<string, 'shared' | 'exclusive'>;

export interface AcquireOptions {
  /** What a key protects, in words: "the host's links", "interface eth1 of netns:a". */
  what: (key: string) => string;
  /** What this run does, as a waiter will read it: "attach netns:a eth1". */
  purpose: string;
  signal?: AbortSignal;
  /** Default LOCK_WAIT_MS. */
  timeoutMs?: number;
  /** Told once per key when this run has to wait, with whom it waits for. */
  onWait?: (line: string) => void;
  /**
   * Undoing: wait however long it takes and whatever signal comes (what a run made must not be
   * left half-made because another run was slow); still reported.
   */
  patient?: boolean;
  /** The run's own held keys: those are not taken again (and what is taken is added there). */
  held?: HeldKeys;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** `beforeWait`: called once, when this key is not free at once (the run says what it holds before it waits). */
async function takeOne(key: string, shared: boolean, opts: AcquireOptions, beforeWait: () => void): Promise<LockedFile> {
  const started = Date.now();
  const limit = opts.timeoutMs ?? LOCK_WAIT_MS;
  const signal = opts.patient === true ? undefined : opts.signal;
  let told = false;
  let tried = false;
  for (;;) {
    const waited = Date.now() - started;
    const left = limit - waited;
    // The first try does not wait; then waits of up to the report, then a second at a time, so
    // the holder can be read again and the limit kept.
    const waitMs = !tried ? undefined : Math.max(10, Math.min(opts.patient === true ? 1_000 : left, told ? 1_000 : QUIET_WAIT_MS - waited));
    const got = await tryLock(key, { ...(shared && { shared }), ...(waitMs !== undefined && { waitMs }), ...(signal !== undefined && { signal }) });
    if (got !== undefined) return got;
    if (!tried) beforeWait();
    tried = true;
    if (signal?.aborted === true) throw new InterruptedError(`interrupted while waiting for ${holderText(readHolder(key))} on ${opts.what(key)}`);
    const now = Date.now() - started;
    if (!told && now >= QUIET_WAIT_MS) {
      told = true;
      const holder = readHolder(key);
      // (Parts of one run take turns too, silently: a run does not wait "for" itself.)
      if (holder === undefined || holder.pid !== process.pid || holder.what !== opts.purpose) {
        opts.onWait?.(`waiting for ${holderText(holder)} on ${opts.what(key)}${opts.patient === true ? ' (to undo what this run did)' : ''}`);
      }
    }
    if (opts.patient !== true && now >= limit) {
      throw new BusyError(`${holderText(readHolder(key))} is still working on ${opts.what(key)} after ${Math.round(limit / 1000)} s; try again once it is done`);
    }
    if (waitMs === undefined) await sleep(2);
  }
}

/** Each key once, alone if any asks for it alone; sorted. */
export function normalize(keys: readonly LockKey[]): { key: string; shared: boolean }[] {
  const modes = new Map<string, boolean>();
  for (const k of keys) {
    const [key, shared] = typeof k === 'string' ? [k, false] : [k.key, true];
    modes.set(key, (modes.get(key) ?? true) && shared);
  }
  return [...modes].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([key, shared]) => ({ key, shared }));
}

/**
 * Take every lock in `keys` (sorted), waiting at most LOCK_WAIT_MS for each. What is held is said
 * in one record for the whole taking, so a run waiting on one of them can name this one: before
 * this run waits itself, and otherwise once it has held them RECORD_AFTER_MS (a waiter names its
 * holder after QUIET_WAIT_MS; most takings are let go long before, and write nothing).
 */
export async function acquire(keys: readonly LockKey[], opts: AcquireOptions): Promise<Held> {
  const held: LockedFile[] = [];
  const mine: string[] = [];
  const record = announce(opts.purpose);
  let said = 0;
  let later: NodeJS.Timeout | undefined;
  const say = () => {
    clearTimeout(later);
    if (held.length === said) return;
    said = held.length;
    record.update(held.map((l) => l.key));
  };
  const release = () => {
    clearTimeout(later);
    record.withdraw();
    for (const l of held.splice(0).reverse()) l.release();
    for (const k of mine.splice(0)) opts.held?.delete(k);
  };
  try {
    for (const { key, shared } of normalize(keys)) {
      const already = opts.held?.get(key);
      if (already === 'exclusive' || (already === 'shared' && shared)) continue;
      if (already === 'shared') throw new Error(`internal: a run holding ${key} shared asks for it alone`);
      held.push(await takeOne(key, shared, opts, say));
      if (opts.held !== undefined && already === undefined) {
        opts.held.set(key, shared ? 'shared' : 'exclusive');
        mine.push(key);
      }
    }
    if (held.length > said) {
      later = setTimeout(() => {
        try {
          say();
        } catch {
          // (Only a waiter's message is at stake: it names "another pipework run".)
        }
      }, RECORD_AFTER_MS);
      later.unref();
    }
  } catch (err) {
    release();
    throw err;
  }
  return { release };
}
