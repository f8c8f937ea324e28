/**
 * Starting a long-lived program (a DHCP client, pipework's own DHCP supervisor): an argument
 * array, never a shell; its own session and process group, so that what it forks can be found
 * and stopped; its output into a file (a pipe would keep us waiting on a daemon that inherits it).
 */
import { spawn } from 'node:child_process';

export interface ClientProcess {
  /** The PID of the program we started (a daemon forks another one and this one exits). */
  readonly pid: number;
  /** Resolves when that process exits. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface ClientOptions {
  /** stdout and stderr go to this open file descriptor (default: discarded). */
  logFd?: number;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

/** Start `argv` in a new session (setsid): its process group is its own PID. */
export function startClient(argv: readonly string[], options: ClientOptions = {}): ClientProcess {
  const [file, ...rest] = argv;
  if (file === undefined) throw new Error('empty argv');
  const out = options.logFd ?? 'ignore';
  const child = spawn(file, rest, {
    stdio: ['ignore', out, out],
    detached: true,
    env: options.env ?? process.env,
    cwd: options.cwd ?? '/',
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.on('error', (err: NodeJS.ErrnoException) => {
      reject(new Error(err.code === 'ENOENT' ? `${file} is not installed (not found in PATH)` : err.message));
    });
    child.on('exit', (code, signal) => resolve({ code, signal }));
  });
  if (child.pid === undefined) {
    // spawn failed synchronously (ENOENT arrives as an 'error' event); surface it through `exited`.
    return { pid: -1, exited };
  }
  return { pid: child.pid, exited };
}

/** Start `argv` fully detached and forget it (pipework's DHCP supervisor outlives the CLI). */
export function launchDetached(argv: readonly string[], options: ClientOptions = {}): number | undefined {
  const [file, ...rest] = argv;
  if (file === undefined) throw new Error('empty argv');
  const out = options.logFd ?? 'ignore';
  const child = spawn(file, rest, { stdio: ['ignore', out, out], detached: true, env: options.env ?? process.env, cwd: options.cwd ?? '/' });
  child.on('error', () => undefined);
  child.unref();
  return child.pid;
}
