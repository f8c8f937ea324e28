// The C launcher built as `pipework cni install` builds it (its compiler, flags and definitions,
// plus -Werror), and run with exactly the environment a test gives it: shared by the launcher's
// unit tests (compiling, VERSION, the cold path) and integration tests (the wire protocol).
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { findCompiler, launcherSource } from '../../src/front/cni/install.js';
import { launcherCompileArgv, type LauncherPaths } from '../../src/front/cni/launcher.js';

/** Why the launcher's tests cannot run here, or undefined. */
export const NO_COMPILER = findCompiler() === undefined ? 'no C compiler on PATH (cc, gcc or clang; scripts/setup.sh installs build-essential)' : undefined;

/** The C compilers on PATH, one per real program (cc is often gcc), the one install uses first. */
export function compilers(): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  const dirs = (process.env['PATH'] ?? '/usr/bin:/bin').split(':').filter((d) => d !== '');
  for (const cc of ['cc', 'gcc', 'clang']) {
    const at = dirs.map((d) => join(d, cc)).find((p) => existsSync(p));
    if (at === undefined) continue;
    const real = realpathSync(at);
    if (seen.has(real)) continue;
    seen.add(real);
    out.push(cc);
  }
  const first = findCompiler();
  return first === undefined ? out : [first, ...out.filter((c) => c !== first)];
}

/**
 * A second build for the wire tests: AddressSanitizer and UBSan stop the launcher with exit code
 * SANITIZER_EXIT at the first bad read or write a malformed frame could cause (leaks are not
 * looked for: the launcher exits after one request).
 */
export const SANITIZE = ['-fsanitize=address,undefined', '-fno-sanitize-recover=all', '-fno-omit-frame-pointer', '-g'];
export const SANITIZER_EXIT = 86;
export const SANITIZER_ENV = { ASAN_OPTIONS: `detect_leaks=0:exitcode=${SANITIZER_EXIT}`, UBSAN_OPTIONS: `print_stacktrace=1:exitcode=${SANITIZER_EXIT}` };

export interface Built {
  cc: string;
  argv: string[];
  /** The compiler's exit status (0: `output` is the launcher). */
  code: number | null;
  stderr: string;
  output: string;
}

/** Compile native/cni-launcher.c with install's flags and definitions, warnings as errors, and `extra`. */
export function buildLauncher(cc: string, output: string, paths: LauncherPaths, extra: readonly string[] = []): Built {
  const argv = [...launcherCompileArgv(cc, launcherSource(), output, paths, { werror: true }), ...extra];
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: 120_000, env: { ...process.env, LC_ALL: 'C' } });
  return { cc, argv, code: r.status, stderr: `${r.stderr ?? ''}${r.error === undefined ? '' : String(r.error)}`, output };
}

export interface Ran {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: string;
  pid: number;
  /** Killed by the test's time limit. */
  timedOut: boolean;
}

export interface RunOptions {
  input?: string | Buffer;
  timeoutMs?: number;
  /** Called once it runs (to kill it mid-request). */
  started?: (pid: number) => void;
}

/** Run the launcher with exactly `env` (nothing of ours added) and `input` on stdin; bounded. */
export function runLauncher(binary: string, env: Record<string, string>, o: RunOptions = {}): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, [], { env, stdio: ['pipe', 'pipe', 'pipe'], cwd: '/' });
    const out: Buffer[] = [];
    let err = '';
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, o.timeoutMs ?? 15_000);
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => {
      err += b.toString('utf8');
    });
    // It may exit without reading all of stdin (VERSION with a tty, a refused frame).
    child.stdin.on('error', () => undefined);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('spawn', () => o.started?.(child.pid!));
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout: Buffer.concat(out), stderr: err, pid: child.pid ?? 0, timedOut });
    });
    child.stdin.end(o.input ?? '');
  });
}

/**
 * A stand-in for Node on the launcher's cold path, written as `node` (a shell script) and
 * `node.mjs` beside it: started as the launcher's child with the request on fd 3, it records its
 * argv, environment, stdin and the request under $TCL_COLD when that is set, and answers R with
 * exit status 7, `{"tcl":"cold"}` on stdout and what it saw (`tcl-seen {…}`) on stderr — or, with
 * TCL_FAIL set, ends without answering.
 */
export function writeColdNode(node: string, script: string): void {
  writeFileSync(node, `#!/bin/sh\nexec '${process.execPath}' '${script}' "$0" "$@"\n`);
  chmodSync(node, 0o755);
  writeFileSync(script, `
import { readFileSync, writeFileSync } from 'node:fs';
import { Socket } from 'node:net';
import { decodeRequest, encodeResponse } from '${new URL('../../src/front/cni/wire.js', import.meta.url).href}';
const cold = process.env.TCL_COLD;
const stdin = readFileSync(0, 'utf8');
const record = (f, text) => { if (cold !== undefined) writeFileSync(cold + '/' + f, text); };
record('argv', process.argv.slice(2).map((a) => a + '\\0').join(''));
record('env', Object.entries(process.env).map(([k, v]) => k + '=' + v + '\\0').join(''));
record('stdin', stdin);
if (process.env.TCL_FAIL !== undefined) process.exit(3);
const s = new Socket({ fd: 3 });
let buf = Buffer.alloc(0);
s.on('data', (b) => {
  buf = Buffer.concat([buf, b]);
  const r = decodeRequest(buf);
  if (r === undefined) return;
  record('request', JSON.stringify({ env: r.env, stdin: r.stdin, delegates: r.runsDelegates }));
  const seen = { fd: process.env.PIPEWORK_CNI_FD, stdin, ca: process.env.NODE_EXTRA_CA_CERTS ?? null, input: r.stdin, delegates: r.runsDelegates, runtimeCa: r.env.NODE_EXTRA_CA_CERTS ?? null };
  s.end(encodeResponse({ exitCode: 7, stdout: '{"tcl":"cold"}\\n', stderr: 'tcl-seen ' + JSON.stringify(seen) + '\\n' }));
});
`);
}
