// Topology links → attach specs; address auto; the small value grammars; the graphs (pure).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseAddressSpec } from '../../src/model/address.js';
import { InvalidArgumentError } from '../../src/model/errors.js';
import { TopologyFileError } from '../../src/front/topology/problems.js';
import type { AttachRecord } from '../../src/model/record.js';
import { dot, graphState, html, mermaid } from '../../src/front/topology/graph.js';
import type { InspectReport } from '../../src/front/topology/inspect.js';
import { parseArgs } from '../../src/front/topology/cli.js';
import { parseTopology } from '../../src/front/topology/parse.js';
import { assignAuto, specOf } from '../../src/front/topology/specs.js';
import { freeAddresses, nextFree, parseDuration, parsePercent, parseRate, parseSubnet, splitBrief } from '../../src/front/topology/values.js';

/** `fn` throws an instance of `cls` whose message has every fragment. */
function assertThrows(fn: () => unknown, cls: abstract new (...args: never[]) => Error, ...fragments: string[]): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof cls, `expected ${cls.name}, got ${String(err)}`);
    for (const f of fragments) assert.ok(err.message.includes(f), `'${err.message}' lacks '${f}'`);
    return true;
  });
}

const LAB = `name: lab
networks:
  front: {bridge: br-front, subnet: 10.10.0.0/24}
  back:  {ovs: ovs-back, vlan: 10, mtu: 1400}
  lan:   {macvlan: eth9, vlan: 20}
guests:
  web:   {netns: lab-web}
  db:    {container: docker:db1}
  cache: {image: lab-busybox, runtime: podman}
links:
  - web:eth1 front 10.10.0.2/24@10.10.0.1
  - db front auto
  - guest: cache
    interface: eth2
    network: back
    address: [10.20.0.4/24, "fd00:20::4/64"]
    gateway6: "fd00:20::1"
    mac: "U:cache"
    impair: {rate: 10mbit}
  - {guest: web, interface: eth2, network: lan, dhcp: "udhcpc-f:-O 42"}
  - cache front auto
`;

void describe('topology links as attach specs', () => {
  const t = parseTopology(LAB, 'lab.yaml');

  void test('each link is one spec: owner topology:<name>, replace on conflict, networks never made by the attach', () => {
    const spec = specOf(t, t.links[0]!);
    assert.deepEqual(spec, {
      guest: { kind: 'netns', name: 'lab-web' },
      guestIf: 'eth1',
      host: { kind: 'bridge', bridge: 'br-front', create: false },
      addressing: { kind: 'static', addresses: [parseAddressSpec('10.10.0.2/24').address], gateway4: '10.10.0.1', routes: [] },
      announce: true,
      owner: { kind: 'topology', name: 'lab' },
      onConflict: 'replace',
    });
  });

  void test('OVS with the network VLAN and MTU, IPv4+IPv6, gateway6, MAC, impairments; the image guest is its container', () => {
    const spec = specOf(t, t.links[2]!);
    assert.deepEqual(spec.guest, { kind: 'podman', name: 'lab-cache' });
    assert.deepEqual(spec.host, { kind: 'ovs', bridge: 'ovs-back', create: false, vlan: 10 });
    assert.equal(spec.mtu, 1400);
    assert.deepEqual(spec.addressing.kind === 'static' && [spec.addressing.addresses.map((a) => a.cidr), spec.addressing.gateway6, spec.addressing.gateway4], [['10.20.0.4/24', 'fd00:20::4/64'], 'fd00:20::1', undefined]);
    assert.match(spec.mac!, /^02(:[0-9a-f]{2}){5}$/u);
    assert.deepEqual(spec.impair, { rateBps: 10_000_000 });
  });

  void test('macvlan with VLAN, DHCP with options, a container by reference', () => {
    const spec = specOf(t, t.links[3]!);
    assert.deepEqual(spec.host, { kind: 'macvlan', parent: 'eth9', mode: 'bridge', vlan: 20 });
    assert.deepEqual(spec.addressing, { kind: 'dhcp', method: 'udhcpc-f', options: ['-O', '42'], family: 4, timeoutSec: 30 });
    assert.deepEqual(specOf(t, t.links[1]!).guest, { kind: 'docker', name: 'db1' });
  });

  void test('auto: new links take the next free address; what the file gives, its gateways and what is in use are skipped', () => {
    const auto = assignAuto({ topology: t, recordOf: () => undefined, inUse: () => ['10.10.0.3'] });
    // .1 is web's gateway, .2 web's address, .3 in use on the bridge: db gets .4, cache .5.
    assert.equal(auto.get(1)?.cidr, '10.10.0.4/24');
    assert.equal(auto.get(4)?.cidr, '10.10.0.5/24');
    assert.equal(auto.get(1)?.broadcast, '10.10.0.255');
  });

  void test('auto: a link keeps the address it has (read back from its live record), even if a lower one is free', () => {
    const record = { role: 'guest', guest: 'podman:lab-cache', nsInode: 1, guestIf: 'eth1', hostIf: 'br-front', hostKind: 'bridge', address: '10.10.0.77/24' } as AttachRecord;
    const auto = assignAuto({ topology: t, recordOf: (l) => (l.index === 4 ? record : undefined), inUse: () => [] });
    assert.equal(auto.get(4)?.cidr, '10.10.0.77/24');
    assert.equal(auto.get(1)?.cidr, '10.10.0.3/24');
    // A record on another network (the link moved) does not count.
    const moved = assignAuto({ topology: t, recordOf: (l) => (l.index === 4 ? { ...record, hostIf: 'br-other' } : undefined), inUse: () => [] });
    assert.equal(moved.get(4)?.cidr, '10.10.0.4/24');
  });

  void test('auto: a subnet the host fills is refused with the link\'s place, as a problem of the file', () => {
    // (Full by the file alone, it is one of the file's problems: topology-corpus.test.ts.)
    const small = parseTopology('name: s\nnetworks:\n  n: {bridge: br-s, subnet: 10.9.0.0/30}\nguests:\n  a: {netns: a}\n  b: {netns: b}\nlinks:\n  - a n auto\n  - b n auto\n', 's.yaml');
    assertThrows(() => assignAuto({ topology: small, recordOf: () => undefined, inUse: () => ['10.9.0.2'] }), TopologyFileError, 's.yaml:9:5: links[1]: no free address left in 10.9.0.0/30');
  });

  void test('auto: 2,500 links on one subnet are given their addresses in one walk (not one walk each: that took seconds)', () => {
    const n = 2500;
    const text = ['name: big', 'networks:', '  n: {bridge: br-big, subnet: 10.64.0.0/20}', 'guests:',
      ...Array.from({ length: n }, (_, i) => `  g${i}: {netns: big-${i}}`), 'links:', ...Array.from({ length: n }, (_, i) => `  - g${i} n auto`), ''].join('\n');
    const big = parseTopology(text, 'big.yaml');
    const started = performance.now();
    const auto = assignAuto({ topology: big, recordOf: () => undefined, inUse: () => ['10.64.0.1'] });
    const ms = performance.now() - started;
    assert.equal(auto.get(0)?.cidr, '10.64.0.2/20');
    assert.equal(auto.get(n - 1)?.cidr, '10.64.9.197/20');
    assert.equal(new Set([...auto.values()].map((a) => a.address)).size, n);
    // ~40 ms; the walk per link took 0.5 to 1.5 s here.
    assert.ok(ms < 200, `${Math.round(ms)} ms`);
  });

  void test('auto: the walk of free addresses skips what is taken, also what is taken while it walks', () => {
    const taken = new Set(['10.0.0.1', '10.0.0.3']);
    const walk = freeAddresses(parseSubnet('10.0.0.0/29'), taken);
    const first = walk.next().value!;
    taken.add(first);
    taken.add('10.0.0.4');
    assert.deepEqual([first, ...walk], ['10.0.0.2', '10.0.0.5', '10.0.0.6']);
    assert.deepEqual([...freeAddresses(parseSubnet('fd00:1::/120'), new Set(['fd00:1::1']))].slice(0, 2), ['fd00:1::2', 'fd00:1::3']);
  });
});

void describe('topology values', () => {
  void test('durations, percentages and rates in tc units', () => {
    assert.equal(parseDuration('20ms', 'delay'), 20);
    assert.equal(parseDuration('1.5s', 'delay'), 1500);
    assert.equal(parseDuration('300us', 'delay'), 0.3);
    assert.equal(parseDuration(7, 'delay'), 7);
    assert.equal(parsePercent('1%', 'loss'), 1);
    assert.equal(parsePercent(0.5, 'loss'), 0.5);
    assert.equal(parseRate('10mbit'), 10_000_000);
    assert.equal(parseRate('512kbit'), 512_000);
    assert.equal(parseRate('1kbps'), 8_000);
    for (const bad of ['10', 'fast', '-1mbit', '10 furlongs']) assertThrows(() => parseRate(bad), InvalidArgumentError, bad);
    assertThrows(() => parsePercent('150%', 'loss'), InvalidArgumentError, '150%');
  });

  void test('subnets: network addresses only, big enough, both families', () => {
    assert.deepEqual([parseSubnet('10.1.0.0/16').prefix, parseSubnet('fd00:1::/64').family], [16, 6]);
    assertThrows(() => parseSubnet('10.1.0.1/16'), InvalidArgumentError, 'did you mean 10.1.0.0/16');
    assertThrows(() => parseSubnet('10.1.0.0/31'), InvalidArgumentError, 'too small');
    assertThrows(() => parseSubnet('banana'), InvalidArgumentError, 'banana');
    assert.equal(nextFree(parseSubnet('fd00:1::/64'), new Set(['fd00:1::1'])), 'fd00:1::2');
    assert.equal(nextFree(parseSubnet('10.0.0.0/30'), new Set(['10.0.0.1', '10.0.0.2'])), undefined);
  });

  void test('the brief link: words and where each starts', () => {
    assert.deepEqual(splitBrief('web:eth1  front 10.0.0.2/24 @10'), {
      guest: { text: 'web', offset: 0 }, ifname: { text: 'eth1', offset: 4 }, network: { text: 'front', offset: 10 },
      config: { text: '10.0.0.2/24', offset: 16 }, macVlan: { text: '@10', offset: 28 },
    });
    assertThrows(() => splitBrief(':eth1 front 0/0'), InvalidArgumentError, 'guest before');
    assertThrows(() => splitBrief('a b c d e'), InvalidArgumentError, '5 words');
  });
});

void describe('topology command line', () => {
  void test('verbs, options, and refusals', () => {
    assert.deepEqual(parseArgs(['apply', 'f.yaml', '--dry-run', '--json']), { verb: 'apply', file: 'f.yaml', dryRun: true, json: true, deep: false, offline: false, help: false });
    assert.equal(parseArgs(['destroy', '--name', 'lab']).name, 'lab');
    assert.equal(parseArgs(['graph', 'f.yaml', '--format=html', '-o', 'x.html']).out, 'x.html');
    assertThrows(() => parseArgs(['apply']), Error, 'needs a topology file');
    assertThrows(() => parseArgs(['destroy', 'f.yaml', '--name', 'x']), Error, 'one of them');
    assertThrows(() => parseArgs(['destroy', '--name', 'Bad_Name']), Error, 'invalid topology name');
    assertThrows(() => parseArgs(['inspect', 'f.yaml', '--deep']), Error, 'takes no --deep');
    assertThrows(() => parseArgs(['graph', 'f.yaml', '--format', 'png']), Error, "unknown --format 'png'");
    assertThrows(() => parseArgs(['graph', 'f.yaml', '--format', 'html']), Error, '-o FILE');
    assertThrows(() => parseArgs(['schema', 'x']), Error, 'takes no arguments');
  });
});

void describe('topology graphs', () => {
  const t = parseTopology(LAB, 'lab.yaml');
  const report: InspectReport = {
    topology: 'lab',
    links: [
      { link: t.links[0]!, status: 'ok', details: [], addresses: ['10.10.0.2/24'] },
      { link: t.links[1]!, status: 'drift', details: ['address 10.10.0.3/24 is missing on eth1'] },
      { link: t.links[2]!, status: 'missing', details: ['container lab-cache is not running'] },
    ],
    networks: [{ key: 'front', present: true }, { key: 'back', present: false }],
    guests: [{ key: 'web', present: true }],
    leftovers: { links: [], netns: [], containers: [], bridges: [], ovsBridges: [] },
  };
  const state = graphState(report);

  void test('mermaid: a node per network and guest, an edge per link with interface, addresses and VLAN, coloured by state', () => {
    const m = mermaid(t, state);
    assert.match(m, /^---\ntitle: topology lab\n---\ngraph LR\n/u);
    assert.match(m, /n_front\[\("front<br\/>bridge br-front"\)\]/u);
    assert.match(m, /g_cache\["cache<br\/>podman lab-cache \(lab-busybox\)"\]/u);
    assert.match(m, /g_web ---\|"eth1 10\.10\.0\.2\/24"\| n_front/u);
    assert.match(m, /g_cache ---\|"eth2 10\.20\.0\.4\/24 fd00:20::4\/64 vlan 10"\| n_back/u);
    assert.match(m, /linkStyle 0 stroke:#2e7d32/u);
    assert.match(m, /linkStyle 1 stroke:#e65100/u);
    assert.match(m, /linkStyle 2 stroke:#c62828/u);
    assert.match(m, /linkStyle 3 stroke:#757575/u);
    assert.match(m, /class n_back missing/u);
  });

  void test('dot: a graph Graphviz reads, quoted', () => {
    const d = dot(t, state);
    assert.match(d, /^graph "topology lab" \{/u);
    assert.match(d, /"guest:web" -- "network:front" \[label="eth1\\n10\.10\.0\.2\/24", color="#2e7d32"/u);
    assert.ok(d.trimEnd().endsWith('}'));
  });

  void test('html: one page, nothing fetched, escaped, with the state on each link', () => {
    const page = html({ ...t, name: 'lab' }, state, 'live state');
    assert.doesNotMatch(page, /(src|href)=["']?(https?:)?\/\//u);
    assert.match(page, /Content-Security-Policy" content="default-src 'none'/u);
    assert.equal((page.match(/<g class="link"/gu) ?? []).length, 5);
    assert.match(page, /data-link="web:eth1" data-status="ok"/u);
    assert.match(page, /data-link="db:eth1" data-status="drift"/u);
    const evil = parseTopology('name: x\nnetworks:\n  n: {bridge: br-x}\nguests:\n  g: {container: "<script>"}\nlinks:\n  - g n 10.0.0.1/24\n', 'x.yaml');
    assert.ok(!html(evil, graphState(undefined), 'offline').includes('container <script>'));
  });
});
