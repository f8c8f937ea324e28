/**
 * `node build/bench/cri.js` (as root, after `npm run build`): what a pod's network costs on the
 * kubelet's path — RunPodSandbox, and StopPodSandbox + RemovePodSandbox, through containerd's CRI
 * (Debian's 1.6, an instance of the bench's own, test/integration/cri/containerd.ts) — with
 * pipework as the CNI plugin beside Debian's reference `bridge` plugin with host-local:
 *
 *   reference   `bridge` + host-local
 *   daemon      pipework's compiled launcher handing each request to a resident
 *               `pipework cni daemon` the bench starts
 *   cold        the same launcher compiled with a socket no daemon listens on: its connect fails
 *               at once and it starts Node per request (what PIPEWORK_CNI_SOCKET=none does)
 *
 * The same conflist for all three but `type` (a bridge each, isGateway, host-local); each is the
 * CNI conf dir of one runtime handler of the same containerd, so a pod picks its plugin through
 * RunPodSandbox's runtime_handler. Calls are interleaved: round r runs one pod per scenario (in
 * an order rotating with r), then stops and removes them in the same order; two rounds warm up
 * first. Times are the CRI calls' wall times as the client sees them. It prints a markdown table,
 * whether NODE_EXTRA_CA_CERTS was set, the load average, and whether issue 21's targets are met
 * (RunPodSandbox median ≤ 1.0× the reference with the daemon, ≤ 1.5× without).
 *
 * Everything is named tcr… (bridges tcr-bref, tcr-bdmn, tcr-bcold; addresses in 10.173.0.0/16)
 * and removed at the end or on Ctrl-C; a killed run's scratch directory is removed at the start.
 * Environment: CRI_BENCH_N (rounds, default 30).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, rmdirSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cleanupStale, Containerd, REFERENCE_DIR } from '../test/integration/cri/containerd.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const PIPEWORK = join(ROOT, 'bin/pipework');
const N = Number(process.env['CRI_BENCH_N'] ?? 30);
const WARMUP = 2;
const RECORDS = '/var/lib/cni/pipework';
const log = (m: string) => process.stderr.write(`bench: ${m}\n`);

interface Scenario {
  key: 'ref' | 'daemon' | 'cold';
  label: string;
  handler: string;
  network: string;
  bridge: string;
  type: string;
  subnet: string;
}

const SCENARIOS: Scenario[] = [
  { key: 'ref', label: 'reference `bridge` + host-local', handler: 'tcrb-ref', network: 'tcrb-ref', bridge: 'tcr-bref', type: 'bridge', subnet: '10.173.10.0/24' },
  { key: 'daemon', label: 'pipework, resident daemon', handler: 'tcrb-dmn', network: 'tcrb-dmn', bridge: 'tcr-bdmn', type: 'pipework', subnet: '10.173.11.0/24' },
  { key: 'cold', label: 'pipework, no daemon (Node per request)', handler: 'tcrb-cold', network: 'tcrb-cold', bridge: 'tcr-bcold', type: 'pipework-cold', subnet: '10.173.12.0/24' },
];

function stats(xs: number[]): { median: number; mean: number; p90: number; n: number } {
  const s = [...xs].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN;
  return { median: at(0.5), mean: s.reduce((a, b) => a + b, 0) / Math.max(1, s.length), p90: at(0.9), n: s.length };
}

const fmt = (ms: number) => (Number.isNaN(ms) ? '–' : ms.toFixed(1));
const load = () => loadavg().map((x) => x.toFixed(2)).join(' ');

function removeOurLinksAndRecords(): void {
  for (const s of SCENARIOS) spawnSync('ip', ['link', 'del', s.bridge], { stdio: 'ignore' });
  if (!existsSync(RECORDS)) return;
  for (const n of readdirSync(RECORDS).filter((x) => x.startsWith('tcrb-'))) {
    try {
      rmdirSync(join(RECORDS, n));
    } catch {
      log(`${join(RECORDS, n)} is not empty: left as it is`);
    }
  }
}

async function timed<T>(f: () => Promise<T>): Promise<[number, T]> {
  const t = performance.now();
  const v = await f();
  return [performance.now() - t, v];
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('run as root');
  if (!existsSync(join(REFERENCE_DIR, 'bridge'))) throw new Error(`${REFERENCE_DIR}/bridge is missing: apt-get install containernetworking-plugins`);
  for (const k of await cleanupStale('tcr-bench')) log(`a killed run's directory is still in use, left: ${k}`);
  removeOurLinksAndRecords();

  let cx: Containerd | undefined;
  let daemon: ChildProcess | undefined;
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    if (daemon !== undefined && daemon.exitCode === null) {
      const d = daemon;
      d.kill('SIGTERM');
      await new Promise((r) => (d.exitCode !== null ? r(null) : d.once('exit', r)));
    }
    await cx?.stop().catch((e: unknown) => log(`stopping containerd: ${e instanceof Error ? e.message : String(e)}`));
    removeOurLinksAndRecords();
  };
  process.once('SIGINT', () => {
    log('interrupted: cleaning up');
    void stop().then(() => process.exit(130));
  });

  try {
    log('starting containerd');
    cx = await Containerd.start('tcr-bench', {
      launchers: (c) => ({ 'pipework-cold': join(c.dir, 'run', 'nobody-listens.sock') }),
      networks: (c) => {
        const conflist = (s: Scenario) => ({
          cniVersion: '1.0.0',
          name: s.network,
          plugins: [{ type: s.type, bridge: s.bridge, isGateway: true, ipam: { type: 'host-local', dataDir: c.ipamDir, ranges: [[{ subnet: s.subnet }]], routes: [{ dst: '0.0.0.0/0' }] } }],
        });
        // The default handler needs a network for containerd to say it is ready; no pod uses it.
        return { runc: conflist(SCENARIOS[0]!), ...Object.fromEntries(SCENARIOS.map((s) => [s.handler, conflist(s)])) };
      },
    });
    const c = cx;
    log(`starting pipework cni daemon on ${c.daemonSocket}`);
    const d = spawn(process.execPath, [PIPEWORK, 'cni', 'daemon', '--socket', c.daemonSocket], { stdio: ['ignore', 'ignore', 'pipe'] });
    daemon = d;
    let dlog = '';
    d.stderr.on('data', (b: Buffer) => {
      dlog += b.toString();
    });
    for (let i = 0; i < 400 && !dlog.includes('serving'); i++) await new Promise((r) => setTimeout(r, 50));
    if (!dlog.includes('serving')) throw new Error(`the daemon did not start: ${dlog}`);

    const version = await c.client.version();
    const loadBefore = load();
    const run = new Map<string, number[]>();
    const del = new Map<string, number[]>();
    log(`${WARMUP} warm-up rounds, then ${N} timed rounds of ${SCENARIOS.length} pods`);
    for (let r = 0; r < WARMUP + N; r++) {
      const order = SCENARIOS.map((_, i) => SCENARIOS[(i + r) % SCENARIOS.length]!);
      const ids: [Scenario, string][] = [];
      for (const s of order) {
        const [ms, pod] = await timed(() => c.pod(`tcrb-${s.key}-${r}`, { handler: s.handler }));
        if (!pod.ip.startsWith(s.subnet.split('.').slice(0, 3).join('.'))) throw new Error(`${s.label}: the pod got ${pod.ip}, not an address of ${s.subnet}`);
        ids.push([s, pod.id]);
        if (r >= WARMUP) run.set(s.key, [...(run.get(s.key) ?? []), ms]);
      }
      for (const [s, id] of ids) {
        const [ms] = await timed(() => c.removePod(id));
        if (r >= WARMUP) del.set(s.key, [...(del.get(s.key) ?? []), ms]);
      }
      if ((r + 1) % 10 === 0) log(`round ${r + 1 - WARMUP}/${N}`);
    }
    const served = dlog.split('\n').filter((l) => / ADD [0-9a-f]{12} eth0: ok /u.test(l)).length;
    if (served < N) throw new Error(`the daemon served ${served} ADDs, fewer than the ${N} rounds: was it used?\n${dlog.slice(-2000)}`);

    const ca = process.env['NODE_EXTRA_CA_CERTS'];
    const refRun = stats(run.get('ref') ?? []).median;
    const refDel = stats(del.get('ref') ?? []).median;
    const out: string[] = [];
    out.push(`### The kubelet's path: RunPodSandbox through containerd's CRI, pipework vs the reference bridge plugin (${N} rounds, interleaved)`, '');
    out.push(`containerd ${version.runtimeVersion} (CRI ${version.runtimeApiVersion}), Node ${process.version}, ${cpus().length} CPUs; load average ${loadBefore} before the timed rounds, ${load()} after; NODE_EXTRA_CA_CERTS ${ca !== undefined ? `was set (${ca}) in the environment containerd and its plugins inherit — the launcher starts Node without it` : 'was not set'}.`, '');
    out.push('| scenario | RunPodSandbox median ms | mean | p90 | ×ref (median) | Stop+Remove median ms | mean | p90 | ×ref (median) |', '|---|---:|---:|---:|---:|---:|---:|---:|---:|');
    for (const s of SCENARIOS) {
      const a = stats(run.get(s.key) ?? []);
      const b = stats(del.get(s.key) ?? []);
      out.push(`| ${s.label} | ${fmt(a.median)} | ${fmt(a.mean)} | ${fmt(a.p90)} | ${(a.median / refRun).toFixed(2)} | ${fmt(b.median)} | ${fmt(b.mean)} | ${fmt(b.p90)} | ${(b.median / refDel).toFixed(2)} |`);
    }
    const ratio = (k: Scenario['key']) => stats(run.get(k) ?? []).median / refRun;
    out.push('');
    out.push(`- Target (issue 21): RunPodSandbox with the daemon ≤ 1.0× the reference: ${ratio('daemon').toFixed(2)}× → ${ratio('daemon') <= 1.0 ? 'MET' : 'NOT MET'}`);
    out.push(`- Target (issue 21): RunPodSandbox with Node per request ≤ 1.5× the reference: ${ratio('cold').toFixed(2)}× → ${ratio('cold') <= 1.5 ? 'MET' : 'NOT MET'}`);
    process.stdout.write(`${out.join('\n')}\n`);
  } finally {
    await stop();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exitCode = 1;
});
