// The network-level drivers (src/drivers/network/) on a real host, as root: a bridge a CNI network
// makes when missing gets the network's MTU, set so it holds once its ports are gone; a topology's
// Open vSwitch bridge gets its network's MTU too; two runs making one missing bridge at the same
// moment (the classic line twice, the classic line and a CNI ADD or a topology's apply) both
// succeed and their guests reach each other.
//
// Names: netns, links and bridges `tnd…`/`br-tnd…`/`ovs-tnd…`, CNI networks `tnd…`, topology
// `tndovs`/`tndrace`; addresses in 10.171.0.0/16 inside our own netns only.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { addNetns, delLink, delNetns, getLink, listNetns, ping } from './helpers/netns.js';
import { runPipework, sh } from './helpers/run.js';
import { RECORDS, runOurs, scratch } from './cni-env.js';
import { write } from './topology-lib.js';

const tmp = scratch('tnd');
const IPAM = join(tmp.dir, 'ipam');
const NETNS = ['tnd-c1', 'tnd-c2'];
// (tnd-r1 is the topology's own netns, made and removed by it.)
const BRIDGES = ['br-tnd1', 'br-tnd2', 'br-tnd3'];
const OVS = 'ovs-tnd1';
const ovsWorks = (await sh(['ovs-vsctl', '--timeout=5', 'show'], { timeoutMs: 10_000 })).code === 0;

function net(name: string, bridge: string, subnet: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { cniVersion: '1.0.0', name, type: 'pipework', bridge, ...extra, ipam: { type: 'host-local', dataDir: IPAM, ranges: [[{ subnet }]] } };
}

function cni(command: string, id: string, netns: string, conf: Record<string, unknown>) {
  return runOurs({ command, containerId: id, netns: `/run/netns/${netns}`, ifname: 'eth1', conf });
}

function mtuOf(link: string): number | undefined {
  try {
    return Number(readFileSync(`/sys/class/net/${link}/mtu`, 'utf8'));
  } catch {
    return undefined;
  }
}

async function cleanup(): Promise<void> {
  for (const n of (await listNetns()).filter((x) => x.startsWith('tnd'))) await delNetns(n);
  for (const b of BRIDGES) await delLink(b);
  if (ovsWorks) await sh(['ovs-vsctl', '--timeout=10', '--if-exists', 'del-br', OVS], { timeoutMs: 15_000 });
  for (const n of ['tndmtu', 'tndrace']) rmSync(join(RECORDS, n), { recursive: true, force: true });
  for (const f of ['tndovs', 'tndrace']) rmSync(`/run/pipework/topology/${f}.json`, { force: true });
}

void describe('network drivers on a real host', () => {
  before(cleanup);
  after(async () => {
    await cleanup();
    tmp.dispose();
  });

  void test('a bridge a CNI network makes gets the network\'s MTU, and keeps it once its ports are gone', async () => {
    for (const n of NETNS) await addNetns(n);
    const conf = net('tndmtu', 'br-tnd1', '10.171.1.0/24', { mtu: 1400 });
    assert.equal(await getLink('br-tnd1'), undefined);
    for (const [i, n] of NETNS.entries()) {
      const r = await cni('ADD', `tndm${i}`, n, conf);
      assert.equal(r.code, 0, r.stdout + r.stderr);
    }
    assert.equal(mtuOf('br-tnd1'), 1400);
    assert.equal((await getLink('eth1', 'tnd-c1'))?.mtu, 1400);
    const other = /inet (10\.171\.1\.\d+)/u.exec((await sh(['ip', '-n', 'tnd-c2', '-4', '-o', 'addr', 'show', 'dev', 'eth1'])).stdout)?.[1];
    assert.ok(other !== undefined, 'tnd-c2 got an address');
    assert.ok(await ping('tnd-c1', other), `tnd-c1 reaches tnd-c2 (${other})`);
    for (const [i, n] of NETNS.entries()) assert.equal((await cni('DEL', `tndm${i}`, n, conf)).code, 0);
    // DEL leaves the bridge (as the reference plugin does): empty now, and still at the network's
    // MTU — a bridge only made with an MTU goes back to 1500 when its last port leaves.
    assert.deepEqual(readdirSync('/sys/class/net/br-tnd1/brif'), []);
    assert.equal(mtuOf('br-tnd1'), 1400);
    await delLink('br-tnd1');
    for (const n of NETNS) await delNetns(n);
  });

  void test('two runs making one missing bridge at the same moment both succeed, and their guests talk', { timeout: 300_000 }, async () => {
    const topo = write(tmp.dir, 'tndrace.yaml', 'name: tndrace\nnetworks:\n  lan: {bridge: br-tnd2}\nguests:\n  r: {netns: tnd-r1}\nlinks:\n  - r lan 10.171.2.1/24\n');
    const race = net('tndrace', 'br-tnd2', '10.171.2.0/24');
    for (let round = 0; round < 6; round++) {
      // The classic line against itself, against a CNI ADD, and against a topology's apply.
      const kind = (['classic', 'cni', 'topology'] as const)[round % 3]!;
      for (const n of NETNS) await addNetns(n);
      const first = kind === 'topology' ? runPipework(['apply', topo], { timeoutMs: 60_000 }) : runPipework(['br-tnd2', 'tnd-c1', '10.171.2.1/24'], { timeoutMs: 60_000 });
      // (host-local hands out .2 first: the first guest has .1.)
      const second = kind === 'cni' ? cni('ADD', `tndr${round}`, 'tnd-c2', race) : runPipework(['br-tnd2', 'tnd-c2', '10.171.2.2/24'], { timeoutMs: 60_000 });
      const [r1, r2] = await Promise.all([first, second]);
      assert.equal(r1.code, 0, `round ${round} (${kind}), first: ${r1.stderr}`);
      assert.equal(r2.code, 0, `round ${round} (${kind}), second: ${r2.stdout}${r2.stderr}`);
      assert.equal((await getLink('br-tnd2'))?.linkinfo?.info_kind, 'bridge');
      const other = /inet (10\.171\.2\.\d+)/u.exec((await sh(['ip', '-n', 'tnd-c2', '-4', '-o', 'addr', 'show', 'dev', 'eth1'])).stdout)?.[1];
      assert.ok(other !== undefined && other !== '10.171.2.1', `round ${round}: tnd-c2 has its address`);
      assert.ok(await ping(kind === 'topology' ? 'tnd-r1' : 'tnd-c1', other), `round ${round} (${kind}): the guests reach each other over the bridge both made`);
      if (kind === 'cni') assert.equal((await cni('DEL', `tndr${round}`, 'tnd-c2', race)).code, 0);
      if (kind === 'topology') {
        // The topology owns the bridge only if it found none when it planned (then it made it, or
        // took the one the other run made that moment, and marked it). Either way destroy leaves
        // it: the other run's port is in it.
        const marked = readFileSync('/sys/class/net/br-tnd2/ifalias', 'utf8').trim() === 'pipework-topology:tndrace';
        const d = await runPipework(['destroy', topo], { timeoutMs: 60_000 });
        assert.equal(d.code, 0, d.stderr);
        if (marked) assert.match(d.stdout, /kept br-tnd2 \(ports .* are not this topology's\)/u, d.stdout);
        else assert.doesNotMatch(d.stdout, /br-tnd2/u, d.stdout);
        assert.equal((await getLink('br-tnd2'))?.linkinfo?.info_kind, 'bridge');
      }
      for (const n of NETNS) await delNetns(n);
      await delLink('br-tnd2');
    }
  });

  void test('a topology\'s Open vSwitch bridge gets its network\'s MTU', { skip: !ovsWorks && 'Open vSwitch is not running' }, async () => {
    const file = write(tmp.dir, 'tndovs.yaml', `name: tndovs\nnetworks:\n  sw: {ovs: ${OVS}, mtu: 1400}\nguests:\n  a: {netns: tnd-o1}\n  b: {netns: tnd-o2}\nlinks:\n  - a sw 10.171.3.1/24\n  - b sw 10.171.3.2/24\n`);
    const r = await runPipework(['apply', file], { timeoutMs: 120_000 });
    assert.equal(r.code, 0, r.stderr);
    try {
      const mtu = (await sh(['ovs-vsctl', '--timeout=5', 'get', 'Interface', OVS, 'mtu_request'], { timeoutMs: 10_000 })).stdout.trim();
      assert.equal(mtu, '1400');
      assert.equal((await getLink('eth1', 'tnd-o1'))?.mtu, 1400);
      assert.ok(await ping('tnd-o1', '10.171.3.2'));
    } finally {
      const d = await runPipework(['destroy', file], { timeoutMs: 120_000 });
      assert.equal(d.code, 0, d.stderr);
    }
    assert.equal((await sh(['ovs-vsctl', '--timeout=5', 'br-exists', OVS], { timeoutMs: 10_000 })).code, 2, 'destroy removed it');
  });
});
