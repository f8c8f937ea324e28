// `pipework graph` (pure): mermaid node ids that never merge two keys, a DHCP link said once, the
// live state on every element (a guest with a broken link is not green, a drifted `auto` link
// shows its address), the details (MAC, gateway, MTU, impairments), and the HTML drawing's
// layout: networks as lanes, guests grouped, no line through a label, no two labels on each
// other, the width used — at 9, 60, 200 guests, 2,500 links, and hostile files.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { dot, graphState, html, linkLabel, mermaid, mermaidId } from '../../src/front/topology/graph.js';
import { graphLayout } from '../../src/front/topology/graph-html.js';
import { DEFAULT_WIDTH, crosses, layout, layoutProblems, layoutSegs, layoutTexts, overlappingPairs } from '../../src/front/topology/graph-layout.js';
import type { InspectReport, LinkStatus } from '../../src/front/topology/inspect.js';
import type { Topology } from '../../src/front/topology/model.js';
import { parseTopology } from '../../src/front/topology/parse.js';
import type { AttachRecord } from '../../src/model/record.js';
import { graphLab } from './topology-graph-lab.js';

const OFFLINE = graphState(undefined);

function record(guestIf: string, address: string): AttachRecord {
  return { role: 'guest', guest: 'netns:x', nsInode: 1, guestIf, hostIf: 'br-x', hostKind: 'bridge', address, owner: 'topology:x' };
}

function report(t: Topology, links: Omit<LinkStatus, 'link'>[], guests: [string, boolean][] = []): InspectReport {
  return {
    topology: t.name,
    links: links.map((l, i) => ({ ...l, link: t.links[i]! })),
    networks: [...t.networks.keys()].map((key) => ({ key, present: true })),
    guests: guests.map(([key, present]) => ({ key, present })),
    leftovers: { links: [], netns: [], containers: [], bridges: [], ovsBridges: [] },
  };
}

void describe('topology graph: mermaid and dot', () => {
  void test('keys that differ only in `.`, `_`, `-` are different mermaid nodes, and each edge joins its own', () => {
    const t = parseTopology(`name: ids
networks:
  a.b: {bridge: br-ab1}
  a_b: {bridge: br-ab2}
guests:
  x.y: {netns: ids-1}
  x_y: {netns: ids-2}
  x-y: {netns: ids-3}
  x__y: {netns: ids-4}
  end: {netns: ids-5}
links:
  - x.y a.b 10.0.0.1/24
  - x_y a_b 10.0.1.1/24
  - x-y a.b 10.0.0.3/24
  - x__y a_b 10.0.1.4/24
  - end a.b 10.0.0.5/24
`, 'ids.yaml');
    const m = mermaid(t, OFFLINE);
    const guestIds = [...m.matchAll(/^ {2}(g_\S+)\["/gmu)].map((x) => x[1]);
    assert.equal(guestIds.length, 5);
    assert.equal(new Set(guestIds).size, 5, `one node per guest: ${guestIds.join(' ')}`);
    assert.equal(new Set([...m.matchAll(/^ {2}(n_\S+)\[\(/gmu)].map((x) => x[1])).size, 2);
    const edges = [...m.matchAll(/^ {2}(g_\S+) ---\|"[^"]*"\| (n_\S+)$/gmu)].map((x) => `${x[1]} ${x[2]}`);
    assert.deepEqual(edges, t.links.map((l) => `${mermaidId('g', l.guest)} ${mermaidId('n', l.network)}`));
    assert.deepEqual(edges.slice(0, 2), ['g_x_dy n_a_db', 'g_x__y n_a__b']);
    // Injective over awkward keys too (the parser refuses most of them; the drawing must not merge any).
    const keys = ['x.y', 'x_y', 'x-y', 'x__y', 'x_dy', 'x_hy', 'x._y', 'x_.y', 'é', 'x y', 'x_u20_y', 'x\u{1f600}', '_', '__', '.', '-'];
    const ids = keys.map((k) => mermaidId('g', k));
    assert.equal(new Set(ids).size, keys.length, ids.join(' '));
    for (const id of ids) assert.match(id, /^g_[A-Za-z0-9_]+$/u);
  });

  void test('dot: node ids are the whole quoted key (already apart), and the same guest state as the page', () => {
    const t = parseTopology('name: ids\nnetworks:\n  n: {bridge: br-i}\nguests:\n  x.y: {netns: i-1}\n  x_y: {netns: i-2}\nlinks:\n  - x.y n 10.0.0.1/24\n  - x_y n 10.0.0.2/24\n', 'i.yaml');
    const d = dot(t, OFFLINE);
    assert.match(d, /"guest:x\.y" \[/u);
    assert.match(d, /"guest:x_y" \[/u);
    assert.match(d, /"guest:x\.y" -- "network:n"/u);
    assert.match(d, /"guest:x_y" -- "network:n"/u);
  });

  void test('a DHCP link says dhcp once: the method only when it is not plain dhcp; a lease when there is one', () => {
    const t = parseTopology(`name: d
networks:
  n: {bridge: br-d}
guests:
  g: {netns: d-g}
links:
  - {guest: g, interface: eth2, network: n, dhcp: dhcp, vlan: 3}
  - {guest: g, interface: eth3, network: n, dhcp: udhcpc}
  - {guest: g, interface: eth4, network: n, dhcp: dhcp}
`, 'd.yaml');
    const m = mermaid(t, OFFLINE);
    assert.match(m, /---\|"eth2 dhcp vlan 3"\|/u);
    assert.match(m, /---\|"eth3 dhcp \(udhcpc\)"\|/u);
    assert.doesNotMatch(m, /dhcp dhcp/u);
    const d = dot(t, OFFLINE);
    assert.match(d, /label="eth2\\ndhcp\\nvlan 3"/u);
    const leased = graphState(report(t, [{ status: 'ok', details: [], addresses: ['10.0.0.9/24'] }, { status: 'ok', details: [] }, { status: 'ok', details: [] }]));
    assert.match(mermaid(t, leased), /---\|"eth2 10\.0\.0\.9\/24 \(dhcp\) vlan 3"\|/u);
  });

  void test('a drifted auto link shows the address it got (and what the interface has now), not "auto"', () => {
    const t = parseTopology('name: a\nnetworks:\n  n: {bridge: br-a, subnet: 10.5.0.0/24}\nguests:\n  g: {netns: a-g}\nlinks:\n  - g n auto\n  - g:eth2 n 10.5.0.7/24\n', 'a.yaml');
    const state = graphState(report(t, [
      { status: 'drift', details: ['address 10.5.0.1/24 is missing on eth1'], record: record('eth1', '10.5.0.1/24'), addresses: [] },
      { status: 'drift', details: ['address 10.5.0.9/24 is not asked'], addresses: ['10.5.0.7/24', '10.5.0.9/24'] },
    ], [['g', true]]));
    assert.deepEqual(linkLabel(t.links[0]!, state.links.get(0)), ['eth1', '10.5.0.1/24', '(now none)']);
    assert.deepEqual(linkLabel(t.links[1]!, state.links.get(1)), ['eth2', '10.5.0.7/24', '(now 10.5.0.7/24 10.5.0.9/24)']);
    assert.match(mermaid(t, state), /---\|"eth1 10\.5\.0\.1\/24 \(now none\)"\|/u);
    const page = html(t, state, 'live');
    assert.doesNotMatch(page, /<text[^>]*>[^<]*\bauto\b/u, 'no "auto" drawn once the link has its address');
    assert.match(page, /<text[^>]*>eth1 → n 10\.5\.0\.1\/24<\/text><text[^>]*> {2}now: no address<\/text>/u);
    assert.match(page, /address \(live\): 10\.5\.0\.1\/24/u);
  });

  void test('a guest with a link missing or drifted is not green, in mermaid, dot and the page; a missing guest is red', () => {
    const t = parseTopology('name: s\nnetworks:\n  n: {bridge: br-s}\nguests:\n  a: {netns: s-a}\n  b: {netns: s-b}\n  c: {netns: s-c}\nlinks:\n  - a n 10.0.0.1/24\n  - a:eth2 n 10.0.0.2/24\n  - b n 10.0.0.3/24\n  - c n 10.0.0.4/24\n', 's.yaml');
    const state = graphState(report(t, [
      { status: 'ok', details: [] }, { status: 'missing', details: ['eth2 is not in netns s-a'] }, { status: 'drift', details: ['x'] }, { status: 'missing', details: ['gone'] },
    ], [['a', true], ['b', true], ['c', false]]));
    const m = mermaid(t, state);
    assert.match(m, /class g_a missing/u);
    assert.match(m, /class g_b drift/u);
    assert.match(m, /class g_c missing/u);
    assert.match(dot(t, state), /"guest:b" \[[^\]]*color="#e65100"/u);
    const page = html(t, state, 'live');
    assert.match(page, /<g class="guest" data-key="a" data-status="missing"/u);
    assert.match(page, /<g class="guest" data-key="b" data-status="drift"/u);
    assert.match(page, />eth2 missing</u, 'the card says which link');
    assert.match(page, />not there</u);
    const ok = graphState(report(t, t.links.map(() => ({ status: 'ok' as const, details: [] })), [['a', true], ['b', true], ['c', true]]));
    assert.match(html(t, ok, 'live'), /<g class="guest" data-key="a" data-status="ok"/u);
  });
});

void describe('topology graph: the page', () => {
  void test('MAC, gateway, MTU, VLAN and impairments are on the page (hover, panel, table); a search box and a side panel', () => {
    const t = parseTopology(`name: det
networks:
  n: {bridge: br-det, mtu: 1400}
guests:
  g: {netns: det-g}
links:
  - {guest: g, network: n, address: 10.0.0.2/24, gateway: 10.0.0.1, mac: "02:00:00:00:00:07", vlan: 12, mtu: 1300, impair: {delay: 20ms, jitter: 5ms, loss: 1%, rate: 10mbit}}
`, 'det.yaml');
    const page = html(t, OFFLINE, 'offline');
    for (const s of ['MAC: 02:00:00:00:00:07', 'gateway: 10.0.0.1', 'MTU: 1300', 'VLAN: 12', 'impairments: delay 20ms, jitter 5ms, loss 1%, rate 10mbit']) assert.ok(page.includes(s), s);
    assert.match(page, /<td>delay 20ms, jitter 5ms, loss 1%, rate 10mbit<\/td>/u);
    assert.match(page, /<input id="find" type="search"/u);
    assert.match(page, /<aside id="panel" hidden>/u);
    assert.match(page, /data-search="[^"]*02:00:00:00:00:07/u);
  });

  void test('hostile keys and texts are escaped everywhere, and the page still loads nothing', () => {
    const evil = parseTopology('name: x\nnetworks:\n  n: {bridge: br-x}\nguests:\n  g: {container: "<script>alert(1)</script>"}\nlinks:\n  - g n 10.0.0.1/24\n', 'x.yaml');
    const page = html(evil, OFFLINE, '<b>when</b>');
    assert.ok(!page.includes('<script>alert'));
    assert.ok(!page.includes('<b>when'));
    assert.doesNotMatch(page, /(src|href)\s*=\s*["']?(https?:)?\/\//u);
    assert.equal(page.match(/<script>/gu)?.length, 1, 'the page\'s own script only');
  });
});

/** Every lab the layout must draw cleanly. */
function labs(): [string, Topology][] {
  const many = (n: number, linksEach: number) => {
    const lines = ['name: big', 'networks:', '  n0: {bridge: br-n0}', '  n1: {bridge: br-n1}', 'guests:'];
    for (let g = 0; g < n; g++) lines.push(`  g${g}: {netns: big-${g}}`);
    lines.push('links:');
    for (let g = 0; g < n; g++) for (let i = 0; i < linksEach; i++) lines.push(`  - g${g}:eth${i} n${i % 2} 10.${i}.${(g + 2) >> 8}.${(g + 2) & 255}/16`);
    return parseTopology(`${lines.join('\n')}\n`, 'big.yaml');
  };
  const long = 'k'.repeat(63);
  const nets = Array.from({ length: 40 }, (_, i) => `  net${i}-${'w'.repeat(20)}: {bridge: br-l${i}}`);
  return [
    ['9 guests', parseTopology(graphLab(9, 'g9', 'g9'), 'g9.yaml')],
    ['60 guests', parseTopology(graphLab(60, 'g60', 'g60'), 'g60.yaml')],
    ['200 guests', parseTopology(graphLab(200, 'g200', 'g200'), 'g200.yaml')],
    ['2,500 links', many(1250, 2)],
    ['a guest with 30 links, one with none, long keys', parseTopology(`name: odd
networks:
  ${long}: {bridge: br-odd, subnet: 10.9.0.0/16}
  "n.2": {ovs: ovs-odd, vlan: 7}
guests:
  ${long}: {container: "docker:${'c'.repeat(60)}"}
  lonely: {netns: odd-lonely}
  x.y: {netns: odd-e}
links:
${Array.from({ length: 30 }, (_, i) => `  - {guest: ${long}, interface: eth${i}, network: ${i % 2 === 0 ? long : '"n.2"'}, address: ["10.9.${i}.1/16", "fd00:${'abcd:'.repeat(6)}${i}/64"]}`).join('\n')}
`, 'odd.yaml')],
    ['40 networks', parseTopology(`name: wide\nnetworks:\n${nets.join('\n')}\nguests:\n  a: {netns: w-a}\n  b: {netns: w-b}\nlinks:\n${Array.from({ length: 40 }, (_, i) => `  - a:e${i} net${i}-${'w'.repeat(20)} 10.${i}.0.1/24\n  - b:e${i} net${i}-${'w'.repeat(20)} 10.${i}.0.2/24`).join('\n')}\n`, 'wide.yaml')],
    ['unicode and very long text', (() => {
      const t = parseTopology('name: u\nnetworks:\n  n: {bridge: br-u}\nguests:\n  g: {container: c}\nlinks:\n  - g n 10.0.0.1/24\n', 'u.yaml');
      t.networks.set('n', { ...t.networks.get('n')!, device: '\u{1f600}é'.repeat(200) });
      t.guests.set('g', { ...t.guests.get('g')!, text: 'é\u{1f600}<&>'.repeat(200) } as Topology['guests'] extends Map<string, infer G> ? G : never);
      return t;
    })()],
    ['no guests', parseTopology('name: empty\nnetworks:\n  n: {bridge: br-e}\n', 'e.yaml')],
    ['no networks', parseTopology('name: lone\nguests:\n  g: {netns: lone-g}\n', 'l.yaml')],
  ];
}

void describe('topology graph: the layout', () => {
  for (const [name, t] of labs()) {
    void test(`${name}: no label crosses a line or another label, everything on the page, and the same drawing every time`, () => {
      const l = graphLayout(t, OFFLINE);
      assert.deepEqual(layoutProblems(l).slice(0, 10), []);
      assert.deepEqual(graphLayout(t, OFFLINE), l, 'deterministic');
      assert.equal(l.guests.length, t.guests.size);
      assert.equal(l.links.length, t.links.length);
      if (name !== '40 networks' && !name.startsWith('a guest')) assert.ok(l.width <= DEFAULT_WIDTH, `${l.width} px wide`);
    });
  }

  void test('at 60 and 200 guests: cards fill the width in columns, networks are lanes, guests grouped by what they link to', () => {
    for (const n of [60, 200]) {
      const t = parseTopology(graphLab(n, 'g', 'g'), 'g.yaml');
      const l = graphLayout(t, OFFLINE);
      assert.ok(l.columns >= 4, `${l.columns} columns`);
      assert.ok(l.width >= 0.95 * DEFAULT_WIDTH, `${l.width} of ${DEFAULT_WIDTH} px used`);
      assert.ok(l.height < n * 50, `${l.height} px tall for ${n} guests`);
      // Each lane runs down to its last track; every link drops onto a track of its own network.
      for (const k of l.links) {
        const track = l.tracks.find((x) => x.network === k.network && Math.abs(x.seg.y1 - k.drop.y2) < 0.01);
        assert.ok(track && k.drop.x1 >= track.seg.x1 && k.drop.x1 <= track.seg.x2, `link ${k.id} reaches its network's track`);
        const lane = l.networks.find((x) => x.key === k.network)!.lane;
        assert.ok(lane.y2 >= k.drop.y2 && Math.abs(track.seg.x1 - lane.x1) < 0.01);
      }
      // Groups are contiguous: once a group's guests start, they all come before the next group's.
      const order = [...l.guests].sort((a, b) => a.rect.y - b.rect.y || a.rect.x - b.rect.x).map((g) => g.group);
      const seen = new Set<number>();
      order.forEach((g, i) => {
        if (i > 0 && order[i - 1] !== g) assert.ok(!seen.has(g), `group ${g} split`);
        seen.add(g);
      });
      assert.ok(seen.size >= 8);
    }
  });

  void test('a narrower page gets fewer columns and still no crossings', () => {
    const t = parseTopology(graphLab(60, 'g', 'g'), 'g.yaml');
    const narrow = graphLayout(t, OFFLINE, 600);
    assert.ok(narrow.columns < graphLayout(t, OFFLINE).columns);
    assert.ok(narrow.width <= 600);
    assert.deepEqual(layoutProblems(narrow), []);
  });

  void test('the checker finds what it looks for: overlapping boxes and texts, a line through a label, text out of its card', () => {
    const base = layout({ networks: [{ key: 'n', lines: ['n', 'bridge br-n'] }], guests: [{ key: 'a', lines: ['a', 'netns a'] }, { key: 'b', lines: ['b', 'netns b'] }], links: [{ id: 0, guest: 'a', network: 'n', lines: ['eth1 → n'] }] });
    assert.deepEqual(layoutProblems(base), []);
    const moved = structuredClone(base);
    moved.guests[1]!.rect.x = moved.guests[0]!.rect.x + 5;
    assert.ok(layoutProblems(moved).some((p) => p.includes('guest a overlaps guest b')));
    const through = structuredClone(base);
    through.links[0]!.drop.y1 = through.guests[0]!.rect.y;
    assert.ok(layoutProblems(through).some((p) => /crosses (guest a|text)/u.test(p)));
    assert.ok(crosses({ x1: 5, y1: 0, x2: 5, y2: 10 }, { x: 0, y: 2, w: 10, h: 2 }));
    assert.ok(!crosses({ x1: 0, y1: 0, x2: 0, y2: 10 }, { x: 0, y: 2, w: 10, h: 2 }), 'along a border is not through');
    assert.deepEqual(overlappingPairs([{ x: 0, y: 0, w: 10, h: 10 }, { x: 20, y: 0, w: 5, h: 5 }, { x: 9, y: 9, w: 5, h: 5 }]), [[0, 2]]);
    assert.ok(layoutTexts(base).length >= 5 && layoutSegs(base).length === 3);
  });
});
