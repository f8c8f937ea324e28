/**
 * pipework's DHCP supervisor: one small process for every staying client on the host. A client
 * inside a guest's network namespace keeps that namespace alive, so the guest's death does not
 * reach it; the supervisor watches each guest by other means (its process and start time, or
 * its netns file's inode — see state.ts), and stops the client once the guest is gone. It leaves
 * when no client is left. One instance at a time: it holds a lock for its whole life, and listens
 * on a unix socket in its private state directory, so `supervise --ensure` can ask it to look
 * again at once (only root can reach the socket, and each end checks the other is root).
 */
import { appendFileSync, readFileSync, renameSync, rmdirSync, statSync, unlinkSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tryLock, type LockedFile } from '../exec/lock.js';
import { peerTrusted } from '../exec/peer.js';
import { privateDir } from '../exec/private-dir.js';
import { connectUnix } from '../exec/unix-socket.js';
import { dirname, join } from 'node:path';
import { dnsMarker } from './hook.js';
import { processAlive, sleep, stopProcess } from '../exec/proc.js';
import { STATE_ROOT, guestAlive, listStates, readClient, removeState, type ClientRecord } from './state.js';

/** The supervisor's address, in its root-only state directory. */
export const SUPERVISOR_SOCKET = join(STATE_ROOT, 'supervisor.sock');
/** The lock one supervisor holds for its life. */
const SUPERVISOR_LOCK = 'dhcp-supervisor';
/** How often each client's guest is checked. */
export const POLL_MS = 1_000;

export function supervisorLog(line: string): void {
  const file = join(STATE_ROOT, 'supervisor.log');
  try {
    if ((statSync(file, { throwIfNoEntry: false })?.size ?? 0) > 256 * 1024) renameSync(file, `${file}.old`);
    appendFileSync(file, `${new Date().toISOString()} [${process.pid}] ${line}\n`);
  } catch {
    // best effort
  }
}

/** Remove the resolv.conf a lease wrote for a named netns, if it is still ours (its marker). */
export function removeOwnDns(path: string, guestIf?: string): boolean {
  try {
    const first = readFileSync(path, 'utf8').split('\n', 1)[0] ?? '';
    // Ours for this interface; without one, from any interface's lease.
    if (!first.includes(guestIf !== undefined ? dnsMarker(guestIf) : dnsMarker('').trimEnd())) return false;
    unlinkSync(path);
    if (path.startsWith('/etc/netns/')) {
      try {
        rmdirSync(dirname(path)); // only when empty
      } catch {
        // other files there: leave it
      }
    }
    return true;
  } catch {
    return false;
  }
}

/** The resolv.conf pipework made for this client's guest (/etc/netns/<name>/), if it is still ours. */
function removeDnsFile(rec: ClientRecord): void {
  if (rec.dns?.create === true) removeOwnDns(rec.dns.path, rec.guestIf);
}

/** Remove the classic pidfile if it still names this client. */
function removePidfile(rec: ClientRecord): void {
  if (rec.pidfile === undefined) return;
  try {
    if (readFileSync(rec.pidfile, 'utf8').trim() === String(rec.pid)) unlinkSync(rec.pidfile);
  } catch {
    // gone already
  }
}

/** Stop a client for good and forget it (also what `pipework del` does). */
export async function stopClient(dir: string, rec: ClientRecord | undefined, why: string): Promise<void> {
  if (rec !== undefined) {
    if (processAlive(rec.pid, rec.start)) {
      supervisorLog(`stopping ${rec.program} (pid ${rec.pid}) of ${rec.guestIf} in ${rec.guest}: ${why}`);
    }
    await stopProcess(rec.pid, rec.start, { session: rec.session, nsInode: rec.nsInode });
    removePidfile(rec);
  }
  removeState(dir);
}

/**
 * Does the client's namespace still have its interface? /proc/<pid>/net/dev lists the devices of
 * the process's network namespace: no process needs to be started to look into the guest.
 */
export function interfaceIn(pid: number, guestIf: string): boolean | undefined {
  try {
    return readFileSync(`/proc/${pid}/net/dev`, 'utf8').split('\n').some((l) => l.split(':')[0]?.trim() === guestIf);
  } catch {
    return undefined;
  }
}

/** One look at every client: forget the ones that exited, stop the ones whose guest is gone. Returns how many remain. */
export async function sweep(): Promise<number> {
  let remaining = 0;
  const stops: Promise<void>[] = [];
  for (const dir of listStates()) {
    const rec = readClient(dir);
    if (rec === undefined) continue; // being acquired (or a one-shot's scratch): not ours to judge
    const guestGone = !guestAlive(rec.watch);
    if (!processAlive(rec.pid, rec.start)) {
      supervisorLog(`${rec.program} (pid ${rec.pid}) of ${rec.guestIf} in ${rec.guest} has exited`);
      removePidfile(rec);
      removeState(dir);
      // Exited with its guest gone (the interface went with it): what its leases wrote goes too.
      if (guestGone) removeDnsFile(rec);
      continue;
    }
    // Its interface removed by hand (not by `pipework del`, which stops the client first).
    if (!guestGone && interfaceIn(rec.pid, rec.guestIf) !== false) {
      remaining++;
      continue;
    }
    stops.push((async () => {
      await stopClient(dir, rec, guestGone ? 'the guest is gone' : `${rec.guestIf} is gone from the guest`);
      removeDnsFile(rec);
    })());
  }
  await Promise.all(stops);
  return remaining;
}

/** Listen on the socket; only the holder of the supervisor's lock calls this, so a file there is stale. */
function listen(server: Server): Promise<void> {
  privateDir(STATE_ROOT);
  try {
    unlinkSync(SUPERVISOR_SOCKET);
  } catch {
    // none left
  }
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(SUPERVISOR_SOCKET, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/** The supervisor's lock: taken at once, or — while an exiting supervisor still has it — within a few seconds. */
async function lockSupervisor(): Promise<LockedFile | undefined> {
  const until = Date.now() + 10_000;
  for (;;) {
    const held = await tryLock(SUPERVISOR_LOCK, { waitMs: 500 });
    if (held !== undefined || Date.now() >= until || (await pokeSupervisor(500))) return held;
  }
}

/** Ask a running supervisor to look now; false when none answers. */
export function pokeSupervisor(timeoutMs = 2_000): Promise<boolean> {
  return new Promise((resolve) => {
    const conn = connectUnix(SUPERVISOR_SOCKET);
    conn.once('connect', () => {
      if (!peerTrusted(conn)) done(false);
    });
    let answer = '';
    const done = (ok: boolean): void => {
      clearTimeout(timer);
      conn.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    conn.setEncoding('utf8');
    conn.on('connect', () => conn.write('sweep\n'));
    conn.on('data', (d: string) => {
      answer += d;
      if (answer.includes('\n')) done(answer.startsWith('ok'));
    });
    conn.on('error', () => done(false));
    conn.on('close', () => done(answer.startsWith('ok')));
  });
}

/** The supervisor's life: until no client is left. */
export async function supervise(): Promise<void> {
  let busy: Promise<number> | undefined;
  const look = (): Promise<number> => {
    busy ??= sweep().finally(() => { busy = undefined; });
    return busy;
  };
  const server = createServer((conn) => {
    if (!peerTrusted(conn)) {
      conn.destroy();
      return;
    }
    conn.setEncoding('utf8');
    conn.on('error', () => undefined);
    conn.once('data', () => {
      void look().then(() => conn.end('ok\n'), () => conn.end('error\n'));
    });
  });
  const lock = await lockSupervisor();
  if (lock === undefined) return; // another supervisor runs
  await listen(server);
  supervisorLog('started');
  for (;;) {
    const remaining = await look();
    if (remaining === 0) {
      // Stop taking requests, then look once more: a client registered before a request that
      // we accepted is seen now; one registered later finds no supervisor and starts another.
      await new Promise<void>((r) => server.close(() => r()));
      if ((await look()) === 0) break;
      await listen(server);
    }
    await sleep(POLL_MS);
  }
  supervisorLog('no client left: exiting');
  lock.release();
}
