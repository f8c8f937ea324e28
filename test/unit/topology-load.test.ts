// Topology files: YAML → validated model; every kind of bad file refused with line and column.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Value } from '@sinclair/typebox/value';
import { parseTopology } from '../../src/front/topology/parse.js';
import { TopologyFileError } from '../../src/front/topology/problems.js';
import { fileProblems } from './topology-problems.js';
import { jsonSchema, TopologySchema } from '../../src/front/topology/schema.js';

const FILE = 'lab.yaml';

/** The problem lines of a bad file (fails the test if the file is accepted). */
const problems = (text: string): string[] => fileProblems(text, FILE);

/** A file with exactly one problem: that line. */
function one(text: string): string {
  const lines = problems(text);
  assert.equal(lines.length, 1, lines.join('\n'));
  return lines[0]!;
}

const BASE = `name: lab
networks:
  front: {bridge: br-front, subnet: 10.10.0.0/24}
  back:  {ovs: ovs-back, vlan: 10}
guests:
  web: {netns: lab-web}
  db:  {container: docker:db1}
  cache: {image: lab-busybox, command: [sleep, infinity], runtime: podman}
`;

void describe('topology files: the model', () => {
  void test('the example of SPEC part D parses into networks, guests and links', () => {
    const t = parseTopology(`name: demo
networks:
  front: {bridge: br-front}
  back:  {ovs: ovs-back, vlan: 10}
  lan:   {macvlan: eth0, vlan: 20}
  up:    {bridge: br0, external: true}
guests:
  web:   {netns: demo-web}
  db:    {container: db1}
  cache: {image: demo-busybox, command: [sleep, infinity]}
links:
  - web:eth1 front 10.10.0.2/24@10.10.0.1
  - db front 10.10.0.3/24
  - guest: cache
    interface: eth2
    network: back
    address: [10.20.0.4/24, "fd00:20::4/64"]
    gateway: 10.20.0.1
    mac: "U:cache"
    vlan: 10
    mtu: 1400
    impair: {delay: 20ms, jitter: 5ms, loss: 1%, rate: 10mbit}
  - {guest: web, interface: eth2, network: back, dhcp: udhcpc-f}
`, FILE);
    assert.equal(t.name, 'demo');
    assert.deepEqual([...t.networks.values()].map((n) => [n.key, n.kind, n.device, n.vlan, n.external]), [
      ['front', 'bridge', 'br-front', undefined, false], ['back', 'ovs', 'ovs-back', 10, false],
      ['lan', 'macvlan', 'eth0', 20, false], ['up', 'bridge', 'br0', undefined, true],
    ]);
    const cache = t.guests.get('cache');
    assert.deepEqual(cache?.kind === 'image' && [cache.image, cache.command, cache.runtime, cache.container], ['demo-busybox', ['sleep', 'infinity'], 'docker', 'demo-cache']);
    assert.deepEqual(t.guests.get('db')?.kind === 'container' && t.guests.get('db'), { key: 'db', kind: 'container', ref: { kind: 'any', name: 'db1' }, text: 'db1', at: { line: 9, col: 22 } });
    const [a, b, c, d] = t.links;
    assert.deepEqual([a?.guest, a?.ifname, a?.network, a?.addressing.kind === 'static' && a.addressing.gateway4], ['web', 'eth1', 'front', '10.10.0.1']);
    assert.equal(b?.ifname, 'eth1');
    assert.deepEqual(c?.addressing.kind === 'static' && c.addressing.addresses.map((x) => x.cidr), ['10.20.0.4/24', 'fd00:20::4/64']);
    assert.deepEqual([c?.mac, c?.vlan, c?.mtu, c?.impair], ['02:9a:7d:3a:1c:22'.replace(/.*/u, c!.mac!), 10, 1400, { delayMs: 20, jitterMs: 5, lossPercent: 1, rateBps: 10_000_000 }]);
    assert.match(c!.mac!, /^02(:[0-9a-f]{2}){5}$/u);
    assert.deepEqual(d?.addressing, { kind: 'dhcp', method: 'udhcpc-f', options: [] });
    // A link takes its network's VLAN unless it has its own.
    assert.equal(d?.vlan, 10);
  });

  void test('the brief form reads like a classic line: MAC, @vlan, 0/0, DHCP with options, auto@gateway', () => {
    const t = parseTopology(`${BASE}links:
  - web:eth3 front 0/0 02:42:ac:11:00:02@12
  - db back dhclient:-v
  - cache front auto@10.10.0.1
`, FILE);
    const [a, b, c] = t.links;
    assert.deepEqual([a?.mac, a?.vlan, a?.addressing], ['02:42:ac:11:00:02', 12, { kind: 'static', addresses: [], auto: false }]);
    assert.deepEqual(b?.addressing, { kind: 'dhcp', method: 'dhclient', options: ['-v'] });
    assert.deepEqual(c?.addressing, { kind: 'static', addresses: [], auto: true, gateway4: '10.10.0.1' });
  });

  void test('JSON is YAML too', () => {
    const t = parseTopology('{"name": "j", "networks": {"n": {"bridge": "br-j"}}, "guests": {"g": {"netns": "j-g"}}, "links": ["g n 10.0.0.1/24"]}', 'j.json');
    assert.equal(t.links.length, 1);
  });

  void test('a file with only a name is a topology of nothing', () => {
    const t = parseTopology('name: empty\n', FILE);
    assert.equal(t.links.length + t.networks.size + t.guests.size, 0);
  });

  void test('the examples parse', () => {
    const dir = join(import.meta.dirname, '../../../examples/topology');
    const files = readdirSync(dir).filter((f) => f.endsWith('.yaml'));
    assert.ok(files.length >= 3);
    for (const f of files) assert.ok(parseTopology(readFileSync(join(dir, f), 'utf8'), f).links.length > 0, f);
  });
});

void describe('topology files: every problem, with its line and column', () => {
  void test('YAML syntax and duplicate keys', () => {
    for (const l of problems('name: x\nnetworks: {a: [\n')) assert.match(l, /^lab\.yaml:\d+:\d+: /u);
    assert.match(one('name: x\nname: y\n'), /^lab\.yaml:2:1: .*unique/u);
  });

  void test('unknown keys, at the key, naming the allowed ones', () => {
    assert.equal(one('name: x\ncolour: red\n'), "lab.yaml:2:1: colour: unknown key 'colour' (expected version, name, hosts, networks, guests, links)");
    assert.equal(one(`${BASE}links:\n  - {guest: web, network: front, address: 10.10.0.2/24, tag: 3}\n`),
      "lab.yaml:10:57: links[0].tag: unknown key 'tag' (expected guest, interface, network, address, dhcp, gateway, gateway6, mac, vlan, mtu, impair)");
    assert.match(one('name: x\nnetworks:\n  a: {bridge: br-a, color: red}\n'), /^lab\.yaml:3:21: networks\.a\.color: unknown key 'color' \(expected bridge, ovs, macvlan/u);
    assert.match(one('name: x\nguests:\n  a: {netns: n, pid: 3}\n'), /^lab\.yaml:3:17: guests\.a\.pid: unknown key 'pid'/u);
    assert.match(one(`${BASE}links:\n  - {guest: web, network: front, address: 10.10.0.2/24, impair: {drop: 1}}\n`), /links\[0\]\.impair\.drop: unknown key 'drop'/u);
  });

  void test('a missing name, a bad name, a bad network or guest key', () => {
    assert.equal(one('networks: {}\n'), "lab.yaml:1:1: missing key 'name'");
    assert.match(one('name: Lab_1\n'), /^lab\.yaml:1:7: name: expected 1 to 16 lower-case/u);
    assert.match(one('name: x\nnetworks:\n  "a b": {bridge: br-a}\n'), /^lab\.yaml:3:3: networks\.a b: invalid network name 'a b'/u);
  });

  void test('a network or guest must be exactly one kind', () => {
    assert.equal(one('name: x\nnetworks:\n  a: {vlan: 3}\n'), 'lab.yaml:3:3: networks.a: a network needs one of bridge:, ovs: or macvlan:');
    assert.equal(one('name: x\nnetworks:\n  a: {bridge: b, ovs: o}\n'), 'lab.yaml:3:3: networks.a: a network is one host side: give only one of bridge:, ovs:');
    assert.equal(one('name: x\nguests:\n  a: {netns: n, image: busybox}\n'), 'lab.yaml:3:3: guests.a: a guest is one thing: give only one of netns:, image:');
    assert.match(one('name: x\nguests:\n  a: {netns: n, command: [x]}\n'), /^lab\.yaml:3:17: guests\.a\.command: command: goes with image:/u);
  });

  void test('bad names, addresses, MACs, VLANs, MTUs, subnets, images, rates', () => {
    assert.match(one('name: x\nnetworks:\n  a: {bridge: a-very-long-bridge-name}\n'), /^lab\.yaml:3:15: networks\.a\.bridge: invalid bridge name .*longer than 15/u);
    assert.match(one('name: x\nnetworks:\n  a: {bridge: br-a, vlan: 4095}\n'), /^lab\.yaml:3:27: networks\.a\.vlan: expected a VLAN id from 1 to 4094/u);
    assert.match(one('name: x\nnetworks:\n  a: {bridge: br-a, mtu: 20}\n'), /networks\.a\.mtu: expected an MTU/u);
    assert.match(one('name: x\nnetworks:\n  a: {bridge: br-a, subnet: 10.0.0.5/24}\n'), /^lab\.yaml:3:29: networks\.a\.subnet: .*host bits set: did you mean 10\.0\.0\.0\/24/u);
    assert.match(one('name: x\nguests:\n  a: {image: "Busy Box"}\n'), /guests\.a\.image: invalid image/u);
    assert.match(one('name: x\nguests:\n  a: {netns: "../etc"}\n'), /guests\.a\.netns: invalid network namespace name/u);
    assert.match(one('name: x\nguests:\n  a: {container: "pid:abc"}\n'), /guests\.a\.container: invalid PID/u);
    assert.match(one(`${BASE}links:\n  - web front 10.10.0.300/24\n`), /^lab\.yaml:10:15: links\[0\]: invalid IP address '10\.10\.0\.300'/u);
    assert.match(one(`${BASE}links:\n  - web front 10.10.0.3\n`), /^lab\.yaml:10:15: links\[0\]: .*should include a netmask/u);
    assert.match(one(`${BASE}links:\n  - web front 10.10.0.3/24 zz:00\n`), /^lab\.yaml:10:28: links\[0\]: invalid MAC address 'zz:00'/u);
    assert.match(one(`${BASE}links:\n  - web front 10.10.0.3/24 @5000\n`), /^lab\.yaml:10:28: links\[0\]: invalid VLAN id '5000'/u);
    assert.match(one(`${BASE}links:\n  - web:eth1/x front 10.10.0.3/24\n`), /^lab\.yaml:10:9: links\[0\]: invalid interface name 'eth1\/x'/u);
    assert.match(one(`${BASE}links:\n  - web front udhcpd\n`), /links\[0\]: 'udhcpd' is neither an address .* nor a DHCP method/u);
    assert.match(one(`${BASE}links:\n  - {guest: web, network: front, address: 10.10.0.2/24, mac: "U:"}\n`), /links\[0\]\.mac: invalid MAC 'U:'/u);
    assert.match(one(`${BASE}links:\n  - {guest: web, network: front, address: 10.10.0.2/24, impair: {rate: 10}}\n`), /links\[0\]\.impair\.rate: expected a rate like 10mbit/u);
    assert.match(one(`${BASE}links:\n  - {guest: web, network: front, address: 10.10.0.2/24, impair: {rate: 10 apples}}\n`), /links\[0\]\.impair\.rate: invalid rate '10 apples'/u);
    assert.match(one(`${BASE}links:\n  - {guest: web, network: front, address: 10.10.0.2/24, impair: {delay: soon}}\n`), /links\[0\]\.impair\.delay: invalid delay 'soon'/u);
    assert.match(one(`${BASE}links:\n  - {guest: web, network: front, address: 10.10.0.2/24, impair: {loss: 120%}}\n`), /links\[0\]\.impair\.loss: invalid loss/u);
    assert.match(one(`${BASE}links:\n  - {guest: web, network: front, address: 10.10.0.2/24, gateway: "fd00::1"}\n`), /links\[0\]\.gateway: fd00::1 is IPv6: gateway: is for IPv4 \(gateway6: for IPv6\)/u);
    assert.match(one(`${BASE}links:\n  - {guest: web, network: front, dhcp: udhcpc, gateway: 10.10.0.1}\n`), /links\[0\]\.gateway: gateway: goes with a static address/u);
    assert.match(one(`${BASE}links:\n  - {guest: web, network: front}\n`), /links\[0\]: a link needs address:/u);
    assert.match(one(`${BASE}links:\n  - {guest: web, network: front, address: 10.10.0.2/24, dhcp: udhcpc}\n`), /links\[0\]\.dhcp: give address: or dhcp:, not both/u);
    assert.match(one(`${BASE}links:\n  - web back auto\n`), /links\[0\]: address auto needs a subnet: on network back/u);
    assert.match(one(`${BASE}links:\n  - 42\n`), /^lab\.yaml:10:5: links\[0\]: expected a link/u);
    assert.match(one(`${BASE}links:\n  - web front\n`), /links\[0\]: expected "<guest>\[:<ifname>\] <network>.* got 2 words/u);
  });

  void test('undefined networks and guests, naming the ones there are', () => {
    assert.equal(one(`${BASE}links:\n  - nobody front 10.10.0.2/24\n`), "lab.yaml:10:5: links[0]: no guest 'nobody' in guests: (there are web, db, cache)");
    assert.equal(one(`${BASE}links:\n  - web:eth2 side 10.10.0.2/24\n`), "lab.yaml:10:14: links[0]: no network 'side' in networks: (there are front, back)");
    assert.equal(one(`${BASE}links:\n  - {guest: web, network: nowhere, address: 10.10.0.2/24}\n`), "lab.yaml:10:27: links[0].network: no network 'nowhere' in networks: (there are front, back)");
  });

  void test('two links on one guest interface; a duplicate address or MAC in one network', () => {
    assert.equal(one(`${BASE}links:\n  - web front 10.10.0.2/24\n  - {guest: web, interface: eth1, network: back, address: 10.20.0.2/24}\n`),
      'lab.yaml:11:5: links[1]: web:eth1 is already linked by links[0] (line 10): one link per guest interface');
    assert.equal(one(`${BASE}links:\n  - web front 10.10.0.2/24\n  - db front 10.10.0.2/24\n`),
      'lab.yaml:11:5: links[1]: address 10.10.0.2 is also given to web:eth1 (links[0], line 10) in network front');
    assert.match(one(`${BASE}links:\n  - web front 10.10.0.2/24 02:00:00:00:00:01\n  - db front 10.10.0.3/24 02:00:00:00:00:01\n`), /links\[1\]: MAC 02:00:00:00:00:01 is also given to web:eth1/u);
    // The same address on two VLANs of one OVS bridge is two segments: fine.
    parseTopology(`${BASE}links:\n  - web back 10.20.0.2/24\n  - db back 10.20.0.2/24 @11\n`, FILE);
  });

  void test('every problem of a file at once, in file order, and nothing else', () => {
    const lines = problems(`name: Bad
networks:
  a: {bridge: br-a, vlan: 0}
guests:
  g: {netns: g1, runtime: docker}
links:
  - g a 10.0.0.1/24
  - h a 10.0.0.2/24
`);
    assert.deepEqual(lines.map((l) => l.split(': ')[0]), ['lab.yaml:1:7', 'lab.yaml:3:27', 'lab.yaml:5:18', 'lab.yaml:8:5']);
  });

  void test('the error names the count; each line is FILE:LINE:COL: path: message', () => {
    try {
      parseTopology('name: x\nfoo: 1\nbar: 2\n', FILE);
      assert.fail('accepted');
    } catch (err) {
      assert.ok(err instanceof TopologyFileError);
      assert.equal(err.message, 'lab.yaml: 2 problems; nothing was changed');
      assert.equal(err.reason, 'invalid-argument');
      for (const l of err.lines()) assert.match(l, /^lab\.yaml:\d+:\d+: [a-z]+: /u);
    }
  });
});

void describe('topology files: the JSON Schema', () => {
  void test('pipework schema is draft-07 JSON Schema with our keys, and refuses unknown ones', () => {
    const s = jsonSchema();
    assert.equal(s['$schema'], 'http://json-schema.org/draft-07/schema#');
    assert.deepEqual(Object.keys(s['properties'] as object), ['version', 'name', 'hosts', 'networks', 'guests', 'links']);
    assert.equal(s['additionalProperties'], false);
    assert.ok(!JSON.stringify(s).includes('errorMessage'));
  });

  void test('the schema that is printed is the one that validates', () => {
    assert.ok(Value.Check(TopologySchema, { name: 'ok', links: ['a b 10.0.0.1/24'] }));
    assert.ok(!Value.Check(TopologySchema, { name: 'ok', extra: 1 }));
    const printed = jsonSchema();
    // The same, but for our messages, and with the editors' keywords (editor()) in their nodes.
    const merged = JSON.parse(JSON.stringify(TopologySchema.properties, (k, v: unknown) => {
      if (k === 'errorMessage') return undefined;
      if (v === null || typeof v !== 'object' || Array.isArray(v) || !('editor' in v)) return v;
      const { editor, ...rest } = v as { editor: object };
      return { ...rest, ...editor };
    })) as unknown;
    assert.deepEqual(printed['properties'], merged);
    assert.ok(!JSON.stringify(printed).includes('"editor"'));
  });
});
