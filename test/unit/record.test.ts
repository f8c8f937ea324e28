// pipework's record in an interface's alias: encoding, decoding, and what makes a configuration.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidArgumentError } from '../../src/model/errors.js';
import { HOST_KINDS, configDiff, configFields, configOf, decodeRecord, encodeRecord, recordAddresses, recordProblem, type AttachRecord } from '../../src/model/record.js';
import { assertThrows } from './fakes.js';

/** IFALIASZ is 256 including the NUL. */
const ALIAS_MAX = 255;

const BASE: AttachRecord = {
  role: 'guest',
  guest: 'docker:c1',
  nsInode: 4026532999,
  guestIf: 'eth1',
  hostIf: 'br0',
  hostKind: 'bridge',
  localIf: 'veth1pl4242',
  address: '10.0.0.2/24',
};

const FULL: AttachRecord = {
  ...BASE,
  address: '2001:db8::2/64',
  gateway: '2001:db8::1',
  mac: '02:42:ac:11:00:02',
  vlan: 4094,
};

/** Characters `ip -batch` would split on or treat specially. */
const BATCH_UNSAFE = /[\s"'\\#]/u;

void describe('encodeRecord', () => {
  void test('the documented format: magic, then short keys in a fixed order', () => {
    assert.equal(encodeRecord(BASE), 'pipework/1;r=guest;g=docker:c1;n=4026532999;i=eth1;h=br0;k=bridge;l=veth1pl4242;a=10.0.0.2/24');
    assert.equal(encodeRecord({ ...BASE, role: 'host' }), 'pipework/1;r=host;g=docker:c1;n=4026532999;i=eth1;h=br0;k=bridge;l=veth1pl4242;a=10.0.0.2/24');
    assert.equal(
      encodeRecord(FULL),
      'pipework/1;r=guest;g=docker:c1;n=4026532999;i=eth1;h=br0;k=bridge;l=veth1pl4242;a=2001:db8::2/64;gw=2001:db8::1;m=02:42:ac:11:00:02;v=4094',
    );
  });

  void test('optional fields are left out, not written empty', () => {
    const { localIf: _l, address: _a, ...bare } = BASE;
    assert.equal(encodeRecord(bare), 'pipework/1;r=guest;g=docker:c1;n=4026532999;i=eth1;h=br0;k=bridge');
  });

  void test('the alias is one safe ip -batch token', () => {
    for (const guest of ['docker:my web', 'netns:a;b=c', 'pid:"1"', "lxc:it's", 'netns:#1', 'netns:a\\b', 'netns:tab\there', 'netns:nl\nhere']) {
      const alias = encodeRecord({ ...BASE, guest });
      assert.ok(!BATCH_UNSAFE.test(alias), JSON.stringify(alias));
      assert.ok(alias !== '');
    }
  });

  void test('values cannot forge fields: ; and = in a value are escaped', () => {
    const alias = encodeRecord({ ...BASE, guest: 'netns:x;r=host;i=eth9' });
    assert.equal(alias.split(';').length, encodeRecord(BASE).split(';').length);
    const back = decodeRecord(alias);
    assert.equal(back?.role, 'guest');
    assert.equal(back?.guestIf, 'eth1');
    assert.equal(back?.guest, 'netns:x;r=host;i=eth9');
  });
});

void describe('decodeRecord', () => {
  void test('round trip of a minimal and of a full record', () => {
    assert.deepEqual(decodeRecord(encodeRecord(BASE)), BASE);
    assert.deepEqual(decodeRecord(encodeRecord(FULL)), FULL);
    assert.deepEqual(decodeRecord(encodeRecord({ ...FULL, role: 'host' })), { ...FULL, role: 'host' });
    const { localIf: _l, address: _a, ...bare } = BASE;
    const back = decodeRecord(encodeRecord(bare));
    assert.deepEqual(back, bare);
    assert.ok(back && !('localIf' in back) && !('address' in back) && !('gateway' in back) && !('mac' in back) && !('vlan' in back));
  });

  const ODD_ASCII: [string, string][] = [
    ['a space', 'docker:my web'],
    ['a semicolon', 'netns:a;b'],
    ['an equals sign', 'netns:a=b'],
    ['a percent sign', 'netns:100%'],
    ['something that looks escaped', 'netns:%41%2'],
    ['double quotes', 'pid:"42"'],
    ['single quotes', "lxc:it's"],
    ['a hash', 'netns:#1'],
    ['a backslash', 'netns:a\\b'],
    ['a tab and a newline', 'netns:a\tb\nc'],
    ['every printable ASCII character', `netns:${Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i)).join('')}`],
    ['Latin-1 (é, ß, ÿ)', 'lxc:café-straße-ÿ'],
  ];
  for (const [what, guest] of ODD_ASCII) {
    void test(`round trip of a guest name with ${what}`, () => {
      const alias = encodeRecord({ ...BASE, guest });
      assert.ok(!BATCH_UNSAFE.test(alias), alias);
      assert.equal(decodeRecord(alias)?.guest, guest, alias);
      assert.deepEqual(decodeRecord(alias), { ...BASE, guest });
    });
  }

  void test('round trip of guest names beyond Latin-1 (CJK, Cyrillic, emoji)', () => {
    for (const guest of ['netns:中文', 'lxc:тест', 'netns:😀', 'netns:a😀b中']) {
      const alias = encodeRecord({ ...BASE, guest });
      assert.ok(!BATCH_UNSAFE.test(alias), alias);
      assert.equal(decodeRecord(alias)?.guest, guest, alias);
    }
  });

  void test('the escape is UTF-8 percent-encoding (what decodeURIComponent reads)', () => {
    assert.ok(encodeRecord({ ...BASE, guest: 'netns:中' }).includes('g=netns:%e4%b8%ad;'));
    assert.ok(encodeRecord({ ...BASE, guest: 'netns:é' }).includes('g=netns:%c3%a9;'));
    assert.ok(encodeRecord({ ...BASE, guest: 'netns:😀' }).includes('g=netns:%f0%9f%98%80;'));
    // = and , need no escape inside a value (a field splits at its first =); ; and % do.
    assert.ok(encodeRecord({ ...BASE, guest: 'netns:a b;c=d%' }).includes('g=netns:a%20b%3bc=d%25;'));
  });

  void test('the fields of the other host kinds: VLAN sub-interface, original name and MAC', () => {
    const { localIf: _l, ...noHostEnd } = BASE;
    const phys: AttachRecord = {
      ...noHostEnd, hostIf: 'eno1', hostKind: 'phys', mac: '02:42:ac:11:00:02', vlan: 10, vlanIf: 'eno1.10', origName: 'eno1.10', origMac: '52:54:00:12:34:56',
    };
    const alias = encodeRecord(phys);
    assert.equal(alias,
      'pipework/1;r=guest;g=docker:c1;n=4026532999;i=eth1;h=eno1;k=phys;a=10.0.0.2/24;m=02:42:ac:11:00:02;v=10;q=eno1.10;o=eno1.10;om=52:54:00:12:34:56');
    assert.deepEqual(decodeRecord(alias), phys);
    const hashed: AttachRecord = { ...BASE, hostIf: 'enp129s0f1np1', hostKind: 'macvlan', vlan: 100, vlanIf: 'pwq7cf5e1e07a73' };
    assert.deepEqual(decodeRecord(encodeRecord(hashed)), hashed);
  });

  for (const hostKind of HOST_KINDS) {
    void test(`round trip of every host kind: ${hostKind}`, () => {
      const rec: AttachRecord = { ...FULL, hostKind, hostIf: `${hostKind}0` };
      assert.deepEqual(decodeRecord(encodeRecord(rec)), rec);
      assert.deepEqual(decodeRecord(encodeRecord({ ...rec, role: 'host' })), { ...rec, role: 'host' });
      assert.ok(configOf(rec).startsWith(`${hostKind} ${hostKind}0, `));
    });
  }

  void test('the host kinds are exactly the six', () => {
    assert.deepEqual([...HOST_KINDS].sort(), ['bridge', 'dummy', 'ipoib', 'macvlan', 'ovs', 'phys']);
  });

  void test('interface names with the odd characters Linux allows round-trip too', () => {
    const rec: AttachRecord = { ...BASE, guestIf: 'e=1;x', hostIf: 'br+20', localIf: 'v@x!$&()' };
    assert.deepEqual(decodeRecord(encodeRecord(rec)), rec);
  });

  void test('a record whose values are not of the shape pipework writes is no record (a guest may have written it)', () => {
    const bad: Partial<AttachRecord>[] = [
      { localIf: 'eth0 master br0' }, { localIf: 'a/../b' }, { hostIf: '' }, { origName: 'x'.repeat(16) }, { vlanIf: 'br%d' }, { localIf: 'v"x' },
      { address: '10.0.0.2' }, { address: '10.0.0.2/33' }, { moreAddresses: '10.0.0.3/24,;rm' }, { gateway: '10.0.0.1 dev eth0' },
      { mac: '01:00:5e:00:00:01' }, { origMac: 'zz:zz:zz:zz:zz:zz' }, { mtu: 1 }, { mode: 'bridge;x' },
      { replaced4: '172.17.0.1@eth0 table 5' }, { replaced6: 'x@eth0' }, { owner: 'root' }, { impair: 'd20;tc qdisc del' },
    ];
    for (const b of bad) {
      // encodeRecord escapes what it writes: what a guest writes by hand is decoded the same way.
      assert.equal(decodeRecord(encodeRecord({ ...BASE, ...b })), undefined, JSON.stringify(b));
    }
    assert.equal(recordProblem({ ...BASE, localIf: 'eth0 master br0' }), 'localIf is not an interface name');
  });

  void test('the fields of owners, topologies and re-runs: owner, more addresses, IPv6 gateway, MTU, mode, replaced routes, impairments', () => {
    const { localIf: _l, ...noHostEnd } = BASE;
    const rec: AttachRecord = {
      ...noHostEnd, owner: 'cni:net1/abc/eth1', moreAddresses: '2001:db8::2/64,10.0.1.2/24', gateway: '10.0.0.1', gateway6: '2001:db8::1', mtu: 9000,
      mode: 'private', impair: 'd20,j5,l1.5,r10000000',
    };
    const alias = encodeRecord(rec);
    assert.equal(alias, 'pipework/1;r=guest;g=docker:c1;n=4026532999;i=eth1;h=br0;k=bridge;a=10.0.0.2/24;gw=10.0.0.1;ow=cni:net1/abc/eth1;'
      + 'a2=2001:db8::2/64,10.0.1.2/24;g6=2001:db8::1;mt=9000;mo=private;im=d20,j5,l1.5,r10000000');
    assert.deepEqual(decodeRecord(alias), rec);
    assert.deepEqual(recordAddresses(rec), ['10.0.0.2/24', '2001:db8::2/64', '10.0.1.2/24']);
    const routes: AttachRecord = { ...BASE, gateway: '10.0.0.1', replaced4: '172.17.0.1@eth0', replaced6: '2001:db8:1::1@eth0@1024' };
    assert.ok(encodeRecord(routes).endsWith(';gw=10.0.0.1;r4=172.17.0.1@eth0;r6=2001:db8:1::1@eth0@1024'), encodeRecord(routes));
    assert.deepEqual(decodeRecord(encodeRecord(routes)), routes);
  });

  void test('booleans are written as 1, and read back from 1 or true (only)', () => {
    const rec: AttachRecord = { ...BASE, hostKind: 'phys', vlanIf: 'eno1.10', vlanMade: true, dhcp: 'dhclient', dhcp6: true };
    assert.ok(encodeRecord(rec).includes(';qm=1;'), encodeRecord(rec));
    assert.deepEqual(decodeRecord(encodeRecord(rec)), rec);
    const base = encodeRecord({ ...BASE, hostKind: 'phys', vlanIf: 'eno1.10', dhcp: 'dhclient' });
    for (const yes of ['1', 'true']) {
      const back = decodeRecord(`${base};qm=${yes};d6=${yes}`);
      assert.equal(back?.vlanMade, true, yes);
      assert.equal(back?.dhcp6, true, yes);
    }
    for (const no of ['0', 'false', '', 'yes']) {
      const back = decodeRecord(`${base};qm=${no}`);
      assert.ok(back, no);
      assert.equal(back.vlanMade, undefined, no);
    }
    // false is not written at all.
    assert.equal(encodeRecord({ ...BASE, vlanMade: false }), encodeRecord(BASE));
  });

  void test('a non-numeric MTU is not a record', () => {
    assert.equal(decodeRecord(`${encodeRecord(BASE)};mt=jumbo`), undefined);
    assert.equal(decodeRecord(`${encodeRecord(BASE)};mt=1400`)?.mtu, 1400);
  });

  const FOREIGN: [string, string | undefined][] = [
    ['no alias', undefined],
    ['an empty alias', ''],
    ['an administrator\'s alias', 'uplink to rack 4'],
    ['an alias that only mentions pipework', 'managed by pipework'],
    ['the magic alone', 'pipework/1'],
    ['the magic and nothing after the separator', 'pipework/1;'],
    ['another version', 'pipework/2;r=guest;i=eth1;h=br0;k=bridge'],
    ['another case', 'PIPEWORK/1;r=guest;i=eth1;h=br0;k=bridge'],
    ['leading whitespace', ' pipework/1;r=guest;i=eth1;h=br0;k=bridge'],
    ['an unknown role', 'pipework/1;r=peer;i=eth1;h=br0;k=bridge'],
    ['no role', 'pipework/1;i=eth1;h=br0;k=bridge'],
    ['no guest interface', 'pipework/1;r=guest;h=br0;k=bridge'],
    ['no host interface', 'pipework/1;r=guest;i=eth1;k=bridge'],
    ['no host kind', 'pipework/1;r=guest;i=eth1;h=br0'],
    ['an unknown host kind', 'pipework/1;r=guest;i=eth1;h=br0;k=frobnicator'],
    ['the planner\'s old kind name', 'pipework/1;r=guest;i=eth1;h=br0;k=linux-bridge'],
    ['an empty host kind', 'pipework/1;r=guest;i=eth1;h=br0;k='],
    ['keys without values', 'pipework/1;r;i;h;k'],
    ['separators only', 'pipework/1;;;;;='],
    ['the magic later in the text', 'x pipework/1;r=guest;i=eth1;h=br0;k=bridge'],
    ['a 255-character garbage alias', `pipework/1;${'x'.repeat(244)}`],
  ];
  for (const [what, alias] of FOREIGN) {
    void test(`${what} is not a record`, () => {
      assert.equal(decodeRecord(alias), undefined, JSON.stringify(alias));
    });
  }

  void test('unknown keys are ignored; a later duplicate wins', () => {
    assert.deepEqual(decodeRecord('pipework/1;r=guest;i=eth1;h=br0;k=bridge;zz=1;toString=1;constructor=2;__proto__=3'), {
      role: 'guest', guest: '?', nsInode: 0, guestIf: 'eth1', hostIf: 'br0', hostKind: 'bridge',
    });
    assert.equal(decodeRecord('pipework/1;r=guest;i=eth1;h=br0;k=bridge;r=host')?.role, 'host');
  });

  void test('malformed ones are not records: keyless parts, an empty key, escapes that do not decode', () => {
    for (const alias of [
      'pipework/1;r=guest;i=eth1;h=br0;k=bridge;garbage',
      'pipework/1;r=guest;i=eth1;h=br0;k=bridge;=x',
      'pipework/1;r=guest;i=eth%zz;h=br0;k=bridge',
      'pipework/1;r=guest;i=eth1;h=br0;k=bridge;g=netns:%e4%b8',
    ]) {
      assert.equal(decodeRecord(alias), undefined, alias);
    }
  });

  void test('a record without the guest (dropped for length) or the namespace still decodes', () => {
    assert.deepEqual(decodeRecord('pipework/1;r=host;n=7;i=eth1;h=br0;k=bridge;l=v1'), {
      role: 'host', guest: '?', nsInode: 7, guestIf: 'eth1', hostIf: 'br0', hostKind: 'bridge', localIf: 'v1',
    });
  });

  void test(
    'records with malformed values are not records (empty names, non-numeric n= or v=)',
    () => {
      for (const alias of [
        'pipework/1;r=guest;i=;h=br0;k=bridge',
        'pipework/1;r=guest;i=eth1;h=;k=bridge',
        'pipework/1;r=guest;n=abc;i=eth1;h=br0;k=bridge',
        'pipework/1;r=guest;i=eth1;h=br0;k=bridge;v=ten',
      ]) {
        const r = decodeRecord(alias);
        assert.ok(r === undefined || (Number.isInteger(r.nsInode) && (r.vlan === undefined || Number.isInteger(r.vlan)) && r.guestIf !== '' && r.hostIf !== ''),
          `${alias} → ${JSON.stringify(r)}`);
      }
    },
  );
});

void describe('the 255-character alias limit (IFALIASZ)', () => {
  /** The record with a guest name that makes its alias exactly `len` characters long. */
  function ofLength(len: number): AttachRecord {
    const fixed = encodeRecord({ ...BASE, guest: '' }).length;
    return { ...BASE, guest: `netns:${'x'.repeat(len - fixed - 'netns:'.length)}` };
  }

  void test('an alias of exactly 255 characters keeps the guest', () => {
    const rec = ofLength(ALIAS_MAX);
    const alias = encodeRecord(rec);
    assert.equal(alias.length, ALIAS_MAX);
    assert.deepEqual(decodeRecord(alias), rec);
  });

  /** A guest name as the record keeps it when the alias would be too long: cut, and marked with …. */
  function assertShortened(kept: string | undefined, full: string): void {
    assert.ok(kept !== undefined && kept.endsWith('…'), String(kept));
    assert.ok(kept.length < full.length, kept);
    assert.ok(full.startsWith(kept.slice(0, -1)), `${kept} is not the start of ${full}`);
  }

  void test('one more and the guest name is shortened (…); everything else is kept', () => {
    const rec = ofLength(ALIAS_MAX + 1);
    const alias = encodeRecord(rec);
    assert.ok(alias.length <= ALIAS_MAX, String(alias.length));
    const back = decodeRecord(alias);
    assertShortened(back?.guest, rec.guest);
    const { guest: _g, ...rest } = rec;
    assert.deepEqual({ ...back, guest: 'x' }, { ...rest, guest: 'x' });
    // As long as the alias allows: one character more would not fit.
    assert.ok(Buffer.byteLength(alias) > ALIAS_MAX - Buffer.byteLength(encodeURIComponent('…')), String(alias.length));
  });

  void test('a guest name that only becomes too long once escaped is shortened too', () => {
    // 100 spaces are 300 characters escaped.
    const rec: AttachRecord = { ...FULL, guest: `netns:${' '.repeat(100)}` };
    const alias = encodeRecord(rec);
    assert.ok(alias.length <= ALIAS_MAX, String(alias.length));
    assertShortened(decodeRecord(alias)?.guest, rec.guest);
    assert.equal(decodeRecord(alias)?.gateway, '2001:db8::1');
  });

  void test('the default routes to put back go before the guest name does (they can be told again)', () => {
    const withRoutes: AttachRecord = { ...BASE, replaced4: '172.17.0.1@eth0@100', replaced6: '2001:db8:1::1@eth0@1024' };
    const fixed = encodeRecord({ ...withRoutes, guest: '' }).length;
    const rec: AttachRecord = { ...withRoutes, guest: `netns:${'x'.repeat(ALIAS_MAX + 5 - fixed - 'netns:'.length)}` };
    const back = decodeRecord(encodeRecord(rec));
    assert.equal(back?.guest, rec.guest, 'the guest is kept whole');
    assert.equal(back?.replaced6, undefined);
    assert.equal(back?.replaced4, '172.17.0.1@eth0@100');
    assert.ok(encodeRecord(rec).length <= ALIAS_MAX);
  });

  void test('a short container id, 15-character names and an IPv6 address with a gateway fit with the guest', () => {
    const rec: AttachRecord = {
      ...FULL,
      guest: 'docker:0123456789ab',
      guestIf: 'abcdefghijklmno',
      hostIf: 'br-abcdefghijkl',
      localIf: 'pwv0123456789ab',
      address: '2001:db8:1234:5678:9abc:def0:1234:5678/64',
      gateway: '2001:db8:1234:5678::1',
    };
    const alias = encodeRecord(rec);
    assert.ok(alias.length <= ALIAS_MAX, String(alias.length));
    assert.deepEqual(decodeRecord(alias), rec);
  });

  void test('the longest record of plain names fits once the guest is shortened', () => {
    const rec: AttachRecord = {
      ...FULL,
      guest: `docker:${'0123456789abcdef'.repeat(4)}`,
      nsInode: 4294967295,
      guestIf: 'abcdefghijklmno',
      hostIf: 'br-abcdefghijkl',
      localIf: 'pwv0123456789ab',
      address: 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe/128',
      gateway: 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffd',
    };
    const alias = encodeRecord(rec);
    assert.ok(alias.length <= ALIAS_MAX, String(alias.length));
    const back = decodeRecord(alias);
    assertShortened(back?.guest, rec.guest);
    assert.deepEqual({ ...back, guest: 'x' }, { ...rec, guest: 'x' });
  });

  void test('an alias never exceeds the limit: a record that cannot fit is refused, on one line, before anything runs', () => {
    const odd = ';'.repeat(15);
    assertThrows(() => encodeRecord({
      ...FULL, guestIf: odd, hostIf: odd, localIf: odd,
      address: 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe/128', gateway: 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffd',
    }), InvalidArgumentError, 'does not fit', '255');
    // Every printable character Linux allows in a name, in every name field, with the longest addresses.
    for (let c = 0x21; c < 0x7f; c++) {
      const ch = String.fromCharCode(c);
      if ('/:"\'\\#'.includes(ch)) continue;
      const name = ch.repeat(15);
      const rec: AttachRecord = { ...FULL, guestIf: name, hostIf: name, localIf: name, address: 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe/128' };
      let alias: string | undefined;
      try {
        alias = encodeRecord(rec);
      } catch (err) {
        assert.ok(err instanceof InvalidArgumentError, String(err));
      }
      if (alias !== undefined) {
        assert.ok(Buffer.byteLength(alias) <= ALIAS_MAX, `${alias.length}: ${alias}`);
        assert.equal(decodeRecord(alias)?.guestIf, name);
      }
    }
  });

  void test(
    'a record with 15-character names made of = (legal for Linux) fits',
    () => {
      const odd = '='.repeat(15);
      const alias = encodeRecord({
        ...FULL, guestIf: odd, hostIf: odd, localIf: odd,
        address: 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe/128', gateway: 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffd',
      });
      assert.ok(alias.length <= ALIAS_MAX, `${alias.length}: ${alias}`);
      assert.equal(decodeRecord(alias)?.guestIf, odd);
    },
  );
});

void describe('configOf', () => {
  void test('bridge and address, then gateway, MAC and VLAN when present', () => {
    assert.equal(configOf(BASE), 'bridge br0, 10.0.0.2/24');
    assert.equal(configOf(FULL), 'bridge br0, 2001:db8::2/64, gateway 2001:db8::1, mac 02:42:ac:11:00:02, vlan 4094');
    const { address: _a, ...noAddress } = BASE;
    assert.equal(configOf(noAddress), 'bridge br0, no address');
  });

  void test('who the guest is, the namespace, the role and the interface names are not part of it', () => {
    const a = configOf(BASE);
    assert.equal(configOf({ ...BASE, guest: 'pid:4242' }), a);
    assert.equal(configOf({ ...BASE, nsInode: 1 }), a);
    assert.equal(configOf({ ...BASE, role: 'host' }), a);
    assert.equal(configOf({ ...BASE, guestIf: 'eth9', localIf: 'other' }), a);
  });

  void test('each configuration field makes a difference', () => {
    const a = configOf(BASE);
    for (const other of [
      { ...BASE, hostIf: 'br1' },
      { ...BASE, address: '10.0.0.3/24' },
      { ...BASE, address: '10.0.0.2/25' },
      { ...BASE, gateway: '10.0.0.1' },
      { ...BASE, mac: '02:42:ac:11:00:02' },
      { ...BASE, vlan: 10 },
    ]) {
      assert.notEqual(configOf(other), a, JSON.stringify(other));
    }
  });

  void test('survives the round trip through the alias', () => {
    assert.equal(configOf(decodeRecord(encodeRecord(FULL))!), configOf(FULL));
  });

  void test('DHCP, more addresses, the IPv6 gateway, MTU and mode are part of it; owner, replaced routes, impairments are not', () => {
    assert.equal(configOf({ ...BASE, address: undefined, dhcp: 'dhclient', dhcp6: true }), 'bridge br0, dhcp dhclient (IPv6)');
    assert.equal(configOf({ ...BASE, moreAddresses: '2001:db8::2/64', gateway6: '2001:db8::1', mtu: 9000, mode: 'vepa' }),
      'bridge br0, 10.0.0.2/24 2001:db8::2/64, gateway6 2001:db8::1, mtu 9000, mode vepa');
    const a = configOf(BASE);
    assert.equal(configOf({ ...BASE, owner: 'topology:lab', replaced4: '10.0.0.1@eth0', impair: 'd20' }), a);
  });
});

void describe('configFields and configDiff', () => {
  void test('the configuration as named fields', () => {
    assert.deepEqual(configFields(FULL), [
      ['host', 'bridge br0'], ['address', '2001:db8::2/64'], ['gateway', '2001:db8::1'], ['mac', '02:42:ac:11:00:02'], ['vlan', '4094'],
    ]);
    const { address: _a, ...none } = BASE;
    assert.deepEqual(configFields(none), [['host', 'bridge br0'], ['address', 'no address']]);
  });

  void test('what differs, as field: old → new (none where a side has no such field)', () => {
    assert.deepEqual(configDiff(BASE, BASE), []);
    assert.deepEqual(configDiff(BASE, { ...BASE, guest: 'pid:1', localIf: 'x' }), [], 'not configuration');
    assert.deepEqual(configDiff(BASE, { ...BASE, address: '10.0.0.3/24', mac: '02:42:ac:11:00:02' }), [
      'address 10.0.0.2/24 → 10.0.0.3/24', 'mac none → 02:42:ac:11:00:02',
    ]);
    assert.deepEqual(configDiff(FULL, { ...FULL, gateway: undefined, vlan: 10, hostIf: 'br1' }), [
      'host bridge br0 → bridge br1', 'gateway 2001:db8::1 → none', 'vlan 4094 → 10',
    ]);
  });
});
