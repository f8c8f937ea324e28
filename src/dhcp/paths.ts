/**
 * Where pipework's own DHCP programs are. They live beside the CLI: in the bundle
 * (build/dist/dhcp-agent.js, dhcp-hook.js, made by `npm run build`) or, without one, in the
 * compiled modules (build/src/dhcp/). Found from the package root, which holds package.json.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    dir = dirname(dir);
  }
  throw new Error('internal: cannot find the pipework package root');
}

const ROOT = packageRoot();

function program(bundled: string, compiled: string): string {
  const inBundle = join(ROOT, 'build', 'dist', bundled);
  return existsSync(inBundle) ? inBundle : join(ROOT, 'build', 'src', 'dhcp', compiled);
}

/** The argv that runs the DHCP agent (acquire, stop, supervise) with the node running us. */
export const DHCP_AGENT: readonly string[] = [process.execPath, program('dhcp-agent.js', 'agent.js')];

/** The module the generated client hooks import. */
export const HOOK_MODULE_URL = pathToFileURL(program('dhcp-hook.js', 'hook.js')).href;

/** The `dhcp` method's udhcpc script (busybox sh), mounted read-only into the helper container. */
export const HELPER_HOOK = join(ROOT, 'bin', 'pipework-dhcp-helper-hook');
