/**
 * Locks between pipework runs on one host: a guest interface (held from facts to the end of a
 * run, so an attach, a del and a --replace of it never interleave) and the host's links (held
 * while a run changes them). Each lock is an abstract unix socket bound to a name: binding is
 * exclusive, and the kernel releases it when the process ends, however it ends — no lock file
 * to go stale, nothing to clean. (Abstract names belong to a network namespace: every pipework
 * process runs in the host's.)
 */
import { createServer, type Server } from 'node:net';
import { BusyError, InterruptedError } from '../model/errors.js';

/** The lock on the host's links, taken around every change made on the host. */
export const HOST_LOCK = 'host';

export function guestIfLock(nsInode: number, guestIf: string): string {
  return `if/${nsInode}/${guestIf}`;
}

export function hostEndLock(name: string): string {
  return `link/${name}`;
}

export interface Held {
  release(): void;
}

function bind(key: string): Promise<Server | undefined> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE') resolve(undefined);
      else reject(err);
    });
    server.listen({ path: `\0pipework/lock/${key}`, exclusive: true }, () => {
      // A lock must not keep the process alive, nor be waited on at exit.
      server.unref();
      resolve(server);
    });
  });
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Take every lock in `keys` (sorted, so two runs never wait on each other in a circle), waiting
 * at most `timeoutMs` for another run to let go. `what` names the holder in the error.
 */
export async function acquire(keys: readonly string[], opts: { timeoutMs: number; what: (key: string) => string; signal?: AbortSignal }): Promise<Held> {
  const sorted = [...new Set(keys)].sort();
  const held: Server[] = [];
  const release = () => {
    for (const s of held.splice(0)) s.close();
  };
  const deadline = Date.now() + opts.timeoutMs;
  try {
    for (const key of sorted) {
      let wait = 2;
      for (;;) {
        const server = await bind(key);
        if (server) {
          held.push(server);
          break;
        }
        if (opts.signal?.aborted === true) throw new InterruptedError(`interrupted while waiting for ${opts.what(key)}`);
        if (Date.now() >= deadline) {
          throw new BusyError(`another pipework run is still working on ${opts.what(key)} after ${Math.round(opts.timeoutMs / 1000)} s; try again once it is done`);
        }
        await sleep(wait);
        wait = Math.min(wait * 2, 50);
      }
    }
  } catch (err) {
    release();
    throw err;
  }
  return { release };
}
