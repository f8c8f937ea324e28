// What dead guests leave on the host (OVS rows, NICs given back) and how `del --stale` cleans it.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { OVS_RUN_DIR } from '../../src/host/ovs-facts.js';
import { parseStaleOvs, planStaleCleanup, returnedNics, staleMatches, staleOvsPorts, type StaleOvsPort } from '../../src/host/stale.js';
import { encodeRecord, type AttachRecord } from '../../src/model/record.js';
import { FakeRunner } from './fakes.js';

/** `ovs-vsctl --format=json --columns=name,external_ids list Interface` as ovs-vsctl prints it (one line). */
const MINIMAL = '{"data":[["pwv1",["map",[["pipework.bridge","ovs0"],["pipework.interface","pwv1"]]]],["ovs0",["map",[]]]],"headings":["name","external_ids"]}';

/** A busier host: a live pipework port, two stale ones, a foreign port, the bridge's own interfaces. */
const BUSY = JSON.stringify({
  data: [
    ['veth1pl4242', ['map', [
      ['pipework.bridge', 'ovsbr0'], ['pipework.containerid', '4f0c3a2b1d9e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5b6c7d8e9f0a'],
      ['pipework.containername', '/web'], ['pipework.interface', 'veth1pl4242'], ['pipework.nspid', '4242'], ['pipework.vlan', '10'],
    ]]],
    ['veth1pl777', ['map', [
      ['pipework.bridge', 'ovsbr0'], ['pipework.containerid', 'c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2'],
      ['pipework.containername', '/db'], ['pipework.interface', 'veth1pl777'], ['pipework.nspid', '777'],
    ]]],
    ['pwv0123456789ab', ['map', [['pipework.bridge', 'ovs7'], ['pipework.interface', 'pwv0123456789ab']]]],
    ['tap5c2e9a1b-3f', ['map', [['attached-mac', 'fa:16:3e:11:22:33'], ['iface-id', '5c2e9a1b-3f4d-4e5f-8a9b-0c1d2e3f4a5b'], ['iface-status', 'active']]]],
    ['ovsbr0', ['map', []]],
    ['ovs7', ['map', []]],
  ],
  headings: ['name', 'external_ids'],
});

/** Devices that exist on this pretend host: the bridges, the live port, the foreign tap. */
const LIVE = new Set(['ovsbr0', 'ovs7', 'veth1pl777', 'tap5c2e9a1b-3f']);
const exists = (name: string): boolean => LIVE.has(name);

void describe('parseStaleOvs', () => {
  void test('the minimal sample: a pipework row whose device is gone', () => {
    assert.deepEqual(parseStaleOvs(MINIMAL, () => false), [
      { port: 'pwv1', bridge: 'ovs0', ids: { 'pipework.bridge': 'ovs0', 'pipework.interface': 'pwv1' } },
    ]);
    // Its device still exists: not stale.
    assert.deepEqual(parseStaleOvs(MINIMAL, (n) => n === 'pwv1'), []);
  });

  void test('only pipework rows (interface and bridge ids) whose device is gone, with every external-id', () => {
    const stale = parseStaleOvs(BUSY, exists);
    assert.deepEqual(stale.map((p) => [p.port, p.bridge]), [['veth1pl4242', 'ovsbr0'], ['pwv0123456789ab', 'ovs7']]);
    assert.equal(stale[0]!.ids['pipework.containername'], '/web');
    assert.equal(stale[0]!.ids['pipework.nspid'], '4242');
    assert.equal(stale[0]!.ids['pipework.vlan'], '10');
    assert.equal(Object.keys(stale[0]!.ids).length, 6);
  });

  void test('a row without pipework.bridge or pipework.interface is not pipework\'s', () => {
    const json = JSON.stringify({
      data: [
        ['a', ['map', [['pipework.interface', 'a']]]],
        ['b', ['map', [['pipework.bridge', 'ovs0']]]],
      ],
      headings: ['name', 'external_ids'],
    });
    assert.deepEqual(parseStaleOvs(json, () => false), []);
  });

  void test('rows of an unexpected shape are skipped, not fatal', () => {
    const json = JSON.stringify({
      data: [
        [['uuid', '0b8a7f6e-1111-2222-3333-444455556666'], ['map', [['pipework.bridge', 'x'], ['pipework.interface', 'x']]]],
        ['c', ['set', []]],
        ['d'],
        ['e', ['map', [['pipework.bridge', 'ovs0'], ['pipework.interface', 'e']]]],
      ],
      headings: ['name', 'external_ids'],
    });
    assert.deepEqual(parseStaleOvs(json, () => false).map((p) => p.port), ['e']);
    assert.deepEqual(parseStaleOvs('{"data":[],"headings":["name","external_ids"]}', () => false), []);
  });

  void test('staleOvsPorts: one bounded ovs-vsctl call when ovsdb runs here, none when it does not', async () => {
    const runner = new FakeRunner(() => ({ code: 0, stdout: `${MINIMAL}\n` }));
    const found = await staleOvsPorts(runner);
    if (existsSync(`${OVS_RUN_DIR}/db.sock`)) {
      assert.deepEqual(runner.calls.map((c) => c.argv), [['ovs-vsctl', '--timeout=10', '--format=json', '--columns=name,external_ids', 'list', 'Interface']]);
      // pwv1 has no device on this machine.
      assert.deepEqual(found.map((p) => p.port), existsSync('/sys/class/net/pwv1') ? [] : ['pwv1']);
      // ovs-vsctl failing: nothing stale rather than an error.
      assert.deepEqual(await staleOvsPorts(new FakeRunner(() => ({ code: 1, stderr: 'ovs-vsctl: database connection failed\n' }))), []);
    } else {
      assert.deepEqual(runner.calls, []);
      assert.deepEqual(found, []);
    }
  });
});

const PHYS: AttachRecord = {
  role: 'guest', guest: 'docker:web', nsInode: 4026532999, guestIf: 'eth1', hostIf: 'eno2', hostKind: 'phys', address: '10.0.0.2/24', origName: 'eno2',
};

void describe('returnedNics', () => {
  /** `ip -json -details link show` on the host, cut to what matters. */
  const HOST_LINKS = [
    { ifname: 'lo' },
    { ifname: 'eno1', ifalias: 'uplink to rack 4' },
    // Given back by a dead guest: the kernel kept the guest-side name.
    { ifname: 'eth1', ifalias: encodeRecord(PHYS) },
    // Given back under devN (eth2 was taken on the host).
    { ifname: 'dev7', ifalias: encodeRecord({ ...PHYS, guestIf: 'eth2', hostIf: 'eno3', origName: 'eno3', origMac: '52:54:00:00:00:03', mac: '02:42:ac:11:00:03' }) },
    // A live veth host end, and a guest-side bridge record (a guest sharing the host's namespace): not NICs.
    { ifname: 'veth1pl4242', ifalias: encodeRecord({ ...PHYS, role: 'host', hostKind: 'bridge', hostIf: 'br0', localIf: 'veth1pl4242' }) },
    { ifname: 'eth7', ifalias: encodeRecord({ ...PHYS, hostKind: 'macvlan', guestIf: 'eth7' }) },
    { ifname: 'x0', ifalias: 'pipework/1;garbage' },
  ];

  void test('host links carrying a guest-side phys record, with their name now', () => {
    const nics = returnedNics(HOST_LINKS);
    assert.deepEqual(nics.map((n) => n.link), ['eth1', 'dev7']);
    assert.deepEqual(nics[0]!.record, PHYS);
    assert.equal(nics[1]!.record.origName, 'eno3');
    assert.equal(nics[1]!.record.origMac, '52:54:00:00:00:03');
  });

  void test('nothing given back: nothing', () => {
    assert.deepEqual(returnedNics([]), []);
    assert.deepEqual(returnedNics([{ ifname: 'eno1' }, { ifname: 'eno2', ifalias: '' }]), []);
  });
});

void describe('staleMatches', () => {
  const port = (ids: Record<string, string>): StaleOvsPort => ({ port: 'p', bridge: 'b', ids: { 'pipework.interface': 'p', 'pipework.bridge': 'b', ...ids } });
  const WEB = port({ 'pipework.containerid': '4f0c3a2b1d9e5f6a', 'pipework.containername': '/web', 'pipework.nspid': '4242' });

  void test('no guest: everything matches', () => {
    assert.equal(staleMatches(undefined, WEB), true);
    assert.equal(staleMatches(undefined, { record: PHYS }), true);
  });

  void test('OVS rows: by container name, container id (or a prefix of it), or PID', () => {
    assert.equal(staleMatches('web', WEB), true);
    assert.equal(staleMatches('4f0c3a2b1d9e5f6a', WEB), true);
    assert.equal(staleMatches('4f0c3a2b1d9e', WEB), true);
    assert.equal(staleMatches('4242', WEB), true);
    assert.equal(staleMatches('db', WEB), false);
    assert.equal(staleMatches('/web', WEB), false);
    assert.equal(staleMatches('424', WEB), false);
    assert.equal(staleMatches('web', port({})), false);
  });

  void test('rows with pipework.guest (a guest without container or PID): as written, or its kind:name form', () => {
    const BLUE = port({ 'pipework.guest': 'netns:blue' });
    assert.equal(staleMatches('netns:blue', BLUE), true);
    assert.equal(staleMatches('blue', BLUE), true);
    assert.equal(staleMatches('lue', BLUE), false);
    assert.equal(staleMatches('netns:red', BLUE), false);
    // It does not hide the classic ids.
    assert.equal(staleMatches('4242', port({ 'pipework.guest': 'netns:blue', 'pipework.nspid': '4242' })), true);
  });

  void test('records: as the user wrote the guest, or its kind:name form', () => {
    assert.equal(staleMatches('docker:web', { record: PHYS }), true);
    assert.equal(staleMatches('web', { record: PHYS }), true);
    assert.equal(staleMatches('eb', { record: PHYS }), false);
    assert.equal(staleMatches('db', { record: PHYS }), false);
    assert.equal(staleMatches('web', { record: { ...PHYS, guest: 'netns:web' } }), true);
    // A record whose guest was dropped for length matches only "everything".
    assert.equal(staleMatches('web', { record: { ...PHYS, guest: '?' } }), false);
  });

  void test(
    'OVS rows match the guest written with its kind prefix too (docker:web, pid:4242), as records do',
    () => {
      const WEB_ROW = port({ 'pipework.containerid': '4f0c3a2b1d9e5f6a', 'pipework.containername': '/web', 'pipework.nspid': '4242' });
      assert.equal(staleMatches('docker:web', WEB_ROW), true);
      assert.equal(staleMatches('podman:web', WEB_ROW), true);
      assert.equal(staleMatches('pid:4242', WEB_ROW), true);
    },
  );
});

void describe('planStaleCleanup', () => {
  void test('a del-port per stale row, then each returned NIC renamed back and its record cleared', () => {
    const ports = parseStaleOvs(BUSY, exists);
    const nics = [
      { link: 'eth1', record: PHYS },
      { link: 'eno3', record: { ...PHYS, hostIf: 'eno3', origName: 'eno3' } },
      { link: 'dev9', record: { ...PHYS, origName: undefined } as AttachRecord },
    ];
    const steps = planStaleCleanup(ports, nics);
    assert.deepEqual(steps.map((s) => s.action), [
      { kind: 'exec', place: 'host', argv: ['ovs-vsctl', '--timeout=10', '--if-exists', 'del-port', 'ovsbr0', 'veth1pl4242'] },
      { kind: 'exec', place: 'host', argv: ['ovs-vsctl', '--timeout=10', '--if-exists', 'del-port', 'ovs7', 'pwv0123456789ab'] },
      { kind: 'ip', place: 'host', args: ['link', 'set', 'dev', 'eth1', 'name', 'eno2', 'alias', ''] },
      // Already under its own name: only the record goes.
      { kind: 'ip', place: 'host', args: ['link', 'set', 'dev', 'eno3', 'alias', ''] },
      // No recorded name: it keeps the one it has.
      { kind: 'ip', place: 'host', args: ['link', 'set', 'dev', 'dev9', 'alias', ''] },
    ]);
    assert.ok(steps.every((s) => s.undo.length === 0 && s.title.length > 0));
    assert.ok(steps[0]!.title.includes('veth1pl4242') && steps[0]!.title.includes('ovsbr0'));
    assert.ok(steps[2]!.title.includes('eth1') && steps[2]!.title.includes('eno2'));
  });

  void test('nothing stale: no steps', () => {
    assert.deepEqual(planStaleCleanup([], []), []);
  });
});
