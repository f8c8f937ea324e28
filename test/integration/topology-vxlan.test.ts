// VXLAN overlays across hosts, as root (issue 15): hosts simulated as network namespaces
// (tvx-h1, tvx-h2, later tvx-h3) on an underlay of their own (a bridge in tvx-ul; addresses only
// inside these namespaces), each running `pipework apply FILE --host hN` inside its namespace.
// Guests across hosts ping; two VNIs are isolated; the MTU is the underlay's minus 50; a host
// added to the file joins; destroying one host's part leaves the others'. Everything is named
// tvx…, made here and removed in after(); no traffic leaves these namespaces.
//
// The guests' netns are made here, not by apply: `ip netns exec` runs pipework in a mount
// namespace of its own (slave to ours, for its /sys), so a netns that apply made in there would
// be a mount only that run sees. On real hosts apply makes them as on one host.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, rmSync } from 'node:fs';
import { addNetns, delNetns, ip, ipJson, listNetns } from './helpers/netns.js';
import { pipeworkBin, sh, shOk, type RunResult } from './helpers/run.js';
import { ping, scratch, STATE_DIR, write } from './topology-lib.js';

const UNDERLAY_MTU = 1400;
const OVERLAY_MTU = UNDERLAY_MTU - 50;

function file(hosts: number): string {
  const extra = hosts >= 3;
  return `name: tvx
hosts:
  h1: {underlay: 10.199.0.1}
  h2: {underlay: 10.199.0.2}
${extra ? '  h3: {underlay: 10.199.0.3}\n' : ''}networks:
  ov1: {bridge: br-tvx1, vxlan: {vni: 100}}
  ov2: {bridge: br-tvx2, vxlan: {vni: 200, port: 4790}}
guests:
  a1: {netns: tvx-a1, host: h1}
  c1: {netns: tvx-c1, host: h1}
  b2: {netns: tvx-b2, host: h2}
  d2: {netns: tvx-d2, host: h2}
${extra ? '  e3: {netns: tvx-e3, host: h3}\n' : ''}links:
  - a1 ov1 10.77.1.1/24
  - b2 ov1 10.77.1.2/24
  - c1 ov2 10.77.1.3/24
  - d2 ov2 10.77.1.4/24
${extra ? '  - e3 ov1 10.77.1.5/24\n' : ''}`;
}

/** pipework inside a simulated host's namespace (it takes its own netns as the host). */
function on(host: string, args: string[]): Promise<RunResult> {
  return sh(['ip', 'netns', 'exec', `tvx-${host}`, process.execPath, pipeworkBin, ...args], { timeoutMs: 120_000, env: { PIPEWORK_FAIL_STEP: '' } });
}

async function onOk(host: string, args: string[]): Promise<RunResult> {
  const r = await on(host, args);
  assert.equal(r.code, 0, `pipework ${args.join(' ')} on ${host} failed (${r.code}):\n${r.stderr}${r.stdout}`);
  return r;
}

/** A simulated host: a netns with one underlay interface (a port of the underlay bridge). */
async function addHost(n: number): Promise<void> {
  const ns = `tvx-h${n}`;
  await delNetns(ns);
  await shOk(['ip', 'netns', 'add', ns]);
  await ip(['link', 'set', 'lo', 'up'], ns);
  await ip(['link', 'add', `tvxu${n}`, 'mtu', String(UNDERLAY_MTU), 'type', 'veth', 'peer', 'name', `tvxu${n}p`, 'netns', 'tvx-ul'], ns);
  await ip(['link', 'set', `tvxu${n}p`, 'mtu', String(UNDERLAY_MTU), 'master', 'br-tvxul', 'up'], 'tvx-ul');
  await ip(['addr', 'add', `10.199.0.${n}/24`, 'dev', `tvxu${n}`], ns);
  await ip(['link', 'set', `tvxu${n}`, 'up'], ns);
}

async function floods(host: string, dev: string): Promise<string[]> {
  const out = await shOk(['ip', 'netns', 'exec', `tvx-${host}`, 'bridge', '-json', 'fdb', 'show', 'dev', dev]);
  return (JSON.parse(out.trim() === '' ? '[]' : out) as { mac: string; dst?: string }[]).filter((e) => e.mac === '00:00:00:00:00:00' && e.dst).map((e) => e.dst!).sort();
}

async function cleanup(): Promise<void> {
  for (const ns of (await listNetns()).filter((n) => n.startsWith('tvx-'))) await delNetns(ns);
  try {
    for (const f of readdirSync(STATE_DIR)) if (f.startsWith('tvx@')) rmSync(`${STATE_DIR}/${f}`, { force: true });
  } catch {
    // no state dir
  }
}

void describe('topology: VXLAN overlays across hosts', () => {
  let dir: string;
  let path: string;
  before(async () => {
    await cleanup();
    dir = scratch();
    await shOk(['ip', 'netns', 'add', 'tvx-ul']);
    await ip(['link', 'add', 'br-tvxul', 'type', 'bridge'], 'tvx-ul');
    await ip(['link', 'set', 'br-tvxul', 'up'], 'tvx-ul');
    await addHost(1);
    await addHost(2);
    for (const g of ['a1', 'c1', 'b2', 'd2', 'e3']) await addNetns(`tvx-${g}`);
    path = write(dir, 'tvx.yaml', file(2));
  });
  after(async () => {
    for (const h of ['h1', 'h2', 'h3']) if ((await listNetns()).includes(`tvx-${h}`)) await on(h, ['destroy', path, '--host', h]);
    await cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  void test('each host applies its part; guests across hosts ping; a second apply has nothing to do', async () => {
    const dry = await onOk('h1', ['apply', path, '--host', 'h1', '--dry-run']);
    assert.match(dry.stdout, /type vxlan id 100 dstport 4789 local 10\.199\.0\.1 nolearning/u);
    assert.match(dry.stdout, /bridge fdb append 00:00:00:00:00:00 dev pwx100 dst 10\.199\.0\.2/u);
    assert.deepEqual(await ipJson(['link', 'show', 'type', 'vxlan'], 'tvx-h1'), [], 'a dry run changes nothing');
    await onOk('h1', ['apply', path, '--host', 'h1']);
    // No --host: the host whose underlay address is here.
    await onOk('h2', ['apply', path]);
    for (const h of ['h1', 'h2']) {
      const links = await ipJson(['-d', 'link', 'show', 'type', 'vxlan'], `tvx-${h}`) as { ifname: string; mtu: number; master?: string; ifalias?: string }[];
      assert.deepEqual(links.map((l) => [l.ifname, l.mtu, l.master]).sort(), [['pwx100', OVERLAY_MTU, 'br-tvx1'], ['pwx200', OVERLAY_MTU, 'br-tvx2']]);
      assert.ok(links.every((l) => l.ifalias === `pipework-topology:tvx@${h}`));
    }
    assert.deepEqual(await floods('h1', 'pwx100'), ['10.199.0.2']);
    assert.deepEqual(await floods('h2', 'pwx200'), ['10.199.0.1']);
    assert.ok(await ping('tvx-a1', '10.77.1.2'), 'a1 (h1) should reach b2 (h2) over VNI 100');
    assert.ok(await ping('tvx-d2', '10.77.1.3'), 'd2 (h2) should reach c1 (h1) over VNI 200');
    const again = await onOk('h1', ['apply', path, '--host', 'h1']);
    assert.match(again.stdout, /nothing to do/u);
    const inspect = await onOk('h1', ['inspect', path, '--host', 'h1']);
    assert.match(inspect.stdout, /vxlan pwx100 \(network ov1, VNI 100\): ok/u);
    assert.match(inspect.stdout, /peer h2 10\.199\.0\.2: reachable, FDB entry present/u);
  });

  void test('two VNIs never see each other', async () => {
    assert.equal(await ping('tvx-a1', '10.77.1.4', 2), false, 'a1 (VNI 100) must not reach d2 (VNI 200)');
    assert.equal(await ping('tvx-c1', '10.77.1.2', 2), false, 'c1 (VNI 200) must not reach b2 (VNI 100)');
  });

  void test('the MTU is the underlay\'s minus 50: a full packet with DF passes, one byte more does not', async () => {
    const mtu = (await ipJson(['link', 'show', 'dev', 'eth1'], 'tvx-a1') as { mtu: number }[])[0]!.mtu;
    assert.equal(mtu, OVERLAY_MTU);
    const full = await sh(['ip', 'netns', 'exec', 'tvx-a1', 'ping', '-n', '-c', '1', '-W', '1', '-M', 'do', '-s', String(OVERLAY_MTU - 28), '10.77.1.2'], { timeoutMs: 5_000 });
    assert.equal(full.code, 0, `a full-size packet should pass:\n${full.stdout}${full.stderr}`);
    const over = await sh(['ip', 'netns', 'exec', 'tvx-a1', 'ping', '-n', '-c', '1', '-W', '1', '-M', 'do', '-s', String(OVERLAY_MTU - 27), '10.77.1.2'], { timeoutMs: 5_000 });
    assert.notEqual(over.code, 0, 'one byte more than the MTU must not pass with DF set');
  });

  void test('bad input is refused before anything changes', async () => {
    // h1's part, asked on h2: its underlay address is not here.
    const wrong = await on('h2', ['apply', path, '--host', 'h1']);
    assert.notEqual(wrong.code, 0);
    assert.match(wrong.stderr, /tvx\.yaml:3:\d+: hosts\.h1\.underlay: 10\.199\.0\.1 is on no interface of this host/u);
    const bad = write(dir, 'bad.yaml', file(2).replace('vni: 200, port: 4790', 'vni: 100').replace('ov1: {bridge: br-tvx1,', 'ov1: {bridge: br-tvx1, mtu: 1400,'));
    const r = await on('h1', ['apply', bad, '--host', 'h1']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /networks\.ov2\.vxlan\.vni: VNI 100 is also network ov1's/u);
    const big = write(dir, 'big.yaml', file(2).replace('ov1: {bridge: br-tvx1,', 'ov1: {bridge: br-tvx1, mtu: 1400,'));
    const m = await on('h1', ['apply', big, '--host', 'h1']);
    assert.notEqual(m.code, 0);
    assert.match(m.stderr, /networks\.ov1\.mtu: MTU 1400 does not fit: the underlay tvxu1 has MTU 1400, less 50 for VXLAN over IPv4: at most 1350/u);
    assert.deepEqual(await floods('h1', 'pwx100'), ['10.199.0.2'], 'nothing changed');
  });

  void test('a third host added to the file joins; re-applies add its FDB entry once', async () => {
    await addHost(3);
    write(dir, 'tvx.yaml', file(3));
    for (const h of ['h1', 'h2']) {
      const r = await onOk(h, ['apply', path, '--host', h]);
      assert.match(r.stdout, /added peer h3 \(10\.199\.0\.3\) to pwx100/u);
    }
    await onOk('h3', ['apply', path, '--host', 'h3']);
    assert.deepEqual(await floods('h1', 'pwx100'), ['10.199.0.2', '10.199.0.3']);
    assert.deepEqual(await floods('h3', 'pwx100'), ['10.199.0.1', '10.199.0.2']);
    assert.ok(await ping('tvx-e3', '10.77.1.1'), 'e3 (h3) should reach a1 (h1)');
    assert.ok(await ping('tvx-e3', '10.77.1.2'), 'e3 (h3) should reach b2 (h2)');
    for (const h of ['h1', 'h2', 'h3']) assert.match((await onOk(h, ['apply', path, '--host', h])).stdout, /nothing to do/u);
  });

  void test('destroy --host h1 removes h1\'s part only', async () => {
    const r = await onOk('h1', ['destroy', path, '--host', 'h1']);
    assert.match(r.stdout, /removed pwx100/u);
    assert.deepEqual(await ipJson(['link', 'show', 'type', 'vxlan'], 'tvx-h1'), []);
    assert.deepEqual(await ipJson(['link', 'show', 'type', 'bridge'], 'tvx-h1'), []);
    for (const g of ['a1', 'c1']) assert.deepEqual(await ipJson(['link', 'show', 'dev', 'eth1'], `tvx-${g}`).catch(() => []), [], `${g}'s link is gone`);
    for (const g of ['b2', 'd2', 'e3']) assert.equal((await ipJson(['link', 'show', 'dev', 'eth1'], `tvx-${g}`)).length, 1, `${g}'s link stays`);
    assert.ok(await ping('tvx-b2', '10.77.1.5'), 'b2 (h2) still reaches e3 (h3)');
    assert.match((await onOk('h2', ['apply', path, '--host', 'h2'])).stdout, /nothing to do/u);
    assert.match((await onOk('h1', ['destroy', path, '--host', 'h1'])).stdout, /nothing to destroy/u);
  });
});
