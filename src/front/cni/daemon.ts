/**
 * `pipework cni daemon`: a resident pipework that serves the plugin's requests over a unix
 * socket (as Multus' thick plugin does), so a request costs no Node start-up. Each request is
 * its own run with the runtime's environment; a plugin that goes away mid-request (the runtime
 * timed out and killed it) aborts its run, which undoes what it did. SIGTERM stops accepting,
 * lets what runs finish, and exits 0. With systemd socket activation (LISTEN_FDS) it serves the
 * socket it is handed.
 */
import { chmodSync, closeSync, existsSync, openSync, unlinkSync } from 'node:fs';
import { createServer, Socket, type Server } from 'node:net';
import { dirname } from 'node:path';
import { STOP_SIGNALS, takeEarly } from '../signals.js';
import { handle } from './handle.js';
import { findProgram } from './request.js';
import { preparePluginProcess } from './plugin.js';
import { processRunner, spawnDetached, type Runner, type RunOptions, type RunResult } from '../../exec/runner.js';
import { tryLock } from '../../exec/lock.js';
import { peerTrusted, peerUid } from '../../exec/peer.js';
import { privateDir, privateDirProblem } from '../../exec/private-dir.js';
import { connectUnix, unixPathProblem } from '../../exec/unix-socket.js';
import { CommandError, ConflictError, InvalidArgumentError, PermissionError } from '../../model/errors.js';
import { nowMs } from '../../model/clock.js';
import { decodeExecReply, decodeRequest, encodeDetach, encodeExec, encodeResponse, type ExecReply, type WireError, type WireRequest } from './wire.js';

export const DEFAULT_SOCKET = '/run/pipework/cni.sock';

export interface DaemonOptions {
  socket: string;
  log: (line: string) => void;
}

function answering(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connectUnix(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** Signal numbers the launcher reports, as names. */
const SIGNALS: Record<number, string> = { 1: 'SIGHUP', 2: 'SIGINT', 9: 'SIGKILL', 15: 'SIGTERM' };

/**
 * Delegates run by the launcher that handed over the request: its children, with the runtime's
 * environment — no fork of this (large) process. Once the launcher is gone, they run here.
 */
export class LauncherRunner implements Runner {
  private queue: Promise<unknown> = Promise.resolve();
  private waiting: { resolve(r: ExecReply): void; reject(e: Error): void } | undefined;
  private closed = false;

  constructor(private readonly conn: Socket) {}

  reply(r: ExecReply): void {
    const w = this.waiting;
    this.waiting = undefined;
    w?.resolve(r);
  }

  close(): void {
    this.closed = true;
    const w = this.waiting;
    this.waiting = undefined;
    w?.reject(new Error('the plugin went away'));
  }

  /** Start a program and do not wait for it (the launcher starts it; here, once it is gone). */
  detach(argv: string[], env: Record<string, string>): void {
    if (this.closed || this.conn.destroyed) {
      spawnDetached(argv);
      return;
    }
    this.conn.write(encodeDetach(argv, env));
  }

  run(argv: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    if (options.nsFd !== undefined || options.fds !== undefined || options.inheritOutput === true) return processRunner.run(argv, options);
    const job = this.queue.then(() => this.once(argv, options));
    this.queue = job.catch(() => undefined);
    return job;
  }

  private async once(argv: readonly string[], options: RunOptions): Promise<RunResult> {
    if (this.closed || this.conn.destroyed) return processRunner.run(argv, options);
    const started = nowMs();
    // The launcher execs without a PATH search: the program by absolute path, as PATH finds it here.
    const file = argv[0]?.includes('/') === true ? argv[0] : findProgram(argv[0] ?? '');
    if (file === undefined) {
      throw new CommandError(`${argv[0] ?? ''} is not installed (not found in PATH)`, argv, null, null, '', 0, false, options.where ?? 'host');
    }
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(options.env ?? process.env)) if (v !== undefined) env[k] = v;
    let reply: ExecReply;
    try {
      reply = await new Promise<ExecReply>((resolve, reject) => {
        this.waiting = { resolve, reject };
        this.conn.write(encodeExec({ argv: [file, ...argv.slice(1)], env, stdin: options.input ?? '', timeoutMs: options.timeoutMs ?? 0 }));
      });
    } catch {
      // The launcher went away while its child ran: the child died with it, how far it got is unknown.
      return { code: null, signal: 'SIGKILL', stdout: '', stderr: '', durationMs: nowMs() - started, timedOut: false };
    }
    if (reply.kind === 'failed') {
      const why = reply.errno === 2 ? `${argv[0] ?? ''} is not installed (not found in PATH)` : `${argv[0] ?? ''}: ${reply.message}`;
      throw new CommandError(why, argv, null, null, '', nowMs() - started, false, options.where ?? 'host');
    }
    return {
      code: reply.code, signal: reply.code === null ? (SIGNALS[reply.signal] ?? `signal ${reply.signal}`) : null,
      stdout: reply.stdout, stderr: reply.stderr, durationMs: nowMs() - started, timedOut: reply.timedOut,
    };
  }
}

function daemonEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
  return env;
}

/** How a connection is served: the daemon logs a line per request; Node started for one request does not. */
interface Serving {
  log: (line: string) => void;
  /** Log one line per request (the daemon). */
  perRequest: boolean;
  /** The first trace phase's origin (0: the process's start, for Node started for one request). */
  traceStart?: number;
  /** Called once the answer is sent. */
  answered?: () => void;
}

function serveConnection(conn: Socket, inFlight: Set<Promise<void>>, serving: Serving): void {
  const { log } = serving;
  // Requests change the host's network: root only (the socket's directory keeps others out; the
  // peer's credentials are checked too where the addon can read them).
  if (!peerTrusted(conn)) {
    log(`pipework cni daemon: refused a connection from uid ${peerUid(conn) ?? '?'} (only root may send requests)`);
    conn.destroy();
    return;
  }
  let buf = Buffer.alloc(0);
  let started = false;
  const controller = new AbortController();
  const delegates = new LauncherRunner(conn);
  conn.on('close', () => {
    delegates.close();
    if (!controller.signal.aborted) controller.abort('the plugin went away');
  });
  conn.on('error', () => undefined);
  conn.on('data', (chunk: Buffer) => {
    buf = Buffer.concat([buf, chunk]);
    try {
      if (started) {
        // After the request: the outcomes of delegates the launcher ran for us.
        for (let r = decodeExecReply(buf); r !== undefined; r = decodeExecReply(buf)) {
          buf = buf.subarray(r.length);
          delegates.reply(r);
        }
        return;
      }
      const req = decodeRequest(buf);
      if (req === undefined) return;
      buf = buf.subarray(req.length);
      started = true;
      serveRequest(conn, req, req.runsDelegates ? delegates : processRunner, controller.signal, inFlight, serving);
    } catch (err) {
      log(`pipework cni daemon: ${(err as WireError).message}`);
      conn.destroy();
    }
  });
}

function serveRequest(conn: Socket, req: WireRequest, delegates: Runner, signal: AbortSignal, inFlight: Set<Promise<void>>, serving: Serving): void {
  const { log } = serving;
  const t0 = nowMs();
  const stderr: string[] = [];
  const work = handle({ env: req.env, stdin: req.stdin }, {
    signal, delegates, log: (line) => stderr.push(line),
    detach: (argv) => (delegates instanceof LauncherRunner ? delegates.detach(argv, daemonEnv()) : spawnDetached(argv)),
    trace: { enabled: req.env['PIPEWORK_CNI_TRACE'] === '1', ...(serving.traceStart !== undefined && { start: serving.traceStart }) },
  })
    .then((res) => {
      // One line per request: what, for whom, how it ended, how long it took.
      const what = [req.env['CNI_COMMAND'] ?? '?', (req.env['CNI_CONTAINERID'] ?? '').slice(0, 12), req.env['CNI_IFNAME'] ?? ''].filter((w) => w !== '').join(' ');
      const ms = (nowMs() - t0).toFixed(1);
      if (serving.perRequest) log(`pipework cni daemon: ${what}: ${res.exitCode === 0 ? 'ok' : `failed: ${stderr.find((l) => l.startsWith('pipework: ') && !l.startsWith('pipework: trace')) ?? ''}`} (${ms} ms)`);
      if (!conn.destroyed) conn.end(encodeResponse({ exitCode: res.exitCode, stdout: res.stdout, stderr: stderr.map((l) => `${l}\n`).join('') }), serving.answered);
    })
    .catch((err: unknown) => {
      log(`pipework cni daemon: internal error: ${(err as Error).stack ?? String(err)}`);
      conn.destroy();
    })
    .finally(() => {
      inFlight.delete(work);
    });
  inFlight.add(work);
}

/** Listen (or take the socket systemd hands us); resolves once it serves. */
export async function startCniDaemon(opts: DaemonOptions): Promise<{ server: Server; stop(): Promise<void> }> {
  preparePluginProcess();
  const inFlight = new Set<Promise<void>>();
  const server = createServer((conn) => serveConnection(conn, inFlight, { log: opts.log, perRequest: true }));
  const activated = process.env['LISTEN_FDS'] === '1' && process.env['LISTEN_PID'] === String(process.pid);
  let lock: { release(): void } | undefined;
  if (activated) {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ fd: 3 }, resolve);
    });
    const path = server.address();
    const problem = typeof path === 'string' && path !== '' ? privateDirProblem(dirname(path)) : undefined;
    if (problem !== undefined) {
      server.close();
      throw new PermissionError(`refusing to serve the socket systemd passed (${path as string}): ${problem}; only root may be able to write where it is`);
    }
  } else {
    // Checked here, not left to Node: 20 and 22 would bind a cut-down path, 24 fails with EINVAL.
    const tooLong = unixPathProblem(opts.socket);
    if (tooLong !== undefined) throw new InvalidArgumentError(`invalid --socket ${opts.socket}: ${tooLong}`);
    privateDir(dirname(opts.socket));
    // One daemon per socket: whoever holds its lock may remove a socket file left there.
    lock = await tryLock(`cni-daemon/${opts.socket}`, {});
    if (lock === undefined) throw new ConflictError(`another pipework cni daemon answers on ${opts.socket}; stop it first`);
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
    lock?.release();
  };
  return { server, stop };
}

/** The foreground daemon of `pipework cni daemon`. */
export async function runDaemon(socket: string): Promise<number> {
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const d = await startCniDaemon({ socket, log });
  await new Promise<void>((resolve) => {
    for (const sig of STOP_SIGNALS) process.once(sig, () => resolve());
    if (takeEarly().length > 0) resolve();
  });
  log('pipework cni daemon: stopping (waiting for requests in flight)');
  await d.stop();
  return 0;
}

/**
 * The launcher's cold path: Node started as its child for one request serves it over the socket
 * pair it inherited (fd), as the daemon serves a connection — the launcher runs the delegates, a
 * fork of a small process rather than of Node. A stop signal ends the conversation (the launcher
 * answers that the request failed; the run is undone), as does the launcher going away.
 */
export async function serveLauncher(fd: number): Promise<number> {
  preparePluginProcess();
  const inFlight = new Set<Promise<void>>();
  const conn = new Socket({ fd, readable: true, writable: true });
  const closed = new Promise<void>((resolve) => conn.once('close', () => resolve()));
  const stop = () => conn.destroy();
  for (const sig of STOP_SIGNALS) process.on(sig, stop);
  if (takeEarly().length > 0) stop();
  // Answered, this process lets go of the runtime's stderr (its stdout is that too): a runtime
  // reads the plugin's output until every holder closes it, and Node's exit (freeing its memory)
  // would otherwise keep it waiting a few milliseconds more.
  const letGo = () => {
    for (const out of [1, 2]) {
      try {
        closeSync(out);
        openSync('/dev/null', 'w');
      } catch {
        // already gone
      }
    }
  };
  serveConnection(conn, inFlight, { log: (line) => process.stderr.write(`${line}\n`), perRequest: false, traceStart: 0, answered: letGo });
  await closed;
  await Promise.allSettled([...inFlight]);
  return 0;
}
