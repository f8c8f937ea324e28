// `pipework ls` from `ip -json -details` output, and the --json shapes of records and plans.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { entriesFrom, guestDrift, staleEntry } from '../../src/engine/inventory.js';
import { driverFor } from '../../src/drivers/registry.js';

/** A dead Open vSwitch row as ls lists it: found by the OVS driver, as an entry. */
function staleOvsEntry(p: { port: string; bridge: string; ids: Record<string, string> }): ReturnType<typeof staleEntry> {
  const ovsPorts = new Map([[p.port, { name: p.port, bridge: p.bridge, externalIds: p.ids }]]);
  const [l] = driverFor('ovs').leftovers({ links: () => [], link: () => undefined, ovsPorts, kept: new Map() });
  assert.ok(l?.record !== undefined);
  return staleEntry({ ...l, record: l.record });
}
import { planAttach } from '../../src/engine/planner.js';
import { nsNaming, planJson } from '../../src/engine/print.js';
import { formatTable, stateText } from '../../src/front/cli/commands/ls.js';
import { recordJson } from '../../src/front/output.js';
import { parseLinks } from '../../src/guest/netstate.js';
import { encodeRecord, type AttachRecord } from '../../src/model/record.js';
import { attachContext, bridge, guestFacts } from './fakes.js';

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
      'GUEST       GUESTIF  HOSTIF  KIND    LOCALIF          VLAN  ADDRESS      GATEWAY   MAC                OWNER  STATE',
      'docker:c1   eth1     br0     bridge  veth1pl4242      -     10.0.0.2/24  10.0.0.1  -                  cli    UP',
      'netns:blue  eth5     br0     bridge  pwv0123456789ab  -     -            -         02:00:00:aa:bb:cc  cli    LOWERLAYERDOWN',
      '',
    ].join('\n'));
  });

  void test('guest interfaces: the addresses and the MAC they have now', () => {
    assert.equal(formatTable(entriesFrom(GUEST_ADDRS, 'guest')), [
      'GUEST      GUESTIF  HOSTIF  KIND    LOCALIF      VLAN  ADDRESS                     GATEWAY   MAC                OWNER  STATE',
      'docker:c1  eth1     br0     bridge  veth1pl4242  -     10.0.0.2/24,2001:db8::2/64  10.0.0.1  02:42:ac:11:00:09  cli    UP',
      'docker:c1  eth3     br1     bridge  veth3pl4242  -     -                           -         02:42:ac:11:00:0b  cli    DOWN',
      '',
    ].join('\n'));
  });

  void test('no trailing spaces; a record without its guest shows ?', () => {
    const out = formatTable([{ record: { ...HOST_BLUE, guest: '?' }, link: 'v0', state: 'UP' }]);
    for (const line of out.split('\n')) assert.equal(line, line.trimEnd());
    assert.ok(out.split('\n')[1]!.startsWith('?     '), out);
  });

  void test('no entries: the header alone', () => {
    assert.equal(formatTable([]), 'GUEST  GUESTIF  HOSTIF  KIND  LOCALIF  VLAN  ADDRESS  GATEWAY  MAC  OWNER  STATE\n');
  });

  void test('OWNER names who made it (cli when the record predates owners); STATE says what drifted', () => {
    const out = formatTable([
      { record: { ...GUEST_ETH1, owner: 'topology:lab' }, link: 'eth1', state: 'UP' },
      { record: GUEST_ETH3, link: 'eth3', state: 'UP', drift: ['veth3pl4242 is not a port of br1', 'host end veth3pl4242 is down'] },
    ]);
    const [header, first, second] = out.split('\n');
    const at = header!.indexOf('OWNER');
    assert.equal(first!.slice(at, at + 'topology:lab'.length), 'topology:lab');
    assert.ok(second!.slice(at).startsWith('cli '), second);
    assert.ok(second!.endsWith('UP, DRIFT (veth3pl4242 is not a port of br1; host end veth3pl4242 is down; re-run the attach to repair)'), second);
    assert.equal(stateText({ record: GUEST_ETH3, link: 'eth3', state: 'DOWN' }), 'DOWN');
    assert.equal(stateText({ record: GUEST_ETH3, link: 'eth3', state: 'DOWN', drift: [] }), 'DOWN');
  });

  void test('a guest interface missing a recorded address has drifted (DHCP ones are not judged)', () => {
    const [eth1] = entriesFrom(GUEST_ADDRS, 'guest');
    assert.deepEqual(guestDrift(eth1!), []);
    assert.deepEqual(guestDrift({ ...eth1!, addresses: ['2001:db8::2/64'] }), ['address 10.0.0.2/24 is missing']);
    assert.deepEqual(guestDrift({ ...eth1!, addresses: [], record: { ...GUEST_ETH1, address: undefined, dhcp: 'udhcpc' } }), []);
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
      'GUEST      GUESTIF  HOSTIF  KIND     LOCALIF      VLAN  ADDRESS      GATEWAY   MAC                OWNER  STATE',
      'docker:c1  eth1     ovsbr0  ovs      veth1pl4242  10    10.0.0.2/24  10.0.0.1  02:42:ac:11:00:09  cli    UP',
      'docker:c1  eth2     eno1    macvlan  -            4094  -            -         -                  cli    UP',
      'docker:c1  eth3     dummy0  dummy    -            -     10.9.0.2/24  -         02:42:ac:11:00:0c  cli    UNKNOWN',
      '',
    ].join('\n'));
  });
});

void describe('a dead Open vSwitch row in ls', () => {
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

  void test('pipework.owner (a port another owner made) is its owner', () => {
    const e = staleOvsEntry({ port: 'p', bridge: 'b', ids: { 'pipework.interface': 'p', 'pipework.bridge': 'b', 'pipework.nspid': '7', 'pipework.owner': '"topology:lab"' } });
    assert.equal(e.record.owner, 'topology:lab');
    assert.equal(staleOvsEntry({ port: 'p', bridge: 'b', ids: { 'pipework.interface': 'p' } }).record.owner, undefined);
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
  void test('name, alias, kind, MAC, up, MTU, root qdisc, addresses (not link-local), ifindex and peer from ip -json -details addr show', () => {
    assert.deepEqual(parseLinks(GUEST_ADDRS), [
      { name: 'lo', up: true, index: 1, mac: '00:00:00:00:00:00', mtu: 65536, qdisc: 'noqueue', addresses: ['127.0.0.1/8', '::1/128'] },
      { name: 'eth0', up: true, index: 7, peer: { index: 8, elsewhere: true }, kind: 'veth', mac: '02:42:ac:11:00:02', mtu: 1500, qdisc: 'noqueue', addresses: ['172.17.0.2/16'] },
      {
        name: 'eth1', up: true, index: 9, peer: { index: 10, elsewhere: true }, alias: encodeRecord(GUEST_ETH1), kind: 'veth', mac: '02:42:ac:11:00:09', mtu: 1500,
        qdisc: 'noqueue', addresses: ['10.0.0.2/24', '2001:db8::2/64'],
      },
      // (Its parent in this namespace: no link_netnsid.)
      {
        name: 'eth2', up: true, index: 11, peer: { index: 2, elsewhere: false }, alias: 'uplink to rack 4', kind: 'macvlan', mac: '02:42:ac:11:00:0a', mtu: 1500,
        qdisc: 'noqueue', addresses: ['192.168.7.2/24'],
      },
      { name: 'eth3', up: false, index: 13, peer: { index: 14, elsewhere: false }, alias: encodeRecord(GUEST_ETH3), kind: 'veth', mac: '02:42:ac:11:00:0b', mtu: 1500, qdisc: 'noop', addresses: [] },
      { name: 'eth4', up: true, index: 15, alias: encodeRecord({ ...GUEST_ETH1, role: 'host', guestIf: 'eth9' }), mac: '02:42:ac:11:00:0c', addresses: [] },
    ]);
  });

  void test('an empty alias is no alias; missing flags mean down', () => {
    assert.deepEqual(parseLinks([{ ifname: 'x', ifalias: '' }]), [{ name: 'x', up: false }]);
  });
});

void describe('--json shapes', () => {
  void test('recordJson: the record without the role and the namespace inode, with its owner', () => {
    assert.deepEqual(recordJson(GUEST_ETH1), {
      guest: 'docker:c1', guestIf: 'eth1', hostIf: 'br0', hostKind: 'bridge', localIf: 'veth1pl4242', address: '10.0.0.2/24', gateway: '10.0.0.1', owner: 'cli',
    });
    assert.deepEqual(recordJson(HOST_BLUE), {
      guest: 'netns:blue', guestIf: 'eth5', hostIf: 'br0', hostKind: 'bridge', localIf: 'pwv0123456789ab', mac: '02:00:00:aa:bb:cc', owner: 'cli',
    });
    assert.equal(recordJson({ ...HOST_BLUE, owner: 'cni:net1/abc/eth0' })['owner'], 'cni:net1/abc/eth0');
  });

  void test('planJson: title, where, and the command (argv, and as a shell line) naming the guest\'s namespace', () => {
    const input = attachContext(['br0', 'c1', '10.0.0.2/24'], { links: [bridge('br0')], facts: guestFacts(), hasArping: true });
    const plan = planAttach(input);
    const json = planJson(plan, nsNaming(input.guest));
    assert.equal(json.length, plan.steps.length);
    assert.deepEqual(json[0], {
      title: 'create veth pair veth1pl4242 (host) and eth1 (guest)',
      where: 'host',
      command: ['ip', 'link', 'add', 'name', 'veth1pl4242', 'mtu', '1500', 'type', 'veth', 'peer', 'name', 'eth1', 'mtu', '1500', 'netns', '4242'],
      shell: 'ip link add name veth1pl4242 mtu 1500 type veth peer name eth1 mtu 1500 netns 4242',
    });
    assert.deepEqual(json.at(-1), {
      title: 'announce 10.0.0.2 with a gratuitous ARP',
      where: 'guest',
      command: ['nsenter', '--net=/proc/4242/ns/net', 'arping', '-c', '1', '-A', '-I', 'eth1', '10.0.0.2'],
      shell: 'nsenter --net=/proc/4242/ns/net arping -c 1 -A -I eth1 10.0.0.2',
    });
    // A record is one shell word.
    assert.equal(json[1]!['shell'], `ip link set dev veth1pl4242 alias '${encodeRecord({ ...plan.record!, role: 'host' })}'`);
    assert.ok(!JSON.stringify(json).includes('/proc/self/fd'));
    // It is plain data.
    assert.deepEqual(JSON.parse(JSON.stringify(json)), json);
  });
});
