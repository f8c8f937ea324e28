// VXLAN overlays in topology files (issue 15), pure: hosts:/vxlan:/host: parsed and refused with
// positions, which host this is, a host's part (peers, MTU arithmetic), and the plan of a VXLAN
// device (made, repaired, a peer added or removed).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { planVxlan, vxlanDeviceName, vxlanMtu, type VxlanDevice } from '../../src/drivers/network/vxlan.js';
import { parseFloods, parseVxlanLinks, type LiveVxlan } from '../../src/host/vxlan-facts.js';
import { chooseHost, hostPart, parseIfaces, type Iface } from '../../src/front/topology/hosts.js';
import { parseTopology } from '../../src/front/topology/parse.js';
import { fileProblems } from './topology-problems.js';
import { jsonSchema } from '../../src/front/topology/schema.js';

const FILE = 'ov.yaml';

const problems = (text: string): string[] => fileProblems(text, FILE);

const TWO = `name: ov
hosts:
  h1: {underlay: 192.0.2.1}
  h2: {underlay: 192.0.2.2}
networks:
  ov: {bridge: br-ov, vxlan: {vni: 42}}
  ov6: {bridge: br-ov6, vxlan: {vni: 43, port: 8472}, mtu: 1400}
guests:
  a: {netns: ov-a, host: h1}
  b: {netns: ov-b, host: h2}
links:
  - a:eth1 ov 10.30.0.1/24
  - b:eth1 ov 10.30.0.2/24
  - b:eth2 ov6 10.31.0.2/24
`;

const H1: Iface[] = [{ name: 'lo', mtu: 65536, addresses: ['127.0.0.1'] }, { name: 'eth0', mtu: 1500, addresses: ['192.0.2.1'] }];

void describe('topology: VXLAN overlays', () => {
  void test('hosts:, vxlan: (port 4789 by default) and host: parse', () => {
    const t = parseTopology(TWO, FILE);
    assert.deepEqual([...t.hosts!.values()].map((h) => [h.key, h.underlay, h.family]), [['h1', '192.0.2.1', 4], ['h2', '192.0.2.2', 4]]);
    assert.equal(t.networks.get('ov')!.vxlan!.port, 4789);
    assert.equal(t.networks.get('ov6')!.vxlan!.port, 8472);
    assert.equal(t.guests.get('a')!.host, 'h1');
    const schema = JSON.stringify(jsonSchema());
    assert.match(schema, /"vni"/u);
    assert.match(schema, /"underlay"/u);
  });

  void test('bad input, each with its place: VNI range, a VNI twice, unknown host, vxlan without hosts, bad underlay', () => {
    assert.match(problems(TWO.replace('vni: 42', 'vni: 0')).join('\n'), /^ov\.yaml:6:\d+: networks\.ov\.vxlan\.vni: expected a VNI from 1 to 16777215$/mu);
    assert.match(problems(TWO.replace('vni: 42', 'vni: 16777216')).join('\n'), /networks\.ov\.vxlan\.vni: expected a VNI from 1 to 16777215/u);
    assert.match(problems(TWO.replace('vni: 43', 'vni: 42')).join('\n'), /^ov\.yaml:7:\d+: networks\.ov6\.vxlan\.vni: VNI 42 is also network ov's/mu);
    assert.match(problems(TWO.replace('host: h2', 'host: h9')).join('\n'), /^ov\.yaml:10:\d+: guests\.b\.host: unknown host 'h9' \(there are h1, h2\)$/mu);
    const noHosts = TWO.replace(/hosts:\n( {2}h.*\n)+/u, '').replace(/, host: h\d/gu, '');
    assert.match(problems(noHosts).join('\n'), /networks\.ov\.vxlan: vxlan: spans hosts: give hosts: at the top/u);
    assert.match(problems(TWO.replace('192.0.2.2', '192.0.2.300')).join('\n'), /hosts\.h2\.underlay: invalid underlay address '192\.0\.2\.300'/u);
    assert.match(problems(TWO.replace('192.0.2.2', '192.0.2.1')).join('\n'), /hosts\.h2\.underlay: 192\.0\.2\.1 is also host h1's underlay address/u);
    assert.match(problems(TWO.replace(', host: h2', '')).join('\n'), /guests\.b: the file has hosts:, so every guest says which one it lives on/u);
    assert.match(problems(TWO.replace('{vni: 42}', '{vni: 42, group: 239.1.1.1}')).join('\n'), /networks\.ov\.vxlan\.group: group: needs dev:/u);
    assert.match(problems(TWO.replace('{vni: 42}', '{vni: 42, group: 10.0.0.1, dev: eth0}')).join('\n'), /invalid group '10\.0\.0\.1': expected a multicast address/u);
    assert.match(problems(TWO.replace('{vni: 42}', '{vni: 42, ttl: 3}')).join('\n'), /networks\.ov\.vxlan\.ttl: unknown key 'ttl' \(expected vni, port, dev, group\)/u);
    assert.match(problems(TWO.replace('ov: {bridge: br-ov,', 'ov: {ovs: ovs-ov,')).join('\n'), /networks\.ov\.vxlan: vxlan: goes with bridge:/u);
  });

  void test('which host this is: by --host, or by the underlay address on an interface here', () => {
    const t = parseTopology(TWO, FILE);
    assert.deepEqual(chooseHost(t, undefined, H1, true), { host: 'h1', problems: [] });
    assert.deepEqual(chooseHost(t, 'h1', H1, true), { host: 'h1', problems: [] });
    const wrong = chooseHost(t, 'h2', H1, true);
    assert.equal(wrong.problems.length, 1);
    assert.match(wrong.problems[0]!.message, /192\.0\.2\.2 is on no interface of this host, which --host says is h2/u);
    assert.equal(wrong.problems[0]!.path, 'hosts.h2.underlay');
    // destroy (not strict) takes the part the file names.
    assert.deepEqual(chooseHost(t, 'h2', H1, false), { host: 'h2', problems: [] });
    const none = chooseHost(t, undefined, [{ name: 'eth0', mtu: 1500, addresses: ['198.51.100.7'] }], true);
    assert.match(none.problems[0]!.message, /no host's underlay address \(h1 192\.0\.2\.1, h2 192\.0\.2\.2\) is on an interface of this host: add one, or give --host NAME/u);
    assert.throws(() => chooseHost(t, 'h7', H1, true), /has no such host/u);
  });

  void test('a host\'s part: its guests and links, peers from the other hosts, the underlay\'s MTU less 50', () => {
    const t = parseTopology(TWO, FILE);
    const { part, problems: p } = hostPart(t, 'h1', H1);
    assert.deepEqual(p, []);
    assert.equal(part.name, 'ov@h1');
    assert.deepEqual([...part.guests.keys()], ['a']);
    assert.deepEqual(part.links.map((l) => [l.guest, l.mtu]), [['a', 1450]]);
    assert.deepEqual(part.part!.vxlans.map((d) => [d.name, d.vni, d.port, d.local, d.bridge, d.mtu, d.peers]), [
      ['pwx42', 42, 4789, '192.0.2.1', 'br-ov', 1450, [{ host: 'h2', address: '192.0.2.2' }]],
      ['pwx43', 43, 8472, '192.0.2.1', 'br-ov6', 1400, [{ host: 'h2', address: '192.0.2.2' }]],
    ]);
    // The network's MTU must fit: 1500 - 50.
    const big = hostPart(parseTopology(TWO.replace('mtu: 1400', 'mtu: 1451'), FILE), 'h1', H1);
    assert.match(big.problems[0]!.message, /MTU 1451 does not fit: the underlay eth0 has MTU 1500, less 50 for VXLAN over IPv4: at most 1450/u);
    assert.equal(big.problems[0]!.path, 'networks.ov6.mtu');
  });

  void test('MTU arithmetic: 50 over IPv4, 70 over IPv6; an IPv6 underlay host', () => {
    assert.equal(vxlanMtu(1500, 4), 1450);
    assert.equal(vxlanMtu(1500, 6), 1430);
    assert.equal(vxlanMtu(9000, 4), 8950);
    const six = TWO.replace('192.0.2.1', '2001:db8::1').replace('192.0.2.2', '2001:db8::2');
    const { part } = hostPart(parseTopology(six, FILE), 'h2', [{ name: 'ul', mtu: 1500, addresses: ['2001:db8::2'] }]);
    assert.deepEqual(part.links.map((l) => [l.ifname, l.mtu]), [['eth1', 1430], ['eth2', 1400]]);
    assert.deepEqual(part.part!.vxlans[0]!.peers, [{ host: 'h1', address: '2001:db8::1' }]);
  });

  void test('a link with an MTU too big for its VXLAN network is refused', () => {
    const t = parseTopology(TWO.replace('  - a:eth1 ov 10.30.0.1/24', '  - {guest: a, network: ov, address: 10.30.0.1/24, mtu: 1500}'), FILE);
    const { problems: p } = hostPart(t, 'h1', H1);
    assert.equal(p[0]!.path, 'links[0].mtu');
    assert.match(p[0]!.message, /MTU 1500 does not fit network ov/u);
  });

  void test('the device plan: made with no learning and one flood entry per peer; a peer added; one gone', () => {
    const d: VxlanDevice = { network: 'ov', name: vxlanDeviceName(42), vni: 42, port: 4789, local: '192.0.2.1', bridge: 'br-ov', mtu: 1450, peers: [{ host: 'h2', address: '192.0.2.2' }, { host: 'h3', address: '192.0.2.3' }] };
    const mark = 'pipework-topology:ov@h1';
    const made = planVxlan(d, undefined, mark);
    const argv = made.steps.map((s) => (s.action.kind === 'ip' ? ['ip', ...s.action.args] : s.action.kind === 'exec' ? s.action.argv : [s.action.key]).join(' '));
    assert.deepEqual(argv, [
      'ip link add name pwx42 mtu 1450 type vxlan id 42 dstport 4789 local 192.0.2.1 nolearning',
      `ip link set dev pwx42 alias ${mark}`,
      'ip link set dev pwx42 master br-ov up',
      'bridge fdb append 00:00:00:00:00:00 dev pwx42 dst 192.0.2.2',
      'bridge fdb append 00:00:00:00:00:00 dev pwx42 dst 192.0.2.3',
    ]);
    const live: LiveVxlan = { name: 'pwx42', vni: 42, port: 4789, local: '192.0.2.1', alias: mark, master: 'br-ov', mtu: 1450, up: true, floods: ['192.0.2.2', '192.0.2.9'] };
    const diff = planVxlan(d, live, mark);
    assert.deepEqual(diff.changes, ['added peer h3 (192.0.2.3) to pwx42', 'removed peer 192.0.2.9 from pwx42']);
    assert.deepEqual(planVxlan(d, { ...live, floods: ['192.0.2.2', '192.0.2.3'] }, mark).steps, [], 'as the file says: nothing to do');
    const moved = planVxlan(d, { ...live, floods: ['192.0.2.2', '192.0.2.3'], vni: 7 }, mark);
    assert.match(moved.changes[0]!, /replaced VXLAN device pwx42 \(VNI 7 instead of 42\)/u);
    const group = planVxlan({ ...d, group: '239.1.1.1', dev: 'eth0', peers: [] }, undefined, mark);
    assert.deepEqual(group.steps[0]!.action.kind === 'ip' && group.steps[0]!.action.args.slice(-5), ['group', '239.1.1.1', 'dev', 'eth0', 'nolearning']);
    assert.equal(group.steps.length, 3, 'a group needs no flood entries');
  });

  void test('live state parsers: ip -json -d link, bridge -json fdb, ip -json addr', () => {
    const links = parseVxlanLinks([
      { ifname: 'pwx42', mtu: 1450, flags: ['BROADCAST', 'UP'], master: 'br-ov', ifalias: 'x', linkinfo: { info_kind: 'vxlan', info_data: { id: 42, port: 4789, local: '192.0.2.1' } } },
      { ifname: 'br-ov', mtu: 1450, linkinfo: { info_kind: 'bridge' } },
    ]);
    assert.deepEqual(links, [{ name: 'pwx42', mtu: 1450, up: true, floods: [], vni: 42, port: 4789, local: '192.0.2.1', alias: 'x', master: 'br-ov' }]);
    assert.deepEqual(parseFloods([{ mac: '00:00:00:00:00:00', dst: '192.0.2.2' }, { mac: '02:00:00:00:00:01', dst: '192.0.2.3' }, { mac: '00:00:00:00:00:00' }]), ['192.0.2.2']);
    assert.deepEqual(parseIfaces([{ ifname: 'eth0', mtu: 1500, addr_info: [{ local: '192.0.2.1' }, { local: 'FE80::1' }] }]), [{ name: 'eth0', mtu: 1500, addresses: ['192.0.2.1', 'fe80::1'] }]);
  });
});
