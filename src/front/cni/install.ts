/**
 * `pipework cni install [--dir DIR]… [--socket PATH] [--no-compile]`: the plugin executable
 * `pipework` in each directory (default /opt/cni/bin, where Kubernetes and Multus look, and
 * Debian's /usr/lib/cni, where Podman and containerd look). It is the C launcher when a compiler
 * is at hand (compiled once, here, from native/cni-launcher.c with this installation's paths as
 * definitions, see launcher.ts; no binary ships), else the shell launcher. Either names Node and
 * bin/pipework by absolute path. Each file is replaced atomically (written beside it, renamed
 * over it), so a runtime never runs half of one.
 * `pipework cni uninstall` removes what install wrote (only a file carrying the launcher mark).
 */
import { chmodSync, existsSync, mkdtempSync, readFileSync, renameSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { hasProgram } from '../../exec/programs.js';
import { processRunner, type Runner } from '../../exec/runner.js';
import { InvalidArgumentError, NotFoundError } from '../../model/errors.js';
import { DEFAULT_SOCKET } from './daemon.js';
import { rootOnlyProblem, type FsView } from '../../exec/root-only.js';
import { unixPathProblem } from '../../exec/unix-socket.js';
import { makeDirs } from './state.js';
import { LAUNCHER_MARK, LAUNCHER_SOURCE, launcherCompileArgv, launcherSh, type LauncherPaths } from './launcher.js';

export const DEFAULT_DIRS = ['/opt/cni/bin', '/usr/lib/cni'];
export const PLUGIN_NAME = 'pipework';
/**
 * This installation's root (bin/pipework beside package.json), found above this module (the
 * bundle and tsc's output sit at different depths).
 */
export function packageRoot(from = dirname(fileURLToPath(import.meta.url))): string {
  let dir = from;
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'bin', 'pipework')) && existsSync(join(dir, 'package.json'))) return dir;
    dir = dirname(dir);
  }
  throw new NotFoundError(`cannot find bin/pipework above ${from}: is pipework installed whole?`);
}

/** The program the launcher starts Node on: this installation's `bin/pipework` (with CNI_COMMAND set it is the plugin). */
export function findEntry(from?: string): string {
  return join(packageRoot(from), 'bin', 'pipework');
}

/** The C launcher's source in this installation. */
export function launcherSource(from?: string): string {
  return join(packageRoot(from), LAUNCHER_SOURCE);
}

/** The C compiler install uses: the first of cc, gcc and clang found on PATH. */
export function findCompiler(): string | undefined {
  return ['cc', 'gcc', 'clang'].find((c) => hasProgram(c));
}

export interface InstallOptions {
  dirs: string[];
  socket: string;
  compile: boolean;
  runner?: Runner;
  node?: string;
  script?: string;
  /** The C launcher's source (default: this installation's native/cni-launcher.c). */
  source?: string;
}

export interface Installed {
  path: string;
  kind: 'compiled' | 'shell';
}

/** Compile the C launcher once; no binary (and why) when there is no compiler or it fails. */
async function compile(paths: LauncherPaths, source: string, runner: Runner): Promise<{ binary?: string; why?: string; dir?: string }> {
  const cc = findCompiler();
  if (cc === undefined) return { why: 'no C compiler (cc) found' };
  if (!existsSync(source)) return { why: `the launcher's source ${source} is missing (is pipework installed whole?)` };
  const dir = mkdtempSync(join(tmpdir(), 'pipework-cni-'));
  const out = join(dir, PLUGIN_NAME);
  const res = await runner.run(launcherCompileArgv(cc, source, out, paths), { timeoutMs: 60_000 });
  if (res.code !== 0) {
    const lines = res.stderr.trim().split('\n');
    return { why: `${cc} failed on ${source}: ${lines.find((l) => l.includes('error')) ?? lines[0] ?? ''}`, dir };
  }
  return { binary: out, dir };
}

function place(dir: string, content: Buffer): string {
  makeDirs(dir, 0o755);
  const target = join(dir, PLUGIN_NAME);
  if (existsSync(target) && !isOurs(target)) {
    throw new InvalidArgumentError(`${target} exists and is not pipework's CNI launcher; not replacing it (remove it first)`);
  }
  const tmp = join(dir, `.${PLUGIN_NAME}.${process.pid}.tmp`);
  writeFileSync(tmp, content, { mode: 0o755 });
  chmodSync(tmp, 0o755);
  renameSync(tmp, target);
  return target;
}

/** Does this file carry the launcher's mark (source text, or a string in the compiled binary)? */
export function isOurs(path: string): boolean {
  try {
    return readFileSync(path).includes(LAUNCHER_MARK);
  } catch {
    return false;
  }
}

/**
 * Why the daemon's socket may not be at `socket`, or undefined: its directory (and every one on
 * the way) must be such that no user but root can put a socket of their own there, or move ours.
 */
export function socketPathProblem(socket: string, fs?: FsView): string | undefined {
  // The launcher could never reach a daemon there (it goes to Node on every request), and the
  // daemon refuses to listen there.
  const tooLong = unixPathProblem(socket);
  if (tooLong !== undefined) return `refusing --socket ${socket}: ${tooLong}`;
  const problem = rootOnlyProblem(dirname(socket), fs);
  return problem === undefined
    ? undefined
    : `refusing --socket ${socket}: ${problem}, so a user other than root could put their own socket there; choose a directory only root can write (the default is ${DEFAULT_SOCKET})`;
}

export async function install(o: InstallOptions, log: (line: string) => void): Promise<Installed[]> {
  const socketProblem = socketPathProblem(o.socket);
  if (socketProblem !== undefined) throw new InvalidArgumentError(socketProblem);
  const paths: LauncherPaths = { node: o.node ?? process.execPath, script: o.script ?? findEntry(), socket: o.socket };
  const compiled: Awaited<ReturnType<typeof compile>> = o.compile ? await compile(paths, o.source ?? launcherSource(), o.runner ?? processRunner) : { why: '--no-compile' };
  try {
    const content = compiled.binary !== undefined ? readFileSync(compiled.binary) : Buffer.from(launcherSh(paths));
    const kind = compiled.binary !== undefined ? 'compiled' : 'shell';
    if (kind === 'shell') log(`pipework: installing the shell launcher (${compiled.why ?? ''}): VERSION stays fast, but requests cannot go to a resident daemon`);
    return o.dirs.map((d) => ({ path: place(d, content), kind }));
  } finally {
    if (compiled.dir !== undefined) rmSync(compiled.dir, { recursive: true, force: true });
  }
}

export function uninstall(dirs: string[]): string[] {
  const removed: string[] = [];
  for (const d of dirs) {
    const target = join(d, PLUGIN_NAME);
    if (!existsSync(target)) continue;
    if (!isOurs(target)) throw new InvalidArgumentError(`${target} is not pipework's CNI launcher; not removing it`);
    unlinkSync(target);
    removed.push(target);
  }
  return removed;
}

export { DEFAULT_SOCKET };
