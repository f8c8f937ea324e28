import { existsSync } from 'node:fs';

/**
 * Is `name` installed (an executable of that name in PATH)? No process is started to ask. A run
 * passes its own cache (RunContext): a batch asks once per line, and a long-lived process (the
 * watcher) sees a program installed since its last run.
 */
export function hasProgram(name: string, cache?: Map<string, boolean>, path = process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin'): boolean {
  const key = `${name}\0${path}`;
  let yes = cache?.get(key);
  if (yes === undefined) {
    yes = path.split(':').some((dir) => dir !== '' && existsSync(`${dir}/${name}`));
    cache?.set(key, yes);
  }
  return yes;
}
