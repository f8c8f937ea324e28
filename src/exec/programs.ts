import { existsSync } from 'node:fs';

const found = new Map<string, boolean>();

/**
 * Is `name` installed (an executable of that name in PATH)? No process is started to ask, and
 * each answer is kept for the run: a batch asks once per line.
 */
export function hasProgram(name: string, path = process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin'): boolean {
  const key = `${name}\0${path}`;
  let yes = found.get(key);
  if (yes === undefined) {
    yes = path.split(':').some((dir) => dir !== '' && existsSync(`${dir}/${name}`));
    found.set(key, yes);
  }
  return yes;
}
