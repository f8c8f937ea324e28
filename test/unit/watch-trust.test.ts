// What the watcher lets a container's labels decide (SPEC part H), its pure parts: --allow with
// VLANs per host interface, a label's VLAN judged against it, --dhcp-image (the operator's, never a
// label's), the watcher's translator (an operator's bridge never changed), and the bridge driver
// honouring that.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ConflictError, InvalidArgumentError, UsageError } from '../../src/model/errors.js';
import { envRequest, labelRequest, readAsks, type ContainerView } from '../../src/front/watch/asks.js';
import { narrowSpec } from '../../src/front/watch/narrow.js';
import { parseAllow, parseWatchArgs, WATCH_HELP, type WatchOptions } from '../../src/front/watch/options.js';
import { policyOf, refuseRequest, refuseSpec } from '../../src/front/watch/policy.js';
import { resolveClassic } from '../../src/front/cli/classic.js';
import { planAttach } from '../../src/engine/planner.js';
import { attachContext, bridge, hostLookup, nic, ovsFacts } from './fakes.js';

const ID = 'ab'.repeat(32);

function container(over: Partial<ContainerView> = {}): ContainerView {
  return { runtime: 'docker', id: ID, name: 'web_3', labels: {}, env: [], image: { labels: {}, env: [] }, ...over };
}

function watchOpts(argv: string[]): WatchOptions {
  const r = parseWatchArgs(['watch', ...argv]);
  if (r.kind !== 'watch') throw new Error(`not a watch request: ${r.kind}`);
  return r;
}

void describe('--allow HOSTIF[@VLAN[,VLAN…]][,HOSTIF…]', () => {
  void test('numbers after @ are VLANs until a name starts the next host interface; without @ untagged only', () => {
    assert.deepEqual(parseAllow('ovs-lan@10,20,br0'), [
      { hostIf: 'ovs-lan', untagged: false, vlans: [10, 20] },
      { hostIf: 'br0', untagged: true, vlans: [] },
    ]);
    assert.deepEqual(parseAllow('br0,ovs-lan@10'), [
      { hostIf: 'br0', untagged: true, vlans: [] },
      { hostIf: 'ovs-lan', untagged: false, vlans: [10] },
    ]);
    assert.deepEqual(parseAllow('eth1@4094,1,eth2@7'), [
      { hostIf: 'eth1', untagged: false, vlans: [1, 4094] },
      { hostIf: 'eth2', untagged: false, vlans: [7] },
    ]);
  });

  void test('the same host interface twice (one option or several) is one grant: untagged and VLANs merged', () => {
    const o = watchOpts(['--allow', 'ovs-a@10', '--allow=ovs-a,br1', '--allow', 'ovs-a@20,10']);
    assert.deepEqual(o.allow, [
      { hostIf: 'ovs-a', untagged: true, vlans: [10, 20] },
      { hostIf: 'br1', untagged: true, vlans: [] },
    ]);
  });

  void test('refused: a bare number (a VLAN must follow a host interface and @), a bad VLAN, an empty part, @ with nothing', () => {
    const bad: [string, RegExp][] = [
      ['br0,10', /'10' is a number, not a host interface.*br0@10/u],
      ['10', /'10' is a number/u],
      ['ovs-a@0', /invalid VLAN id '0'/u],
      ['ovs-a@4095', /invalid VLAN id '4095'/u],
      ['ovs-a@x', /invalid VLAN id 'x'/u],
      ['ovs-a@', /invalid VLAN id ''/u],
      ['ovs-a@10@20', /invalid VLAN id '10@20'/u],
      ['@10', /host interface/u],
      ['br0,,br1', /separated by commas/u],
      ['ovs-a@10,', /separated by commas/u],
      ['a-very-long-interface-name@10', /longer than 15/u],
    ];
    for (const [text, why] of bad) {
      assert.throws(() => parseAllow(text), (e: unknown) => e instanceof InvalidArgumentError && why.test(e.message), text);
    }
  });

  void test('the help says how VLANs are granted', () => {
    assert.match(WATCH_HELP, /--allow <hostif>\[@<vlan>\[,<vlan>…\]\]/u);
    assert.match(WATCH_HELP, /untagged only/u);
  });
});

void describe('a label\'s VLAN, judged against --allow', () => {
  const host = hostLookup([bridge('br1'), nic('eth1'), nic('ovs-a')], ovsFacts({ bridges: ['ovs-a'] }));
  const judge = (allow: string, value: string): string | undefined => {
    const policy = policyOf(watchOpts(['--allow', allow]));
    const request = labelRequest(container(), 'pipework.eth1', value);
    return refuseRequest(request, policy) ?? refuseSpec(resolveClassic(request, host, { kind: 'watch' }), policy);
  };

  void test('a granted VLAN passes; another VLAN, or none where only VLANs are granted, is refused naming what is served', () => {
    assert.equal(judge('ovs-a@10', 'ovs-a 10.0.0.5/24 @10'), undefined);
    assert.match(judge('ovs-a@10', 'ovs-a 10.0.0.5/24 @20')!, /VLAN 20 on ovs-a is not served: ovs-a serves VLAN 10 only \(--allow ovs-a@20 would grant it\)/u);
    assert.match(judge('ovs-a@10', 'ovs-a 10.0.0.5/24')!, /ovs-a is served on VLAN 10 only, and the label names no VLAN/u);
    assert.equal(judge('ovs-a@10,20', 'ovs-a 10.0.0.5/24 U:web@20'), undefined);
  });

  void test('without @ a host interface is served untagged only: any VLAN is refused', () => {
    assert.equal(judge('br1', 'br1 10.0.0.5/24'), undefined);
    assert.match(judge('br1', 'br1 10.0.0.5/24 @10')!, /VLAN 10 on br1 is not served: br1 serves untagged traffic only \(--allow br1@10 would grant it\)/u);
    assert.match(judge('eth1', 'eth1 10.0.0.5/24 @30')!, /VLAN 30 on eth1 is not served/u);
  });

  void test('untagged and VLANs both granted', () => {
    assert.equal(judge('ovs-a,ovs-a@10', 'ovs-a 10.0.0.5/24'), undefined);
    assert.equal(judge('ovs-a,ovs-a@10', 'ovs-a 10.0.0.5/24 @10'), undefined);
  });

  void test('a pipework_cmd variable is judged the same way', () => {
    const policy = policyOf(watchOpts(['--allow', 'ovs-a@10']));
    assert.match(refuseRequest(envRequest(container(), 'ovs-a @CONTAINER_NAME@ 10.0.0.5/24 @20'), policy)!, /VLAN 20/u);
  });

  void test('an IPoIB partition from a label is never served (a partition is not a VLAN the allowlist can grant)', () => {
    const ibHost = hostLookup([{ name: 'ib0', isBridge: false, type: 32, mtu: 2044, up: true, mac: '80:00', ports: [] }]);
    const policy = policyOf(watchOpts(['--allow', 'ib0']));
    const request = labelRequest(container(), 'pipework.ib0', 'ib0 10.0.0.5/24 @8001');
    // Before the host is looked at, @8001 is not a VLAN id at all (it is a partition key): refused either way.
    const why = refuseRequest(request, policy) ?? refuseSpec(resolveClassic(request, ibHost, { kind: 'watch' }), policy);
    assert.match(why!, /8001/u);
  });
});

void describe('--dhcp-image: the operator\'s choice, never a label\'s', () => {
  void test('refused in a label and in a pipework_cmd variable, in both spellings', () => {
    for (const value of ['--dhcp-image evil br1 dhcp', '--dhcp-image=evil br1 dhcp', 'br1 --dhcp-image evil dhcp']) {
      assert.throws(() => labelRequest(container(), 'pipework.eth1', value),
        (e: unknown) => e instanceof UsageError && /--dhcp-image is not accepted from a container: the helper image is the operator's choice \(pipework watch --dhcp-image\)/u.test(e.message), value);
    }
    assert.throws(() => envRequest(container(), 'br1 --dhcp-image=evil @CONTAINER_NAME@ dhcp'), /--dhcp-image is not accepted from a container/u);
  });

  void test('readAsks reports it as the label\'s problem (one logged line), the container is left alone', () => {
    const r = readAsks(container({ labels: { 'pipework.eth1': '--dhcp-image evil br1 dhcp' } }), false);
    assert.equal(r.asks.length, 0);
    assert.deepEqual(r.problems.map((p) => p.source), ['label pipework.eth1']);
  });

  void test('the watcher has its own --dhcp-image, checked like the command line\'s', () => {
    assert.equal(watchOpts(['--dhcp-image', 'registry.example/busybox:1.36']).dhcpImage, 'registry.example/busybox:1.36');
    assert.equal(watchOpts(['--dhcp-image=busybox']).dhcpImage, 'busybox');
    assert.equal(watchOpts([]).dhcpImage, undefined);
    assert.throws(() => parseWatchArgs(['watch', '--dhcp-image', 'Bad Image']), InvalidArgumentError);
    assert.throws(() => parseWatchArgs(['watch', '--dhcp-image', 'a', '--dhcp-image', 'b']), UsageError);
    assert.match(WATCH_HELP, /--dhcp-image <image>/u);
  });
});

void describe('the watcher\'s translator: what a label\'s spec may do', () => {
  const host = hostLookup([bridge('br1'), nic('ovs-a')], ovsFacts({ bridges: ['ovs-a'] }));
  const specOf = (value: string) => resolveClassic(labelRequest(container(), 'pipework.eth1', value), host, { kind: 'watch' });

  void test('an operator\'s bridge keeps its settings', () => {
    const s = narrowSpec(specOf('br1 10.0.0.5/24'), {});
    assert.equal(s.host.kind === 'bridge' && s.host.keepSettings, true);
    const o = narrowSpec(specOf('ovs-a 10.0.0.5/24 @10'), {});
    assert.equal(o.host.kind, 'ovs');
  });

  void test('the dhcp method\'s helper image is the watcher\'s (or the default), whatever the spec said', () => {
    const plain = specOf('br1 dhcp');
    const forged = { ...plain, addressing: { ...plain.addressing, image: 'evil' } } as typeof plain;
    const a = narrowSpec(forged, {});
    assert.equal(a.addressing.kind === 'dhcp' && a.addressing.image, undefined);
    const b = narrowSpec(forged, { dhcpImage: 'registry.example/busybox:1.36' });
    assert.equal(b.addressing.kind === 'dhcp' && b.addressing.image, 'registry.example/busybox:1.36');
    // Another method has no helper image.
    const c = narrowSpec(specOf('br1 udhcpc'), { dhcpImage: 'x' });
    assert.equal(c.addressing.kind === 'dhcp' && c.addressing.image, undefined);
  });
});

void describe('a bridge whose settings are kept (the watcher\'s)', () => {
  const input = (filtering: 'on' | 'off' | 'unsupported', links = [bridge('br0')]) => {
    const ctx = attachContext(['br0', 'docker:web', '10.0.0.2/24', '@10'], { name: 'web', links, bridgeVlanFiltering: { br0: filtering }, owner: { kind: 'watch' } });
    return { ...ctx, spec: narrowSpec(ctx.spec, {}) };
  };

  void test('VLAN filtering off: refused, saying the operator must turn it on — never a step that turns it on', () => {
    assert.throws(() => planAttach(input('off')), (e: unknown) => e instanceof ConflictError
      && /bridge br0 has VLAN filtering off, and a container's label does not change an operator's bridge: turn it on \(ip link set dev br0 type bridge vlan_filtering 1\) to serve VLAN 10/u.test(e.message));
  });

  void test('VLAN filtering on: the port joins the VLAN as usual', () => {
    const p = planAttach(input('on'));
    assert.ok(!p.steps.some((s) => s.action.kind === 'ip' && s.action.args.includes('vlan_filtering')));
    assert.ok(p.steps.some((s) => s.action.kind === 'exec' && s.action.argv.join(' ').startsWith('bridge vlan add')));
  });

  void test('a bridge the label\'s run makes itself is pipework\'s: made with filtering', () => {
    const p = planAttach(input('off', []));
    assert.ok(p.steps[0]!.action.kind === 'ip' && p.steps[0]!.action.args.join(' ') === 'link add name br0 type bridge vlan_filtering 1');
  });

  void test('without keepSettings (the command line) the classic behaviour stays: filtering is turned on', () => {
    const ctx = attachContext(['br0', 'web', '10.0.0.2/24', '@10'], { name: 'web', links: [bridge('br0')], bridgeVlanFiltering: { br0: 'off' } });
    assert.ok(planAttach(ctx).steps.some((s) => s.action.kind === 'ip' && s.action.args.join(' ') === 'link set dev br0 type bridge vlan_filtering 1'));
  });
});
