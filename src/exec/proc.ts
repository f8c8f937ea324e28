/**
 * What /proc says about a process: its start time (which, with the PID, names one process for
 * good: a PID that is reused gets another start time), session, name and network namespace.
 */
import { readFileSync, readdirSync, readlinkSync, statSync } from 'node:fs';

export interface ProcStat {
  pid: number;
  comm: string;
  /** R, S, D, Z (zombie), … */
  state: string;
  ppid: number;
  session: number;
  /** Clock ticks since boot: with the PID, the identity of a process. */
  start: string;
}

/** Parse /proc/<pid>/stat (the name, in parentheses, may hold spaces and parentheses). */
export function parseStat(text: string): ProcStat | undefined {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) return undefined;
  const pid = Number(text.slice(0, open).trim());
  const rest = text.slice(close + 2).trim().split(' ');
  // rest[0] is field 3 (state): field N is rest[N - 3].
  const state = rest[0];
  const ppid = rest[1];
  const session = rest[3];
  const start = rest[19];
  if (!Number.isInteger(pid) || state === undefined || ppid === undefined || session === undefined || start === undefined) return undefined;
  return { pid, comm: text.slice(open + 1, close), state, ppid: Number(ppid), session: Number(session), start };
}

export function readStat(pid: number): ProcStat | undefined {
  try {
    return parseStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return undefined;
  }
}

/** Is this exact process (PID and start time) still alive (and not a zombie)? */
export function processAlive(pid: number, start: string): boolean {
  const st = readStat(pid);
  return st !== undefined && st.start === start && st.state !== 'Z' && st.state !== 'X';
}

/** The inode of a process's network namespace, or undefined when it is gone. */
export function netnsInodeOf(pid: number | 'self'): number | undefined {
  try {
    return statSync(`/proc/${pid}/ns/net`).ino;
  } catch {
    return undefined;
  }
}

/** PIDs of every process, from /proc. */
export function allPids(): number[] {
  return readdirSync('/proc').filter((n) => /^\d+$/u.test(n)).map(Number);
}

/** Processes of session `session` in the network namespace `nsInode`. */
export function sessionMembers(session: number, nsInode: number): ProcStat[] {
  const out: ProcStat[] = [];
  for (const pid of allPids()) {
    const st = readStat(pid);
    if (st?.session !== session || st.state === 'Z') continue;
    if (netnsInodeOf(pid) === nsInode) out.push(st);
  }
  return out;
}

/** Is an inherited file descriptor a namespace handle ("net:[…]", or a netns bind mount)? */
export function isNsFd(fd: number): boolean {
  try {
    return statSync(`/proc/self/fd/${fd}`).dev === statSync('/proc/self/ns/net').dev
      && readlinkSync(`/proc/self/fd/${fd}`) !== '';
  } catch {
    return false;
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Send a signal; false when the process is already gone. */
export function signal(pid: number, sig: NodeJS.Signals): boolean {
  try {
    process.kill(pid, sig);
    return true;
  } catch {
    return false;
  }
}

/**
 * Stop exactly this process (PID + start time): SIGTERM, then SIGKILL after `graceMs`. Then
 * whatever it left in its session inside the guest's namespace (dhcpcd's helpers) goes too.
 */
export async function stopProcess(pid: number, start: string, opts: { graceMs?: number; session?: number; nsInode?: number } = {}): Promise<void> {
  const grace = opts.graceMs ?? 5_000;
  if (processAlive(pid, start)) {
    signal(pid, 'SIGTERM');
    const deadline = Date.now() + grace;
    while (processAlive(pid, start) && Date.now() < deadline) await sleep(50);
    if (processAlive(pid, start)) signal(pid, 'SIGKILL');
  }
  if (opts.session === undefined || opts.nsInode === undefined) return;
  // Helpers notice their parent is gone and leave on their own; give them a moment first.
  const deadline = Date.now() + 2_000;
  let left = sessionMembers(opts.session, opts.nsInode);
  while (left.length > 0 && Date.now() < deadline) {
    await sleep(100);
    left = sessionMembers(opts.session, opts.nsInode);
  }
  for (const p of left) signal(p.pid, 'SIGKILL');
}
