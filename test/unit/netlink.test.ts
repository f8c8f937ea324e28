// The in-process prototype's pure parts: ip lines read as netlink operations, and the bytes of
// the messages (checked field by field against the kernel's UAPI layouts).
import { inChild } from '../../src/exec/ip.js';
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as msg from '../../src/exec/netlink/message.js';
import { translateBatch, translateIpLine } from '../../src/exec/netlink/translate.js';
import { planAttach } from '../../src/engine/planner.js';
import { DOCKER_ROUTES_JSON, attachContext, bridge, guestFacts } from './fakes.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** Attributes of a payload, as [type, bytes] (not recursive). */
function attrs(buf: Buffer): [number, Buffer][] {
  const out: [number, Buffer][] = [];
  let off = 0;
  while (off + 4 <= buf.length) {
    const len = buf.readUInt16LE(off);
    out.push([buf.readUInt16LE(off + 2), buf.subarray(off + 4, off + len)]);
    off += (len + 3) & ~3;
  }
  return out;
}

function header(buf: Buffer): { len: number; type: number; flags: number; seq: number } {
  return { len: buf.readUInt32LE(0), type: buf.readUInt16LE(4), flags: buf.readUInt16LE(6), seq: buf.readUInt32LE(8) };
}

void describe('netlink messages', () => {
  void test('link up by index: nlmsghdr + ifinfomsg with IFF_UP in flags and change', () => {
    const b = msg.setLink(7, 42, { up: true });
    assert.equal(hex(b), [
      '20000000', '1000', '0500', '07000000', '00000000', // len 32, RTM_NEWLINK, REQUEST|ACK, seq 7, pid 0
      '00', '00', '0000', '2a000000', '01000000', '01000000', // AF_UNSPEC, pad, type, index 42, flags, change
    ].join(''));
  });

  void test('link down clears IFF_UP; other settings leave the flags alone', () => {
    const down = msg.setLink(1, 3, { up: false });
    assert.equal(down.readUInt32LE(24), 0);
    assert.equal(down.readUInt32LE(28), 1);
    const alias = msg.setLink(1, 3, { alias: 'x=1', master: 9, mtu: 9000, mac: '02:00:00:00:00:01', name: 'eth9' });
    assert.equal(alias.readUInt32LE(28), 0, 'no change mask');
    const a = new Map(attrs(alias.subarray(32)));
    assert.equal(a.get(msg.IFLA.IFNAME)?.toString(), 'eth9\0');
    assert.equal(a.get(msg.IFLA.MTU)?.readUInt32LE(0), 9000);
    assert.equal(hex(a.get(msg.IFLA.ADDRESS)!), '020000000001');
    assert.equal(a.get(msg.IFLA.MASTER)?.readUInt32LE(0), 9);
    assert.equal(a.get(msg.IFLA.IFALIAS)?.toString(), 'x=1', 'an alias goes without its NUL, as ip sends it');
    assert.equal(header(alias).len, alias.length);
    assert.equal(alias.length % 4, 0);
  });

  void test('an empty alias is an empty attribute (the kernel then removes the alias)', () => {
    const b = msg.setLink(1, 3, { alias: '' });
    assert.deepEqual(attrs(b.subarray(32)), [[msg.IFLA.IFALIAS, Buffer.alloc(0)]]);
  });

  void test('veth: the peer is an ifinfomsg with its own attributes, nested in linkinfo/data', () => {
    const b = msg.newVeth(3, { name: 'pwv1', mtu: 1400, peer: { name: 'eth1', mtu: 1400, mac: '02:42:ac:11:00:02', nsFd: 5 } });
    const h = header(b);
    assert.equal(h.type, msg.RTM.NEWLINK);
    assert.equal(h.flags, msg.NLM_F.REQUEST | msg.NLM_F.ACK | msg.NLM_F.CREATE | msg.NLM_F.EXCL);
    assert.equal(h.len, b.length);
    const top = attrs(b.subarray(32));
    assert.deepEqual(top.map(([t]) => t), [msg.IFLA.IFNAME, msg.IFLA.MTU, msg.IFLA.LINKINFO]);
    assert.equal(top[0]![1].toString(), 'pwv1\0');
    const info = attrs(top[2]![1]);
    assert.equal(info[0]![0], 1);
    assert.equal(info[0]![1].toString(), 'veth');
    const data = attrs(info[1]![1]);
    assert.equal(data[0]![0], 1, 'VETH_INFO_PEER');
    const peer = data[0]![1];
    assert.equal(hex(peer.subarray(0, 16)), '00'.repeat(16), 'an empty ifinfomsg first');
    const p = new Map(attrs(peer.subarray(16)));
    assert.equal(p.get(msg.IFLA.IFNAME)?.toString(), 'eth1\0');
    assert.equal(p.get(msg.IFLA.MTU)?.readUInt32LE(0), 1400);
    assert.equal(hex(p.get(msg.IFLA.ADDRESS)!), '0242ac110002');
    assert.equal(p.get(msg.IFLA.NET_NS_FD)?.readUInt32LE(0), 5);
  });

  void test('address: ifaddrmsg, then local and address, then broadcast', () => {
    const b = msg.newAddr(9, 2, msg.ipBytes('10.0.0.2')!, 24, msg.ipBytes('10.0.0.255'));
    assert.equal(hex(b.subarray(16)), [
      '02', '18', '00', '00', '02000000', // AF_INET, /24, flags, scope universe, index 2
      '0800', '0200', '0a000002', // IFA_LOCAL
      '0800', '0100', '0a000002', // IFA_ADDRESS
      '0800', '0400', '0a0000ff', // IFA_BROADCAST
    ].join(''));
    assert.equal(header(b).flags, msg.NLM_F.REQUEST | msg.NLM_F.ACK | msg.NLM_F.CREATE | msg.NLM_F.EXCL);
    assert.equal(msg.newAddr(1, 1, msg.ipBytes('127.0.0.9')!, 8).readUInt8(19), 254, 'loopback addresses have host scope');
  });

  void test('routes: replace default via a gateway; a link route; a delete', () => {
    const gw = msg.ipBytes('10.0.0.1')!.bytes;
    const b = msg.route(4, { op: 'replace', family: msg.AF_INET, dstLen: 0, gateway: gw, oif: 7 });
    assert.equal(header(b).flags, msg.NLM_F.REQUEST | msg.NLM_F.ACK | msg.NLM_F.CREATE | msg.NLM_F.REPLACE);
    assert.equal(hex(b.subarray(16)), [
      '02', '00', '00', '00', 'fe', '03', '00', '01', '00000000', // inet /0, main table, boot, universe, unicast
      '0800', '0500', '0a000001', // RTA_GATEWAY
      '0800', '0400', '07000000', // RTA_OIF
    ].join(''));
    const link = msg.route(5, { op: 'add', family: msg.AF_INET, dst: msg.ipBytes('10.9.0.1')!.bytes, dstLen: 32, oif: 7 });
    assert.equal(link.readUInt8(16 + 6), 253, 'no gateway: link scope');
    const del = msg.route(6, { op: 'del', family: msg.AF_INET6, dstLen: 0, gateway: msg.ipBytes('fe80::1')!.bytes });
    assert.equal(header(del).type, msg.RTM.DELROUTE);
    assert.equal(del.readUInt8(16 + 6), 255, 'a delete has scope nowhere');
    assert.equal(del.readUInt8(16 + 5), 0, 'and matches any protocol');
  });

  void test('IPv6 addresses in every spelling', () => {
    assert.equal(hex(msg.ipBytes('2001:db8::1')!.bytes), '20010db8000000000000000000000001');
    assert.equal(hex(msg.ipBytes('::')!.bytes), '0'.repeat(32));
    assert.equal(hex(msg.ipBytes('::ffff:10.0.0.1')!.bytes), '00000000000000000000ffff0a000001');
    assert.equal(hex(msg.ipBytes('1:2:3:4:5:6:7:8')!.bytes), '00010002000300040005000600070008');
    for (const bad of ['1::2::3', '1:2:3:4:5:6:7', '1:2:3:4:5:6:7:8:9', '12345::', '10.0.0.256', 'fe80::1%eth0', '', 'x']) {
      assert.equal(msg.ipBytes(bad), undefined, bad);
    }
  });

  void test('replies: ack, error with and without the kernel text, a link, several in one datagram', () => {
    const ack = Buffer.alloc(36);
    ack.writeUInt32LE(36, 0);
    ack.writeUInt16LE(2, 4);
    ack.writeUInt32LE(11, 8);
    const err = Buffer.from(ack);
    err.writeUInt32LE(12, 8);
    err.writeInt32LE(-17, 16);
    // An error with extended ack, capped: header(16) error(4) request header(16) NLMSGERR_ATTR_MSG.
    const text = Buffer.from('Nexthop has invalid gateway\0');
    const tlv = Buffer.alloc((4 + text.length + 3) & ~3);
    tlv.writeUInt16LE(4 + text.length, 0);
    tlv.writeUInt16LE(1, 2);
    text.copy(tlv, 4);
    const ext = Buffer.concat([Buffer.from(ack), tlv]);
    ext.writeUInt32LE(ext.length, 0);
    ext.writeUInt16LE(0x300, 6);
    ext.writeUInt32LE(13, 8);
    ext.writeInt32LE(-22, 16);
    ext.writeUInt32LE(16, 20);
    const link = msg.message(msg.RTM.NEWLINK, 0, 14, msg.ifinfomsg({ index: 77 }));
    assert.deepEqual(msg.parseReplies(Buffer.concat([ack, err, ext, link])), [
      { kind: 'ack', seq: 11 },
      { kind: 'error', seq: 12, errno: 17 },
      { kind: 'error', seq: 13, errno: 22, text: 'Nexthop has invalid gateway' },
      { kind: 'link', seq: 14, index: 77 },
    ]);
    assert.deepEqual(msg.parseReplies(Buffer.alloc(10)), [], 'a short datagram gives nothing');
  });

  void test('an address dump: asked as ip asks it; read as ip shows it (local for IPv4), other requests\' messages and garbage left out', () => {
    const req = msg.getAddrDump(21);
    assert.equal(req.readUInt16LE(4), msg.RTM.GETADDR);
    assert.equal(req.readUInt16LE(6), msg.NLM_F.REQUEST | msg.NLM_F.DUMP);
    const addr = (seq: number, family: number, prefixlen: number, scope: number, index: number, attrs: msg.Attr[]) => {
      const head = Buffer.alloc(8);
      head.writeUInt8(family, 0);
      head.writeUInt8(prefixlen, 1);
      head.writeUInt8(scope, 3);
      head.writeInt32LE(index, 4);
      return msg.message(msg.RTM.NEWADDR, 2, seq, head, attrs);
    };
    const v4 = addr(21, msg.AF_INET, 24, 0, 7, [{ type: 2, data: Uint8Array.from([10, 1, 2, 1]) }, { type: 1, data: Uint8Array.from([10, 1, 2, 9]) }]);
    const v6bytes = new Uint8Array(16);
    v6bytes[0] = 0xfd;
    v6bytes[15] = 1;
    const v6 = addr(21, msg.AF_INET6, 64, 0, 7, [{ type: 1, data: v6bytes }]);
    const linkLocal = addr(21, msg.AF_INET6, 64, 253, 7, [{ type: 1, data: v6bytes }]);
    const short = addr(21, msg.AF_INET, 24, 0, 7, [{ type: 2, data: Uint8Array.from([10, 1]) }]);
    const other = addr(99, msg.AF_INET, 8, 0, 7, [{ type: 2, data: Uint8Array.from([10, 0, 0, 1]) }]);
    const done = msg.message(3, 2, 21, Buffer.alloc(4));
    const parsed = msg.parseAddrDump(Buffer.concat([v4, other, v6, linkLocal, short, done]), 21);
    assert.equal(parsed.done, true);
    assert.deepEqual(parsed.addrs.map((a) => [a.family, Array.from(a.bytes).join('.'), a.prefixlen, a.scope, a.index]), [
      [msg.AF_INET, '10.1.2.1', 24, 0, 7],
      [msg.AF_INET6, Array.from(v6bytes).join('.'), 64, 0, 7],
      [msg.AF_INET6, Array.from(v6bytes).join('.'), 64, 253, 7],
    ], 'IFA_LOCAL before IFA_ADDRESS; a 2-byte IPv4 address is not one');
    assert.equal(msg.parseAddrDump(Buffer.concat([v4]), 21).done, false, 'no NLMSG_DONE: cut short');
    const failed = Buffer.alloc(20);
    failed.writeUInt32LE(20, 0);
    failed.writeUInt16LE(2, 4);
    failed.writeUInt32LE(21, 8);
    failed.writeInt32LE(-16, 16);
    assert.deepEqual(msg.parseAddrDump(failed, 21), { addrs: [], done: true, errno: 16 });
    // Interrupted (the kernel's NLM_F_DUMP_INTR on a message): not done, whatever follows.
    const interrupted = Buffer.from(v6);
    interrupted.writeUInt16LE(2 | 0x10, 6);
    assert.equal(msg.parseAddrDump(Buffer.concat([v4, interrupted, done]), 21).done, false);
    // A length past the datagram's end stops the reading there.
    const torn = Buffer.from(v4);
    torn.writeUInt32LE(4096, 0);
    assert.deepEqual(msg.parseAddrDump(torn, 21), { addrs: [], done: false });
  });
});

void describe('ip lines as netlink operations', () => {
  void test('the veth line of a plan', () => {
    assert.deepEqual(translateIpLine(['link', 'add', 'name', 'pwv1', 'mtu', '1500', 'type', 'veth', 'peer', 'name', 'eth1', 'mtu', '1500', 'address', '02:00:00:00:00:01', 'netns', '/proc/self/fd/3']), {
      op: 'veth', name: 'pwv1', mtu: 1500, peer: { name: 'eth1', mtu: 1500, mac: '02:00:00:00:00:01', ns: '/proc/self/fd/3' },
    });
  });

  void test('a new bridge', () => {
    assert.deepEqual(translateIpLine(['link', 'add', 'name', 'br0', 'type', 'bridge']), { op: 'bridge', name: 'br0' });
    const b = msg.newBridge(2, 'br0');
    const top = attrs(b.subarray(32));
    assert.equal(top[0]![1].toString(), 'br0\0');
    assert.equal(attrs(top[1]![1])[0]![1].toString(), 'bridge');
  });

  void test('link settings in any combination', () => {
    assert.deepEqual(translateIpLine(['link', 'set', 'dev', 'x', 'master', 'br0']), { op: 'set', dev: 'x', change: { master: 'br0' } });
    assert.deepEqual(translateIpLine(['link', 'set', 'dev', 'x', 'nomaster', 'down']), { op: 'set', dev: 'x', change: { master: null, up: false } });
    assert.deepEqual(translateIpLine(['link', 'set', 'dev', 'x', 'netns', '/proc/self/fd/4', 'name', 'y']), { op: 'set', dev: 'x', change: { ns: '/proc/self/fd/4', name: 'y' } });
    assert.deepEqual(translateIpLine(['link', 'set', 'dev', 'x', 'alias', '']), { op: 'set', dev: 'x', change: { alias: '' } });
  });

  void test('addresses and routes', () => {
    const a = translateIpLine(['addr', 'add', '2001:db8::5/64', 'dev', 'eth1']);
    assert.equal(a?.op === 'addr' && a.prefix, 64);
    const v4 = translateIpLine(['addr', 'add', '10.0.0.2/24', 'brd', '10.0.0.255', 'dev', 'eth1']);
    assert.equal(v4?.op === 'addr' && v4.brd !== undefined, true);
    const r = translateIpLine(['route', 'replace', 'default', 'via', 'fe80::1', 'dev', 'eth1']);
    assert.equal(r?.op === 'route' && r.family, msg.AF_INET6);
    const host = translateIpLine(['route', 'add', '10.1.0.1/32', 'dev', 'eth1']);
    assert.equal(host?.op === 'route' && host.dstLen, 32);
    const six = translateIpLine(['route', 'del', '::/0', 'via', '2001:db8::1', 'dev', 'eth1', 'proto', 'static', 'metric', '5']);
    assert.deepEqual(six && { ...six, gateway: undefined }, { op: 'route', verb: 'del', family: msg.AF_INET6, dstLen: 0, gateway: undefined, dev: 'eth1', protocol: 4, metric: 5 });
  });

  void test('anything else is left to iproute2, and so is its whole batch', () => {
    for (const line of [
      ['link', 'add', 'name', 'br0', 'type', 'bridge', 'vlan_filtering', '1'],
      ['link', 'add', 'link', 'eth0', 'name', 'm', 'type', 'macvlan', 'mode', 'bridge'],
      ['link', 'set', 'dev', 'x', 'type', 'bridge', 'vlan_filtering', '1'],
      ['link', 'set', 'dev', 'x', 'netns', 'guest'],
      ['link', 'set', 'dev', 'x', 'up', 'up'],
      ['link', 'set', 'x', 'up'],
      ['link', 'del', 'group', '5'],
      ['addr', 'add', '10.0.0.2/33', 'dev', 'eth1'],
      ['addr', 'add', '10.0.0.2/24', 'brd', '+', 'dev', 'eth1'],
      ['addr', 'add', '10.0.0.2/24'],
      ['route', 'add', 'default', 'via', '10.0.0.1', 'table', '5'],
      ['route', 'add', '10.0.0.0/24', 'via', 'fe80::1'],
      ['route', 'get', '10.0.0.1'],
      ['rule', 'add', 'from', '10.0.0.2', 'table', '5'],
    ]) {
      assert.equal(translateIpLine(line), undefined, line.join(' '));
    }
    assert.equal(translateBatch([['link', 'set', 'dev', 'x', 'up'], ['rule', 'add', 'from', 'all']]), undefined);
  });

  void test("every ip line of a bridge attach's plan is known (the path the prototype speeds up)", () => {
    for (const [words, host] of [
      [['br0', 'c1', '10.0.0.2/24@10.9.9.1'], [bridge('br0')]],
      [['br0', '-i', 'eth2', '-a', '6', 'c1', '2001:db8::5/64@2001:db8::1', '02:00:00:00:00:09'], [bridge('br0')]],
      [['brnew', 'c1', '10.0.0.2/24'], []],
    ] as const) {
      const plan = planAttach(attachContext(words, { links: [...host], facts: guestFacts(['lo', 'eth0'], DOCKER_ROUTES_JSON), hasArping: true }));
      const ipLines = plan.steps.flatMap((s) => (s.action.kind === 'ip' ? [s.action.args, ...s.undo.filter((u) => u.kind === 'ip').map((u) => u.args)] : []));
      assert.ok(ipLines.length >= 6);
      // As ipBatch hands them on: the plan's namespace tokens named as the child's fds.
      for (const l of ipLines.map(inChild)) assert.notEqual(translateIpLine(l), undefined, l.join(' '));
    }
  });
});
