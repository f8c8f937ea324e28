/**
 * `pipework batch [FILE|-]`: classic attach lines, one per line, applied together — every
 * host side in one `ip -batch`, one process per guest — with the atomicity of a single run:
 * if anything fails, everything the batch did is undone.
 */
import { readFileSync } from 'node:fs';
import { parseCommandLine } from '../cli/grammar.js';
import type { AttachRequest, BatchRequest } from '../cli/request.js';
import { splitWords } from '../cli/words.js';
import { processRunner, type Runner } from '../exec/runner.js';
import type { Guest } from '../guest/guest.js';
import { dockerIndex } from '../guest/docker-index.js';
import { cachedHostFacts } from '../host/facts.js';
import { resolveGuest } from '../guest/resolve.js';
import { ConflictError, PipeworkError, UsageError } from '../model/errors.js';
import { applyPlans, type PlanJob } from '../plan/multi.js';
import { mapLimit } from '../plan/pool.js';
import { formatPlan } from '../plan/print.js';
import { planFor, runWithRetry } from './attach.js';
import { guestJson, planJson, printJson, recordJson } from './output.js';

interface Line {
  no: number;
  request: AttachRequest;
}

export function parseBatchText(text: string): Line[] {
  const out: Line[] = [];
  text.split('\n').forEach((raw, idx) => {
    const no = idx + 1;
    let words: string[];
    try {
      words = splitWords(raw);
      if (words[0] === 'pipework') words = words.slice(1);
      if (words.length === 0) return;
      const request = parseCommandLine(words);
      if (request.kind !== 'attach') throw new UsageError(`only attach lines go in a batch (this is '${request.kind}')`);
      if (request.dryRun || request.json) throw new UsageError('--dry-run and --json go on the batch command, not on a line');
      out.push({ no, request });
    } catch (err) {
      if (err instanceof PipeworkError) throw new UsageError(`line ${no}: ${err.message}`);
      throw err;
    }
  });
  const seen = new Map<string, number>();
  for (const { no, request } of out) {
    const key = `${request.guest}\u0000${request.guestIf ?? ''}`;
    const first = seen.get(key);
    if (first !== undefined) {
      throw new ConflictError(`line ${no}: guest ${request.guest} interface ${request.guestIf ?? 'eth1'} is already plumbed on line ${first}`);
    }
    seen.set(key, no);
  }
  return out;
}

function progress(): ((done: number, total: number) => void) | undefined {
  if (!process.stderr.isTTY) return undefined;
  return (done, total) => {
    process.stderr.write(`\r\u001b[Kpipework: ${done}/${total} attached`);
    if (done === total) process.stderr.write('\n');
  };
}

export async function batch(request: BatchRequest, runner: Runner = processRunner): Promise<number> {
  const text = readFileSync(request.file ?? 0, 'utf8');
  const lines = parseBatchText(text);
  if (lines.length === 0) return 0;

  // Each guest is resolved (and its namespace held) once, however many lines name it.
  const refs = [...new Set(lines.map((l) => l.request.guest))];
  const guests = new Map<string, Guest>();
  // Many guests: list Docker's containers once instead of one inspect call each.
  const index = refs.length > 1 ? await dockerIndex() : undefined;
  try {
    await mapLimit(refs, 16, async (ref) => {
      try {
        guests.set(ref, await resolveGuest(ref, { runner, ...(index && { dockerIndex: index }) }));
      } catch (err) {
        const no = lines.find((l) => l.request.guest === ref)!.no;
        if (err instanceof PipeworkError) throw new (err.constructor as typeof PipeworkError)(`line ${no}: ${err.message}`);
        throw err;
      }
    });

    const jobsFor = async (full: boolean): Promise<PlanJob[]> => {
      const sysfs = cachedHostFacts();
      return mapLimit(lines, 16, async ({ no, request: r }) => {
        const guest = guests.get(r.guest)!;
        try {
          return { plan: await planFor(runner, r, guest, full || request.dryRun, sysfs), ns: guest.ns, label: `line ${no}` };
        } catch (err) {
          if (err instanceof PipeworkError) throw new (err.constructor as typeof PipeworkError)(`line ${no}: ${err.message}`);
          throw err;
        }
      });
    };

    const jobs = await runWithRetry(async (full) => {
      const js = await jobsFor(full);
      if (!request.dryRun) {
        const onProgress = progress();
        await applyPlans(js.filter((j) => j.plan.steps.length > 0), { runner, ...(onProgress && { onProgress }) });
      }
      return js;
    });

    if (request.json) {
      printJson({
        command: 'batch',
        results: jobs.map((j, k) => ({
          line: lines[k]!.no,
          outcome: request.dryRun ? `would-be-${j.plan.outcome}` : j.plan.outcome,
          guest: guestJson(guests.get(lines[k]!.request.guest)!),
          ...(j.plan.record && { interface: recordJson(j.plan.record) }),
          ...(request.dryRun && { plan: planJson(j.plan) }),
        })),
      });
    } else if (request.dryRun) {
      for (const [k, j] of jobs.entries()) process.stdout.write(`# line ${lines[k]!.no}\n${formatPlan(j.plan)}`);
    } else {
      const warnings = new Set(jobs.flatMap((j) => j.plan.warnings));
      for (const w of warnings) process.stdout.write(`${w}\n`);
    }
    return 0;
  } finally {
    for (const g of guests.values()) g.ns.close();
  }
}
