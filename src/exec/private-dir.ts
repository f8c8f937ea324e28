/**
 * Directories where only we (root) can create, rename or remove entries: where pipework keeps its
 * locks and control sockets. A local user who could plant a file, a socket or a symbolic link
 * there could block every run or answer in pipework's place, so each path is checked, from `/`
 * down, before it is used: every component a real directory (no symbolic link), owned by us or
 * root, and writable by nobody else — except a root-owned sticky directory such as /tmp, where
 * others cannot touch what we own.
 */
import { lstatSync, mkdirSync, type Stats } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { PermissionError } from '../model/errors.js';

/** What is wrong with one directory on the way, or undefined. `last`: the directory itself. */
export function dirProblem(st: Pick<Stats, 'uid' | 'mode'> & { isDirectory(): boolean; isSymbolicLink(): boolean }, uid: number, last: boolean): string | undefined {
  if (st.isSymbolicLink()) return 'is a symbolic link';
  if (!st.isDirectory()) return 'is not a directory';
  if (st.uid !== 0 && st.uid !== uid) return `is owned by uid ${st.uid}`;
  const othersWrite = (st.mode & 0o022) !== 0;
  const sticky = (st.mode & 0o1000) !== 0;
  if (othersWrite && (last || !sticky || st.uid !== 0)) return `is writable by ${(st.mode & 0o002) !== 0 ? 'every user' : 'its group'}`;
  return undefined;
}

/** Every directory from `/` down to `dir`. */
function chain(dir: string): string[] {
  const out: string[] = [];
  for (let d = resolve(dir); ; d = dirname(d)) {
    out.unshift(d);
    if (d === '/') return out;
  }
}

function uid(): number {
  return process.geteuid?.() ?? 0;
}

/** Why `dir` is not private (undefined when it is, or when it does not exist yet and `missingOk`). */
export function privateDirProblem(dir: string, missingOk = false): string | undefined {
  const dirs = chain(dir);
  for (const [i, d] of dirs.entries()) {
    let st;
    try {
      st = lstatSync(d);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' && missingOk) return undefined;
      return `${d} cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`;
    }
    const problem = dirProblem(st, uid(), i === dirs.length - 1);
    if (problem !== undefined) return `${d} ${problem}`;
  }
  return undefined;
}

const made = new Set<string>();

/**
 * Make `dir` (and what is missing above it) with `mode`, and check the whole way: a path a
 * local user controls is refused with one line naming it.
 */
export function privateDir(dir: string, mode = 0o700): string {
  if (made.has(dir)) return dir;
  const before = privateDirProblem(dir, true);
  if (before !== undefined) throw new PermissionError(`refusing to keep pipework's locks and sockets under ${dir}: ${before}; only root may be able to write there`);
  mkdirSync(dir, { recursive: true, mode });
  const after = privateDirProblem(dir);
  if (after !== undefined) throw new PermissionError(`refusing to keep pipework's locks and sockets under ${dir}: ${after}; only root may be able to write there`);
  made.add(dir);
  return dir;
}
