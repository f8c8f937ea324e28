// `pipework ls` from `ip -json -details` output, and the --json shapes of records and plans.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { entriesFrom, formatTable, staleOvsEntry } from '../../src/commands/ls.js';
import { planJson, recordJson } from '../../src/commands/output.js';
import { parseLinks } from '../../src/guest/facts.js';
import { staticHostFacts } from '../../src/host/facts.js';
import { encodeRecord, type AttachRecord } from '../../src/model/record.js';
import { planAttach } from '../../src/plan/attach.js';
import { attachRequest, bridge, guestFacts } from './fakes.js';

const GUEST_ETH1: AttachRecord = {
  role: 'guest', guest: 'docker:c1', nsInode: 4026532999, guestIf: 'eth1', hostIf: 'br0', hostKind: 'bridge',
  localIf: 'veth1pl4242', address: '10.0.0.2/24', gateway: '10.0.0.1',
};
const GUEST_ETH3: AttachRecord = {
  role: 'guest', guest: 'docker:c1', nsInode: 4026532999, guestIf: 'eth3', hostIf: 'br1', hostKind: 'bridge', localIf: 'veth3pl4242',
};
const HOST_BLUE: AttachRecord = {
  role: 'host', guest: 'netns:blue', nsInode: 4026533111, guestIf: 'eth5', hostIf: 'br0', hostKind: 'bridge',
  localIf: 'pwv0123456789ab', mac: '02:00:00:aa:bb:cc',
};

const lifetimes = { valid_life_time: 4294967295, preferred_life_time: 4294967295 };

/** `ip -json -details addr show` inside a Docker guest with two pipework interfaces (iproute2 6.1). */
const GUEST_ADDRS = [
  {
    ifindex: 1, ifname: 'lo', flags: ['LOOPBACK', 'UP', 'LOWER_UP'], mtu: 65536, qdisc: 'noqueue', operstate: 'UNKNOWN', group: 'default',
    txqlen: 1000, link_type: 'loopback', address: '00:00:00:00:00:00', broadcast: '00:00:00:00:00:00', promiscuity: 0, min_mtu: 0, max_mtu: 0,
    num_tx_queues: 1, num_rx_queues: 1, gso_max_size: 65536, gso_max_segs: 65535,
    addr_info: [
      { family: 'inet', local: '127.0.0.1', prefixlen: 8, scope: 'host', label: 'lo', ...lifetimes },
      { family: 'inet6', local: '::1', prefixlen: 128, scope: 'host', ...lifetimes },
    ],
  },
  {
    ifindex: 7, link_index: 8, ifname: 'eth0', flags: ['BROADCAST', 'MULTICAST', 'UP', 'LOWER_UP'], mtu: 1500, qdisc: 'noqueue',
    operstate: 'UP', group: 'default', link_type: 'ether', address: '02:42:ac:11:00:02', broadcast: 'ff:ff:ff:ff:ff:ff', link_netnsid: 0,
    promiscuity: 0, linkinfo: { info_kind: 'veth' },
    addr_info: [{ family: 'inet', local: '172.17.0.2', prefixlen: 16, broadcast: '172.17.255.255', scope: 'global', label: 'eth0', ...lifetimes }],
  },
  {
    ifindex: 9, link_index: 10, ifname: 'eth1', ifalias: encodeRecord(GUEST_ETH1), flags: ['BROADCAST', 'MULTICAST', 'UP', 'LOWER_UP'], mtu: 1500,
    qdisc: 'noqueue', operstate: 'UP', group: 'default', link_type: 'ether', address: '02:42:ac:11:00:09', broadcast: 'ff:ff:ff:ff:ff:ff',
    link_netnsid: 0, promiscuity: 0, linkinfo: { info_kind: 'veth' },
    addr_info: [
      { family: 'inet', local: '10.0.0.2', prefixlen: 24, broadcast: '10.0.0.255', scope: 'global', label: 'eth1', ...lifetimes },
      { family: 'inet6', local: '2001:db8::2', prefixlen: 64, scope: 'global', ...lifetimes },
      { family: 'inet6', local: 'fe80::42:acff:fe11:9', prefixlen: 64, scope: 'link', ...lifetimes },
    ],
  },
  {
    // A macvlan the administrator named: a foreign alias.
    ifindex: 11, link_index: 2, ifname: 'eth2', ifalias: 'uplink to rack 4', flags: ['BROADCAST', 'MULTICAST', 'UP', 'LOWER_UP'], mtu: 1500,
    qdisc: 'noqueue', operstate: 'UP', address: '02:42:ac:11:00:0a', linkinfo: { info_kind: 'macvlan' },
    addr_info: [{ family: 'inet', local: '192.168.7.2', prefixlen: 24, scope: 'global', label: 'eth2', ...lifetimes }],
  },
  {
    ifindex: 13, link_index: 14, ifname: 'eth3', ifalias: encodeRecord(GUEST_ETH3), flags: ['BROADCAST', 'MULTICAST'], mtu: 1500, qdisc: 'noop',
    operstate: 'DOWN', address: '02:42:ac:11:00:0b', linkinfo: { info_kind: 'veth' }, addr_info: [],
  },
  {
    // A host end's record inside a guest (a pair plumbed between two guests, say): not this guest's interface.
    ifindex: 15, ifname: 'eth4', ifalias: encodeRecord({ ...GUEST_ETH1, role: 'host', guestIf: 'eth9' }), flags: ['UP'], operstate: 'UP',
    address: '02:42:ac:11:00:0c', addr_info: [],
  },
];

/** `ip -json -details link show` on the host. */
const HOST_LINKS = [
  { ifindex: 1, ifname: 'lo', flags: ['LOOPBACK', 'UP', 'LOWER_UP'], mtu: 65536, operstate: 'UNKNOWN', link_type: 'loopback', address: '00:00:00:00:00:00' },
  {
    ifindex: 2, ifname: 'eno1', ifalias: 'uplink to rack 4', flags: ['BROADCAST', 'MULTICAST', 'UP', 'LOWER_UP'], mtu: 1500, operstate: 'UP',
    link_type: 'ether', address: '52:54:00:12:34:56',
  },
  {
    ifindex: 3, ifname: 'br0', flags: ['BROADCAST', 'MULTICAST', 'UP', 'LOWER_UP'], mtu: 1500, operstate: 'UP', address: '02:00:00:00:00:01',
    linkinfo: { info_kind: 'bridge', info_data: { stp_state: 0 } },
  },
  {
    ifindex: 8, link_index: 7, ifname: 'veth5f3e2a1', master: 'docker0', flags: ['BROADCAST', 'MULTICAST', 'UP', 'LOWER_UP'], mtu: 1500,
    operstate: 'UP', address: 'a2:1b:3c:4d:5e:6f', link_netnsid: 0, linkinfo: { info_kind: 'veth', info_slave_kind: 'bridge' },
  },
  {
    ifindex: 10, link_index: 9, ifname: 'veth1pl4242', ifalias: encodeRecord({ ...GUEST_ETH1, role: 'host' }), master: 'br0',
    flags: ['BROADCAST', 'MULTICAST', 'UP', 'LOWER_UP'], mtu: 1500, operstate: 'UP', address: 'c6:11:22:33:44:55', link_netnsid: 0,
    linkinfo: { info_kind: 'veth', info_slave_kind: 'bridge' },
  },
  {
    ifindex: 21, link_index: 2, ifname: 'pwv0123456789ab', ifalias: encodeRecord(HOST_BLUE), master: 'br0',
    flags: ['NO-CARRIER', 'BROADCAST', 'MULTICAST', 'UP'], mtu: 1500, operstate: 'LOWERLAYERDOWN', address: 'c6:aa:bb:cc:dd:ee', link_netnsid: 1,
    linkinfo: { info_kind: 'veth', info_slave_kind: 'bridge' },
  },
  {
    // A guest end's record seen on the host (a guest sharing the host's namespace): not a host end.
    ifindex: 30, ifname: 'eth7', ifalias: encodeRecord({ ...GUEST_ETH1, guestIf: 'eth7' }), flags: ['UP'], operstate: 'UP', address: '02:00:00:00:00:07',
  },
];

void describe('entriesFrom', () => {
  void test("the host's pipework ends only, with state and MAC; no addresses from link show", () => {
    const entries = entriesFrom(HOST_LINKS, 'host');
    assert.deepEqual(entries, [
      { record: { ...GUEST_ETH1, role: 'host' }, link: 'veth1pl4242', state: 'UP', mac: 'c6:11:22:33:44:55' },
      { record: HOST_BLUE, link: 'pwv0123456789ab', state: 'LOWERLAYERDOWN', mac: 'c6:aa:bb:cc:dd:ee' },
    ]);
    assert.ok(entries.every((e) => !('addresses' in e)));
  });

  void test("a guest's pipework interfaces, with the addresses really on them (not link-local)", () => {
    assert.deepEqual(entriesFrom(GUEST_ADDRS, 'guest'), [
      { record: GUEST_ETH1, link: 'eth1', state: 'UP', mac: '02:42:ac:11:00:09', addresses: ['10.0.0.2/24', '2001:db8::2/64'] },
      { record: GUEST_ETH3, link: 'eth3', state: 'DOWN', mac: '02:42:ac:11:00:0b', addresses: [] },
    ]);
  });

  void test('links without an alias, with a foreign alias, or with the other role are left out', () => {
    const names = (role: 'host' | 'guest', links: Parameters<typeof entriesFrom>[0]) => entriesFrom(links, role).map((e) => e.link);
    assert.deepEqual(names('guest', HOST_LINKS), ['eth7']);
    assert.deepEqual(names('host', GUEST_ADDRS), ['eth4']);
    assert.deepEqual(entriesFrom([], 'host'), []);
    assert.deepEqual(entriesFrom([{ ifname: 'x', ifalias: '' }, { ifname: 'y', ifalias: 'pipework/1;r=host' }], 'host'), []);
  });

  void test('a link without operstate or address', () => {
    assert.deepEqual(entriesFrom([{ ifname: 'v0', ifalias: encodeRecord(HOST_BLUE) }], 'host'), [{ record: HOST_BLUE, link: 'v0', state: 'UNKNOWN' }]);
  });
});

void describe('formatTable', () => {
  void test('host ends: aligned columns, - for what is not there, the recorded MAC', () => {
    assert.equal(formatTable(entriesFrom(HOST_LINKS, 'host')), [
      'GUEST       GUESTIF  HOSTIF  KIND    LOCALIF          VLAN  ADDRESS      GATEWAY   MAC                STATE',
      'docker:c1   eth1     br0     bridge  veth1pl4242      -     10.0.0.2/24  10.0.0.1  -                  UP',
      'netns:blue  eth5     br0     bridge  pwv0123456789ab  -     -            -         02:00:00:aa:bb:cc  LOWERLAYERDOWN',
      '',
    ].join('\n'));
  });

  void test('guest interfaces: the addresses and the MAC they have now', () => {
    assert.equal(formatTable(entriesFrom(GUEST_ADDRS, 'guest')), [
      'GUEST      GUESTIF  HOSTIF  KIND    LOCALIF      VLAN  ADDRESS                     GATEWAY   MAC                STATE',
      'docker:c1  eth1     br0     bridge  veth1pl4242  -     10.0.0.2/24,2001:db8::2/64  10.0.0.1  02:42:ac:11:00:09  UP',
      'docker:c1  eth3     br1     bridge  veth3pl4242  -     -                           -         02:42:ac:11:00:0b  DOWN',
      '',
    ].join('\n'));
  });

  void test('no trailing spaces; a record without its guest shows ?', () => {
    const out = formatTable([{ record: { ...HOST_BLUE, guest: '?' }, link: 'v0', state: 'UP' }]);
    for (const line of out.split('\n')) assert.equal(line, line.trimEnd());
    assert.ok(out.split('\n')[1]!.startsWith('?     '), out);
  });

  void test('no entries: the header alone', () => {
    assert.equal(formatTable([]), 'GUEST  GUESTIF  HOSTIF  KIND  LOCALIF  VLAN  ADDRESS  GATEWAY  MAC  STATE\n');
  });

  void test('the VLAN column, and the host kinds without a host end', () => {
    const ovs: AttachRecord = { ...GUEST_ETH1, hostIf: 'ovsbr0', hostKind: 'ovs', vlan: 10 };
    const macvlan: AttachRecord = { role: 'guest', guest: 'docker:c1', nsInode: 1, guestIf: 'eth2', hostIf: 'eno1', hostKind: 'macvlan', vlan: 4094, vlanIf: 'eno1.4094' };
    const dummy: AttachRecord = { role: 'guest', guest: 'docker:c1', nsInode: 1, guestIf: 'eth3', hostIf: 'dummy0', hostKind: 'dummy', address: '10.9.0.2/24' };
    assert.equal(formatTable([
      { record: ovs, link: 'eth1', state: 'UP', mac: '02:42:ac:11:00:09' },
      { record: macvlan, link: 'eth2', state: 'UP' },
      { record: dummy, link: 'eth3', state: 'UNKNOWN', mac: '02:42:ac:11:00:0c' },
    ]), [
      'GUEST      GUESTIF  HOSTIF  KIND     LOCALIF      VLAN  ADDRESS      GATEWAY   MAC                STATE',
      'docker:c1  eth1     ovsbr0  ovs      veth1pl4242  10    10.0.0.2/24  10.0.0.1  02:42:ac:11:00:09  UP',
      'docker:c1  eth2     eno1    macvlan  -            4094  -            -         -                  UP',
      'docker:c1  eth3     dummy0  dummy    -            -     10.9.0.2/24  -         02:42:ac:11:00:0c  UNKNOWN',
      '',
    ].join('\n'));
  });
});

void describe('staleOvsEntry', () => {
  void test('a stale OVS row as an ls entry: the guest from the classic external-ids, the tag as VLAN', () => {
    const e = staleOvsEntry({
      port: 'veth1pl4242', bridge: 'ovsbr0',
      ids: {
        'pipework.interface': 'veth1pl4242', 'pipework.bridge': 'ovsbr0', 'pipework.containerid': '4f0c3a2b1d9e',
        'pipework.containername': '/web', 'pipework.nspid': '4242', 'pipework.vlan': '10',
      },
    });
    assert.deepEqual(e.record, { role: 'host', guest: 'web', nsInode: 0, guestIf: '?', hostIf: 'ovsbr0', hostKind: 'ovs', localIf: 'veth1pl4242', vlan: 10 });
    assert.equal(e.link, 'veth1pl4242');
    assert.ok(e.state.startsWith('STALE') && e.state.includes('pipework del --stale'), e.state);
  });

  void test('pipework.guest (a guest the classic ids cannot name) comes first', () => {
    const e = staleOvsEntry({ port: 'pwv0123456789ab', bridge: 'ovs7', ids: { 'pipework.interface': 'pwv0123456789ab', 'pipework.bridge': 'ovs7', 'pipework.guest': 'netns:blue' } });
    assert.equal(e.record.guest, 'netns:blue');
    assert.equal(e.record.vlan, undefined);
  });

  void test('without a container name: the id, then pid:<nspid>, then ?', () => {
    const guest = (ids: Record<string, string>) => staleOvsEntry({ port: 'p', bridge: 'b', ids: { 'pipework.interface': 'p', 'pipework.bridge': 'b', ...ids } }).record.guest;
    assert.equal(guest({ 'pipework.containerid': '4f0c3a2b1d9e', 'pipework.nspid': '7' }), '4f0c3a2b1d9e');
    assert.equal(guest({ 'pipework.nspid': '7' }), 'pid:7');
    assert.equal(guest({}), '?');
  });
});

void describe('parseLinks', () => {
  void test('name, alias, kind, MAC and up from ip -json -details link show', () => {
    assert.deepEqual(parseLinks(GUEST_ADDRS), [
      { name: 'lo', up: true, mac: '00:00:00:00:00:00' },
      { name: 'eth0', up: true, kind: 'veth', mac: '02:42:ac:11:00:02' },
      { name: 'eth1', up: true, alias: encodeRecord(GUEST_ETH1), kind: 'veth', mac: '02:42:ac:11:00:09' },
      { name: 'eth2', up: true, alias: 'uplink to rack 4', kind: 'macvlan', mac: '02:42:ac:11:00:0a' },
      { name: 'eth3', up: false, alias: encodeRecord(GUEST_ETH3), kind: 'veth', mac: '02:42:ac:11:00:0b' },
      { name: 'eth4', up: true, alias: encodeRecord({ ...GUEST_ETH1, role: 'host', guestIf: 'eth9' }), mac: '02:42:ac:11:00:0c' },
    ]);
  });

  void test('an empty alias is no alias; missing flags mean down', () => {
    assert.deepEqual(parseLinks([{ ifname: 'x', ifalias: '' }]), [{ name: 'x', up: false }]);
  });
});

void describe('--json shapes', () => {
  void test('recordJson: the record without the role and the namespace inode', () => {
    assert.deepEqual(recordJson(GUEST_ETH1), {
      guest: 'docker:c1', guestIf: 'eth1', hostIf: 'br0', hostKind: 'bridge', localIf: 'veth1pl4242', address: '10.0.0.2/24', gateway: '10.0.0.1',
    });
    assert.deepEqual(recordJson(HOST_BLUE), {
      guest: 'netns:blue', guestIf: 'eth5', hostIf: 'br0', hostKind: 'bridge', localIf: 'pwv0123456789ab', mac: '02:00:00:aa:bb:cc',
    });
  });

  void test('planJson: title, where, and the command with the namespace as <netns>', () => {
    const plan = planAttach({
      request: attachRequest(['br0', 'c1', '10.0.0.2/24']),
      guestLabel: 'docker container c1 (pid 4242)',
      guestRef: 'docker:c1',
      guest: { pid: 4242, nsInode: 4026532999 },
      host: staticHostFacts([bridge('br0')]),
      guestFacts: guestFacts(),
      hasArping: true,
    });
    const json = planJson(plan);
    assert.equal(json.length, plan.steps.length);
    assert.deepEqual(json[0], {
      title: 'create veth pair veth1pl4242 (host) and eth1 (guest)',
      where: 'host',
      command: ['ip', 'link', 'add', 'name', 'veth1pl4242', 'mtu', '1500', 'type', 'veth', 'peer', 'name', 'eth1', 'mtu', '1500', 'netns', '<netns>'],
    });
    assert.deepEqual(json.at(-1), {
      title: 'announce 10.0.0.2 with a gratuitous ARP', where: 'guest', command: ['arping', '-c', '1', '-A', '-I', 'eth1', '10.0.0.2'],
    });
    assert.ok(!JSON.stringify(json).includes('/proc/self/fd'));
    // It is plain data.
    assert.deepEqual(JSON.parse(JSON.stringify(json)), json);
  });
});
