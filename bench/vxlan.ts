/**
 * Latency across a VXLAN overlay beside a plain bridge, in one run (issue 15):
 *
 *   overlay   two guests on two hosts, one VXLAN network between them: the hosts are network
 *             namespaces tvb-h1 and tvb-h2 joined by an underlay veth pair (10.198.0.1/.2), each
 *             applying its part of one file with `pipework apply FILE --host hN` inside it
 *   bridge    two guests on one Linux bridge of one host (a one-host file applied in tvb-h1)
 *
 * Each path: PINGS echoes 10 ms apart (`ping -i 0.01`), rounds alternating which path goes
 * first; it prints a markdown table of the median, 90th percentile and minimum RTT and the loss,
 * and whether NODE_EXTRA_CA_CERTS was set (it slows every pipework start, not the pings).
 * About 10 s in all by default.
 *
 * Runs as root: `npm run build && node build/bench/vxlan.js`. Everything it makes is named tvb…
 * (netns tvb-…, bridges br-tvb…); removed at the end, on Ctrl-C, and (left over from a killed
 * run) at the start. No traffic leaves these namespaces. BENCH_PINGS=200, BENCH_ROUNDS=2.
 */
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ok, run } from './lib.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const PIPEWORK = join(ROOT, 'bin/pipework');
const PINGS = Number(process.env['BENCH_PINGS'] ?? 200);
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 2);
const STATE_DIR = '/run/pipework/topology';

const inNs = (ns: string, argv: string[]) => ['ip', 'netns', 'exec', ns, ...argv];
const pipework = (host: string, args: string[]) => ok(inNs(host, [process.execPath, PIPEWORK, ...args]));

const OVERLAY = `name: tvb
hosts:
  h1: {underlay: 10.198.0.1}
  h2: {underlay: 10.198.0.2}
networks:
  ov: {bridge: br-tvbov, vxlan: {vni: 4242}}
guests:
  a: {netns: tvb-a, host: h1}
  b: {netns: tvb-b, host: h2}
links:
  - a ov 10.88.1.1/24
  - b ov 10.88.1.2/24
`;

const PLAIN = `name: tvbplain
networks:
  lan: {bridge: br-tvbp}
guests:
  p: {netns: tvb-p}
  q: {netns: tvb-q}
links:
  - p lan 10.88.2.1/24
  - q lan 10.88.2.2/24
`;

async function netnsList(): Promise<string[]> {
  const d = await run(['ip', 'netns', 'list']);
  return d.stdout.split('\n').map((l) => l.split(' ')[0]!).filter((n) => n !== '');
}

async function cleanup(): Promise<void> {
  for (const ns of (await netnsList()).filter((n) => n.startsWith('tvb-'))) await run(['ip', 'netns', 'del', ns]);
  try {
    for (const f of readdirSync(STATE_DIR)) if (f.startsWith('tvb@') || f.startsWith('tvbplain')) rmSync(`${STATE_DIR}/${f}`, { force: true });
  } catch {
    // no state
  }
}

/** RTTs (ms) of PINGS echoes, and how many were lost. */
async function pings(ns: string, to: string): Promise<{ rtts: number[]; lost: number }> {
  const d = await run(inNs(ns, ['ping', '-n', '-c', String(PINGS), '-i', '0.01', '-W', '1', to]));
  const rtts = [...d.stdout.matchAll(/time=([\d.]+) ms/gu)].map((m) => Number(m[1]));
  return { rtts, lost: PINGS - rtts.length };
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('run as root');
  await cleanup();
  const dir = mkdtempSync(join(tmpdir(), 'tvb-'));
  const stop = () => {
    void cleanup().finally(() => process.exit(130));
  };
  process.on('SIGINT', stop);
  try {
    for (const h of ['tvb-h1', 'tvb-h2', 'tvb-a', 'tvb-b', 'tvb-p', 'tvb-q']) {
      await ok(['ip', 'netns', 'add', h]);
      await ok(['ip', '-n', h, 'link', 'set', 'lo', 'up']);
    }
    await ok(['ip', '-n', 'tvb-h1', 'link', 'add', 'tvbu1', 'type', 'veth', 'peer', 'name', 'tvbu2', 'netns', 'tvb-h2']);
    for (const n of [1, 2]) {
      await ok(['ip', '-n', `tvb-h${n}`, 'addr', 'add', `10.198.0.${n}/24`, 'dev', `tvbu${n}`]);
      await ok(['ip', '-n', `tvb-h${n}`, 'link', 'set', `tvbu${n}`, 'up']);
    }
    const overlay = join(dir, 'overlay.yaml');
    const plain = join(dir, 'plain.yaml');
    writeFileSync(overlay, OVERLAY);
    writeFileSync(plain, PLAIN);
    await pipework('tvb-h1', ['apply', overlay, '--host', 'h1']);
    await pipework('tvb-h2', ['apply', overlay, '--host', 'h2']);
    await pipework('tvb-h1', ['apply', plain]);
    // Warm up (ARP, FDB) before the clock.
    await run(inNs('tvb-a', ['ping', '-n', '-c', '3', '-i', '0.2', '-W', '1', '10.88.1.2']));
    await run(inNs('tvb-p', ['ping', '-n', '-c', '3', '-i', '0.2', '-W', '1', '10.88.2.2']));
    const results = { overlay: { rtts: [] as number[], lost: 0 }, bridge: { rtts: [] as number[], lost: 0 } };
    for (let r = 0; r < ROUNDS; r++) {
      const order: ('overlay' | 'bridge')[] = r % 2 === 0 ? ['overlay', 'bridge'] : ['bridge', 'overlay'];
      for (const which of order) {
        const got = which === 'overlay' ? await pings('tvb-a', '10.88.1.2') : await pings('tvb-p', '10.88.2.2');
        results[which].rtts.push(...got.rtts);
        results[which].lost += got.lost;
      }
    }
    const row = (name: string, what: string, x: { rtts: number[]; lost: number }) => {
      const s = [...x.rtts].sort((a, b) => a - b);
      return `| ${name} | ${what} | ${quantile(s, 0.5).toFixed(3)} | ${quantile(s, 0.9).toFixed(3)} | ${(s[0] ?? Number.NaN).toFixed(3)} | ${x.lost}/${x.rtts.length + x.lost} |`;
    };
    const overlayMed = quantile([...results.overlay.rtts].sort((a, b) => a - b), 0.5);
    const bridgeMed = quantile([...results.bridge.rtts].sort((a, b) => a - b), 0.5);
    const lines = [
      `# pipework VXLAN latency: ${ROUNDS} rounds x ${PINGS} pings at 10 ms, alternating order`,
      `NODE_EXTRA_CA_CERTS: ${process.env['NODE_EXTRA_CA_CERTS'] !== undefined ? 'set' : 'not set'} (it slows pipework's start only, not the pings)`,
      '',
      '| path | what | median RTT ms | p90 ms | min ms | lost |',
      '|---|---|---|---|---|---|',
      row('overlay', 'guest → bridge → VXLAN → veth underlay → VXLAN → bridge → guest', results.overlay),
      row('bridge', 'guest → bridge → guest (one host)', results.bridge),
      '',
      `overlay / bridge (median): ${(overlayMed / bridgeMed).toFixed(2)}x`,
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    await run(inNs('tvb-h1', [process.execPath, PIPEWORK, 'destroy', join(dir, 'plain.yaml')]));
    for (const h of ['h1', 'h2']) await run(inNs(`tvb-${h}`, [process.execPath, PIPEWORK, 'destroy', join(dir, 'overlay.yaml'), '--host', h]));
    await cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
