// Small pieces of the engine and the command line around it: a host end's
// live drift, impairments, the result of an attach, help and completion, the root check.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { hostEndDrift } from '../../src/engine/inventory.js';
import { impairChange, impairQdisc, impairText, impairWords, parseImpairText, planImpair, rateText } from '../../src/engine/impair.js';
import { planAttach } from '../../src/engine/planner.js';
import { resultOf } from '../../src/engine/result.js';
import { BASH_COMPLETION } from '../../src/front/cli/completion.js';
import { VERBS } from '../../src/front/classic/grammar.js';
import { HELP, SYNTAX, VERB_HELP, helpFor } from '../../src/front/cli/help.js';
import { hasCapabilities } from '../../src/front/root.js';
import type { OvsPortRow } from '../../src/host/ovs-facts.js';
import type { AttachRecord } from '../../src/model/record.js';
import { attachContext, guestFacts } from './fakes.js';
import { planStaticAddress } from '../../src/engine/address.js';
import { parseAddressSpec } from '../../src/model/address.js';

void describe('hostEndDrift: a host end against its record, live (sysfs)', () => {
  // lo is on every machine: up, and a port of nothing.
  const rec = (extra: Partial<AttachRecord>): AttachRecord => ({
    role: 'guest', guest: 'docker:c1', nsInode: 1, guestIf: 'eth1', hostIf: 'pwunitnobr0', hostKind: 'bridge', localIf: 'lo', ...extra,
  });
  const row = (extra: Partial<OvsPortRow>): OvsPortRow => ({ name: 'lo', bridge: 'ovs0', externalIds: {}, ...extra });

  void test('a bridge that is gone, and a host end that is not its port', () => {
    assert.deepEqual(hostEndDrift(rec({}), new Map()), ['bridge pwunitnobr0 is gone', 'lo is not a port of pwunitnobr0']);
  });

  void test('OVS: only when the port table was read; a missing row, another tag', () => {
    const ovs = rec({ hostKind: 'ovs', hostIf: 'ovs0', vlan: 10 });
    assert.deepEqual(hostEndDrift(ovs, new Map()), [], 'Open vSwitch did not answer: nothing to say');
    assert.deepEqual(hostEndDrift(ovs, new Map([['other', row({ name: 'other' })]])), ['lo is not a port of ovs0']);
    assert.deepEqual(hostEndDrift(ovs, new Map([['lo', row({ tag: 20 })]])), ['port lo has tag 20, not 10']);
    assert.deepEqual(hostEndDrift(ovs, new Map([['lo', row({ tag: 10 })]])), []);
  });

  void test('no host end, or one that is gone: nothing to say', () => {
    assert.deepEqual(hostEndDrift(rec({ localIf: undefined }), new Map()), []);
    assert.deepEqual(hostEndDrift(rec({ localIf: 'pwunitgone9z' }), new Map()), []);
  });
});

void describe('impairments', () => {
  void test('in words: rates in tc\'s units, changes as from → to', () => {
    assert.deepEqual([50e6, 20e6, 1.5e6, 512e3, 1e9, 2.5e12, 300, 1234567, 8e3].map(rateText),
      ['50mbit', '20mbit', '1.5mbit', '512kbit', '1gbit', '2.5tbit', '300bit', '1234.567kbit', '8kbit']);
    assert.equal(impairWords({ delayMs: 10, jitterMs: 2, lossPercent: 0.5, rateBps: 20e6 }), 'delay 10ms, jitter 2ms, loss 0.5%, rate 20mbit');
    assert.equal(impairWords(undefined), 'none');
    assert.deepEqual(impairChange({ rateBps: 50e6 }, { rateBps: 20e6 }), ['rate 50mbit → 20mbit']);
    assert.deepEqual(impairChange({ delayMs: 10, lossPercent: 1 }, { delayMs: 20, rateBps: 1e6 }), ['delay 10ms → 20ms', 'loss 1% removed', 'rate 1mbit added']);
    assert.deepEqual(impairChange(parseImpairText('r20000000'), parseImpairText('r20000000')), []);
    // A record that cannot be read (hostile or damaged) reads as none: the change is all of it.
    assert.deepEqual(impairChange(parseImpairText('rx,zz'), { rateBps: 1e6 }), ['rate 1mbit added']);
  });

  void test('recorded as text, and read back', () => {
    assert.equal(impairText({ delayMs: 20, jitterMs: 5, lossPercent: 1.5, rateBps: 10_000_000 }), 'd20,j5,l1.5,r10000000');
    assert.deepEqual(parseImpairText('d20,j5,l1.5,r10000000'), { delayMs: 20, jitterMs: 5, lossPercent: 1.5, rateBps: 10_000_000 });
    assert.equal(impairText(undefined), undefined);
    assert.equal(impairText({}), undefined);
    assert.equal(parseImpairText(''), undefined);
    assert.equal(parseImpairText('dx'), undefined);
  });

  void test('netem for delay, jitter and loss (with tbf under it for a rate); tbf alone for a rate', () => {
    assert.equal(impairQdisc({ delayMs: 1 }), 'netem');
    assert.equal(impairQdisc({ rateBps: 1000 }), 'tbf');
    assert.equal(impairQdisc({}), undefined);
    const both = planImpair('eth1', { delayMs: 20, jitterMs: 5, lossPercent: 1, rateBps: 8_000_000 }, undefined);
    assert.deepEqual(both.map((s) => s.action.kind === 'exec' && s.action.argv.join(' ')), [
      'tc qdisc replace dev eth1 root handle 1: netem delay 20ms 5ms loss 1%',
      'tc qdisc replace dev eth1 parent 1: handle 2: tbf rate 8000000bit burst 4000 latency 50ms',
    ]);
    assert.ok(both.every((s) => s.needs !== undefined && s.action.place === 'guest'));
    assert.deepEqual(planImpair('eth1', { rateBps: 1000 }, undefined).map((s) => s.action.kind === 'exec' && s.action.argv.join(' ')), [
      'tc qdisc replace dev eth1 root handle 1: tbf rate 1000bit burst 3200 latency 50ms',
    ]);
  });

  void test('nothing when they already match; removed when no longer asked for', () => {
    assert.deepEqual(planImpair('eth1', { delayMs: 20 }, { qdisc: 'netem', recorded: { delayMs: 20 } }), []);
    assert.equal(planImpair('eth1', { delayMs: 30 }, { qdisc: 'netem', recorded: { delayMs: 20 } }).length, 1);
    assert.deepEqual(planImpair('eth1', undefined, { qdisc: 'noqueue' }), []);
    assert.deepEqual(planImpair('eth1', undefined, { qdisc: 'netem' }).map((s) => s.action.kind === 'exec' && s.action.argv.join(' ')), ['tc qdisc del dev eth1 root']);
  });
});

void describe('resultOf: what an attach made, as data', () => {
  void test('the host end and the guest interface, its address with the gateway, the default route', () => {
    const input = attachContext(['br0', 'c1', '10.0.0.2/24@10.0.0.1', '02:42:ac:11:00:02'], { facts: guestFacts() });
    const plan = planAttach(input);
    assert.deepEqual(resultOf(input.spec, input.guest, plan.record!), {
      interfaces: [{ name: 'veth1pl4242' }, { name: 'eth1', sandbox: 'docker container c1 (pid 4242)', mac: '02:42:ac:11:00:02' }],
      ips: [{ address: '10.0.0.2/24', family: 4, interface: 1, gateway: '10.0.0.1' }],
      routes: [{ dst: '0.0.0.0/0', gw: '10.0.0.1' }],
    });
  });

  void test('no host end (macvlan), no address: the guest interface alone', () => {
    const input = attachContext(['dummy0', 'c1', '0/0'], { links: [], facts: guestFacts() });
    assert.deepEqual(resultOf(input.spec, input.guest, planAttach(input).record!), {
      interfaces: [{ name: 'eth1', sandbox: 'docker container c1 (pid 4242)' }], ips: [], routes: [],
    });
  });
});

const FRONT_DOOR_VERBS = ['apply', 'destroy', 'inspect', 'graph', 'schema', 'watch', 'cni'];

void describe('help and completion', () => {
  void test('every verb has its help; --wait is wait; an unknown verb has none', () => {
    for (const verb of [...VERBS.filter((v) => v !== 'help'), 'attach', 'route', 'rule', 'tc', 'wait']) {
      assert.ok(helpFor(verb)?.includes('pipework'), verb);
    }
    assert.equal(helpFor('--wait'), VERB_HELP['wait']);
    assert.equal(helpFor(undefined), HELP);
    assert.equal(helpFor('frobnicate'), undefined);
    assert.ok(HELP.includes(SYNTAX));
  });

  void test('--help names the verbs of every front door (their own usage is their --help)', () => {
    for (const verb of FRONT_DOOR_VERBS) assert.match(HELP, new RegExp(`^ {2}(\\S+, )*${verb}\\b`, 'mu'), verb);
  });

  void test('the completion script knows every verb and every option', () => {
    const verbs = /local verbs=\(([^)]*)\)/u.exec(BASH_COMPLETION)?.[1]?.split(' ') ?? [];
    for (const v of [...VERBS, 'route', 'rule', 'tc', ...FRONT_DOOR_VERBS]) assert.ok(verbs.includes(v), v);
    const opts = /local opts=\(([^)]*)\)/u.exec(BASH_COMPLETION)?.[1]?.split(' ') ?? [];
    for (const o of HELP.match(/^ {2}(-[-a-zA-Z]+)/gmu)!.map((m) => m.trim())) {
      if (o === '--' || o === '-h' || o === '-V') continue;
      assert.ok(opts.includes(o), o);
    }
  });
});

void describe('hasCapabilities (the root check)', () => {
  void test('CAP_NET_ADMIN and CAP_SYS_ADMIN both, from /proc/self/status', () => {
    assert.equal(hasCapabilities('Name:\tx\nCapEff:\t000001ffffffffff\n'), true);
    assert.equal(hasCapabilities('CapEff:\t0000000000201000\n'), true, 'bits 12 and 21');
    assert.equal(hasCapabilities('CapEff:\t0000000000001000\n'), false, 'net admin only');
    assert.equal(hasCapabilities('CapEff:\t0000000000200000\n'), false, 'sys admin only');
    assert.equal(hasCapabilities('CapEff:\t0000000000000000\n'), false);
    assert.equal(hasCapabilities(''), false);
  });
});

void describe('static addresses: IPv6 duplicate address detection', () => {
  const v6 = parseAddressSpec('fd00:5::9/64').address!;
  const v4 = parseAddressSpec('10.5.0.9/24').address!;
  const sysctl = (dad: boolean | undefined, addresses = [v6]) => planStaticAddress({ kind: 'static', addresses, routes: [], ...(dad !== undefined && { dad }) }, 'eth1', [])
    .steps.filter((s) => s.action.kind === 'exec').map((s) => (s.action.kind === 'exec' ? s.action.argv.join(' ') : ''));
  void test('off: accept_dad=0 in the same sysctl that enables IPv6, before the addresses go on', () => {
    assert.deepEqual(sysctl(false), ['sysctl -q -w net/ipv6/conf/eth1/disable_ipv6=0 net/ipv6/conf/eth1/accept_dad=0']);
    assert.deepEqual(sysctl(true), ['sysctl -q -w net/ipv6/conf/eth1/disable_ipv6=0 net/ipv6/conf/eth1/accept_dad=1']);
  });
  void test('not said: as the kernel has it; no IPv6 address: no sysctl at all', () => {
    assert.deepEqual(sysctl(undefined), ['sysctl -q -w net/ipv6/conf/eth1/disable_ipv6=0']);
    assert.deepEqual(sysctl(false, [v4]), []);
  });
});
