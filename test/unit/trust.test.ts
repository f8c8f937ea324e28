// Which of a guest's interfaces pipework made, as the host confirms it (src/engine/trust.ts):
// a guest with NET_ADMIN rewrites aliases at will, so what its alias says of the host (a host
// end `l=`, a parent `h=`/`q=`, a NIC's name to give back `o=`) is never believed on its own.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { confirmedLinks, confirmedRecord, type HostView } from '../../src/engine/trust.js';
import type { GuestLink } from '../../src/guest/netstate.js';
import type { HostLink } from '../../src/host/links.js';
import { forget, keep, keptKey, keptText } from '../../src/host/kept-records.js';
import { encodeRecord, type AttachRecord } from '../../src/model/record.js';
import './fakes.js';

const INODE = 4026532999;
const BRIDGED: AttachRecord = { role: 'guest', guest: 'docker:web', nsInode: INODE, guestIf: 'eth1', hostIf: 'br0', hostKind: 'bridge', localIf: 'vethpl1', address: '10.0.0.2/24' };

function hostLink(name: string, index: number, iflink = index, alias?: string): HostLink {
  return { name, index, iflink, isBridge: false, type: 1, mtu: 1500, up: true, mac: '02:00:00:00:00:01', ports: [], ...(alias !== undefined && { alias }) };
}

function host(...links: HostLink[]): HostView {
  return { link: (n) => links.find((l) => l.name === n), byIndex: (i) => links.find((l) => l.index === i) };
}

/** The guest end of a veth (index 9) whose peer on the host has index 30. */
function guestVeth(alias?: string, extra: Partial<GuestLink> = {}): GuestLink {
  return { name: 'eth1', up: true, kind: 'veth', index: 9, peer: { index: 30, elsewhere: true }, ...(alias !== undefined && { alias }), ...extra };
}

void describe('a veth: the host end, found as the peer, is what is believed', () => {
  const end = hostLink('vethpl1', 30, 9, encodeRecord({ ...BRIDGED, role: 'host' }));

  void test('the host end\'s record, whatever the guest end says', () => {
    assert.deepEqual(confirmedRecord(guestVeth(encodeRecord(BRIDGED)), INODE, host(end)), BRIDGED);
    // The guest rewrote its alias to name a host link as its "host end": not believed.
    const forged = encodeRecord({ ...BRIDGED, localIf: 'eth0', hostIf: 'br-mgmt' });
    assert.deepEqual(confirmedRecord(guestVeth(forged), INODE, host(end)), BRIDGED);
    // No guest-side record at all (a run given up between the two): the host end's still counts.
    assert.deepEqual(confirmedRecord(guestVeth(), INODE, host(end)), BRIDGED);
  });

  void test('no peer on the host, a peer that is not its pair, or a host record for another guest or interface: not pipework\'s', () => {
    const alias = encodeRecord(BRIDGED);
    assert.equal(confirmedRecord(guestVeth(alias, { peer: { index: 30, elsewhere: false } }), INODE, host(end)), undefined, 'its peer is in the guest');
    assert.equal(confirmedRecord(guestVeth(alias), INODE, host()), undefined, 'no such host link');
    assert.equal(confirmedRecord(guestVeth(alias), INODE, host(hostLink('vethpl1', 30, 12, end.alias))), undefined, 'that link\'s peer is another');
    assert.equal(confirmedRecord(guestVeth(alias), INODE + 1, host(end)), undefined, 'recorded for another namespace');
    assert.equal(confirmedRecord(guestVeth(alias, { name: 'eth2' }), INODE, host(end)), undefined, 'recorded for another interface');
    assert.equal(confirmedRecord(guestVeth(alias), INODE, host(hostLink('eth0', 30, 9, 'uplink'))), undefined, 'an admin\'s link with no record');
  });
});

void describe('kinds with nothing of theirs on the host', () => {
  const MACVLAN: AttachRecord = { role: 'guest', guest: 'docker:web', nsInode: INODE, guestIf: 'eth1', hostIf: 'eno1', hostKind: 'macvlan', address: '10.0.0.2/24' };

  void test('a macvlan: its parent is read from the kernel, never taken from the record', () => {
    const link: GuestLink = { name: 'eth1', up: true, kind: 'macvlan', index: 5, peer: { index: 2, elsewhere: true }, alias: encodeRecord({ ...MACVLAN, hostIf: 'eth0', vlanIf: 'eth0.99' }) };
    assert.deepEqual(confirmedRecord(link, INODE, host(hostLink('eno1', 2))), MACVLAN);
    // A macvlan the guest made on a link of its own: not pipework's.
    assert.equal(confirmedRecord({ ...link, peer: { index: 2, elsewhere: false } }, INODE, host(hostLink('eno1', 2))), undefined);
    // A record claiming another kind than the link is: not pipework's.
    assert.equal(confirmedRecord({ ...link, kind: 'dummy' }, INODE, host(hostLink('eno1', 2))), undefined);
  });

  void test('a dummy: the guest\'s record, without any host name in it', () => {
    const rec: AttachRecord = { role: 'guest', guest: 'netns:a', nsInode: INODE, guestIf: 'du1', hostIf: 'dummy0', hostKind: 'dummy' };
    const link: GuestLink = { name: 'du1', up: true, kind: 'dummy', index: 4, alias: encodeRecord({ ...rec, localIf: 'eth0', origName: 'eth0' }) };
    assert.deepEqual(confirmedRecord(link, INODE, host()), rec);
  });

  void test('a NIC moved in: what was kept on the host when it moved, never what it carries', () => {
    const PHYS: AttachRecord = { role: 'guest', guest: 'docker:web', nsInode: INODE, guestIf: 'eth5', hostIf: 'eno2', hostKind: 'phys', origName: 'eno2', origMac: '52:54:00:00:00:02', mac: '02:42:ac:11:00:05' };
    const nic: GuestLink = { name: 'eth5', up: true, index: 3, alias: encodeRecord({ ...PHYS, origName: 'eth0', origMac: '02:66:66:66:66:66' }) };
    const key = keptKey(INODE, 'eth5');
    keep(key, keptText({ record: PHYS, mac: PHYS.mac! }));
    try {
      assert.deepEqual(confirmedRecord(nic, INODE, host()), PHYS);
      // A stand-in NIC (a veth whose peer is on the host) the test suites move in: the same.
      assert.deepEqual(confirmedRecord({ ...nic, kind: 'veth', peer: { index: 40, elsewhere: true } }, INODE, host()), PHYS);
      // A dummy the guest made and named eth5 with that record: not the NIC pipework moved in.
      assert.equal(confirmedRecord({ ...nic, kind: 'dummy' }, INODE, host()), undefined);
    } finally {
      forget(key);
    }
    // Nothing kept (an older pipework moved it): a real NIC going back under its own name only.
    const old: AttachRecord = { ...PHYS };
    delete old.origMac;
    assert.deepEqual(confirmedRecord({ ...nic, alias: encodeRecord(old) }, INODE, host()), old);
    assert.equal(confirmedRecord({ ...nic, alias: encodeRecord({ ...old, origName: 'eth0' }) }, INODE, host()), undefined, 'another name to go back as');
    assert.equal(confirmedRecord({ ...nic, kind: 'veth', alias: encodeRecord(old) }, INODE, host()), undefined, 'not a real NIC');
  });
});

void describe('confirmedLinks', () => {
  void test('the guest\'s interfaces pipework made, as the host confirms them', () => {
    const end = hostLink('vethpl1', 30, 9, encodeRecord({ ...BRIDGED, role: 'host' }));
    const links: GuestLink[] = [
      { name: 'lo', up: true, index: 1 },
      guestVeth(encodeRecord(BRIDGED)),
      // The guest made itself a veth pair and wrote a record on one end.
      { name: 'eth2', up: true, kind: 'veth', index: 11, peer: { index: 12, elsewhere: false }, alias: encodeRecord({ ...BRIDGED, guestIf: 'eth2', localIf: 'eth0' }) },
    ];
    assert.deepEqual(confirmedLinks({ links, routes: [] }, INODE, host(end)).map((x) => x.link.name), ['eth1']);
  });
});
