// Cleanup that does not depend on the netns: GC removes exactly the attachments not in the valid
// list (interface, host side, lease, record), DEL after the netns is gone (or with none, or with
// its master gone) still releases the lease and the host side (an Open vSwitch row, masquerading),
// and STATUS says when an ADD cannot work.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { addNetns, delLink, delNetns, ip, ping } from './helpers/netns.js';
import { assertHostUnchanged, snapshotHost } from './helpers/guard.js';
import { sh, waitFor } from './helpers/run.js';
import { cleanupCni, guestState, hostLocalLeases, ourHostLinks, ourNatRules, ourOvsPorts, records, RECORDS, runOurs, scratch, type Call } from './cni-env.js';

const tmp = scratch('gc');
/** pipework's records: the default directory (a configuration may not choose another). */
const DATA = RECORDS;
const IPAM_DATA = join(tmp.dir, 'ipam');
const NETNS = ['cn-g1', 'cn-g2', 'cn-g3', 'cn-g4', 'cn-g5', 'cn-g6', 'cn-g7', 'cn-g8'];
const ours = (n: string) => n.startsWith('cn') || n.startsWith('pwc') || n.startsWith('ovs-cn') || n.startsWith('br-cn');
const OVS = 'ovs-cngc';

function net(name: string, host: Record<string, unknown>, subnet: string, version = '1.0.0', extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { cniVersion: version, name, type: 'pipework', ...host, ipam: { type: 'host-local', dataDir: IPAM_DATA, ranges: [[{ subnet }]] }, ...extra };
}

function call(command: string, id: string, netns: string, conf: Record<string, unknown>, more: Partial<Call> = {}) {
  return runOurs({ command, containerId: id, netns, ifname: 'eth0', conf, ...more });
}

async function ovsTag(port: string): Promise<string> {
  return (await sh(['ovs-vsctl', '--timeout=5', 'get', 'Port', port, 'tag'])).stdout.trim();
}

let snap: Awaited<ReturnType<typeof snapshotHost>>;
let ovsOk = false;

void describe('GC, DEL without the netns, STATUS', () => {
  before(async () => {
    snap = await snapshotHost({ only: ours });
    for (const n of NETNS) await addNetns(n);
    ovsOk = (await sh(['ovs-vsctl', '--timeout=5', 'show'])).code === 0;
  });
  after(async () => {
    for (const n of NETNS) await delNetns(n);
    await cleanupCni();
    await delLink('br-cngc');
    await delLink('cn-gmv');
    if (ovsOk) await sh(['ovs-vsctl', '--timeout=10', '--if-exists', 'del-br', OVS]);
    await assertHostUnchanged(snap, 5_000, { only: ours });
    tmp.dispose();
  });

  void test('GC removes exactly the attachments not in cni.dev/valid-attachments', async () => {
    const conf = net('cngc1', { bridge: 'br-cngc' }, '10.243.1.0/24');
    const results = [];
    for (const [i, ns] of ['cn-g1', 'cn-g2', 'cn-g3'].entries()) {
      const r = await call('ADD', `gc${i + 1}`, `/run/netns/${ns}`, conf);
      assert.equal(r.code, 0, r.stderr);
      results.push(r.json!);
    }
    assert.equal(hostLocalLeases(IPAM_DATA, 'cngc1').length, 3);
    // The runtime speaks 1.1.0 now; the attachments were made at 1.0.0 (host-local here speaks up to 1.0.0).
    const gc = { ...conf, cniVersion: '1.1.0', 'cni.dev/valid-attachments': [{ containerID: 'gc1', ifname: 'eth0' }] };
    const r = await runOurs({ command: 'GC', conf: gc });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(await guestState('cn-g2', 'eth0'), undefined);
    assert.equal(await guestState('cn-g3', 'eth0'), undefined);
    assert.deepEqual(records(DATA, 'cngc1'), ['gc1/eth0']);
    const kept = (results[0]!['ips'] as { address: string }[])[0]!.address.split('/')[0]!;
    assert.deepEqual(hostLocalLeases(IPAM_DATA, 'cngc1'), [kept]);
    assert.equal((await ourHostLinks('cngc1')).length, 1);
    // gc1 is untouched: CHECK passes and it still has its interface.
    assert.equal((await call('CHECK', 'gc1', '/run/netns/cn-g1', { ...conf, prevResult: results[0] })).code, 0);
    // Again: nothing more to do. The older key name works too.
    const again = await runOurs({ command: 'GC', conf: { ...conf, cniVersion: '1.1.0', 'cni.dev/attachments': [{ containerID: 'gc1', ifname: 'eth0' }] } });
    assert.equal(again.code, 0, again.stdout);
    assert.deepEqual(records(DATA, 'cngc1'), ['gc1/eth0']);
    assert.equal((await call('DEL', 'gc1', '/run/netns/cn-g1', conf)).code, 0);
    assert.deepEqual(hostLocalLeases(IPAM_DATA, 'cngc1'), []);
  });

  void test('DEL after the netns is gone releases the lease (bridge, with ipMasq)', async () => {
    const conf = net('cngc2', { bridge: 'br-cngc', isGateway: true, ipMasq: true }, '10.243.2.0/24');
    const add = await call('ADD', 'd1', '/run/netns/cn-g5', conf);
    assert.equal(add.code, 0, add.stderr);
    assert.equal((await ourNatRules()).filter((l) => l.includes('cngc2')).length, 3);
    await delNetns('cn-g5');
    await waitFor('the host end to go with the netns', async () => (await ourHostLinks('cngc2')).length === 0, 5_000);
    const del = await call('DEL', 'd1', '/run/netns/cn-g5', conf);
    assert.equal(del.code, 0, del.stdout);
    assert.deepEqual(hostLocalLeases(IPAM_DATA, 'cngc2'), []);
    assert.deepEqual(records(DATA, 'cngc2'), []);
    assert.deepEqual((await ourNatRules()).filter((l) => l.includes('cngc2')), [], 'the masquerading rules went, from the record');
    // No netns at all, and never added: both fine.
    assert.equal((await call('DEL', 'd1', '', conf)).code, 0);
    assert.equal((await call('DEL', 'never', '', conf)).code, 0);
    await addNetns('cn-g5');
  });

  void test('Open vSwitch with a VLAN tag: DEL with CNI_NETNS="" after the netns went removes the stale row', { skip: !ovsOkSync() && 'Open vSwitch is not running' }, async () => {
    const conf = net('cngc3', { ovs: OVS, vlan: 7 }, '10.243.3.0/24');
    const a = await call('ADD', 'o1', '/run/netns/cn-g6', conf);
    assert.equal(a.code, 0, a.stderr);
    const b = await call('ADD', 'o2', '/run/netns/cn-g7', conf);
    assert.equal(b.code, 0, b.stderr);
    const port = (a.json!['interfaces'] as { name: string }[])[1]!.name;
    assert.equal(await ovsTag(port), '7');
    const peer = (b.json!['ips'] as { address: string }[])[0]!.address.split('/')[0]!;
    assert.ok(await ping('cn-g6', peer), 'two attachments on the OVS bridge, same tag, reach each other');
    await delNetns('cn-g6');
    await waitFor('the device to go with the netns', async () => (await sh(['ip', 'link', 'show', port])).code !== 0, 5_000);
    assert.deepEqual(await ourOvsPorts('cngc3'), [port, (b.json!['interfaces'] as { name: string }[])[1]!.name].sort(), 'the stale row stays until DEL');
    const del = await call('DEL', 'o1', '', conf);
    assert.equal(del.code, 0, del.stdout);
    assert.equal((await ourOvsPorts('cngc3')).length, 1);
    assert.equal(hostLocalLeases(IPAM_DATA, 'cngc3').length, 1);
    // o2 lost its record (a crash, a disk wiped) and its netns: GC still finds its row by its owner.
    rmSync(join(DATA, 'cngc3', 'o2'), { recursive: true, force: true });
    await delNetns('cn-g7');
    await waitFor('o2\'s device to go', async () => (await ourHostLinks('cngc3')).length === 0, 5_000);
    const gc = await runOurs({ command: 'GC', conf: { ...conf, cniVersion: '1.1.0', 'cni.dev/valid-attachments': [] } });
    assert.equal(gc.code, 0, gc.stdout);
    assert.deepEqual(await ourOvsPorts('cngc3'), []);
    await addNetns('cn-g6');
    await addNetns('cn-g7');
  });

  void test('DEL when the macvlan master has gone', async () => {
    await ip(['link', 'add', 'cn-gmv', 'type', 'veth', 'peer', 'name', 'cn-gmvp', 'netns', 'cn-g8']);
    await ip(['link', 'set', 'cn-gmv', 'up']);
    const conf = net('cngc4', { master: 'cn-gmv' }, '10.243.4.0/24');
    const a = await call('ADD', 'm1', '/run/netns/cn-g1', conf);
    assert.equal(a.code, 0, a.stderr);
    // The master goes (its peer's netns with it), and the macvlan with it.
    await delNetns('cn-g8');
    await waitFor('the master to go', async () => (await sh(['ip', 'link', 'show', 'cn-gmv'])).code !== 0, 5_000);
    const del = await call('DEL', 'm1', '/run/netns/cn-g1', conf);
    assert.equal(del.code, 0, del.stdout);
    assert.deepEqual(hostLocalLeases(IPAM_DATA, 'cngc4'), []);
    assert.deepEqual(records(DATA, 'cngc4'), []);
    await addNetns('cn-g8');
  });

  void test('STATUS: 0 when an ADD can work, 50 when it cannot', async () => {
    const status = (conf: Record<string, unknown>, path?: string) => runOurs({ command: 'STATUS', conf: { ...conf, cniVersion: '1.1.0' }, ...(path !== undefined && { path }) });
    const good = net('cngc5', { bridge: 'br-cngc' }, '10.243.5.0/24');
    assert.equal((await status(good)).code, 0);
    if (ovsOk) assert.equal((await status(net('cngc5', { ovs: OVS }, '10.243.5.0/24'))).code, 0);
    const cases: [Record<string, unknown>, string | undefined, RegExp][] = [
      [good, '/nonexistent', /failed to find plugin "host-local"/u],
      [net('cngc5', { master: 'cn-nomaster' }, '10.243.5.0/24'), undefined, /master cn-nomaster does not exist/u],
      [net('cngc5', { device: 'cn-nodev' }, '10.243.5.0/24'), undefined, /device cn-nodev/u],
    ];
    for (const [conf, path, msg] of cases) {
      const r = await status(conf, path);
      assert.equal(r.code, 1);
      assert.equal(r.json?.['code'], 50, r.stdout);
      assert.match(String(r.json?.['msg']), msg);
    }
    // A dataDir the operator did not allow is the configuration's fault (code 7), not the host's.
    const r = await status(net('cngc5', { bridge: 'br-cngc' }, '10.243.5.0/24', '1.1.0', { dataDir: '/proc/cn-nope' }));
    assert.equal(r.json?.['code'], 7, r.stdout);
    assert.match(String(r.json?.['msg']), /dataDir '\/proc\/cn-nope' is not allowed/u);
  });
});

/** Open vSwitch answers (checked before the suite's hooks run, for `skip`). */
function ovsOkSync(): boolean {
  return spawnSync('ovs-vsctl', ['--timeout=5', 'show'], { timeout: 10_000 }).status === 0;
}
