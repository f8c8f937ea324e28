/**
 * The topology door: `pipework apply | destroy | inspect | graph | schema` (SPEC part D).
 * src/front/cli/main.ts hands over argv with the verb first; errors other than a bad file go
 * back to its single catch (one line, exit code).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { failPointFromEnv, newRun, type RunContext } from '../../engine/context.js';
import { formatPlan, nsNaming, planJson } from '../../engine/print.js';
import { PipeworkError, UsageError } from '../../model/errors.js';
import { renderHelp, type HelpPage } from '../help-text.js';
import { defaultSignals, interruptible } from '../signals.js';
import { hasCapabilities, requireRoot } from '../root.js';
import { guestJson, outcomeText, printJson, recordJson } from '../output.js';
import type { ApplyReport, LinkReport } from './apply.js';
import type { DestroyReport } from './destroy.js';
import type { GraphFormat } from './graph.js';
import { loadTopology, parser, readTopology } from './load.js';
import { TopologyFileError, type Problem } from './problems.js';
import { LINES_BOUND, linkLines, madeText, someNames } from './summary.js';
import { KEY_PATTERN, linkName, NAME_PATTERN, type Topology } from './model.js';

/** The door's help (src/front/help-text.ts): `pipework <verb> --help`, and the man page pipework(8). */
export const TOPOLOGY_PAGE: HelpPage = [{
  kind: 'synopsis',
  lines: [
    'pipework apply FILE [--host NAME] [--dry-run] [--json] [--deep]',
    'pipework destroy FILE | --name NAME [--host NAME] [--dry-run] [--json]',
    'pipework inspect FILE [--host NAME] [--json]',
    'pipework graph FILE [--host NAME] [--format mermaid|dot|html] [-o OUT] [--offline]',
    'pipework schema',
  ],
}, {
  kind: 'text', indent: 0, lines: [
    'inspect exits 0 when the host matches the file, 2 when it differs (a link missing or',
    'drifted, a network or guest missing, something the file no longer names left over),',
    '1 on an error (a bad or unreadable file).',
  ],
}];

const USAGE = renderHelp(TOPOLOGY_PAGE);

interface Args {
  verb: string;
  file?: string;
  dryRun: boolean;
  json: boolean;
  deep: boolean;
  offline: boolean;
  help: boolean;
  name?: string;
  /** Which host's part of a multi-host file (default: the one whose underlay address is here). */
  host?: string;
  format?: string;
  out?: string;
}

const ALLOWED: Record<string, string[]> = {
  apply: ['--dry-run', '--json', '--deep', '--host'],
  destroy: ['--dry-run', '--json', '--name', '--host'],
  inspect: ['--json', '--host'],
  graph: ['--format', '-o', '--offline', '--host'],
  schema: [],
};

export function parseArgs(argv: readonly string[]): Args {
  const [verb = '', ...rest] = argv;
  const args: Args = { verb, dryRun: false, json: false, deep: false, offline: false, help: false };
  const positional: string[] = [];
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i]!;
    const eq = a.startsWith('--') ? a.indexOf('=') : -1;
    const name = eq > 0 ? a.slice(0, eq) : a;
    const valued = name === '--name' || name === '--host' || name === '--format' || name === '-o' || name === '--output';
    const value = () => {
      const v = eq > 0 ? a.slice(eq + 1) : rest[++i];
      if (v === undefined || v === '') throw new UsageError(`option ${name} needs a value\n${USAGE}`);
      return v;
    };
    if (a === '-h' || a === '--help') {
      args.help = true;
      continue;
    }
    if (!a.startsWith('-') || a === '-') {
      positional.push(a);
      continue;
    }
    const canonical = name === '--output' ? '-o' : name;
    if (!(ALLOWED[verb] ?? []).includes(canonical)) throw new UsageError(`'pipework ${verb}' takes no ${name} (pipework ${verb} --help)`);
    if (valued) {
      const v = value();
      if (canonical === '--name') args.name = v;
      else if (canonical === '--host') args.host = v;
      else if (canonical === '--format') args.format = v;
      else args.out = v;
    } else if (canonical === '--dry-run') args.dryRun = true;
    else if (canonical === '--json') args.json = true;
    else if (canonical === '--deep') args.deep = true;
    else if (canonical === '--offline') args.offline = true;
  }
  if (args.help) return args;
  if (verb === 'schema') {
    if (positional.length > 0) throw new UsageError(`'pipework schema' takes no arguments`);
    return args;
  }
  if (positional.length > 1) throw new UsageError(`unexpected argument '${positional[1]!}'`);
  if (positional[0] !== undefined) args.file = positional[0];
  if (verb === 'destroy') {
    if ((args.file === undefined) === (args.name === undefined)) throw new UsageError('pipework destroy takes a topology file or --name NAME (one of them)');
    if (args.name !== undefined && !new RegExp(NAME_PATTERN, 'u').test(args.name)) throw new UsageError(`invalid topology name '${args.name}': expected 1 to 16 lower-case letters, digits or dashes`);
  } else if (args.file === undefined) {
    throw new UsageError(`pipework ${verb} needs a topology file: ${USAGE.split('\n').find((l) => l.startsWith(`pipework ${verb}`)) ?? ''}`);
  }
  if (args.host !== undefined && !new RegExp(KEY_PATTERN, 'u').test(args.host)) throw new UsageError(`invalid host name '${args.host}': expected a key of the file's hosts:`);
  if (args.format !== undefined && !['mermaid', 'dot', 'html'].includes(args.format)) throw new UsageError(`unknown --format '${args.format}': expected mermaid, dot or html`);
  if (args.format === 'html' && args.out === undefined) throw new UsageError('--format html writes a page: give it a file with -o FILE');
  return args;
}

/** apply and destroy are interruptible until they commit (src/front/signals.ts); the rest leave signals their default. */
function runContext(dryRun: boolean, purpose: string): RunContext {
  const failAt = failPointFromEnv();
  const onWait = (line: string) => process.stderr.write(`pipework: ${line}\n`);
  if (dryRun) {
    defaultSignals();
    return newRun({ dryRun, purpose, onWait, ...(failAt && { failAt }) });
  }
  const { signal, commit } = interruptible();
  return newRun({ dryRun, signal, commit, purpose, onWait, ...(failAt && { failAt }) });
}

function progress(): ((done: number, total: number) => void) | undefined {
  if (!process.stderr.isTTY) return undefined;
  return (done, total) => process.stderr.write(`\r\u001b[Kpipework: applying ${done}/${total}`);
}

export async function run(argv: readonly string[]): Promise<number> {
  const args = parseArgs(argv);
  if (args.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  try {
    return await dispatch(args);
  } catch (err) {
    if (!(err instanceof TopologyFileError)) throw err;
    if (args.json) printJson({ error: { reason: err.reason, message: err.message, problems: err.lines() } });
    else for (const line of err.lines()) process.stderr.write(`${line}\n`);
    return err.exitCode;
  }
}

async function dispatch(args: Args): Promise<number> {
  // Only apply and destroy change the host: they take signals over when their run starts.
  if (args.dryRun || (args.verb !== 'apply' && args.verb !== 'destroy')) defaultSignals();
  if (args.verb === 'schema') {
    process.stdout.write(`${JSON.stringify((await parser()).jsonSchema(), null, 2)}\n`);
    return 0;
  }
  if (args.verb === 'apply') {
    // A bad file's problems go with the host's (what resolved is checked against the host):
    // every problem in one run, nothing changed.
    const { topology, problems } = await readTopology(args.file!);
    // (A name that is not one is never used on the host, not even to read: it names files there.)
    if (!topology || !new RegExp(NAME_PATTERN, 'u').test(topology.name)) throw new TopologyFileError(args.file!, problems);
    requireRoot();
    return applyVerb(topology, args, problems);
  }
  const topology = args.file !== undefined ? await loadTopology(args.file) : undefined;
  switch (args.verb) {
    case 'destroy':
      requireRoot();
      return destroyVerb(args.name ?? topology!.name, topology, args);
    case 'inspect':
      requireRoot();
      return inspectVerb(topology!, args);
    case 'graph':
      return graphVerb(topology!, args);
  }
  throw new UsageError(`unknown verb ${args.verb}`);
}

/**
 * A multi-host file's part for this host (hosts.ts): chosen by --host or by the underlay address
 * on this host's interfaces, refused like a bad file when the host does not fit (strict: apply,
 * inspect; destroy takes the part as the file says, whatever the host has now).
 */
async function partOf(topology: Topology, host: string | undefined, ctx: RunContext, strict: boolean): Promise<Topology> {
  if (!topology.hosts) {
    if (host !== undefined) throw new UsageError(`--host ${host}: topology ${topology.name} has no hosts: (it is a one-host file)`);
    return topology;
  }
  const { chooseHost, hostPart, readInterfaces } = await import('./hosts.js');
  const ifaces = await readInterfaces(ctx.runner);
  const chosen = chooseHost(topology, host, ifaces, strict);
  if (chosen.problems.length > 0 || chosen.host === undefined) throw new TopologyFileError(topology.file, chosen.problems);
  const { part, problems } = hostPart(topology, chosen.host, ifaces, strict);
  if (problems.length > 0) throw new TopologyFileError(topology.file, problems.sort((a, b) => a.line - b.line || a.col - b.col));
  return part;
}

async function applyVerb(file: Topology, args: Args, fileProblems: Problem[] = []): Promise<number> {
  const { applyTopology } = await import('./apply.js');
  const ctx = runContext(args.dryRun, `topology apply ${file.name}`);
  let topology: Topology;
  try {
    topology = await partOf(file, args.host, ctx, true);
  } catch (err) {
    if (!(err instanceof TopologyFileError) || fileProblems.length === 0) throw err;
    throw new TopologyFileError(file.file, [...fileProblems, ...err.problems].sort((a, b) => a.line - b.line || a.col - b.col));
  }
  const onProgress = args.dryRun || args.json ? undefined : progress();
  if (onProgress) ctx.onProgress = onProgress;
  let report: ApplyReport;
  try {
    report = await applyTopology(topology, ctx, { deep: args.deep, fileProblems });
    ctx.commit();
  } finally {
    if (onProgress) process.stderr.write('\r\u001b[K');
  }
  if (args.json) {
    printJson({
      command: 'apply', topology: topology.name, changed: report.changed, dryRun: args.dryRun,
      links: report.links.map((l) => ({
        link: linkName(l.link), index: l.link.index, network: l.link.network, outcome: outcomeText(l.outcome, args.dryRun),
        ...(l.guest && { guest: guestJson(l.guest) }),
        ...(l.record && { interface: recordJson(l.record) }),
        ...(l.edits && { edited: l.edits }),
        ...(l.repairs && { repaired: l.repairs }),
        ...(l.pending !== undefined && { pending: l.pending }),
        ...(args.dryRun && l.plan && l.guest && { plan: planJson(l.plan, nsNaming(l.guest)) }),
      })),
      made: report.made, removed: report.removed, kept: report.kept, ...(report.changes.length > 0 && { changes: report.changes }), warnings: [...new Set(report.warnings)],
      ...(args.dryRun && { plan: planJson(report.makePlan, nsNaming({ kind: 'netns', name: 'host', pid: 1 })) }),
    });
    return 0;
  }
  process.stdout.write(`${applyText(report, topology, args.dryRun).join('\n')}\n`);
  return 0;
}

/** What a link's outcome was, with what changed: `edited (rate 50mbit → 20mbit)`, `repaired (address … is missing)`. */
function outcomeWords(l: LinkReport, dryRun: boolean): string {
  const head = l.outcome === 'unchanged' ? 'nothing to do' : `${dryRun ? 'would be ' : ''}${l.outcome}`;
  const edits = l.edits && l.edits.length > 0 ? ` (${l.edits.join(', ')})` : '';
  const repairs = l.repairs && l.repairs.length > 0 ? `${l.outcome === 'edited' ? '; repaired' : ''} (${l.repairs.join('; ')})` : '';
  return `${head}${edits}${repairs}`;
}

/** apply's lines for people (summary.ts keeps them readable at thousands of links). */
export function applyText(report: ApplyReport, topology: Pick<Topology, 'name' | 'file'>, dryRun: boolean): string[] {
  const out: string[] = [];
  if (dryRun) {
    out.push(`# pipework apply ${topology.file} --dry-run: nothing is changed`);
    if (report.makePlan.steps.length > 0) out.push(formatPlan(report.makePlan, nsNaming({ kind: 'netns', name: 'host', pid: 1 })).trimEnd());
    for (const c of report.made.containers) out.push(`# would create and start container ${c}`);
    for (const c of report.made.started) out.push(`# would start container ${c}`);
    for (const l of report.links) {
      const head = `# links[${l.link.index}] ${linkName(l.link)} on ${l.link.network}: ${outcomeWords(l, true)}`;
      if (l.pending !== undefined) out.push(`${head} (planned once it exists: ${l.pending})`);
      else if (l.plan && l.plan.steps.length > 0 && l.guest) out.push(`${head}\n${formatPlan(l.plan, nsNaming(l.guest)).trimEnd()}`);
      else out.push(head);
    }
  } else {
    // One line per changed link; links made or re-made (nothing more to say of each) are one
    // line when there are many.
    const line = (l: LinkReport) => `links[${l.link.index}] ${linkName(l.link)}: ${outcomeWords(l, false)}`;
    const plain = (l: LinkReport) => (l.outcome === 'created' || l.outcome === 'replaced') && l.repairs === undefined;
    const folded = new Map<string, LinkReport[]>();
    for (const l of report.links) if (plain(l)) folded.set(l.outcome, [...(folded.get(l.outcome) ?? []), l]);
    for (const [k, ls] of folded) if (ls.length <= LINES_BOUND) folded.delete(k);
    for (const l of report.links) if (l.outcome !== 'unchanged' && !(plain(l) && folded.has(l.outcome))) out.push(line(l));
    for (const [k, ls] of folded) out.push(...linkLines(ls, k, line));
  }
  for (const c of report.changes) out.push(dryRun ? `# would be: ${c}` : c);
  const verb = dryRun ? 'would remove' : 'removed';
  const r = report.removed;
  if (r.links.length > LINES_BOUND) out.push(`${verb} ${r.links.length} links no longer in the file: ${someNames(r.links)}`);
  else for (const x of r.links) out.push(`${verb} ${x} (no longer in the file)`);
  for (const x of r.containers) out.push(`${verb} container ${x}`);
  if (r.netns.length > LINES_BOUND) out.push(`${verb} ${r.netns.length} network namespaces: ${someNames(r.netns)}`);
  else for (const x of r.netns) out.push(`${verb} network namespace ${x}`);
  for (const x of [...r.vxlans, ...r.bridges, ...r.ovsBridges]) out.push(`${verb} ${x}`);
  for (const k of report.kept) out.push(`kept ${k}`);
  for (const w of new Set(report.warnings)) out.push(w);
  const counts = new Map<string, number>();
  for (const l of report.links) counts.set(l.outcome, (counts.get(l.outcome) ?? 0) + 1);
  const summary = [...counts].map(([k, n]) => `${n} ${dryRun && k !== 'unchanged' ? `to be ${k}` : k}`).join(', ') || 'no links';
  const m = report.made;
  const made = m.netns.length + m.bridges.length + m.ovsBridges.length + m.vxlans.length + m.containers.length > 0 ? `; ${dryRun ? 'would make' : 'made'} ${madeText(m)}` : '';
  out.push(report.changed ? `topology ${topology.name}: ${summary}${made}` : `topology ${topology.name} is up to date (${summary}): nothing to do`);
  return out;
}

async function destroyVerb(fileName: string, file: Topology | undefined, args: Args): Promise<number> {
  const { destroyTopology } = await import('./destroy.js');
  const ctx = runContext(args.dryRun, `topology destroy ${file?.name ?? fileName}`);
  const topology = file ? await partOf(file, args.host, ctx, false) : undefined;
  const name = topology?.name ?? (args.host !== undefined ? `${fileName}@${args.host}` : fileName);
  const report: DestroyReport = await destroyTopology(name, topology, ctx);
  ctx.commit();
  if (args.json) {
    printJson({ command: 'destroy', topology: name, dryRun: args.dryRun, nothing: report.nothing, removed: { links: report.links, containers: report.containers, netns: report.netns, vxlans: report.vxlans, bridges: report.bridges, ovsBridges: report.ovsBridges }, kept: report.kept });
    return 0;
  }
  const verb = args.dryRun ? 'would remove' : 'removed';
  const out = [
    ...report.links.map((l) => `${verb} ${l}`),
    ...report.containers.map((c) => `${verb} container ${c}`),
    ...report.netns.map((n) => `${verb} network namespace ${n}`),
    ...[...report.vxlans, ...report.bridges, ...report.ovsBridges].map((b) => `${verb} ${b}`),
    ...report.kept.map((k) => `kept ${k}`),
    report.nothing ? `topology ${name}: nothing to destroy` : `topology ${name} ${args.dryRun ? 'would be' : 'is'} destroyed`,
  ];
  process.stdout.write(`${out.join('\n')}\n`);
  return 0;
}

async function inspectVerb(file: Topology, args: Args): Promise<number> {
  const { differs, inspectTopology, formatInspect, INSPECT_DIFFERS } = await import('./inspect.js');
  const ctx = runContext(true, 'topology inspect');
  const topology = await partOf(file, args.host, ctx, true);
  const report = await inspectTopology(topology, ctx);
  // Scripts read the answer from the exit code: 0 the host matches the file, INSPECT_DIFFERS not.
  const matches = !differs(report);
  if (args.json) {
    printJson({
      command: 'inspect', topology: topology.name, matches,
      links: report.links.map((s) => ({
        link: linkName(s.link), index: s.link.index, network: s.link.network, status: s.status,
        ...(s.details.length > 0 && { [s.status === 'drift' ? 'differs' : 'why']: s.details }),
        ...(s.record && { interface: recordJson(s.record) }),
        ...(s.addresses && { addresses: s.addresses }),
      })),
      networks: report.networks, guests: report.guests, leftovers: report.leftovers, ...(report.vxlans && { vxlans: report.vxlans }),
    });
  } else {
    process.stdout.write(formatInspect(report, `${shellWord(file.file)}${args.host !== undefined ? ` --host ${args.host}` : ''}`));
  }
  return matches ? 0 : INSPECT_DIFFERS;
}

async function graphVerb(file: Topology, args: Args): Promise<number> {
  const graph = await import('./graph.js');
  // A multi-host file is drawn whole, or one host's part with --host.
  const topology = args.host !== undefined ? await partOf(file, args.host, runContext(true, 'topology inspect'), false) : file;
  const format: GraphFormat = (args.format as GraphFormat | undefined) ?? 'mermaid';
  // Live colours need root (to look into the guests); without it the drawing is the file's alone.
  let readLive = !args.offline;
  let note = '';
  if (readLive && !(process.getuid?.() === 0 || hasCapabilities(readStatus()))) {
    readLive = false;
    note = 'not root: drawn from the file alone (live state unknown)';
  }
  let report;
  if (readLive) {
    const { inspectTopology } = await import('./inspect.js');
    try {
      report = await inspectTopology(topology, runContext(true, 'topology inspect'));
    } catch (err) {
      if (!(err instanceof PipeworkError)) throw err;
      note = `live state unknown: ${err.message}`;
    }
  }
  const state = graph.graphState(report);
  const when = `${readLive && report ? 'live state' : 'offline'} at ${new Date().toISOString()}${note !== '' ? ` (${note})` : ''}`;
  const text = format === 'mermaid' ? graph.mermaid(topology, state) : format === 'dot' ? graph.dot(topology, state) : graph.html(topology, state, when);
  if (args.out !== undefined) writeFileSync(args.out, text);
  else process.stdout.write(text);
  if (note !== '') process.stderr.write(`pipework: ${note}\n`);
  return 0;
}

/** A path as a shell reads it back (quoted when it has to be), for advice to copy. */
function shellWord(text: string): string {
  return /^[\w@%+=:,./-]+$/u.test(text) ? text : `'${text.replaceAll("'", "'\\''")}'`;
}

function readStatus(): string {
  try {
    return readFileSync('/proc/self/status', 'utf8');
  } catch {
    return '';
  }
}
