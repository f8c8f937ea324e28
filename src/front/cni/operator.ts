/**
 * What the node's operator allows the CNI plugin besides its defaults, in a file only root can
 * write: `/etc/pipework/cni.json`, `{"dataDirs": ["/srv/pipework-cni"]}` — the directories a
 * network configuration may name as its `dataDir` (the default, /var/lib/cni/pipework, always
 * may). A configuration's author cannot write there; a file a user other than root could have
 * written (or could replace, through a directory on its way) is not read at all. Read only when a
 * configuration names another directory, so the common request costs nothing.
 */
import { readFileSync } from 'node:fs';
import type { OperatorDataDirs } from './config.js';
import { rootOnlyProblem, realFs, type FsView } from '../../exec/root-only.js';

export const OPERATOR_FILE = '/etc/pipework/cni.json';

/** Why `dir` cannot be an allowed records' directory, or undefined. */
function dirProblem(dir: unknown): string | undefined {
  if (typeof dir !== 'string' || !dir.startsWith('/')) return `${JSON.stringify(dir)} is not an absolute path`;
  if (dir === '/') return '/ cannot hold records';
  if (dir.endsWith('/') || dir.split('/').slice(1).some((c) => c === '' || c === '.' || c === '..')) return `${dir} is not written plainly (no '.', '..', '//' or trailing '/')`;
  return undefined;
}

/** The file's text → the allowed directories, or why it is not usable (nothing allowed then). Pure. */
export function parseOperatorFile(text: string, source = OPERATOR_FILE): OperatorDataDirs {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    return { dataDirs: [], source, problem: `not JSON: ${(err as Error).message}` };
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return { dataDirs: [], source, problem: 'not a JSON object' };
  const unknown = Object.keys(raw).filter((k) => k !== 'dataDirs');
  if (unknown.length > 0) return { dataDirs: [], source, problem: `unknown key ${unknown[0]!} (the key is "dataDirs")` };
  const dirs = (raw as { dataDirs?: unknown }).dataDirs ?? [];
  if (!Array.isArray(dirs)) return { dataDirs: [], source, problem: '"dataDirs" is not a list of directories' };
  for (const d of dirs) {
    const problem = dirProblem(d);
    if (problem !== undefined) return { dataDirs: [], source, problem: `in "dataDirs": ${problem}` };
  }
  return { dataDirs: dirs as string[], source };
}

/** The operator's file, if there is one that only root can have written. */
export function loadOperatorFile(file = OPERATOR_FILE, fs: FsView = realFs, read: (f: string) => string = (f) => readFileSync(f, 'utf8')): OperatorDataDirs {
  if (fs.lstat(file) === undefined) return { dataDirs: [], source: file };
  const problem = rootOnlyProblem(file, fs);
  if (problem !== undefined) return { dataDirs: [], source: file, problem: `only a file no user but root can write is read, and ${problem}` };
  let text: string;
  try {
    text = read(file);
  } catch (err) {
    return { dataDirs: [], source: file, problem: (err as Error).message };
  }
  return parseOperatorFile(text, file);
}
