// An attach in two halves (attachSpecs' addressLater, CNI's IPAM): the first half makes the
// interface with no address, the second (planAddressing) records the addresses wherever the host
// kind keeps its record — the alias, a veth's host end, what is kept of a NIC moved in — and adds
// them with the routes. Golden step lists from fixed facts.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { planAddressing, planAttach, type PlanInput } from '../../src/engine/planner.js';
import { parseAddressSpec } from '../../src/model/address.js';
import type { StaticAddressing } from '../../src/model/attach-spec.js';
import { UnsupportedError } from '../../src/model/errors.js';
import type { Action, Plan } from '../../src/model/plan.js';
import { decodeRecord } from '../../src/model/record.js';
import { assertThrows, attachContext, bridge, nic, type ContextOptions } from './fakes.js';

const VETH = 'veth1pl4242';

function show(a: Action): string {
  if (a.kind === 'keep') return `${a.place}: ${a.text === null ? 'forget' : 'keep'} ${a.key}`;
  return a.kind === 'ip' ? `${a.place}: ip ${a.args.join(' ')}` : `${a.place}: ${a.argv.join(' ')}${a.detached ? ' &' : ''}`;
}
const actions = (p: Plan): string[] => p.steps.map((s) => show(s.action));

/** What IPAM gave: 10.0.0.2/24, a route to 10.9.0.0/16 via 10.0.0.1 and a default route. */
const GIVEN: StaticAddressing = {
  kind: 'static',
  addresses: [parseAddressSpec('10.0.0.2/24').address!],
  routes: [{ dst: '10.9.0.0/16', family: 4, gateway: '10.0.0.1' }, { dst: 'default', family: 4, gateway: '10.0.0.1' }],
};

/** The first half (the line with `0/0`: no address), then the second with `addressing`. */
function halves(argv: string[], o: ContextOptions = {}, addressing: StaticAddressing = GIVEN): { first: Plan; second: Plan; input: PlanInput } {
  const input = attachContext(argv, o);
  const first = planAttach(input);
  const second = planAddressing({ ...input, spec: { ...input.spec, addressing } }, first.record!);
  return { first, second, input };
}

const ADDRESS_STEPS = [
  'guest: ip addr add 10.0.0.2/24 brd 10.0.0.255 dev eth1',
  'guest: ip route replace 10.9.0.0/16 via 10.0.0.1 dev eth1',
  'guest: ip route replace default via 10.0.0.1 dev eth1',
];

void describe('planAddressing: the addresses once the interface exists', () => {
  void test('bridge: the first half records no address; the second records them on both ends, then adds them (no second "up")', () => {
    const { first, second } = halves(['br0', 'c1', '0/0']);
    assert.equal(first.outcome, 'created');
    assert.equal(first.record?.address, undefined);
    assert.ok(actions(first).includes('guest: ip link set dev eth1 up'), 'the first half brings it up');
    assert.equal(second.record?.address, '10.0.0.2/24');
    assert.equal(second.record?.localIf, VETH, 'what the first half recorded of the host side stays');
    const rec = decodeRecord(second.steps[0]!.action.kind === 'ip' ? second.steps[0]!.action.args.at(-1) : undefined);
    assert.deepEqual(rec, second.record);
    assert.deepEqual(actions(second), [
      `guest: ip link set dev eth1 alias ${(second.steps[0]!.action as { args: string[] }).args.at(-1)!}`,
      `host: ip link set dev ${VETH} alias ${(second.steps[1]!.action as { args: string[] }).args.at(-1)!}`,
      ...ADDRESS_STEPS,
    ]);
    assert.deepEqual(decodeRecord((second.steps[1]!.action as { args: string[] }).args.at(-1)), { ...second.record, role: 'host' });
    // Undone with the interface the first half made.
    assert.ok(second.steps.every((s) => s.undo.length === 0));
    // It only writes on links the run holds: it shares the host.
    assert.deepEqual(second.locks, { uses: [], changes: [] });
  });

  void test('macvlan: the alias is its only record', () => {
    const { second } = halves(['eth0', 'web', '0/0'], { name: 'web', links: [nic('eth0')] });
    assert.equal(second.record?.hostKind, 'macvlan');
    assert.equal(second.record?.address, '10.0.0.2/24');
    assert.deepEqual(actions(second).slice(1), ADDRESS_STEPS);
    assert.match(actions(second)[0]!, /^guest: ip link set dev eth1 alias pipework\/1;.*a=10\.0\.0\.2\/24/u);
  });

  void test('a NIC moved in: what is kept on the host is written again with the addresses and the MAC it goes back with', () => {
    const { first, second } = halves(['--direct-phys', 'eth0', 'web', '0/0'], { name: 'web', links: [nic('eth0')] });
    assert.equal(actions(first)[0], 'host: keep 4026532999-eth1.json');
    assert.deepEqual(actions(second).slice(1), ['host: keep 4026532999-eth1.json', ...ADDRESS_STEPS]);
    const kept = second.steps[1]!.action;
    assert.ok(kept.kind === 'keep' && kept.text !== null);
    const k = JSON.parse(kept.text) as { record: string; mac?: string };
    assert.deepEqual(decodeRecord(k.record), { ...second.record, role: 'host' });
    assert.equal(decodeRecord(k.record)?.origName, 'eth0');
    assert.equal(k.mac, '52:54:00:12:34:56');
  });

  void test('more addresses, IPv6 among them: all recorded, and IPv6 turned on before they are added', () => {
    const two: StaticAddressing = {
      kind: 'static',
      addresses: [parseAddressSpec('10.0.0.2/24').address!, parseAddressSpec('fd00::2/64').address!],
      routes: [],
    };
    const { second } = halves(['br0', 'c1', '0/0'], {}, two);
    assert.equal(second.record?.address, '10.0.0.2/24');
    assert.equal(second.record?.moreAddresses, 'fd00::2/64');
    assert.deepEqual(actions(second).slice(2), [
      'guest: sysctl -q -w net/ipv6/conf/eth1/disable_ipv6=0',
      'guest: ip addr add 10.0.0.2/24 brd 10.0.0.255 dev eth1',
      'guest: ip addr add fd00::2/64 dev eth1',
    ]);
  });

  void test('with arping and an IPv4 address, a gratuitous ARP last, when the spec asks for one', () => {
    const input = attachContext(['br0', 'c1', '0/0'], { hasArping: true });
    const first = planAttach(input);
    assert.ok(!actions(first).some((a) => a.includes('arping')), 'none without an address');
    const second = planAddressing({ ...input, spec: { ...input.spec, addressing: GIVEN } }, first.record!);
    assert.equal(actions(second).at(-1), 'guest: arping -c 1 -A -I eth1 10.0.0.2 &');
    const quiet = planAddressing({ ...input, spec: { ...input.spec, announce: false, addressing: GIVEN } }, first.record!);
    assert.ok(!actions(quiet).some((a) => a.includes('arping')));
  });

  void test('no address given (IPAM gave none): only the records', () => {
    const { second } = halves(['br0', 'c1', '0/0'], { links: [bridge('br0')] }, { kind: 'static', addresses: [], routes: [] });
    assert.equal(second.record?.address, undefined);
    assert.equal(second.steps.length, 2);
  });

  void test('DHCP addressing is not what comes later: refused', () => {
    const input = attachContext(['br0', 'c1', '0/0']);
    const first = planAttach(input);
    assertThrows(() => planAddressing({ ...input, spec: { ...input.spec, addressing: { kind: 'dhcp', method: 'udhcpc', options: [], family: 4, timeoutSec: 5 } } }, first.record!),
      UnsupportedError, 'static');
  });
});
