/**
 * Locks between pipework processes on one host: flock(2) on a file per key, in a directory only
 * root can write (/run/pipework/locks, checked by private-dir.ts), so no local user can take a
 * lock, block one, or pose as its holder. The kernel releases a flock when its holder dies,
 * however it dies. A holder writes who it is into its file (pid, start time, what it does), so a
 * run that waits can say for whom; it removes the file as it lets go (a waiter that then finds
 * its file gone from the directory opens the new one). A lock can also be taken shared, by runs
 * that only use what it protects (ports joining a bridge): those neither write nor remove it.
 *
 * flock(2) comes from the native addon when it is built; otherwise flock(1) takes the same lock on
 * the same open file (a lock belongs to the open file, which the child shares).
 */
import { closeSync, constants, fstatSync, ftruncateSync, openSync, readFileSync, statSync, unlinkSync, writeSync } from 'node:fs';
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

/** What a holder says of itself in its lock file. */
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

/** The holder of a lock, as the file says, if that process still lives. */
export function readHolder(key: string): Holder | undefined {
  try {
    const h = JSON.parse(readFileSync(join(lockDir(), lockFileName(key)), 'utf8')) as Partial<Holder>;
    if (typeof h.pid !== 'number' || typeof h.start !== 'string' || typeof h.what !== 'string') return undefined;
    return processAlive(h.pid, h.start) ? { pid: h.pid, start: h.start, what: h.what } : undefined;
  } catch {
    return undefined;
  }
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
  what: string;
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
    if (exclusive) {
      myStart ??= readStat(process.pid)?.start ?? '0';
      const text = Buffer.from(JSON.stringify({ pid: process.pid, start: myStart, what: opts.what } satisfies Holder));
      ftruncateSync(fd, 0);
      writeSync(fd, text, 0, text.length, 0);
    }
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
