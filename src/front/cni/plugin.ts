/**
 * The plugin as a process (the launcher's cold path, or `bin/pipework` with CNI_COMMAND set):
 * the runtime's environment and stdin in, the result or error JSON out on stdout, logs on stderr,
 * and the exit status. Nothing here may throw: every failure is an error object.
 */
import { fstatSync, readFileSync } from 'node:fs';
import { giveUp, STOP_SIGNALS, takeEarly, type StopSignal } from '../signals.js';
import { handle } from './handle.js';
import { Code, CniError, errorJson, SPEC_VERSION, type RawRequest } from './protocol.js';

/** What the launcher set aside so Node starts fast (NODE_EXTRA_CA_CERTS costs ~40 ms): put back for delegates. */
export const STASHED = ['NODE_EXTRA_CA_CERTS', 'NODE_OPTIONS'] as const;
export const STASH_PREFIX = 'PIPEWORK_CNI_SAVED_';

/** The runtime's environment as it gave it, with what the launcher set aside put back. */
export function runtimeEnv(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined && !k.startsWith(STASH_PREFIX)) out[k] = v;
  for (const k of STASHED) {
    const saved = env[`${STASH_PREFIX}${k}`];
    if (saved !== undefined) out[k] = saved;
  }
  return out;
}

/** Where our own programs (ip, ovs-vsctl, iptables) are, whatever PATH the runtime runs us with. */
const SYSTEM_PATH = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

export function withSystemPath(path: string | undefined): string {
  const dirs = (path ?? '').split(':').filter((d) => d !== '');
  for (const d of SYSTEM_PATH) if (!dirs.includes(d)) dirs.push(d);
  return dirs.join(':');
}

/**
 * How this process runs as a plugin (and as the daemon): our spawns find the system's programs,
 * and plans use the in-process netlink path when its addon is built (PIPEWORK_NETLINK=0 turns it off).
 */
export function preparePluginProcess(): void {
  process.env['PATH'] = withSystemPath(process.env['PATH']);
  process.env['PIPEWORK_NETLINK'] ??= '1';
}

function readStdin(): string {
  try {
    return readFileSync(0, 'utf8');
  } catch (err) {
    // EAGAIN (a non-blocking tty) or EOF: treated as nothing; EISDIR and the like as a failure.
    if ((err as NodeJS.ErrnoException).code === 'EAGAIN') return '';
    throw err;
  }
}

/** Started by the launcher as its child (PIPEWORK_CNI_FD=3, a socket there): the request comes over it. */
function launcherSocket(): number | undefined {
  const fd = process.env['PIPEWORK_CNI_FD'];
  delete process.env['PIPEWORK_CNI_FD'];
  if (fd !== '3') return undefined;
  try {
    return fstatSync(3).isSocket() ? 3 : undefined;
  } catch {
    return undefined;
  }
}

export async function pluginMain(): Promise<number> {
  const fd = launcherSocket();
  if (fd !== undefined) return (await import('./daemon.js')).serveLauncher(fd);
  let raw: RawRequest;
  try {
    raw = { env: runtimeEnv(process.env), stdin: readStdin() };
  } catch (err) {
    process.stdout.write(errorJson(new CniError(Code.IoFailure, `error reading from stdin: ${(err as Error).message}`), SPEC_VERSION));
    return 1;
  }
  preparePluginProcess();
  const controller = new AbortController();
  const on = (sig: StopSignal) => {
    if (controller.signal.aborted) {
      giveUp(1);
      return;
    }
    controller.abort(sig);
  };
  for (const sig of STOP_SIGNALS) process.on(sig, on);
  // One that came while Node and pipework were starting counts too.
  for (const sig of takeEarly()) on(sig);
  // The first phase counts from the process's start: Node's own start-up and loading pipework.
  const res = await handle(raw, {
    signal: controller.signal, log: (line) => process.stderr.write(`${line}\n`),
    trace: { enabled: raw.env['PIPEWORK_CNI_TRACE'] === '1', start: 0 },
  });
  process.stdout.write(res.stdout);
  return res.exitCode;
}
