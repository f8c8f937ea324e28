// The network-level host objects' drivers (src/drivers/network/): a Linux bridge, an Open vSwitch
// bridge and a VXLAN device — create, check and remove, planned from fixed facts — and that every
// front door that makes one plans it through them (the classic line's br*, a CNI gateway prelude).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { checkBridge, createBridge, removeBridge } from '../../src/drivers/network/bridge.js';
import { checkOvsBridge, createOvsBridge, removeOvsBridge } from '../../src/drivers/network/ovs-bridge.js';
import { checkVxlan, createVxlan, removeVxlan, type VxlanDevice } from '../../src/drivers/network/vxlan.js';
import { markOf, markText } from '../../src/drivers/network/mark.js';
import type { Action, Step } from '../../src/model/plan.js';
import { planAttach } from '../../src/engine/planner.js';
import { planGatewayPrelude } from '../../src/front/cni/host-side.js';
import { ConflictError } from '../../src/model/errors.js';
import { assertThrows, attachContext, bridge, nic, ovsFacts } from './fakes.js';

const show = (a: Action): string => (a.kind === 'ip' ? `ip ${a.args.join(' ')}` : a.kind === 'exec' ? a.argv.join(' ') : `keep ${a.key}`);
const lines = (steps: Step[]): string[] => steps.map((s) => show(s.action));

void describe('network driver: Linux bridge', () => {
  void test('create: VLAN filtering, the MTU set (so it holds), race-tolerant, undone only while empty; marked for an owner', () => {
    const steps = createBridge({ name: 'br-x', mtu: 1400, vlanFiltering: true, owner: 'demo' });
    assert.deepEqual(lines(steps), [
      'ip link add name br-x type bridge vlan_filtering 1',
      'ip link set dev br-x alias pipework-topology:demo',
      'ip link set dev br-x mtu 1400 up',
    ]);
    const add = steps[0]!;
    assert.deepEqual(add.raceOk, { bridgeExists: 'br-x' });
    assert.deepEqual(add.undo, [{ kind: 'ip', place: 'host', args: ['link', 'del', 'dev', 'br-x'], onlyIfBridgeEmpty: 'br-x' }]);
    assert.match(add.needs ?? '', /bridge VLAN filtering/u);
    const plain = createBridge({ name: 'br-y' });
    assert.deepEqual(lines(plain), ['ip link add name br-y type bridge', 'ip link set dev br-y up'], 'no owner: no mark; no MTU asked: the kernel default');
    assert.match(plain[0]!.needs ?? '', /Linux bridges/u, 'a kernel without bridges is named as such');
  });

  void test('check: missing is made, down is brought up, another topology\'s bridge is shared, a NIC of that name is a problem', () => {
    assert.deepEqual(checkBridge({ name: 'br-x', mtu: 1400 }, undefined).drifts.map((d) => [d.what, lines(d.repair)]), [
      ['bridge br-x is missing', ['ip link add name br-x type bridge', 'ip link set dev br-x mtu 1400 up']],
    ]);
    assert.deepEqual(checkBridge({ name: 'br-x' }, bridge('br-x')), { drifts: [] }, 'as wanted: nothing to do');
    assert.deepEqual(checkBridge({ name: 'br-x', mtu: 9000 }, bridge('br-x', { mtu: 1400 })).drifts, [], 'the MTU is not judged (ports change it)');
    assert.deepEqual(checkBridge({ name: 'br-x' }, bridge('br-x', { up: false })).drifts.map((d) => [d.what, lines(d.repair)]), [['bridge br-x is down', ['ip link set dev br-x up']]]);
    assert.equal(checkBridge({ name: 'eth9' }, nic('eth9')).problem, 'eth9 exists but is not a Linux bridge');
    const shared = checkBridge({ name: 'br-x', owner: 'b' }, bridge('br-x', { alias: markOf(['a'])! }));
    assert.deepEqual(shared.drifts.map((d) => lines(d.repair)), [['ip link set dev br-x alias pipework-topology:a,b']]);
    assert.deepEqual(shared.drifts[0]!.repair[0]!.undo.map(show), ['ip link set dev br-x alias pipework-topology:a'], 'undone: the mark as it was');
    assert.deepEqual(checkBridge({ name: 'br-x', owner: 'b' }, bridge('br-x')).drifts, [], 'a bridge nobody marked is not claimed');
    assert.deepEqual(checkBridge({ name: 'br-x', owner: 'a' }, bridge('br-x', { alias: markOf(['a', 'b'])! })).drifts, [], 'already a co-owner');
    const many = Array.from({ length: 30 }, (_, i) => `topology-${String(i).padStart(5, '0')}`);
    assertThrows(() => checkBridge({ name: 'br-x', owner: 'one-more' }, bridge('br-x', { alias: markOf(many)! })), ConflictError, 'too many topologies');
  });

  void test('remove: only what is ours, only when unused; a shared one is left to the others', () => {
    assert.deepEqual(removeBridge('br-x', undefined, 'a'), { outcome: 'gone' });
    assert.deepEqual(removeBridge('br-x', bridge('br-x'), 'a'), { outcome: 'keep', why: 'not made by topology a' });
    assert.deepEqual(removeBridge('br-x', bridge('br-x', { alias: markText('b') }), 'a'), { outcome: 'keep', why: 'not made by topology a' });
    const foreign = removeBridge('br-x', bridge('br-x', { alias: markText('a'), ports: ['veth1', 'vethother'] }), 'a', ['veth1']);
    assert.deepEqual(foreign, { outcome: 'keep', why: 'ports vethother are not this topology\'s' });
    const leave = removeBridge('br-x', bridge('br-x', { alias: markOf(['a', 'b'])!, ports: ['vethb'] }), 'a');
    assert.equal(leave.outcome, 'leave');
    assert.ok(leave.outcome === 'leave' && leave.why === 'topology b uses it too');
    assert.deepEqual(leave.outcome === 'leave' && lines(leave.steps), ['ip link set dev br-x alias pipework-topology:b']);
    const gone = removeBridge('br-x', bridge('br-x', { alias: markText('a'), ports: ['veth1', 'pwx42'] }), 'a', ['veth1', 'pwx42']);
    assert.equal(gone.outcome, 'remove', 'its own ports go in the same run');
    const step = gone.outcome === 'remove' ? gone.steps[0]! : undefined;
    assert.deepEqual(step?.action, { kind: 'ip', place: 'host', args: ['link', 'del', 'dev', 'br-x'], onlyIfBridgeEmpty: 'br-x' }, 'checked again when it runs');
    assert.equal(step?.irreversible, true);
  });

  void test('the classic line\'s br* and a CNI network make it through the same steps, with the MTU asked', () => {
    const classic = planAttach(attachContext(['br-new', 'web', '10.171.0.2/24']));
    assert.deepEqual(lines(classic.steps.slice(0, 2)), ['ip link add name br-new type bridge', 'ip link set dev br-new up']);
    assert.deepEqual(classic.steps[0]!.raceOk, { bridgeExists: 'br-new' });
    const cni = planGatewayPrelude('br-cni', undefined, [{ cidr: '10.171.0.1/24', family: 4 }], { addresses: [], macPinned: false, forwarding: { 4: true, 6: true } }, false, 1400);
    assert.deepEqual(lines(cni.slice(0, 2)), ['ip link add name br-cni type bridge', 'ip link set dev br-cni mtu 1400 up']);
    assert.deepEqual(cni.slice(0, 2), createBridge({ name: 'br-cni', mtu: 1400 }), 'the very steps of the bridge driver');
  });
});

void describe('network driver: Open vSwitch bridge', () => {
  void test('create: one transaction with its datapath, mark and MTU; --may-exist; undone only while empty', () => {
    const made = createOvsBridge({ name: 'ovs-x', owner: 'demo', mtu: 1400 }, ovsFacts({ kernelDatapath: false }));
    assert.deepEqual(lines(made.steps), [
      'ovs-vsctl --timeout=10 --may-exist add-br ovs-x -- set bridge ovs-x datapath_type=netdev -- set bridge ovs-x external-ids:pipework.topology=demo -- set interface ovs-x mtu_request=1400',
    ]);
    assert.equal(made.steps[0]!.title, 'create Open vSwitch bridge ovs-x, marked as made by topology demo, MTU 1400');
    assert.deepEqual(made.steps[0]!.undo, [{ kind: 'exec', place: 'host', argv: ['ovs-vsctl', '--timeout=10', '--if-exists', 'del-br', 'ovs-x'], onlyIfOvsBridgeEmpty: 'ovs-x' }]);
    assert.equal(made.warnings.length, 1, 'the userspace datapath is noted');
    assert.deepEqual(lines(createOvsBridge({ name: 'ovs-y' }, ovsFacts()).steps), ['ovs-vsctl --timeout=10 --may-exist add-br ovs-y']);
  });

  void test('check: there, missing (made), a Linux bridge or another link of that name, Open vSwitch not running', () => {
    assert.deepEqual(checkOvsBridge({ name: 'ovs-x' }, ovsFacts({ bridges: ['ovs-x'] }), undefined), { drifts: [] });
    const missing = checkOvsBridge({ name: 'ovs-x' }, ovsFacts(), undefined);
    assert.deepEqual(missing.drifts.map((d) => [d.what, lines(d.repair)]), [['Open vSwitch bridge ovs-x is missing', ['ovs-vsctl --timeout=10 --may-exist add-br ovs-x']]]);
    assert.match(checkOvsBridge({ name: 'br0' }, ovsFacts(), bridge('br0')).problem ?? '', /is a Linux bridge/u);
    assert.match(checkOvsBridge({ name: 'eth9' }, ovsFacts(), nic('eth9')).problem ?? '', /not an Open vSwitch bridge/u);
    assert.match(checkOvsBridge({ name: 'ovs-x' }, ovsFacts({ switchRunning: false }), undefined).problem ?? '', /ovs-vswitchd is not running/u);
  });

  void test('remove: only the one marked as ours, only with no port but those the run removes', () => {
    assert.deepEqual(removeOvsBridge(undefined, 'a'), { outcome: 'gone' });
    assert.deepEqual(removeOvsBridge({ name: 'ovs-x', ports: [] }, 'a'), { outcome: 'keep', why: 'not made by topology a' });
    assert.deepEqual(removeOvsBridge({ name: 'ovs-x', mark: 'a' }, 'a'), { outcome: 'keep', why: 'its ports could not be read' });
    assert.deepEqual(removeOvsBridge({ name: 'ovs-x', mark: 'a', ports: ['p1', 'other'] }, 'a', ['p1']), { outcome: 'keep', why: 'ports other are not this topology\'s' });
    const r = removeOvsBridge({ name: 'ovs-x', mark: 'a', ports: ['p1'] }, 'a', ['p1']);
    assert.ok(r.outcome === 'remove');
    assert.deepEqual(r.steps[0]!.action, { kind: 'exec', place: 'host', argv: ['ovs-vsctl', '--timeout=10', '--if-exists', 'del-br', 'ovs-x'], onlyIfOvsBridgeEmpty: 'ovs-x' });
  });

  void test('the classic line\'s ovs* makes it through the same module', () => {
    const p = planAttach(attachContext(['ovs-new', 'web', '10.171.0.2/24'], { ovs: ovsFacts() }));
    assert.deepEqual(p.steps[0], createOvsBridge({ name: 'ovs-new' }, ovsFacts()).steps[0]);
  });
});

void describe('network driver: VXLAN device', () => {
  const d: VxlanDevice = { network: 'ov', name: 'pwx42', vni: 42, port: 4789, local: '192.0.2.1', bridge: 'br-ov', mtu: 1450, peers: [{ host: 'h2', address: '192.0.2.2' }] };
  const mark = markText('ov@h1');
  const live = { name: 'pwx42', vni: 42, port: 4789, local: '192.0.2.1', alias: mark, master: 'br-ov', mtu: 1450, up: true, floods: ['192.0.2.2'] };

  void test('create declares the kernel feature it needs, and is undone by deleting the device', () => {
    const steps = createVxlan(d, mark);
    assert.equal(steps[0]!.needs, 'VXLAN devices (CONFIG_VXLAN)');
    assert.deepEqual(steps[0]!.undo.map(show), ['ip link del dev pwx42']);
    assert.deepEqual(lines(steps).slice(1), [`ip link set dev pwx42 alias ${mark}`, 'ip link set dev pwx42 master br-ov up', 'bridge fdb append 00:00:00:00:00:00 dev pwx42 dst 192.0.2.2']);
  });

  void test('check: as the file says; missing; other settings; state; flood entries missing or extra', () => {
    assert.deepEqual(checkVxlan(d, live, mark).drifts, []);
    assert.deepEqual(checkVxlan(d, undefined, mark).drifts.map((x) => x.what), ['pwx42 does not exist']);
    const moved = checkVxlan(d, { ...live, port: 8472 }, mark).drifts;
    assert.deepEqual(moved.map((x) => x.what), ['port 8472 instead of 4789']);
    assert.equal(moved[0]!.repair[0]!.irreversible, true, 'made again: the old one is removed first');
    assert.deepEqual(checkVxlan(d, { ...live, mtu: 1500, up: false }, mark).drifts.map((x) => x.what), ['MTU 1500 instead of 1450, down']);
    const floods = checkVxlan(d, { ...live, floods: ['192.0.2.9'] }, mark).drifts;
    assert.deepEqual(floods.map((x) => x.what), ['no FDB entry for peer h2 (192.0.2.2)', 'floods broadcasts to 192.0.2.9, no longer a host of the file']);
    assert.deepEqual(floods.map((x) => lines(x.repair)), [['bridge fdb append 00:00:00:00:00:00 dev pwx42 dst 192.0.2.2'], ['bridge fdb del 00:00:00:00:00:00 dev pwx42 dst 192.0.2.9']]);
  });

  void test('remove: only a device carrying the mark', () => {
    assert.deepEqual(removeVxlan('pwx42', undefined, mark), { outcome: 'gone' });
    assert.equal(removeVxlan('pwx42', { alias: 'someone else' }, mark).outcome, 'keep');
    const r = removeVxlan('pwx42', { alias: mark }, mark);
    assert.ok(r.outcome === 'remove');
    assert.deepEqual(lines(r.steps), ['ip link del dev pwx42']);
  });
});
