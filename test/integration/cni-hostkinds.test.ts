// The host kinds beyond the bridge, as CNI networks: a NIC moved in (device) and given back,
// Open vSwitch made when missing (and CHECK seeing a wrong tag), what this kernel lacks (802.1Q,
// bridge VLAN filtering) refused cleanly, two networks on one container, and many cold ADDs at
// once (the locks between processes).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { addNetns, delLink, delNetns, getLink, ip, ipJson, ping } from './helpers/netns.js';
import { assertHostUnchanged, snapshotHost } from './helpers/guard.js';
import { sh } from './helpers/run.js';
import { cleanupCni, guestState, hostLocalLeases, ourHostLinks, ourOvsPorts, records, RECORDS, runOurs, scratch, type Call } from './cni-env.js';

const tmp = scratch('kinds');
/** pipework's records: the default directory (a configuration may not choose another). */
const DATA = RECORDS;
const IPAM_DATA = join(tmp.dir, 'ipam');
const NETNS = ['cn-k1', 'cn-k2', 'cn-k3', ...Array.from({ length: 6 }, (_, i) => `cn-kc${i}`)];
const OVS = 'ovs-cnkinds';
const ours = (n: string) => n.startsWith('cn') || n.startsWith('pwc') || n.startsWith('br-cn') || n.startsWith('ovs-cn');
const ovsWorks = spawnSync('ovs-vsctl', ['--timeout=5', 'show'], { timeout: 10_000 }).status === 0;

function net(name: string, host: Record<string, unknown>, subnet: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { cniVersion: '1.0.0', name, type: 'pipework', ...host, ipam: { type: 'host-local', dataDir: IPAM_DATA, ranges: [[{ subnet }]] }, ...extra };
}

function call(command: string, id: string, netns: string, conf: Record<string, unknown>, more: Partial<Call> = {}) {
  return runOurs({ command, containerId: id, netns: netns === '' ? '' : `/run/netns/${netns}`, ifname: 'eth0', conf, ...more });
}

let snap: Awaited<ReturnType<typeof snapshotHost>>;

void describe('CNI host kinds', () => {
  before(async () => {
    snap = await snapshotHost({ only: ours });
    for (const n of NETNS) await addNetns(n);
  });
  after(async () => {
    for (const n of NETNS) await delNetns(n);
    await cleanupCni();
    for (const l of ['cn-nic0', 'cn-nic0p', 'br-cnkinds', 'cn-mvk']) await delLink(l).catch(() => undefined);
    if (ovsWorks) await sh(['ovs-vsctl', '--timeout=10', '--if-exists', 'del-br', OVS]);
    await assertHostUnchanged(snap, 5_000, { only: ours });
    tmp.dispose();
  });

  void test('device: the NIC moves in under CNI_IFNAME with its address, and goes back under its own name', async () => {
    await ip(['link', 'add', 'cn-nic0', 'type', 'veth', 'peer', 'name', 'cn-nic0p', 'netns', 'cn-k3']);
    await ip(['link', 'set', 'cn-nic0p', 'up'], 'cn-k3');
    await ip(['addr', 'add', '10.248.1.1/24', 'dev', 'cn-nic0p'], 'cn-k3');
    const mac = (await getLink('cn-nic0'))!.address;
    const conf = net('cnkdev', { device: 'cn-nic0' }, '10.248.1.0/24');
    const a = await call('ADD', 'd1', 'cn-k1', conf);
    assert.equal(a.code, 0, a.stdout + a.stderr);
    const ifs = a.json!['interfaces'] as { name: string; mac: string; sandbox: string }[];
    assert.deepEqual(ifs, [{ name: 'eth0', mac, mtu: undefined, sandbox: '/run/netns/cn-k1' }].map(({ mtu: _m, ...x }) => x));
    assert.equal(await getLink('cn-nic0'), undefined, 'gone from the host');
    assert.ok(await ping('cn-k1', '10.248.1.1'), 'the moved NIC carries traffic');
    assert.equal((await call('CHECK', 'd1', 'cn-k1', { ...conf, prevResult: a.json })).code, 0);
    // Busy: a second container cannot have it (STATUS says so too).
    const b = await call('ADD', 'd2', 'cn-k2', conf);
    assert.equal(b.json?.['code'], 104, b.stdout);
    assert.equal((await runOurs({ command: 'STATUS', conf: { ...conf, cniVersion: '1.1.0' } })).json?.['code'], 50);
    for (let i = 0; i < 2; i++) assert.equal((await call('DEL', 'd1', 'cn-k1', conf)).code, 0);
    const back = await getLink('cn-nic0');
    assert.ok(back, 'back on the host under its own name');
    assert.equal(back.address, mac);
    assert.equal(((await ipJson(['link', 'show', 'dev', 'cn-nic0'])) as { ifalias?: string }[])[0]?.ifalias ?? '', '', 'without pipework\'s record');
    assert.deepEqual(hostLocalLeases(IPAM_DATA, 'cnkdev'), []);
    assert.deepEqual(records(DATA, 'cnkdev'), []);
  });

  void test('Open vSwitch: the bridge is made when missing; CHECK sees a wrong tag', { skip: !ovsWorks && 'Open vSwitch is not running' }, async () => {
    await sh(['ovs-vsctl', '--timeout=10', '--if-exists', 'del-br', OVS]);
    const conf = net('cnkovs', { ovs: OVS, vlan: 30 }, '10.248.2.0/24');
    const a = await call('ADD', 'o1', 'cn-k2', conf);
    assert.equal(a.code, 0, a.stdout + a.stderr);
    assert.equal((await sh(['ovs-vsctl', '--timeout=5', 'br-exists', OVS])).code, 0);
    const port = (a.json!['interfaces'] as { name: string }[])[1]!.name;
    assert.equal((await call('CHECK', 'o1', 'cn-k2', { ...conf, prevResult: a.json })).code, 0);
    await sh(['ovs-vsctl', '--timeout=5', 'set', 'Port', port, 'tag=31']);
    const c = await call('CHECK', 'o1', 'cn-k2', { ...conf, prevResult: a.json });
    assert.equal(c.json?.['code'], 103);
    assert.match(String(c.json?.['msg']), /tag 31, not 30/u);
    assert.equal((await call('DEL', 'o1', 'cn-k2', conf)).code, 0);
    assert.deepEqual(await ourOvsPorts('cnkovs'), []);
    assert.deepEqual(hostLocalLeases(IPAM_DATA, 'cnkovs'), []);
  });

  void test('what this kernel lacks is refused cleanly (802.1Q under a macvlan, bridge VLAN filtering): nothing left', async () => {
    await ip(['link', 'add', 'cn-mvk', 'type', 'veth', 'peer', 'name', 'cn-mvkp', 'netns', 'cn-k3']);
    await ip(['link', 'set', 'cn-mvk', 'up']);
    for (const [name, host] of [['cnkmv', { master: 'cn-mvk', vlan: 5 }], ['cnkbv', { bridge: 'br-cnkinds', vlan: 5 }]] as const) {
      const conf = net(name, host, '10.248.3.0/24');
      const r = await call('ADD', 'v1', 'cn-k1', conf);
      const vlans = (await ipJson(['-d', 'link', 'show'])) as { ifname: string; linkinfo?: { info_kind?: string } }[];
      if (r.code === 0) {
        // A kernel with 802.1Q and VLAN filtering (the full-kernel tier) does it: then DEL undoes it.
        assert.equal((await call('DEL', 'v1', 'cn-k1', conf)).code, 0);
      } else {
        assert.equal(r.json?.['code'], 102, `${name}: ${r.stdout}`);
        assert.match(String(r.json?.['msg']), /this kernel lacks/u);
        assert.ok(!vlans.some((l) => l.ifname.startsWith('cn-mvk.')), 'no VLAN sub-interface left');
      }
      assert.equal(await guestState('cn-k1', 'eth0'), undefined);
      assert.deepEqual(hostLocalLeases(IPAM_DATA, name), []);
      assert.deepEqual(records(DATA, name), []);
      assert.deepEqual(await ourHostLinks(name), []);
    }
    await delLink('br-cnkinds');
  });

  void test('two networks on one container (eth0 and net1), each removed by its own DEL', async () => {
    const a = net('cnkta', { bridge: 'br-cnkinds' }, '10.248.4.0/24');
    const b = net('cnktb', { bridge: 'br-cnkinds' }, '10.248.5.0/24');
    assert.equal((await call('ADD', 't1', 'cn-k2', a)).code, 0);
    const rb = await call('ADD', 't1', 'cn-k2', b, { ifname: 'net1' });
    assert.equal(rb.code, 0, rb.stdout);
    assert.ok((await guestState('cn-k2', 'eth0'))?.up);
    assert.ok((await guestState('cn-k2', 'net1'))?.up);
    // DEL of one leaves the other.
    assert.equal((await call('DEL', 't1', 'cn-k2', b, { ifname: 'net1' })).code, 0);
    assert.ok(await guestState('cn-k2', 'eth0'));
    assert.equal(await guestState('cn-k2', 'net1'), undefined);
    // Network b's DEL for eth0 (network a's) removes nothing of a's.
    assert.equal((await call('DEL', 't1', 'cn-k2', b)).code, 0);
    assert.ok(await guestState('cn-k2', 'eth0'), 'another network\'s interface stays');
    assert.equal((await call('DEL', 't1', 'cn-k2', a)).code, 0);
    assert.equal(await guestState('cn-k2', 'eth0'), undefined);
    await delLink('br-cnkinds');
  });

  void test('six cold ADDs at once on one new bridge, then six DELs at once', async () => {
    const conf = net('cnkpar', { bridge: 'br-cnkinds', isGateway: true }, '10.248.6.0/24');
    const adds = await Promise.all(Array.from({ length: 6 }, (_, i) => call('ADD', `p${i}`, `cn-kc${i}`, conf)));
    adds.forEach((r, i) => assert.equal(r.code, 0, `ADD ${i}: ${r.stdout} ${r.stderr}`));
    const addrs = adds.map((r) => (r.json!['ips'] as { address: string }[])[0]!.address.split('/')[0]!);
    assert.equal(new Set(addrs).size, 6);
    assert.ok(await ping('cn-kc0', addrs[5]!));
    assert.ok(await ping('cn-kc3', '10.248.6.1'), 'the gateway on the bridge, put there once');
    const dels = await Promise.all(Array.from({ length: 6 }, (_, i) => call('DEL', `p${i}`, `cn-kc${i}`, conf)));
    dels.forEach((r, i) => assert.equal(r.code, 0, `DEL ${i}: ${r.stdout}`));
    assert.deepEqual(hostLocalLeases(IPAM_DATA, 'cnkpar'), []);
    assert.deepEqual(await ourHostLinks('cnkpar'), []);
    await delLink('br-cnkinds');
  });
});
