import { existsSync } from 'node:fs';

/** Is `name` installed (an executable of that name in PATH)? No process is started to ask. */
export function hasProgram(name: string, path = process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin'): boolean {
  return path.split(':').some((dir) => dir !== '' && existsSync(`${dir}/${name}`));
}
