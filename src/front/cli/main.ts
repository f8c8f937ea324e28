/**
 * Entry point: parse, dispatch (commands load lazily), and the one place that turns an error
 * into a single line on stderr and an exit code.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { failPointFromEnv, newRun, type RunContext } from '../../engine/context.js';
import { PipeworkError, UsageError } from '../../model/errors.js';
import { asInterrupt, defaultSignals, interruptible, leave } from '../signals.js';
import { parseCommandLine } from '../classic/grammar.js';
import { SYNTAX, helpFor } from './help.js';
import { requireRoot } from '../root.js';

/** The package's version, from package.json beside the bundle (or above the compiled modules). */
function version(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    try {
      return (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version: string }).version;
    } catch {
      dir = dirname(dir);
    }
  }
  return 'unknown';
}

/** Did the user ask for JSON? Known once the line parses; before that, a guess. */
let jsonOutput = false;

/**
 * A run's context. One that changes the host is interruptible (src/front/signals.ts: a signal
 * aborts it and it undoes what it did, until it commits); any other leaves signals their default.
 */
function run(dryRun: boolean, changes: boolean): RunContext {
  const failAt = failPointFromEnv();
  const purpose = process.argv.slice(2).join(' ').slice(0, 120);
  const onWait = (line: string) => process.stderr.write(`pipework: ${line}\n`);
  if (!changes) {
    defaultSignals();
    return newRun({ dryRun, purpose, onWait, ...(failAt && { failAt }) });
  }
  const { signal, commit } = interruptible();
  return newRun({ dryRun, signal, commit, purpose, onWait, ...(failAt && { failAt }) });
}

/** The verbs of the other front doors, each its own parser (src/front/<door>/cli.ts). */
const FRONT_DOORS: Record<string, () => Promise<{ run(argv: readonly string[]): Promise<number> }>> = {
  apply: () => import('../topology/cli.js'),
  destroy: () => import('../topology/cli.js'),
  inspect: () => import('../topology/cli.js'),
  graph: () => import('../topology/cli.js'),
  schema: () => import('../topology/cli.js'),
  cni: () => import('../cni/cli.js'),
  watch: () => import('../watch/cli.js'),
};

export async function main(argv: readonly string[]): Promise<number> {
  jsonOutput = argv.includes('--json');
  // With CNI_COMMAND in the environment this program is a CNI plugin (stdout: its result or error JSON only).
  if (process.env['CNI_COMMAND'] !== undefined) return (await import('../cni/cli.js')).run(['plugin']);
  const door = argv[0] !== undefined ? FRONT_DOORS[argv[0]] : undefined;
  if (door) return (await door()).run(argv);
  const request = parseCommandLine(argv);
  jsonOutput = 'json' in request && request.json;
  if (request.kind === 'help' || request.kind === 'version' || request.kind === 'completion' || request.kind === 'wait') defaultSignals();
  switch (request.kind) {
    case 'help': {
      // The other front doors print their own usage on --help.
      const other = request.verb !== undefined ? FRONT_DOORS[request.verb] : undefined;
      if (other) return (await other()).run([request.verb!, '--help']);
      const text = helpFor(request.verb);
      if (text === undefined) {
        throw new UsageError(`no help on '${request.verb ?? ''}': the verbs are attach, del, ls, batch, route, rule, tc, wait, completion, ${Object.keys(FRONT_DOORS).join(', ')}`);
      }
      process.stdout.write(text);
      return 0;
    }
    case 'version':
      process.stdout.write(`pipework ${version()}\n`);
      return 0;
    case 'completion':
      process.stdout.write((await import('./completion.js')).BASH_COMPLETION);
      return 0;
    case 'wait':
      return (await import('./commands/wait.js')).waitForInterface(request);
  }
  requireRoot();
  switch (request.kind) {
    case 'passthrough':
      return (await import('./commands/passthrough.js')).passthrough(request, run(request.dryRun, false));
    case 'attach':
      return (await import('./commands/attach.js')).attach(request, run(request.dryRun, !request.dryRun));
    case 'del':
      return (await import('./commands/del.js')).del(request, run(request.dryRun, !request.dryRun));
    case 'ls':
      return (await import('./commands/ls.js')).ls(request, run(true, false));
    case 'batch':
      return (await import('./commands/batch.js')).batch(request, run(request.dryRun, !request.dryRun));
  }
}

function report(err: unknown, json: boolean): number {
  if (json) {
    const error = err instanceof PipeworkError
      ? { reason: err.reason, message: err.message }
      : { reason: 'internal', message: err instanceof Error ? err.message : String(err) };
    process.stdout.write(`${JSON.stringify({ error }, null, 2)}\n`);
  }
  if (err instanceof UsageError && err.showSyntax && !json) {
    process.stdout.write(SYNTAX);
    return err.exitCode;
  }
  if (err instanceof PipeworkError) {
    process.stderr.write(`pipework: ${err.message}\n`);
    return err.exitCode;
  }
  process.stderr.write(`pipework: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  return 70;
}

// A reader that goes away (`pipework ls | head`) ends the output, not the run with a stack trace.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
  });
}

main(process.argv.slice(2)).then(
  (code) => leave(code),
  (err: unknown) => leave(report(asInterrupt(err), jsonOutput)),
);
