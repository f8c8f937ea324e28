// What dead guests leave on the host (OVS rows, NICs given back, resolv.conf files) and how
// `del --stale` finds and cleans it.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseGuestRef } from '../../src/guest/resolve.js';
import { OVS_RUN_DIR, parseOvsPortTables } from '../../src/host/ovs-facts.js';
import {
  planStaleCleanup, returnedNics, selectStale, staleOvsPorts, staleOvsRows, staleResolvConfs, type StaleOvsPort,
} from '../../src/host/stale.js';
import { planReturnedNic } from '../../src/drivers/phys.js';
import { VLAN_MARK } from '../../src/model/vlan.js';
import type { Kept } from '../../src/host/kept-records.js';
import { ConflictError } from '../../src/model/errors.js';
import { encodeRecord, type AttachRecord } from '../../src/model/record.js';
import { FakeRunner, assertThrows } from './fakes.js';

type Ids = [string, string][];

/**
 * What `ovs-vsctl --format=json list Bridge / Port / Interface` prints (one table a line): each
 * bridge with its ports, each port with its tag, each interface with its external-ids.
 */
function ovsTables(bridges: Record<string, string[]>, interfaces: [unknown, unknown][], tags: Record<string, number> = {}): string {
  const uuid = (name: string) => ['uuid', `u-${name}`];
  const ports = [...new Set([...Object.values(bridges).flat(), ...interfaces.map(([n]) => n).filter((n): n is string => typeof n === 'string')])];
  return [
    // One port is written as a bare uuid, several as a set (as OVSDB does).
    { data: Object.entries(bridges).map(([b, ps]) => [b, ps.length === 1 ? uuid(ps[0]!) : ['set', ps.map(uuid)]]), headings: ['name', 'ports'] },
    { data: ports.map((n) => [uuid(n), n, tags[n] ?? ['set', []]]), headings: ['_uuid', 'name', 'tag'] },
    { data: interfaces, headings: ['name', 'external_ids'] },
  ].map((t) => JSON.stringify(t)).join('\n') + '\n';
}
const map = (ids: Ids) => ['map', ids];

/** The minimal sample: one pipework row on ovs0, and the bridge's own interface. */
const MINIMAL = ovsTables({ ovs0: ['ovs0', 'pwv1'] }, [
  ['pwv1', map([['pipework.bridge', 'ovs0'], ['pipework.interface', 'pwv1']])],
  ['ovs0', map([])],
]);

/** A busier host: a live pipework port, two stale ones, a foreign port, the bridges' own interfaces. */
const BUSY = ovsTables({ ovsbr0: ['ovsbr0', 'veth1pl4242', 'veth1pl777', 'tap5c2e9a1b-3f'], ovs7: ['ovs7', 'pwv0123456789ab'] }, [
  ['veth1pl4242', map([
    ['pipework.bridge', 'ovsbr0'], ['pipework.containerid', '4f0c3a2b1d9e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5b6c7d8e9f0a'],
    ['pipework.containername', '/web'], ['pipework.interface', 'veth1pl4242'], ['pipework.nspid', '4242'], ['pipework.vlan', '10'],
  ])],
  ['veth1pl777', map([
    ['pipework.bridge', 'ovsbr0'], ['pipework.containerid', 'c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2'],
    ['pipework.containername', '/db'], ['pipework.interface', 'veth1pl777'], ['pipework.nspid', '777'],
  ])],
  ['pwv0123456789ab', map([['pipework.bridge', 'ovs7'], ['pipework.interface', 'pwv0123456789ab']])],
  ['tap5c2e9a1b-3f', map([['attached-mac', 'fa:16:3e:11:22:33'], ['iface-id', '5c2e9a1b-3f4d-4e5f-8a9b-0c1d2e3f4a5b'], ['iface-status', 'active']])],
  ['ovsbr0', map([])],
  ['ovs7', map([])],
], { veth1pl4242: 10 });

/** Devices that exist on this pretend host: the bridges, the live port, the foreign tap. */
const LIVE = new Set(['ovsbr0', 'ovs7', 'veth1pl777', 'tap5c2e9a1b-3f']);
const exists = (name: string): boolean => LIVE.has(name);
const stale = (stdout: string, deviceExists: (name: string) => boolean) => staleOvsRows(parseOvsPortTables(stdout).values(), deviceExists);

void describe('parseOvsPortTables', () => {
  void test('each port row with the bridge that has it, its tag, and its interface\'s external-ids', () => {
    const rows = parseOvsPortTables(BUSY);
    assert.deepEqual(rows.get('veth1pl4242'), {
      name: 'veth1pl4242', bridge: 'ovsbr0', tag: 10,
      externalIds: {
        'pipework.bridge': 'ovsbr0', 'pipework.containerid': '4f0c3a2b1d9e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5b6c7d8e9f0a',
        'pipework.containername': '/web', 'pipework.interface': 'veth1pl4242', 'pipework.nspid': '4242', 'pipework.vlan': '10',
      },
    });
    // A bridge with a single port (a bare uuid), and an untagged port.
    assert.deepEqual(parseOvsPortTables(ovsTables({ b1: ['p1'] }, [['p1', map([])]])).get('p1'), { name: 'p1', bridge: 'b1', externalIds: {} });
    assert.equal(rows.size, 6);
  });

  void test('a port on no bridge; nothing printed', () => {
    const rows = parseOvsPortTables(ovsTables({}, [['lonely', map([['pipework.interface', 'lonely']])]]));
    assert.deepEqual(rows.get('lonely'), { name: 'lonely', externalIds: { 'pipework.interface': 'lonely' } });
    assert.deepEqual(parseOvsPortTables(''), new Map());
  });
});

void describe('staleOvsRows', () => {
  void test('the minimal sample: a pipework row whose device is gone', () => {
    assert.deepEqual(stale(MINIMAL, () => false), [
      { port: 'pwv1', bridge: 'ovs0', ids: { 'pipework.bridge': 'ovs0', 'pipework.interface': 'pwv1' } },
    ]);
    // Its device still exists: not stale.
    assert.deepEqual(stale(MINIMAL, (n) => n === 'pwv1'), []);
  });

  void test('only pipework rows whose device is gone, with every external-id', () => {
    const rows = stale(BUSY, exists);
    assert.deepEqual(rows.map((p) => [p.port, p.bridge]), [['veth1pl4242', 'ovsbr0'], ['pwv0123456789ab', 'ovs7']]);
    assert.equal(rows[0]!.ids['pipework.containername'], '/web');
    assert.equal(rows[0]!.ids['pipework.nspid'], '4242');
    assert.equal(rows[0]!.ids['pipework.vlan'], '10');
    assert.equal(Object.keys(rows[0]!.ids).length, 6);
  });

  void test('pipework\'s rows carry pipework.interface; the bridge comes from pipework.bridge, or the bridge that has the port', () => {
    const json = ovsTables({ ovs0: ['a2'] }, [
      // On no bridge, and no pipework.bridge: nothing to remove it from.
      ['a', map([['pipework.interface', 'a']])],
      ['a2', map([['pipework.interface', 'a2']])],
      // Not pipework's: no pipework.interface.
      ['b', map([['pipework.bridge', 'ovs0']])],
    ]);
    assert.deepEqual(stale(json, () => false), [{ port: 'a2', bridge: 'ovs0', ids: { 'pipework.interface': 'a2' } }]);
  });

  void test('rows of an unexpected shape are skipped, not fatal', () => {
    const json = ovsTables({ ovs0: ['c', 'd', 'e'] }, [
      [['uuid', '0b8a7f6e-1111-2222-3333-444455556666'], map([['pipework.bridge', 'x'], ['pipework.interface', 'x']])],
      ['c', ['set', []]],
      ['d', undefined],
      ['e', map([['pipework.bridge', 'ovs0'], ['pipework.interface', 'e']])],
    ]);
    assert.deepEqual(stale(json, () => false).map((p) => p.port), ['e']);
    assert.deepEqual(stale(ovsTables({}, []), () => false), []);
  });

  void test('staleOvsPorts: one bounded ovs-vsctl call when ovsdb runs here, none when it does not', async () => {
    const runner = new FakeRunner(() => ({ code: 0, stdout: MINIMAL }));
    const found = await staleOvsPorts(runner);
    if (existsSync(`${OVS_RUN_DIR}/db.sock`)) {
      assert.deepEqual(runner.calls.map((c) => c.argv), [[
        'ovs-vsctl', '--timeout=5', '--format=json',
        '--', '--columns=name,ports', 'list', 'Bridge',
        '--', '--columns=_uuid,name,tag', 'list', 'Port',
        '--', '--columns=name,external_ids', 'list', 'Interface',
      ]]);
      // pwv1 has no device on this machine.
      assert.deepEqual(found.map((p) => p.port), existsSync('/sys/class/net/pwv1') ? [] : ['pwv1']);
      // ovs-vsctl failing, or printing something else: nothing stale rather than an error.
      assert.deepEqual(await staleOvsPorts(new FakeRunner(() => ({ code: 1, stderr: 'ovs-vsctl: database connection failed\n' }))), []);
      assert.deepEqual(await staleOvsPorts(new FakeRunner(() => ({ code: 0, stdout: 'not json\n' }))), []);
    } else {
      assert.deepEqual(runner.calls, []);
      assert.deepEqual(found, []);
    }
  });
});

const PHYS: AttachRecord = {
  role: 'guest', guest: 'docker:web', nsInode: 4026532999, guestIf: 'eth1', hostIf: 'eno2', hostKind: 'phys', address: '10.0.0.2/24', origName: 'eno2',
};

void describe('returnedNics: what pipework kept of a NIC it moved in, found on the host again', () => {
  const ENO3: AttachRecord = { ...PHYS, guestIf: 'eth2', hostIf: 'eno3', origName: 'eno3', origMac: '52:54:00:00:00:03', mac: '02:42:ac:11:00:03' };
  const VLAN: AttachRecord = { ...PHYS, guestIf: 'eth3', hostIf: 'eno4', origName: 'eno4.7', vlanIf: 'eno4.7', vlan: 7, vlanMade: true };
  const KEPT = new Map<string, Kept>([
    ['4026532999-eth1.json', { record: PHYS, mac: '52:54:00:00:00:02' }],
    ['4026532999-eth2.json', { record: ENO3, mac: '02:42:ac:11:00:03' }],
    ['4026532999-eth3.json', { record: VLAN, mac: '52:54:00:00:00:04' }],
    // Its guest still lives: the NIC is not on the host.
    ['4026533000-eth1.json', { record: { ...PHYS, nsInode: 4026533000, hostIf: 'eno5', origName: 'eno5' }, mac: '52:54:00:00:00:05' }],
  ]);
  /** `ip -json -details link show` on the host, cut to what matters. */
  const HOST_LINKS = [
    { ifname: 'lo', address: '00:00:00:00:00:00' },
    { ifname: 'eno1', ifalias: 'uplink to rack 4', address: '52:54:00:00:00:01' },
    // Given back by a dead guest: the kernel kept the guest-side name; its alias was the guest's to rewrite.
    { ifname: 'eth1', ifalias: encodeRecord({ ...PHYS, origName: 'eth0', origMac: '02:00:00:00:00:66' }), address: '52:54:00:00:00:02' },
    // Given back under devN (eth2 was taken on the host), with no alias left.
    { ifname: 'dev7', address: '02:42:ac:11:00:03' },
    // A VLAN sub-interface pipework made and moved in, back beside its NIC (same MAC): the one named as in the guest.
    { ifname: 'eno4', address: '52:54:00:00:00:04' },
    { ifname: 'eth3', address: '52:54:00:00:00:04' },
    // A guest-side record on a host link that pipework kept nothing for: not a NIC it gave.
    { ifname: 'eth7', ifalias: encodeRecord({ ...PHYS, guestIf: 'eth7', origName: 'eth0' }), address: '52:54:00:00:00:07' },
  ];

  void test('found by MAC, with what was kept (never what the device carries)', () => {
    const nics = returnedNics(HOST_LINKS, KEPT);
    assert.deepEqual(nics.map((n) => [n.link, n.key]), [['eth1', '4026532999-eth1.json'], ['dev7', '4026532999-eth2.json'], ['eth3', '4026532999-eth3.json']]);
    assert.deepEqual(nics[0]!.record, PHYS);
    assert.equal(nics[1]!.record.origMac, '52:54:00:00:00:03');
  });

  void test('nothing kept, or nothing given back: nothing', () => {
    assert.deepEqual(returnedNics(HOST_LINKS, new Map()), []);
    assert.deepEqual(returnedNics([{ ifname: 'eno1', address: '52:54:00:00:00:01' }], KEPT), []);
  });

  void test('given back: its own name and MAC, its VLAN mark, then what was kept is forgotten', () => {
    assert.deepEqual(planReturnedNic('dev7', ENO3, 'k2').map((s) => s.action), [
      { kind: 'ip', place: 'host', args: ['link', 'set', 'dev', 'dev7', 'name', 'eno3', 'alias', ''] },
      { kind: 'ip', place: 'host', args: ['link', 'set', 'dev', 'eno3', 'address', '52:54:00:00:00:03'] },
      { kind: 'keep', place: 'host', key: 'k2', text: null },
    ]);
    assert.deepEqual(planReturnedNic('eth3', VLAN, 'k3').map((s) => s.action), [
      { kind: 'ip', place: 'host', args: ['link', 'set', 'dev', 'eth3', 'name', 'eno4.7', 'alias', VLAN_MARK] },
      { kind: 'ip', place: 'host', args: ['link', 'del', 'dev', 'eno4.7'], onlyIfVlanUnused: 'eno4.7' },
      { kind: 'keep', place: 'host', key: 'k3', text: null },
    ]);
    // Already under its own name: only the record goes.
    assert.deepEqual(planReturnedNic('eno2', PHYS, 'k1')[0]!.action, { kind: 'ip', place: 'host', args: ['link', 'set', 'dev', 'eno2', 'alias', ''] });
  });
});

void describe('selectStale', () => {
  const port = (ids: Record<string, string>): StaleOvsPort => ({ port: 'p', bridge: 'b', ids: { 'pipework.interface': 'p', 'pipework.bridge': 'b', ...ids } });
  const WEB = port({ 'pipework.containerid': '4f0c3a2b1d9e5f6a', 'pipework.containername': '/web', 'pipework.nspid': '4242' });
  type Entry = StaleOvsPort | { record: AttachRecord } | { netns: string; path: string };
  /** Does the guest written as `text` (undefined: every dead guest) pick this entry? */
  const matches = (text: string | undefined, entry: Entry): boolean => selectStale(text === undefined ? undefined : parseGuestRef(text), [entry]).length === 1;

  void test('no guest: everything matches', () => {
    assert.equal(matches(undefined, WEB), true);
    assert.equal(matches(undefined, { record: PHYS }), true);
    const all: Entry[] = [WEB, { record: PHYS }, { netns: 'blue', path: '/etc/netns/blue/resolv.conf' }];
    assert.deepEqual(selectStale(undefined, all), all);
  });

  void test('OVS rows: by container name, container id (or a prefix of it), or PID', () => {
    assert.equal(matches('web', WEB), true);
    assert.equal(matches('4f0c3a2b1d9e5f6a', WEB), true);
    assert.equal(matches('4f0c3a2b1d9e', WEB), true);
    assert.equal(matches('4242', WEB), true);
    assert.equal(matches('db', WEB), false);
    // A leading / is dropped, as docker inspect prints names with one.
    assert.equal(matches('/web', WEB), true);
    assert.equal(matches('424', WEB), false);
    assert.equal(matches('web', port({})), false);
  });

  void test('rows with pipework.guest (a guest without container or PID): as written, or its kind:name form', () => {
    const BLUE = port({ 'pipework.guest': 'netns:blue' });
    assert.equal(matches('netns:blue', BLUE), true);
    assert.equal(matches('blue', BLUE), true);
    assert.equal(matches('lue', BLUE), false);
    assert.equal(matches('netns:red', BLUE), false);
    assert.equal(matches('docker:blue', BLUE), false);
    // It does not hide the classic ids.
    assert.equal(matches('4242', port({ 'pipework.guest': 'netns:blue', 'pipework.nspid': '4242' })), true);
  });

  void test('records: as the user wrote the guest, or its kind:name form', () => {
    assert.equal(matches('docker:web', { record: PHYS }), true);
    assert.equal(matches('web', { record: PHYS }), true);
    assert.equal(matches('eb', { record: PHYS }), false);
    assert.equal(matches('db', { record: PHYS }), false);
    assert.equal(matches('web', { record: { ...PHYS, guest: 'netns:web' } }), true);
    // A record whose guest is not known matches only "everything".
    assert.equal(matches('web', { record: { ...PHYS, guest: '?' } }), false);
  });

  void test('a guest named with its kind matches only that kind; a bare name matches any kind', () => {
    const of = (guest: string): Entry => ({ record: { ...PHYS, guest } });
    for (const other of ['podman:web', 'lxc:web', 'netns:web']) {
      assert.equal(matches('docker:web', of(other)), false, other);
      assert.equal(matches('web', of(other)), true, other);
    }
    assert.equal(matches('podman:web', of('podman:web')), true);
    assert.equal(matches('pid:4242', of('pid:4242')), true);
    assert.equal(matches('pid:4242', of('pid:42420')), false);
    const entries = ['docker:web', 'podman:web', 'lxc:web', 'netns:web', 'docker:db'].map(of);
    assert.deepEqual(selectStale(parseGuestRef('docker:web'), entries), [entries[0]]);
    assert.deepEqual(selectStale(parseGuestRef('web'), entries), entries.slice(0, 4));
  });

  void test('OVS rows match the guest written with its kind prefix too (docker:web, pid:4242)', () => {
    assert.equal(matches('docker:web', WEB), true);
    // The classic ids do not say which runtime made the container.
    assert.equal(matches('podman:web', WEB), true);
    assert.equal(matches('pid:4242', WEB), true);
    // But they name no LXC container or netns.
    assert.equal(matches('lxc:web', WEB), false);
    assert.equal(matches('netns:web', WEB), false);
    // pipework.guest is exact.
    assert.equal(matches('podman:blue', port({ 'pipework.guest': 'docker:blue', 'pipework.containername': '/blue' })), false);
  });

  void test('resolv.conf files: by the netns they were written for', () => {
    const conf: Entry = { netns: 'blue', path: '/etc/netns/blue/resolv.conf' };
    assert.equal(matches('blue', conf), true);
    assert.equal(matches('netns:blue', conf), true);
    assert.equal(matches('docker:blue', conf), false);
    assert.equal(matches('red', conf), false);
  });

  void test('a container id prefix counts only when nothing matches by name', () => {
    const byName = port({ 'pipework.containername': '/cafe', 'pipework.containerid': '0000aaaa' });
    const byId = port({ 'pipework.containername': '/other', 'pipework.containerid': 'cafe1234' });
    assert.deepEqual(selectStale(parseGuestRef('cafe'), [byName, byId]), [byName]);
    assert.deepEqual(selectStale(parseGuestRef('cafe'), [byId]), [byId]);
    assert.deepEqual(selectStale(parseGuestRef('docker:cafe'), [byId]), [byId]);
    // Not a hex word, or a kind that has no container ids: no prefix.
    assert.deepEqual(selectStale(parseGuestRef('caf-e'), [byId]), []);
    assert.deepEqual(selectStale(parseGuestRef('netns:cafe'), [byId]), []);
  });

  void test('a prefix of more than one dead container\'s id is ambiguous; several rows of one container are not', () => {
    const a = port({ 'pipework.containerid': 'beef1111aaaabbbbcccc' });
    const b = port({ 'pipework.containerid': 'beef2222aaaabbbbcccc' });
    assertThrows(() => selectStale(parseGuestRef('beef'), [a, b]), ConflictError, "'beef'", 'beef1111aaaa', 'beef2222aaaa', 'give more of it');
    assert.deepEqual(selectStale(parseGuestRef('beef1'), [a, b]), [a]);
    const a2 = { ...a, port: 'p2' };
    assert.deepEqual(selectStale(parseGuestRef('beef1'), [a, a2, b]), [a, a2]);
  });
});

void describe('planStaleCleanup', () => {
  const AGENT = ['/usr/bin/node', '/opt/pipework/build/src/dhcp/agent.js'];

  void test('a del-port per stale row, then the stale resolv.conf files', () => {
    const ports = stale(BUSY, exists);
    const steps = planStaleCleanup([...ports, { port: 'x;y z', bridge: 'ovs7', ids: {} }], [{ path: '/etc/netns/blue/resolv.conf', netns: 'blue' }], AGENT);
    assert.deepEqual(steps.map((s) => s.action), [
      { kind: 'exec', place: 'host', argv: ['ovs-vsctl', '--timeout=10', '--if-exists', 'del-port', 'ovsbr0', 'veth1pl4242'] },
      { kind: 'exec', place: 'host', argv: ['ovs-vsctl', '--timeout=10', '--if-exists', 'del-port', 'ovs7', 'pwv0123456789ab'] },
      // (A row whose name is no interface name is left alone.)
      // Removed by the DHCP agent, which checks it is pipework's first.
      { kind: 'exec', place: 'host', argv: [...AGENT, 'stop', '--stale-dns', '/etc/netns/blue/resolv.conf'] },
    ]);
    assert.ok(steps[2]!.title.includes('/etc/netns/blue/resolv.conf') && steps[2]!.title.includes('blue'), steps[2]!.title);
    assert.ok(steps.every((s) => s.undo.length === 0 && s.title.length > 0));
    assert.ok(steps[0]!.title.includes('veth1pl4242') && steps[0]!.title.includes('ovsbr0'));
  });

  void test('nothing stale: no steps', () => {
    assert.deepEqual(planStaleCleanup([], [], AGENT), []);
  });
});

void describe('staleResolvConfs', () => {
  let dir = '';
  const mark = (inode?: number) => `# Written by pipework from the DHCP lease on eth1 (udhcpc${inode !== undefined ? `, netns ${inode}` : ''})\nnameserver 10.0.0.1\n`;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'pw-unit-netns-'));
    mkdirSync(join(dir, 'run'));
    // Named namespaces that exist: a file per name (its inode stands for the namespace's).
    for (const n of ['live', 'same', 'plain', 'other']) writeFileSync(join(dir, 'run', n), '');
    const files: Record<string, string> = {
      gone: mark(123),
      live: mark(),
      same: mark(statSync(join(dir, 'run', 'same')).ino),
      other: mark(statSync(join(dir, 'run', 'same')).ino),
      plain: 'nameserver 192.168.1.1\n',
      gone2: '# Written by someone else\n',
    };
    for (const [n, text] of Object.entries(files)) {
      mkdirSync(join(dir, 'etc', n), { recursive: true });
      writeFileSync(join(dir, 'etc', n, 'resolv.conf'), text);
    }
    mkdirSync(join(dir, 'etc', 'empty'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  void test('pipework\'s files whose netns is gone, or is another namespace of that name now', () => {
    const found = staleResolvConfs(join(dir, 'etc'), join(dir, 'run')).sort((x, y) => x.netns.localeCompare(y.netns));
    assert.deepEqual(found, [
      { path: join(dir, 'etc', 'gone', 'resolv.conf'), netns: 'gone' },
      { path: join(dir, 'etc', 'other', 'resolv.conf'), netns: 'other' },
    ]);
  });

  void test('no /etc/netns: nothing', () => {
    assert.deepEqual(staleResolvConfs(join(dir, 'nowhere'), join(dir, 'run')), []);
  });
});
