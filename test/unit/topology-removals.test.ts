// What a topology made that goes (src/front/topology/leftovers.ts): one choice, made from what the
// host shows, for apply and destroy and their --dry-run alike — a bridge with a port that is not
// the topology's stays (and says why), one shared with another topology is left to it, its own
// host ends and VXLAN devices do not hold a bridge back.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { markOf, markText } from '../../src/drivers/network/mark.js';
import type { Action } from '../../src/model/plan.js';
import type { HostLink } from '../../src/host/links.js';
import { KEEP_NOTHING, chooseRemovals, type Keep } from '../../src/front/topology/leftovers.js';
import type { Live } from '../../src/front/topology/live.js';
import { encodeRecord, type AttachRecord } from '../../src/model/record.js';
import { bridge, nic } from './fakes.js';

const show = (a: Action): string => (a.kind === 'ip' ? `ip ${a.args.join(' ')}` : a.kind === 'exec' ? a.argv.join(' ') : a.key);

function live(extra: Partial<Live> = {}): Live {
  return {
    topology: 'demo', hostEnds: new Map(), allHostEnds: [], bridges: new Set(), ovsBridges: new Set(), vxlans: new Set(), netns: new Map(), unfinished: new Map(), containers: [],
    ...extra,
  };
}

const hostEnd = (link: string, nsInode: number) => ({ link, record: { nsInode, guestIf: 'eth1' } as AttachRecord });

void describe('what a topology made that goes', () => {
  const links = new Map<string, HostLink>([
    ['br-own', bridge('br-own', { alias: markText('demo'), ports: ['pwv1', 'pwx42'] })],
    ['br-foreign', bridge('br-foreign', { alias: markText('demo'), ports: ['pwv2', 'someone0'] })],
    ['br-shared', bridge('br-shared', { alias: markOf(['demo', 'other'])!, ports: ['pwv3'] })],
    ['br-file', bridge('br-file', { alias: markText('demo'), ports: [] })],
    ['pwx42', nic('pwx42', { alias: markText('demo') })],
  ]);
  const state = live({
    bridges: new Set(['br-own', 'br-foreign', 'br-shared', 'br-file']), vxlans: new Set(['pwx42']), ovsBridges: new Set(['ovs-empty', 'ovs-used', 'ovs-unread']),
    netns: new Map([['demo-a', 1]]),
    hostEnds: new Map([['11/eth1', hostEnd('pwv1', 11)], ['12/eth1', hostEnd('pwv2', 12)], ['13/eth1', hostEnd('pwv3', 13)]]),
  });
  const ovsPorts = (b: string) => ({ 'ovs-empty': [], 'ovs-used': ['other9'] } as Record<string, string[]>)[b];
  const choose = (keep: Keep) => chooseRemovals({ topology: 'demo', live: state, keep, links: [], netns: [...state.netns.keys()] }, (n) => links.get(n), ovsPorts);

  void test('destroy: its own ports and VXLAN devices go first; a foreign port or another owner keeps a bridge', () => {
    const r = choose(KEEP_NOTHING);
    assert.deepEqual(r.vxlans, ['pwx42']);
    assert.deepEqual(r.bridges, ['br-own', 'br-file']);
    assert.deepEqual(r.kept, [
      'br-foreign (ports someone0 are not this topology\'s)',
      'br-shared (topology other uses it too)',
      'ovs-used (ports other9 are not this topology\'s)',
      'ovs-unread (its ports could not be read)',
    ]);
    assert.deepEqual(r.ovsBridges, ['ovs-empty']);
    assert.deepEqual(r.first.steps.map((s) => show(s.action)), ['ip link del dev pwx42', 'ip netns del demo-a'], 'first what its ports are in');
    assert.deepEqual(r.last.steps.map((s) => show(s.action)), [
      'ip link set dev br-shared alias pipework-topology:other',
      'ip link del dev br-own',
      'ip link del dev br-file',
      'ovs-vsctl --timeout=10 --if-exists del-br ovs-empty',
    ]);
    assert.ok(r.last.steps.filter((s) => s.title.startsWith('remove bridge')).every((s) => s.action.kind === 'ip' && s.action.onlyIfBridgeEmpty !== undefined),
      'each bridge is checked again when its removal runs');
    assert.ok(r.last.locks!.changes.includes('bridge/br-shared'), 'a bridge it leaves is locked too');
  });

  void test('apply: what the file names stays untouched; a port of one of its links leaving for another network does not hold a bridge back', () => {
    const keep: Keep = { netns: new Set(['demo-a']), containers: new Set(), devices: new Set(['br-file', 'br-own', 'ovs-unread']), vxlans: new Set(['pwx42']) };
    const r = choose(keep);
    assert.deepEqual(r.netns, []);
    assert.deepEqual(r.vxlans, []);
    assert.deepEqual(r.bridges, [], 'br-own is named; br-foreign has another port');
    assert.ok(!r.kept.some((k) => k.startsWith('br-file') || k.startsWith('br-own') || k.startsWith('ovs-unread')));
    // The file moves its links to another bridge and drops the VXLAN device: br-own has only
    // their ports (re-made elsewhere, or going) and goes.
    const moved = chooseRemovals({ topology: 'demo', live: state, keep: { ...keep, devices: new Set(['br-file']), vxlans: new Set() }, links: [], netns: [] }, (n) => links.get(n), ovsPorts);
    assert.deepEqual(moved.bridges, ['br-own']);
  });

  void test('a veth whose other end is in a netns the run removes (one a run given up half-way made, unrecorded) goes with it', () => {
    const half = new Map<string, HostLink>([['br-half', bridge('br-half', { alias: markText('demo'), ports: ['pwvhalf', 'pwvkept'] })]]);
    const input = { topology: 'demo', live: live({ bridges: new Set(['br-half']) }), keep: KEEP_NOTHING, links: [] };
    const peers: Record<string, string> = { pwvhalf: 'demo-a', pwvkept: 'someone-else' };
    const kept = chooseRemovals({ ...input, netns: ['demo-a'] }, (n) => half.get(n), () => undefined, (p) => peers[p]);
    assert.deepEqual(kept.kept, ['br-half (ports pwvkept are not this topology\'s)'], 'a netns the run does not remove holds its bridge');
    half.set('br-half', bridge('br-half', { alias: markText('demo'), ports: ['pwvhalf'] }));
    const gone = chooseRemovals({ ...input, netns: ['demo-a'] }, (n) => half.get(n), () => undefined, (p) => peers[p]);
    assert.deepEqual(gone.bridges, ['br-half']);
    assert.ok(gone.going.includes('pwvhalf'));
    assert.deepEqual(chooseRemovals({ ...input, netns: [] }, (n) => half.get(n), () => undefined, (p) => peers[p]).bridges, [], 'its netns stays: so does the port');
  });

  void test('the same facts, the same choice: a dry run and a real run cannot differ', () => {
    assert.deepEqual(JSON.stringify(choose(KEEP_NOTHING)), JSON.stringify(choose(KEEP_NOTHING)));
  });
});

void describe('a bridge a run given up made but never marked (issue 19 item 5)', () => {
  const links = new Map<string, HostLink>([
    ['br-half', bridge('br-half', { ports: [] })],
    ['br-theirs', bridge('br-theirs', { ports: [] })],
  ]);
  void test('named in the state file: it goes; any other unmarked bridge stays not ours', () => {
    const state = live({ bridges: new Set(['br-half', 'br-theirs']), unmarkedBridges: new Set(['br-half']) });
    const r = chooseRemovals({ topology: 'demo', live: state, keep: KEEP_NOTHING, links: [], netns: [] }, (n) => links.get(n), () => undefined);
    assert.deepEqual(r.bridges, ['br-half']);
    assert.deepEqual(r.kept, ['br-theirs (not made by topology demo)']);
  });
});

void describe('links that go with their netns (issue 22): removed by their host ends, at once, before the netns', () => {
  const owner = 'topology:demo';
  const rec = (localIf: string, nsInode: number, hostIf: string, extra: Partial<AttachRecord> = {}): AttachRecord => ({
    role: 'host', guest: `netns:demo-${nsInode}`, nsInode, guestIf: 'eth1', hostIf, hostKind: 'bridge', localIf, owner, ...extra,
  });
  const a = rec('pwva', 11, 'br-own');
  const o = rec('pwvo', 11, 'ovs-x', { hostKind: 'ovs', guestIf: 'eth2' });
  const d = rec('pwvd', 11, 'br-own', { guestIf: 'eth3', dhcp: 'dhclient' });
  const c = rec('pwvc', 13, 'br-own');
  const hostLinks = new Map<string, HostLink>([
    ['br-own', bridge('br-own', { alias: markText('demo'), ports: ['pwva', 'pwvd', 'pwvc'] })],
    ...[a, o, d, c].map((r): [string, HostLink] => [r.localIf!, nic(r.localIf!, { alias: encodeRecord(r), ...(r.hostKind === 'bridge' && { master: 'br-own' }) })]),
  ]);
  const state = live({ bridges: new Set(['br-own']), netns: new Map([['demo-a', 11]]), hostEnds: new Map([a, o, d, c].map((r) => [`${r.nsInode}/${r.guestIf}`, { link: r.localIf!, record: r }])) });
  const leftovers = [a, o, d, c].map((r) => ({ nsInode: r.nsInode, guestIf: r.guestIf, guestText: r.guest, hostEnd: { link: r.localIf!, record: r } }));
  const group = 0x1234_5678;
  const choose = (netns: string[], withGroup = true) => chooseRemovals(
    { topology: 'demo', live: state, keep: KEEP_NOTHING, links: leftovers, netns, ...(withGroup && { group }) },
    (n) => hostLinks.get(n), () => [], () => undefined, (n) => state.netns.get(n),
  );

  void test('not detached inside the netns one by one: its host ends join one device group, deleted at once, then the netns goes', () => {
    const r = choose(['demo-a']);
    assert.deepEqual(r.withNetns.map((l) => l.hostEnd!.link), ['pwva', 'pwvo'], 'a DHCP link (its client to stop) and a link of a netns that stays are detached as before');
    assert.equal(r.links.length, 4, 'every link is still reported (a dry run lists the same)');
    assert.deepEqual(r.first.steps.map((s) => show(s.action)), [
      'ovs-vsctl --timeout=10 --if-exists del-port ovs-x pwvo',
      `ip link set dev pwva group ${group}`,
      `ip link set dev pwvo group ${group}`,
      `ip link del group ${group}`,
      'ip netns del demo-a',
    ]);
    const join = r.first.steps[1]!;
    assert.deepEqual(join.undo, [{ kind: 'ip', place: 'host', args: ['link', 'set', 'dev', 'pwva', 'group', '0'] }], 'an interrupted run gives the host end its group back');
    assert.ok(r.first.locks!.changes.includes('link/pwva') && r.first.locks!.changes.includes('netns/demo-a'));
    assert.deepEqual(r.bridges, ['br-own'], 'its own ports do not hold the bridge back');
  });

  void test('no netns goes (or no group to use): every link is detached as before', () => {
    assert.deepEqual(choose([]).withNetns, []);
    assert.deepEqual(choose(['demo-a'], false).withNetns, []);
  });

  void test('a host end that is not the one its record names (another attachment of that name now) is not taken', () => {
    const moved = new Map(hostLinks);
    moved.set('pwva', nic('pwva', { alias: encodeRecord({ ...a, owner: 'cli' }) }));
    const r = chooseRemovals({ topology: 'demo', live: state, keep: KEEP_NOTHING, links: leftovers, netns: ['demo-a'], group },
      (n) => moved.get(n), () => [], () => undefined, (n) => state.netns.get(n));
    assert.deepEqual(r.withNetns.map((l) => l.hostEnd!.link), ['pwvo']);
    assert.ok(!r.first.steps.some((s) => show(s.action).includes('pwva')));
  });
});
