// An attach line + host and guest facts → a plan (golden step lists), and every refusal.
import { GUEST_NETNS } from '../../src/model/plan.js';
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { gatewayOnLink, routeSpec } from '../../src/engine/address.js';
import type { Action, Plan, Step } from '../../src/model/plan.js';
import { planAttach } from '../../src/engine/planner.js';
import { resolveClassic, type HostLookup } from '../../src/front/classic/spec.js';
import type { HostLink } from '../../src/host/links.js';
import type { OvsFacts } from '../../src/host/ovs-facts.js';
import { parseAddressSpec } from '../../src/model/address.js';
import { ConflictError, InvalidArgumentError, NotFoundError, UnsupportedError } from '../../src/model/errors.js';
import { encodeRecord } from '../../src/model/record.js';
import type { HostSide } from '../../src/model/attach-spec.js';
import {
  DOCKER_ROUTES_JSON, assertThrows, attachContext, attachRequest, bridge, guestFacts, hostLookup, ib, nic, ovsFacts, type ContextOptions,
} from './fakes.js';

const NS = GUEST_NETNS;
const VETH = 'veth1pl4242';

const plan = (argv: string[], o: ContextOptions = {}): Plan => planAttach(attachContext(argv, o));

/** A compact view of a step: where, and its argv. */
function show(a: Action): string {
  if (a.kind === 'keep') return `${a.place}: ${a.text === null ? 'forget' : 'keep'} ${a.key}`;
  return a.kind === 'ip' ? `${a.place}: ip ${a.args.join(' ')}` : `${a.place}: ${a.argv.join(' ')}${a.detached ? ' &' : ''}`;
}
const actions = (p: Plan): string[] => p.steps.map((s) => show(s.action));
const undos = (p: Plan): string[][] => p.steps.map((s) => s.undo.map(show));

function vethAdd(mtu = 1500, mac?: string, local = VETH, guestIf = 'eth1'): string {
  return `host: ip link add name ${local} mtu ${mtu} type veth peer name ${guestIf} mtu ${mtu}${mac ? ` address ${mac}` : ''} netns ${NS}`;
}

/** What a plan records on both ends, spelled out by hand (the alias format of model/record.ts). */
interface AliasFields {
  i?: string;
  h?: string;
  l?: string;
  a?: string;
  gw?: string;
  m?: string;
  n?: number;
  /** The default route the gateway replaced. */
  r4?: string;
  r6?: string;
}
function alias(role: 'host' | 'guest', o: AliasFields = {}): string {
  return [
    'pipework/1', `r=${role}`, 'g=docker:c1', `n=${o.n ?? 4026532999}`, `i=${o.i ?? 'eth1'}`, `h=${o.h ?? 'br0'}`, 'k=bridge', `l=${o.l ?? VETH}`,
    ...(o.a !== undefined ? [`a=${o.a}`] : []),
    ...(o.gw !== undefined ? [`gw=${o.gw}`] : []),
    ...(o.m !== undefined ? [`m=${o.m}`] : []),
    ...(o.r4 !== undefined ? [`r4=${o.r4}`] : []),
    ...(o.r6 !== undefined ? [`r6=${o.r6}`] : []),
  ].join(';');
}
/** The host end's alias step, which follows the veth creation. */
const hostAlias = (o: AliasFields = {}) => `host: ip link set dev ${o.l ?? VETH} alias ${alias('host', o)}`;
/** The guest end's alias step, first of the guest steps. */
const guestAlias = (o: AliasFields = {}) => `guest: ip link set dev ${o.i ?? 'eth1'} alias ${alias('guest', o)}`;
/** After the veth pair: its alias, the bridge port, up. */
const BRIDGE_PART = (br = 'br0', local = VETH, o: AliasFields = {}) => [
  hostAlias({ h: br, l: local, ...o }),
  `host: ip link set dev ${local} master ${br}`,
  `host: ip link set dev ${local} up`,
];

void describe('planAttach: golden plans', () => {
  void test('existing bridge, static IPv4, arping present', () => {
    const p = plan(['br0', 'c1', '10.0.0.2/24'], { hasArping: true });
    assert.equal(p.guestLabel, 'docker container c1 (pid 4242)');
    assert.deepEqual(actions(p), [
      vethAdd(),
      `host: ip link set dev ${VETH} alias pipework/1;r=host;g=docker:c1;n=4026532999;i=eth1;h=br0;k=bridge;l=${VETH};a=10.0.0.2/24`,
      `host: ip link set dev ${VETH} master br0`,
      `host: ip link set dev ${VETH} up`,
      `guest: ip link set dev eth1 alias pipework/1;r=guest;g=docker:c1;n=4026532999;i=eth1;h=br0;k=bridge;l=${VETH};a=10.0.0.2/24`,
      'guest: ip addr add 10.0.0.2/24 brd 10.0.0.255 dev eth1',
      'guest: ip link set dev eth1 up',
      'guest: arping -c 1 -A -I eth1 10.0.0.2 &',
    ]);
    assert.deepEqual(undos(p), [[`host: ip link del dev ${VETH}`], [], [], [], [], [], [], []]);
    assert.equal(p.outcome, 'created');
    assert.deepEqual(p.record, {
      role: 'guest', guest: 'docker:c1', nsInode: 4026532999, guestIf: 'eth1', hostIf: 'br0', hostKind: 'bridge', localIf: VETH, address: '10.0.0.2/24',
    });
    assert.deepEqual(p.warnings, []);
    assert.ok(p.steps.every((s) => s.raceOk === undefined));
    for (const s of p.steps) assert.ok(s.title.length > 0);
    // The bridge found while planning must still be there when the port joins it (another run may remove it).
    assert.deepEqual(p.steps.map((s) => s.requires), [undefined, undefined, ['br0'], undefined, undefined, undefined, undefined, undefined]);
  });

  void test('no arping: no arping step and the classic warning', () => {
    const p = plan(['br0', 'c1', '10.0.0.2/24'], { hasArping: false });
    assert.ok(!actions(p).some((a) => a.includes('arping')));
    assert.deepEqual(p.warnings, ['Warning: arping not found; interface may not be immediately reachable']);
  });

  void test('missing br* bridge: created and brought up first, the creation may race', () => {
    const p = plan(['br7', 'c1', '10.0.0.2/24'], { links: [] });
    assert.deepEqual(actions(p), [
      'host: ip link add name br7 type bridge',
      'host: ip link set dev br7 up',
      vethAdd(1500),
      ...BRIDGE_PART('br7', VETH, { a: '10.0.0.2/24' }),
      guestAlias({ h: 'br7', a: '10.0.0.2/24' }),
      'guest: ip addr add 10.0.0.2/24 brd 10.0.0.255 dev eth1',
      'guest: ip link set dev eth1 up',
    ]);
    assert.deepEqual(p.steps[0]!.raceOk, { bridgeExists: 'br7' });
    assert.deepEqual(p.steps[0]!.undo, [{ kind: 'ip', place: 'host', args: ['link', 'del', 'dev', 'br7'], onlyIfBridgeEmpty: 'br7' }]);
    assert.equal(p.steps[1]!.raceOk, undefined);
    // A bridge this plan makes is not required to exist beforehand.
    assert.ok(p.steps.every((s) => s.requires === undefined));
  });

  void test('-l names the host end', () => {
    const p = plan(['br0', '-l', 'myveth', 'c1', '10.0.0.2/24']);
    assert.deepEqual(actions(p).slice(0, 5), [
      vethAdd(1500, undefined, 'myveth'), ...BRIDGE_PART('br0', 'myveth', { a: '10.0.0.2/24' }), guestAlias({ l: 'myveth', a: '10.0.0.2/24' }),
    ]);
    assert.deepEqual(p.steps[0]!.undo.map(show), ['host: ip link del dev myveth']);
  });

  void test('-i names the guest end (and the classic host name follows it)', () => {
    const p = plan(['br0', '-i', 'eth5', 'c1', '10.0.0.2/24']);
    assert.equal(actions(p)[0], vethAdd(1500, undefined, 'veth5pl4242', 'eth5'));
    assert.equal(actions(p)[1], hostAlias({ i: 'eth5', l: 'veth5pl4242', a: '10.0.0.2/24' }));
    assert.equal(actions(p)[4], guestAlias({ i: 'eth5', l: 'veth5pl4242', a: '10.0.0.2/24' }));
    assert.ok(actions(p).includes('guest: ip link set dev eth5 up'));
  });

  void test('an existing, down veth with the host end name, made by pipework (its record says so), is deleted first', () => {
    const stale = encodeRecord({ role: 'host', guest: 'docker:old', nsInode: 1, guestIf: 'eth1', hostIf: 'br0', hostKind: 'bridge', localIf: VETH });
    const p = plan(['br0', 'c1', '10.0.0.2/24'], { links: [bridge('br0'), nic(VETH, { up: false, alias: stale })], details: { [VETH]: { kind: 'veth' } } });
    assert.deepEqual(actions(p).slice(0, 2), [`host: ip link del dev ${VETH}`, vethAdd()]);
    assert.deepEqual(p.steps[0]!.undo, []);
  });

  void test('an existing, down veth with the host end name that pipework did not make is refused, not removed', () => {
    for (const alias of [undefined, 'uplink to rack 4', encodeRecord({ role: 'guest', guest: 'docker:old', nsInode: 1, guestIf: 'eth1', hostIf: 'br0', hostKind: 'bridge' })]) {
      assertThrows(() => plan(['br0', 'c1', '10.0.0.2/24'], {
        links: [bridge('br0'), nic(VETH, { up: false, ...(alias !== undefined && { alias }) })], details: { [VETH]: { kind: 'veth' } },
      }), ConflictError, VETH, 'was not made by pipework', '-l');
    }
  });

  void test('the MAC goes on the veth peer', () => {
    const p = plan(['br0', 'c1', '10.0.0.2/24', 'U:myhost.foo.com']);
    assert.equal(actions(p)[0], vethAdd(1500, '02:72:6c:cd:9b:8d'));
    // Recorded (on both ends) because it was asked for.
    assert.equal(actions(p)[1], hostAlias({ a: '10.0.0.2/24', m: '02:72:6c:cd:9b:8d' }));
    assert.equal(actions(p)[4], guestAlias({ a: '10.0.0.2/24', m: '02:72:6c:cd:9b:8d' }));
  });

  void test('the MTU comes from the bridge', () => {
    const p = plan(['br0', 'c1', '10.0.0.2/24'], { links: [bridge('br0', { mtu: 9000 })] });
    assert.equal(actions(p)[0], vethAdd(9000));
  });

  void test('the bridge found by mac: gives its name and MTU', () => {
    const p = plan(['mac:02:AA:bb:cc:dd:ee', 'c1', '10.0.0.2/24'], {
      links: [nic('eth0'), bridge('brlan', { mac: '02:aa:bb:cc:dd:ee', mtu: 1400 })],
    });
    assert.deepEqual(actions(p).slice(0, 4), [vethAdd(1400), ...BRIDGE_PART('brlan', VETH, { a: '10.0.0.2/24' })]);
  });

  void test('gateway inside the subnet: no host route; old default routes replaced and restored on undo, and recorded for del', () => {
    const p = plan(['br0', 'c1', '10.0.0.2/24@10.0.0.1'], { facts: guestFacts(['lo', 'eth0'], DOCKER_ROUTES_JSON) });
    assert.equal(p.record?.replaced4, '172.17.0.1@eth0');
    assert.equal(actions(p)[1], hostAlias({ a: '10.0.0.2/24', gw: '10.0.0.1', r4: '172.17.0.1@eth0' }));
    assert.deepEqual(actions(p).slice(4), [
      guestAlias({ a: '10.0.0.2/24', gw: '10.0.0.1', r4: '172.17.0.1@eth0' }),
      'guest: ip addr add 10.0.0.2/24 brd 10.0.0.255 dev eth1',
      'guest: ip route del default via 172.17.0.1 dev eth0',
      'guest: ip link set dev eth1 up',
      'guest: ip route replace default via 10.0.0.1 dev eth1',
    ]);
    assert.deepEqual(undos(p).slice(4), [
      [],
      [],
      ['guest: ip route add default via 172.17.0.1 dev eth0'],
      [],
      ['guest: ip route del default via 10.0.0.1 dev eth1'],
    ]);
  });

  void test('gateway outside the subnet: an on-link /32 route first', () => {
    const p = plan(['br0', 'c1', '10.0.0.2/24@10.9.9.1'], { facts: guestFacts(['lo', 'eth0'], DOCKER_ROUTES_JSON) });
    assert.deepEqual(actions(p).slice(4), [
      guestAlias({ a: '10.0.0.2/24', gw: '10.9.9.1', r4: '172.17.0.1@eth0' }),
      'guest: ip addr add 10.0.0.2/24 brd 10.0.0.255 dev eth1',
      'guest: ip route del default via 172.17.0.1 dev eth0',
      'guest: ip link set dev eth1 up',
      'guest: ip route add 10.9.9.1/32 dev eth1',
      'guest: ip route replace default via 10.9.9.1 dev eth1',
    ]);
  });

  void test('default routes keep their metric and protocol on delete and undo; other tables and types are left alone', () => {
    const routes = [
      { type: 'unicast', dst: 'default', gateway: '10.5.0.1', dev: 'eth0', table: 'main', protocol: 'dhcp', scope: 'global', metric: 100, flags: [] },
      { type: 'unicast', dst: 'default', gateway: '10.6.0.1', dev: 'eth2', table: 'main', protocol: 'static', metric: 200, flags: [] },
      { type: 'unicast', dst: 'default', gateway: '10.7.0.1', dev: 'eth0', table: '100', flags: [] },
      { type: 'unreachable', dst: 'default', table: 'main', metric: 4278198272, flags: [] },
      { dst: 'default', gateway: '2001:db8::1', dev: 'eth0', metric: 1024, flags: [], pref: 'medium' },
    ];
    const p = plan(['br0', 'c1', '10.0.0.2/24@10.0.0.1'], { facts: guestFacts(['lo', 'eth0', 'eth2'], routes) });
    const dels = p.steps.filter((s) => s.action.kind === 'ip' && s.action.args[0] === 'route' && s.action.args[1] === 'del');
    assert.deepEqual(dels.map((s) => show(s.action)), [
      'guest: ip route del default via 10.5.0.1 dev eth0 proto dhcp metric 100',
      'guest: ip route del default via 10.6.0.1 dev eth2 proto static metric 200',
    ]);
    assert.deepEqual(dels.map((s) => s.undo.map(show)), [
      ['guest: ip route add default via 10.5.0.1 dev eth0 proto dhcp metric 100'],
      ['guest: ip route add default via 10.6.0.1 dev eth2 proto static metric 200'],
    ]);
    // The first one is what del puts back, with its metric.
    assert.equal(p.record?.replaced4, '10.5.0.1@eth0@100');
  });

  void test('no gateway: default routes are left alone (and none is recorded as replaced)', () => {
    const p = plan(['br0', 'c1', '10.0.0.2/24'], { facts: guestFacts(['lo', 'eth0'], DOCKER_ROUTES_JSON) });
    assert.ok(!actions(p).some((a) => a.includes('route')));
    assert.equal(p.record?.replaced4, undefined);
    // A gateway with no default route to replace records none either.
    assert.equal(plan(['br0', 'c1', '10.0.0.2/24@10.0.0.1']).record?.replaced4, undefined);
  });

  void test('0/0: no address step, the link only comes up, no arping', () => {
    const p = plan(['br0', 'c1', '0/0'], { hasArping: true, facts: guestFacts(['lo', 'eth0'], DOCKER_ROUTES_JSON) });
    // No address: the record has no a= either.
    assert.deepEqual(actions(p), [vethAdd(), ...BRIDGE_PART(), guestAlias(), 'guest: ip link set dev eth1 up']);
    assert.equal(p.record?.address, undefined);
  });

  void test('IPv6: IPv6 enabled on the link, no brd, no arping; off-link gateway gets a /128; only IPv6 defaults replaced', () => {
    const p = plan(['br0', '-a', '6', 'c1', '2001:db8:2::5/64@2001:db8:9::1'], {
      hasArping: true,
      facts: guestFacts(['lo', 'eth0'], DOCKER_ROUTES_JSON),
    });
    // The record rides in the guest's address batch, after the sysctl (an exec step).
    assert.equal(p.record?.replaced6, '2001:db8:1::1@eth0@1024');
    assert.equal(p.record?.replaced4, undefined);
    assert.deepEqual(actions(p).slice(4), [
      'guest: sysctl -q -w net/ipv6/conf/eth1/disable_ipv6=0',
      guestAlias({ a: '2001:db8:2::5/64', gw: '2001:db8:9::1', r6: '2001:db8:1::1@eth0@1024' }),
      'guest: ip addr add 2001:db8:2::5/64 dev eth1',
      'guest: ip route del ::/0 via 2001:db8:1::1 dev eth0 metric 1024',
      'guest: ip link set dev eth1 up',
      'guest: ip route add 2001:db8:9::1/128 dev eth1',
      'guest: ip route replace default via 2001:db8:9::1 dev eth1',
    ]);
    assert.deepEqual(p.warnings, []);
  });

  void test('IPv6 gateway inside the subnet: no host route', () => {
    const p = plan(['br0', 'c1', '2001:db8:2::5/64@2001:db8:2::1']);
    assert.ok(!actions(p).some((a) => a.includes('/128')));
    assert.equal(actions(p).at(-1), 'guest: ip route replace default via 2001:db8:2::1 dev eth1');
  });

  void test('IPv6 link-local gateway: no host route', () => {
    const p = plan(['br0', 'c1', '2001:db8:2::5/64@fe80::1']);
    assert.deepEqual(actions(p).slice(-2), ['guest: ip link set dev eth1 up', 'guest: ip route replace default via fe80::1 dev eth1']);
  });

  void test(
    'an IPv6 default route without a gateway is deleted as IPv6',
    () => {
      const routes = [{ type: 'unicast', dst: 'default', dev: 'wg0', table: 'main', protocol: 'boot', metric: 1024, flags: [], pref: 'medium' }];
      const p = plan(['br0', 'c1', '2001:db8:2::5/64@2001:db8:2::1'], { facts: guestFacts(['lo', 'wg0'], routes) });
      const del = p.steps.find((s) => s.action.kind === 'ip' && s.action.args[1] === 'del');
      assert.ok(del && del.action.kind === 'ip');
      // Something on the line must make ip pick IPv6: an IPv6 prefix or gateway.
      assert.ok(del.action.args.some((a) => a.includes(':')), del.action.args.join(' '));
      assert.ok(del.undo.every((u) => u.kind === 'ip' && u.args.some((a) => a.includes(':'))));
    },
  );

  void test(
    'an IPv4 link-local gateway outside the subnet still gets an on-link route',
    () => {
      const p = plan(['br0', 'c1', '10.0.0.2/24@169.254.1.1']);
      assert.ok(actions(p).includes('guest: ip route add 169.254.1.1/32 dev eth1'), actions(p).join('\n'));
    },
  );

  void test(
    'a gateway routed only through another guest interface still gets an on-link route on the new one',
    () => {
      const routes = [{ type: 'unicast', dst: '10.5.0.0/16', dev: 'eth0', table: 'main', protocol: 'kernel', scope: 'link', flags: [] }];
      const p = plan(['br0', 'c1', '10.0.0.2/24@10.5.0.1'], { facts: guestFacts(['lo', 'eth0'], routes) });
      assert.ok(actions(p).includes('guest: ip route add 10.5.0.1/32 dev eth1'), actions(p).join('\n'));
    },
  );

  void test('step titles name what they do', () => {
    const p = plan(['br7', 'c1', '10.0.0.2/24@10.9.9.1'], { links: [], hasArping: true });
    const titles = p.steps.map((s: Step) => s.title);
    assert.ok(titles[0]!.includes('br7'));
    assert.ok(titles.some((t) => t.includes('10.0.0.2/24')));
    assert.ok(titles.some((t) => t.includes('10.9.9.1')));
  });
});

void describe('planAttach: refusals (thrown before any plan exists)', () => {
  void test('an existing link with the host end name that is up', () => {
    assertThrows(() => plan(['br0', 'c1', '10.0.0.2/24'], { links: [bridge('br0'), nic(VETH, { up: true })], details: { [VETH]: { kind: 'veth' } } }),
      ConflictError, `Link ${VETH} exists and is up`);
    assertThrows(() => plan(['br0', '-l', 'eth0', 'c1', '10.0.0.2/24'], { links: [bridge('br0'), nic('eth0')] }),
      ConflictError, 'Link eth0 exists and is up');
  });

  void test('an existing, down link with the host end name that is not a veth', () => {
    assertThrows(() => plan(['br0', '-l', 'eth9', 'c1', '10.0.0.2/24'], { links: [bridge('br0'), nic('eth9', { up: false })], details: { eth9: { kind: 'macvlan' } } }),
      ConflictError, 'eth9', 'macvlan', '-l');
    // Details of another link do not count; a link without details is of unknown kind.
    assertThrows(() => plan(['br0', '-l', 'eth9', 'c1', '10.0.0.2/24'], { links: [bridge('br0'), nic('eth9', { up: false })], details: { eth8: { kind: 'veth' } } }),
      ConflictError, 'eth9', 'unknown kind');
    assertThrows(() => plan(['br0', '-l', 'eth9', 'c1', '10.0.0.2/24'], { links: [bridge('br0'), nic('eth9', { up: false })] }),
      ConflictError, 'eth9', 'unknown kind');
  });

  void test('the guest already has the interface', () => {
    assertThrows(() => plan(['br0', 'c1', '10.0.0.2/24'], { facts: guestFacts(['lo', 'eth0', 'eth1']) }),
      ConflictError, 'eth1', 'docker container c1', '-i');
    assertThrows(() => plan(['br0', '-i', 'eth0', 'c1', '10.0.0.2/24']), ConflictError, 'eth0');
  });

  void test('mac: with no host interface having that MAC', () => {
    assertThrows(() => plan(['mac:02:aa:bb:cc:dd:ee', 'c1', '10.0.0.2/24'], { links: [bridge('br0')] }),
      NotFoundError, '02:aa:bb:cc:dd:ee');
  });

  void test('an unknown name that is not br*/ovs*/dummy*', () => {
    assertThrows(() => plan(['foo0', 'c1', '10.0.0.2/24'], { links: [] }), NotFoundError, 'I do not know how to set up interface foo0');
    assertThrows(() => plan(['eth7', 'c1', '10.0.0.2/24'], { links: [] }), NotFoundError, 'eth7');
  });

  void test('a VLAN on an existing Linux bridge whose kernel has no VLAN filtering: the classic refusal', () => {
    assertThrows(() => plan(['br0', 'c1', '10.0.0.2/24', '@10'], { bridgeVlanFiltering: { br0: 'unsupported' } }),
      UnsupportedError, 'VLAN configuration currently unsupported for Linux bridge');
    // Facts that cannot tell count as unsupported.
    assertThrows(() => plan(['br0', 'c1', '10.0.0.2/24', '02:42:ac:11:00:02@10']), UnsupportedError, 'VLAN configuration currently unsupported for Linux bridge');
  });

  void test('DHCP with no DHCP facts gathered is an internal refusal, not a half plan', () => {
    assertThrows(() => plan(['br0', 'c1', 'dhclient:-v']), UnsupportedError, 'dhclient');
  });

  void test('every host kind is planned now: a NIC, IPoIB, ovs*, dummy*, a NIC by MAC', () => {
    const kinds = (argv: string[], o: ContextOptions) => plan(argv, o).record?.hostKind;
    assert.equal(kinds(['eth0', 'c1', '10.0.0.2/24'], { links: [nic('eth0')] }), 'macvlan');
    assert.equal(kinds(['--direct-phys', 'eth0', 'c1', '10.0.0.2/24'], { links: [nic('eth0')] }), 'phys');
    assert.equal(kinds(['ib0', 'c1', '10.0.0.2/24'], { links: [ib('ib0')] }), 'ipoib');
    assert.equal(kinds(['ovsbr0', 'c1', '10.0.0.2/24'], { links: [], ovs: ovsFacts() }), 'ovs');
    assert.equal(kinds(['dummy0', 'c1', '10.0.0.2/24'], { links: [] }), 'dummy');
    assert.equal(kinds(['mac:52:54:00:12:34:56', 'c1', '10.0.0.2/24'], { links: [nic('eth0')] }), 'macvlan');
  });
});

void describe('resolveClassic: what <hostif> is', () => {
  const side = (argv: string[], lookup: HostLookup): HostSide => resolveClassic(attachRequest(argv), lookup).host;
  const lookup = (links: HostLink[], ovs?: OvsFacts) => hostLookup(links, ovs);

  void test('existing bridge, br* to create, mac: lookup', () => {
    const host = lookup([bridge('lan'), nic('eth0')]);
    // `create`: may the bridge be made when it is missing (the br* names only).
    assert.deepEqual(side(['lan', 'c1', '0/0'], host), { kind: 'bridge', bridge: 'lan', create: false });
    assert.deepEqual(side(['br5', 'c1', '0/0'], host), { kind: 'bridge', bridge: 'br5', create: true });
    assert.deepEqual(side(['mac:02:00:00:00:00:01', 'c1', '0/0'], host), { kind: 'bridge', bridge: 'lan', create: false });
    assert.deepEqual(side(['br0', 'c1', '0/0'], lookup([bridge('br0')])), { kind: 'bridge', bridge: 'br0', create: true });
  });

  void test('a NIC: macvlan, or phys with --direct-phys; an IPoIB interface (link type 32): ipoib', () => {
    const host = lookup([nic('eth0'), ib('ib0'), nic('lan')]);
    assert.deepEqual(side(['eth0', 'c1', '0/0'], host), { kind: 'macvlan', parent: 'eth0', mode: 'bridge' });
    assert.deepEqual(side(['--direct-phys', 'eth0', 'c1', '0/0'], host), { kind: 'phys', device: 'eth0' });
    assert.deepEqual(side(['mac:52:54:00:12:34:56', 'c1', '0/0'], host), { kind: 'macvlan', parent: 'eth0', mode: 'bridge' });
    assert.deepEqual(side(['ib0', 'c1', '0/0'], host), { kind: 'ipoib', parent: 'ib0' });
    // Existing names are classified by what they are, not by their prefix.
    assert.deepEqual(side(['lan', 'c1', '0/0'], host), { kind: 'macvlan', parent: 'lan', mode: 'bridge' });
    assert.deepEqual(side(['br0', 'c1', '0/0'], lookup([nic('br0')])), { kind: 'macvlan', parent: 'br0', mode: 'bridge' });
  });

  void test('the guest interface defaults to eth1, and to ib0 for IPoIB', () => {
    const host = lookup([nic('eth0'), ib('ib0')]);
    assert.equal(resolveClassic(attachRequest(['eth0', 'c1', '0/0']), host).guestIf, 'eth1');
    assert.equal(resolveClassic(attachRequest(['ib0', 'c1', '0/0']), host).guestIf, 'ib0');
    assert.equal(resolveClassic(attachRequest(['ib0', '-i', 'ib3', 'c1', '0/0']), host).guestIf, 'ib3');
  });

  void test('Open vSwitch: an existing OVS bridge (its device is no Linux bridge), or a missing ovs* name', () => {
    const host = lookup([nic('ovsbr0'), nic('sw1'), nic('eth0')], ovsFacts({ bridges: ['ovsbr0', 'sw1', 'ovs9'] }));
    assert.deepEqual(side(['ovsbr0', 'c1', '0/0'], host), { kind: 'ovs', bridge: 'ovsbr0', create: true });
    assert.deepEqual(side(['sw1', 'c1', '0/0'], host), { kind: 'ovs', bridge: 'sw1', create: false });
    assert.deepEqual(side(['ovs5', 'c1', '0/0'], host), { kind: 'ovs', bridge: 'ovs5', create: true });
    // Without OVS facts a missing ovs* is still OVS (planning then says OVS is not there).
    assert.deepEqual(side(['ovs5', 'c1', '0/0'], lookup([])), { kind: 'ovs', bridge: 'ovs5', create: true });
    assert.deepEqual(side(['eth0', 'c1', '0/0'], host), { kind: 'macvlan', parent: 'eth0', mode: 'bridge' });
  });

  void test('an OVS bridge in the database but without a device is not created again', () => {
    const p = planAttach(attachContext(['ovs9', 'c1', '0/0'], { links: [], ovs: ovsFacts({ bridges: ['ovs9'] }) }));
    assert.ok(!actions(p).some((a) => a.includes('add-br')), actions(p).join('\n'));
    assert.ok(actions(p).some((a) => a.includes('add-port ovs9 ')), actions(p).join('\n'));
  });

  void test('a missing dummy* name: dummy; anything else missing: the classic error', () => {
    const host = lookup([]);
    assert.deepEqual(side(['dummy3', 'c1', '0/0'], host), { kind: 'dummy', name: 'dummy3' });
    assertThrows(() => side(['eth0', 'c1', '0/0'], host), NotFoundError, 'I do not know how to set up interface eth0');
  });

  void test('@vlan is a VLAN id, and an IPoIB partition key (hex) on IPoIB', () => {
    const host = lookup([nic('eth0'), ib('ib0'), bridge('br0')]);
    assert.deepEqual(side(['eth0', 'c1', '0/0', '@10'], host), { kind: 'macvlan', parent: 'eth0', mode: 'bridge', vlan: 10 });
    assert.deepEqual(side(['br0', 'c1', '0/0', '@10'], host), { kind: 'bridge', bridge: 'br0', create: true, vlan: 10 });
    assert.deepEqual(side(['ib0', 'c1', '0/0', '@10'], host), { kind: 'ipoib', parent: 'ib0', pkey: 0x10 });
  });

  void test('--direct-phys with a bridge, an OVS bridge, IPoIB or a dummy interface is refused', () => {
    const host = lookup([bridge('br0'), nic('ovsbr0'), ib('ib0')], ovsFacts({ bridges: ['ovsbr0'] }));
    const refused = (name: string, ...what: string[]) =>
      assertThrows(() => side(['--direct-phys', name, 'c1', '0/0'], host), InvalidArgumentError, '--direct-phys', name, ...what);
    refused('br0', 'Linux bridge');
    refused('br7', 'Linux bridge');
    refused('ovsbr0', 'Open vSwitch');
    refused('ovs3', 'Open vSwitch');
    refused('ib0', 'IPoIB');
    refused('dummy0', 'dummy');
    // A missing NIC may have been moved into the guest by an earlier --direct-phys: the engine finds it by its record.
    assert.deepEqual(side(['--direct-phys', 'eth9', 'c1', '0/0'], host), { kind: 'phys', device: 'eth9' });
  });
});

void describe('address helpers', () => {
  void test('routeSpec drops proto boot and metric 0', () => {
    assert.deepEqual(routeSpec({ family: 4, dst: 'default', gateway: '10.0.0.1', dev: 'eth0', table: 'main', protocol: 'boot', metric: 0 }),
      ['default', 'via', '10.0.0.1', 'dev', 'eth0']);
    assert.deepEqual(routeSpec({ family: 4, dst: '10.1.0.0/16', dev: 'eth0', table: 'main', protocol: 'kernel', metric: 5 }),
      ['10.1.0.0/16', 'dev', 'eth0', 'proto', 'kernel', 'metric', '5']);
  });

  void test('gatewayOnLink: only inside the new subnet, or an IPv6 link-local address', () => {
    const a4 = parseAddressSpec('10.0.0.2/24').address!;
    const a6 = parseAddressSpec('2001:db8::2/64').address!;
    assert.equal(gatewayOnLink('10.0.0.1', a4), true);
    assert.equal(gatewayOnLink('10.0.1.1', a4), false);
    assert.equal(gatewayOnLink('169.254.1.1', a4), false, 'IPv4 link-local is not automatically on-link');
    assert.equal(gatewayOnLink('fe80::1', a6), true);
    assert.equal(gatewayOnLink('2001:db8:1::1', a6), false);
  });
});
