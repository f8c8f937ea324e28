/**
 * Directories where only root can create, rename or remove entries: where pipework keeps its
 * locks and control sockets. A local user who could plant a file, a socket or a symbolic link
 * there could block every run or answer in pipework's place, so the whole path is checked
 * (root-only.ts) before the directory is used, and again once it is made.
 */
import { mkdirSync } from 'node:fs';
import { PermissionError } from '../model/errors.js';
import { rootOnlyProblem } from './root-only.js';

/** Why `dir` is not private, or undefined (also when it does not exist yet and root would make it). */
export function privateDirProblem(dir: string): string | undefined {
  return rootOnlyProblem(dir);
}

/**
 * Where pipework keeps what only root may change (locks, records of the interfaces it made):
 * /run/pipework, or PIPEWORK_RUN_DIR (tests that run without root, or beside a real run).
 */
export function runDir(): string {
  return process.env['PIPEWORK_RUN_DIR'] ?? '/run/pipework';
}

const made = new Set<string>();

function refuse(dir: string, problem: string): never {
  throw new PermissionError(`refusing to keep pipework's locks and sockets under ${dir}: ${problem}; only root may be able to write there`);
}

/** Make `dir` (and what is missing above it) with `mode`, checked the whole way. */
export function privateDir(dir: string, mode = 0o700): string {
  if (made.has(dir)) return dir;
  const before = rootOnlyProblem(dir);
  if (before !== undefined) refuse(dir, before);
  mkdirSync(dir, { recursive: true, mode });
  const after = rootOnlyProblem(dir);
  if (after !== undefined) refuse(dir, after);
  made.add(dir);
  return dir;
}
