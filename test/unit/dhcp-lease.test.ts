// DHCP client events → normalised lease events → ip batch lines and resolv.conf (all pure).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  defaultGateway, fromDhclient, fromDhcpcd, fromUdhcpc, maskToPrefix, normalize, parseRfc3442, parseRoutePairs, planBind4, planBind6,
  resolvConf, type Bind4, type Bind6, type CurrentState, type PlanOptions,
} from '../../src/dhcp/lease.js';

/** The environment busybox udhcpc 1.35 gave our hook against dnsmasq (seen on the testbed). */
const UDHCPC_BOUND = {
  interface: 'eth1', ip: '10.251.7.135', mask: '24', subnet: '255.255.255.0', broadcast: '10.251.7.255', router: '10.251.7.1',
  dns: '10.251.7.53', hostname: 'c1', lease: '120', serverid: '10.251.7.1', opt58: '0000000a', opt59: '0000000f',
};
/** dhclient 4.4.3 (BOUND), as seen on the testbed. */
const DHCLIENT_BOUND = {
  reason: 'BOUND', interface: 'eth1', new_ip_address: '10.251.7.135', new_subnet_mask: '255.255.255.0',
  new_broadcast_address: '10.251.7.255', new_routers: '10.251.7.1', new_domain_name_servers: '10.251.7.53',
  new_dhcp_lease_time: '120', new_dhcp_renewal_time: '10', new_network_number: '10.251.7.0',
};
/** dhcpcd 9.4.1 (BOUND). */
const DHCPCD_BOUND = {
  reason: 'BOUND', interface: 'eth1', new_ip_address: '10.251.7.136', new_subnet_cidr: '24', new_subnet_mask: '255.255.255.0',
  new_broadcast_address: '10.251.7.255', new_routers: '10.251.7.1', new_domain_name_servers: '10.251.7.53', new_dhcp_lease_time: '120',
};

const BIND: Bind4 = { kind: 'bind4', address: '10.251.7.135', prefix: 24, broadcast: '10.251.7.255', routers: ['10.251.7.1'], dns: ['10.251.7.53'], search: [], lease: 120 };

void describe('normalising what the clients say', () => {
  void test('udhcpc bound/renew → bind4; deconfig → unbind4; leasefail/nak are ignored', () => {
    assert.deepEqual(fromUdhcpc('bound', UDHCPC_BOUND), BIND);
    assert.deepEqual(fromUdhcpc('renew', UDHCPC_BOUND), BIND);
    assert.deepEqual(fromUdhcpc('deconfig', { interface: 'eth1' }), { kind: 'unbind4' });
    assert.equal(fromUdhcpc('leasefail', {}).kind, 'ignore');
    assert.equal(fromUdhcpc('nak', {}).kind, 'ignore');
    assert.equal(fromUdhcpc(undefined, {}).kind, 'ignore');
  });

  void test('udhcpc without $mask falls back on $subnet; domain and search become the search list', () => {
    const { mask: _mask, ...env } = UDHCPC_BOUND;
    const e = fromUdhcpc('bound', { ...env, subnet: '255.255.240.0', domain: 'example.org', search: 'a.example b.example' });
    assert.equal(e.kind, 'bind4');
    assert.equal((e).prefix, 20);
    assert.deepEqual((e).search, ['a.example', 'b.example', 'example.org']);
  });

  void test('dhclient: PREINIT, BOUND/RENEW/REBIND/REBOOT, EXPIRE/FAIL, TIMEOUT (a remembered lease is refused), the rest ignored', () => {
    assert.deepEqual(fromDhclient({ reason: 'PREINIT' }), { kind: 'preinit', family: 4 });
    for (const reason of ['BOUND', 'RENEW', 'REBIND', 'REBOOT']) {
      assert.deepEqual(fromDhclient({ ...DHCLIENT_BOUND, reason }), BIND);
    }
    assert.equal((fromDhclient({ ...DHCLIENT_BOUND, old_ip_address: '10.251.7.140' }) as Bind4).old, '10.251.7.140');
    assert.equal((fromDhclient({ ...DHCLIENT_BOUND, old_ip_address: '10.251.7.135' }) as Bind4).old, undefined);
    // dhclient's search names are fully qualified; resolv.conf takes them bare.
    assert.deepEqual((fromDhclient({ ...DHCLIENT_BOUND, new_domain_search: 'pwd.test. b.example.', new_domain_name: 'pwd.test' }) as Bind4).search, ['pwd.test', 'b.example']);
    assert.deepEqual(fromDhclient({ reason: 'EXPIRE', old_ip_address: '10.251.7.135', old_subnet_mask: '255.255.255.0' }),
      { kind: 'unbind4', address: '10.251.7.135', prefix: 24 });
    assert.deepEqual(fromDhclient({ reason: 'FAIL' }), { kind: 'unbind4' });
    assert.equal(fromDhclient({ reason: 'TIMEOUT', new_ip_address: '10.251.7.135' }).kind, 'reject');
    for (const reason of ['STOP', 'RELEASE', 'MEDIUM', 'ARPCHECK', 'ARPSEND', 'DEPREF6', undefined]) {
      assert.equal(fromDhclient({ reason }).kind, 'ignore', String(reason));
    }
  });

  void test('dhclient -6: PREINIT6, BOUND6 with the address and DHCPv6 DNS, EXPIRE6', () => {
    assert.deepEqual(fromDhclient({ reason: 'PREINIT6' }), { kind: 'preinit', family: 6 });
    const env = {
      reason: 'BOUND6', new_ip6_address: 'fd77:7::196', new_ip6_prefixlen: '128', new_dhcp6_name_servers: 'fd77:7::53 bogus',
      new_dhcp6_domain_search: 'lab.example',
    };
    const want: Bind6 = { kind: 'bind6', address: 'fd77:7::196', prefix: 128, dns: ['fd77:7::53'], search: ['lab.example'] };
    assert.deepEqual(fromDhclient(env), want);
    assert.deepEqual(fromDhclient({ ...env, reason: 'RENEW6', old_ip6_address: 'fd77:7::100', old_ip6_prefixlen: '128' }),
      { ...want, old: { address: 'fd77:7::100', prefix: 128 } });
    assert.deepEqual(fromDhclient({ reason: 'EXPIRE6', old_ip6_address: 'fd77:7::196' }), { kind: 'unbind6', address: 'fd77:7::196', prefix: 128 });
  });

  void test('dhcpcd: BOUND…REBOOT → bind4 from $new_subnet_cidr; BOUND6 from the IA_NA address; its other reasons are its own business', () => {
    const e = fromDhcpcd(DHCPCD_BOUND);
    assert.deepEqual(e, { ...BIND, address: '10.251.7.136' });
    assert.deepEqual(fromDhcpcd({ reason: 'BOUND6', new_dhcp6_ia_na1_ia_addr1: 'fd77:7::16d', new_dhcp6_name_servers: 'fd77:7::53' }),
      { kind: 'bind6', address: 'fd77:7::16d', prefix: 128, dns: ['fd77:7::53'], search: [] });
    for (const reason of ['PREINIT', 'CARRIER', 'NOCARRIER', 'EXPIRE', 'NAK', 'STOP', 'STOPPED', 'DEPARTED', 'ROUTERADVERT', 'TIMEOUT']) {
      assert.equal(fromDhcpcd({ reason }).kind, 'ignore', reason);
    }
  });

  void test('normalize dispatches on the program (udhcpc: argv[1]; the others: $reason)', () => {
    assert.equal(normalize('udhcpc', 'bound', UDHCPC_BOUND).kind, 'bind4');
    assert.equal(normalize('dhclient', 'bound', { reason: 'PREINIT' }).kind, 'preinit');
    assert.equal(normalize('dhcpcd', undefined, DHCPCD_BOUND).kind, 'bind4');
  });

  void test('what a server sends is validated: no bad address, no line break or quote reaches ip or resolv.conf', () => {
    assert.equal(fromUdhcpc('bound', { ...UDHCPC_BOUND, ip: '10.0.0.1 dev lo' }).kind, 'ignore');
    assert.equal(fromUdhcpc('bound', { ...UDHCPC_BOUND, ip: '010.1.1.1' }).kind, 'ignore');
    assert.equal(fromUdhcpc('bound', { ...UDHCPC_BOUND, mask: '33', subnet: '255.0.255.0' }).kind, 'ignore');
    const e = fromUdhcpc('bound', {
      ...UDHCPC_BOUND, router: '10.251.7.1;reboot 10.251.7.2', dns: '1.1.1.1\nnameserver 6.6.6.6 8.8.8.8 9.9.9.9 4.4.4.4',
      domain: 'ok.example evil"quote bad\nline', broadcast: 'nope',
    }) as Bind4;
    assert.deepEqual(e.routers, ['10.251.7.2']);
    assert.deepEqual(e.dns, ['1.1.1.1', '6.6.6.6', '8.8.8.8']); // split on whitespace, at most 3 (resolv.conf's MAXNS)
    assert.deepEqual(e.search, ['ok.example', 'bad', 'line']);
    assert.equal(e.broadcast, undefined);
    assert.equal(fromDhclient({ reason: 'BOUND6', new_ip6_address: 'fe80::1%eth1' }).kind, 'ignore');
  });

  void test('masks and route options', () => {
    assert.equal(maskToPrefix('255.255.255.0'), 24);
    assert.equal(maskToPrefix('255.255.255.255'), 32);
    assert.equal(maskToPrefix('255.0.255.0'), undefined);
    assert.equal(maskToPrefix('x'), undefined);
    assert.deepEqual(parseRoutePairs('10.0.0.0/8 10.1.1.1 0.0.0.0/0 10.1.1.254 192.168.7.9/24 10.1.1.2 bad/8 1.1.1.1'), [
      { dst: '10.0.0.0/8', gateway: '10.1.1.1' }, { dst: '0.0.0.0/0', gateway: '10.1.1.254' }, { dst: '192.168.7.0/24', gateway: '10.1.1.2' },
    ]);
    assert.equal(parseRoutePairs(''), undefined);
    // RFC 3442: width, significant octets, gateway. 24 192.168.10 via 192.168.1.1; 0 (default) via 10.0.0.1; 32 host route on-link.
    assert.deepEqual(parseRfc3442('24 192 168 10 192 168 1 1 0 10 0 0 1 32 10 9 8 7 0 0 0 0'), [
      { dst: '192.168.10.0/24', gateway: '192.168.1.1' }, { dst: '0.0.0.0/0', gateway: '10.0.0.1' }, { dst: '10.9.8.7/32', gateway: '0.0.0.0' },
    ]);
    assert.equal(parseRfc3442('24 192 168'), undefined);
    assert.equal(parseRfc3442('33 1 2 3 4 5 1 1 1 1'), undefined);
  });
});

const OPTS: PlanOptions = { guestIf: 'eth1', clientConfigures: false, oneshot: false };
const EMPTY: CurrentState = { addrs4: [], defaults: [] };

void describe('planBind4: the ip lines of a lease', () => {
  void test('a fresh interface: the address with its broadcast, and a default route via the router', () => {
    assert.deepEqual(planBind4(BIND, EMPTY, OPTS), [
      ['addr', 'replace', '10.251.7.135/24', 'brd', '10.251.7.255', 'dev', 'eth1'],
      ['route', 'add', 'default', 'via', '10.251.7.1', 'dev', 'eth1'],
    ]);
  });

  void test('a renewal with nothing changed: the address again, the route untouched', () => {
    const now: CurrentState = { addrs4: ['10.251.7.135/24'], defaults: [{ gateway: '10.251.7.1', dev: 'eth1' }] };
    assert.deepEqual(planBind4(BIND, now, OPTS), [['addr', 'replace', '10.251.7.135/24', 'brd', '10.251.7.255', 'dev', 'eth1']]);
  });

  void test('a new address and router: the old ones go', () => {
    const now: CurrentState = { addrs4: ['10.251.7.140/24'], defaults: [{ gateway: '10.251.7.254', dev: 'eth1' }] };
    assert.deepEqual(planBind4(BIND, now, OPTS), [
      ['addr', 'del', '10.251.7.140/24', 'dev', 'eth1'],
      ['addr', 'replace', '10.251.7.135/24', 'brd', '10.251.7.255', 'dev', 'eth1'],
      ['route', 'del', 'default', 'via', '10.251.7.254', 'dev', 'eth1'],
      ['route', 'add', 'default', 'via', '10.251.7.1', 'dev', 'eth1'],
    ]);
  });

  void test("the guest's default route through another interface stays (as the classic clients' scripts leave it)", () => {
    const now: CurrentState = { addrs4: [], defaults: [{ gateway: '172.17.0.1', dev: 'eth0' }] };
    assert.deepEqual(planBind4(BIND, now, OPTS), [['addr', 'replace', '10.251.7.135/24', 'brd', '10.251.7.255', 'dev', 'eth1']]);
  });

  void test('a router outside the subnet (a /32 lease) is on-link', () => {
    const e: Bind4 = { ...BIND, prefix: 32, broadcast: undefined, routers: ['10.251.0.1'] };
    delete e.broadcast;
    assert.deepEqual(planBind4(e, EMPTY, OPTS), [
      ['addr', 'replace', '10.251.7.135/32', 'dev', 'eth1'],
      ['route', 'add', 'default', 'via', '10.251.0.1', 'dev', 'eth1', 'onlink'],
    ]);
  });

  void test('classless static routes (option 121) replace the routers option', () => {
    const e: Bind4 = {
      ...BIND, routers: ['10.251.7.99'],
      classless: [{ dst: '192.168.10.0/24', gateway: '10.251.7.2' }, { dst: '10.9.8.7/32', gateway: '0.0.0.0' }, { dst: '0.0.0.0/0', gateway: '10.251.7.1' }],
    };
    assert.equal(defaultGateway(e), '10.251.7.1');
    assert.deepEqual(planBind4(e, EMPTY, OPTS), [
      ['addr', 'replace', '10.251.7.135/24', 'brd', '10.251.7.255', 'dev', 'eth1'],
      ['route', 'replace', '192.168.10.0/24', 'via', '10.251.7.2', 'dev', 'eth1'],
      ['route', 'replace', '10.9.8.7/32', 'dev', 'eth1', 'scope', 'link'],
      ['route', 'add', 'default', 'via', '10.251.7.1', 'dev', 'eth1'],
    ]);
    assert.equal(defaultGateway({ ...e, classless: [{ dst: '192.168.10.0/24', gateway: '10.251.7.2' }] }), undefined);
  });

  void test('dhcpcd configures the address itself: only the default route; a one-shot lease is made permanent', () => {
    const dhcpcd = { ...OPTS, clientConfigures: true };
    assert.deepEqual(planBind4(BIND, EMPTY, dhcpcd), [['route', 'add', 'default', 'via', '10.251.7.1', 'dev', 'eth1']]);
    assert.deepEqual(planBind4(BIND, { addrs4: ['10.251.7.135/24'], defaults: [{ gateway: '10.251.7.1', dev: 'eth1' }] }, { ...dhcpcd, oneshot: true }), [
      ['addr', 'change', '10.251.7.135/24', 'brd', '10.251.7.255', 'dev', 'eth1', 'noprefixroute', 'valid_lft', 'forever', 'preferred_lft', 'forever'],
    ]);
  });
});

void describe('planBind6 and resolvConf', () => {
  const e: Bind6 = { kind: 'bind6', address: 'fd77:7::196', prefix: 128, dns: [], search: [] };
  void test('dhclient -6: the address (and the old one goes); dhcpcd: its own, made permanent when one-shot', () => {
    assert.deepEqual(planBind6(e, OPTS), [['addr', 'replace', 'fd77:7::196/128', 'dev', 'eth1']]);
    assert.deepEqual(planBind6({ ...e, old: { address: 'fd77:7::100', prefix: 128 } }, OPTS), [
      ['addr', 'del', 'fd77:7::100/128', 'dev', 'eth1'], ['addr', 'replace', 'fd77:7::196/128', 'dev', 'eth1'],
    ]);
    assert.deepEqual(planBind6(e, { ...OPTS, clientConfigures: true }), []);
    assert.deepEqual(planBind6(e, { ...OPTS, clientConfigures: true, oneshot: true }), [
      ['addr', 'change', 'fd77:7::196/128', 'dev', 'eth1', 'noprefixroute', 'valid_lft', 'forever', 'preferred_lft', 'forever'],
    ]);
  });

  void test('resolv.conf: a marker line, the search list, the servers; none without servers', () => {
    assert.equal(resolvConf(['10.0.0.53', '10.0.0.54'], ['lab.example'], 'Written by pipework'),
      '# Written by pipework\nsearch lab.example\nnameserver 10.0.0.53\nnameserver 10.0.0.54\n');
    assert.equal(resolvConf(['fd00::53'], [], 'x'), '# x\nnameserver fd00::53\n');
    assert.equal(resolvConf([], ['lab.example'], 'x'), undefined);
  });
});
