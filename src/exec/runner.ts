/**
 * The only place that starts programs. Always an argument array, never a shell.
 * A guest's network namespace travels as an inherited file descriptor (fd 3 in the
 * child), so the child enters exactly the namespace we hold, never one found again by name.
 */
import { spawn } from 'node:child_process';
import { openSync } from 'node:fs';
import { CommandError } from '../model/errors.js';
import { nowMs } from '../model/clock.js';

/** The fd number a held namespace has inside a child. */
export const CHILD_NS_FD = 3;
/** How a child names the guest namespace it inherited. */
export const NS_PATH_IN_CHILD = `/proc/self/fd/${CHILD_NS_FD}`;
/**
 * How a child names the host's namespace (ours), inherited as fd 4 beside the guest's: a
 * command run inside the guest uses it to give a device back to the host.
 */
export const HOST_NS_PATH_IN_CHILD = `/proc/self/fd/${CHILD_NS_FD + 1}`;

let hostNsFd: number | undefined;
/** Our own (the host's) network namespace, opened once. */
export function ownNetnsFd(): number {
  hostNsFd ??= openSync('/proc/self/ns/net', 'r');
  return hostNsFd;
}

export interface RunOptions {
  /** Written to the child's stdin, which is then closed. */
  input?: string;
  /** A namespace fd to hand to the child as fd 3 (with the host's as fd 4). */
  nsFd?: number;
  /** Instead of nsFd: several namespace fds, handed down as fds 3, 4, 5, … (a batch of guests). */
  fds?: number[];
  /** Kill the child after this long (ms). */
  timeoutMs?: number;
  /** Where it ran, for error messages (e.g. "host", "guest c1"). */
  where?: string;
  /** Let stdout/stderr go straight to ours (route/rule/tc passthrough). */
  inheritOutput?: boolean;
  /**
   * Stop it when this is aborted (a DHCP lease wait in an interrupted run): SIGTERM to its process
   * group, then SIGKILL. Without it a child runs to its end, whatever happens to us meanwhile.
   */
  signal?: AbortSignal;
  /** Stay in our process group (route/rule/tc passthrough: a Ctrl-C is meant for it too). */
  foreground?: boolean;
  /** The child's environment (default: ours, with LC_ALL=C). */
  env?: NodeJS.ProcessEnv;
}

export interface RunResult {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  durationMs: number;
  timedOut: boolean;
}

export interface Runner {
  run(argv: readonly string[], options?: RunOptions): Promise<RunResult>;
}

/** Counts spawns, for the benchmark's processes-per-attach column. */
export let spawnCount = 0;

/** The programs running now that a run waits for: each one's group, and how to end it. */
const running = new Map<number, { end: () => void; closed: Promise<void> }>();

/**
 * A run given up at once (a second signal) ends every program it still waits for, whole groups,
 * and waits for them (at most `waitMs`): they run in groups of their own (see run), so nothing
 * else would stop an `ip -batch` that goes on changing the host after pipework has left, racing
 * the next run that cleans up.
 */
export async function endChildren(waitMs = 2000): Promise<void> {
  const all = [...running.values()];
  for (const c of all) c.end();
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    Promise.all(all.map((c) => c.closed)),
    new Promise<void>((resolve) => { timer = setTimeout(resolve, waitMs); }),
  ]);
  clearTimeout(timer);
}

/** How a child names the k-th of several namespaces handed down with `fds`. */
export function nsPathOfFd(k: number): string {
  return `/proc/self/fd/${CHILD_NS_FD + k}`;
}

export const processRunner: Runner = {
  run(argv, options = {}) {
    const [file, ...rest] = argv;
    if (file === undefined) throw new Error('empty argv');
    const started = nowMs();
    spawnCount++;
    return new Promise((resolve, reject) => {
      const stdio: ('pipe' | 'inherit' | 'ignore' | number)[] = [
        options.input !== undefined ? 'pipe' : 'ignore',
        options.inheritOutput ? 'inherit' : 'pipe',
        options.inheritOutput ? 'inherit' : 'pipe',
      ];
      if (options.fds !== undefined) stdio.push(...options.fds);
      else if (options.nsFd !== undefined) stdio.push(options.nsFd, ownNetnsFd());
      // Its own process group: a signal meant for our group (a terminal's Ctrl-C, `timeout`,
      // systemd) must not kill an `ip -batch` half-way; we decide, then undo what it did.
      const child = spawn(file, rest, { stdio, env: options.env ?? { ...process.env, LC_ALL: 'C' }, detached: options.foreground !== true });
      let stdout = '';
      let stderr = '';
      let timedOut = false;
      const killGroup = (sig: NodeJS.Signals) => {
        try {
          if (child.pid !== undefined && options.foreground !== true) process.kill(-child.pid, sig);
          else child.kill(sig);
        } catch {
          // already gone
        }
      };
      const timer = options.timeoutMs === undefined ? undefined : setTimeout(() => {
        timedOut = true;
        killGroup('SIGKILL');
      }, options.timeoutMs);
      let hardKill: NodeJS.Timeout | undefined;
      const onAbort = () => {
        killGroup('SIGTERM');
        hardKill = setTimeout(() => killGroup('SIGKILL'), 3000);
      };
      const pid = child.pid;
      if (pid !== undefined) {
        running.set(pid, { end: () => killGroup('SIGKILL'), closed: new Promise((r) => child.once('close', () => r())) });
        child.once('close', () => running.delete(pid));
        child.once('error', () => running.delete(pid));
      }
      if (options.signal?.aborted === true) queueMicrotask(onAbort);
      else options.signal?.addEventListener('abort', onAbort, { once: true });
      const done = () => {
        if (timer) clearTimeout(timer);
        if (hardKill) clearTimeout(hardKill);
        options.signal?.removeEventListener('abort', onAbort);
      };
      child.stdout?.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
      child.stderr?.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
      child.on('error', (err: NodeJS.ErrnoException) => {
        done();
        const why = err.code === 'ENOENT' ? `${file} is not installed (not found in PATH)` : err.message;
        reject(new CommandError(why, argv, null, null, '', nowMs() - started, false, options.where ?? 'host'));
      });
      child.on('close', (code, signal) => {
        done();
        resolve({ code, signal, stdout, stderr, durationMs: nowMs() - started, timedOut });
      });
      if (options.input !== undefined) {
        // A child that exits before reading all of it (refused, killed) closes the pipe: its exit
        // status tells what happened, not an EPIPE of ours.
        child.stdin?.on('error', () => undefined);
        child.stdin?.end(options.input);
      }
    });
  },
};

/** Run and throw a CommandError unless it exits 0. */
export async function runOk(runner: Runner, argv: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const result = await runner.run(argv, options);
  if (result.code !== 0) {
    const detail = firstLine(result.stderr) || (result.timedOut ? `timed out after ${options.timeoutMs} ms` : `exit ${result.code ?? result.signal}`);
    throw new CommandError(
      `${argv.join(' ')} failed${options.where ? ` in ${options.where}` : ''}: ${detail}`,
      argv, result.code, result.signal, result.stderr, result.durationMs, result.timedOut, options.where ?? 'host',
    );
  }
  return result;
}

export function firstLine(text: string): string {
  return text.split('\n').map((l) => l.trim()).find((l) => l !== '') ?? '';
}

/**
 * Start a program and do not wait for it (arping -c 1, which outlives us briefly). With
 * `fds`, several namespaces are handed down as fds 3, 4, … and `input` is written to it.
 */
export function spawnDetached(argv: readonly string[], nsFd?: number, more?: { input: string; fds: number[] }): void {
  const [file, ...rest] = argv;
  if (file === undefined) throw new Error('empty argv');
  spawnCount++;
  const stdio: ('ignore' | 'pipe' | number)[] = [more ? 'pipe' : 'ignore', 'ignore', 'ignore'];
  if (more) stdio.push(...more.fds);
  else if (nsFd !== undefined) stdio.push(nsFd, ownNetnsFd());
  const child = spawn(file, rest, { stdio, detached: true });
  child.on('error', () => undefined);
  if (more) {
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(more.input);
  }
  child.unref();
}
