// What apply and inspect tell, and what they keep (issue 22 items 5–8): an impairment changed in
// the file is an edit said in words, not a repair in the record's encoding; inspect's answer is
// its exit code, and its advice is apply where apply puts it right; a link's mtu below its
// Linux bridge's is refused before anything changes unless the bridge is the topology's alone and
// every link on it has that mtu; one cached model per topology; apply's lines readable at
// 2,500 links.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cachedModel, entryName, forgetModels, keepModel, modelKey } from '../../src/front/topology/cache.js';
import { linkReport, type ApplyReport } from '../../src/front/topology/apply.js';
import { applyText } from '../../src/front/topology/cli.js';
import { differs, formatInspect, type InspectReport } from '../../src/front/topology/inspect.js';
import { mtuProblems } from '../../src/front/topology/mtu.js';
import { parseTopology } from '../../src/front/topology/parse.js';
import { madeText, someLinks, someNames } from '../../src/front/topology/summary.js';
import type { HostLink } from '../../src/host/links.js';
import type { AttachOutcome } from '../../src/engine/attach.js';
import type { AttachRecord } from '../../src/model/record.js';
import type { LiveHostEnd } from '../../src/front/topology/live.js';

const root = process.getuid?.() === 0;

function lab(name: string, links: string): ReturnType<typeof parseTopology> {
  return parseTopology(`name: ${name}
networks:
  n: {bridge: br-${name}}
guests:
  a: {netns: ${name}-a}
  b: {netns: ${name}-b}
links:
${links}`, `${name}.yaml`);
}

void describe('the model cache: one per topology', { skip: !root && 'the cache is root\'s' }, () => {
  void test('an edit replaces the model before it; destroy removes it; other topologies stay', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tcache-'));
    try {
      const texts = ['a', 'b', 'c'].map((x) => `name: tca\n# edit ${x}\n`);
      const t = lab('tca', '  - a n 10.0.0.1/24\n');
      for (const text of texts) keepModel(text, t, dir);
      assert.deepEqual(readdirSync(dir), [entryName(modelKey(texts[2]!), 'tca')], 'one file after three edits');
      assert.equal(cachedModel(texts[2]!, 'tca.yaml', dir)?.name, 'tca');
      assert.equal(cachedModel(texts[0]!, 'tca.yaml', dir), undefined, 'the old one is gone');
      keepModel('name: tcb\n', lab('tcb', '  - a n 10.0.0.1/24\n'), dir);
      // An older pipework's entry (<key>.json) goes at the next write; a file that is no entry stays.
      writeFileSync(join(dir, '0123456789abcdef.json'), '{}');
      writeFileSync(join(dir, 'notes.txt'), 'mine');
      keepModel(texts[1]!, t, dir);
      assert.deepEqual(readdirSync(dir).sort(), [entryName(modelKey(texts[1]!), 'tca'), entryName(modelKey('name: tcb\n'), 'tcb'), 'notes.txt'].sort());
      forgetModels('tca', dir);
      assert.deepEqual(readdirSync(dir).sort(), [entryName(modelKey('name: tcb\n'), 'tcb'), 'notes.txt'].sort());
      // A name that is no topology name is never a file name.
      keepModel('x', { ...t, name: '../../etc/x' }, dir);
      forgetModels('../tcb', dir);
      assert.equal(readdirSync(dir).length, 2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

void describe('apply\'s lines at 2,500 links', () => {
  void test('names are bounded: counts, the first names, how many more', () => {
    assert.equal(someNames(['a', 'b', 'c']), 'a, b, c');
    assert.equal(someNames(Array.from({ length: 100 }, (_, i) => `g${i}`), 3), 'g0, g1 and 98 more');
    assert.equal(someLinks([{ guest: 'web', ifname: 'eth1' }, { guest: 'db', ifname: 'eth1' }, { guest: 'app', ifname: 'eth2' }]), 'eth1 of web and db; eth2 of app');
    assert.equal(someLinks(Array.from({ length: 100 }, (_, i) => ({ guest: i === 0 ? 'web' : i === 1 ? 'db' : `g${i}`, ifname: 'eth1' })), 3), 'eth1 of web, db and 98 more');
    assert.equal(madeText({ netns: ['x-a', 'x-b'], bridges: ['br-x'], ovsBridges: [], vxlans: [], containers: [] }), 'x-a, x-b, br-x');
    assert.equal(madeText({ netns: Array.from({ length: 2500 }, (_, i) => `g${i}`), bridges: ['br-x'], ovsBridges: [], vxlans: [], containers: [] }),
      '2500 network namespaces (g0, g1, g2 and 2497 more), bridge br-x');
  });

  void test('a first apply of 2,500 links: a handful of short lines', () => {
    const n = 2500;
    const links = Array.from({ length: n }, (_, i) => ({ index: i, guest: `g${i}`, ifname: 'eth1', network: 'n', addressing: { kind: 'static' as const, addresses: [], auto: true }, at: { line: i + 8, col: 5 } }));
    const report: ApplyReport = {
      topology: 'big', links: links.map((link) => ({ link, outcome: 'created' })),
      made: { netns: links.map((l) => `big-${l.guest}`), bridges: ['br-big'], ovsBridges: [], vxlans: [], containers: [], started: [] },
      removed: { links: Array.from({ length: 300 }, (_, i) => `netns:old${i}:eth1`), netns: [], bridges: [], ovsBridges: [], vxlans: [], containers: [] },
      kept: [], changes: [], makePlan: { guestLabel: 'the host', steps: [], warnings: [], outcome: 'created' }, warnings: [], changed: true,
    };
    // One link repaired and one edited among them: those keep their own lines, with what changed.
    report.links[7] = { link: links[7]!, outcome: 'repaired', repairs: ['address 10.0.0.8/24 is missing on eth1'] };
    report.links[9] = { link: links[9]!, outcome: 'edited', edits: ['rate 50mbit → 20mbit'] };
    const lines = applyText(report, { name: 'big', file: 'big.yaml' }, false);
    assert.deepEqual(lines, [
      'links[7] g7:eth1: repaired (address 10.0.0.8/24 is missing on eth1)',
      'links[9] g9:eth1: edited (rate 50mbit → 20mbit)',
      'created 2498 links: eth1 of g0, g1, g2, g3, g4, g5, g6 and 2491 more',
      'removed 300 links no longer in the file: netns:old0:eth1, netns:old1:eth1, netns:old2:eth1, netns:old3:eth1, netns:old4:eth1, netns:old5:eth1, netns:old6:eth1 and 293 more',
      'topology big: 2498 created, 1 repaired, 1 edited; made 2500 network namespaces (big-g0, big-g1, big-g2 and 2497 more), bridge br-big',
    ]);
    for (const l of lines) assert.ok(l.length < 200, l);
    // A few links: each on its line, every name in the summary, as before.
    const few: ApplyReport = { ...report, links: report.links.slice(0, 3), made: { ...report.made, netns: ['big-g0', 'big-g1', 'big-g2'] }, removed: { ...report.removed, links: [] } };
    assert.deepEqual(applyText(few, { name: 'big', file: 'big.yaml' }, false), [
      'links[0] g0:eth1: created', 'links[1] g1:eth1: created', 'links[2] g2:eth1: created', 'topology big: 3 created; made big-g0, big-g1, big-g2, br-big',
    ]);
  });
});

void describe('an impairment changed in the file: an edit, in words', () => {
  const t = lab('tim', '  - {guest: a, network: n, address: 10.0.0.1/24, impair: {rate: 20mbit}}\n');
  const link = t.links[0]!;
  const record: AttachRecord = { role: 'guest', guest: 'netns:tim-a', nsInode: 7, guestIf: 'eth1', hostIf: 'br-tim', hostKind: 'bridge', localIf: 'pwv1', impair: 'r50000000' };
  const outcome = (repairs: string[], edits?: string[]): Pick<AttachOutcome, 'spec' | 'outcome' | 'record' | 'plan' | 'guest'> => ({
    spec: { impair: link.impair } as AttachOutcome['spec'], outcome: 'repaired', record,
    plan: { guestLabel: 'network namespace tim-a', steps: [], warnings: [], outcome: 'repaired', repairs, ...(edits && { edits }) },
    guest: { label: 'network namespace tim-a' } as AttachOutcome['guest'],
  });

  void test('edited, with what changed; the record is the new one', () => {
    const r = linkReport(link, outcome(['impairments of eth1: rate 50mbit → 20mbit'], ['impairments of eth1: rate 50mbit → 20mbit']));
    assert.equal(r.outcome, 'edited');
    assert.deepEqual(r.edits, ['rate 50mbit → 20mbit']);
    assert.equal(r.repairs, undefined);
    assert.equal(r.record?.impair, 'r20000000');
  });

  void test('an edit and drift at once: both said; drift alone is a repair', () => {
    const both = linkReport(link, outcome(['address 10.0.0.1/24 is missing on eth1', 'impairments of eth1: rate 50mbit → 20mbit'], ['impairments of eth1: rate 50mbit → 20mbit']));
    assert.equal(both.outcome, 'edited');
    assert.deepEqual(both.repairs, ['address 10.0.0.1/24 is missing on eth1']);
    const drift = linkReport(link, outcome(['eth1 is not impaired as recorded (rate 20mbit)']));
    assert.equal(drift.outcome, 'repaired');
    assert.deepEqual(drift.repairs, ['eth1 is not impaired as recorded (rate 20mbit)']);
  });
});

function bridge(name: string, o: Partial<HostLink> = {}): HostLink {
  return { name, isBridge: true, type: 1, mtu: 1500, up: true, mac: '02:00:00:00:00:01', ports: [], ...o };
}
const hostEnd = (link: string, hostIf: string): [string, LiveHostEnd] => [`7/${link}`, { link, record: { role: 'host', guest: 'netns:x', nsInode: 7, guestIf: 'eth1', hostIf, hostKind: 'bridge', localIf: link } }];

void describe('a link\'s mtu below its Linux bridge\'s', () => {
  const noLive = { hostEnds: new Map<string, LiveHostEnd>() };

  void test('one smaller link on a bridge the others share: refused, naming the link, the bridge, what to do', () => {
    const t = lab('tmt', '  - a n 10.0.0.1/24\n  - {guest: b, network: n, address: 10.0.0.2/24, mtu: 1400}\n');
    const p = mtuProblems(t, noLive, () => undefined);
    assert.equal(p.length, 1);
    assert.equal(p[0]!.path, 'links[1].mtu');
    assert.equal(p[0]!.line, 9);
    assert.equal(p[0]!.message, "b:eth1 has mtu 1400, below the MTU of bridge br-tmt (1500): plugged in, it would lower the whole bridge to 1400 (unless its MTU was set by hand) while a:eth1 keeps 1500; give every link on br-tmt mtu 1400 (mtu: 1400 on network n), or remove this link's mtu");
  });

  void test('the topology\'s own bridge with every link at that mtu: consistent, accepted', () => {
    const t = lab('tmt', '  - {guest: a, network: n, address: 10.0.0.1/24, mtu: 1400}\n  - {guest: b, network: n, address: 10.0.0.2/24, mtu: 1400}\n');
    assert.deepEqual(mtuProblems(t, noLive, () => undefined), [], 'a bridge it makes');
    const marked = bridge('br-tmt', { alias: 'pipework-topology:tmt', ports: ['pwv1', 'pwv2'] });
    assert.deepEqual(mtuProblems(t, { hostEnds: new Map([hostEnd('pwv1', 'br-tmt'), hostEnd('pwv2', 'br-tmt')]) }, (n) => (n === 'br-tmt' ? marked : undefined)), [], 'one it made, its ports all its links');
    // A host's part of a multi-host file: its VXLAN device on the bridge is its own port too.
    const part = { ...t, part: { host: 'h1', file: 'tmt', vxlans: [{ network: 'n', name: 'pwx100', bridge: 'br-tmt' } as NonNullable<typeof t.part>['vxlans'][number]] } };
    const withVxlan = bridge('br-tmt', { alias: 'pipework-topology:tmt', ports: ['pwv1', 'pwx100'] });
    assert.deepEqual(mtuProblems(part, { hostEnds: new Map([hostEnd('pwv1', 'br-tmt')]) }, (n) => (n === 'br-tmt' ? withVxlan : undefined)), []);
    assert.equal(mtuProblems(t, { hostEnds: new Map([hostEnd('pwv1', 'br-tmt')]) }, (n) => (n === 'br-tmt' ? withVxlan : undefined)).length, 2, 'not its VXLAN device: a port of someone else (each link refused)');
    // The network's own mtu: every link has it.
    assert.deepEqual(mtuProblems(parseTopology('name: tmu\nnetworks:\n  n: {bridge: br-tmu, mtu: 1400}\nguests:\n  a: {netns: tmu-a}\nlinks:\n  - a n 10.0.0.1/24\n', 'x.yaml'), noLive, () => undefined), [], 'made with the network\'s mtu');
  });

  void test('refused on a bridge that is not its alone: external, not made by it, shared, or with a port of someone else', () => {
    const t = lab('tmt', '  - {guest: a, network: n, address: 10.0.0.1/24, mtu: 1400}\n');
    const cases: [HostLink, string][] = [
      [bridge('br-tmt'), 'not made by this topology'],
      [bridge('br-tmt', { alias: 'pipework-topology:tmt,other' }), 'shared with topology other'],
      [bridge('br-tmt', { alias: 'pipework-topology:tmt', ports: ['veth-someone'] }), 'while veth-someone keeps 1500'],
    ];
    for (const [b, says] of cases) {
      const p = mtuProblems(t, noLive, (n) => (n === 'br-tmt' ? b : undefined));
      assert.equal(p.length, 1, says);
      assert.ok(p[0]!.message.includes(says), p[0]!.message);
    }
    const ext = parseTopology('name: tmx\nnetworks:\n  n: {bridge: br-tmx, external: true, mtu: 1400}\nguests:\n  a: {netns: tmx-a}\nlinks:\n  - a n 10.0.0.1/24\n', 'x.yaml');
    const p = mtuProblems(ext, noLive, () => bridge('br-tmx', { mtu: 9000 }));
    assert.match(p[0]!.message, /below the MTU of bridge br-tmx \(9000, an external bridge\).*; lower br-tmx's MTU to 1400 first if every port can take it, or remove this link's mtu$/u);
  });

  void test('not judged: an mtu at or above the bridge\'s, Open vSwitch, a name that is no Linux bridge', () => {
    assert.deepEqual(mtuProblems(lab('tmt', '  - {guest: a, network: n, address: 10.0.0.1/24, mtu: 9000}\n'), noLive, () => bridge('br-tmt')), []);
    const ovs = parseTopology('name: tmo\nnetworks:\n  n: {ovs: ovs-tmo}\nguests:\n  a: {netns: tmo-a}\n  b: {netns: tmo-b}\nlinks:\n  - a n 10.0.0.1/24\n  - {guest: b, network: n, address: 10.0.0.2/24, mtu: 1400}\n', 'x.yaml');
    assert.deepEqual(mtuProblems(ovs, noLive, () => undefined), []);
    assert.deepEqual(mtuProblems(lab('tmt', '  - {guest: a, network: n, address: 10.0.0.1/24, mtu: 1400}\n'), noLive, () => ({ ...bridge('br-tmt'), isBridge: false })), []);
  });
});

void describe('inspect: the exit code says whether the host matches', () => {
  const t = lab('tin', '  - a n 10.0.0.1/24\n');
  const ok: InspectReport = {
    topology: 'tin', links: [{ link: t.links[0]!, status: 'ok', details: [] }], networks: [{ key: 'n', present: true, device: 'br-tin' }],
    guests: [{ key: 'a', present: true }, { key: 'b', present: false }], leftovers: { links: [], netns: [], containers: [], bridges: [], ovsBridges: [] },
  };

  void test('matches only when every link is ok, every network there, nothing left over', () => {
    assert.equal(differs(ok), false, 'a guest with no links that is not there is no difference');
    assert.equal(differs({ ...ok, links: [{ ...ok.links[0]!, status: 'drift', details: ['x'] }] }), true);
    assert.equal(differs({ ...ok, links: [{ ...ok.links[0]!, status: 'missing', details: ['x'] }] }), true);
    assert.equal(differs({ ...ok, networks: [{ key: 'n', present: false, device: 'br-tin', made: true }] }), true);
    assert.equal(differs({ ...ok, leftovers: { ...ok.leftovers, netns: ['tin-old'] } }), true);
    assert.equal(differs({ ...ok, vxlans: [{ network: 'n', device: 'pwx1', vni: 1, status: 'ok', details: [], peers: [{ host: 'h2', address: '192.0.2.2', fdb: true, reachable: false }] }] }), false, 'a peer that does not answer is not the file\'s');
  });

  void test('the advice: apply where apply puts it right; what must be there first where it does not', () => {
    assert.doesNotMatch(formatInspect(ok, 'lab.yaml'), /pipework apply/u);
    const gone: InspectReport = { ...ok, networks: [{ key: 'n', present: false, device: 'br-tin', made: true }], links: [{ ...ok.links[0]!, status: 'drift', details: ['bridge br-tin is missing (apply makes it again)'] }] };
    const text = formatInspect(gone, 'lab.yaml');
    assert.match(text, /^network n: br-tin is missing \(apply makes it again\)$/mu);
    assert.match(text, /^the host differs from the file: 'pipework apply lab\.yaml' makes it match$/mu);
    assert.doesNotMatch(text, /pipework del/u);
    const external: InspectReport = { ...gone, networks: [{ key: 'n', present: false, device: 'br-tin', made: false }] };
    assert.match(formatInspect(external, 'lab.yaml'), /^the host differs from the file; 'pipework apply lab\.yaml' makes it match once network n is there$/mu);
  });
});
