/**
 * Is a path somewhere only root can change? Where root keeps records or listens on a socket, a
 * user who can add, rename or replace an entry on the way could point root at a file of theirs
 * (a symbolic link, a directory moved aside) or take the name first. The path is walked as the
 * kernel looks it up, one component at a time, following symbolic links, and every directory a
 * lookup happens in must be owned by root and writable by no one else — or be sticky (as /tmp
 * is), where others cannot touch root's entries, and the entry looked up is root's. The last
 * directory (or, when the path is yet to be made, the one root will make it in) must be owned
 * by root and writable by no one else, sticky or not. Pure, given a view of the filesystem.
 */
import { lstatSync, readlinkSync } from 'node:fs';
import { posix } from 'node:path';

export interface Entry {
  uid: number;
  /** st_mode: type and permission bits. */
  mode: number;
  isDirectory: boolean;
  isSymbolicLink: boolean;
}

/** The filesystem as the walk sees it (tests give a fake one). */
export interface FsView {
  /** lstat: undefined when nothing is there. */
  lstat(path: string): Entry | undefined;
  readlink(path: string): string;
}

export const realFs: FsView = {
  lstat(path) {
    try {
      const s = lstatSync(path);
      return { uid: s.uid, mode: s.mode, isDirectory: s.isDirectory(), isSymbolicLink: s.isSymbolicLink() };
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
      throw err;
    }
  },
  readlink: (path) => readlinkSync(path),
};

const STICKY = 0o1000;
const MAX_LINKS = 40;

function octal(mode: number): string {
  return (mode & 0o7777).toString(8).padStart(4, '0');
}

/** Who besides its owner may write `e`: undefined when no one. */
function writers(e: Entry): string | undefined {
  const g = (e.mode & 0o020) !== 0;
  const o = (e.mode & 0o002) !== 0;
  return g && o ? 'its group and others' : g ? 'its group' : o ? 'others' : undefined;
}

/** Root, and ourselves (tests that run without root keep their locks in a directory of theirs). */
function trusted(uid: number): boolean {
  return uid === 0 || uid === (process.geteuid?.() ?? 0);
}

/** Owned by root and writable by no one else: where root may create entries. */
function strictProblem(path: string, e: Entry): string | undefined {
  if (!trusted(e.uid)) return `${path} is owned by uid ${e.uid}, not root`;
  const w = writers(e);
  return w !== undefined ? `${path} is writable by ${w} (mode ${octal(e.mode)})` : undefined;
}

/**
 * Why a user other than root could change what `path` leads to, or undefined when only root
 * can. `path` is absolute; it may be missing (from some component on), then root makes the rest.
 */
export function rootOnlyProblem(path: string, fs: FsView = realFs): string | undefined {
  if (!path.startsWith('/')) return `${path} is not an absolute path`;
  const todo = path.split('/').filter((c) => c !== '' && c !== '.');
  let dir = '/';
  let dirEntry = fs.lstat('/');
  let links = 0;
  for (;;) {
    if (dirEntry === undefined) return `${dir} does not exist`;
    const name = todo.shift();
    // The end (a directory, or a file root reads): root's, writable by no one else.
    if (name === undefined) return strictProblem(dir, dirEntry);
    if (!dirEntry.isDirectory) return `${dir} is not a directory`;
    if (name === '..') {
      // `dir` has no symbolic link in it: its parent is its parent.
      dir = posix.dirname(dir);
      dirEntry = fs.lstat(dir);
      continue;
    }
    const next = posix.join(dir, name);
    const entry = fs.lstat(next);
    if (!trusted(dirEntry.uid)) return `${dir} is owned by uid ${dirEntry.uid}, not root`;
    if (entry === undefined) {
      // Root makes the rest here: no one else may make it first.
      return strictProblem(dir, dirEntry);
    }
    const w = writers(dirEntry);
    if (w !== undefined && !((dirEntry.mode & STICKY) !== 0 && trusted(entry.uid))) {
      return `${dir} is writable by ${w} (mode ${octal(dirEntry.mode)})`;
    }
    if (entry.isSymbolicLink) {
      if (++links > MAX_LINKS) return `${path} has too many levels of symbolic links`;
      const target = fs.readlink(next);
      todo.unshift(...target.split('/').filter((c) => c !== '' && c !== '.'));
      if (target.startsWith('/')) {
        dir = '/';
        dirEntry = fs.lstat('/');
      }
      continue;
    }
    dir = next;
    dirEntry = entry;
  }
}
