/**
 * Topology files against the same work done the classic way, side by side in one run (issue 12):
 *
 *   apply        `pipework apply FILE`: N netns guests, one link each onto a Linux bridge it makes
 *   batch        `pipework batch FILE` of the same N classic lines (`br-… -i eth1 netns:… ADDR`)
 *   re-apply     `pipework apply FILE` again: nothing to do (the file's validated model is cached;
 *                the first apply of each round parses and validates it)
 *   destroy      `pipework destroy FILE`: the N links and the bridge
 *   batch del    the reference for destroy: `pipework batch` has no del lines, so the fairest
 *                comparison is what one would cost — one process running the engine's own detach
 *                for the N guests, 8 at a time as batch runs guests (bench/topology-del.ts,
 *                bundled the way bin/pipework is)
 *   del loop     (reference) what users do today: N `pipework del netns:…` processes
 *
 * The netns are made once, before the clock (batch cannot make them; both sides find them).
 * Rounds alternate which of apply and batch goes first. It prints a markdown table of medians,
 * the peak RSS of an apply (GNU time %M), whether NODE_EXTRA_CA_CERTS was set (it costs every
 * Node start ~40 ms), the load average, and whether the targets are met.
 *
 * Runs as root: `npm run build && node build/bench/topology.js`. Everything it makes is named
 * tgb…: netns tgbn-NNN, bridge br-tgbench, topology tgbench; removed at the end, on Ctrl-C, and
 * (left over from a killed run) at the start. BENCH_N=200 (guests), BENCH_ROUNDS=3,
 * BENCH_DEL_LOOP=0 skips the del loop (it takes a minute). BENCH_BEFORE=/path/to/an/older/bin/pipework
 * runs the same apply, re-apply and destroy with that build right after ours in every round, and
 * adds before/after rows.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { forgetModels } from '../src/front/topology/cache.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const PIPEWORK = join(ROOT, 'bin/pipework');
const N = Number(process.env['BENCH_N'] ?? 200);
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 3);
const DEL_LOOP = process.env['BENCH_DEL_LOOP'] !== '0';
const BEFORE = process.env['BENCH_BEFORE'] !== undefined && process.env['BENCH_BEFORE'] !== '' ? resolve(process.env['BENCH_BEFORE']) : undefined;
const BRIDGE = 'br-tgbench';
const NAME = 'tgbench';
const ns = (i: number) => `tgbn-${String(i).padStart(3, '0')}`;
const address = (i: number) => `10.61.${Math.floor(i / 250)}.${(i % 250) + 1}/16`;

interface Done { code: number | null; stdout: string; stderr: string; ms: number }

function run(argv: string[], input?: string): Promise<Done> {
  const started = performance.now();
  return new Promise((res, rej) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr?.on('data', (d: Buffer) => { stderr += d.toString(); });
    child.on('error', rej);
    child.on('close', (code) => res({ code, stdout, stderr, ms: performance.now() - started }));
    if (input !== undefined) child.stdin?.end(input);
  });
}

async function ok(argv: string[], input?: string): Promise<Done> {
  const d = await run(argv, input);
  if (d.code !== 0) throw new Error(`${argv.join(' ')} failed (${d.code}): ${d.stderr}${d.stdout}`);
  return d;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

async function netnsList(): Promise<string[]> {
  return (await run(['ip', 'netns', 'list'])).stdout.split('\n').map((l) => l.split(' ')[0]!).filter((n) => n.startsWith('tgbn-'));
}

async function cleanup(): Promise<void> {
  await run([process.execPath, PIPEWORK, 'destroy', '--name', NAME]);
  const list = await netnsList();
  if (list.length > 0) await run(['ip', '-force', '-batch', '-'], list.map((n) => `netns del ${n}\n`).join(''));
  await run(['ip', 'link', 'del', 'dev', BRIDGE]);
  if (existsSync('/run/pipework/topology')) for (const f of readdirSync('/run/pipework/topology')) if (f.startsWith(NAME)) rmSync(join('/run/pipework/topology', f), { force: true });
  forgetModels(NAME);
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('run as root');
  const work = mkdtempSync(join(tmpdir(), 'tgbench-'));
  let stopping = false;
  process.on('SIGINT', () => {
    if (stopping) process.exit(130);
    stopping = true;
    void cleanup().finally(() => process.exit(130));
  });
  try {
    await cleanup();
    process.stderr.write(`bench: ${N} netns guests, ${ROUNDS} rounds\n`);
    await ok(['ip', '-batch', '-'], Array.from({ length: N }, (_, i) => `netns add ${ns(i)}\n`).join(''));
    const topo = join(work, 'tgbench.yaml');
    writeFileSync(topo, [
      `name: ${NAME}`, 'networks:', `  lan: {bridge: ${BRIDGE}}`, 'guests:',
      ...Array.from({ length: N }, (_, i) => `  g${i}: {netns: ${ns(i)}}`),
      'links:', ...Array.from({ length: N }, (_, i) => `  - g${i} lan ${address(i)}`), '',
    ].join('\n'));
    const lines = join(work, 'batch.txt');
    writeFileSync(lines, Array.from({ length: N }, (_, i) => `${BRIDGE} -i eth1 netns:${ns(i)} ${address(i)}\n`).join(''));
    // The batch-del reference, bundled as bin/pipework's code is.
    // Inside the package (it finds its root, as bin/pipework does, by package.json).
    const del = join(ROOT, 'build/bench/topology-del.bundle.mjs');
    await ok([join(ROOT, 'node_modules/.bin/esbuild'), join(ROOT, 'bench/topology-del.ts'), '--bundle', '--format=esm', '--platform=node', '--target=node20',
      `--outfile=${del}`, '--log-level=warning', "--banner:js=import { createRequire as __r } from 'node:module'; const require = __r(import.meta.url);"]);
    const guests = Array.from({ length: N }, (_, i) => ns(i));

    const t: Record<string, number[]> = { apply: [], batch: [], reapply: [], destroy: [], batchdel: [], version: [], 'before-apply': [], 'before-reapply': [], 'before-destroy': [] };
    for (let round = 0; round < ROUNDS; round++) {
      const order = round % 2 === 0 ? ['batch', 'apply'] : ['apply', 'batch'];
      for (const which of order) {
        if (which === 'batch') {
          t['batch']!.push((await ok([process.execPath, PIPEWORK, 'batch', lines])).ms);
          t['batchdel']!.push((await ok([process.execPath, del, ...guests])).ms);
          await ok(['ip', 'link', 'del', 'dev', BRIDGE]);
        } else {
          // A first apply of the file: its validated model is not cached yet (a re-apply's is).
          forgetModels(NAME);
          t['apply']!.push((await ok([process.execPath, PIPEWORK, 'apply', topo])).ms);
          const again = await ok([process.execPath, PIPEWORK, 'apply', topo]);
          if (!/nothing to do/u.test(again.stdout)) throw new Error(`the re-apply did something: ${again.stdout}`);
          t['reapply']!.push(again.ms);
          // The floor of any pipework run, measured beside it: Node's start-up and the bundle.
          t['version']!.push((await ok([process.execPath, PIPEWORK, '--version'])).ms);
          t['destroy']!.push((await ok([process.execPath, PIPEWORK, 'destroy', topo])).ms);
          if (BEFORE !== undefined) {
            forgetModels(NAME);
            t['before-apply']!.push((await ok([process.execPath, BEFORE, 'apply', topo])).ms);
            t['before-reapply']!.push((await ok([process.execPath, BEFORE, 'apply', topo])).ms);
            t['before-destroy']!.push((await ok([process.execPath, BEFORE, 'destroy', topo])).ms);
          }
        }
      }
      process.stderr.write(`bench: round ${round + 1} done\n`);
    }
    // Peak memory of an apply (GNU time), and the del loop (once).
    let rss = NaN;
    if (existsSync('/usr/bin/time')) {
      const m = await ok(['/usr/bin/time', '-f', 'RSS %M', process.execPath, PIPEWORK, 'apply', topo]);
      rss = Number(/RSS (\d+)/u.exec(m.stderr)?.[1]) / 1024;
      await ok([process.execPath, PIPEWORK, 'destroy', topo]);
    }
    let loop = NaN;
    if (DEL_LOOP) {
      await ok([process.execPath, PIPEWORK, 'batch', lines]);
      const started = performance.now();
      for (const g of guests) await ok([process.execPath, PIPEWORK, 'del', `netns:${g}`]);
      loop = performance.now() - started;
      await ok(['ip', 'link', 'del', 'dev', BRIDGE]);
    }

    const m = Object.fromEntries(Object.entries(t).map(([k, v]) => [k, median(v)])) as Record<string, number>;
    const f = (ms: number) => (Number.isNaN(ms) ? '–' : `${Math.round(ms)} ms`);
    const out = [
      `### Topology files, ${N} netns guests, one link each (median of ${ROUNDS})`,
      '',
      '| what | wall | reference | ratio | target |',
      '| --- | --- | --- | --- | --- |',
      `| \`pipework apply\` (makes the bridge) | ${f(m['apply']!)} | \`pipework batch\` of the same ${N} lines: ${f(m['batch']!)} | ${(m['apply']! / m['batch']!).toFixed(2)}× | ≤ 1.2× → ${m['apply']! <= 1.2 * m['batch']! ? 'met' : 'NOT met'} |`,
      `| \`pipework apply\` again (nothing to do) | ${f(m['reapply']!)} | \`pipework --version\` (start-up alone): ${f(m['version']!)} | | ≤ 300 ms → ${m['reapply']! <= 300 ? 'met' : 'NOT met'} |`,
      `| \`pipework destroy\` (links and bridge) | ${f(m['destroy']!)} | one process, the engine's detach for the ${N} guests, 8 at a time: ${f(m['batchdel']!)} | ${(m['destroy']! / m['batchdel']!).toFixed(2)}× | ≤ 1.2× → ${m['destroy']! <= 1.2 * m['batchdel']! ? 'met' : 'NOT met'} |`,
      `| (reference) ${N} \`pipework del\` processes | ${f(loop)} | | | |`,
      `| peak RSS of \`pipework apply\` | ${Number.isNaN(rss) ? '–' : `${rss.toFixed(0)} MiB`} | | | < 120 MiB → ${Number.isNaN(rss) ? 'not measured (no GNU time)' : rss < 120 ? 'met' : 'NOT met'} |`,
      ...(BEFORE === undefined ? [] : [
        '',
        `| before/after (${BEFORE}) | this build | before | ratio |`,
        '| --- | --- | --- | --- |',
        ...(['apply', 'reapply', 'destroy'] as const).map((k) => `| ${k} | ${f(m[k]!)} | ${f(m[`before-${k}`]!)} | ${(m[k]! / m[`before-${k}`]!).toFixed(2)}× |`),
      ]),
      '',
      `NODE_EXTRA_CA_CERTS was ${process.env['NODE_EXTRA_CA_CERTS'] !== undefined && process.env['NODE_EXTRA_CA_CERTS'] !== '' ? 'set (every Node start pays ~40 ms for it)' : 'not set'}; load average at the end ${loadavg().map((x) => x.toFixed(1)).join(' ')} on ${(await run(['nproc'])).stdout.trim()} cores.`,
      `Samples (ms): ${Object.entries(t).filter(([, v]) => v.length > 0).map(([k, v]) => `${k} ${v.map((x) => Math.round(x)).join('/')}`).join('; ')}.`,
    ];
    process.stdout.write(`${out.join('\n')}\n`);
  } finally {
    await cleanup();
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
