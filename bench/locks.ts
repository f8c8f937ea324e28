/**
 * `node build/bench/locks.js` (as root, after `npm run build`): how long CNI ADDs wait for other
 * pipework runs on the same host (issue 19 item 1). 20 ADDs at once on one bridge, through the
 * resident daemon (our compiled launcher), alone and while a topology apply of 100 netns guests
 * on another bridge runs — the two interleaved round by round in one run, so load hits both
 * alike. Each ADD is timed by the bash that starts it ($EPOCHREALTIME around the exec). Prints a
 * markdown table (median and p95 of an ADD's wall time, the apply's own time) and cleans up
 * (netns lkb-*, bridges br-lkb*, the daemon it started, by PID).
 *
 * Environment: LOCK_BENCH_ROUNDS (default 5), LOCK_BENCH_ADDS (default 20), LOCK_BENCH_GUESTS
 * (default 100); BENCH_BEFORE=<another checkout>/bin/pipework measures that build instead (the
 * same rounds, for a table before and after a change).
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const PIPEWORK = process.env['BENCH_BEFORE'] ?? join(ROOT, 'bin/pipework');
const ROUNDS = Number(process.env['LOCK_BENCH_ROUNDS'] ?? 5);
const ADDS = Number(process.env['LOCK_BENCH_ADDS'] ?? 20);
const GUESTS = Number(process.env['LOCK_BENCH_GUESTS'] ?? 100);
const log = (m: string) => process.stderr.write(`bench: ${m}\n`);

function sh(argv: string[], input?: string): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(argv[0]!, argv.slice(1), { input, encoding: 'utf8', timeout: 600_000 });
  return { code: r.status ?? 1, stdout: r.stdout, stderr: r.stderr };
}

function must(argv: string[]): string {
  const r = sh(argv);
  if (r.code !== 0) throw new Error(`${argv.join(' ')}: ${r.stderr.trim()}`);
  return r.stdout;
}

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN;
}

function cleanup(): void {
  for (const n of readdirSync('/var/run/netns').filter((x) => x.startsWith('lkb-'))) sh(['ip', 'netns', 'del', n]);
  for (const b of ['br-lkb1', 'br-lkb2']) sh(['ip', 'link', 'del', b]);
  rmSync('/var/lib/cni/pipework/lkbench', { recursive: true, force: true });
  rmSync('/run/pipework/topology/lkb-topo.json', { force: true });
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('run as root');
  cleanup();
  const dir = mkdtempSync(join(tmpdir(), 'lkb-'));
  const bin = join(dir, 'bin');
  const socket = join(dir, 'run', 'cni.sock');
  must([process.execPath, PIPEWORK, 'cni', 'install', '--dir', bin, '--socket', socket]);
  const daemon = spawn(process.execPath, [PIPEWORK, 'cni', 'daemon', '--socket', socket], { stdio: ['ignore', 'ignore', 'ignore'] });
  try {
    for (let i = 0; i < 200 && !existsSync(socket); i++) await new Promise((r) => setTimeout(r, 50));
    const conf = JSON.stringify({
      cniVersion: '1.0.0', name: 'lkbench', type: 'pipework', bridge: 'br-lkb1',
      ipam: { type: 'host-local', subnet: '10.167.0.0/16', dataDir: join(dir, 'ipam') },
    });
    writeFileSync(join(dir, 'conf.json'), conf);
    const cniNs = Array.from({ length: ADDS }, (_, i) => `lkb-c${i}`);
    for (const n of cniNs) must(['ip', 'netns', 'add', n]);
    const topo = join(dir, 'topo.yaml');
    writeFileSync(topo, `name: lkb-topo\nnetworks:\n  lan: {bridge: br-lkb2}\nguests:\n${
      Array.from({ length: GUESTS }, (_, i) => `  g${i}: {netns: lkb-t${i}}`).join('\n')}\nlinks:\n${
      Array.from({ length: GUESTS }, (_, i) => `  - g${i} lan 10.168.${Math.floor(i / 200)}.${(i % 200) + 1}/16`).join('\n')}\n`);
    // Every ADD of a round at once, each timed by its own bash; optionally a topology apply started first.
    const script = join(dir, 'round.sh');
    writeFileSync(script, `#!/bin/bash
# $1: "apply" to start the topology apply first; prints "add <ms>" per ADD and "apply <ms>".
if [ "$1" = apply ]; then
  ( s=$EPOCHREALTIME; ${JSON.stringify(process.execPath)} ${JSON.stringify(PIPEWORK)} apply ${JSON.stringify(topo)} >/dev/null 2>&1 || echo FAILED apply >&2; e=$EPOCHREALTIME; echo "apply $s $e" ) &
  sleep 0.15
fi
for i in $(seq 0 ${ADDS - 1}); do
  ( s=$EPOCHREALTIME; CNI_COMMAND=ADD CNI_CONTAINERID=lkb$i CNI_NETNS=/var/run/netns/lkb-c$i CNI_IFNAME=eth0 CNI_PATH=/usr/lib/cni ${JSON.stringify(join(bin, 'pipework'))} <${JSON.stringify(join(dir, 'conf.json'))} >/dev/null 2>&1 || echo "FAILED add $i" >&2; e=$EPOCHREALTIME; echo "add $s $e" ) &
done
wait
`);
    const del = () => {
      for (let i = 0; i < ADDS; i++) {
        spawnSync(join(bin, 'pipework'), [], {
          input: conf, env: { ...process.env, CNI_COMMAND: 'DEL', CNI_CONTAINERID: `lkb${i}`, CNI_NETNS: `/var/run/netns/lkb-c${i}`, CNI_IFNAME: 'eth0', CNI_PATH: '/usr/lib/cni' },
        });
      }
    };
    const results = { alone: [] as number[], busy: [] as number[], apply: [] as number[] };
    for (let r = 0; r < ROUNDS; r++) {
      for (const mode of ['alone', 'busy'] as const) {
        const out = sh(['bash', script, mode === 'busy' ? 'apply' : 'none']);
        if (out.stderr.includes('FAILED')) throw new Error(`round ${r} ${mode}: ${out.stderr.trim().split('\n').slice(0, 3).join('; ')}`);
        for (const l of out.stdout.trim().split('\n')) {
          const [what, a, b] = l.split(' ');
          const ms = (Number(b) - Number(a)) * 1000;
          if (what === 'add') results[mode].push(ms);
          else if (what === 'apply') results.apply.push(ms);
        }
        del();
        if (mode === 'busy') must([process.execPath, PIPEWORK, 'destroy', topo]);
      }
      log(`round ${r + 1}/${ROUNDS} done`);
    }
    const row = (name: string, xs: number[]) => `| ${name} | ${xs.length} | ${quantile(xs, 0.5).toFixed(0)} | ${quantile(xs, 0.95).toFixed(0)} | ${(quantile(xs, 0.95) / quantile(xs, 0.5)).toFixed(2)}× |`;
    process.stdout.write([
      `## ${ADDS} CNI ADDs at once through the daemon, alone and beside a ${GUESTS}-guest topology apply`,
      '',
      `pipework: ${PIPEWORK}; Node ${process.version}; NODE_EXTRA_CA_CERTS ${process.env['NODE_EXTRA_CA_CERTS'] !== undefined ? 'set' : 'not set'} (the daemon's Node was started once); load average ${loadavg()[0]!.toFixed(2)}; ${ROUNDS} rounds, interleaved.`,
      '',
      '| ADDs | n | median ms | p95 ms | p95 / median |',
      '| --- | --- | --- | --- | --- |',
      row('alone', results.alone),
      row(`beside the apply`, results.busy),
      '',
      `The apply itself: median ${quantile(results.apply, 0.5).toFixed(0)} ms.`,
      '',
    ].join('\n'));
  } finally {
    daemon.kill('SIGTERM');
    cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
  cleanup();
  process.exitCode = 1;
});
