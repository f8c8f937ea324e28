/**
 * `node build/bench/cni.js` (as root, after `npm run build`): pipework's CNI plugin against
 * Debian's reference `bridge` plugin, the same configuration (only `type` differs: a bridge and
 * host-local), on named netns, in the same run.
 *
 *   reference      /usr/lib/cni/bridge
 *   daemon         our compiled launcher handing the request to a resident `pipework cni daemon`
 *                  (in-process netlink when its addon is built)
 *   daemon, ip     the same daemon path with PIPEWORK_NETLINK=0 (iproute2 processes)
 *   cold           our compiled launcher with no daemon: Node started per request
 *   cold, ip       the same with PIPEWORK_NETLINK=0
 *
 * and VERSION through each launcher form. Timing is a bash loop reading $EPOCHREALTIME around
 * each exec (no process of its own), the scenarios interleaved call by call: round r runs ADD
 * of every scenario, then the DELs, so load spikes hit them all alike. ADD's breakdown comes
 * from our own phase timings (PIPEWORK_CNI_TRACE=1). It prints a markdown table and cleans up
 * (netns cnb-*, bridge br-cnbench, the daemons it started, by PID).
 *
 * Environment: CNI_BENCH_N (calls per scenario, default 30); BENCH_BEFORE=<another checkout>/bin/pipework
 * adds that build's launcher, with and without its own resident daemon, as two more scenarios
 * interleaved with ours ("before" rows: a refactor measured against what it replaced).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const PIPEWORK = join(ROOT, 'bin/pipework');
const BEFORE = process.env['BENCH_BEFORE'];
const REFERENCE = '/usr/lib/cni/bridge';
const N = Number(process.env['CNI_BENCH_N'] ?? 30);
const NETWORK = 'cnbench';
const BRIDGE = 'br-cnbench';
const log = (m: string) => process.stderr.write(`bench: ${m}\n`);

interface Scenario {
  key: string;
  label: string;
  plugin: string;
  env: Record<string, string>;
  conf: string;
}

function sh(argv: string[], input?: string): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(argv[0]!, argv.slice(1), { input, encoding: 'utf8', timeout: 600_000 });
  return { code: r.status ?? 1, stdout: r.stdout, stderr: r.stderr };
}

function must(argv: string[], input?: string): string {
  const r = sh(argv, input);
  if (r.code !== 0) throw new Error(`${argv.join(' ')}: ${r.stderr.trim()}`);
  return r.stdout;
}

function stats(xs: number[]): { median: number; mean: number; p90: number; n: number } {
  const s = [...xs].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN;
  return { median: at(0.5), mean: s.reduce((a, b) => a + b, 0) / Math.max(1, s.length), p90: at(0.9), n: s.length };
}

const fmt = (ms: number) => (Number.isNaN(ms) ? '–' : ms < 10 ? ms.toFixed(2) : ms.toFixed(1));

function netns(s: string, r: number): string {
  return `cnb-${s}${r}`;
}

function cleanupLeftovers(): void {
  for (const n of readdirSync('/var/run/netns').filter((x) => x.startsWith('cnb-'))) sh(['ip', 'netns', 'del', n]);
  sh(['ip', 'link', 'del', BRIDGE]);
  rmSync(join('/var/lib/cni/pipework', NETWORK), { recursive: true, force: true });
  try {
    rmdirSync('/var/lib/cni/pipework');
  } catch {
    // not empty, or not there
  }
}

interface Step {
  key: string;
  argv: string[];
  env?: Record<string, string>;
  input?: string;
}

/** Time each step, in the order given: one bash, $EPOCHREALTIME around each exec. */
function timeSteps(dir: string, name: string, steps: Step[]): Map<string, number[]> {
  const lines = ['#!/bin/bash', 'set -u'];
  steps.forEach((c, i) => {
    let input = '</dev/null';
    if (c.input !== undefined) {
      const file = join(dir, `${name}-in${i}`);
      writeFileSync(file, c.input);
      input = `<${JSON.stringify(file)}`;
    }
    const env = Object.entries(c.env ?? {}).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(' ');
    lines.push(`s=$EPOCHREALTIME; ${env} ${c.argv.map((a) => JSON.stringify(a)).join(' ')} ${input} >/dev/null 2>&1 || echo "FAILED ${c.key}" >&2; e=$EPOCHREALTIME; echo "${c.key} $s $e"`);
  });
  const script = join(dir, `${name}.sh`);
  writeFileSync(script, `${lines.join('\n')}\n`);
  const r = sh(['bash', script]);
  if (r.stderr.includes('FAILED')) throw new Error(`${name}: ${r.stderr.trim().split('\n').slice(0, 3).join('; ')}`);
  const times = new Map<string, number[]>();
  for (const l of r.stdout.trim().split('\n')) {
    const [key, a, b] = l.split(' ');
    const list = times.get(key!) ?? [];
    list.push((Number(b) - Number(a)) * 1000);
    times.set(key!, list);
  }
  return times;
}

function startDaemon(socket: string, env: Record<string, string>, bin = PIPEWORK): ChildProcess {
  const child = spawn(process.execPath, [bin, 'cni', 'daemon', '--socket', socket], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env } });
  child.stderr.resume();
  return child;
}

async function waitSocket(path: string): Promise<void> {
  for (let i = 0; i < 200 && !existsSync(path); i++) await new Promise((r) => setTimeout(r, 50));
  if (!existsSync(path)) throw new Error(`the daemon did not listen on ${path}`);
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('run as root');
  if (!existsSync(REFERENCE)) throw new Error(`${REFERENCE} is missing: apt-get install containernetworking-plugins`);
  cleanupLeftovers();
  const dir = mkdtempSync(join(tmpdir(), 'cnbench-'));
  const daemons: ChildProcess[] = [];
  try {
    must([process.execPath, PIPEWORK, 'cni', 'install', '--dir', join(dir, 'bin'), '--socket', join(dir, 'netlink.sock')]);
    must([process.execPath, PIPEWORK, 'cni', 'install', '--dir', join(dir, 'shbin'), '--socket', join(dir, 'netlink.sock'), '--no-compile']);
    const launcher = join(dir, 'bin', 'pipework');
    daemons.push(startDaemon(join(dir, 'netlink.sock'), {}), startDaemon(join(dir, 'ip.sock'), { PIPEWORK_NETLINK: '0' }));
    await waitSocket(join(dir, 'netlink.sock'));
    await waitSocket(join(dir, 'ip.sock'));
    const base = { cniVersion: '0.4.0', name: NETWORK, bridge: BRIDGE, ipam: { type: 'host-local', subnet: '10.247.0.0/16', dataDir: join(dir, 'ipam') } };
    const refConf = JSON.stringify({ ...base, type: 'bridge' });
    const ourConf = JSON.stringify({ ...base, type: 'pipework' });
    const scenarios: Scenario[] = [
      { key: 'ref', label: 'reference `bridge` + host-local', plugin: REFERENCE, env: {}, conf: refConf },
      { key: 'dnl', label: 'pipework, resident daemon', plugin: launcher, env: { PIPEWORK_CNI_SOCKET: join(dir, 'netlink.sock') }, conf: ourConf },
      { key: 'dip', label: 'pipework, resident daemon, iproute2', plugin: launcher, env: { PIPEWORK_CNI_SOCKET: join(dir, 'ip.sock') }, conf: ourConf },
      { key: 'cnl', label: 'pipework, no daemon (Node per request)', plugin: launcher, env: { PIPEWORK_CNI_SOCKET: 'none' }, conf: ourConf },
      { key: 'cip', label: 'pipework, no daemon, iproute2', plugin: launcher, env: { PIPEWORK_CNI_SOCKET: 'none', PIPEWORK_NETLINK: '0' }, conf: ourConf },
    ];
    if (BEFORE !== undefined) {
      if (!existsSync(BEFORE)) throw new Error(`BENCH_BEFORE=${BEFORE} does not exist`);
      must([process.execPath, BEFORE, 'cni', 'install', '--dir', join(dir, 'before'), '--socket', join(dir, 'before.sock')]);
      daemons.push(startDaemon(join(dir, 'before.sock'), {}, BEFORE));
      await waitSocket(join(dir, 'before.sock'));
      const old = join(dir, 'before', 'pipework');
      scenarios.push(
        { key: 'bdn', label: 'before: resident daemon', plugin: old, env: { PIPEWORK_CNI_SOCKET: join(dir, 'before.sock') }, conf: ourConf },
        { key: 'bcn', label: 'before: no daemon (Node per request)', plugin: old, env: { PIPEWORK_CNI_SOCKET: 'none' }, conf: ourConf },
      );
    }
    log(`creating ${N * scenarios.length} netns`);
    for (const s of scenarios) for (let r = 0; r < N + 1; r++) must(['ip', 'netns', 'add', netns(s.key, r)]);

    // Warm-up (the first ADD makes the bridge; the first exec of a file pays the page cache).
    for (const s of scenarios) {
      const env = { ...process.env, ...s.env, CNI_CONTAINERID: `w${s.key}`, CNI_NETNS: `/var/run/netns/${netns(s.key, N)}`, CNI_IFNAME: 'eth0', CNI_PATH: '/usr/lib/cni' };
      for (const c of ['ADD', 'DEL']) {
        const r = spawnSync(s.plugin, [], { input: s.conf, env: { ...env, CNI_COMMAND: c }, encoding: 'utf8' });
        if (r.status !== 0) throw new Error(`${s.label} warm-up ${c}: ${r.stdout} ${r.stderr}`);
      }
    }

    const call = (s: Scenario, c: string, r: number, traced: boolean): Step => ({
      key: `${c}:${s.key}`, argv: [s.plugin], input: s.conf,
      env: {
        ...s.env, ...(traced && { PIPEWORK_CNI_TRACE: '1' }),
        CNI_COMMAND: c, CNI_CONTAINERID: `b${s.key}${r}`, CNI_NETNS: `/var/run/netns/${netns(s.key, r)}`, CNI_IFNAME: 'eth0', CNI_PATH: '/usr/lib/cni',
      },
    });
    // A first pass for ADD's breakdown (our phase timings), each ADD undone at once.
    log(`breakdown pass: ${N} ADD per scenario`);
    const traces = new Map<string, Map<string, number[]>>();
    for (let r = 0; r < N; r++) {
      for (const s of scenarios) {
        const c = call(s, 'ADD', r, true);
        const res = spawnSync(c.argv[0]!, [], { input: c.input, env: { ...process.env, ...c.env }, encoding: 'utf8' });
        if (res.status !== 0) throw new Error(`${s.label} ADD ${r}: ${res.stdout} ${res.stderr}`);
        const line = /pipework: trace: (.*)/u.exec(res.stderr)?.[1];
        if (line !== undefined) {
          const m = traces.get(s.key) ?? new Map<string, number[]>();
          for (const part of line.split(', ')) {
            const mm = /^(.*) ([\d.]+) ms$/u.exec(part);
            if (mm) m.set(mm[1]!, [...(m.get(mm[1]!) ?? []), Number(mm[2])]);
          }
          traces.set(s.key, m);
        }
        const d = call(s, 'DEL', r, false);
        const dr = spawnSync(d.argv[0]!, [], { input: d.input, env: { ...process.env, ...d.env }, encoding: 'utf8' });
        if (dr.status !== 0) throw new Error(`${s.label} DEL ${r}: ${dr.stdout} ${dr.stderr}`);
      }
    }
    // The timed pass: round r is every scenario's ADD; then every scenario's DEL, round by round.
    log(`timed pass: ${N} ADD and ${N} DEL per scenario, interleaved`);
    const steps: Step[] = [];
    for (let r = 0; r < N; r++) for (const s of scenarios) steps.push(call(s, 'ADD', r, false));
    for (let r = 0; r < N; r++) for (const s of scenarios) steps.push(call(s, 'DEL', r, false));
    const times = timeSteps(dir, 'adddel', steps);

    log('timing VERSION and start-up floors');
    const ca = process.env['NODE_EXTRA_CA_CERTS'];
    const floors: Step[] = [
      { key: 'true', argv: ['/bin/true'] },
      { key: 'ref', argv: [REFERENCE], env: { CNI_COMMAND: 'VERSION' }, input: '{"cniVersion":"0.4.0"}' },
      { key: 'c', argv: [launcher], env: { CNI_COMMAND: 'VERSION' }, input: '{"cniVersion":"0.4.0"}' },
      { key: 'sh', argv: [join(dir, 'shbin', 'pipework')], env: { CNI_COMMAND: 'VERSION' }, input: '{"cniVersion":"0.4.0"}' },
      { key: 'node', argv: [process.execPath, '-e', '0'] },
      { key: 'nodeNoCa', argv: ['env', '-u', 'NODE_EXTRA_CA_CERTS', process.execPath, '-e', '0'] },
      { key: 'bundle', argv: ['env', '-u', 'NODE_EXTRA_CA_CERTS', process.execPath, PIPEWORK], env: { CNI_COMMAND: 'VERSION' }, input: '{"cniVersion":"0.4.0"}' },
    ];
    const version = timeSteps(dir, 'version', Array.from({ length: Math.max(N, 30) }, () => floors).flat());

    // ---- the report ----
    const ref = { add: stats(times.get('ADD:ref') ?? []), del: stats(times.get('DEL:ref') ?? []) };
    const out: string[] = [];
    out.push(`### CNI plugin: pipework vs the reference bridge plugin (${N} calls each, interleaved)`, '');
    out.push(`Machine: ${spawnSync('nproc', { encoding: 'utf8' }).stdout.trim()} CPUs, load average ${loadavg().map((x) => x.toFixed(1)).join(' ')} at the end; NODE_EXTRA_CA_CERTS ${ca !== undefined ? `was set (${ca}) in this environment — the launcher starts Node without it` : 'was not set'}.`, '');
    out.push('| scenario | ADD median ms | ADD mean | ADD p90 | ×ref (median) | DEL median ms | DEL mean | DEL p90 | ×ref (median) |', '|---|---:|---:|---:|---:|---:|---:|---:|---:|');
    for (const s of scenarios) {
      const a = stats(times.get(`ADD:${s.key}`) ?? []);
      const d = stats(times.get(`DEL:${s.key}`) ?? []);
      out.push(`| ${s.label} | ${fmt(a.median)} | ${fmt(a.mean)} | ${fmt(a.p90)} | ${(a.median / ref.add.median).toFixed(2)} | ${fmt(d.median)} | ${fmt(d.mean)} | ${fmt(d.p90)} | ${(d.median / ref.del.median).toFixed(2)} |`);
    }
    out.push('', '| VERSION and floors | median ms | mean | p90 |', '|---|---:|---:|---:|');
    const vrow = (label: string, key: string) => {
      const v = stats(version.get(key) ?? []);
      out.push(`| ${label} | ${fmt(v.median)} | ${fmt(v.mean)} | ${fmt(v.p90)} |`);
    };
    vrow('`/bin/true` (the harness floor)', 'true');
    vrow('reference `bridge` VERSION', 'ref');
    vrow('pipework VERSION, compiled launcher', 'c');
    vrow('pipework VERSION, shell launcher', 'sh');
    vrow(`\`node -e 0\`${ca !== undefined ? ' (with NODE_EXTRA_CA_CERTS)' : ''}`, 'node');
    vrow('`node -e 0` without NODE_EXTRA_CA_CERTS', 'nodeNoCa');
    vrow('Node on bin/pipework as the plugin (VERSION), without NODE_EXTRA_CA_CERTS', 'bundle');
    out.push('', '| ADD breakdown (our phase timings, median ms) | ' + scenarios.filter((s) => s.key !== 'ref').map((s) => s.label).join(' | ') + ' |');
    out.push('|---|' + scenarios.filter((s) => s.key !== 'ref').map(() => '---:').join('|') + '|');
    const phases = [...new Set([...traces.values()].flatMap((m) => [...m.keys()]))];
    for (const p of phases) {
      const label = p === 'start' ? 'start (daemon: 0; cold: Node start-up and loading the bundle)' : p;
      out.push(`| ${label} | ${scenarios.filter((s) => s.key !== 'ref').map((s) => fmt(stats(traces.get(s.key)?.get(p) ?? []).median)).join(' | ')} |`);
    }
    if (BEFORE !== undefined) {
      // No row slower than before beyond noise (5%): ours against the same path of the other build.
      const slower: string[] = [];
      for (const [ours, old] of [['dnl', 'bdn'], ['cnl', 'bcn']] as const) {
        for (const c of ['ADD', 'DEL']) {
          const a = stats(times.get(`${c}:${ours}`) ?? []).median;
          const b = stats(times.get(`${c}:${old}`) ?? []).median;
          if (a > b * 1.05) slower.push(`${c} ${scenarios.find((s) => s.key === ours)!.label} ${fmt(a)} vs ${fmt(b)} ms`);
        }
      }
      out.push('', `- No row slower than before (BENCH_BEFORE=${BEFORE}, beyond 5% noise): ${slower.length === 0 ? 'none slower → MET' : `${slower.join('; ')} → NOT MET`}`);
    }
    process.stdout.write(`${out.join('\n')}\n`);
  } finally {
    for (const d of daemons) d.kill('SIGTERM');
    await Promise.all(daemons.map((d) => new Promise((r) => (d.exitCode !== null ? r(null) : d.once('exit', r)))));
    cleanupLeftovers();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${(err as Error).message}\n`);
  cleanupLeftovers();
  process.exitCode = 1;
});
