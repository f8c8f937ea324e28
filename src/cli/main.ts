/**
 * Entry point: parse, dispatch (commands load lazily), and the one place that turns an
 * error into a single line on stderr and an exit code.
 */
import { interruption, watchInterrupts } from '../exec/signals.js';
import { PipeworkError, UsageError } from '../model/errors.js';
import { parseCommandLine } from './grammar.js';
import { HELP, SYNTAX } from './syntax.js';

const VERSION = '0.1.0';

/** Did the user ask for JSON? Known once the line parses; before that, a guess. */
let jsonOutput = false;

export async function main(argv: readonly string[]): Promise<number> {
  jsonOutput = argv.includes('--json');
  const request = parseCommandLine(argv);
  jsonOutput = 'json' in request && request.json;
  // Runs that change things undo what they did when interrupted (src/exec/signals.ts).
  if (request.kind === 'attach' || request.kind === 'batch' || request.kind === 'del') watchInterrupts();
  switch (request.kind) {
    case 'help':
      process.stdout.write(HELP);
      return 0;
    case 'version':
      process.stdout.write(`pipework ${VERSION}\n`);
      return 0;
    case 'wait':
      return (await import('../commands/wait.js')).waitForInterface(request);
    case 'passthrough':
      return (await import('../commands/passthrough.js')).passthrough(request);
    case 'attach':
      return (await import('../commands/attach.js')).attach(request);
    case 'del':
      return (await import('../commands/del.js')).del(request);
    case 'ls':
      return (await import('../commands/ls.js')).ls(request);
    case 'batch':
      return (await import('../commands/batch.js')).batch(request);
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
    return interruption() !== undefined ? 130 : err.exitCode;
  }
  process.stderr.write(`pipework: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  return 70;
}

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err: unknown) => { process.exitCode = report(err, jsonOutput); },
);
