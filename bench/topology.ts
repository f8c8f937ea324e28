/**
 * Topology files against the same work done the classic way, side by side in one run (issues 12, 22):
 *
 *   apply        `pipework apply FILE`: N netns guests (it makes them), one link each onto a Linux
 *                bridge it makes
 *   batch        the same by hand: `ip netns add` ×N (N processes, as a shell loop runs them), then
 *                `pipework batch FILE` of the same N classic lines (`br-… -i eth1 netns:… ADDR`)
 *   re-apply     `pipework apply FILE` again: nothing to do (the file's validated model is cached;
 *                the first apply of each round parses and validates it)
 *   destroy      `pipework destroy FILE`: the N links, the N netns and the bridge
 *   raw del      the raw kernel work destroy replaces, on the batch side's identical setup (netns,
 *                veths on the bridge): `ip netns del` ×N (N processes) and `ip link del` of the bridge
 *   … batched    the same by hand with one `ip -batch` for the N netns (adds, or dels): the fastest
 *                way there is, shown beside (the targets are against the loops, as issue 22 measured)
 *
 * The netns are made and removed inside the clock on both sides. `ip netns del` returns before the
 * kernel has removed the namespace's veths (it does that in the background, seconds for 200): the
 * bench waits for that outside the clock, says how long it took, and destroy's own clock includes
 * its veths' removal (it removes them itself, all at once, before their netns). Rounds alternate
 * which side goes first. It prints a markdown table of medians, the peak RSS of an apply (GNU time
 * %M), whether NODE_EXTRA_CA_CERTS was set (it costs every Node start ~40 ms; when set, the
 * re-apply and --version are timed without it too), the load average, and whether targets are met.
 *
 * Runs as root: `npm run build && node build/bench/topology.js`. Everything it makes is named
 * tgb…: netns tgbn-NNN, bridge br-tgbench, topology tgbench; removed at the end, on Ctrl-C, and
 * (left over from a killed run) at the start. BENCH_N=200 (guests), BENCH_ROUNDS=3.
 * BENCH_BEFORE=/path/to/an/older/bin/pipework runs the same apply, re-apply and destroy with that
 * build right after ours in every round, and adds before/after rows.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { forgetModels } from '../src/front/topology/cache.js';
import { median, ok, run } from './lib.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const PIPEWORK = join(ROOT, 'bin/pipework');
const N = Number(process.env['BENCH_N'] ?? 200);
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 3);
const BEFORE = process.env['BENCH_BEFORE'] !== undefined && process.env['BENCH_BEFORE'] !== '' ? resolve(process.env['BENCH_BEFORE']) : undefined;
const BRIDGE = 'br-tgbench';
const NAME = 'tgbench';
const ns = (i: number) => `tgbn-${String(i).padStart(3, '0')}`;
const address = (i: number) => `10.61.${Math.floor(i / 250)}.${(i % 250) + 1}/16`;


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

/** N processes, one after the other, as a shell loop runs them; the total time. */
async function loop(argvs: string[][]): Promise<number> {
  const started = performance.now();
  for (const argv of argvs) await ok(argv);
  return performance.now() - started;
}

/** Wait (bounded) until the kernel has removed the veths of deleted netns: none left on the bridge's side. */
async function vethsGone(names: () => Promise<string[]>, timeoutMs = 60_000): Promise<number> {
  const started = performance.now();
  while ((await names()).length > 0 && performance.now() - started < timeoutMs) await new Promise((r) => setTimeout(r, 10));
  return performance.now() - started;
}

/** The host ends `pipework batch` made for the bench's guests (their record names a tgbn- netns). */
async function benchVeths(): Promise<string[]> {
  const all = JSON.parse((await run(['ip', '-json', 'link', 'show', 'type', 'veth'])).stdout || '[]') as { ifname: string; ifalias?: string }[];
  return all.filter((l) => (l.ifalias ?? '').includes(';g=netns:tgbn-')).map((l) => l.ifname);
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
    const topo = join(work, 'tgbench.yaml');
    writeFileSync(topo, [
      `name: ${NAME}`, 'networks:', `  lan: {bridge: ${BRIDGE}}`, 'guests:',
      ...Array.from({ length: N }, (_, i) => `  g${i}: {netns: ${ns(i)}}`),
      'links:', ...Array.from({ length: N }, (_, i) => `  - g${i} lan ${address(i)}`), '',
    ].join('\n'));
    const lines = join(work, 'batch.txt');
    writeFileSync(lines, Array.from({ length: N }, (_, i) => `${BRIDGE} -i eth1 netns:${ns(i)} ${address(i)}\n`).join(''));
    const guests = Array.from({ length: N }, (_, i) => ns(i));
    const certs = process.env['NODE_EXTRA_CA_CERTS'] !== undefined && process.env['NODE_EXTRA_CA_CERTS'] !== '';
    const noCerts = { ...process.env };
    delete noCerts['NODE_EXTRA_CA_CERTS'];

    const t: Record<string, number[]> = {
      apply: [], batch: [], 'batch-b': [], reapply: [], 'reapply-nocerts': [], version: [], 'version-nocerts': [], destroy: [], rawdel: [], 'rawdel-b': [], cleanup: [],
      'before-apply': [], 'before-reapply': [], 'before-destroy': [],
    };
    // The classic side: make the netns and plumb them, then remove them the raw way (N processes,
    // or (`batched`) one ip -batch each), each on the same setup.
    const classic = async (batched: boolean) => {
      const add = guests.map((g) => ['ip', 'netns', 'add', g]);
      const started = performance.now();
      if (batched) await ok(['ip', '-batch', '-'], guests.map((g) => `netns add ${g}\n`).join(''));
      else await loop(add);
      await ok([process.execPath, PIPEWORK, 'batch', lines]);
      t[batched ? 'batch-b' : 'batch']!.push(performance.now() - started);
      const del = performance.now();
      if (batched) await ok(['ip', '-batch', '-'], guests.map((g) => `netns del ${g}\n`).join(''));
      else await loop(guests.map((g) => ['ip', 'netns', 'del', g]));
      await ok(['ip', 'link', 'del', 'dev', BRIDGE]);
      t[batched ? 'rawdel-b' : 'rawdel']!.push(performance.now() - del);
      // The kernel goes on removing the netns' veths: not on the next measurement's time.
      t['cleanup']!.push(await vethsGone(benchVeths));
    };
    for (let round = 0; round < ROUNDS; round++) {
      const order = round % 2 === 0 ? ['batch', 'apply'] : ['apply', 'batch'];
      for (const which of order) {
        if (which === 'batch') {
          await classic(false);
          await classic(true);
        } else {
          // A first apply of the file: its validated model is not cached yet (a re-apply's is).
          forgetModels(NAME);
          t['apply']!.push((await ok([process.execPath, PIPEWORK, 'apply', topo])).ms);
          const again = await ok([process.execPath, PIPEWORK, 'apply', topo]);
          if (!/nothing to do/u.test(again.stdout)) throw new Error(`the re-apply did something: ${again.stdout}`);
          t['reapply']!.push(again.ms);
          // The floor of any pipework run, measured beside it: Node's start-up and the bundle.
          t['version']!.push((await ok([process.execPath, PIPEWORK, '--version'])).ms);
          if (certs) {
            t['reapply-nocerts']!.push((await ok([process.execPath, PIPEWORK, 'apply', topo], undefined, noCerts)).ms);
            t['version-nocerts']!.push((await ok([process.execPath, PIPEWORK, '--version'], undefined, noCerts)).ms);
          }
          t['destroy']!.push((await ok([process.execPath, PIPEWORK, 'destroy', topo])).ms);
          if ((await netnsList()).length > 0 || (await benchVeths()).length > 0) throw new Error('destroy left netns or veths of the bench behind');
          if (BEFORE !== undefined) {
            forgetModels(NAME);
            t['before-apply']!.push((await ok([process.execPath, BEFORE, 'apply', topo])).ms);
            t['before-reapply']!.push((await ok([process.execPath, BEFORE, 'apply', topo])).ms);
            t['before-destroy']!.push((await ok([process.execPath, BEFORE, 'destroy', topo])).ms);
            await vethsGone(benchVeths);
          }
        }
      }
      process.stderr.write(`bench: round ${round + 1} done\n`);
    }
    // Peak memory of an apply (GNU time).
    let rss = NaN;
    if (existsSync('/usr/bin/time')) {
      const m = await ok(['/usr/bin/time', '-f', 'RSS %M', process.execPath, PIPEWORK, 'apply', topo]);
      rss = Number(/RSS (\d+)/u.exec(m.stderr)?.[1]) / 1024;
      await ok([process.execPath, PIPEWORK, 'destroy', topo]);
    }

    const m = Object.fromEntries(Object.entries(t).map(([k, v]) => [k, v.length > 0 ? median(v) : NaN])) as Record<string, number>;
    const f = (ms: number) => (Number.isNaN(ms) ? '–' : `${Math.round(ms)} ms`);
    const x = (a: number, b: number) => `${(a / b).toFixed(2)}×`;
    const out = [
      `### Topology files, ${N} netns guests, one link each (median of ${ROUNDS})`,
      '',
      '| what | wall | reference | ratio | target |',
      '| --- | --- | --- | --- | --- |',
      `| \`pipework apply\` (makes the ${N} netns and the bridge) | ${f(m['apply']!)} | \`ip netns add\` ×${N} + \`pipework batch\` of the same ${N} lines: ${f(m['batch']!)} | ${x(m['apply']!, m['batch']!)} | ≤ 1.2× → ${m['apply']! <= 1.2 * m['batch']! ? 'met' : 'NOT met'} |`,
      `| | | (one \`ip -batch\` of ${N} \`netns add\` + \`pipework batch\`: ${f(m['batch-b']!)}) | ${x(m['apply']!, m['batch-b']!)} | |`,
      `| \`pipework apply\` again (nothing to do) | ${f(m['reapply']!)} | \`pipework --version\` (start-up alone): ${f(m['version']!)} | | ≤ 200 ms → ${m['reapply']! <= 200 ? 'met' : 'NOT met'} |`,
      ...(certs ? [`| … without NODE_EXTRA_CA_CERTS | ${f(m['reapply-nocerts']!)} | \`pipework --version\` without it: ${f(m['version-nocerts']!)} | | ≤ 200 ms → ${m['reapply-nocerts']! <= 200 ? 'met' : 'NOT met'} |`] : []),
      `| \`pipework destroy\` (links, netns, bridge) | ${f(m['destroy']!)} | raw kernel work: \`ip netns del\` ×${N} + \`ip link del\` of the bridge: ${f(m['rawdel']!)} | ${x(m['destroy']!, m['rawdel']!)} | ≤ 1.5× → ${m['destroy']! <= 1.5 * m['rawdel']! ? 'met' : 'NOT met'} |`,
      `| | | (one \`ip -batch\` of ${N} \`netns del\` + \`ip link del\`: ${f(m['rawdel-b']!)}) | ${x(m['destroy']!, m['rawdel-b']!)} | |`,
      `| (after the raw del) the kernel's removal of the ${N} veths, in the background | ${f(m['cleanup']!)} | | | |`,
      `| peak RSS of \`pipework apply\` | ${Number.isNaN(rss) ? '–' : `${rss.toFixed(0)} MiB`} | | | < 120 MiB → ${Number.isNaN(rss) ? 'not measured (no GNU time)' : rss < 120 ? 'met' : 'NOT met'} |`,
      ...(BEFORE === undefined ? [] : [
        '',
        `| before/after (${BEFORE}) | this build | before | ratio |`,
        '| --- | --- | --- | --- |',
        ...(['apply', 'reapply', 'destroy'] as const).map((k) => `| ${k} | ${f(m[k]!)} | ${f(m[`before-${k}`]!)} | ${x(m[k]!, m[`before-${k}`]!)} |`),
      ]),
      '',
      `NODE_EXTRA_CA_CERTS was ${certs ? 'set (every Node start pays ~40 ms for it)' : 'not set'}; load average at the end ${loadavg().map((v) => v.toFixed(1)).join(' ')} on ${(await run(['nproc'])).stdout.trim()} cores.`,
      `Samples (ms): ${Object.entries(t).filter(([, v]) => v.length > 0).map(([k, v]) => `${k} ${v.map((v2) => Math.round(v2)).join('/')}`).join('; ')}.`,
    ];
    process.stdout.write(`${out.join('\n')}\n`);
  } finally {
    await cleanup();
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
