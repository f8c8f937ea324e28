// What the CRI tests check on the host and in the pods: traffic (ping and TCP, entering a pod's
// network namespace by the path containerd reports, `nsenter --net=PATH`), and what one CNI
// network leaves on the host once its pods are gone: host-local leases, host ends (links whose
// alias is a pipework record owned by the network), Open vSwitch rows, pipework's records and
// iptables nat rules naming the network.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { decodeRecord } from '../../../src/model/record.js';
import { hostLocalLeases, RECORDS } from '../cni-env.js';
import { ipJson } from '../helpers/netns.js';
import { sh, sleep } from '../helpers/run.js';

/** argv run inside the network namespace at `netns` (a path), nothing else entered. */
export function inPod(netns: string, argv: string[]): string[] {
  return ['nsenter', `--net=${netns}`, '--', ...argv];
}

/** One echo from the pod at `netns` to `addr`, retried for `retryMs`. */
export async function podPings(netns: string, addr: string, retryMs = 2_000): Promise<boolean> {
  const deadline = Date.now() + retryMs;
  for (;;) {
    const r = await sh(inPod(netns, ['ping', '-4', '-n', '-c', '1', '-W', '1', addr]), { timeoutMs: 5_000 });
    if (r.code === 0) return true;
    if (Date.now() >= deadline) return false;
    await sleep(200);
  }
}

/** A TCP listener in a pod answering every connection with `reply` (busybox nc), stopped by PID. */
export interface PodListener {
  stop(): Promise<void>;
}

export async function podListener(netns: string, port: number, reply: string): Promise<PodListener> {
  const child: ChildProcess = spawn('nsenter', [`--net=${netns}`, '--', 'busybox', 'nc', '-ll', '-p', String(port), '-e', '/bin/busybox', 'echo', reply], {
    stdio: 'ignore',
    detached: true,
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  // Listening once `ss` in the pod shows the port (at most 5 s).
  const deadline = Date.now() + 5_000;
  for (;;) {
    const r = await sh(inPod(netns, ['ss', '-Hltn', `sport = :${port}`]), { timeoutMs: 5_000 });
    if (r.stdout.trim() !== '') break;
    if (child.exitCode !== null || Date.now() > deadline) {
      if (child.exitCode === null && child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      throw new Error(`the listener on port ${port} in ${netns} did not start`);
    }
    await sleep(50);
  }
  return {
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
        try {
          process.kill(-child.pid, 'SIGKILL'); // its group: nc and the children it forked
        } catch {
          // gone
        }
      }
      await exited;
    },
  };
}

/** Connect from the host to host:port and read until the peer closes (at most timeoutMs). */
export function tcpRead(host: string, port: number, timeoutMs = 3_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ host, port });
    const chunks: Buffer[] = [];
    const t = setTimeout(() => {
      s.destroy();
      reject(new Error(`no answer from ${host}:${port} within ${timeoutMs} ms`));
    }, timeoutMs);
    s.on('data', (b: Buffer) => chunks.push(b));
    s.on('error', (e) => {
      clearTimeout(t);
      reject(e);
    });
    s.on('close', () => {
      clearTimeout(t);
      resolve(Buffer.concat(chunks).toString('utf8'));
    });
    s.end();
  });
}

/** Host links whose alias is a pipework record (`pipework/1;…`) owned by `network`. */
export async function hostEnds(network: string): Promise<string[]> {
  const links = (await ipJson(['link', 'show'])) as { ifname: string; ifalias?: string }[];
  return links.filter((l) => l.ifalias?.startsWith('pipework/1;') === true && decodeRecord(l.ifalias)?.owner?.startsWith(`cni:${network}/`) === true)
    .map((l) => l.ifname).sort();
}

/** Open vSwitch interfaces whose pipework.owner is an attachment of `network`. */
export async function ovsRows(network: string): Promise<string[]> {
  if (!existsSync('/var/run/openvswitch/db.sock')) return [];
  const r = await sh(['ovs-vsctl', '--timeout=5', '--format=json', '--columns=name,external_ids', 'list', 'Interface'], { timeoutMs: 10_000 });
  if (r.code !== 0) throw new Error(`ovs-vsctl list Interface: ${r.stderr}`);
  const table = JSON.parse(r.stdout) as { data: [string, ['map', [string, string][]]][] };
  return table.data.filter(([, ids]) => ids[1].some(([k, v]) => k === 'pipework.owner' && v.startsWith(`cni:${network}/`))).map(([name]) => name).sort();
}

/** pipework's records of `network` (files under /var/lib/cni/pipework/<network>/). */
export function recordFiles(network: string): string[] {
  const root = join(RECORDS, network);
  const out: string[] = [];
  const walk = (d: string, rel: string) => {
    for (const e of readdirSync(d)) {
      const p = join(d, e);
      if (statSync(p).isDirectory()) walk(p, `${rel}${e}/`);
      else out.push(`${rel}${e}`);
    }
  };
  if (existsSync(root)) walk(root, '');
  return out.sort();
}

/** iptables/ip6tables nat rules whose comment names `network` (pipework's ipMasq, portmap's DNAT). */
export async function natRules(network: string): Promise<string[]> {
  const out: string[] = [];
  for (const tool of ['iptables', 'ip6tables']) {
    const r = await sh([tool, '-w', '-t', 'nat', '-S'], { timeoutMs: 10_000 });
    out.push(...r.stdout.split('\n').filter((l) => l.includes(`name: \\"${network}\\"`)));
  }
  return out;
}

export interface Leftovers {
  leases: string[];
  hostEnds: string[];
  ovsRows: string[];
  records: string[];
  nat: string[];
}

export async function leftovers(network: string, ipamDir: string): Promise<Leftovers> {
  return {
    leases: hostLocalLeases(ipamDir, network),
    hostEnds: await hostEnds(network),
    ovsRows: await ovsRows(network),
    records: recordFiles(network),
    nat: await natRules(network),
  };
}

export const NOTHING: Leftovers = { leases: [], hostEnds: [], ovsRows: [], records: [], nat: [] };

/** The nat table's rules (iptables -S), to find what a test added. */
export async function natTable(): Promise<string[]> {
  const r = await sh(['iptables', '-w', '-t', 'nat', '-S'], { timeoutMs: 10_000 });
  return r.stdout.split('\n').filter((l) => l !== '');
}

/** An `iptables -S` rule's words, a quoted comment kept as one word. */
export function ruleWords(rule: string): string[] {
  return [...rule.matchAll(/"((?:[^"\\]|\\.)*)"|(\S+)/gu)].map((m) => (m[1] !== undefined ? m[1].replace(/\\"/gu, '"') : m[2]!));
}

/**
 * Undo what the reference portmap plugin leaves in the nat table after its last DEL — its shared
 * CNI-HOSTPORT-* chains and the jumps to them — when they were not there `before`.
 */
export async function removeNewHostportChains(before: string[]): Promise<void> {
  const had = new Set(before);
  const now = await natTable();
  for (const l of now.filter((x) => !had.has(x) && x.startsWith('-A ') && / -j CNI-HOSTPORT-/u.test(x) && /^-A (PREROUTING|OUTPUT|POSTROUTING) /u.test(x))) {
    await sh(['iptables', '-w', '-t', 'nat', '-D', ...ruleWords(l.slice(3))], { timeoutMs: 10_000 });
  }
  for (const l of now.filter((x) => !had.has(x) && /^-N CNI-HOSTPORT-/u.test(x))) {
    const chain = l.slice(3);
    await sh(['iptables', '-w', '-t', 'nat', '-F', chain], { timeoutMs: 10_000 });
    await sh(['iptables', '-w', '-t', 'nat', '-X', chain], { timeoutMs: 10_000 });
  }
}
