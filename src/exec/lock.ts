/**
 * Locks between pipework processes on one host: flock(2) on a file per key, in a directory only
 * root can write (/run/pipework/locks, checked by private-dir.ts), so no local user can take a
 * lock, block one, or pose as its holder. The kernel releases a flock when its holder dies,
 * however it dies. Lock files stay empty: an exclusive holder removes its file as it lets go (a
 * waiter that then finds its file gone from the directory opens the new one); a lock can also be
 * taken shared, by runs that only use what it protects (ports joining a bridge), and those leave
 * it. Who holds what is said once per taking instead, in one record (pid, start time, what it
 * does, the keys), and only by a taking that lasts (src/engine/lock.ts), so a run that waits can
 * say for whom: writing into each lock file gave every lock a data block to allocate and free
 * (0.2 ms each on ext4, 400 of them in a 200-guest destroy, three in a CNI ADD).
 *
 * flock(2) comes from the native addon when it is built; otherwise flock(1) takes the same lock on
 * the same open file (a lock belongs to the open file, which the child shares).
 */
import { closeSync, constants, fstatSync, openSync, readdirSync, readFileSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { processAlive, readStat } from './proc.js';
import { digest } from '../model/hash.js';
import { sysAddon } from './addon.js';
import { privateDir, runDir } from './private-dir.js';
import { processRunner } from './runner.js';

/** Where lock files live. */
export function lockDir(): string {
  return join(runDir(), 'locks');
}

/** Where runs say what they hold (one record per taking, see announce()). */
export function holdersDir(): string {
  return join(runDir(), 'holders');
}

/** What a holder says of itself. */
export interface Holder {
  pid: number;
  /** /proc start time: a reused PID is not the holder. */
  start: string;
  /** What the holding run does: "attach docker:web eth1", "CNI ADD net/ab12…/eth0". */
  what: string;
}

/** A key as a file name: readable where it can be, never a path, never too long. */
export function lockFileName(key: string): string {
  const safe = key.replace(/[^A-Za-z0-9._-]/gu, (c) => `%${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  if (safe.length <= 120 && !safe.startsWith('.')) return safe;
  return `${safe.slice(0, 60).replace(/^\.+/u, '_')}~${digest('sha256', key).toString('hex').slice(0, 32)}`;
}

/** At most this many records are read when a waiter looks for its holder, each at most this big. */
const MAX_RECORDS = 4096;
const MAX_RECORD_BYTES = 1 << 20;
const RECORD_NAME = /^[1-9]\d{0,9}-\d{1,20}-[1-9]\d{0,9}\.json$/u;

interface HolderRecord extends Holder {
  keys: string[];
}

/** A record as written by announce(), or undefined for anything else found there. */
function readRecord(path: string): HolderRecord | undefined {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch {
    return undefined;
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile() || st.size > MAX_RECORD_BYTES) return undefined;
    const r = JSON.parse(readFileSync(fd, 'utf8')) as Partial<HolderRecord>;
    if (typeof r.pid !== 'number' || !Number.isSafeInteger(r.pid) || r.pid <= 0 || typeof r.start !== 'string' || !/^\d{1,20}$/u.test(r.start)) return undefined;
    if (typeof r.what !== 'string' || !Array.isArray(r.keys) || !r.keys.every((k) => typeof k === 'string')) return undefined;
    return { pid: r.pid, start: r.start, what: r.what, keys: r.keys };
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

/**
 * The holder of a lock, as its run's record says, if that process still lives. (Records of runs
 * that died without removing theirs are removed here: their names carry the start time, so no
 * live run's record has the same name.)
 */
export function readHolder(key: string): Holder | undefined {
  const dir = holdersDir();
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return undefined;
  }
  for (const name of names.slice(0, MAX_RECORDS)) {
    if (!RECORD_NAME.test(name)) continue;
    const r = readRecord(join(dir, name));
    if (r === undefined) continue;
    if (!processAlive(r.pid, r.start)) {
      if (name.startsWith(`${r.pid}-${r.start}-`)) {
        try {
          unlinkSync(join(dir, name));
        } catch {
          // another waiter's sweep
        }
      }
      continue;
    }
    if (r.keys.includes(key)) return { pid: r.pid, start: r.start, what: r.what };
  }
  return undefined;
}

/** What a run holds, said in one file while it holds it. */
export interface Announcement {
  /** Say that the run holds these keys now (rewrites the record). */
  update(keys: readonly string[]): void;
  /** The run holds nothing any more: its record goes. */
  withdraw(): void;
}

let records = 0;

/** A record for one taking of locks by this process, doing `what`; nothing is written until update(). */
export function announce(what: string): Announcement {
  let path: string | undefined;
  return {
    update(keys) {
      myStart ??= readStat(process.pid)?.start ?? '0';
      path ??= join(privateDir(holdersDir()), `${process.pid}-${myStart}-${++records}.json`);
      const text = Buffer.from(JSON.stringify({ pid: process.pid, start: myStart, what, keys: [...keys] } satisfies HolderRecord));
      const fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW, 0o600);
      try {
        writeSync(fd, text, 0, text.length, 0);
      } finally {
        closeSync(fd);
      }
    },
    withdraw() {
      if (path === undefined) return;
      try {
        unlinkSync(path);
      } catch {
        // already gone
      }
      path = undefined;
    },
  };
}

/** "pipework (pid 812, attach docker:web eth1)", or "another pipework run" when it cannot be told. */
export function holderText(h: Holder | undefined): string {
  // What a holder wrote is shown, not obeyed: one line, bounded.
  // eslint-disable-next-line no-control-regex -- dropping control characters is the point
  return h === undefined ? 'another pipework run' : `pipework (pid ${h.pid}, ${h.what.replace(/[\u0000-\u001f\u007f]/gu, ' ').slice(0, 160)})`;
}

export interface LockedFile {
  key: string;
  release(): void;
}

let myStart: string | undefined;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** One attempt (or, with `waitMs`, a wait of at most that long) to flock an open file. */
async function flockFd(fd: number, shared: boolean, waitMs: number | undefined, signal?: AbortSignal): Promise<boolean> {
  const addon = sysAddon();
  if (addon !== undefined) {
    // A try is one system call: poll, backing off (a blocking flock would hold a libuv thread).
    const until = Date.now() + (waitMs ?? 0);
    for (let pause = 2; ; pause = Math.min(pause * 2, 50)) {
      if (addon.flock(fd, !shared, false)) return true;
      if (waitMs === undefined || Date.now() >= until || signal?.aborted === true) return false;
      await sleep(Math.min(pause, Math.max(1, until - Date.now())));
    }
  }
  const args = waitMs === undefined ? ['-n'] : ['-w', (Math.max(waitMs, 10) / 1000).toFixed(2)];
  const res = await processRunner.run(['flock', shared ? '-s' : '-x', ...args, '3'], {
    fds: [fd], timeoutMs: (waitMs ?? 0) + 10_000, ...(signal !== undefined && { signal }),
  });
  return res.code === 0;
}

function sameFile(fd: number, path: string): boolean {
  try {
    return fstatSync(fd).ino === statSync(path).ino;
  } catch {
    return false;
  }
}

export interface TryOptions {
  /** Shared with other shared takers (a run that only uses what the key protects). */
  shared?: boolean;
  /** How long to wait in one go (flock(1) without the addon); undefined: do not wait. */
  waitMs?: number;
  signal?: AbortSignal;
}

/**
 * Take the lock of `key` now (or within `waitMs`), or undefined when another run holds it. The
 * file is ours once flocked and still the one the directory names.
 */
export async function tryLock(key: string, opts: TryOptions): Promise<LockedFile | undefined> {
  const path = join(privateDir(lockDir()), lockFileName(key));
  for (let attempt = 0; attempt < 20; attempt++) {
    const fd = openSync(path, constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW, 0o600);
    let ok: boolean;
    try {
      ok = await flockFd(fd, opts.shared === true, opts.waitMs, opts.signal);
    } catch (err) {
      closeSync(fd);
      throw err;
    }
    if (!ok) {
      closeSync(fd);
      return undefined;
    }
    if (!sameFile(fd, path)) {
      // Its holder let go and removed it while we waited: the lock is the directory's new file,
      // which another run may have taken meanwhile (no more waiting here: the caller decides).
      closeSync(fd);
      opts = { ...opts, waitMs: undefined };
      continue;
    }
    const exclusive = opts.shared !== true;
    let released = false;
    return {
      key,
      release: () => {
        if (released) return;
        released = true;
        // Removed while still held alone: nobody can have taken this file meanwhile. (Shared
        // holders leave it: others may hold it with them.)
        if (exclusive) {
          try {
            unlinkSync(path);
          } catch {
            // already gone
          }
        }
        closeSync(fd);
      },
    };
  }
  return undefined;
}
