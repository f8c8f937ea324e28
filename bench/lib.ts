/**
 * What the benches share: a program run and timed (its output collected), one that must succeed,
 * and the median of samples.
 */
import { spawn } from 'node:child_process';

export interface Done {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Wall time from spawn to close. */
  ms: number;
}

/** Run argv (no shell), `input` on its stdin, with `env` (default: this process's). */
export function run(argv: readonly string[], input?: string, env?: NodeJS.ProcessEnv): Promise<Done> {
  const started = performance.now();
  return new Promise((res, rej) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'], ...(env && { env }) });
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr?.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    child.on('error', rej);
    child.on('close', (code) => res({ code, stdout, stderr, ms: performance.now() - started }));
    if (input !== undefined) child.stdin?.end(input);
  });
}

/** run(), failing with the program's output unless it exits 0. */
export async function ok(argv: readonly string[], input?: string, env?: NodeJS.ProcessEnv): Promise<Done> {
  const d = await run(argv, input, env);
  if (d.code !== 0) throw new Error(`${argv.join(' ')} failed (${d.code}): ${d.stderr.slice(0, 2000)}${d.stdout.slice(0, 2000)}`);
  return d;
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}
