/**
 * `pipework cni daemon`: a resident pipework that serves the plugin's requests over a unix
 * socket (as Multus' thick plugin does), so a request costs no Node start-up. Each request is
 * its own run with the runtime's environment; a plugin that goes away mid-request (the runtime
 * timed out and killed it) aborts its run, which undoes what it did. SIGTERM stops accepting,
 * lets what runs finish, and exits 0. With systemd socket activation (LISTEN_FDS) it serves the
 * socket it is handed.
 */
import { chmodSync, existsSync, unlinkSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import { ConflictError } from '../../model/errors.js';
import { handle } from './handle.js';
import { makeDirs } from './state.js';
import { preparePluginProcess } from './plugin.js';
import { decodeRequest, encodeResponse, WireError } from './wire.js';

export const DEFAULT_SOCKET = '/run/pipework/cni.sock';

export interface DaemonOptions {
  socket: string;
  log: (line: string) => void;
}

function answering(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

function serveConnection(conn: Socket, inFlight: Set<Promise<void>>, log: (line: string) => void): void {
  let buf = Buffer.alloc(0);
  let started = false;
  const controller = new AbortController();
  conn.on('close', () => {
    if (!controller.signal.aborted) controller.abort('the plugin went away');
  });
  conn.on('error', () => undefined);
  conn.on('data', (chunk: Buffer) => {
    if (started) return;
    buf = Buffer.concat([buf, chunk]);
    let req;
    try {
      req = decodeRequest(buf);
    } catch (err) {
      log(`pipework cni daemon: ${(err as WireError).message}`);
      conn.destroy();
      return;
    }
    if (req === undefined) return;
    started = true;
    const t0 = performance.now();
    const stderr: string[] = [];
    const work = handle({ env: req.env, stdin: req.stdin }, {
      signal: controller.signal, log: (line) => stderr.push(line), trace: { enabled: req.env['PIPEWORK_CNI_TRACE'] === '1' },
    })
      .then((res) => {
        // One line per request: what, for whom, how it ended, how long it took.
        const what = [req.env['CNI_COMMAND'] ?? '?', (req.env['CNI_CONTAINERID'] ?? '').slice(0, 12), req.env['CNI_IFNAME'] ?? ''].filter((w) => w !== '').join(' ');
        const ms = (performance.now() - t0).toFixed(1);
        log(`pipework cni daemon: ${what}: ${res.exitCode === 0 ? 'ok' : `failed: ${stderr.find((l) => l.startsWith('pipework: ') && !l.startsWith('pipework: trace')) ?? ''}`} (${ms} ms)`);
        if (!conn.destroyed) conn.end(encodeResponse({ exitCode: res.exitCode, stdout: res.stdout, stderr: stderr.map((l) => `${l}\n`).join('') }));
      })
      .catch((err: unknown) => {
        log(`pipework cni daemon: internal error: ${(err as Error).stack ?? String(err)}`);
        conn.destroy();
      })
      .finally(() => {
        // Done: a close now is the plugin reading its answer, not an abort.
        inFlight.delete(work);
      });
    inFlight.add(work);
  });
}

/** Listen (or take the socket systemd hands us); resolves once it serves. */
export async function startDaemon(opts: DaemonOptions): Promise<{ server: Server; stop(): Promise<void> }> {
  preparePluginProcess();
  const inFlight = new Set<Promise<void>>();
  const server = createServer((conn) => serveConnection(conn, inFlight, opts.log));
  const activated = process.env['LISTEN_FDS'] === '1' && process.env['LISTEN_PID'] === String(process.pid);
  if (activated) {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ fd: 3 }, resolve);
    });
  } else {
    makeDirs(dirname(opts.socket), 0o700);
    if (existsSync(opts.socket)) {
      if (await answering(opts.socket)) throw new ConflictError(`another pipework cni daemon answers on ${opts.socket}; stop it first`);
      unlinkSync(opts.socket);
    }
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.socket, resolve);
    });
    // Only root may hand it requests (they change the host's network).
    chmodSync(opts.socket, 0o600);
  }
  opts.log(`pipework cni daemon: serving ${activated ? 'the socket systemd passed' : opts.socket} (netlink: ${process.env['PIPEWORK_NETLINK'] === '1' ? 'in-process when the addon loads' : 'iproute2'})`);
  const stop = async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await Promise.allSettled([...inFlight]);
    if (!activated) {
      try {
        unlinkSync(opts.socket);
      } catch {
        // gone already
      }
    }
  };
  return { server, stop };
}

/** The foreground daemon of `pipework cni daemon`. */
export async function runDaemon(socket: string): Promise<number> {
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const d = await startDaemon({ socket, log });
  await new Promise<void>((resolve) => {
    for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.once(sig, () => resolve());
  });
  log('pipework cni daemon: stopping (waiting for requests in flight)');
  await d.stop();
  return 0;
}
