// Every host kind besides a plain Linux bridge, planned from fixed facts: macvlan on a NIC, VLAN
// sub-interfaces, --direct-phys, Open vSwitch, Linux bridge VLANs, dummy and IPoIB; and how
// their records are taken down again.
import { GUEST_NETNS, HOST_NETNS } from '../../src/model/plan.js';
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { pkeyHex } from '../../src/drivers/ipoib.js';
import { OVS_SETUP_ERROR } from '../../src/drivers/ovs.js';
import { driverFor } from '../../src/drivers/registry.js';
import { VLAN_MARK } from '../../src/model/vlan.js';
import { vlanIfName } from '../../src/drivers/names.js';
import type { Action, Plan, Step } from '../../src/model/plan.js';
import { planAttach, planDetach, type PlanInput } from '../../src/engine/planner.js';
import { batchLine } from '../../src/exec/ip.js';
import { featureText } from '../../src/host/kernel.js';
import { ConflictError, InvalidArgumentError, NotFoundError, UnsupportedError } from '../../src/model/errors.js';
import { IFNAME_MAX } from '../../src/model/ifname.js';
import { configOf, decodeRecord, encodeRecord, type AttachRecord } from '../../src/model/record.js';
import { parsePkey } from '../../src/model/vlan.js';
import type { HostLink } from '../../src/host/links.js';
import { DUMMY_DEVICES } from '../../src/drivers/dummy.js';
import { IPOIB_DEVICES } from '../../src/drivers/ipoib.js';
import { MACVLAN_DEVICES } from '../../src/drivers/macvlan.js';
import {
  assertThrows, attachContext, bridge, guestFacts, ib, nic, ovsFacts, type ContextOptions,
} from './fakes.js';

const NS = GUEST_NETNS;
const HOST_NS = HOST_NETNS;
const VETH = 'veth1pl4242';
const NIC_MAC = '52:54:00:12:34:56';
const MAC = '02:42:ac:11:00:02';

/** Here the guest is Docker container web and the host has a NIC eth0, unless told otherwise. */
const ctx = (argv: string[], o: ContextOptions = {}): PlanInput => attachContext(argv, { name: 'web', links: [nic('eth0')], ...o });
const plan = (argv: string[], o: ContextOptions = {}): Plan => planAttach(ctx(argv, o));
/** What del does for one interface of this record (its host kind's driver). */
/**
 * The guarded steps that bring a NIC pipework brought up down again (decided when they run:
 * planner.test.ts covers them) are left out here, where the removal itself is the point.
 */
const isNicDown = (s: Step): boolean => s.action.kind === 'ip' && s.action.onlyIfAltName !== undefined;
const planDetachLink = (guestIf: string, record: AttachRecord): Step[] => driverFor(record.hostKind).planDel(record, guestIf).filter((s) => !isNicDown(s));
const detachPlan = (...args: Parameters<typeof planDetach>): Plan => {
  const p = planDetach(...args);
  return { ...p, steps: p.steps.filter((s) => !isNicDown(s)) };
};

function show(a: Action): string {
  if (a.kind === 'keep') return `${a.place}: ${a.text === null ? 'forget' : 'keep'} ${a.key}`;
  return a.kind === 'ip' ? `${a.place}: ip ${a.args.join(' ')}` : `${a.place}: ${a.argv.join(' ')}`;
}
const actions = (p: Plan): string[] => p.steps.map((s) => show(s.action));
const undos = (p: Plan): string[][] => p.steps.map((s) => s.undo.map(show));
const needs = (p: Plan): (string | undefined)[] => p.steps.map((s) => s.needs);

/** The guest steps of a plain `10.0.0.2/24` attach: the record, the address, up. */
function guestPart(p: Plan, guestIf = 'eth1'): string[] {
  return [
    `guest: ip link set dev ${guestIf} alias ${encodeRecord(p.record!)}`,
    `guest: ip addr add 10.0.0.2/24 brd 10.0.0.255 dev ${guestIf}`,
    `guest: ip link set dev ${guestIf} up`,
  ];
}

const MACVLAN = featureText(MACVLAN_DEVICES);
const VLAN = featureText('vlan');

void describe('macvlan on a NIC', () => {
  void test('made directly inside the guest with its final name and the NIC\'s MTU; undone in the guest', () => {
    const p = plan(['eth0', 'web', '10.0.0.2/24'], { links: [nic('eth0', { mtu: 9000 })] });
    assert.deepEqual(actions(p), [
      `host: ip link add link eth0 name eth1 mtu 9000 netns ${NS} type macvlan mode bridge`,
      ...guestPart(p),
    ]);
    assert.deepEqual(undos(p)[0], ['guest: ip link del dev eth1']);
    assert.equal(p.steps[0]!.needs, MACVLAN);
    assert.ok(MACVLAN.includes('macvlan'));
    assert.deepEqual(p.record, {
      role: 'guest', guest: 'docker:web', nsInode: 4026532999, guestIf: 'eth1', hostIf: 'eth0', hostKind: 'macvlan', address: '10.0.0.2/24',
    });
    assert.equal(p.outcome, 'created');
    // Nothing stays on the host, so nothing is recorded there.
    assert.ok(!actions(p).some((a) => a.startsWith('host:') && a.includes('alias')));
  });

  void test('a MAC goes on the macvlan when it is made', () => {
    const p = plan(['eth0', 'web', '10.0.0.2/24', MAC]);
    assert.equal(actions(p)[0], `host: ip link add link eth0 name eth1 mtu 1500 address ${MAC} netns ${NS} type macvlan mode bridge`);
    assert.equal(p.record?.mac, MAC);
  });

  void test('a NIC that is down is brought up (and down again on undo); one that is up is left alone', () => {
    const down = plan(['eth0', 'web', '10.0.0.2/24'], { links: [nic('eth0', { up: false })] });
    assert.deepEqual(actions(down).slice(0, 3), [
      `host: ip link add link eth0 name eth1 mtu 1500 netns ${NS} type macvlan mode bridge`,
      'host: ip link set dev eth0 up',
      'host: ip link property add dev eth0 altname pwup.eth0',
    ]);
    assert.deepEqual(undos(down)[1], ['host: ip link set dev eth0 down']);
    // Marked on the NIC itself, so that whichever del removes its last user brings it down again.
    assert.deepEqual(undos(down)[2], ['host: ip link property del dev eth0 altname pwup.eth0']);
    const up = plan(['eth0', 'web', '10.0.0.2/24'], { links: [nic('eth0', { up: true })] });
    assert.ok(!actions(up).includes('host: ip link set dev eth0 up'));
    assert.ok(!actions(up).some((a) => a.includes('altname')), actions(up).join('\n'));
  });

  void test('-i names it; a NIC found by mac: works the same', () => {
    const p = plan(['mac:52:54:00:12:34:56', '-i', 'lan0', 'web', '10.0.0.2/24'], { links: [nic('eno1', { mac: NIC_MAC })] });
    assert.equal(actions(p)[0], `host: ip link add link eno1 name lan0 mtu 1500 netns ${NS} type macvlan mode bridge`);
    assert.equal(p.record?.hostIf, 'eno1');
    assert.equal(p.record?.guestIf, 'lan0');
  });

  void test('the kernel feature comes first, so a kernel without macvlan fails before anything changed', () => {
    const p = plan(['eth0', 'web', '10.0.0.2/24', MAC], { links: [nic('eth0', { up: false })] });
    assert.deepEqual(needs(p), [MACVLAN, undefined, undefined, undefined, undefined, undefined]);
  });
});

void describe('a VLAN sub-interface on a NIC (@vlan)', () => {
  void test('<nic>.<vlan> is made first (802.1Q) and marked as pipework\'s, then the macvlan on it; it is recorded', () => {
    const p = plan(['eth0', 'web', '10.0.0.2/24', '@10'], { links: [nic('eth0', { mtu: 9000 })] });
    assert.deepEqual(actions(p), [
      'host: ip link add link eth0 name eth0.10 mtu 9000 type vlan id 10',
      'host: ip link set dev eth0.10 alias pipework/vlan',
      `host: ip link add link eth0.10 name eth1 mtu 9000 netns ${NS} type macvlan mode bridge`,
      'host: ip link set dev eth0.10 up',
      ...guestPart(p),
    ]);
    assert.equal(VLAN_MARK, 'pipework/vlan');
    // The mark goes with the device: it needs no undo of its own.
    assert.deepEqual(undos(p).slice(0, 4), [['host: ip link del dev eth0.10'], [], ['guest: ip link del dev eth1'], []]);
    assert.deepEqual(needs(p).slice(0, 4), [VLAN, undefined, MACVLAN, undefined]);
    assert.ok(VLAN.includes('8021q'));
    assert.equal(p.record?.vlan, 10);
    assert.equal(p.record?.vlanIf, 'eth0.10');
    assert.ok(encodeRecord(p.record).includes(';v=10;q=eth0.10'));
  });

  void test('with the NIC down: the NIC comes up after the VLAN device is made', () => {
    const p = plan(['eth0', 'web', '10.0.0.2/24', '@10'], { links: [nic('eth0', { up: false })] });
    assert.deepEqual(actions(p).slice(0, 6), [
      'host: ip link add link eth0 name eth0.10 mtu 1500 type vlan id 10',
      `host: ip link set dev eth0.10 alias ${VLAN_MARK}`,
      'host: ip link set dev eth0 up',
      'host: ip link property add dev eth0 altname pwup.eth0',
      `host: ip link add link eth0.10 name eth1 mtu 1500 netns ${NS} type macvlan mode bridge`,
      'host: ip link set dev eth0.10 up',
    ]);
    assert.deepEqual(undos(p)[2], ['host: ip link set dev eth0 down']);
  });

  void test('an existing VLAN device with that id on that NIC is reused: no step, no mark, recorded as the one it hangs off', () => {
    const p = plan(['eth0', 'web', '10.0.0.2/24', '@10'], {
      links: [nic('eth0'), nic('eth0.10', { up: true })],
      details: { 'eth0.10': { kind: 'vlan', vlanId: 10, parent: 'eth0' } },
    });
    assert.deepEqual(actions(p), [`host: ip link add link eth0.10 name eth1 mtu 1500 netns ${NS} type macvlan mode bridge`, ...guestPart(p)]);
    assert.ok(!actions(p).some((a) => a.includes(VLAN_MARK)), 'a device pipework did not make is not marked as its own');
    // Recorded whether made now or reused: del decides at run time (by the mark) whether it goes.
    assert.equal(p.record?.vlanIf, 'eth0.10');
    assert.ok(encodeRecord(p.record).includes(';v=10;q=eth0.10'));
    assert.equal(p.record?.vlan, 10);
    // Reused but down: brought up, and down again on undo.
    const down = plan(['eth0', 'web', '10.0.0.2/24', '@10'], {
      links: [nic('eth0'), nic('eth0.10', { up: false })],
      details: { 'eth0.10': { kind: 'vlan', vlanId: 10 } },
    });
    assert.deepEqual(actions(down).slice(0, 2), [
      `host: ip link add link eth0.10 name eth1 mtu 1500 netns ${NS} type macvlan mode bridge`,
      'host: ip link set dev eth0.10 up',
    ]);
    assert.deepEqual(undos(down)[1], ['host: ip link set dev eth0.10 down']);
  });

  void test('an existing link of that name that is not such a VLAN device is refused', () => {
    const refused = (details: ContextOptions['details']) => assertThrows(
      () => plan(['eth0', 'web', '10.0.0.2/24', '@10'], { links: [nic('eth0'), nic('eth0.10')], ...(details && { details }) }),
      ConflictError, 'eth0.10 already exists but is not a VLAN device for tag 10', 'eth0');
    refused({ 'eth0.10': { kind: 'macvlan' } });
    refused({ 'eth0.10': { kind: 'vlan', vlanId: 11, parent: 'eth0' } });
    refused({ 'eth0.10': { kind: 'vlan', vlanId: 10, parent: 'eth1' } });
    refused({ 'eth0.10': {} });
    // No details at all (the command layer could not tell): refused, not trusted.
    refused(undefined);
  });

  void test('a NIC name so long that <nic>.<vlan> exceeds 15 characters gets a hashed pwq… name', () => {
    const long = 'enp129s0f1np1';
    const name = vlanIfName(long, 100);
    assert.match(name, /^pwq[0-9a-f]{12}$/u);
    assert.equal(name.length, IFNAME_MAX);
    assert.equal(vlanIfName(long, 100), name, 'deterministic');
    assert.notEqual(vlanIfName(long, 101), name);
    assert.notEqual(vlanIfName('enp129s0f1np2', 100), name);
    // Where the classic name fits, it is the classic name (15 characters exactly).
    assert.equal(vlanIfName('enp129s0f1', 4094), 'enp129s0f1.4094');
    assert.equal(vlanIfName('eth0', 4094), 'eth0.4094');
    const p = plan([long, 'web', '10.0.0.2/24', '@100'], { links: [nic(long)] });
    assert.deepEqual(actions(p).slice(0, 4), [
      `host: ip link add link ${long} name ${name} mtu 1500 type vlan id 100`,
      `host: ip link set dev ${name} alias ${VLAN_MARK}`,
      `host: ip link add link ${name} name eth1 mtu 1500 netns ${NS} type macvlan mode bridge`,
      `host: ip link set dev ${name} up`,
    ]);
    assert.equal(p.record?.vlanIf, name);
  });
});

/** The record a --direct-phys attach keeps on the host (of web's eth1), and its removal. */
const KEEP = 'host: keep 4026532999-eth1.json';
const FORGET = 'host: forget 4026532999-eth1.json';

void describe('--direct-phys', () => {
  void test('the NIC itself moves in, renamed in the same step; its undo gives it back under its own name', () => {
    const p = plan(['--direct-phys', 'eth0', 'web', '10.0.0.2/24']);
    // What it goes back as is kept on the host first: the guest can rewrite what the NIC carries.
    assert.deepEqual(actions(p), [KEEP, `host: ip link set dev eth0 netns ${NS} name eth1`, ...guestPart(p)]);
    assert.deepEqual(undos(p)[0], [FORGET]);
    const kept = p.steps[0]!.action;
    assert.ok(kept.kind === 'keep' && kept.text !== null);
    assert.deepEqual(decodeRecord((JSON.parse(kept.text) as { record: string }).record), { ...p.record, role: 'host' });
    assert.deepEqual(undos(p)[1], [`guest: ip link set dev eth1 netns ${HOST_NS} name eth0`]);
    // The record on it is cleared again before it goes back (no stale record on the host).
    assert.deepEqual(undos(p)[2], ['guest: ip link set dev eth1 alias ']);
    assert.deepEqual(p.record, {
      role: 'guest', guest: 'docker:web', nsInode: 4026532999, guestIf: 'eth1', hostIf: 'eth0', hostKind: 'phys', address: '10.0.0.2/24', origName: 'eth0',
    });
  });

  void test('with a MAC: set inside the guest, the NIC\'s own MAC recorded and restored on undo', () => {
    const p = plan(['--direct-phys', 'eth0', 'web', '10.0.0.2/24', MAC]);
    assert.deepEqual(actions(p).slice(0, 3), [KEEP, `host: ip link set dev eth0 netns ${NS} name eth1`, `guest: ip link set dev eth1 address ${MAC}`]);
    assert.deepEqual(undos(p)[2], [`guest: ip link set dev eth1 address ${NIC_MAC}`]);
    assert.equal(p.record?.origName, 'eth0');
    assert.equal(p.record?.origMac, NIC_MAC);
    assert.equal(p.record?.mac, MAC);
    assert.deepEqual(decodeRecord(encodeRecord(p.record)), p.record);
  });

  void test('with @vlan: the VLAN sub-interface is made and moved in instead of the NIC', () => {
    const p = plan(['--direct-phys', 'eth0', 'web', '10.0.0.2/24', `${MAC}@10`]);
    assert.deepEqual(actions(p).slice(0, 5), [
      KEEP,
      'host: ip link add link eth0 name eth0.10 mtu 1500 type vlan id 10',
      `host: ip link set dev eth0.10 alias ${VLAN_MARK}`,
      `host: ip link set dev eth0.10 netns ${NS} name eth1`,
      `guest: ip link set dev eth1 address ${MAC}`,
    ]);
    assert.deepEqual(undos(p).slice(0, 4), [[FORGET], ['host: ip link del dev eth0.10'], [], [`guest: ip link set dev eth1 netns ${HOST_NS} name eth0.10`]]);
    assert.equal(p.steps[1]!.needs, VLAN);
    assert.equal(p.record?.hostIf, 'eth0');
    assert.equal(p.record?.origName, 'eth0.10');
    assert.equal(p.record?.vlanIf, 'eth0.10');
    assert.equal(p.record?.vlan, 10);
    // This attach made the sub-interface that moved in: del gives it its mark back.
    assert.equal(p.record?.vlanMade, true);
  });

  void test('with @vlan and an existing VLAN device: that device moves in, the NIC stays', () => {
    const p = plan(['--direct-phys', 'eth0', 'web', '10.0.0.2/24', '@10'], {
      links: [nic('eth0'), nic('eth0.10', { mac: '52:54:00:00:00:10' })],
      details: { 'eth0.10': { kind: 'vlan', vlanId: 10, parent: 'eth0' } },
    });
    assert.deepEqual(actions(p).slice(0, 2), [KEEP, `host: ip link set dev eth0.10 netns ${NS} name eth1`]);
    assert.ok(!actions(p).some((a) => a.includes(VLAN_MARK)));
    assert.equal(p.record?.origName, 'eth0.10');
    assert.equal(p.record?.vlanIf, 'eth0.10');
    assert.equal(p.record?.vlanMade, undefined);
  });

  void test('planDetachLink gives the NIC back: MAC restored, moved to the host under its name, the record cleared there', () => {
    const p = plan(['--direct-phys', 'eth0', 'web', '10.0.0.2/24', MAC]);
    const steps = planDetachLink('eth1', p.record!);
    assert.deepEqual(steps.map((s) => show(s.action)), [
      `guest: ip link set dev eth1 address ${NIC_MAC}`,
      `guest: ip link set dev eth1 netns ${HOST_NS} name eth0`,
      'host: ip link set dev eth0 alias ',
      FORGET,
    ]);
    const clear = steps[2]!.action;
    assert.ok(clear.kind === 'ip');
    assert.equal(clear.args.at(-1), '', 'an empty alias');
    assert.equal(batchLine(clear.args), 'link set dev eth0 alias ""');
    assert.ok(steps.every((s) => s.undo.length === 0));
    // Without a MAC: no MAC to restore.
    const plain = plan(['--direct-phys', 'eth0', 'web', '10.0.0.2/24']);
    assert.deepEqual(planDetachLink('eth1', plain.record!).map((s) => show(s.action)), [
      `guest: ip link set dev eth1 netns ${HOST_NS} name eth0`,
      'host: ip link set dev eth0 alias ',
      FORGET,
    ]);
  });

  void test('refused on a dummy interface and on IPoIB', () => {
    assertThrows(() => plan(['--direct-phys', 'dummy0', 'web', '10.0.0.2/24'], { links: [] }), InvalidArgumentError, '--direct-phys', 'dummy0', 'dummy');
    assertThrows(() => plan(['--direct-phys', 'ib0', 'web', '10.0.0.2/24'], { links: [ib('ib0')] }), InvalidArgumentError, '--direct-phys', 'ib0', 'IPoIB');
  });

  void test('on a bridge it is refused (the classic tool ignored it there; now it says so)', () => {
    assertThrows(() => plan(['--direct-phys', 'br0', 'web', '10.0.0.2/24'], { links: [bridge('br0')] }), InvalidArgumentError, '--direct-phys', 'br0', 'Linux bridge');
    assertThrows(() => plan(['--direct-phys', 'ovsbr0', 'web', '10.0.0.2/24'], { links: [nic('ovsbr0')], ovs: ovsFacts({ bridges: ['ovsbr0'] }) }),
      InvalidArgumentError, '--direct-phys', 'ovsbr0', 'Open vSwitch');
    // Without the flag, the same bridge is fine.
    assert.equal(plan(['br0', 'web', '10.0.0.2/24'], { links: [bridge('br0')] }).outcome, 'created');
  });

  void test(
    're-running the same --direct-phys attach changes nothing',
    () => {
      const first = plan(['--direct-phys', 'eth0', 'web', '10.0.0.2/24']);
      const link = { name: 'eth1', alias: encodeRecord(first.record!), up: true, mac: NIC_MAC };
      // After the first run eth0 is gone from the host.
      const again = plan(['--direct-phys', 'eth0', 'web', '10.0.0.2/24'], { links: [], facts: guestFacts(['lo', 'eth0', link]) });
      assert.equal(again.outcome, 'unchanged');
    },
  );
});

void describe('Open vSwitch', () => {
  const OVS = ovsFacts({ bridges: ['ovsbr0'] });
  const CONTAINER = { id: '4f0c3a2b1d9e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5b6c7d8e9f0a', name: 'web' };
  // One transaction: any row of that name goes, the new one has exactly pipework's columns.
  const addPort = (bridgeName: string, extra: string[], tag?: number, local = VETH) => [
    `host: ovs-vsctl --timeout=10 -- --if-exists del-port ${local} -- add-port ${bridgeName} ${local}${tag !== undefined ? ` tag=${tag}` : ''} -- set Interface ${local}`,
    `external-ids:pipework.interface=${local}`, `external-ids:pipework.bridge=${bridgeName}`, ...extra,
  ].join(' ');

  void test('an existing OVS bridge: a veth whose host end becomes a port with the classic external-ids and tag', () => {
    const p = plan(['ovsbr0', 'web', '10.0.0.2/24', '@10'], { links: [nic('ovsbr0', { mtu: 1450 })], ovs: OVS, container: CONTAINER });
    const a = actions(p);
    assert.equal(a[0], `host: ip link add name ${VETH} mtu 1450 type veth peer name eth1 mtu 1450 netns ${NS}`);
    assert.equal(a[1], `host: ip link set dev ${VETH} alias ${encodeRecord({ ...p.record!, role: 'host' })}`);
    const portAt = a.findIndex((x) => x.includes('add-port'));
    assert.equal(a[portAt], addPort('ovsbr0', [
      `external-ids:pipework.containerid=${CONTAINER.id}`, 'external-ids:pipework.containername=/web',
      'external-ids:pipework.nspid=4242', 'external-ids:pipework.vlan=10',
    ], 10));
    const port = p.steps[portAt]!;
    assert.ok(port.action.kind === 'exec');
    assert.equal(port.action.failOnStderr, OVS_SETUP_ERROR);
    assert.equal(OVS_SETUP_ERROR, 'Error detected while setting up');
    assert.deepEqual(port.undo.map(show), [`host: ovs-vsctl --timeout=10 --if-exists del-port ovsbr0 ${VETH}`]);
    assert.ok(a.includes(`host: ip link set dev ${VETH} up`));
    assert.deepEqual(a.slice(-3), guestPart(p));
    assert.deepEqual(undos(p)[0], [`host: ip link del dev ${VETH}`]);
    assert.equal(p.record?.hostKind, 'ovs');
    assert.equal(p.record?.localIf, VETH);
    assert.equal(p.record?.vlan, 10);
    assert.deepEqual(p.warnings, ['Warning: arping not found; interface may not be immediately reachable']);
    // Every ovs-vsctl call is bounded.
    assert.ok(p.steps.every((s) => s.action.kind !== 'exec' || s.action.argv[0] !== 'ovs-vsctl' || s.action.argv[1] === '--timeout=10'));
  });

  void test('external-ids only when known: no container for a netns guest, no nspid without a PID, no tag without a VLAN', () => {
    const p = plan(['ovsbr0', 'web', '10.0.0.2/24'], { links: [nic('ovsbr0')], ovs: OVS, guest: { pid: 4242, nsInode: 4026532999 } });
    assert.equal(actions(p).find((x) => x.includes('add-port')), addPort('ovsbr0', ['external-ids:pipework.nspid=4242']));
  });

  void test('a guest the classic ids cannot name (no container, no PID) gets pipework.guest', () => {
    const p = plan(['ovsbr0', 'web', '10.0.0.2/24'], { links: [nic('ovsbr0')], ovs: OVS, guest: { nsInode: 4026532999 } });
    const local = p.record!.localIf!;
    assert.match(local, /^pwv[0-9a-f]{12}$/u);
    assert.equal(actions(p).find((x) => x.includes('add-port')), addPort('ovsbr0', ['external-ids:pipework.guest="docker:web"'], undefined, local));
    // With a container or a PID the classic ids name it: no pipework.guest.
    for (const o of [{ container: CONTAINER, guest: { nsInode: 1 } }, { guest: { pid: 7, nsInode: 1 } }]) {
      const named = plan(['ovsbr0', 'web', '10.0.0.2/24'], { links: [nic('ovsbr0')], ovs: OVS, ...o });
      assert.ok(!actions(named).some((a) => a.includes('pipework.guest')), actions(named).join('\n'));
    }
  });

  void test('an OVS bridge that is no ovs* name is still OVS when the database says so', () => {
    const p = plan(['sw1', 'web', '10.0.0.2/24'], { links: [nic('sw1')], ovs: ovsFacts({ bridges: ['sw1'] }) });
    assert.equal(p.record?.hostKind, 'ovs');
    assert.ok(actions(p).some((a) => a.includes('add-port sw1 ')));
  });

  void test('the host end is brought up once, before it becomes a port: one host batch, then ovs-vsctl', () => {
    const p = plan(['ovsbr0', 'web', '10.0.0.2/24'], { links: [nic('ovsbr0')], ovs: OVS });
    assert.equal(actions(p).filter((a) => a === `host: ip link set dev ${VETH} up`).length, 1, actions(p).join('\n'));
    assert.deepEqual(actions(p).slice(0, 3).map((a) => a.split(' ').slice(0, 3).join(' ')), ['host: ip link', 'host: ip link', 'host: ip link']);
    assert.ok(actions(p)[3]!.startsWith(`host: ovs-vsctl --timeout=10 -- --if-exists del-port ${VETH} -- add-port ovsbr0 `), actions(p)[3]);
    assert.ok(actions(p)[4]!.startsWith('guest: '));
  });

  void test('a missing ovs* bridge is created first (may-exist), and removed on undo only if no port is left', () => {
    const p = plan(['ovs7', 'web', '10.0.0.2/24'], { links: [], ovs: ovsFacts() });
    const first = p.steps[0]!;
    assert.equal(show(first.action), 'host: ovs-vsctl --timeout=10 --may-exist add-br ovs7');
    assert.ok(first.action.kind === 'exec');
    assert.equal(first.action.failOnStderr, OVS_SETUP_ERROR);
    assert.deepEqual(first.undo, [{ kind: 'exec', place: 'host', argv: ['ovs-vsctl', '--timeout=10', '--if-exists', 'del-br', 'ovs7'], onlyIfOvsBridgeEmpty: 'ovs7' }]);
    assert.ok(actions(p).some((a) => a.includes('add-port ovs7 ')));
    assert.ok(!p.warnings.some((w) => w.includes('datapath')));
  });

  void test('without the kernel datapath a new bridge uses the userspace one, with a note', () => {
    const p = plan(['ovs7', 'web', '10.0.0.2/24'], { links: [], ovs: ovsFacts({ kernelDatapath: false }) });
    assert.equal(show(p.steps[0]!.action), 'host: ovs-vsctl --timeout=10 --may-exist add-br ovs7 -- set bridge ovs7 datapath_type=netdev');
    assert.ok(p.warnings.some((w) => w.includes('ovs7') && w.includes('userspace') && w.includes('netdev')), p.warnings.join('\n'));
    // An existing bridge keeps whatever datapath it has.
    const existing = plan(['ovsbr0', 'web', '10.0.0.2/24'], { links: [nic('ovsbr0')], ovs: ovsFacts({ bridges: ['ovsbr0'], kernelDatapath: false }) });
    assert.ok(!actions(existing).some((a) => a.includes('datapath_type')));
    assert.ok(!existing.warnings.some((w) => w.includes('datapath')));
  });

  void test('Open vSwitch not installed, ovsdb not running, ovs-vswitchd not running: a clear refusal', () => {
    assertThrows(() => plan(['ovs7', 'web', '10.0.0.2/24'], { links: [] }), UnsupportedError, 'Open vSwitch is not installed', 'ovs7');
    assertThrows(() => plan(['ovs7', 'web', '10.0.0.2/24'], { links: [], ovs: ovsFacts({ installed: false, dbRunning: false, switchRunning: false }) }),
      UnsupportedError, 'Open vSwitch is not installed', 'ovs7');
    assertThrows(() => plan(['ovs7', 'web', '10.0.0.2/24'], { links: [], ovs: ovsFacts({ dbRunning: false, switchRunning: false }) }),
      UnsupportedError, 'Open vSwitch is not running', 'ovsdb-server', 'ovs7');
    assertThrows(() => plan(['ovsbr0', 'web', '10.0.0.2/24'], { links: [nic('ovsbr0')], ovs: ovsFacts({ bridges: ['ovsbr0'], switchRunning: false }) }),
      UnsupportedError, 'ovs-vswitchd is not running', 'ovsbr0');
  });

  void test('planDetachLink for an OVS record removes the pair and the port row', () => {
    const p = plan(['ovsbr0', 'web', '10.0.0.2/24', '@10'], { links: [nic('ovsbr0')], ovs: OVS });
    const steps = planDetachLink('eth1', p.record!);
    assert.deepEqual(steps.map((s) => show(s.action)), [
      'guest: ip link del dev eth1',
      `host: ovs-vsctl --timeout=10 --if-exists del-port ovsbr0 ${VETH}`,
    ]);
    assert.ok(steps[0]!.title.includes(VETH) && steps[0]!.title.includes('ovsbr0'), steps[0]!.title);
    assert.ok(steps.every((s) => s.undo.length === 0));
  });

  void test('a port made for another owner carries pipework.owner', () => {
    const p = plan(['ovsbr0', 'web', '10.0.0.2/24'], { links: [nic('ovsbr0')], ovs: OVS, owner: { kind: 'topology', name: 'lab' } });
    assert.equal(actions(p).find((x) => x.includes('add-port')), addPort('ovsbr0', ['external-ids:pipework.nspid=4242', 'external-ids:pipework.owner="topology:lab"']));
    assert.equal(p.record?.owner, 'topology:lab');
  });

  void test('--replace of an OVS attach: the old pair is parked, its row taken off in a transaction of its own, the same host end made again', () => {
    const first = plan(['ovsbr0', 'web', '10.0.0.2/24'], { links: [nic('ovsbr0')], ovs: OVS });
    const link = { name: 'eth1', alias: encodeRecord(first.record!), up: true, kind: 'veth' };
    const p = plan(['ovsbr0', 'web', '10.0.0.3/24', '--replace'], {
      links: [nic('ovsbr0'), nic(VETH, { up: true })], ovs: OVS, facts: guestFacts(['lo', 'eth0', link]),
    });
    assert.equal(p.outcome, 'replaced');
    const a = actions(p);
    assert.equal(a[0], 'guest: ip link set dev eth1 down');
    assert.match(a[1]!, /^guest: ip link set dev eth1 name pwo[0-9a-f]{12}$/u);
    assert.equal(a[2], 'host: ip link set dev veth1pl4242 down');
    const parkedHost = /^host: ip link set dev veth1pl4242 name (pwp[0-9a-f]{12})$/u.exec(a[3]!)?.[1];
    assert.ok(parkedHost !== undefined, a[3]);
    // Should the replace fail, the old end gets its name back and its row as it was.
    assert.deepEqual([...undos(p)[2]!, ...undos(p)[3]!], [
      `host: ${['ovs-vsctl', '--timeout=10', '--', '--if-exists', 'del-port', VETH, '--', 'add-port', 'ovsbr0', VETH, '--', 'set', 'Interface', VETH,
        `external-ids:pipework.interface=${VETH}`, 'external-ids:pipework.bridge=ovsbr0', 'external-ids:pipework.nspid=4242'].join(' ')}`,
      `host: ip link set dev ${VETH} up`,
      `host: ip link set dev ${parkedHost} name ${VETH}`,
    ]);
    // Replaced by the new port's row in one transaction under the same name, ovs-vswitchd (userspace
    // datapath) would keep the parked device open as the port: the old row goes on its own first.
    assert.equal(a[4], `host: ovs-vsctl --timeout=10 --if-exists del-port ovsbr0 ${VETH}`);
    assert.deepEqual(undos(p)[4], [], 'the park step puts the row back');
    assert.equal(a[5], `host: ip link add name ${VETH} mtu 1500 type veth peer name eth1 mtu 1500 netns ${NS}`);
    assert.ok(a.includes(addPort('ovsbr0', ['external-ids:pipework.nspid=4242'])), a.join('\n'));
    assert.equal(a.filter((x) => x.startsWith('host: ovs-vsctl --timeout=10 --if-exists del-port')).length, 1, a.join('\n'));
    // Last, the parked pair goes.
    assert.match(a.at(-1)!, /^guest: ip link del dev pwo[0-9a-f]{12}$/u);
    assert.ok(p.steps.at(-1)!.title.includes('(replaced)'), p.steps.at(-1)!.title);
    assert.equal(p.steps.at(-1)!.irreversible, true);
  });

  void test('--replace of an OVS attach by a Linux bridge one that takes the same host end name: the old port row goes first', () => {
    const first = plan(['ovsbr0', 'web', '10.0.0.2/24', '@10'], { links: [nic('ovsbr0')], ovs: OVS });
    const link = { name: 'eth1', alias: encodeRecord(first.record!), up: true, kind: 'veth' };
    const p = plan(['br0', 'web', '10.0.0.3/24', '--replace'], {
      links: [bridge('br0'), nic('ovsbr0'), nic(VETH, { up: true })], ovs: OVS, facts: guestFacts(['lo', 'eth0', link]),
    });
    assert.equal(p.outcome, 'replaced');
    const a = actions(p);
    // Open vSwitch keeps a port row by name: left there, ovs-vswitchd takes the new device of that name
    // (a Linux bridge port), and the row outlives the replace.
    const rowGoes = a.findIndex((x) => x.startsWith('host: ovs-vsctl') && x.includes('del-port') && x.includes(VETH) && !x.includes('add-port'));
    const made = a.indexOf(`host: ip link add name ${VETH} mtu 1500 type veth peer name eth1 mtu 1500 netns ${NS}`);
    assert.ok(made > 0, a.join('\n'));
    assert.ok(rowGoes >= 0 && rowGoes < made, `no removal of the old row ${VETH} before the new device:\n${a.join('\n')}`);
  });
});

void describe('a VLAN on a Linux bridge (VLAN filtering)', () => {
  const CLASSIC = 'VLAN configuration currently unsupported for Linux bridge';

  void test('a new bridge is made with VLAN filtering; the port is an untagged member of the VLAN only', () => {
    const p = plan(['br9', 'web', '10.0.0.2/24', '@10'], { links: [] });
    assert.deepEqual(actions(p).slice(0, 8), [
      'host: ip link add name br9 type bridge vlan_filtering 1',
      'host: ip link set dev br9 up',
      `host: ip link add name ${VETH} mtu 1500 type veth peer name eth1 mtu 1500 netns ${NS}`,
      `host: ip link set dev ${VETH} alias ${encodeRecord({ ...p.record!, role: 'host' })}`,
      `host: ip link set dev ${VETH} master br9`,
      `host: bridge vlan add dev ${VETH} vid 10 pvid untagged`,
      `host: bridge vlan del dev ${VETH} vid 1`,
      `host: ip link set dev ${VETH} up`,
    ]);
    assert.ok(p.steps[0]!.needs?.includes(CLASSIC), p.steps[0]!.needs);
    assert.ok(p.steps[0]!.needs?.includes('VLAN filtering'), p.steps[0]!.needs);
    assert.deepEqual(p.steps[0]!.raceOk, { bridgeExists: 'br9' });
    assert.equal(p.record?.vlan, 10);
    assert.equal(p.record?.hostKind, 'bridge');
  });

  void test('an existing bridge with filtering off: a step turns it on (off again on undo)', () => {
    const p = plan(['br0', 'web', '10.0.0.2/24', '@10'], { links: [bridge('br0')], bridgeVlanFiltering: { br0: 'off' } });
    const at = actions(p).indexOf('host: ip link set dev br0 type bridge vlan_filtering 1');
    assert.ok(at >= 0, actions(p).join('\n'));
    assert.deepEqual(undos(p)[at], ['host: ip link set dev br0 type bridge vlan_filtering 0']);
    assert.ok(at < actions(p).indexOf(`host: ip link set dev ${VETH} master br0`));
    assert.ok(actions(p).includes(`host: bridge vlan add dev ${VETH} vid 10 pvid untagged`));
    assert.ok(actions(p).includes(`host: bridge vlan del dev ${VETH} vid 1`));
  });

  void test('an existing bridge with filtering on: no such step', () => {
    const p = plan(['br0', 'web', '10.0.0.2/24', '@10'], { links: [bridge('br0')], bridgeVlanFiltering: { br0: 'on' } });
    assert.ok(!actions(p).some((a) => a.includes('vlan_filtering')));
    assert.ok(actions(p).includes(`host: bridge vlan add dev ${VETH} vid 10 pvid untagged`));
  });

  void test('no VLAN: no VLAN steps, and filtering is never asked about', () => {
    const p = plan(['br0', 'web', '10.0.0.2/24'], {
      links: [bridge('br0')], bridgeVlanFiltering: { br0: 'unsupported' },
    });
    assert.ok(!actions(p).some((a) => a.includes('vlan')));
  });

  void test('a kernel without bridge VLAN filtering: the classic refusal', () => {
    assertThrows(() => plan(['br0', 'web', '10.0.0.2/24', '@10'], { links: [bridge('br0')], bridgeVlanFiltering: { br0: 'unsupported' } }),
      UnsupportedError, CLASSIC);
  });
});

void describe('dummy*', () => {
  void test('a dummy interface is made directly inside the guest; undone there', () => {
    const p = plan(['dummy0', 'web', '10.0.0.2/24'], { links: [] });
    assert.deepEqual(actions(p), [`host: ip link add name eth1 netns ${NS} type dummy`, ...guestPart(p)]);
    assert.deepEqual(undos(p)[0], ['guest: ip link del dev eth1']);
    assert.equal(p.steps[0]!.needs, featureText(DUMMY_DEVICES));
    assert.equal(p.record?.hostKind, 'dummy');
    assert.equal(p.record?.hostIf, 'dummy0');
    assert.equal(p.record?.localIf, undefined);
  });

  void test('with a MAC and -i', () => {
    const p = plan(['dummy0', '-i', 'd0', 'web', '10.0.0.2/24', MAC], { links: [] });
    assert.equal(actions(p)[0], `host: ip link add name d0 address ${MAC} netns ${NS} type dummy`);
  });

  void test('a VLAN on a dummy interface is refused', () => {
    assertThrows(() => plan(['dummy0', 'web', '10.0.0.2/24', '@10'], { links: [] }), InvalidArgumentError, 'VLAN', 'dummy');
  });

  void test('planDetachLink just deletes it in the guest', () => {
    const p = plan(['dummy0', 'web', '10.0.0.2/24'], { links: [] });
    assert.deepEqual(planDetachLink('eth1', p.record!).map((s) => show(s.action)), ['guest: ip link del dev eth1']);
    assert.equal(planDetachLink('eth1', p.record!)[0]!.title, 'remove eth1 (dummy dummy0)');
  });
});

void describe('IPoIB (link type 32)', () => {
  void test('an IPoIB child made inside the guest, named ib0 by default; the parent brought up', () => {
    const p = plan(['ib0', 'web', '10.0.0.2/24'], { links: [ib('ib0')] });
    assert.deepEqual(actions(p), [
      `host: ip link add link ib0 name ib0 netns ${NS} type ipoib`,
      'host: ip link set dev ib0 up',
      ...guestPart(p, 'ib0'),
    ]);
    assert.deepEqual(undos(p)[0], ['guest: ip link del dev ib0']);
    assert.equal(p.steps[0]!.needs, featureText(IPOIB_DEVICES));
    assert.equal(p.record?.guestIf, 'ib0');
    assert.equal(p.record?.hostKind, 'ipoib');
  });

  void test('-i overrides ib0; @vlan is the partition key, as pkey 0x<hex>', () => {
    const p = plan(['ib1', '-i', 'ibx', 'web', '10.0.0.2/24', '@5'], { links: [ib('ib1')] });
    assert.equal(actions(p)[0], `host: ip link add link ib1 name ibx netns ${NS} type ipoib pkey 0x5`);
    assert.equal(p.record?.vlan, 5);
    assert.equal(pkeyHex(0x7fff), '0x7fff');
    assert.equal(pkeyHex(1), '0x1');
    assert.deepEqual(plan(['ib0', 'web', '10.0.0.2/24', '@7fff'], { links: [ib('ib0')] }).steps[0]!.action, {
      kind: 'ip', place: 'host', args: ['link', 'add', 'link', 'ib0', 'name', 'ib0', 'netns', NS, 'type', 'ipoib', 'pkey', '0x7fff'],
    });
  });

  void test('a MAC is refused with the classic words', () => {
    assertThrows(() => plan(['ib0', 'web', '10.0.0.2/24', MAC], { links: [ib('ib0')] }), InvalidArgumentError, 'MACADDR configuration unsupported for IPoIB interfaces');
  });

  void test('partition keys 0 and 8000 (and more than 4 hex digits) are refused', () => {
    for (const bad of ['0', '8000', '10000', 'xyz', '']) assertThrows(() => parsePkey(bad), InvalidArgumentError, 'partition key');
    assertThrows(() => plan(['ib0', 'web', '10.0.0.2/24', '@8000'], { links: [ib('ib0')] }), InvalidArgumentError, 'partition key');
    assert.equal(pkeyHex(0x8001), '0x8001');
  });

  void test('the classic tool reads @<pkey> as hex digits (pkey 0x<vlan>): @10 is 0x10 and @8001 works', () => {
    const p = plan(['ib0', 'web', '10.0.0.2/24', '@10'], { links: [ib('ib0')] });
    assert.equal(actions(p)[0], `host: ip link add link ib0 name ib0 netns ${NS} type ipoib pkey 0x10`);
    assert.equal(p.record?.vlan, 0x10);
    const full = plan(['ib0', 'web', '10.0.0.2/24', '@8001'], { links: [ib('ib0')] });
    assert.match(actions(full)[0]!, /pkey 0x8001$/u);
  });

  void test('anything but IPoIB needs a VLAN id from 1 to 4094 after @ (refused before any change)', () => {
    for (const bad of ['0', '4095', 'abc', '8001']) {
      assertThrows(() => plan(['eth0', 'web', '10.0.0.2/24', `@${bad}`]), InvalidArgumentError, `'${bad}'`);
      assertThrows(() => plan(['br0', 'web', '10.0.0.2/24', `@${bad}`]), InvalidArgumentError, `'${bad}'`);
    }
  });
});

void describe('taking the new kinds down', () => {
  void test('macvlan, dummy and IPoIB children go with one deletion in the guest; titles name the kind', () => {
    const mac = plan(['eth0', 'web', '10.0.0.2/24']).record!;
    assert.deepEqual(planDetachLink('eth1', mac), [{
      title: 'remove eth1 (macvlan eth0)',
      action: { kind: 'ip', place: 'guest', args: ['link', 'del', 'dev', 'eth1'] },
      undo: [],
      irreversible: true,
    }]);
    const ipoib = plan(['ib0', 'web', '10.0.0.2/24'], { links: [ib('ib0')] }).record!;
    assert.deepEqual(planDetachLink('ib0', ipoib).map((s) => show(s.action)), ['guest: ip link del dev ib0']);
  });

  void test('planDetach of several kinds at once', () => {
    const bridged = plan(['br0', '-i', 'eth2', 'web', '10.0.0.2/24'], { links: [bridge('br0')] }).record!;
    const phys = plan(['--direct-phys', 'eth0', 'web', '10.0.0.3/24']).record!;
    const p = detachPlan([{ guestIf: 'eth2', record: bridged }, { guestIf: 'eth1', record: phys }], guestFacts(), 'g');
    assert.deepEqual(actions(p), [
      'guest: ip link del dev eth2',
      `guest: ip link set dev eth1 netns ${HOST_NS} name eth0`,
      'host: ip link set dev eth0 alias ',
      FORGET,
    ]);
    assert.equal(p.outcome, 'removed');
  });

  void test(
    'a VLAN sub-interface pipework made goes with its last user',
    () => {
      const rec: AttachRecord = plan(['eth0', 'web', '10.0.0.2/24', '@10']).record!;
      assert.equal(rec.vlanIf, 'eth0.10');
      const steps = planDetachLink('eth1', rec);
      const del = steps.find((s) => s.action.place === 'host' && s.action.kind === 'ip' && s.action.args.join(' ') === 'link del dev eth0.10');
      assert.ok(del, steps.map((s) => show(s.action)).join('\n'));
      assert.equal(del.action.kind === 'ip' && del.action.onlyIfVlanUnused, 'eth0.10', 'only when nothing else uses it');
      assert.equal(steps.indexOf(del), steps.length - 1, 'after the guest interface is gone');
    },
  );

  void test('the whole detach of a macvlan on a VLAN: the irreversible removal, then the VLAN device if unused', () => {
    const rec = plan(['eth0', 'web', '10.0.0.2/24', '@10']).record!;
    // What del reads back from the alias is what attach recorded.
    assert.deepEqual(decodeRecord(encodeRecord(rec)), rec);
    assert.deepEqual(planDetachLink('eth1', decodeRecord(encodeRecord(rec))!), [
      {
        title: 'remove eth1 (macvlan eth0)',
        action: { kind: 'ip', place: 'guest', args: ['link', 'del', 'dev', 'eth1'] },
        undo: [],
        irreversible: true,
      },
      {
        title: 'remove VLAN sub-interface eth0.10 if pipework made it and nothing else uses it',
        action: { kind: 'ip', place: 'host', args: ['link', 'del', 'dev', 'eth0.10'], onlyIfVlanUnused: 'eth0.10' },
        undo: [],
      },
    ]);
  });

  void test('a reused VLAN device gets the same conditional step (its missing mark keeps it at run time)', () => {
    const reused = plan(['eth0', 'web', '10.0.0.2/24', '@10'], {
      links: [nic('eth0'), nic('eth0.10')],
      details: { 'eth0.10': { kind: 'vlan', vlanId: 10, parent: 'eth0' } },
    }).record!;
    const made = plan(['eth0', 'web', '10.0.0.2/24', '@10']).record!;
    assert.deepEqual(planDetachLink('eth1', reused), planDetachLink('eth1', made));
    // A long NIC name: the hashed sub-interface is the one removed.
    const long = plan(['enp129s0f1np1', 'web', '10.0.0.2/24', '@100'], { links: [nic('enp129s0f1np1')] }).record!;
    const last = planDetachLink('eth1', long).at(-1)!;
    assert.deepEqual(last.action, {
      kind: 'ip', place: 'host', args: ['link', 'del', 'dev', vlanIfName('enp129s0f1np1', 100)], onlyIfVlanUnused: vlanIfName('enp129s0f1np1', 100),
    });
  });

  void test('without a VLAN sub-interface: no host step at all', () => {
    for (const rec of [
      plan(['eth0', 'web', '10.0.0.2/24']).record!,
      plan(['dummy0', 'web', '10.0.0.2/24'], { links: [] }).record!,
      plan(['ib0', 'web', '10.0.0.2/24', '@10'], { links: [ib('ib0')] }).record!,
      plan(['br0', 'web', '10.0.0.2/24', '@10'], { links: [bridge('br0')], bridgeVlanFiltering: { br0: 'on' } }).record!,
    ]) {
      assert.equal(rec.vlanIf, undefined, configOf(rec));
      const steps = planDetachLink(rec.guestIf, rec);
      assert.deepEqual(steps.map((s) => s.action.place), ['guest'], configOf(rec));
      assert.ok(!steps.some((s) => s.action.kind === 'ip' && s.action.onlyIfVlanUnused !== undefined));
    }
  });

  void test('only the steps that remove an interface or give a NIC back are irreversible', () => {
    const phys = plan(['--direct-phys', 'eth0', 'web', '10.0.0.2/24', MAC]).record!;
    const steps = planDetachLink('eth1', phys);
    assert.deepEqual(steps.map((s) => [s.title, s.irreversible === true]), [
      [`restore the MAC of eth1 to ${NIC_MAC}`, false],
      ['give eth1 back to the host as eth0', true],
      ["clear pipework's record on eth0", false],
      ['forget what was kept of eth0 on the host', false],
    ]);
    const vlan = planDetachLink('eth1', plan(['eth0', 'web', '10.0.0.2/24', '@10']).record!);
    assert.deepEqual(vlan.map((s) => s.irreversible === true), [true, false]);
    const ovs = plan(['ovsbr0', 'web', '10.0.0.2/24'], { links: [nic('ovsbr0')], ovs: ovsFacts({ bridges: ['ovsbr0'] }) }).record!;
    assert.deepEqual(planDetachLink('eth1', ovs).map((s) => [show(s.action), s.irreversible === true]), [
      ['guest: ip link del dev eth1', true],
      [`host: ovs-vsctl --timeout=10 --if-exists del-port ovsbr0 ${VETH}`, false],
    ]);
  });

  void test('planDetach of two interfaces on one VLAN: each removal is followed by its own conditional step', () => {
    const eth1 = plan(['eth0', 'web', '10.0.0.2/24', '@10']).record!;
    const eth2 = plan(['eth0', '-i', 'eth2', 'web', '10.0.0.3/24', '@10']).record!;
    const p = detachPlan([{ guestIf: 'eth1', record: eth1 }, { guestIf: 'eth2', record: eth2 }], guestFacts(), 'g');
    // The first conditional step finds eth2 still using eth0.10 and keeps it; the second removes it.
    assert.deepEqual(actions(p), [
      'guest: ip link del dev eth1',
      'host: ip link del dev eth0.10',
      'guest: ip link del dev eth2',
      'host: ip link del dev eth0.10',
    ]);
    assert.deepEqual(p.steps.map((s) => s.action.kind === 'ip' ? s.action.onlyIfVlanUnused : undefined), [undefined, 'eth0.10', undefined, 'eth0.10']);
  });

  void test(
    '--replace on the same VLAN does not remove the VLAN device its own later steps use',
    () => {
      const first = plan(['eth0', 'web', '10.0.0.2/24', '@10']);
      const link = { name: 'eth1', alias: encodeRecord(first.record!), up: true, kind: 'macvlan' };
      const p = plan(['eth0', 'web', '10.0.0.3/24', '@10', '--replace'], {
        links: [nic('eth0'), nic('eth0.10')],
        details: { 'eth0.10': { kind: 'vlan', vlanId: 10, parent: 'eth0' } },
        facts: guestFacts(['lo', 'eth0', link]),
      });
      assert.equal(p.outcome, 'replaced');
      const all = actions(p);
      const delAt = p.steps.findIndex((s) => s.action.kind === 'ip' && s.action.onlyIfVlanUnused === 'eth0.10');
      const makeAt = all.findIndex((a) => a.startsWith('host: ip link add link eth0 name eth0.10 '));
      const useAt = all.findIndex((a) => a.startsWith('host: ip link add link eth0.10 name eth1 '));
      assert.ok(useAt >= 0, all.join('\n'));
      assert.ok(delAt === -1 || delAt > useAt || (delAt < makeAt && makeAt < useAt), all.join('\n'));
    },
  );

  void test('an unknown name is still the classic error', () => {
    assertThrows(() => plan(['foo0', 'web', '10.0.0.2/24'], { links: [] }), NotFoundError, 'I do not know how to set up interface foo0', 'ovs*', 'dummy*');
  });
});

void describe('Open vSwitch preflight: what the name is on the host', () => {
  const ovs = driverFor('ovs');
  const probe = (links: HostLink[], bridges: string[] = []) => ({ link: (n: string) => links.find((l) => l.name === n), ovs: ovsFacts({ bridges }) });
  const side = { kind: 'ovs' as const, bridge: 'br-x', create: true };
  void test('an Open vSwitch bridge, or nothing yet (made): fine', () => {
    assert.equal(ovs.preflight(side, probe([nic('br-x')], ['br-x'])), undefined);
    assert.equal(ovs.preflight(side, probe([])), undefined);
  });
  void test('a Linux bridge, or any other link of that name: missing, named (ovs-vswitchd could not open it as its bridge)', () => {
    assert.deepEqual(ovs.preflight(side, probe([bridge('br-x')])), { missing: 'br-x is a Linux bridge, not an Open vSwitch bridge' });
    assert.deepEqual(ovs.preflight(side, probe([nic('br-x')])), { missing: 'br-x exists and is not an Open vSwitch bridge' });
    assert.deepEqual(ovs.preflight({ ...side, create: false }, probe([])), { missing: 'Open vSwitch bridge br-x does not exist' });
  });
});
