// Running programs from integration tests: always an argument vector (never a shell), always
// bounded by a timeout. `runPipework` runs the built CLI through <repo>/bin/pipework.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Absolute path of the repository root (the directory holding package.json and bin/pipework). */
export const repoRoot: string = findRepoRoot(dirname(fileURLToPath(import.meta.url)));

/**
 * Absolute path of the CLI entry point; PIPEWORK_BIN runs the tests against another build (to show
 * that a test fails on the code before a fix).
 */
export const pipeworkBin: string = process.env['PIPEWORK_BIN'] ?? join(repoRoot, 'bin', 'pipework');

function findRepoRoot(start: string): string {
  // Compiled: <repo>/build/test/integration/helpers; source: <repo>/test/integration/helpers.
  let dir = start;
  for (let i = 0; i < 8; i++) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'bin', 'pipework'))) return dir;
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  throw new Error(`cannot find the repository root above ${start}`);
}

export interface RunResult {
  /** Exit status; 124 when killed by the timeout, 128+n when killed by signal n. */
  code: number;
  stdout: string;
  stderr: string;
  /** True when the timeout killed the process. */
  timedOut: boolean;
}

export interface RunOptions {
  /** Kill the process (and its process group) after this many ms. Default 30 000. */
  timeoutMs?: number;
  /** Extra environment variables, merged over process.env. */
  env?: Record<string, string | undefined>;
  /** Text written to stdin (stdin is closed either way). */
  input?: string;
  cwd?: string;
}

const DEFAULT_TIMEOUT_MS = 30_000;
const GRACE_MS = 1_000;

const SIGNALS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGSEGV: 11, SIGPIPE: 13, SIGTERM: 15 };

/** Run argv[0] with argv[1..]; never throws for a non-zero exit (it throws if argv is empty). */
export function sh(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const [cmd, ...args] = argv;
  if (cmd === undefined) return Promise.reject(new Error('sh: empty argv'));
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  return new Promise<RunResult>((resolve) => {
    const child = spawn(cmd, args, {
      cwd: opts.cwd ?? repoRoot,
      env: { ...process.env, ...opts.env },
      stdio: ['pipe', 'pipe', 'pipe'],
      // Own process group, so a timeout also kills what the program started.
      detached: true,
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    let settled = false;
    const finish = (r: RunResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(r);
    };
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    }, timeoutMs);
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.stdin.on('error', () => undefined); // EPIPE when the program does not read stdin
    child.on('error', (e: Error) => {
      finish({ code: 127, stdout: '', stderr: `${cmd}: ${e.message}`, timedOut: false });
    });
    const done = (code: number | null, signal: NodeJS.Signals | null): void => {
      let stderr = Buffer.concat(err).toString('utf8');
      let status = code ?? 128 + (signal !== null ? (SIGNALS[signal] ?? 0) : 0);
      if (timedOut) {
        status = 124;
        stderr += `\n[killed after ${timeoutMs} ms timeout: ${argv.join(' ')}]`;
      }
      finish({ code: status, stdout: Buffer.concat(out).toString('utf8'), stderr, timedOut });
    };
    child.on('close', done);
    // A background process the program left behind (a DHCP client, say) may hold the pipes
    // open: once the program itself exits, wait at most GRACE_MS more for its output.
    child.on('exit', (code: number | null, signal: NodeJS.Signals | null) => {
      setTimeout(() => {
        if (settled) return;
        child.stdout.destroy();
        child.stderr.destroy();
        done(code, signal);
      }, GRACE_MS);
    });
    child.stdin.end(opts.input ?? '');
  });
}

/** Error thrown by shOk: carries the full result. */
export class CommandError extends Error {
  constructor(
    readonly argv: readonly string[],
    readonly result: RunResult,
  ) {
    super(`command failed (exit ${result.code}): ${argv.join(' ')}\n${result.stderr.trim()}`);
    this.name = 'CommandError';
  }
}

/** Run and return stdout; throws CommandError (with stderr in the message) on non-zero exit. */
export async function shOk(argv: readonly string[], opts: RunOptions = {}): Promise<string> {
  const r = await sh(argv, opts);
  if (r.code !== 0) throw new CommandError(argv, r);
  return r.stdout;
}

/** Run `<repo>/bin/pipework ...args` (through node, so the execute bit does not matter). */
export function runPipework(args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return sh([process.execPath, pipeworkBin, ...args], { timeoutMs: 60_000, ...opts });
}

/** Sleep for ms milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * Poll `check` every `intervalMs` until it returns a value other than undefined/false, or throw
 * after `timeoutMs` with `what` in the message.
 */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 10_000,
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v;
    } catch (e) {
      lastErr = e;
    }
    if (Date.now() >= deadline) {
      const why = lastErr instanceof Error ? `: ${lastErr.message}` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${why}`);
    }
    await sleep(intervalMs);
  }
}
