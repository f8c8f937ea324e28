/**
 * `pipework batch [FILE|-]`: classic attach lines, one per line, applied together through the
 * same engine as a single line — every host side in one `ip -batch`, one process per guest — all
 * or nothing: if anything fails, everything the batch did is undone.
 */
import { readFileSync, statSync } from 'node:fs';
import { attachSpecs } from '../../../engine/attach.js';
import type { RunContext } from '../../../engine/context.js';
import { formatPlan, nsNaming, planJson } from '../../../engine/print.js';
import { InvalidArgumentError, NotFoundError, PipeworkError, UsageError, withPrefix } from '../../../model/errors.js';
import { classicSpec } from '../../classic/spec.js';
import { parseCommandLine } from '../../classic/grammar.js';
import type { AttachRequest, BatchRequest } from '../../classic/request.js';
import { splitWords } from '../../classic/words.js';
import { guestJson, outcomeText, printJson, recordJson } from '../../output.js';

export interface BatchLine {
  no: number;
  request: AttachRequest;
}

const KIND_WORDS: Record<string, string> = { passthrough: 'a route, rule or tc line', del: "a 'del' line", ls: "an 'ls' line", wait: 'a --wait line' };

export function parseBatchText(text: string): BatchLine[] {
  const out: BatchLine[] = [];
  text.split('\n').forEach((raw, idx) => {
    const no = idx + 1;
    try {
      let words = splitWords(raw);
      if (words.length === 0) return;
      if (words[0] === 'pipework') {
        words = words.slice(1);
        if (words.length === 0) throw new UsageError("nothing after 'pipework'");
      }
      const request = parseCommandLine(words);
      if (request.kind !== 'attach') throw new UsageError(`only attach lines go in a batch; this is ${KIND_WORDS[request.kind] ?? `'${request.kind}'`}`);
      if (request.dryRun || request.json) throw new UsageError('--dry-run and --json go on the batch command, not on a line');
      out.push({ no, request });
    } catch (err) {
      // A line's error names its line: never only the syntax lines (the CLI prints nothing else for those).
      if (err instanceof UsageError && err.showSyntax) throw new UsageError(`line ${no}: ${err.message}`, false);
      throw err instanceof PipeworkError ? withPrefix(err, `line ${no}: `) : err;
    }
  });
  return out;
}

function readInput(file: string | undefined): string {
  if (file === undefined) return readFileSync(0, 'utf8');
  try {
    if (statSync(file).isDirectory()) throw new InvalidArgumentError(`${file} is a directory, not a batch file`);
    return readFileSync(file, 'utf8');
  } catch (err) {
    if (err instanceof PipeworkError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new NotFoundError(`batch file ${file} does not exist`);
    throw new InvalidArgumentError(`cannot read batch file ${file}: ${(err as Error).message}`);
  }
}

function progress(): ((done: number, total: number) => void) | undefined {
  if (!process.stderr.isTTY) return undefined;
  return (done, total) => {
    process.stderr.write(`\r\u001b[Kpipework: applying ${done}/${total}`);
  };
}

export async function batch(request: BatchRequest, ctx: RunContext): Promise<number> {
  const lines = parseBatchText(readInput(request.file));
  if (lines.length === 0) return 0;
  const labels = lines.map((l) => `line ${l.no}`);
  const specs = [];
  for (const [k, l] of lines.entries()) {
    try {
      specs.push(await classicSpec(l.request, ctx));
    } catch (err) {
      throw err instanceof PipeworkError ? withPrefix(err, `${labels[k]!}: `) : err;
    }
  }
  const onProgress = request.dryRun ? undefined : progress();
  if (onProgress) ctx.onProgress = onProgress;
  let outcomes;
  try {
    outcomes = await attachSpecs(specs, ctx, { labels });
    ctx.commit();
  } finally {
    if (onProgress) process.stderr.write('\r\u001b[K');
  }
  if (onProgress) process.stderr.write(`pipework: ${outcomes.length} lines applied\n`);
  if (request.json) {
    printJson({
      command: 'batch',
      results: outcomes.map((o, k) => ({
        line: lines[k]!.no,
        outcome: outcomeText(o.outcome, request.dryRun),
        guest: guestJson(o.guest),
        interface: recordJson(o.record),
        ...(o.plan.repairs && { repaired: o.plan.repairs }),
        ...(request.dryRun && { plan: planJson(o.plan, nsNaming(o.guest)) }),
      })),
    });
  } else if (request.dryRun) {
    const seen = new Set<unknown>();
    for (const [k, o] of outcomes.entries()) {
      // A line repeating another is done once.
      if (seen.has(o.plan)) continue;
      seen.add(o.plan);
      process.stdout.write(`# line ${lines[k]!.no}\n${formatPlan(o.plan, nsNaming(o.guest))}`);
    }
  } else {
    for (const w of new Set(outcomes.flatMap((o) => o.warnings))) process.stdout.write(`${w}\n`);
  }
  return 0;
}
