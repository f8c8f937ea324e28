/**
 * IPAM is delegated, as the spec's section 4 says: the plugin named by `ipam.type` is found on
 * CNI_PATH and run with the runtime's whole environment (CNI_COMMAND set to the operation) and
 * the whole configuration on stdin, unchanged. Its error passes through with its own code.
 */
import { accessSync, constants, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Runner } from '../../exec/runner.js';
import { Code, CniError, type Command } from './protocol.js';

/** The first executable file of that name in CNI_PATH. */
export function findPlugin(type: string, path: readonly string[]): string | undefined {
  for (const dir of path) {
    const file = join(dir, type);
    try {
      if (!statSync(file).isFile()) continue;
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not there
    }
  }
  return undefined;
}

export function pluginMissing(type: string, path: readonly string[]): CniError {
  return new CniError(Code.InvalidConfig, `failed to find plugin "${type}" in path [${path.join(' ')}]`, 'the IPAM plugin named by ipam.type must be an executable in one of the CNI_PATH directories');
}

export interface Delegate {
  type: string;
  file: string;
}

export interface ExecOptions {
  runner: Runner;
  /** The runtime's environment, as it gave it to us. */
  env: Readonly<Record<string, string | undefined>>;
  stdin: string;
  signal?: AbortSignal;
  log: (line: string) => void;
  timeoutMs?: number;
}

/** A delegate that did not say how it ended (killed, timed out): it may have done its part. */
export class DelegateUncertainError extends CniError {}

/** A delegate's error output → our error (its own code, message and details when it printed one). */
function delegateError(d: Delegate, command: Command, stdout: string, stderr: string, code: number | null, timedOut: boolean): CniError {
  if (code === null || timedOut) {
    return new DelegateUncertainError(Code.Internal, `IPAM plugin ${d.type} (${command}) ${timedOut ? 'timed out' : 'was stopped'} before it answered`);
  }
  try {
    const e = JSON.parse(stdout) as { code?: unknown; msg?: unknown; details?: unknown };
    if (typeof e.code === 'number' && typeof e.msg === 'string') {
      return new CniError(e.code, `IPAM plugin ${d.type} (${command}): ${e.msg}`, typeof e.details === 'string' ? e.details : '');
    }
  } catch {
    // not an error object
  }
  const why = timedOut ? 'timed out' : stderr.trim().split('\n')[0] ?? '';
  return new CniError(Code.Internal, `IPAM plugin ${d.type} (${command}) failed${code !== null ? ` with exit ${code}` : ''}${why !== '' ? `: ${why}` : ''}`);
}

/** Run a delegate for `command`; its stdout on success. */
export async function execDelegate(d: Delegate, command: Command, o: ExecOptions): Promise<string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(o.env)) if (v !== undefined) env[k] = v;
  env['CNI_COMMAND'] = command;
  // libcni retries a plugin that is being replaced ("text file busy"); so do we, briefly.
  for (let attempt = 0; ; attempt++) {
    let res;
    try {
      res = await o.runner.run([d.file], {
        env, input: o.stdin, timeoutMs: o.timeoutMs ?? 120_000, where: `IPAM plugin ${d.type}`,
        ...(o.signal !== undefined && { signal: o.signal }),
      });
    } catch (err) {
      if (/ETXTBSY|Text file busy/u.test((err as Error).message) && attempt < 5) {
        await new Promise((r) => setTimeout(r, 200));
        continue;
      }
      throw new CniError(Code.Internal, `cannot run IPAM plugin ${d.type} (${d.file}): ${(err as Error).message}`);
    }
    // Its logs are ours: the runtime reads stderr as logs.
    for (const line of res.stderr.split('\n')) if (line.trim() !== '') o.log(`${d.type}: ${line}`);
    if (res.code === 0) return res.stdout;
    throw delegateError(d, command, res.stdout, res.stderr, res.code, res.timedOut);
  }
}

/** Does the delegate speak `version` (VERSION asks it)? GC and STATUS go only to those that do. */
export async function delegateSupports(d: Delegate, version: string, o: Omit<ExecOptions, 'stdin'>): Promise<boolean> {
  try {
    const out = await execDelegate(d, 'VERSION', { ...o, stdin: JSON.stringify({ cniVersion: version }), timeoutMs: 10_000 });
    const v = JSON.parse(out) as { supportedVersions?: unknown };
    return Array.isArray(v.supportedVersions) && v.supportedVersions.includes(version);
  } catch {
    return false;
  }
}
