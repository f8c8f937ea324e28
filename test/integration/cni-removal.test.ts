// Removal through the engine, as CNI DEL, GC and CHECK use it: what an attachment left goes in
// one run whatever is left of it (a host end whose netns is held elsewhere, masquerading), from
// its record of today or of the format before; CHECK judges the masquerading; GC's sweep finds
// a host end by its owner when no record is left. Everything here is named cnre*, 10.172.0.0/16.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { addNetns, delLink, delNetns, listLinks, ping } from './helpers/netns.js';
import { assertHostUnchanged, snapshotHost } from './helpers/guard.js';
import { sh, shOk, waitFor } from './helpers/run.js';
import { cleanupCni, hostLocalLeases, ourHostLinks, ourNatRules, recordAsBefore, records, RECORDS, runOurs, scratch } from './cni-env.js';
import { decodeRecord } from '../../src/model/record.js';

const tmp = scratch('removal');
const IPAM_DATA = join(tmp.dir, 'ipam');
const NETNS = ['cnre-h1', 'cnre-v1', 'cnre-c1', 'cnre-a1', 'cnre-b1', 'cnre-b2'];
const BRIDGE = 'br-cnre';
const ours = (n: string) => n.startsWith('cnre') || n.startsWith('pwc') || n === BRIDGE;
/** Where a netns is held once its /run/netns name is gone (as a runtime holds a pod's). */
const HELD = join(tmp.dir, 'held');

function net(name: string, subnet: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { cniVersion: '1.0.0', name, type: 'pipework', bridge: BRIDGE, ipam: { type: 'host-local', dataDir: IPAM_DATA, ranges: [[{ subnet }]] }, ...extra };
}
const call = (command: string, id: string, netns: string, conf: Record<string, unknown>) => runOurs({ command, containerId: id, netns, ifname: 'eth0', conf });
const natOf = async (network: string) => (await ourNatRules()).filter((l) => l.includes(`name: \\"${network}\\"`));
const recordFile = (network: string, id: string) => join(RECORDS, network, id, 'eth0.json');

let snap: Awaited<ReturnType<typeof snapshotHost>>;

void describe('CNI removal through the engine', () => {
  before(async () => {
    snap = await snapshotHost({ only: ours });
    for (const n of NETNS) await addNetns(n);
  });
  after(async () => {
    await sh(['umount', HELD]);
    for (const n of NETNS) await delNetns(n);
    await cleanupCni();
    await delLink(BRIDGE);
    await assertHostUnchanged(snap, 5_000, { only: ours });
    tmp.dispose();
  });

  void test('a netns held elsewhere: DEL without CNI_NETNS removes its host end (and the pair with it) and its masquerading, in one run', async () => {
    const conf = net('cnreh', '10.172.1.0/24', { isGateway: true, ipMasq: true });
    const add = await call('ADD', 'h1', '/run/netns/cnre-h1', conf);
    assert.equal(add.code, 0, add.stderr);
    const hostEnd = (add.json!['interfaces'] as { name: string }[])[1]!.name;
    // The one record format: the record file keeps the very record the host end carries.
    const file = JSON.parse(readFileSync(recordFile('cnreh', 'h1'), 'utf8')) as { version: number; record: string };
    assert.equal(file.version, 3);
    const onLink = decodeRecord((await sh(['cat', `/sys/class/net/${hostEnd}/ifalias`])).stdout.trim());
    assert.deepEqual({ ...decodeRecord(file.record), role: 'host' }, onLink);
    assert.equal((await natOf('cnreh')).length, 3);
    // The runtime keeps the netns alive under another path; its /run/netns name goes.
    writeFileSync(HELD, '');
    await shOk(['mount', '--bind', '/run/netns/cnre-h1', HELD]);
    await delNetns('cnre-h1');
    assert.ok((await ourHostLinks('cnreh')).includes(hostEnd), 'the host end lives while its netns is held');
    const del = await call('DEL', 'h1', '', conf);
    assert.equal(del.code, 0, del.stdout);
    assert.deepEqual(await ourHostLinks('cnreh'), []);
    assert.deepEqual(await natOf('cnreh'), []);
    assert.deepEqual(records(RECORDS, 'cnreh'), []);
    assert.deepEqual(hostLocalLeases(IPAM_DATA, 'cnreh'), []);
    const inside = await sh(['nsenter', `--net=${HELD}`, 'ip', '-o', 'link', 'show', 'eth0']);
    assert.notEqual(inside.code, 0, 'the guest end went with its host end');
    // Again: all gone already, and that is fine.
    assert.equal((await call('DEL', 'h1', '', conf)).code, 0);
    await shOk(['umount', HELD]);
    await addNetns('cnre-h1');
  });

  void test('a record of the format before (version 1) is removed the same way: its masquerading too', async () => {
    const conf = net('cnrev', '10.172.2.0/24', { ipMasq: true });
    const add = await call('ADD', 'v1', '/run/netns/cnre-v1', conf);
    assert.equal(add.code, 0, add.stderr);
    // As the first format left it: its fields, and the container's nat chain (not the interface's).
    await recordAsBefore('cnrev', 'v1', 'eth0', 1);
    await delNetns('cnre-v1');
    await waitFor('the host end to go with the netns', async () => (await ourHostLinks('cnrev')).length === 0, 5_000);
    assert.equal((await natOf('cnrev')).length, 3, 'the nat rules stay until DEL');
    const del = await call('DEL', 'v1', '/run/netns/cnre-v1', conf);
    assert.equal(del.code, 0, del.stdout);
    assert.deepEqual(await natOf('cnrev'), []);
    assert.deepEqual(records(RECORDS, 'cnrev'), []);
    await addNetns('cnre-v1');
  });

  void test('CHECK sees masquerading taken away behind its back; DEL still finishes with a rule already gone', async () => {
    const conf = net('cnrec', '10.172.3.0/24', { ipMasq: true });
    const add = await call('ADD', 'c1', '/run/netns/cnre-c1', conf);
    assert.equal(add.code, 0, add.stderr);
    const ok = await call('CHECK', 'c1', '/run/netns/cnre-c1', { ...conf, prevResult: add.json });
    assert.equal(ok.code, 0, ok.stdout);
    const jump = (await natOf('cnrec')).find((l) => l.startsWith('-A POSTROUTING'))!;
    const words = jump.slice('-A POSTROUTING '.length).match(/"(?:[^"\\]|\\.)*"|\S+/gu)!.map((w) => (w.startsWith('"') ? JSON.parse(w) as string : w));
    await shOk(['iptables', '-w', '-t', 'nat', '-D', 'POSTROUTING', ...words]);
    const check = await call('CHECK', 'c1', '/run/netns/cnre-c1', { ...conf, prevResult: add.json });
    assert.notEqual(check.code, 0);
    assert.match((check.json?.['msg'] as string | undefined) ?? '', /masquerading of eth0 is not as ADD made it: traffic from 10\.172\.3\.\d+ is not sent through PW-/u);
    const del = await call('DEL', 'c1', '/run/netns/cnre-c1', conf);
    assert.equal(del.code, 0, del.stdout);
    assert.deepEqual(await natOf('cnrec'), []);
    assert.equal((await listLinks('cnre-c1')).some((l) => l.ifname === 'eth0'), false);
  });

  void test('GC finds a host end by its owner when its record is lost; another network\'s attachments keep working', async () => {
    const a = net('cnrea', '10.172.4.0/24');
    const b = net('cnreb', '10.172.5.0/24');
    const lost = await call('ADD', 'a1', '/run/netns/cnre-a1', a);
    assert.equal(lost.code, 0, lost.stderr);
    const b1 = await call('ADD', 'b1', '/run/netns/cnre-b1', b);
    const b2 = await call('ADD', 'b2', '/run/netns/cnre-b2', b);
    assert.equal(b1.code + b2.code, 0, b1.stderr + b2.stderr);
    rmSync(join(RECORDS, 'cnrea', 'a1'), { recursive: true, force: true });
    const gc = await runOurs({ command: 'GC', conf: { ...a, cniVersion: '1.1.0', 'cni.dev/valid-attachments': [] } });
    assert.equal(gc.code, 0, gc.stdout);
    assert.deepEqual(await ourHostLinks('cnrea'), []);
    assert.equal((await listLinks('cnre-a1')).some((l) => l.ifname === 'eth0'), false, 'its guest end went with it');
    assert.equal((await ourHostLinks('cnreb')).length, 2);
    const peer = ((b2.json!['ips'] as { address: string }[])[0]!.address).split('/')[0]!;
    assert.ok(await ping('cnre-b1', peer), 'network cnreb still carries traffic');
    for (const [id, ns] of [['b1', 'cnre-b1'], ['b2', 'cnre-b2']] as const) assert.equal((await call('DEL', id, `/run/netns/${ns}`, b)).code, 0);
    assert.deepEqual(await ourHostLinks('cnreb'), []);
  });
});
