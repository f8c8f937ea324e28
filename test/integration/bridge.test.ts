// pipework on a Linux bridge, with named network namespaces as guests (no container runtime):
// the exact kernel state it leaves (read back with `ip -json -d`), as the classic tool would
// leave it, and real traffic between the guests. Run as root.
//
// Names: netns pwb-*, bridges brpwb* (pipework creates br* names itself) or pwb* (made here),
// other host links pwb*. Addresses 10.241.N.0/24, 2001:db8:241:N::/64, inside our namespaces.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  addNetns,
  addVeth,
  delNetns,
  getLink,
  ip,
  ipJson,
  ping,
  waitDad,
  type IpLink,
} from './helpers/netns.js';
import { pipeworkBin, sh, sleep, waitFor, type RunResult } from './helpers/run.js';
import {
  addrLines,
  assertGuestUnchanged,
  assertOursUnchanged,
  assertResolvConfUnchanged,
  cleanupAll,
  hostEndFromPlan,
  peerNetns,
  pw,
  pwOk,
  pwRefused,
  removeLink,
  routeLines,
  snapshotGuest,
  snapshotOurs,
  waitOperstate,
} from './helpers/bridge-common.js';

const HASHED = /^pwv[0-9a-f]{12}$/u;

before(async () => {
  await cleanupAll();
});

after(async () => {
  await cleanupAll();
  assertResolvConfUnchanged();
});

async function mustLink(name: string, ns?: string): Promise<IpLink> {
  const l = await getLink(name, ns);
  assert.ok(l !== undefined, `link ${name} missing${ns !== undefined ? ` in ${ns}` : ' on the host'}`);
  return l;
}

/** Host ends (ports) of bridge BR, sorted. */
async function bridgePorts(br: string): Promise<string[]> {
  return ((await ipJson(['link', 'show', 'master', br])) as IpLink[]).map((l) => l.ifname).sort();
}

/** Addresses of DEV in NS other than IPv6 link-local ones. */
async function globalAddrs(dev: string, ns: string, family: 4 | 6): Promise<string[]> {
  return (await addrLines(dev, ns, family)).filter((a) => !a.startsWith('fe80:'));
}

/**
 * Assert the veth pair: host end HOST (veth, UP, master BRIDGE, MTU) and its peer GUESTIF in NS
 * (veth, UP with carrier, same MTU), each naming the other as its peer.
 */
async function assertPlumbed(host: string, bridge: string, ns: string, guestIf: string, mtu: number): Promise<void> {
  const h = await mustLink(host);
  assert.equal(h.linkinfo?.info_kind, 'veth', `${host} kind`);
  assert.equal(h.linkinfo?.info_slave_kind, 'bridge', `${host} is a bridge port`);
  assert.equal(h.master, bridge, `${host} master`);
  assert.ok(h.flags.includes('UP'), `${host} is UP: ${h.flags.join(',')}`);
  assert.equal(h.mtu, mtu, `${host} MTU`);
  assert.equal(await peerNetns(h), ns, `${host}'s peer lives in ${ns}`);
  // operstate follows carrier through the kernel's linkwatch, which may lag up to a second.
  await waitFor(`${ns} ${guestIf} operstate UP`, async () => (await getLink(guestIf, ns))?.operstate === 'UP', 3_000, 50);
  const g = await mustLink(guestIf, ns);
  assert.equal(g.linkinfo?.info_kind, 'veth', `${ns} ${guestIf} kind`);
  assert.ok(g.flags.includes('UP') && g.flags.includes('LOWER_UP'), `${ns} ${guestIf} is UP with carrier: ${g.flags.join(',')}`);
  assert.equal(g.operstate, 'UP');
  assert.equal(g.mtu, mtu, `${ns} ${guestIf} MTU`);
  assert.equal(h['link_index'], g.ifindex, `${host} is the peer of ${ns} ${guestIf}`);
  assert.equal(g['link_index'], h.ifindex, `${ns} ${guestIf} is the peer of ${host}`);
}

async function hostEnd(args: readonly string[]): Promise<string> {
  return hostEndFromPlan(await pwOk(['--dry-run', ...args]));
}

// 1 ------------------------------------------------------------------------------------------
void describe('two netns guests on a new bridge', () => {
  const A = 'pwb-a1';
  const B = 'pwb-a2';
  const BR = 'brpwb0';
  before(async () => {
    await addNetns(A);
    await addNetns(B);
    await removeLink(BR);
  });
  after(async () => {
    await delNetns(A);
    await delNetns(B);
    await removeLink(BR);
  });

  void test('hashed host end: valid, stable for the same guest and ifname, distinct otherwise', async () => {
    const plan1 = await pwOk(['--dry-run', BR, A, '10.241.1.1/24']);
    const plan2 = await pwOk(['--dry-run', BR, A, '10.241.1.1/24']);
    assert.equal(plan1, plan2, 'two dry runs print the same plan');
    const endA = hostEndFromPlan(plan1);
    assert.match(endA, HASHED);
    assert.ok(Buffer.byteLength(endA) <= 15);
    const endB = await hostEnd([BR, B, '10.241.1.2/24']);
    assert.match(endB, HASHED);
    assert.notEqual(endB, endA, 'another guest, another name');
    const endA2 = await hostEnd([BR, '-i', 'eth2', A, '10.241.1.1/24']);
    assert.notEqual(endA2, endA, 'another guest interface, another name');
    assert.equal(await getLink(BR), undefined, '--dry-run created nothing');
    assert.equal(await getLink(endA), undefined);
  });

  void test('attach creates the bridge, both veth pairs, addresses; the guests ping each other', async () => {
    const endA = await hostEnd([BR, A, '10.241.1.1/24']);
    const endB = await hostEnd([BR, B, '10.241.1.2/24']);
    assert.equal(await pwOk([BR, A, '10.241.1.1/24']), '');
    assert.equal(await pwOk([BR, B, '10.241.1.2/24']), '');

    await waitOperstate(BR, 'UP');
    const br = await mustLink(BR);
    assert.equal(br.linkinfo?.info_kind, 'bridge');
    assert.ok(br.flags.includes('UP'), `bridge UP: ${br.flags.join(',')}`);
    assert.equal(br.operstate, 'UP');
    assert.deepEqual(await bridgePorts(BR), [endA, endB].sort());

    for (const [ns, end, addr] of [[A, endA, '10.241.1.1'], [B, endB, '10.241.1.2']] as const) {
      await assertPlumbed(end, BR, ns, 'eth1', br.mtu);
      assert.deepEqual(await addrLines('eth1', ns, 4), [`${addr}/24 brd 10.241.1.255 scope global`]);
      assert.deepEqual(await routeLines(ns, 4), [`10.241.1.0/24 dev eth1 proto kernel scope link src ${addr}`]);
      assert.deepEqual(await routeLines(ns, 6, 'main').then((r) => r.filter((l) => !l.startsWith('fe80::/64 dev eth1'))), []);
    }
    assert.equal(await ping(A, '10.241.1.2'), true, 'A → B');
    assert.equal(await ping(B, '10.241.1.1'), true, 'B → A');
  });
});

// 2 ------------------------------------------------------------------------------------------
void describe('IPv6', () => {
  const A = 'pwb-v1';
  const B = 'pwb-v2';
  const BR = 'brpwb6';
  before(async () => {
    await addNetns(A);
    await addNetns(B);
  });
  after(async () => {
    await delNetns(A);
    await delNetns(B);
    await removeLink(BR);
  });

  void test('-a 6 and an inferred IPv6 address; ping6 both ways', async () => {
    await pwOk([BR, '-a', '6', A, '2001:db8:241:2::1/64']);
    await pwOk([BR, B, '2001:db8:241:2::2/64']);
    for (const [ns, addr] of [[A, '2001:db8:241:2::1'], [B, '2001:db8:241:2::2']] as const) {
      const g = await mustLink('eth1', ns);
      assert.ok(g.flags.includes('UP'));
      assert.deepEqual(await globalAddrs('eth1', ns, 6), [`${addr}/64 scope global`]);
      assert.equal((await addrLines('eth1', ns, 6)).filter((a) => a.startsWith('fe80:')).length, 1, 'one link-local address');
      assert.deepEqual(await addrLines('eth1', ns, 4), []);
      assert.deepEqual(await routeLines(ns, 6), [
        '2001:db8:241:2::/64 dev eth1 proto kernel metric 256 pref medium',
        'fe80::/64 dev eth1 proto kernel metric 256 pref medium',
      ]);
      assert.deepEqual(await routeLines(ns, 4), []);
    }
    await waitDad('eth1', A, 5_000);
    await waitDad('eth1', B, 5_000);
    assert.equal(await ping(A, '2001:db8:241:2::2', 6), true, 'A → B');
    assert.equal(await ping(B, '2001:db8:241:2::1', 6), true, 'B → A');
  });

  void test('-a 4 with an IPv6 address is refused, nothing changes', async () => {
    const host = await snapshotOurs();
    const guest = await snapshotGuest(A);
    await pwRefused([BR, '-i', 'eth2', '-a', '4', A, '2001:db8:241:2::3/64'], /IPv6|IPv4|-a 4/u);
    await assertOursUnchanged(host);
    await assertGuestUnchanged(A, guest);
  });
});

// 3 ------------------------------------------------------------------------------------------
void describe('gateways', () => {
  const BR = 'brpwbg';
  const NS = ['pwb-g1', 'pwb-g2', 'pwb-g3', 'pwb-g4', 'pwb-g5', 'pwb-g6'] as const;
  const [G1, G2, G3, G4, G5, G6] = NS;
  before(async () => {
    for (const ns of NS) await addNetns(ns);
  });
  after(async () => {
    for (const ns of NS) await delNetns(ns);
    await removeLink(BR);
    await removeLink('pwbg3h');
  });

  void test('IPv4 gateway inside the subnet: default via gw dev eth1, no host route', async () => {
    await pwOk([BR, G1, '10.241.3.1/24@10.241.3.254']);
    assert.deepEqual(await routeLines(G1, 4), [
      '10.241.3.0/24 dev eth1 proto kernel scope link src 10.241.3.1',
      'default via 10.241.3.254 dev eth1',
    ]);
  });

  void test('IPv4 gateway outside the subnet: on-link host route to it, then the default', async () => {
    await pwOk([BR, G2, '10.241.4.1/24@10.241.99.1']);
    assert.deepEqual(await routeLines(G2, 4), [
      '10.241.4.0/24 dev eth1 proto kernel scope link src 10.241.4.1',
      '10.241.99.1 dev eth1 scope link',
      'default via 10.241.99.1 dev eth1',
    ]);
  });

  void test('an existing default route is replaced; the other family is left alone', async () => {
    await addVeth('pwbg3h', 'pwbg3p', { peerNs: G3, peerRename: 'eth0' });
    await ip(['link', 'set', 'pwbg3h', 'up']);
    await ip(['addr', 'add', '192.168.241.2/24', 'dev', 'eth0'], G3);
    await ip(['-6', 'addr', 'add', '2001:db8:241:30::2/64', 'dev', 'eth0', 'nodad'], G3);
    await ip(['link', 'set', 'eth0', 'up'], G3);
    await ip(['route', 'add', 'default', 'via', '192.168.241.1', 'dev', 'eth0'], G3);
    await ip(['-6', 'route', 'add', 'default', 'via', '2001:db8:241:30::1', 'dev', 'eth0'], G3);
    const v6Before = await routeLines(G3, 6);

    await pwOk([BR, G3, '10.241.3.3/24@10.241.3.254']);
    assert.deepEqual(await routeLines(G3, 4), [
      '10.241.3.0/24 dev eth1 proto kernel scope link src 10.241.3.3',
      '192.168.241.0/24 dev eth0 proto kernel scope link src 192.168.241.2',
      'default via 10.241.3.254 dev eth1',
    ]);
    const v6After = await routeLines(G3, 6);
    assert.deepEqual(v6After.filter((r) => !r.includes('dev eth1')), v6Before, 'IPv6 routes untouched');
    assert.ok(v6After.includes('default via 2001:db8:241:30::1 dev eth0 metric 1024 pref medium'));

    // And an IPv6 gateway on a second interface replaces only the IPv6 default.
    await pwOk([BR, '-i', 'eth2', G3, '2001:db8:241:31::3/64@2001:db8:241:31::1']);
    assert.deepEqual((await routeLines(G3, 6)).filter((r) => r.startsWith('default')), [
      'default via 2001:db8:241:31::1 dev eth2 metric 1024 pref medium',
    ]);
    assert.deepEqual((await routeLines(G3, 4)).filter((r) => r.startsWith('default')), ['default via 10.241.3.254 dev eth1']);
  });

  void test('IPv6 gateway inside the subnet (-a 6): default via it, no host route', async () => {
    await pwOk([BR, '-a', '6', G4, '2001:db8:241:3::1/64@2001:db8:241:3::fffe']);
    assert.deepEqual(await routeLines(G4, 6), [
      '2001:db8:241:3::/64 dev eth1 proto kernel metric 256 pref medium',
      'default via 2001:db8:241:3::fffe dev eth1 metric 1024 pref medium',
      'fe80::/64 dev eth1 proto kernel metric 256 pref medium',
    ]);
    assert.deepEqual(await routeLines(G4, 4), []);
  });

  void test('IPv6 link-local gateway fe80::1: default via it, no host route', async () => {
    await pwOk([BR, G5, '2001:db8:241:4::1/64@fe80::1']);
    assert.deepEqual(await routeLines(G5, 6), [
      '2001:db8:241:4::/64 dev eth1 proto kernel metric 256 pref medium',
      'default via fe80::1 dev eth1 metric 1024 pref medium',
      'fe80::/64 dev eth1 proto kernel metric 256 pref medium',
    ]);
  });

  void test('IPv6 gateway outside the subnet: on-link host route, then the default', async () => {
    await pwOk([BR, G6, '2001:db8:241:5::1/64@2001:db8:241:99::1']);
    assert.deepEqual(await routeLines(G6, 6), [
      '2001:db8:241:5::/64 dev eth1 proto kernel metric 256 pref medium',
      '2001:db8:241:99::1 dev eth1 metric 1024 pref medium',
      'default via 2001:db8:241:99::1 dev eth1 metric 1024 pref medium',
      'fe80::/64 dev eth1 proto kernel metric 256 pref medium',
    ]);
  });
});

// 4 ------------------------------------------------------------------------------------------
void describe('guest interface names (-i)', () => {
  const N1 = 'pwb-n1';
  const N2 = 'pwb-n2';
  const BRN = 'brpwbn';
  const BRM = 'brpwbm';
  before(async () => {
    await addNetns(N1);
    await addNetns(N2);
  });
  after(async () => {
    await delNetns(N1);
    await delNetns(N2);
    await removeLink(BRN);
    await removeLink(BRM);
  });

  void test('-i eth7, a 15-character -i, and two interfaces per guest on two bridges', async () => {
    const end7 = await hostEnd([BRN, '-i', 'eth7', N1, '10.241.5.1/24']);
    const endLong = await hostEnd([BRM, '-i', 'averyverylongif', N1, '10.241.6.1/24']);
    assert.match(end7, HASHED);
    assert.match(endLong, HASHED);
    assert.notEqual(end7, endLong);
    await pwOk([BRN, '-i', 'eth7', N1, '10.241.5.1/24']);
    await pwOk([BRM, '-i', 'averyverylongif', N1, '10.241.6.1/24']);
    const end1 = await hostEnd([BRN, N2, '10.241.5.2/24']);
    await pwOk([BRN, N2, '10.241.5.2/24']);
    const end2 = await hostEnd([BRM, '-i', 'eth2', N2, '10.241.6.2/24']);
    await pwOk([BRM, '-i', 'eth2', N2, '10.241.6.2/24']);
    assert.equal(new Set([end7, endLong, end1, end2]).size, 4, 'four distinct host ends');

    const mtu = 1500;
    await assertPlumbed(end7, BRN, N1, 'eth7', mtu);
    await assertPlumbed(endLong, BRM, N1, 'averyverylongif', mtu);
    await assertPlumbed(end1, BRN, N2, 'eth1', mtu);
    await assertPlumbed(end2, BRM, N2, 'eth2', mtu);
    assert.deepEqual(await routeLines(N1, 4), [
      '10.241.5.0/24 dev eth7 proto kernel scope link src 10.241.5.1',
      '10.241.6.0/24 dev averyverylongif proto kernel scope link src 10.241.6.1',
    ]);
    assert.deepEqual(await routeLines(N2, 4), [
      '10.241.5.0/24 dev eth1 proto kernel scope link src 10.241.5.2',
      '10.241.6.0/24 dev eth2 proto kernel scope link src 10.241.6.2',
    ]);
    assert.equal(await ping(N2, '10.241.5.1'), true, 'over brpwbn');
    assert.equal(await ping(N2, '10.241.6.1'), true, 'over brpwbm');
    assert.equal(await ping(N1, '10.241.6.2'), true, 'back over brpwbm');
  });

  void test('an -i the guest already has is refused, naming it; nothing changes', async () => {
    const host = await snapshotOurs();
    const guest = await snapshotGuest(N2);
    await pwRefused([BRN, '-i', 'eth2', N2, '10.241.5.9/24'], /\beth2\b/u);
    await pwRefused([BRN, N2, '10.241.5.9/24'], /\beth1\b/u);
    await pwRefused([BRN, '-i', 'eth3', '-i', 'eth3', N2, '10.241.5.9/24'], /-i/u);
    await assertOursUnchanged(host);
    await assertGuestUnchanged(N2, guest);
  });
});

// 5 ------------------------------------------------------------------------------------------
void describe('-l: the host end name', () => {
  const L = 'pwb-l1';
  const BR = 'brpwbl';
  const LOC = 'pwbloc0';
  before(async () => {
    await addNetns(L);
    await removeLink(LOC);
    await removeLink(BR);
  });
  after(async () => {
    await delNetns(L);
    await removeLink(LOC);
    await removeLink('pwbloc0p');
    await removeLink(BR);
  });

  void test('a link of that name that is UP: "Link pwbloc0 exists and is up", nothing changes', async () => {
    await addVeth(LOC, 'pwbloc0p');
    await ip(['link', 'set', LOC, 'up']);
    const host = await snapshotOurs();
    const guest = await snapshotGuest(L);
    await pwRefused([BR, '-l', LOC, L, '10.241.7.1/24'], /^pipework: Link pwbloc0 exists and is up\n$/u);
    await assertOursUnchanged(host);
    await assertGuestUnchanged(L, guest);
    assert.equal(await getLink(BR), undefined, 'the bridge was not created');
  });

  void test('a DOWN veth of that name that pipework did not make is refused, naming it; nothing changes', async () => {
    await ip(['link', 'set', LOC, 'down']);
    const host = await snapshotOurs();
    const guest = await snapshotGuest(L);
    await pwRefused([BR, '-l', LOC, L, '10.241.7.1/24'], /^pipework: link pwbloc0 exists \(down\) and was not made by pipework; refusing to remove it/u);
    await assertOursUnchanged(host);
    await assertGuestUnchanged(L, guest);
    assert.ok(await getLink('pwbloc0p'), 'its peer is still there');
  });

  void test('a DOWN host end that pipework made (its guest gone) is deleted and made again', async () => {
    await removeLink(LOC);
    // A pipework host end whose guest side went away without it (a veth into another namespace).
    await addVeth(LOC, 'pwbloc0p');
    await ip(['link', 'set', LOC, 'alias', 'pipework/1;r=host;g=netns:gone;n=1;i=eth1;h=brpwbl;k=bridge;l=pwbloc0']);
    const old = await mustLink(LOC);
    assert.equal(await pwOk([BR, '-l', LOC, L, '10.241.7.1/24']), '');
    const now = await mustLink(LOC);
    assert.notEqual(now.ifindex, old.ifindex, 'a new link');
    assert.equal(await getLink('pwbloc0p'), undefined, 'the old pair is gone');
    await assertPlumbed(LOC, BR, L, 'eth1', 1500);
    assert.deepEqual(await addrLines('eth1', L, 4), ['10.241.7.1/24 brd 10.241.7.255 scope global']);
  });
});

// 6 ------------------------------------------------------------------------------------------
void describe('MTU', () => {
  const T = 'pwb-t1';
  const U = 'pwb-t2';
  const BR = 'pwbmtu0';
  before(async () => {
    await addNetns(T);
    await addNetns(U);
    await removeLink(BR);
    await ip(['link', 'add', BR, 'mtu', '1400', 'type', 'bridge']);
    await ip(['link', 'set', BR, 'up']);
  });
  after(async () => {
    await delNetns(T);
    await delNetns(U);
    await removeLink(BR);
  });

  void test('on an existing bridge with MTU 1400 both veth ends get MTU 1400', async () => {
    const end = await hostEnd([BR, T, '10.241.8.1/24']);
    await pwOk([BR, T, '10.241.8.1/24']);
    await pwOk([BR, U, '10.241.8.2/24']);
    await assertPlumbed(end, BR, T, 'eth1', 1400);
    assert.equal((await mustLink(BR)).mtu, 1400, 'the bridge keeps its MTU');
    assert.equal((await mustLink('eth1', U)).mtu, 1400);
    // 1372 bytes of payload + 28 of headers = 1400: fits; with DF one more byte would not.
    const fits = await sh(['ip', 'netns', 'exec', T, 'ping', '-4', '-n', '-c', '1', '-W', '2', '-M', 'do', '-s', '1372', '10.241.8.2'], { timeoutMs: 5_000 });
    assert.equal(fits.code, 0, fits.stdout + fits.stderr);
    const tooBig = await sh(['ip', 'netns', 'exec', T, 'ping', '-4', '-n', '-c', '1', '-W', '1', '-M', 'do', '-s', '1373', '10.241.8.2'], { timeoutMs: 5_000 });
    assert.notEqual(tooBig.code, 0);
  });
});

// 7 ------------------------------------------------------------------------------------------
void describe('MAC addresses', () => {
  const NS = ['pwb-m1', 'pwb-m2', 'pwb-m3', 'pwb-m4'] as const;
  const [M1, M2, M3, M4] = NS;
  const BR = 'brpwbk';
  before(async () => {
    for (const ns of NS) await addNetns(ns);
  });
  after(async () => {
    for (const ns of NS) await delNetns(ns);
    await removeLink(BR);
    await removeLink('pwba0');
    await removeLink('pwbz0');
  });

  void test('an explicit MAC and U:<text> set the guest MAC', async () => {
    await pwOk([BR, M1, '10.241.9.1/24', '02:11:22:33:44:55']);
    await pwOk([BR, M2, '10.241.9.2/24', 'U:myhost.foo.com']);
    assert.equal((await mustLink('eth1', M1)).address, '02:11:22:33:44:55');
    assert.equal((await mustLink('eth1', M2)).address, '02:72:6c:cd:9b:8d');
    assert.equal(await ping(M1, '10.241.9.2'), true);
    const neigh = (await ipJson(['neigh', 'show', '10.241.9.2', 'dev', 'eth1'], M1)) as { lladdr?: string }[];
    assert.equal(neigh[0]?.lladdr, '02:72:6c:cd:9b:8d', 'the peer is seen with its U: MAC');
  });

  void test('mac:<bridge MAC> as the host interface selects the bridge', async () => {
    const br = await mustLink(BR);
    assert.ok(br.address !== undefined);
    const end = await hostEnd([`mac:${br.address}`, M3, '10.241.9.3/24']);
    await pwOk([`mac:${br.address}`, M3, '10.241.9.3/24']);
    await assertPlumbed(end, BR, M3, 'eth1', br.mtu);
    assert.equal(await ping(M3, '10.241.9.1'), true);
  });

  void test('mac:<bridge MAC> selects the bridge even when a port (sorting first) has the same MAC', async () => {
    // A bridge without a MAC of its own takes its lowest port's MAC: two links share it.
    await ip(['link', 'add', 'pwbz0', 'type', 'bridge']);
    await addVeth('pwba0', 'pwba0p');
    await ip(['link', 'set', 'pwba0', 'master', 'pwbz0']);
    await ip(['link', 'set', 'pwba0', 'up']);
    await ip(['link', 'set', 'pwbz0', 'up']);
    const mac = (await mustLink('pwbz0')).address;
    assert.equal((await mustLink('pwba0')).address, mac, 'precondition: the bridge took its port\'s MAC');
    const r = await pw([`mac:${mac!}`, M4, '10.241.9.4/24']);
    assert.equal(r.code, 0, `pipework mac:${mac!} ${M4} 10.241.9.4/24 → exit ${r.code}: ${r.stderr}`);
    const ports = await bridgePorts('pwbz0');
    assert.equal(ports.length, 2, `the guest joined bridge pwbz0: ports ${ports.join(', ')}`);
  });
});

// 8 ------------------------------------------------------------------------------------------
void describe('0/0', () => {
  const Z = 'pwb-z1';
  const BR = 'brpwbz';
  before(async () => {
    await addNetns(Z);
  });
  after(async () => {
    await delNetns(Z);
    await removeLink(BR);
  });

  void test('eth1 is plumbed and UP with no IPv4 address and no route', async () => {
    const plan = await pwOk(['--dry-run', BR, Z, '0/0']);
    assert.doesNotMatch(plan, /addr add|arping|route/u, 'no address, no route, no ARP in the plan');
    const end = hostEndFromPlan(plan);
    await pwOk([BR, Z, '0/0']);
    await assertPlumbed(end, BR, Z, 'eth1', 1500);
    assert.deepEqual(await addrLines('eth1', Z, 4), []);
    assert.deepEqual(await globalAddrs('eth1', Z, 6), []);
    assert.deepEqual(await routeLines(Z, 4), []);
  });
});

// 9 ------------------------------------------------------------------------------------------
void describe('route, rule, tc pass through', () => {
  const R = 'pwb-r1';
  const BR = 'brpwbr';
  before(async () => {
    await addNetns(R);
    await pwOk([BR, R, '10.241.10.1/24']);
    await waitOperstate(BR, 'UP'); // settles asynchronously; the host snapshots below compare it
  });
  after(async () => {
    await delNetns(R);
    await removeLink(BR);
  });

  const direct = (argv: string[]): Promise<RunResult> => sh(['ip', 'netns', 'exec', R, ...argv], { timeoutMs: 10_000 });

  void test('route: changes the guest, output and exit status pass through', async () => {
    const host = await snapshotOurs();
    const add = await pw(['route', R, 'add', '10.99.0.0/16', 'via', '10.241.10.254']);
    assert.deepEqual([add.code, add.stdout, add.stderr], [0, '', '']);
    assert.deepEqual(await routeLines(R, 4), [
      '10.241.10.0/24 dev eth1 proto kernel scope link src 10.241.10.1',
      '10.99.0.0/16 via 10.241.10.254 dev eth1',
    ]);
    const show = await pw(['route', R, 'show']);
    assert.equal(show.code, 0);
    assert.equal(show.stdout, (await direct(['ip', 'route', 'show'])).stdout);
    assert.match(show.stdout, /^10\.99\.0\.0\/16 via 10\.241\.10\.254 dev eth1 $/mu);

    const dup = await pw(['route', R, 'add', '10.99.0.0/16', 'via', '10.241.10.254']);
    const dupDirect = await direct(['ip', 'route', 'add', '10.99.0.0/16', 'via', '10.241.10.254']);
    assert.equal(dupDirect.code, 2, 'ip itself exits 2 on a duplicate route');
    assert.equal(dup.code, 2, `duplicate route add: ${dup.stderr}`);
    assert.equal(dup.stderr, dupDirect.stderr);
    assert.match(dup.stderr, /File exists/u);

    const table = await pw(['route', R, 'add', 'default', 'via', '10.241.10.254', 'table', '100']);
    assert.equal(table.code, 0, table.stderr);
    assert.deepEqual(await routeLines(R, 4, '100'), ['default via 10.241.10.254 dev eth1']);
    await assertOursUnchanged(host);
  });

  void test('rule: changes the guest, output passes through', async () => {
    const add = await pw(['rule', R, 'add', 'from', '10.241.10.1', 'table', '100']);
    assert.deepEqual([add.code, add.stdout, add.stderr], [0, '', '']);
    const rules = (await ipJson(['-4', 'rule', 'show'], R)) as { src?: string; table?: string; priority?: number }[];
    assert.equal(rules.filter((r) => r.src === '10.241.10.1' && r.table === '100').length, 1, JSON.stringify(rules));
    const show = await pw(['rule', R, 'show']);
    assert.equal(show.code, 0);
    assert.equal(show.stdout, (await direct(['ip', 'rule', 'show'])).stdout);
    assert.match(show.stdout, /from 10\.241\.10\.1 lookup 100/u);
    const bad = await pw(['rule', R, 'add', 'from', 'nonsense', 'table', '100']);
    const badDirect = await direct(['ip', 'rule', 'add', 'from', 'nonsense', 'table', '100']);
    assert.notEqual(badDirect.code, 0);
    assert.equal(bad.code, badDirect.code);
  });

  void test('tc: changes the guest, output and exit status pass through', async () => {
    const tbf = ['qdisc', 'add', 'dev', 'eth1', 'root', 'tbf', 'rate', '1mbit', 'burst', '32kbit', 'latency', '400ms'];
    const add = await pw(['tc', R, ...tbf]);
    assert.deepEqual([add.code, add.stdout, add.stderr], [0, '', '']);
    const q = JSON.parse((await direct(['tc', '-j', 'qdisc', 'show', 'dev', 'eth1'])).stdout) as { kind: string; root?: boolean }[];
    assert.deepEqual(q.map((x) => [x.kind, x.root]), [['tbf', true]]);
    const show = await pw(['tc', R, 'qdisc', 'show', 'dev', 'eth1']);
    assert.equal(show.code, 0);
    assert.equal(show.stdout, (await direct(['tc', 'qdisc', 'show', 'dev', 'eth1'])).stdout);
    assert.match(show.stdout, /^qdisc tbf /u);
    const dup = await pw(['tc', R, ...tbf]);
    const dupDirect = await direct(['tc', ...tbf]);
    assert.notEqual(dupDirect.code, 0);
    assert.equal(dup.code, dupDirect.code, `duplicate qdisc: ${dup.stderr}`);
    assert.equal(dup.stderr, dupDirect.stderr);
  });
});

// 10 -----------------------------------------------------------------------------------------
void describe('--wait', () => {
  const W = 'pwb-w';
  const BR = 'brpwbw';
  before(async () => {
    await addNetns(W);
  });
  after(async () => {
    await delNetns(W);
    await removeLink(BR);
  });

  const waitIn = (args: string[]): Promise<RunResult> =>
    sh(['ip', 'netns', 'exec', W, process.execPath, pipeworkBin, '--wait', ...args], { timeoutMs: 20_000 });

  void test('returns 0 once the interface is attached', async () => {
    let done = false;
    const waiting = waitIn(['-i', 'eth1', '--timeout', '10']).then((r) => {
      done = true;
      return { ...r, at: Date.now() };
    });
    await sleep(700);
    assert.equal(done, false, '--wait returned before the attach');
    const attachedAt = Date.now();
    await pwOk([BR, W, '10.241.11.1/24']);
    const r = await waiting;
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.at - attachedAt < 5_000, `returned ${r.at - attachedAt} ms after the attach began`);
  });

  void test('with no attach and --timeout 1 it exits 1 after about 1 s', async () => {
    const t0 = Date.now();
    const r = await waitIn(['-i', 'eth9', '--timeout', '1']);
    const ms = Date.now() - t0;
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /eth9/u);
    assert.ok(ms >= 900 && ms < 4_000, `took ${ms} ms`);
  });
});

// 13 -----------------------------------------------------------------------------------------
void describe('concurrency', () => {
  const BR = 'brpwbc';
  const NS = Array.from({ length: 10 }, (_, i) => `pwb-c${i}`);
  before(async () => {
    await removeLink(BR);
    await Promise.all(NS.map((ns) => addNetns(ns)));
  });
  after(async () => {
    for (const ns of NS) await delNetns(ns);
    await removeLink(BR);
  });

  void test('10 guests attached at once to a bridge that does not exist yet', async () => {
    const results = await Promise.all(NS.map((ns, i) => pw([BR, ns, `10.241.12.${i + 1}/24`])));
    results.forEach((r, i) => {
      assert.equal(r.code, 0, `guest ${NS[i]!}: exit ${r.code}: ${r.stderr}`);
      assert.equal(r.stderr, '');
    });
    await waitOperstate(BR, 'UP');
    const br = await mustLink(BR);
    assert.equal(br.linkinfo?.info_kind, 'bridge');
    assert.ok(br.flags.includes('UP'));
    const ports = await bridgePorts(BR);
    assert.equal(ports.length, 10, `ports: ${ports.join(', ')}`);
    assert.equal(new Set(ports).size, 10);
    for (const p of ports) assert.match(p, HASHED);
    const peers = await Promise.all(ports.map(async (p) => peerNetns(await mustLink(p))));
    assert.deepEqual(peers.sort(), [...NS].sort(), 'one host end per guest');
    const pings = await Promise.all(NS.slice(1).map((ns) => ping(ns, '10.241.12.1', 4, { retryMs: 3_000 })));
    assert.deepEqual(pings, NS.slice(1).map(() => true));
  });
});
