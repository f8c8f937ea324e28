/**
 * pipework's small native addon (native/sys.c): flock(2) and SO_PEERCRED, which Node has no API
 * for. Optional: `npm run build:native` builds it (the setup script does); without it the lock
 * layer runs flock(1) on the same open file and sockets rely on their root-only directories.
 * PIPEWORK_SYS_ADDON=none leaves it unloaded (the tests run both ways).
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface SysAddon {
  /** flock(2): true when taken, false when another holder has it (only without `wait`). */
  flock(fd: number, exclusive: boolean, wait: boolean): boolean;
  /** SO_PEERCRED of a connected unix socket. */
  peerCred(fd: number): { pid: number; uid: number; gid: number };
}

const ADDON_FILE = 'native/build/Release/pipework_sys.node';
let addon: SysAddon | null | undefined;

/** The addon, found above this module (the bundle and tsc's output sit at different depths). */
export function sysAddon(): SysAddon | undefined {
  if (addon !== undefined) return addon ?? undefined;
  addon = null;
  if (process.env['PIPEWORK_SYS_ADDON'] === 'none') return undefined;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let up = 0; up < 5; up++, dir = dirname(dir)) {
    const file = join(dir, ADDON_FILE);
    if (!existsSync(file)) continue;
    try {
      addon = createRequire(import.meta.url)(file) as SysAddon;
    } catch {
      // Built for another platform, or damaged: the fallbacks do the same work.
    }
    break;
  }
  return addon ?? undefined;
}
