// The planner beyond a first attach: re-running the same configuration checks live state and
// repairs what drifted; --replace parks the old interface so any failure puts it back; del puts
// back what an attach replaced or brought up.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { driverFor } from '../../src/drivers/registry.js';
import { parkedGuestName } from '../../src/drivers/names.js';
import type { Action, Plan } from '../../src/model/plan.js';
import { planAttach, planDetach, planDetachOne, type PlanInput } from '../../src/engine/planner.js';
import type { GuestFacts, GuestLink } from '../../src/guest/netstate.js';
import type { HostLink } from '../../src/host/links.js';
import type { OvsPortRow } from '../../src/host/ovs-facts.js';
import { ConflictError, withPrefix, withoutAdvice } from '../../src/model/errors.js';
import { encodeRecord, type AttachRecord } from '../../src/model/record.js';
import {
  assertThrows, attachContext, bridge, guestFacts, nic, ovsFacts, type ContextOptions, type LinkSpec,
} from './fakes.js';

const VETH = 'veth1pl4242';
const LABEL = 'docker container c1 (pid 4242)';

function show(a: Action): string {
  if (a.kind === 'keep') return `${a.place}: ${a.text === null ? 'forget' : 'keep'} ${a.key}`;
  return a.kind === 'ip' ? `${a.place}: ip ${a.args.join(' ')}` : `${a.place}: ${a.argv.join(' ')}`;
}
const actions = (p: Plan): string[] => p.steps.map((s) => show(s.action));

/** Guest facts as a full read (`ip` inside the guest) gives them: addresses, MTU, qdisc known. */
function complete(links: LinkSpec[], routes: unknown[] = []): GuestFacts {
  return { ...guestFacts(links, routes), complete: true };
}

/** The guest link the first run of `input` leaves, as a full read sees it (up, its addresses, MTU, no qdisc of note). */
function firstRun(input: PlanInput, extra: Partial<GuestLink> = {}): GuestLink {
  const first = planAttach(input);
  assert.equal(first.outcome, 'created');
  const a = input.spec.addressing;
  return {
    name: input.spec.guestIf, alias: encodeRecord(first.record!), kind: 'veth', up: true, mtu: input.spec.mtu ?? 1500, qdisc: 'noqueue',
    mac: '02:42:ac:11:00:09', addresses: a.kind === 'static' ? a.addresses.map((x) => x.cidr) : [], ...extra,
  };
}

/** The routes a `10.0.0.2/24@10.0.0.1` attach leaves (ip -json route show table all). */
const ROUTES = [
  { type: 'unicast', dst: 'default', gateway: '10.0.0.1', dev: 'eth1', table: 'main', protocol: 'boot', scope: 'global', flags: [] },
  { type: 'unicast', dst: '10.0.0.0/24', dev: 'eth1', table: 'main', protocol: 'kernel', scope: 'link', prefsrc: '10.0.0.2', flags: [] },
];

/** Plan `argv` again, over what its first run left: the guest link (as changed by `drift`), these host links. */
function rerun(argv: string[], o: { host?: HostLink[]; first?: ContextOptions; drift?: Partial<GuestLink>; routes?: unknown[]; again?: ContextOptions } = {}): Plan {
  const link = firstRun(attachContext(argv, { links: [bridge('br0')], facts: guestFacts(), ...o.first }), o.drift);
  return planAttach(attachContext(argv, {
    links: o.host ?? [bridge('br0'), nic(VETH, { master: 'br0' })],
    facts: complete(['lo', 'eth0', link], o.routes ?? []),
    ...o.again,
  }));
}

void describe('re-running the same configuration: live state checked, drift repaired', () => {
  void test('nothing drifted: unchanged, no steps', () => {
    const p = rerun(['br0', 'c1', '10.0.0.2/24@10.0.0.1'], { routes: ROUTES });
    assert.equal(p.outcome, 'unchanged');
    assert.deepEqual(p.steps, []);
    assert.equal(p.repairs, undefined);
  });

  void test('a bridge that is gone and may be made (br*): made again, brought up, the host end put back on it', () => {
    const p = rerun(['br0', 'c1', '10.0.0.2/24'], { host: [nic(VETH)] });
    assert.equal(p.outcome, 'repaired');
    assert.deepEqual(p.repairs, ['bridge br0 is missing', `${VETH} is not a port of br0`]);
    assert.deepEqual(actions(p), ['host: ip link add name br0 type bridge', 'host: ip link set dev br0 up', `host: ip link set dev ${VETH} master br0`]);
    assert.deepEqual(p.steps[0]!.raceOk, { bridgeExists: 'br0' });
    assert.equal(p.steps[2]!.requires, undefined, 'the bridge is made by this plan');
    // The record stays the one already there.
    assert.equal(p.record?.localIf, VETH);
  });

  void test('a bridge that is down: brought up', () => {
    const p = rerun(['br0', 'c1', '10.0.0.2/24'], { host: [bridge('br0', { up: false }), nic(VETH, { master: 'br0' })] });
    assert.deepEqual(p.repairs, ['bridge br0 is down']);
    assert.deepEqual(actions(p), ['host: ip link set dev br0 up']);
  });

  void test('the host end off its bridge, or on another one: put back as its port', () => {
    const off = rerun(['br0', 'c1', '10.0.0.2/24'], { host: [bridge('br0'), nic(VETH)] });
    assert.deepEqual(off.repairs, [`${VETH} is not a port of br0`]);
    assert.deepEqual(actions(off), [`host: ip link set dev ${VETH} master br0`]);
    assert.deepEqual(off.steps[0]!.requires, ['br0']);
    const other = rerun(['br0', 'c1', '10.0.0.2/24'], { host: [bridge('br0'), bridge('br1'), nic(VETH, { master: 'br1' })] });
    assert.deepEqual(other.repairs, [`${VETH} is a port of br1, not br0`]);
    assert.deepEqual(actions(other), [`host: ip link set dev ${VETH} master br0`]);
  });

  void test('the host end down: brought up', () => {
    const p = rerun(['br0', 'c1', '10.0.0.2/24'], { host: [bridge('br0'), nic(VETH, { master: 'br0', up: false })] });
    assert.deepEqual(p.repairs, [`host end ${VETH} is down`]);
    assert.deepEqual(actions(p), [`host: ip link set dev ${VETH} up`]);
  });

  void test('the guest interface down: brought up', () => {
    const p = rerun(['br0', 'c1', '10.0.0.2/24'], { drift: { up: false } });
    assert.equal(p.outcome, 'repaired');
    assert.deepEqual(p.repairs, ['eth1 is down']);
    assert.deepEqual(actions(p), ['guest: ip link set dev eth1 up']);
  });

  void test('an address flushed: added again (and taken off again should a later repair fail)', () => {
    const p = rerun(['br0', 'c1', '10.0.0.2/24'], { drift: { addresses: [] } });
    assert.deepEqual(p.repairs, ['address 10.0.0.2/24 is missing on eth1']);
    assert.deepEqual(actions(p), ['guest: ip addr add 10.0.0.2/24 brd 10.0.0.255 dev eth1']);
    assert.deepEqual(p.steps[0]!.undo.map(show), ['guest: ip addr del 10.0.0.2/24 dev eth1']);
    // Other addresses on it are not ours to judge.
    assert.equal(rerun(['br0', 'c1', '10.0.0.2/24'], { drift: { addresses: ['10.0.0.2/24', '192.168.9.9/24'] } }).outcome, 'unchanged');
  });

  void test('the default route gone (or via something else): set again', () => {
    const p = rerun(['br0', 'c1', '10.0.0.2/24@10.0.0.1'], { routes: ROUTES.slice(1) });
    assert.deepEqual(p.repairs, ['the IPv4 default route is not via 10.0.0.1 on eth1']);
    assert.deepEqual(actions(p), ['guest: ip route replace default via 10.0.0.1 dev eth1']);
    const elsewhere = rerun(['br0', 'c1', '10.0.0.2/24@10.0.0.1'], {
      routes: [{ type: 'unicast', dst: 'default', gateway: '172.17.0.1', dev: 'eth0', table: 'main', flags: [] }, ...ROUTES.slice(1)],
    });
    assert.deepEqual(actions(elsewhere), ['guest: ip route replace default via 10.0.0.1 dev eth1']);
    // A gateway outside the subnet needs its on-link route first (unless that is still there).
    const offLink = rerun(['br0', 'c1', '10.0.0.2/24@10.9.9.1']);
    assert.deepEqual(actions(offLink), ['guest: ip route replace 10.9.9.1/32 dev eth1', 'guest: ip route replace default via 10.9.9.1 dev eth1']);
    const hostRouteThere = rerun(['br0', 'c1', '10.0.0.2/24@10.9.9.1'], { routes: [{ dst: '10.9.9.1', dev: 'eth1', table: 'main', scope: 'link', flags: [] }] });
    assert.deepEqual(actions(hostRouteThere), ['guest: ip route replace default via 10.9.9.1 dev eth1']);
  });

  void test('the MAC asked for, changed since: set again', () => {
    const p = rerun(['br0', 'c1', '10.0.0.2/24', '02:42:ac:11:00:02'], { drift: { mac: '02:42:ac:11:00:77' } });
    assert.deepEqual(p.repairs, ['eth1 has MAC 02:42:ac:11:00:77, not 02:42:ac:11:00:02']);
    assert.deepEqual(actions(p), ['guest: ip link set dev eth1 address 02:42:ac:11:00:02']);
    // No MAC asked for: whatever the kernel gave is fine.
    assert.equal(rerun(['br0', 'c1', '10.0.0.2/24'], { drift: { mac: '02:42:ac:11:00:77' } }).outcome, 'unchanged');
  });

  void test('an MTU asked for (another front door), changed since: set again', () => {
    const mtu = (input: PlanInput): PlanInput => ({ ...input, spec: { ...input.spec, mtu: 9000 } });
    const link = firstRun(mtu(attachContext(['br0', 'c1', '10.0.0.2/24'], { facts: guestFacts() })), { mtu: 1500 });
    const p = planAttach(mtu(attachContext(['br0', 'c1', '10.0.0.2/24'], { links: [bridge('br0'), nic(VETH, { master: 'br0' })], facts: complete(['lo', link]) })));
    assert.deepEqual(p.repairs, ['eth1 has MTU 1500, not 9000']);
    assert.deepEqual(actions(p), ['guest: ip link set dev eth1 mtu 9000']);
  });

  void test('an MTU and a MAC left to others after the attach (a CNI plugin chained after it): not drift', () => {
    const set = (input: PlanInput, laterOwned?: ('mtu' | 'mac')[]): PlanInput => ({
      ...input, spec: { ...input.spec, mtu: 9000, mac: '02:42:ac:11:00:02', ...(laterOwned !== undefined && { laterOwned }) },
    });
    const link = firstRun(set(attachContext(['br0', 'c1', '10.0.0.2/24'], { facts: guestFacts() })), { mtu: 1400, mac: '02:00:00:aa:bb:cc' });
    const again = (laterOwned?: ('mtu' | 'mac')[]) => planAttach(set(attachContext(['br0', 'c1', '10.0.0.2/24'], { links: [bridge('br0'), nic(VETH, { master: 'br0' })], facts: complete(['lo', link]) }), laterOwned));
    assert.deepEqual(again().repairs, ['eth1 has MTU 1400, not 9000', 'eth1 has MAC 02:00:00:aa:bb:cc, not 02:42:ac:11:00:02']);
    assert.deepEqual(again(['mtu']).repairs, ['eth1 has MAC 02:00:00:aa:bb:cc, not 02:42:ac:11:00:02']);
    assert.equal(again(['mtu', 'mac']).outcome, 'unchanged');
  });

  void test('an error\'s advice is for the command line, kept apart from what happened', () => {
    const other = firstRun(attachContext(['br0', 'c1', '10.0.0.9/24'], { facts: guestFacts() }));
    let err: unknown;
    try {
      planAttach(attachContext(['br0', 'c1', '10.0.0.2/24'], { links: [bridge('br0'), nic(VETH, { master: 'br0' })], facts: complete(['lo', other]) }));
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof ConflictError);
    assert.match(err.message, /another configuration .*; run 'pipework del -i eth1 c1' first, or add --replace$/u);
    assert.equal(err.advice, "run 'pipework del -i eth1 c1' first, or add --replace");
    assert.ok(!withoutAdvice(err).includes('pipework del'), withoutAdvice(err));
    assert.ok(withoutAdvice(err).endsWith('what differs: address 10.0.0.9/24 → 10.0.0.2/24)'), withoutAdvice(err));
    // Prefixed (a batch's "line 3: …"), the advice still comes off.
    assert.ok(withoutAdvice(withPrefix(err, 'line 3: ')).startsWith('line 3: '));
    assert.ok(!withoutAdvice(withPrefix(err, 'line 3: ')).includes('pipework del'));
  });

  void test('impairments asked for and not in place: made, and recorded', () => {
    const impaired = (input: PlanInput): PlanInput => ({ ...input, spec: { ...input.spec, impair: { delayMs: 20 } } });
    const link = firstRun(attachContext(['br0', 'c1', '10.0.0.2/24'], { facts: guestFacts() }));
    const p = planAttach(impaired(attachContext(['br0', 'c1', '10.0.0.2/24'], { links: [bridge('br0'), nic(VETH, { master: 'br0' })], facts: complete(['lo', link]) })));
    // The spec changed them (the record had none): an edit, said in words, not drift.
    assert.deepEqual(p.repairs, ['impairments of eth1: delay 20ms added']);
    assert.deepEqual(p.edits, ['impairments of eth1: delay 20ms added']);
    assert.equal(actions(p)[0], 'guest: tc qdisc replace dev eth1 root handle 1: netem delay 20ms');
    assert.ok(actions(p)[1]!.startsWith('guest: ip link set dev eth1 alias ') && actions(p)[1]!.endsWith(';im=d20'), actions(p)[1]);
  });

  void test('impairments changed in the spec are an edit; the record\'s gone from the guest is drift', () => {
    const rated = (input: PlanInput, rateBps: number): PlanInput => ({ ...input, spec: { ...input.spec, impair: { rateBps } } });
    const link = firstRun(rated(attachContext(['br0', 'c1', '10.0.0.2/24'], { facts: guestFacts() }), 50_000_000));
    const recorded = { ...link, qdisc: 'tbf' };
    const edit = planAttach(rated(attachContext(['br0', 'c1', '10.0.0.2/24'], { links: [bridge('br0'), nic(VETH, { master: 'br0' })], facts: complete(['lo', recorded]) }), 20_000_000));
    assert.equal(edit.outcome, 'repaired');
    assert.deepEqual(edit.edits, ['impairments of eth1: rate 50mbit → 20mbit']);
    assert.ok(actions(edit).some((a) => a.startsWith('guest: tc qdisc replace dev eth1 root handle 1: tbf rate 20000000bit')), actions(edit).join('\n'));
    // Both records change: the host end's is the one a re-run believes.
    assert.ok(actions(edit).some((a) => a.startsWith(`host: ip link set dev ${VETH} alias `) && a.endsWith(';im=r20000000')), actions(edit).join('\n'));
    const drift = planAttach(rated(attachContext(['br0', 'c1', '10.0.0.2/24'], { links: [bridge('br0'), nic(VETH, { master: 'br0' })], facts: complete(['lo', { ...link, qdisc: 'noqueue' }]) }), 50_000_000));
    assert.deepEqual(drift.repairs, ['eth1 is not impaired as recorded (rate 50mbit)']);
    assert.equal(drift.edits, undefined);
  });

  void test('several things drifted: each named, each repaired, host side first', () => {
    const p = rerun(['br0', 'c1', '10.0.0.2/24@10.0.0.1'], { host: [bridge('br0'), nic(VETH, { up: false })], drift: { up: false, addresses: [] } });
    assert.deepEqual(p.repairs, [
      `${VETH} is not a port of br0`, `host end ${VETH} is down`, 'address 10.0.0.2/24 is missing on eth1', 'eth1 is down', 'the IPv4 default route is not via 10.0.0.1 on eth1',
    ]);
    assert.deepEqual(actions(p), [
      `host: ip link set dev ${VETH} master br0`, `host: ip link set dev ${VETH} up`, 'guest: ip addr add 10.0.0.2/24 brd 10.0.0.255 dev eth1',
      'guest: ip link set dev eth1 up', 'guest: ip route replace default via 10.0.0.1 dev eth1',
    ]);
  });

  void test('facts that are not a full read (names from /proc only): only the host side is checked', () => {
    const link = firstRun(attachContext(['br0', 'c1', '10.0.0.2/24'], { facts: guestFacts() }));
    const facts = guestFacts(['lo', { ...link, up: false, addresses: [] }]);
    assert.notEqual(facts.complete, true);
    assert.equal(planAttach(attachContext(['br0', 'c1', '10.0.0.2/24'], { links: [bridge('br0'), nic(VETH, { master: 'br0' })], facts })).outcome, 'unchanged');
    const p = planAttach(attachContext(['br0', 'c1', '10.0.0.2/24'], { links: [bridge('br0'), nic(VETH)], facts }));
    assert.deepEqual(p.repairs, [`${VETH} is not a port of br0`]);
  });

  void test('a bridge that is gone and may not be made: refused, saying what to do', () => {
    const input = attachContext(['lan', 'c1', '10.0.0.2/24'], { links: [bridge('lan')], facts: guestFacts() });
    assert.equal(input.spec.host.kind === 'bridge' && input.spec.host.create, false);
    const link = firstRun(input);
    const again = attachContext(['lan', 'c1', '10.0.0.2/24'], { links: [bridge('lan'), nic(VETH, { master: 'lan' })], facts: complete(['lo', link]) });
    assert.equal(planAttach(again).outcome, 'unchanged');
    // Gone since the line was resolved (another run removed it).
    again.facts.host['lan'] = null;
    assertThrows(() => planAttach(again), ConflictError, `eth1 in ${LABEL} cannot be put right: bridge lan is gone`, "'pipework del'", 'attach again');
  });

  void test('a macvlan whose parent is down: brought up; gone: refused', () => {
    const argv = ['eth0', 'c1', '10.0.0.2/24'];
    const link = firstRun(attachContext(argv, { links: [nic('eth0')], facts: guestFacts() }));
    const down = planAttach(attachContext(argv, { links: [nic('eth0', { up: false })], facts: complete(['lo', link]) }));
    assert.deepEqual(down.repairs, ['eth0, the macvlan\'s parent, is down']);
    // Brought up by pipework now: marked, so the del of its last user brings it down again.
    assert.deepEqual(actions(down), ['host: ip link set dev eth0 up', 'host: ip link property add dev eth0 altname pwup.eth0']);
    const input = attachContext(argv, { links: [nic('eth0')], facts: complete(['lo', link]) });
    input.facts.host['eth0'] = null;
    assertThrows(() => planAttach(input), ConflictError, 'cannot be put right', 'eth0, the macvlan\'s parent, is gone');
  });

  void test('Open vSwitch: the port row checked when the gatherer read it — a wrong tag, a missing row, another bridge', () => {
    const OVS = ovsFacts({ bridges: ['ovsbr0'] });
    const argv = ['ovsbr0', 'c1', '10.0.0.2/24', '@10'];
    const row = (extra: Partial<OvsPortRow>): OvsPortRow => ({ name: VETH, bridge: 'ovsbr0', tag: 10, externalIds: {}, ...extra });
    const check = (ovsPorts: Record<string, OvsPortRow | null> | undefined) => rerun(argv, {
      first: { links: [nic('ovsbr0')], ovs: OVS },
      host: [nic('ovsbr0'), nic(VETH)],
      again: { ovs: OVS, ...(ovsPorts && { ovsPorts }) },
    });
    const transaction = `host: ovs-vsctl --timeout=10 -- --if-exists del-port ${VETH} -- add-port ovsbr0 ${VETH} tag=10 -- set Interface ${VETH} `
      + `external-ids:pipework.interface=${VETH} external-ids:pipework.bridge=ovsbr0 external-ids:pipework.nspid=4242 external-ids:pipework.vlan=10`;
    assert.equal(check({ [VETH]: row({}) }).outcome, 'unchanged');
    // Not read (the database was not asked): nothing to say about it.
    assert.equal(check(undefined).outcome, 'unchanged');
    const tagged = check({ [VETH]: row({ tag: 20 }) });
    assert.deepEqual(tagged.repairs, [`port ${VETH} has tag 20, not 10`]);
    assert.deepEqual(actions(tagged), [transaction]);
    const untagged = check({ [VETH]: row({ tag: undefined }) });
    assert.deepEqual(untagged.repairs, [`port ${VETH} has tag none, not 10`]);
    assert.deepEqual(check({ [VETH]: null }).repairs, [`${VETH} is not a port of ovsbr0`]);
    assert.deepEqual(actions(check({ [VETH]: null })), [transaction]);
    assert.deepEqual(check({ [VETH]: row({ bridge: 'ovs2' }) }).repairs, [`${VETH} is a port of ovs2, not ovsbr0`]);
  });

  void test('owners: the command line may re-run what another owner made with this configuration; another owner may not touch the command line\'s', () => {
    const argv = ['br0', 'c1', '10.0.0.2/24'];
    const topology = { kind: 'topology', name: 'lab' } as const;
    const theirs = firstRun(attachContext(argv, { facts: guestFacts(), owner: topology }));
    const host = [bridge('br0'), nic(VETH, { master: 'br0' })];
    assert.equal(planAttach(attachContext(argv, { links: host, facts: complete(['lo', theirs]) })).outcome, 'unchanged');
    assert.equal(planAttach(attachContext(argv, { links: host, facts: complete(['lo', theirs]), owner: topology })).outcome, 'unchanged');
    const mine = firstRun(attachContext(argv, { facts: guestFacts() }));
    assertThrows(() => planAttach(attachContext(argv, { links: host, facts: complete(['lo', mine]), owner: topology })), ConflictError,
      `eth1 in ${LABEL} was plumbed by cli, not topology:lab`, 'only cli changes or removes it');
    // Nor change it with --replace.
    assertThrows(() => planAttach(attachContext(['br0', 'c1', '10.0.0.3/24', '--replace'], { links: host, facts: complete(['lo', mine]), owner: topology })),
      ConflictError, 'was plumbed by cli, not topology:lab');
  });
});

void describe('--replace: park, build, remove the parked one', () => {
  const PARKED = parkedGuestName({ pid: 4242, nsInode: 4026532999 }, 'eth1');

  void test('the park\'s undo puts the old interface back as it was: its name, up, its IPv6 addresses and its routes', () => {
    const link = firstRun(attachContext(['br0', 'c1', '10.0.0.2/24@10.0.0.1'], { facts: guestFacts() }), {
      addresses: ['10.0.0.2/24', '2001:db8::2/64'],
    });
    const routes = [
      ...ROUTES,
      { type: 'unicast', dst: '10.5.0.0/16', gateway: '10.0.0.254', dev: 'eth1', table: 'main', protocol: 'static', scope: 'global', flags: [] },
      { type: 'unicast', dst: '2001:db8::/64', dev: 'eth1', table: 'main', protocol: 'kernel', metric: 256, flags: [], pref: 'medium' },
      { type: 'unicast', dst: 'fe80::/64', dev: 'eth1', table: 'main', protocol: 'kernel', metric: 256, flags: [], pref: 'medium' },
      { type: 'unicast', dst: 'default', gateway: '2001:db8::1', dev: 'eth1', table: 'main', protocol: 'ra', metric: 1024, flags: [], pref: 'medium' },
      { type: 'unicast', dst: '10.6.0.0/16', gateway: '10.0.0.254', dev: 'eth1', table: '100', flags: [] },
      { type: 'unicast', dst: 'default', gateway: '172.17.0.1', dev: 'eth0', table: 'main', flags: [] },
    ];
    const p = planAttach(attachContext(['br0', 'c1', '10.0.0.3/24', '--replace'], {
      links: [bridge('br0'), nic(VETH, { master: 'br0' })], facts: complete(['lo', 'eth0', link], routes),
    }));
    assert.equal(p.outcome, 'replaced');
    const [down, park] = [p.steps[0]!, p.steps[1]!];
    assert.equal(show(down.action), 'guest: ip link set dev eth1 down');
    assert.equal(show(park.action), `guest: ip link set dev eth1 name ${PARKED}`);
    // Down, then renamed (kernels before 6.2 refuse to rename an up device). Undone newest step
    // first, each step's actions last to first: the name back, up, what the kernel dropped.
    assert.deepEqual([...park.undo.slice().reverse(), ...down.undo.slice().reverse()].map(show), [
      `guest: ip link set dev ${PARKED} name eth1`,
      'guest: ip link set dev eth1 up',
      'guest: ip addr add 2001:db8::2/64 dev eth1 nodad',
      'guest: ip route replace default via 10.0.0.1 dev eth1',
      'guest: ip route replace 10.5.0.0/16 via 10.0.0.254 dev eth1 proto static',
      'guest: ip route replace ::/0 via 2001:db8::1 dev eth1 proto ra metric 1024',
    ]);
    // The old interface's default route goes with it: nothing deletes it, the new one has none.
    assert.ok(!actions(p).some((a) => a.includes('route del')), actions(p).join('\n'));
    assert.equal(actions(p).at(-1), `guest: ip link del dev ${PARKED}`);
  });

  void test('the record of the old interface\'s replaced default route is carried over to the new one', () => {
    const first = planAttach(attachContext(['br0', 'c1', '10.0.0.2/24@10.0.0.1'], {
      facts: guestFacts(['lo', 'eth0'], [{ type: 'unicast', dst: 'default', gateway: '172.17.0.1', dev: 'eth0', table: 'main', flags: [] }]),
    }));
    assert.equal(first.record?.replaced4, '172.17.0.1@eth0');
    const link: GuestLink = { name: 'eth1', alias: encodeRecord(first.record), up: true, addresses: ['10.0.0.2/24'], mtu: 1500, qdisc: 'noqueue' };
    const p = planAttach(attachContext(['br0', 'c1', '10.0.0.3/24@10.0.0.1', '--replace'], {
      links: [bridge('br0'), nic(VETH, { master: 'br0' })], facts: complete(['lo', 'eth0', link], ROUTES),
    }));
    assert.equal(p.record?.replaced4, '172.17.0.1@eth0', 'del of the new one puts back the route the first one replaced');
  });

  void test('the same NIC moved in again with other addresses: it stays, only its configuration changes (old addresses back on failure)', () => {
    const first = planAttach(attachContext(['--direct-phys', 'eth0', 'c1', '10.0.0.2/24'], { links: [nic('eth0')], facts: guestFacts() }));
    const link: GuestLink = { name: 'eth1', alias: encodeRecord(first.record!), up: true, addresses: ['10.0.0.2/24'], mac: '52:54:00:12:34:56' };
    const p = planAttach(attachContext(['--direct-phys', 'eth0', 'c1', '10.0.0.3/24', '--replace'], { links: [], facts: complete(['lo', link]) }));
    assert.equal(p.outcome, 'replaced');
    assert.equal(show(p.steps[0]!.action), 'guest: ip addr flush dev eth1');
    assert.deepEqual(p.steps[0]!.undo.map(show), ['guest: ip addr add 10.0.0.2/24 dev eth1']);
    assert.ok(!actions(p).some((a) => a.includes('netns')), 'the NIC is not moved');
    assert.ok(actions(p).includes('guest: ip addr add 10.0.0.3/24 brd 10.0.0.255 dev eth1'));
    assert.equal(p.record?.origName, 'eth0');
  });
});

void describe('del: what an attach replaced or brought up is put back', () => {
  const REC: AttachRecord = {
    role: 'guest', guest: 'docker:c1', nsInode: 4026532999, guestIf: 'eth1', hostIf: 'br0', hostKind: 'bridge', localIf: VETH,
    address: '10.0.0.2/24', gateway: '10.0.0.1', replaced4: '172.17.0.1@eth0@100',
  };
  const viaEth1 = { type: 'unicast', dst: 'default', gateway: '10.0.0.1', dev: 'eth1', table: 'main', flags: [] };

  void test('the default route replaced is recorded whatever its device is called (eth10 is not eth1)', () => {
    for (const dev of ['eth10', 'eth1.5', 'eth0']) {
      const p = planAttach(attachContext(['br0', 'c1', '10.0.0.2/24@10.0.0.1'], {
        facts: guestFacts(['lo', dev], [{ type: 'unicast', dst: 'default', gateway: '10.9.0.1', dev, table: 'main', flags: [] }]),
      }));
      assert.equal(p.record?.replaced4, `10.9.0.1@${dev}`, dev);
    }
  });

  void test('the default route the gateway replaced comes back after the interface goes', () => {
    const steps = planDetachOne({ guestIf: 'eth1', record: REC }, guestFacts(['lo', 'eth0', 'eth1'], [viaEth1]));
    assert.deepEqual(steps.map((s) => show(s.action)), ['guest: ip link del dev eth1', 'guest: ip route replace default via 172.17.0.1 dev eth0 metric 100']);
    assert.ok(steps[1]!.title.includes('172.17.0.1') && steps[1]!.title.includes("eth1's gateway"), steps[1]!.title);
    assert.deepEqual(steps[1]!.undo, []);
  });

  void test('IPv6 too', () => {
    const rec: AttachRecord = { ...REC, address: '2001:db8:2::5/64', gateway: '2001:db8:2::1', replaced4: undefined, replaced6: '2001:db8:1::1@eth0@1024' };
    const steps = planDetachOne({ guestIf: 'eth1', record: rec }, guestFacts(['lo', 'eth0', 'eth1']));
    assert.deepEqual(steps.map((s) => show(s.action)).slice(1), ['guest: ip route replace ::/0 via 2001:db8:1::1 dev eth0 metric 1024']);
  });

  void test('only when nothing else routes by default, and only through an interface the guest still has', () => {
    const other = { type: 'unicast', dst: 'default', gateway: '192.168.1.1', dev: 'eth2', table: 'main', flags: [] };
    const only = (facts: GuestFacts) => planDetachOne({ guestIf: 'eth1', record: REC }, facts).map((s) => show(s.action));
    assert.deepEqual(only(guestFacts(['lo', 'eth0', 'eth1', 'eth2'], [viaEth1, other])), ['guest: ip link del dev eth1']);
    assert.deepEqual(only(guestFacts(['lo', 'eth1'], [viaEth1])), ['guest: ip link del dev eth1'], 'eth0 is gone');
    // A default route in another table, or an IPv6 one, is no reason to keep it away.
    const v6 = { type: 'unicast', dst: 'default', gateway: 'fe80::1', dev: 'eth2', table: 'main', flags: [], pref: 'medium' };
    const table = { type: 'unicast', dst: 'default', gateway: '192.168.1.1', dev: 'eth2', table: '100', flags: [] };
    assert.equal(only(guestFacts(['lo', 'eth0', 'eth1', 'eth2'], [v6, table])).length, 2);
    // A record that replaced a route through the interface itself, or an unreadable one: nothing.
    const self = planDetachOne({ guestIf: 'eth1', record: { ...REC, replaced4: '10.0.0.254@eth1' } }, guestFacts(['lo', 'eth0', 'eth1']));
    assert.equal(self.length, 1);
    const bad = planDetachOne({ guestIf: 'eth1', record: { ...REC, replaced4: '172.17.0.1' } }, guestFacts(['lo', 'eth0', 'eth1']));
    assert.equal(bad.length, 1);
  });

  void test('del of several interfaces whose gateways replaced one another: the first default route comes back, none through a removed one', () => {
    // eth1's gateway replaced the default via eth0; then eth2's replaced eth1's.
    const eth2: AttachRecord = { ...REC, guestIf: 'eth2', localIf: 'veth2pl4242', address: '10.1.0.2/24', gateway: '10.1.0.1', replaced4: '10.0.0.1@eth1' };
    const viaEth2 = { type: 'unicast', dst: 'default', gateway: '10.1.0.1', dev: 'eth2', table: 'main', flags: [] };
    const p = planDetach([{ guestIf: 'eth1', record: REC }, { guestIf: 'eth2', record: eth2 }], guestFacts(['lo', 'eth0', 'eth1', 'eth2'], [viaEth2]), LABEL);
    const all = actions(p);
    const gone = all.indexOf('guest: ip link del dev eth1');
    assert.ok(!all.slice(gone + 1).some((a) => a.includes('dev eth1')), `a step uses eth1 after it is removed:\n${all.join('\n')}`);
    assert.ok(all.includes('guest: ip route replace default via 172.17.0.1 dev eth0 metric 100'), all.join('\n'));
  });

  void test('the routes come back after every removal of the plan', () => {
    const eth2: AttachRecord = { ...REC, guestIf: 'eth2', localIf: 'veth2pl4242', replaced4: undefined };
    const p = planDetach([{ guestIf: 'eth1', record: REC }, { guestIf: 'eth2', record: eth2 }], guestFacts(['lo', 'eth0', 'eth1', 'eth2'], [viaEth1]), LABEL);
    assert.deepEqual(actions(p), ['guest: ip link del dev eth1', 'guest: ip route replace default via 172.17.0.1 dev eth0 metric 100', 'guest: ip link del dev eth2']);
  });

  void test('a macvlan del: the NIC goes down again if pipework brought it up (its mark) and nothing uses it then — whichever attach brought it up', () => {
    const first = planAttach(attachContext(['eth0', 'c1', '10.0.0.2/24'], { links: [nic('eth0', { up: false })], facts: guestFacts() }));
    const guard = { onlyIfLinkUnused: 'eth0', onlyIfAltName: 'pwup.eth0' };
    const steps = driverFor('macvlan').planDel(first.record!, 'eth1');
    assert.deepEqual(steps.map((s) => s.action), [
      { kind: 'ip', place: 'guest', args: ['link', 'del', 'dev', 'eth1'] },
      { kind: 'ip', place: 'host', args: ['link', 'set', 'dev', 'eth0', 'down'], ...guard },
      { kind: 'ip', place: 'host', args: ['link', 'property', 'del', 'dev', 'eth0', 'altname', 'pwup.eth0'], ...guard },
    ]);
    assert.ok(steps[1]!.title.includes('eth0') && steps[1]!.title.includes('nothing uses it'), steps[1]!.title);
    // A second guest that found the NIC up plans the same: the mark on the NIC decides, not the record.
    const second = planAttach(attachContext(['eth0', 'c1', '-i', 'eth2', '10.0.0.3/24'], { links: [nic('eth0')], facts: guestFacts() }));
    assert.deepEqual(driverFor('macvlan').planDel(second.record!, 'eth2').map((s) => s.action).slice(1), steps.map((s) => s.action).slice(1));
    // On a VLAN: the sub-interface is looked at first (removed with its last user), then the NIC.
    const vlan = planAttach(attachContext(['eth0', 'c1', '10.0.0.2/24', '@10'], { links: [nic('eth0', { up: false })], facts: guestFacts() }));
    assert.deepEqual(driverFor('macvlan').planDel(vlan.record!, 'eth1').map((s) => show(s.action)), [
      'guest: ip link del dev eth1', 'host: ip link del dev eth0.10',
      'host: ip link set dev eth0.10 down', 'host: ip link property del dev eth0.10 altname pwup.eth0.10',
      'host: ip link set dev eth0 down', 'host: ip link property del dev eth0 altname pwup.eth0',
    ]);
  });

  void test('the bridge kind\'s host end goes with its pair (the guest end deleted), the bridge stays', () => {
    assert.deepEqual(planDetach([{ guestIf: 'eth1', record: { ...REC, replaced4: undefined } }], guestFacts(), LABEL).steps.map((s) => [show(s.action), s.irreversible === true]), [
      ['guest: ip link del dev eth1', true],
    ]);
  });
});
