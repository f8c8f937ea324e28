/**
 * A large topology file with `address: auto` beside the same file with static addresses (issue 22,
 * first speed row): 2,500 links — 2,500 netns guests, one interface each, on one Linux bridge
 * with a /20 subnet (the worst case for auto: one subnet to share) — timed, side by side, for
 *
 *   validate     `pipework graph FILE --offline -o /dev/null` with the file's model not cached:
 *                read, parse and validate the file, draw it (no host is read) — pipework has no
 *                verb that only validates, and this is the one that does least besides
 *   dry-run      `pipework apply FILE --dry-run`, model not cached (parse and validate included),
 *                and again with it cached
 *   inspect      `pipework inspect FILE` (the file is not applied: it reads a host with none of it)
 *   graph        `pipework graph FILE -o /dev/null` (mermaid, live state: inspect's work and drawing)
 *
 * Targets: validate + dry-run ≤ 1 s (read: a first dry-run, which validates the file too, and
 * validate alone each ≤ 1 s); inspect and graph ≤ 2 s. It prints a markdown table of
 * medians and whether NODE_EXTRA_CA_CERTS was set (it costs every Node start ~40 ms).
 *
 * Runs as root: `npm run build &&
 * node build/bench/topology-auto.js`. Nothing is made on the host (the file is never applied);
 * the names are tg… all the same (netns tgan-NNNN, bridges br-tga0…, topologies tgauto and
 * tgstatic). BENCH_ROUNDS=5, BENCH_GUESTS=2500, BENCH_NETWORKS=1 (each guest has one link on each).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { forgetModels } from '../src/front/topology/cache.js';
import { median, run } from './lib.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const PIPEWORK = join(ROOT, 'bin/pipework');
const GUESTS = Number(process.env['BENCH_GUESTS'] ?? 2500);
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 5);
const NETWORKS = Number(process.env['BENCH_NETWORKS'] ?? 1);

/** pipework's wall time; `codes`: the exits that are its answer (inspect says 2 for a file not applied). */
async function timed(argv: string[], codes: readonly number[] = [0]): Promise<number> {
  const d = await run([process.execPath, PIPEWORK, ...argv]);
  if (!codes.includes(d.code ?? -1)) throw new Error(`pipework ${argv.join(' ')} failed (${d.code}): ${d.stderr.slice(0, 2000)}`);
  return d.ms;
}


/** The file: `auto` links, or the same links with the addresses auto would give them. */
export function benchFile(name: string, auto: boolean, guests = GUESTS): string {
  const lines = [`name: ${name}`, 'networks:'];
  for (let n = 0; n < NETWORKS; n++) lines.push(`  net${n}: {bridge: br-tga${n}, subnet: 10.7${n}.0.0/20}`);
  lines.push('guests:');
  for (let g = 0; g < guests; g++) lines.push(`  g${g}: {netns: tgan-${String(g).padStart(4, '0')}}`);
  lines.push('links:');
  for (let g = 0; g < guests; g++) {
    for (let n = 0; n < NETWORKS; n++) {
      const host = g + 1;
      lines.push(`  - g${g}:eth${n + 1} net${n} ${auto ? 'auto' : `10.7${n}.${host >> 8}.${host & 255}/20`}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('run as root (inspect and a live graph look into the host)');
  const work = mkdtempSync(join(tmpdir(), 'tgauto-'));
  try {
    const files = { auto: join(work, 'auto.yaml'), static: join(work, 'static.yaml') };
    const names = { auto: 'tgauto', static: 'tgstatic' };
    writeFileSync(files.auto, benchFile(names.auto, true));
    writeFileSync(files.static, benchFile(names.static, false));
    const rows = ['validate', 'dry-run', 'dry-run (cached model)', 'inspect', 'graph'] as const;
    const t: Record<string, number[]> = {};
    for (const r of rows) for (const k of ['auto', 'static']) t[`${r}/${k}`] = [];
    process.stderr.write(`bench: ${GUESTS * NETWORKS} links (${GUESTS} guests × ${NETWORKS}), ${ROUNDS} rounds\n`);
    for (let round = 0; round < ROUNDS; round++) {
      const order = round % 2 === 0 ? (['auto', 'static'] as const) : (['static', 'auto'] as const);
      for (const k of order) {
        const file = files[k];
        forgetModels(names[k]);
        t[`validate/${k}`]!.push(await timed(['graph', file, '--offline', '-o', '/dev/null']));
        forgetModels(names[k]);
        t[`dry-run/${k}`]!.push(await timed(['apply', file, '--dry-run']));
        t[`dry-run (cached model)/${k}`]!.push(await timed(['apply', file, '--dry-run']));
        t[`inspect/${k}`]!.push(await timed(['inspect', file], [2]));
        t[`graph/${k}`]!.push(await timed(['graph', file, '-o', '/dev/null']));
      }
      process.stderr.write(`bench: round ${round + 1} done\n`);
    }
    const version = median(await Promise.all([0, 1, 2].map(async () => timed(['--version']))));
    const m = (k: string) => median(t[k]!);
    const f = (ms: number) => `${Math.round(ms)} ms`;
    const target: Record<(typeof rows)[number], string> = {
      validate: `≤ 1 s → ${m('validate/auto') <= 1000 ? 'met' : 'NOT met'}`,
      'dry-run': `validated and dry-run ≤ 1 s → ${m('dry-run/auto') <= 1000 ? 'met' : 'NOT met'}`,
      'dry-run (cached model)': '', inspect: `≤ 2 s → ${m('inspect/auto') <= 2000 ? 'met' : 'NOT met'}`, graph: `≤ 2 s → ${m('graph/auto') <= 2000 ? 'met' : 'NOT met'}`,
    };
    const out = [
      `### A topology file of ${GUESTS * NETWORKS} links, \`address: auto\` beside static addresses (median of ${ROUNDS})`,
      '',
      '| what | auto | static | target (auto) |',
      '| --- | --- | --- | --- |',
      ...rows.map((r) => `| ${r} | ${f(m(`${r}/auto`))} | ${f(m(`${r}/static`))} | ${target[r]} |`),
      `| (reference) \`pipework --version\` | ${f(version)} | | |`,
      '',
      'validate is `graph --offline` with the model not cached (pipework has no validate-only verb); dry-run is a first `apply --dry-run` (model not cached, so it validates too); inspect and graph read a host with none of the file on it.',
      `NODE_EXTRA_CA_CERTS was ${process.env['NODE_EXTRA_CA_CERTS'] !== undefined && process.env['NODE_EXTRA_CA_CERTS'] !== '' ? 'set (every Node start pays ~40 ms for it)' : 'not set'}; load average at the end ${loadavg().map((x) => x.toFixed(1)).join(' ')}.`,
      `Samples (ms): ${Object.entries(t).map(([k, v]) => `${k} ${v.map((x) => Math.round(x)).join('/')}`).join('; ')}.`,
    ];
    process.stdout.write(`${out.join('\n')}\n`);
  } finally {
    forgetModels('tgauto');
    forgetModels('tgstatic');
    rmSync(work, { recursive: true, force: true });
  }
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
