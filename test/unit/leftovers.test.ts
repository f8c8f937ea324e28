/**
 * What each host kind leaves on the host when its guest's end goes, found by its driver from one
 * view of the host, and the one plan that removes an attachment (planRemoval). Pure.
 */
import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import type { LeftoverView } from '../../src/drivers/driver.js';
import { allDrivers, driverFor } from '../../src/drivers/registry.js';
import { planRemoval } from '../../src/engine/planner.js';
import type { HostLink } from '../../src/host/links.js';
import type { Kept } from '../../src/host/kept-records.js';
import type { OvsPortRow } from '../../src/host/ovs-facts.js';
import { encodeRecord, type AttachRecord } from '../../src/model/record.js';

const OWNER = 'cni:net1/c1/eth0';
const link = (name: string, extra: Partial<HostLink> = {}): HostLink => ({ name, isBridge: false, type: 1, mtu: 1500, up: true, mac: '02:00:00:00:00:01', ports: [], ...extra });
function view(links: HostLink[], ovsPorts?: OvsPortRow[], kept = new Map<string, Kept>()): LeftoverView {
  const byName = new Map(links.map((l) => [l.name, l]));
  return { links: () => links, link: (n) => byName.get(n), ...(ovsPorts !== undefined && { ovsPorts: new Map(ovsPorts.map((r) => [r.name, r])) }), kept };
}
const argv = (l: { steps: { action: { kind: string } }[] }) => l.steps.map((s) => {
  const a = s.action as { kind: string; args?: string[]; argv?: string[]; key?: string };
  return a.kind === 'ip' ? `ip ${a.args!.join(' ')}` : a.kind === 'exec' ? a.argv!.filter((w) => !w.startsWith('--timeout')).join(' ') : `keep ${a.key!}`;
});

const BR: AttachRecord = { role: 'guest', guest: 'netns:c1', nsInode: 4026532100, guestIf: 'eth0', hostIf: 'cni0', hostKind: 'bridge', localIf: 'pwc0123456789ab', owner: OWNER };
const OVS: AttachRecord = { ...BR, hostIf: 'ovs-net', hostKind: 'ovs' };

void describe('every driver answers for what its kind leaves', () => {
  void test('each kind has leftovers, and on an empty host finds none', () => {
    const empty = view([], []);
    for (const d of allDrivers()) assert.deepEqual(d.leftovers(empty), [], d.kind);
  });
});

void describe('veth kinds: a host end outlives its guest end only while its namespace is held', () => {
  const hostEnd = link('pwc0123456789ab', { alias: encodeRecord({ ...BR, role: 'host' }) });
  void test('bridge: found by its own record, live, removed if it is still there when the step runs', () => {
    const [l, ...more] = driverFor('bridge').leftovers(view([hostEnd, link('cni0', { isBridge: true })]), BR);
    assert.equal(more.length, 0);
    assert.equal(l!.live, true);
    assert.equal(l!.owner, OWNER);
    assert.deepEqual(argv(l!), ['ip link del dev pwc0123456789ab']);
    assert.equal((l!.steps[0]!.action as { onlyIfExists?: string }).onlyIfExists, 'pwc0123456789ab');
    assert.deepEqual(l!.locks, { uses: ['bridge/cni0'], changes: ['link/pwc0123456789ab'] });
  });
  void test('another attachment\'s host end (owner, interface, namespace) is not this one\'s', () => {
    for (const other of [{ owner: 'cni:net1/c2/eth0' }, { guestIf: 'eth1' }, { nsInode: 4026532101 }, { localIf: 'pwcffffffffffff' }]) {
      assert.deepEqual(driverFor('bridge').leftovers(view([hostEnd]), { ...BR, ...other }), [], JSON.stringify(other));
    }
    // A record that did not know its namespace yet (written before ADD made it) matches any.
    assert.equal(driverFor('bridge').leftovers(view([hostEnd]), { ...BR, nsInode: 0 }).length, 1);
    // A link whose alias is not a host record, or a guest's record, or of another kind: not a host end.
    for (const alias of ['uplink', encodeRecord(BR), encodeRecord({ ...OVS, role: 'host' })]) {
      assert.deepEqual(driverFor('bridge').leftovers(view([link('pwc0123456789ab', { alias })])), [], alias);
    }
  });
  void test('ovs: a held host end goes with its row; a row whose device is gone goes alone', () => {
    const end = link('pwc0123456789ab', { alias: encodeRecord({ ...OVS, role: 'host' }) });
    const held = driverFor('ovs').leftovers(view([end], []), OVS);
    assert.deepEqual(held.map(argv), [['ovs-vsctl --if-exists del-port ovs-net pwc0123456789ab', 'ip link del dev pwc0123456789ab']]);
    const row = (name: string, ids: Record<string, string>): OvsPortRow => ({ name, bridge: 'ovs-net', externalIds: { 'pipework.interface': name, 'pipework.bridge': 'ovs-net', ...ids } });
    const rows = [row('pwc0123456789ab', { 'pipework.owner': `"${OWNER}"` }), row('pwcothers000000', { 'pipework.owner': '"cni:net1/c2/eth0"' }), row('vethpl42', {})];
    const dead = driverFor('ovs').leftovers(view([], rows), OVS);
    assert.deepEqual(dead.map((l) => [l.name, l.live, argv(l)]), [['pwc0123456789ab', false, ['ovs-vsctl --if-exists del-port ovs-net pwc0123456789ab']]]);
    // Without `of`: every dead row, each with its owner; a device still there keeps its row.
    const all = driverFor('ovs').leftovers(view([link('vethpl42')], rows));
    assert.deepEqual(all.map((l) => [l.name, l.owner]), [['pwc0123456789ab', OWNER], ['pwcothers000000', 'cni:net1/c2/eth0']]);
    // Open vSwitch not running: its rows are not judged.
    assert.deepEqual(driverFor('ovs').leftovers(view([])), []);
  });
  void test('a row naming what is no interface name never reaches ovs-vsctl', () => {
    const rows: OvsPortRow[] = [{ name: 'x;y z', bridge: 'ovs-net', externalIds: { 'pipework.interface': 'x;y z' } }, { name: 'p1', bridge: 'a b', externalIds: { 'pipework.interface': 'p1', 'pipework.bridge': 'a b' } }];
    assert.deepEqual(driverFor('ovs').leftovers(view([], rows)), []);
  });
});

void describe('kinds whose device moves in or lives in the guest', () => {
  void test('macvlan: the host half of its removal, each step decided when it runs', () => {
    const r: AttachRecord = { ...BR, hostKind: 'macvlan', hostIf: 'eno1', vlan: 7, vlanIf: 'eno1.7' };
    delete r.localIf;
    const [l] = driverFor('macvlan').leftovers(view([]), r);
    assert.ok(l!.steps.every((s) => s.action.place === 'host' && s.action.kind === 'ip' && (s.action.onlyIfVlanUnused ?? s.action.onlyIfLinkUnused) !== undefined));
    assert.deepEqual(l!.locks.changes.sort(), ['nic/eno1', 'nic/eno1.7']);
    // A sweep does not guess which NIC a dead macvlan hung off.
    assert.deepEqual(driverFor('macvlan').leftovers(view([])), []);
  });
  void test('phys: a NIC given back, found by what was kept of it', () => {
    const rec: AttachRecord = { role: 'guest', guest: 'netns:c1', nsInode: 4026532100, guestIf: 'eth0', hostIf: 'eno2', hostKind: 'phys', origName: 'eno2', owner: OWNER };
    const kept = new Map<string, Kept>([['4026532100-eth0.json', { record: rec, mac: '52:54:00:00:00:02' }]]);
    const back = link('eth0', { mac: '52:54:00:00:00:02' });
    const [l, ...more] = driverFor('phys').leftovers(view([back], undefined, kept), rec);
    assert.equal(more.length, 0);
    assert.equal(l!.live, false);
    assert.deepEqual(argv(l!), ['ip link set dev eth0 name eno2 alias ', 'keep 4026532100-eth0.json']);
    assert.deepEqual(driverFor('phys').leftovers(view([back], undefined, kept), { ...rec, owner: 'cni:net1/c9/eth0' }), []);
    assert.equal(driverFor('phys').leftovers(view([back], undefined, kept)).length, 1);
  });
  void test('dummy and IPoIB: nothing of them is on the host', () => {
    assert.deepEqual(driverFor('dummy').leftovers(view([link('eth0')]), { ...BR, hostKind: 'dummy', hostIf: 'dummy0' }), []);
    assert.deepEqual(driverFor('ipoib').leftovers(view([link('eth0')]), { ...BR, hostKind: 'ipoib', hostIf: 'ib0' }), []);
  });
});

void describe('planRemoval: one plan for the guest end, what is left, and the door\'s own', () => {
  const hostEnd = link('pwc0123456789ab', { alias: encodeRecord({ ...OVS, role: 'host' }) });
  const facts = { links: [{ name: 'eth0', up: true, mtu: 1500, mac: '02:00:00:00:00:09', addresses: [] }], routes: [] } as never;
  const nat = { title: 'remove chain', action: { kind: 'exec' as const, place: 'host' as const, argv: ['iptables', '-X', 'PW-X'], mayFail: true }, undo: [] };
  void test('the guest is there: its removal takes the host end; the row goes with the driver\'s del; the chain after', () => {
    const leftovers = driverFor('ovs').leftovers(view([hostEnd], []), OVS);
    const plan = planRemoval({ targets: [{ guestIf: 'eth0', record: OVS }], guestFacts: facts, guestLabel: 'c1', leftovers, extra: [nat] });
    assert.deepEqual(plan.steps.map((s) => s.action.kind === 'ip' ? `ip ${s.action.args.join(' ')}` : s.action.kind === 'exec' ? s.action.argv.filter((w) => !w.startsWith('--timeout')).join(' ') : ''), [
      'ip link del dev eth0', 'ovs-vsctl --if-exists del-port ovs-net pwc0123456789ab', 'iptables -X PW-X',
    ]);
    assert.equal(plan.outcome, 'removed');
  });
  void test('the guest is gone: only what is left, once each', () => {
    const leftovers = driverFor('ovs').leftovers(view([hostEnd], []), OVS);
    const plan = planRemoval({ targets: [], guestFacts: { links: [], routes: [] }, guestLabel: 'the host', leftovers: [...leftovers, ...leftovers], extra: [] });
    assert.deepEqual(plan.steps.length, 2);
    assert.deepEqual(plan.locks, { uses: ['ovs/ovs-net'], changes: ['link/pwc0123456789ab'] });
  });
  void test('nothing left: nothing to do', () => {
    const plan = planRemoval({ targets: [], guestFacts: { links: [], routes: [] }, guestLabel: 'the host', leftovers: [], extra: [] });
    assert.equal(plan.outcome, 'unchanged');
    assert.deepEqual(plan.steps, []);
  });
});
