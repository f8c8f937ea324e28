// The classic pipework script, for side-by-side comparisons. It is not shipped with this
// project: PIPEWORK_CLASSIC names a copy of it; without one, the comparisons are skipped.
import { existsSync, lstatSync, rmSync } from 'node:fs';
import { sh, type RunResult } from './run.js';

const CLASSIC = process.env['PIPEWORK_CLASSIC'];

/** The skip reason for a comparison, or false when the classic script is there. */
export const classicSkip: string | false = CLASSIC === undefined || !existsSync(CLASSIC)
  ? 'PIPEWORK_CLASSIC is not set to the classic pipework script (it is not shipped here); nothing to compare against'
  : false;

/** Run the classic script; it leaves /var/run/netns/<pid> behind when it stops on an error, so remove that. */
export async function runClassic(args: readonly string[], pid: number): Promise<RunResult> {
  if (CLASSIC === undefined) throw new Error('PIPEWORK_CLASSIC is not set');
  const result = await sh(['sh', CLASSIC, ...args], { timeoutMs: 30_000 });
  const leftover = `/var/run/netns/${pid}`;
  if (existsSync(leftover) || lstatSync(leftover, { throwIfNoEntry: false })?.isSymbolicLink()) rmSync(leftover, { force: true });
  return result;
}
